"""``./smart-store drill``: reliability drills on a short recorded twin run.

    ./smart-store drill                                   # kill_nodes, kill_camera, stall_hub,
                                                          # malformed on single_shopper
    ./smart-store drill --kinds malformed --seed 3
    ./smart-store drill --kinds kill_nodes --kill-mode staggered
    ./smart-store drill --kinds kill_camera               # asked for explicitly: the learned
                                                          # tracker, if pose weights exist
    ./smart-store drill --kinds long_run --shoppers 20 --duration 180   # benchmark, not CI

Each drill prints PASS or FAIL with every check it made; the exit code is 1 when any drill
failed. What the drills do is described in smart_store/drills.py; the results are also written
as JSON (``<workdir>/drill.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_parser(sub: Any, name: str) -> None:
    from smart_store.drills import DEFAULT_KINDS, KILL_MODES, KINDS  # noqa: PLC0415

    p = sub.add_parser(name, help='reliability drills: kill nodes, a dead camera, a stalled '
                       'load-cell hub, malformed messages (PASS/FAIL per drill)')
    p.add_argument('--scenario', default='single_shopper',
                   help='library scenario the drills run on (default single_shopper)')
    p.add_argument('--kinds', default=None,
                   help=f'comma-separated drills out of {",".join(KINDS)} '
                        f'(default {",".join(DEFAULT_KINDS)})')
    p.add_argument('--seed', type=int, default=0, help='seed of the random kill moments and '
                   'injections (default 0)')
    p.add_argument('--ablation', choices=('truth_tracks', 'none'), default='truth_tracks',
                   help='truth_tracks (default): ground-truth tracks instead of the learned '
                        'tracker, fast and deterministic; none: the learned tracker')
    p.add_argument('-o', '--workdir', type=Path, default=Path('out/drills'),
                   help='recordings, runs and drill.json (default out/drills)')
    p.add_argument('--rate', type=float, default=1.0, help='playback speed (default 1)')
    p.add_argument('--resolution', default='160x120', help='camera render size (default '
                   '160x120)')
    p.add_argument('--fps', type=float, default=5.0, help='camera frame rate (default 5)')
    p.add_argument('--end', type=float, default=None, help='record only this many seconds of '
                   'the scenario (default: all of it)')
    p.add_argument('--kill-mode', choices=KILL_MODES, default='each',
                   help='kill_nodes: each node in a run of its own (default), or all nodes in '
                        'one run at staggered moments')
    p.add_argument('--nodes', default=None, help='kill_nodes: comma-separated nodes to kill '
                   '(default: every node of the graph)')
    p.add_argument('--shoppers', type=int, default=20, help='long_run: shoppers (default 20)')
    p.add_argument('--duration', type=float, default=180.0,
                   help='long_run: generated scenario length, s (default 180)')
    p.add_argument('--long-rate', type=float, default=1.0,
                   help='long_run: playback speed (default 1)')
    p.add_argument('--verbose', action='store_true', help='print the figures of each drill')
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from smart_store.drills import DEFAULT_KINDS, KINDS, DrillConfig, run_drills  # noqa: PLC0415

    kinds = [k.strip() for k in args.kinds.split(',') if k.strip()] if args.kinds \
        else list(DEFAULT_KINDS)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        print(f'smart-store drill: unknown drill(s) {unknown}; choose from {", ".join(KINDS)}',
              file=sys.stderr)
        return 2
    if args.rate <= 0 or args.long_rate <= 0:
        print('smart-store drill: rates must be positive', file=sys.stderr)
        return 2
    config = DrillConfig(
        scenario=args.scenario, workdir=args.workdir, seed=args.seed,
        ablation=None if args.ablation == 'none' else args.ablation, rate=args.rate,
        resolution=args.resolution, fps=args.fps, end=args.end, kill_mode=args.kill_mode,
        kill_nodes=tuple(n.strip() for n in args.nodes.split(',') if n.strip())
        if args.nodes else (),
        # kill_camera runs the learned tracker only when asked for by name
        learned_camera=bool(args.kinds) and 'kill_camera' in kinds,
        long_shoppers=args.shoppers, long_duration=args.duration, long_rate=args.long_rate,
        log=lambda text: print(text, flush=True))
    where = ', '.join(([args.scenario] if set(kinds) - {'long_run'} else [])
                      + ([f'a generated scenario ({args.shoppers} shoppers, {args.duration:g} s)']
                         if 'long_run' in kinds else []))
    print(f'[drill] {", ".join(kinds)} on {where} ({args.resolution}, {args.fps:g} fps, '
          f'rate {args.rate:g}x, seed {args.seed}, '
          f'{"ground-truth tracks [ABLATION]" if config.ablation else "learned tracker"})',
          flush=True)

    def report(result: Any) -> None:
        print(f'{"PASS" if result.ok else "FAIL"} {result.kind} ({result.wall_s:.0f} s)')
        for check in result.checks:
            print(f'  [{"ok" if check.ok else "FAIL"}] {check.name}: {check.detail}')
        if result.error:
            print(f'  [FAIL] error: {result.error}')
        for note in result.notes:
            print(f'  note: {note.rstrip()}')
        if args.verbose:
            for key, value in result.figures.items():
                if key == 'traceback':
                    continue  # in drill.json
                print(f'  {key}: {json.dumps(value, default=str)}')
        sys.stdout.flush()

    results = run_drills(kinds, config, on_result=report)
    args.workdir.mkdir(parents=True, exist_ok=True)
    out = args.workdir / 'drill.json'
    out.write_text(json.dumps({'config': {k: str(v) for k, v in vars(args).items()
                                          if k != 'run'},
                               'results': [r.as_dict() for r in results]},
                              indent=1, default=str), encoding='utf-8')
    failed = [r.kind for r in results if not r.ok]
    print(f'[drill] {len(results) - len(failed)}/{len(results)} passed'
          + (f'; FAILED: {", ".join(failed)}' if failed else '') + f'   ({out})')
    return 1 if failed else 0
