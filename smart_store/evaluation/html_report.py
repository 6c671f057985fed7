"""The demo report: an HTML page with PNG pictures of one pipeline run.

- a top-down map with every track's path, coloured by the session it was billed to;
- one timeline per session: its reaches (bars per lane), the weight events they were paired
  with, and the cart changes (+/- per sku);
- each issued receipt beside the true one;
- the accuracy table.
Everything is read from the run: ``results/outputs`` (the pipeline's recorded topics),
``results/store.db`` and ``truth/truth.json``.
"""

from __future__ import annotations

import html
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from smart_store.config import StoreConfig
from smart_store.evaluation.receipts import ReceiptScore, match
from smart_store.evaluation.report import markdown, receipt_table
from smart_store.evaluation.runs import load_run

PALETTE = [(230, 120, 40), (60, 170, 60), (40, 60, 220), (200, 60, 200), (30, 180, 220),
           (150, 100, 30), (120, 120, 250), (90, 200, 160), (200, 200, 60), (100, 60, 160)]


def _colour(key: str) -> tuple[int, int, int]:
    return PALETTE[zlib.crc32(key.encode()) % len(PALETTE)]


def load_outputs(run_dir: Path) -> dict[str, list[Any]]:
    """Deserialised messages of the recorded outputs, by topic, in time order."""
    from smart_store.twin import bag as rb  # noqa: PLC0415

    out: dict[str, list[Any]] = defaultdict(list)
    bag = run_dir / 'results' / 'outputs'
    if not (bag / 'metadata.yaml').is_file():
        return out
    for m in rb.read_bag(bag):
        out[m.topic].append(rb.deserialize(m.data, m.type))
    return out


def _sec(stamp: Any, epoch: float) -> float:
    return stamp.sec + stamp.nanosec * 1e-9 - epoch


def session_of_tracks(outputs: dict[str, list[Any]]) -> dict[int, str]:
    owner: dict[int, str] = {}
    for s in outputs.get('/sessions', []):
        for t in s.track_ids:
            owner[int(t)] = s.session_id
    return owner


