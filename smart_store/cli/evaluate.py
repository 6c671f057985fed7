"""``./smart-store eval RUN_OR_DIR``: issued receipts against the twin's truth.

Per scenario and overall: exact-receipt rate, line-item precision/recall/F1, review rate and
receipt latency after exit (p50, p99, sim time). Printed as a table and written as markdown and
JSON (``eval.md`` / ``eval.json`` in the directory given, or ``--out``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help='score issued receipts against the twin\'s truth')
    p.add_argument('path', type=Path, help='a run directory (bag/, truth/, results/), or a '
                   'directory of them')
    p.add_argument('--out', type=Path, default=None, help='where eval.md/eval.json go')
    p.add_argument('--quiet', action='store_true', help='no mismatch details')
    p.set_defaults(run=run)


def find_runs(path: Path) -> list[Path]:
    if (path / 'truth' / 'truth.json').is_file():
        return [path]
    if path.name == 'bag' and (path.parent / 'truth').is_dir():
        return [path.parent]
    return sorted(p for p in path.iterdir() if (p / 'truth' / 'truth.json').is_file()) \
        if path.is_dir() else []


def run(args: argparse.Namespace) -> int:
    from smart_store.evaluation.receipts import ReceiptScore, match, score  # noqa: PLC0415
    from smart_store.evaluation.report import receipt_table, text, write_reports  # noqa: PLC0415
    from smart_store.evaluation.runs import load_run  # noqa: PLC0415

    runs = find_runs(args.path)
    if not runs:
        print(f'smart-store eval: {args.path}: no twin run (truth/truth.json) found',
              file=sys.stderr)
        return 2
    rows = []
    overall = ReceiptScore()
    data: dict[str, Any] = {'scenarios': {}}
    for run_dir in runs:
        run_data = load_run(run_dir)
        if not (run_dir / 'results' / 'store.db').is_file():
            print(f'smart-store eval: {run_dir}: no results/store.db (run the pipeline first)',
                  file=sys.stderr)
            return 2
        s = score(match(run_data.visits, run_data.billed))
        rows.append((run_data.name, s))
        overall.add(s)
        data['scenarios'][run_data.name] = {**s.as_dict(), 'mismatches': s.mismatches}
    rows.append(('overall', overall))
    data['overall'] = overall.as_dict()
    header, body = receipt_table(rows)
    print(text(header, body))
    if not args.quiet and overall.mismatches:
        print('\nmismatches:')
        for line in overall.mismatches:
            print(f'  {line}')
    out = args.out or (args.path if args.path.is_dir() else args.path.parent)
    md, js = write_reports(out, 'eval', header, body, data)
    print(f'\n[eval] {md}  {js}')
    return 0
