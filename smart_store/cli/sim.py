"""``./smart-store sim``: run the digital twin on a scenario and record it (or publish it live).

    ./smart-store sim demo                    # library scenario -> out/demo/{bag,truth}
    ./smart-store sim my_run.yaml -o runs/x   # a scenario file
    ./smart-store sim --generate --seed 3 --shoppers 12 -o runs/gen3
    ./smart-store sim demo --live             # publish sensor topics + /clock in real time
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from smart_store.cli.progress import Progress


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help='run the twin on a scenario: record a bag (+ ground truth) '
                       'or publish live')
    p.add_argument('scenario', nargs='?', help='library scenario name or scenario YAML file')
    p.add_argument('-o', '--output', type=Path, default=None,
                   help='run directory (default: out/<scenario>)')
    p.add_argument('--config', default=None, help='store config (default: the scenario\'s, '
                   'else the demo store)')
    p.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap')
    p.add_argument('--overwrite', action='store_true')
    p.add_argument('--no-images', action='store_true', help='skip cameras (shelf data only)')
    p.add_argument('--duration', type=float, default=None, help='stop after S s of sim time')
    p.add_argument('--live', action='store_true',
                   help='publish on ROS topics with /clock instead of recording')
    p.add_argument('--rate', type=float, default=1.0, help='live: sim seconds per wall second')
    p.add_argument('--wait-for-subscribers', type=float, default=0.0, metavar='TIMEOUT',
                   help='live: before playing, wait up to TIMEOUT s until /clock has a matched '
                   'subscription (whatever runs on sim time reads it; what is published before '
                   'a reader has matched is lost to it)')
    p.add_argument('--list', action='store_true', help='list the library scenarios and exit')
    p.add_argument('--resolution', default=None, metavar='WxH',
                   help='render size for every camera, e.g. 320x240 (default: the camera\'s)')
    p.add_argument('--fps', type=float, default=None, help='camera frame rate override')
    gen = p.add_argument_group('generated scenarios (--generate)')
    gen.add_argument('--generate', action='store_true', help='generate a scenario from a seed')
    gen.add_argument('--seed', type=int, default=0)
    gen.add_argument('--shoppers', type=int, default=8)
    gen.add_argument('--gen-duration', type=float, default=60.0)
    gen.add_argument('--crowding', type=float, default=0.3)
    gen.add_argument('--simultaneous', type=float, default=0.2)
    gen.add_argument('--putback-share', type=float, default=0.15)
    gen.add_argument('--misplaced-share', type=float, default=0.05)
    gen.add_argument('--similar-weights', type=float, default=0.2)
    p.set_defaults(run=run)


def load(args: argparse.Namespace) -> tuple[Any, Any]:
    """The store config and scenario the arguments name."""
    from smart_store.config import load_store_config  # noqa: PLC0415
    from smart_store.resources import default_store_config  # noqa: PLC0415
    from smart_store.twin.generator import generate_scenario  # noqa: PLC0415
    from smart_store.twin.scenario import load_scenario  # noqa: PLC0415

    if args.generate:
        cfg = load_store_config(args.config or default_store_config())
        scenario = generate_scenario(
            cfg, args.seed, shoppers=args.shoppers, duration=args.gen_duration,
            crowding=args.crowding, simultaneous=args.simultaneous,
            putback_share=args.putback_share, misplaced_share=args.misplaced_share,
            similar_weights=args.similar_weights)
        return cfg, scenario
    if not args.scenario:
        raise SystemExit('smart-store sim: name a scenario (see --list) or use --generate')
    cfg = load_store_config(args.config) if args.config else None
    scenario = load_scenario(args.scenario, cfg)
    if cfg is None:
        cfg = load_store_config(scenario.store_config or default_store_config())
    return cfg, scenario


def with_render_overrides(scenario: Any, resolution: str | None, fps: float | None) -> Any:
    """The scenario with its camera render size / rate replaced (``'320x240'``)."""
    from dataclasses import replace  # noqa: PLC0415

    render = scenario.render
    if resolution:
        try:
            w, h = (int(v) for v in resolution.lower().split('x'))
        except ValueError:
            raise ValueError(f'--resolution {resolution!r}: expected WIDTHxHEIGHT') from None
        if not (16 <= w <= 4096 and 16 <= h <= 4096):
            raise ValueError(f'--resolution {resolution!r}: out of range')
        render = replace(render, width=w, height=h)
    if fps is not None:
        if not 0.5 <= fps <= 120:
            raise ValueError(f'--fps {fps}: out of range (0.5..120)')
        render = replace(render, fps=float(fps))
    return replace(scenario, render=render)


def run(args: argparse.Namespace) -> int:
    from smart_store.twin.errors import ScenarioError  # noqa: PLC0415
    from smart_store.twin.scenario import library_names  # noqa: PLC0415

    if args.list:
        for name in library_names():
            print(name)
        return 0
    try:
        cfg, scenario = load(args)
    except ScenarioError as err:
        print(f'smart-store sim: {err}', file=sys.stderr)
        return 2
    from smart_store.twin.record import RunOptions, TwinRun, record_run  # noqa: PLC0415

    try:
        scenario = with_render_overrides(scenario, args.resolution, args.fps)
    except ValueError as err:
        print(f'smart-store sim: {err}', file=sys.stderr)
        return 2
    if args.live and not args.rate > 0:
        print(f'smart-store sim: --rate {args.rate:g}: must be positive', file=sys.stderr)
        return 2
    run_ = TwinRun(cfg, scenario, RunOptions(images=not args.no_images, end=args.duration))
    out = args.output or Path('out') / scenario.name
    if args.live:
        return _live(run_, args.rate, out / 'truth', args.wait_for_subscribers)
    bar = Progress(f'[sim] {scenario.name}', run_.end)
    try:
        bag = record_run(run_, out, storage=args.storage, overwrite=args.overwrite,
                         on_time=bar.update)
    except FileExistsError as err:
        print(f'smart-store sim: {err}', file=sys.stderr)
        return 2
    frames = sum(run_.frame_counts.values())
    bar.done(f'({frames} camera frames, {run_.end / max(1e-9, bar.elapsed):.2f}x real time)')
    print(f'[sim] bag: {bag}  truth: {out / "truth"}')
    return 0


def _live(run_: Any, rate: float, truth_dir: Path, wait_s: float = 0.0) -> int:
    """Publish the run on its topics with ``/clock`` at ``rate``; the ground truth of what was
    played goes to ``truth_dir`` when it ends (or is stopped). ``wait_s``: first wait that long
    at most for a /clock subscriber."""
    import rclpy  # noqa: PLC0415
    from rclpy.signals import SignalHandlerOptions  # noqa: PLC0415

    from smart_store.cli.replay import SETTLE_S  # noqa: PLC0415
    from smart_store.ros.player import DRAIN_S, Player  # noqa: PLC0415
    from smart_store.ros.runner import StopOnSignal  # noqa: PLC0415

    stop = StopOnSignal()   # Ctrl-C / SIGTERM end the play; then the context goes down
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node('smart_store_twin')
    topics = {t.name: (t.type, t.qos) for t in run_.topics()}
    player = Player(node, topics, rate=rate, clock=True)
    if wait_s > 0:
        if player.wait_for_subscribers({'/clock': 1}, wait_s,
                                       keep_going=lambda: not stop.event.is_set()):
            print(f'[sim live] after {wait_s:g} s no subscriber on /clock; playing anyway',
                  file=sys.stderr, flush=True)
        else:
            time.sleep(SETTLE_S)  # the subscriber side matches a moment after the publisher
    bar = Progress(f'[sim live] {run_.scenario.name}', run_.end)
    try:
        player.play(run_.messages(on_time=bar.update),
                    keep_going=lambda: not stop.event.is_set())
        if not stop.event.is_set() and player.drain():
            print(f'[sim live] not every subscriber acknowledged the last messages within '
                  f'{DRAIN_S:g} s', file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        bar.done(f'({player.stats.published} messages, {player.stats.late} late)')
        node.destroy_node()
        rclpy.try_shutdown()
        stop.restore()
        run_.write_truth(truth_dir)
        print(f'[sim live] truth: {truth_dir}', flush=True)
    return 0
