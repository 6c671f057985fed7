"""``./smart-store render``: a scenario or a recorded run as MP4 + PNG contact sheet."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from smart_store.cli.progress import Progress


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help='top-down map beside the camera mosaic, as MP4 and a PNG '
                       'contact sheet')
    p.add_argument('source', help='library scenario, scenario YAML, or a run directory '
                   '(from `sim`) / its bag')
    p.add_argument('-o', '--output', type=Path, default=None,
                   help='MP4 path (default: out/<name>.mp4); the contact sheet goes beside it')
    p.add_argument('--fps', type=float, default=5.0, help='video frame rate (default 5)')
    p.add_argument('--size', type=int, default=480, help='frame height in pixels')
    p.add_argument('--no-cameras', action='store_true', help='top-down map only')
    p.add_argument('--config', default=None)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from smart_store.config import load_store_config  # noqa: PLC0415
    from smart_store.resources import default_store_config  # noqa: PLC0415
    from smart_store.twin import video  # noqa: PLC0415
    from smart_store.twin.errors import ScenarioError  # noqa: PLC0415
    from smart_store.twin.scenario import load_scenario  # noqa: PLC0415

    source = Path(args.source)
    run_dir = source.parent if (source / 'metadata.yaml').exists() else source
    if (run_dir / 'bag' / 'metadata.yaml').exists():
        cfg = load_store_config(args.config or default_store_config())
        name = run_dir.name
        frames = video.run_frames(cfg, run_dir, args.fps, args.size)
        from smart_store.twin.bag import bag_time_range  # noqa: PLC0415

        t0, t1 = bag_time_range(run_dir / 'bag')
        total = (t1 - t0) / 1e9
    else:
        try:
            scenario = load_scenario(args.source)
        except ScenarioError as err:
            print(f'smart-store render: {err}', file=sys.stderr)
            return 2
        cfg = load_store_config(args.config or scenario.store_config or default_store_config())
        name = scenario.name
        frames = video.scenario_frames(cfg, scenario, args.fps, args.size,
                                       cameras=not args.no_cameras)
        total = scenario.duration
    mp4 = args.output or Path('out') / f'{name}.mp4'
    sheet = mp4.with_suffix('.png')
    bar = Progress(f'[render] {name}', total)
    count = video.write_video(frames, mp4, args.fps, contact_sheet_png=sheet, total=total,
                              on_time=bar.update)
    bar.done(f'({count} frames)')
    print(f'[render] {mp4}  {sheet}')
    return 0
