"""``./smart-store record``: capture live topics to a rosbag2 directory.

The pip-install stand-in for ``ros2 bag record``: chosen topics or all of them, MCAP or sqlite3,
each topic subscribed with a QoS compatible with its publishers and recorded with the QoS they
offer. Messages are stored as received (CDR bytes), stamped with the receive time of the
node's clock (sim time with --use-sim-time).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help='record live topics to a rosbag2 directory '
                       '(like `ros2 bag record`)')
    p.add_argument('topics', nargs='*', help='topics to record')
    p.add_argument('-a', '--all', action='store_true', help='record every topic, also new ones')
    p.add_argument('-o', '--output', type=Path, required=True, help='bag directory to create')
    p.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap')
    p.add_argument('--duration', type=float, default=None, help='stop after S seconds')
    p.add_argument('--use-sim-time', action='store_true', help='stamp with /clock time')
    p.add_argument('--domain-id', type=int, default=None)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not args.all and not args.topics:
        print('smart-store record: name topics to record, or --all', file=sys.stderr)
        return 2
    if args.output.exists():
        print(f'smart-store record: {args.output} exists', file=sys.stderr)
        return 2
    if args.domain_id is not None:
        os.environ['ROS_DOMAIN_ID'] = str(args.domain_id)

    import rclpy  # noqa: PLC0415

    from smart_store.ros.recorder import Recorder  # noqa: PLC0415

    rclpy.init()
    recorder = Recorder(args.output, topics=args.topics, record_all=args.all,
                        storage=args.storage, use_sim_time=args.use_sim_time)
    deadline = None if args.duration is None else time.monotonic() + args.duration
    try:
        while rclpy.ok() and (deadline is None or time.monotonic() < deadline):
            rclpy.spin_once(recorder, timeout_sec=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        recorder.close()
        print(f'[record] {recorder.count} messages on {len(recorder.recorded_topics)} topics '
              f'-> {args.output}')
        recorder.destroy_node()
        rclpy.try_shutdown()
    return 0
