"""``./smart-store bench``: the whole scenario library through the node graph, one table.

For every library scenario: record it (or reuse ``<out>/<scenario>``), run every node on it with
sim time, and score the outputs against the truth. One row per scenario: shoppers, exact-receipt
rate, line F1, review rate, IDF1 and ID switches, reach and weight-event F1, receipt latency
p50/p99, real-time factor, and CPU seconds and peak memory per node. Written as markdown and
JSON (``<out>/bench.md``, ``bench.json``). ``--ablation truth_tracks`` replaces perception with
ground-truth tracks, labelled as such, to separate fusion errors from perception errors.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
from pathlib import Path
from typing import Any


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help='run the scenario library through the graph; one table')
    p.add_argument('--out', type=Path, default=Path('out/bench'))
    p.add_argument('--scenarios', nargs='+', default=None, help='default: the whole library')
    p.add_argument('--ablation', choices=('truth_tracks',), default=None)
    p.add_argument('--resolution', default='320x240')
    p.add_argument('--fps', type=float, default=10.0)
    p.add_argument('--rate', type=float, default=1.0, help='playback speed')
    p.add_argument('--rerecord', action='store_true')
    p.set_defaults(run=run)


def _cpu_name() -> str:
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown CPU'


def machine() -> str:
    import os  # noqa: PLC0415

    try:
        import torch  # noqa: PLC0415

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'
    except ImportError:
        gpu = 'no GPU'
    return f'{_cpu_name()}, {os.cpu_count()} cores, {gpu}'


def score_run(run_dir: Path, result: Any) -> dict[str, Any]:
    import numpy as np  # noqa: PLC0415

    from smart_store.evaluation.events import reach_score, track_score, weight_event_score  # noqa: PLC0415
    from smart_store.evaluation.html_report import load_outputs  # noqa: PLC0415
    from smart_store.evaluation.receipts import match, score  # noqa: PLC0415
    from smart_store.evaluation.runs import load_run  # noqa: PLC0415

    data = load_run(run_dir)
    outputs = load_outputs(run_dir)
    s = score(match(data.visits, data.billed))
    weights, werr = weight_event_score(outputs, data.truth, data.epoch_s)
    reaches, lane_acc = reach_score(outputs, data.truth, data.epoch_s)
    tracks = track_score(outputs, np.load(run_dir / 'truth' / 'joints3d.npz'), data.epoch_s)
    shoppers = len({e['shopper'] for e in data.truth['events']})
    return {
        'scenario': data.name, 'shoppers': shoppers, **s.as_dict(),
        'idf1': tracks['idf1'], 'id_switches': tracks['id_switches'],
        'reach_f1': round(reaches.f1, 4), 'reach_lane_accuracy': round(lane_acc, 4),
        'weight_f1': round(weights.f1, 4),
        'weight_start_err_p50_s': round(float(np.median(werr)), 3) if werr else math.nan,
        'rtf': round(result.real_time_factor, 2),
        'nodes': {n: {'cpu_s': round(u.cpu_s, 1), 'peak_mb': round(u.peak_rss_mb)}
                  for n, u in result.usage.items()},
        'restarts': sum(result.restarts.values()), 'mismatches': s.mismatches,
    }


COLUMNS = (('scenario', 'scenario', '{}'), ('shoppers', 'shoppers', '{}'),
           ('exact_rate', 'exact', '{:.0%}'), ('f1', 'line F1', '{:.3f}'),
           ('review_rate', 'review', '{:.0%}'), ('silent_rate', 'wrong, unflagged', '{:.0%}'),
           ('idf1', 'IDF1', '{:.3f}'),
           ('id_switches', 'ID sw', '{}'), ('reach_f1', 'reach F1', '{:.3f}'),
           ('weight_f1', 'weight F1', '{:.3f}'), ('latency_p50_s', 'lat p50 s', '{:.2f}'),
           ('latency_p99_s', 'lat p99 s', '{:.2f}'), ('rtf', 'RTF', '{:.2f}'),
           ('cpu', 'CPU s (tracker/other)', '{}'), ('mem', 'peak MB (max node)', '{}'))


def row_cells(r: dict[str, Any]) -> list[str]:
    nodes = r.get('nodes', {})
    tracker = nodes.get('tracker', {}).get('cpu_s', 0.0)
    other = sum(v['cpu_s'] for k, v in nodes.items() if k != 'tracker')
    r = {**r, 'cpu': f'{tracker:.0f}/{other:.0f}',
         'mem': max((v['peak_mb'] for v in nodes.values()), default=0)}
    out = []
    for key, _, fmt in COLUMNS:
        v = r.get(key)
        out.append('-' if v is None or (isinstance(v, float) and math.isnan(v))
                   else fmt.format(v))
    return out


def _mean(rows: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in rows if not (isinstance(r[key], float) and math.isnan(r[key]))]
    return round(sum(values) / len(values), 4) if values else math.nan


def run(args: argparse.Namespace) -> int:
    from smart_store.cli.demo import record_if_needed  # noqa: PLC0415
    from smart_store.evaluation.receipts import ReceiptScore  # noqa: PLC0415
    from smart_store.evaluation.report import markdown, text  # noqa: PLC0415
    from smart_store.pipeline import END_TAIL_S, Pipeline  # noqa: PLC0415
    from smart_store.twin.scenario import library_names  # noqa: PLC0415

    names = args.scenarios or [n for n in library_names() if n != 'demo']
    rows: list[dict[str, Any]] = []
    for name in names:
        run_dir = args.out / name
        cfg = record_if_needed(name, run_dir, args.resolution, args.fps, args.rerecord)
        pipeline = Pipeline(cfg, run_dir, ablation=args.ablation)
        pipeline.start()
        try:
            result = pipeline.play(rate=args.rate, tail=END_TAIL_S, tail_rate=4.0 * args.rate)
        finally:
            pipeline.stop()
        row = score_run(run_dir, result)
        rows.append(row)
        print(f'[bench] {name}: ' + ', '.join(
            f'{t}={c}' for (_, t, _), c in zip(COLUMNS[2:], row_cells(row)[2:], strict=True)),
            flush=True)
    stem = 'bench_truth_tracks' if args.ablation else 'bench'
    previous = args.out / f'{stem}.json'
    if args.scenarios and previous.is_file():
        # Re-running some scenarios updates their rows of the existing table.
        kept = [r for r in json.loads(previous.read_text())['rows']
                if r['scenario'] not in {row['scenario'] for row in rows}]
        rows = sorted(kept + rows, key=lambda r: r['scenario'])
    total = ReceiptScore()
    for r in rows:
        for key in ('visits', 'receipts', 'exact', 'reviewed', 'silent', 'tp', 'fp', 'fn'):
            setattr(total, key, getattr(total, key) + r.get(key, 0))
    overall = {'scenario': 'overall', 'shoppers': sum(r['shoppers'] for r in rows),
               **total.as_dict(), 'latency_p50_s': math.nan, 'latency_p99_s': max(
                   (r['latency_p99_s'] for r in rows if not math.isnan(r['latency_p99_s'])),
                   default=math.nan),
               'idf1': _mean(rows, 'idf1'), 'id_switches': sum(r['id_switches'] for r in rows),
               'reach_f1': _mean(rows, 'reach_f1'), 'weight_f1': _mean(rows, 'weight_f1'),
               'rtf': _mean(rows, 'rtf')}
    header = [title for _, title, _ in COLUMNS]
    body = [row_cells(r) for r in [*rows, overall]]
    label = ' (ABLATION: ground-truth tracks)' if args.ablation else ''
    title = f'Benchmark{label}, {machine()}'
    print(f'\n{title}\n' + text(header, body))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f'{stem}.md').write_text(f'{title}\n\n{markdown(header, body)}\n',
                                         encoding='utf-8')
    (args.out / f'{stem}.json').write_text(json.dumps(
        {'machine': machine(), 'ablation': args.ablation, 'rows': rows, 'overall': overall},
        indent=1, default=str), encoding='utf-8')
    print(f'[bench] {args.out / (stem + ".md")}')
    return 0
