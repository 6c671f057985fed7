"""``./smart-store demo``: the whole store, end to end, in a few minutes on a laptop CPU.

1. Records the twin's ``demo`` scenario (about 8 shoppers: a family, a put-back, a simultaneous
   reach), or reuses the cached recording in ``out/demo``.
2. Starts every node of the graph as its own process from the graph table, with sim time.
3. Plays the recording with /clock, showing a progress line and each receipt as it is issued.
4. Scores the receipts against the truth and writes the receipts database and a report
   (``out/demo/report/index.html`` with PNG pictures), then prints a one-line verdict.
Exits non-zero when the pipeline produced no receipts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help='record (or reuse) the demo scenario, run every node on it, '
                       'print receipts, write a report')
    p.add_argument('--scenario', default='demo', help='library scenario or YAML (default demo)')
    p.add_argument('-o', '--output', type=Path, default=None, help='run directory '
                   '(default out/<scenario>)')
    p.add_argument('--rerecord', action='store_true', help='record again even if cached')
    p.add_argument('--rate', type=float, default=1.0, help='playback speed (sim s per wall s)')
    p.add_argument('--resolution', default='320x240', help='camera render size (default '
                   '320x240, the tracker\'s input scale)')
    p.add_argument('--fps', type=float, default=10.0, help='camera frame rate (default 10)')
    p.add_argument('--ablation', choices=('truth_tracks',), default=None,
                   help='ABLATION: replace perception with ground-truth tracks')
    p.add_argument('--device', default='auto', help='tracker torch device')
    p.set_defaults(run=run)


def record_if_needed(scenario_name: str, run_dir: Path, resolution: str, fps: float,
                     rerecord: bool) -> Any:
    """Record the scenario into ``run_dir`` unless a complete recording is there."""
    from smart_store.cli.progress import Progress  # noqa: PLC0415
    from smart_store.cli.sim import with_render_overrides  # noqa: PLC0415
    from smart_store.config import load_store_config  # noqa: PLC0415
    from smart_store.resources import default_store_config  # noqa: PLC0415
    from smart_store.twin.record import RunOptions, TwinRun, record_run  # noqa: PLC0415
    from smart_store.twin.scenario import load_scenario  # noqa: PLC0415

    scenario = with_render_overrides(load_scenario(scenario_name), resolution, fps)
    cfg = load_store_config(scenario.store_config or default_store_config())
    complete = (run_dir / 'bag' / 'metadata.yaml').is_file() and \
        (run_dir / 'truth' / 'truth.json').is_file()
    if complete and not rerecord:
        print(f'[demo] using the cached recording in {run_dir} (--rerecord to redo it)')
        return cfg
    run_ = TwinRun(cfg, scenario, RunOptions())
    bar = Progress(f'[demo] recording {scenario.name}', run_.end)
    record_run(run_, run_dir, overwrite=True, on_time=bar.update)
    bar.done(f'({sum(run_.frame_counts.values())} camera frames)')
    return cfg


def run(args: argparse.Namespace) -> int:
    from smart_store.cli.progress import Progress  # noqa: PLC0415
    from smart_store.evaluation.receipts import match, score  # noqa: PLC0415
    from smart_store.evaluation.runs import load_run  # noqa: PLC0415
    from smart_store.pipeline import END_TAIL_S, Pipeline  # noqa: PLC0415

    run_dir = args.output or Path('out') / Path(args.scenario).stem
    cfg = record_if_needed(args.scenario, run_dir, args.resolution, args.fps, args.rerecord)
    pipeline = Pipeline(cfg, run_dir, ablation=args.ablation, device=args.device)
    label = ' [ABLATION: ground-truth tracks]' if args.ablation else ''
    print(f'[demo] starting {len(pipeline.graph)} nodes{label}: '
          f'{", ".join(s.name for s in pipeline.graph)} (logs: {pipeline.log_path})')
    bar: Progress | None = None

    def progress(sim: float, total: float) -> None:
        nonlocal bar
        if bar is None:
            bar = Progress('[demo] playing', total)
        bar.update(sim)

    def receipt(msg: Any) -> None:
        lines = ', '.join(f'{line.quantity}x {line.sku}' for line in msg.lines) or 'nothing'
        flag = '  (sent to review)' if msg.needs_review else ''
        who = msg.account_token or 'anonymous'
        sys.stderr.write('\r' + ' ' * 100 + '\r')
        print(f'[receipt] {msg.session_id} ({who}): {lines} = {msg.total / 100:.2f} '
              f'{msg.currency}{flag}', flush=True)

    pipeline.start()
    try:
        result = pipeline.play(rate=args.rate, tail=END_TAIL_S, tail_rate=4.0 * args.rate,
                               on_progress=progress, on_receipt=receipt)
    except TimeoutError as err:  # the graph never came up: one line, not a traceback
        print(f'\nFAIL: {err}', file=sys.stderr)
        return 1
    finally:
        pipeline.stop()
    if bar is not None:
        bar.done()
    data = load_run(run_dir)
    s = score(match(data.visits, data.billed))
    from smart_store.evaluation.html_report import write_report  # noqa: PLC0415

    report = write_report(cfg, run_dir, s, result, ablation=args.ablation)
    print(f'[demo] receipts database: {run_dir / "results" / "store.db"}   report: {report}')
    restarts = sum(result.restarts.values())
    verdict = (f'{s.receipts} receipts for {s.visits} visits; exact {s.exact}/{s.visits} '
               f'({s.exact_rate:.0%}), line F1 {s.f1:.3f}, review {s.review_rate:.0%}, '
               f'wrong without a review flag {s.silent}, latency p99 {s.latency(99):.2f} s, '
               f'real-time factor {result.real_time_factor:.2f}, node restarts '
               f'{restarts}{label}')
    dropped = sum(result.dropped_messages.values())
    if dropped:
        per_topic = ', '.join(f'{t}: {n}' for t, n in sorted(result.dropped_messages.items()))
        verdict += f'; {dropped} bag message(s) refused by the middleware, dropped ({per_topic})'
    ok = s.receipts > 0
    print(('PASS: ' if ok and s.exact == s.visits else 'DONE: ' if ok else 'FAIL: ') + verdict)
    return 0 if ok else 1
