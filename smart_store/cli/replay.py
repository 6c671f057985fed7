"""``./smart-store replay BAG``: play a rosbag2 recording into the live graph.

The pip-install stand-in for ``ros2 bag play --clock``: rate, loop, start offset, topic
selection, and each topic published with the QoS it was recorded with. On a full ROS 2 install
``ros2 bag play BAG --clock`` does the same job.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

#: After ``--wait-for-subscribers``: time for the subscribers to match the publishers too.
SETTLE_S = 0.5


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help='play a rosbag2 recording (like `ros2 bag play --clock`)')
    p.add_argument('bag', type=Path, help='rosbag2 directory (MCAP or sqlite3), or a twin run '
                   'directory holding bag/')
    p.add_argument('--rate', type=float, default=1.0, help='playback speed factor (default 1)')
    p.add_argument('--loop', action='store_true', help='start again at the end')
    p.add_argument('--start-offset', type=float, default=0.0, metavar='S',
                   help='skip the first S seconds')
    p.add_argument('--topics', nargs='+', metavar='TOPIC', help='only these topics')
    p.add_argument('--no-clock', action='store_true', help='do not publish /clock')
    p.add_argument('--delay', type=float, default=0.0, metavar='S',
                   help='sleep S seconds before playing (as ros2 bag play --delay)')
    p.add_argument('--wait-for-subscribers', type=float, default=0.0, metavar='TIMEOUT',
                   help='before playing, wait up to TIMEOUT s until every played topic has a '
                   'matched subscription (messages published before a reader has matched are '
                   'lost to it)')
    p.add_argument('--domain-id', type=int, default=None, help='ROS_DOMAIN_ID to publish on')
    p.add_argument('--quiet', action='store_true', help='no progress line')
    p.set_defaults(run=run)


def resolve_bag(path: Path) -> Path:
    """Accept a rosbag2 directory or a twin run directory (``<run>/bag``)."""
    if (path / 'metadata.yaml').is_file():
        return path
    if (path / 'bag' / 'metadata.yaml').is_file():
        return path / 'bag'
    raise FileNotFoundError(f'{path}: not a rosbag2 directory (no metadata.yaml)')


def run(args: argparse.Namespace) -> int:
    if args.rate <= 0:
        print('smart-store replay: --rate must be positive', file=sys.stderr)
        return 2
    if args.delay < 0 or args.wait_for_subscribers < 0:
        print('smart-store replay: --delay and --wait-for-subscribers must be >= 0',
              file=sys.stderr)
        return 2
    try:
        bag = resolve_bag(args.bag)
    except FileNotFoundError as err:
        print(f'smart-store replay: {err}', file=sys.stderr)
        return 2
    if args.domain_id is not None:
        os.environ['ROS_DOMAIN_ID'] = str(args.domain_id)

    import rclpy  # noqa: PLC0415 - only this command needs ROS

    from smart_store.ros.player import DRAIN_S, Player  # noqa: PLC0415
    from smart_store.twin.bag import bag_time_range, bag_topics, read_bag  # noqa: PLC0415

    topics = bag_topics(bag)
    if args.topics:
        missing = sorted(set(args.topics) - set(topics))
        if missing:
            print(f'smart-store replay: {bag}: no topic {", ".join(missing)}', file=sys.stderr)
            return 2
        topics = {t: v for t, v in topics.items() if t in args.topics}
    start_ns, end_ns = bag_time_range(bag)
    offset_ns = start_ns + int(args.start_offset * 1e9)
    from rclpy.signals import SignalHandlerOptions  # noqa: PLC0415

    from smart_store.ros.runner import StopOnSignal  # noqa: PLC0415

    # Ctrl-C / SIGTERM end the playing loop; the context goes down after it (rclpy's own
    # handlers would shut it down under a publisher in mid-call: a traceback).
    stop = StopOnSignal()
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node('smart_store_replay')
    player = Player(node, topics, rate=args.rate, clock=not args.no_clock)
    total = max(1, end_ns - offset_ns)

    def progress(stamp: int) -> None:
        if not args.quiet and player.stats.published % 200 == 0:
            print(f'\r[replay] {(stamp - offset_ns) / 1e9:7.1f} s / {total / 1e9:.1f} s  '
                  f'{player.stats.published} msgs', end='', flush=True)

    try:
        if args.wait_for_subscribers > 0:
            short = player.wait_for_subscribers(dict.fromkeys(topics, 1),
                                                args.wait_for_subscribers)
            if short:
                print(f'[replay] after {args.wait_for_subscribers:g} s no subscriber on '
                      f'{", ".join(sorted(short))}; playing anyway', file=sys.stderr, flush=True)
            # The publisher side sees a subscription match before that subscriber has matched
            # the publisher in turn; until it has, a best-effort sample is dropped on arrival
            # (reliable ones are resent). Measured: the first 0.2 s of 50 Hz ranges lost at 2x.
            time.sleep(SETTLE_S)
        if args.delay > 0:
            time.sleep(args.delay)
        while True:
            stream = ((m.stamp_ns, m.topic, m.data)
                      for m in read_bag(bag, topics=list(topics), start_ns=offset_ns))
            player.play(stream, keep_going=lambda: not stop.event.is_set(),
                        on_progress=progress)
            if not args.loop or stop.event.is_set():
                break
        if not stop.event.is_set():
            short = player.drain()
            if short:
                print(f'[replay] {", ".join(short)}: not every subscriber acknowledged the '
                      f'last messages within {DRAIN_S:g} s', file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        stats = player.stats
        if not args.quiet:
            print(f'\r[replay] done: {stats.published} messages, {stats.late} late, '
                  f'{(stats.sim_end_ns - stats.sim_start_ns) / 1e9:.1f} s of bag time')
        node.destroy_node()
        rclpy.try_shutdown()
        stop.restore()
    return 0
