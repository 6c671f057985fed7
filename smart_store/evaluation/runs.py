"""Loading a pipeline run for scoring: the twin's truth beside the bag, and what the pipeline
produced (the billing database, and the recorded output topics).

Run directory layout (written by ``./smart-store sim`` and the pipeline runner)::

    <run>/bag/            rosbag2 of the sensor topics (input)
    <run>/truth/          truth.json, joints3d.npz, coco_keypoints.json, scenario.yaml
    <run>/results/        store.db (billing), outputs/ (rosbag2 of the pipeline's topics)
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smart_store.evaluation.receipts import Billed, Visit


@dataclass(frozen=True)
class RunData:
    name: str
    path: Path
    truth: dict[str, Any]
    visits: list[Visit]
    billed: list[Billed]
    epoch_s: float


def load_truth(run_dir: Path) -> dict[str, Any]:
    path = run_dir / 'truth' / 'truth.json'
    if not path.is_file():
        raise FileNotFoundError(f'{run_dir}: no truth/truth.json (not a twin run directory)')
    return json.loads(path.read_text(encoding='utf-8'))


def load_visits(truth: dict[str, Any]) -> list[Visit]:
    return [Visit(payer=r['payer'], token=r['token'],
                  lines={line['sku']: int(line['qty']) for line in r['lines'] if line['qty']},
                  exit_time=float(r['exit_time']), scenario=truth.get('scenario', ''))
            for r in truth['receipts']]


def load_billed(db_path: Path, epoch_s: float, scenario: str = '') -> list[Billed]:
    """Receipts from the billing database (read only; times converted to sim seconds)."""
    if not db_path.is_file():
        return []
    import sqlite3  # noqa: PLC0415

    conn = sqlite3.connect(f'file:{db_path}?mode=ro', uri=True)
    try:
        receipts = conn.execute(
            'SELECT receipt_id, session_id, account_token, exit_time, issued_stamp, '
            'needs_review FROM receipts').fetchall()
        out = []
        for receipt_id, session_id, token, exit_time, issued, review in receipts:
            lines: Counter[str] = Counter()
            for sku, qty in conn.execute(
                    'SELECT sku, quantity FROM receipt_lines WHERE receipt_id = ?',
                    (receipt_id,)):
                lines[sku] += int(qty)
            out.append(Billed(session_id=session_id, token=token or '',
                              lines={k: v for k, v in lines.items() if v},
                              exit_time=float(exit_time) - epoch_s,
                              issued_time=float(issued) - epoch_s,
                              needs_review=bool(review), scenario=scenario))
        return out
    finally:
        conn.close()


def load_run(run_dir: Path) -> RunData:
    truth = load_truth(run_dir)
    epoch_s = truth['sim_epoch_ns'] / 1e9
    name = truth.get('scenario', run_dir.name)
    return RunData(name, run_dir, truth, load_visits(truth),
                   load_billed(run_dir / 'results' / 'store.db', epoch_s, name), epoch_s)
