"""Learned perception on the twin, offline: pose network on rendered pixels -> fusion -> tracker.

    ./smart-store python benchmarks/tracking_twin.py RUN_DIR [RUN_DIR ...]
        [--rate 5] [--backend auto] [--weights PATH]

Each RUN_DIR is a recorded twin run (``bag/`` + ``truth/``, from ``./smart-store sim`` or the
recordings ``./smart-store bench`` keeps). Frame sets are taken at ``--rate`` Hz (the tracker
node's ``inference_rate``), all cameras of one stamp in one batch, exactly the code the tracker
node runs (``smart_store/evaluation/tracking.py``), and scored against the ground truth on the
floor (hip midpoint, matched within 0.5 m) with motmetrics: IDF1, MOTA, ID switches, plus the
3D wrist error of confident wrists. Ground truth is used only for scoring.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

from smart_store.evaluation.tracking import evaluate_tracking
from smart_store.tracking.node import DEFAULT_WEIGHTS
from smart_store.tracking.pose.backend import BACKENDS, make_backend
from smart_store.twin.scenario import load_scenario, scenario_store_config


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or '').splitlines()[0])
    ap.add_argument('runs', nargs='+', type=Path, help='recorded run directories')
    ap.add_argument('--rate', type=float, default=5.0, help='frame sets per second')
    ap.add_argument('--backend', default='auto', choices=BACKENDS)
    ap.add_argument('--weights', type=Path, default=DEFAULT_WEIGHTS)
    args = ap.parse_args(argv)
    backend = make_backend(args.backend, args.weights, 'auto')
    print(f'# {type(backend).__name__} on {backend.device}, {args.weights.name}, '
          f'{args.rate:g} frame sets/s; {platform.processor() or platform.machine()}, '
          f'{__import__("os").cpu_count()} cores')
    print('| scenario | people | IDF1 | MOTA | ID switches | wrist error median / p95 (m) '
          '| pose images/s |')
    print('|---|---|---|---|---|---|---|')
    for run in args.runs:
        scenario_file = run / 'truth' / 'scenario.yaml'
        if not scenario_file.is_file():
            print(f'error: {run}: no truth/scenario.yaml (not a recorded twin run)',
                  file=sys.stderr)
            return 2
        cfg = scenario_store_config(load_scenario(str(scenario_file)))
        r = evaluate_tracking(cfg, run, backend, rate=args.rate)
        print(f"| {run.name} | {r['people']} | {r['idf1']:.3f} | {r['mota']:.3f} | "
              f"{r['id_switches']} | {r['wrist_err_median_m']:.2f} / {r['wrist_err_p95_m']:.2f} "
              f"| {r['pose_images_per_s']:.0f} |", flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
