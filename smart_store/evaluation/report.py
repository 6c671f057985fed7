"""Tables of scores: per scenario and overall, as terminal text, markdown and JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from smart_store.evaluation.receipts import ReceiptScore

RECEIPT_COLUMNS = (('visits', 'visits', '{}'), ('exact_rate', 'exact receipts', '{:.1%}'),
                   ('precision', 'line P', '{:.3f}'), ('recall', 'line R', '{:.3f}'),
                   ('f1', 'line F1', '{:.3f}'), ('review_rate', 'review', '{:.1%}'),
                   ('silent_rate', 'wrong, unflagged', '{:.1%}'),
                   ('latency_p50_s', 'latency p50 (s)', '{:.2f}'),
                   ('latency_p99_s', 'latency p99 (s)', '{:.2f}'))


def _fmt(fmt: str, value: Any) -> str:
    if isinstance(value, float) and math.isnan(value):
        return '-'
    return fmt.format(value)


def receipt_table(rows: Sequence[tuple[str, ReceiptScore]]) -> tuple[list[str], list[list[str]]]:
    header = ['scenario'] + [title for _, title, _ in RECEIPT_COLUMNS]
    body = []
    for name, score in rows:
        d = score.as_dict()
        body.append([name] + [_fmt(fmt, d[key]) for key, _, fmt in RECEIPT_COLUMNS])
    return header, body


def markdown(header: list[str], body: list[list[str]]) -> str:
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(row) + ' |' for row in body]
    return '\n'.join(lines)


def text(header: list[str], body: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *body]) for i in range(len(header))]
    out = ['  '.join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append('  '.join('-' * w for w in widths))
    out += ['  '.join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in body]
    return '\n'.join(out)


def write_reports(out_dir: Path, stem: str, header: list[str], body: list[list[str]],
                  data: dict[str, Any]) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / f'{stem}.md'
    js = out_dir / f'{stem}.json'
    md.write_text(markdown(header, body) + '\n', encoding='utf-8')
    js.write_text(json.dumps(data, indent=1, sort_keys=True), encoding='utf-8')
    return md, js