def draw_map(cfg: StoreConfig, outputs: dict[str, list[Any]], path: Path,
             size: int = 900) -> None:
    from smart_store.twin.render import render_topdown, topdown_pixel  # noqa: PLC0415

    img = render_topdown(cfg, [], 0.0, size_px=size)
    owner = session_of_tracks(outputs)
    paths: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for msg in outputs.get('/tracking/tracks', []):
        for t in msg.tracks:
            if t.state != 3:
                paths[int(t.id)].append((t.position.x, t.position.y))
    for tid, pts in sorted(paths.items()):
        if len(pts) < 2:
            continue
        key = owner.get(tid, f'unbound-{tid}')
        px = np.round(topdown_pixel(cfg, np.array(pts), size)).astype(np.int32)
        cv2.polylines(img, [px], False, _colour(key), 2, cv2.LINE_AA)
        cv2.putText(img, f'{tid}', tuple(int(v) for v in px[-1]), cv2.FONT_HERSHEY_SIMPLEX,
                    0.45, _colour(key), 1, cv2.LINE_AA)
    y = 44
    for sid in sorted(set(owner.values())):
        cv2.putText(img, sid, (10, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, _colour(sid), 2,
                    cv2.LINE_AA)
        y += 18
    cv2.imwrite(str(path), img)


def draw_timeline(outputs: dict[str, list[Any]], epoch: float, duration: float,
                  path: Path) -> None:
    """Rows per session: reaches (bars), weight events (ticks), cart updates (+/- labels)."""
    owner = session_of_tracks(outputs)
    sessions = sorted(set(owner.values())) or ['-']
    row_h, left, width = 70, 170, 1100
    img = np.full((40 + row_h * len(sessions), left + width + 20, 3), 255, np.uint8)

    def x(t: float) -> int:
        return int(left + width * max(0.0, min(1.0, t / max(duration, 1e-6))))

    for s in range(0, int(duration) + 1, 5):
        cv2.line(img, (x(s), 20), (x(s), img.shape[0]), (225, 225, 225), 1)
        cv2.putText(img, f'{s}s', (x(s) - 8, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (90, 90, 90),
                    1)
    row = {sid: i for i, sid in enumerate(sessions)}
    for sid, i in row.items():
        cv2.putText(img, sid[:22], (5, 40 + i * row_h + 30), cv2.FONT_HERSHEY_SIMPLEX, 0.42,
                    (0, 0, 0), 1, cv2.LINE_AA)
    weights = {w.event_id: w for w in outputs.get('/shelves/weight_events', [])}
    for r in outputs.get('/reach/events', []):
        sid = owner.get(int(r.track_id))
        if sid not in row:
            continue
        y0 = 40 + row[sid] * row_h
        colour = _colour(r.lane_ids[0] if r.lane_ids else '?')
        cv2.rectangle(img, (x(_sec(r.start, epoch)), y0 + 8),
                      (max(x(_sec(r.end, epoch)), x(_sec(r.start, epoch)) + 2), y0 + 24),
                      colour, -1)
        cv2.putText(img, ','.join(r.lane_ids[:2]), (x(_sec(r.start, epoch)), y0 + 36),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.33, colour, 1, cv2.LINE_AA)
    for u in outputs.get('/carts/updates', []):
        if u.session_id not in row:
            continue
        y0 = 40 + row[u.session_id] * row_h
        t = _sec(u.header.stamp, epoch)
        sign = '+' if u.quantity_delta > 0 else ''
        colour = (40, 150, 40) if u.quantity_delta > 0 else (40, 40, 200)
        cv2.putText(img, f'{sign}{u.quantity_delta} {u.sku}', (x(t), y0 + 54),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.36, colour, 1, cv2.LINE_AA)
        for eid in u.event_ids:
            w = weights.get(eid)
            if w is not None:
                cv2.line(img, (x(_sec(w.end, epoch)), y0 + 4), (x(_sec(w.end, epoch)), y0 + 44),
                         (0, 0, 0), 1)
    cv2.imwrite(str(path), img)


def _lines_html(lines: dict[str, int]) -> str:
    return '<br>'.join(f'{q} x {html.escape(sku)}' for sku, q in sorted(lines.items())) or '-'


def write_report(cfg: StoreConfig, run_dir: Path, score: ReceiptScore, result: Any = None, *,
                 ablation: str | None = None) -> Path:
    out = run_dir / 'report'
    out.mkdir(parents=True, exist_ok=True)
    data = load_run(run_dir)
    outputs = load_outputs(run_dir)
    draw_map(cfg, outputs, out / 'map.png')
    draw_timeline(outputs, data.epoch_s, float(data.truth.get('duration', 60.0)),
                  out / 'timeline.png')
    header, body = receipt_table([(data.name, score)])
    rows = []
    for visit, billed in match(data.visits, data.billed):
        ok = visit is not None and billed is not None and visit.lines == billed.lines
        rows.append(
            f'<tr class="{"ok" if ok else "bad"}"><td>{html.escape(visit.payer if visit else "-")}'
            f'</td><td>{_lines_html(visit.lines) if visit else "-"}</td>'
            f'<td>{html.escape(billed.session_id) if billed else "no receipt"}</td>'
            f'<td>{_lines_html(billed.lines) if billed else "-"}</td>'
            f'<td>{"review" if billed and billed.needs_review else ""}</td></tr>')
    usage = ''
    if result is not None and getattr(result, 'usage', None):
        usage = ('<h2>Nodes</h2><table><tr><th>node</th><th>CPU s</th><th>peak MB</th>'
                 '<th>restarts</th></tr>' + ''.join(
                     f'<tr><td>{n}</td><td>{u.cpu_s:.1f}</td><td>{u.peak_rss_mb:.0f}</td>'
                     f'<td>{result.restarts.get(n, 0)}</td></tr>'
                     for n, u in sorted(result.usage.items())) + '</table>'
                 f'<p>real-time factor {result.real_time_factor:.2f} '
                 f'({result.sim_s:.0f} s of sim time in {result.wall_s:.0f} s)</p>')
    label = ('<p class="bad"><b>ABLATION: ground-truth tracks replace perception.</b></p>'
             if ablation else '')
    page = f'''<!doctype html><html><head><meta charset="utf-8">
<title>smart_store run: {html.escape(data.name)}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}} .ok{{background:#e8f6e8}}
.bad{{background:#fbe9e9}}</style></head><body>
<h1>smart_store run: {html.escape(data.name)}</h1>{label}
<h2>Accuracy</h2><pre>{html.escape(markdown(header, body))}</pre>
<h2>Tracks, coloured by session</h2><img src="map.png" alt="top-down map">
<h2>Timelines: reaches (bars), weight events (lines), cart changes</h2>
<img src="timeline.png" alt="timelines">
<h2>Receipts beside the truth</h2><table><tr><th>shopper (truth)</th><th>true items</th>
<th>receipt</th><th>billed items</th><th></th></tr>{"".join(rows)}</table>
{usage}</body></html>'''
    index = out / 'index.html'
    index.write_text(page, encoding='utf-8')
    return index
