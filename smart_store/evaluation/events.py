"""Pipeline outputs against the twin's truth: weight events, reaches and tracks.

- weight events: a detected event matches a true lane change on the same lane whose time lies
  in [start - slack, end + slack] (one-to-one, nearest first);
- reaches: a detected reach matches a true reach (pick, put-back or reach without taking) on a
  lane it names, overlapping in time (+- slack); lane accuracy = share of matched reaches whose
  first lane is the true lane;
- tracks: the recorded TrackArray messages against the true people (hip midpoints) with
  motmetrics: IDF1, MOTA, ID switches.
Pure Python; the messages are rosbags objects from the run's recorded outputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from smart_store.evaluation.prf import Prf

__all__ = ["Prf", "reach_score", "track_score", "weight_event_score"]


def _sec(stamp: Any, epoch: float) -> float:
    return stamp.sec + stamp.nanosec * 1e-9 - epoch


def weight_event_score(outputs: dict[str, list[Any]], truth: dict[str, Any], epoch: float,
                       slack: float = 1.0) -> tuple[Prf, list[float]]:
    changes = [c for c in truth.get('lane_changes', []) if abs(c['delta_g']) > 1.0]
    detected = [(w.lane_id, _sec(w.start, epoch), _sec(w.end, epoch))
                for w in outputs.get('/shelves/weight_events', [])]
    used: set[int] = set()
    s = Prf()
    errors = []
    for c in sorted(changes, key=lambda c: c['t']):
        best = None
        for i, (lane, start, end) in enumerate(detected):
            if i in used or lane != c['lane']:
                continue
            if start - slack <= c['t'] <= end + slack:
                d = abs(start - c['t'])
                if best is None or d < best[0]:
                    best = (d, i)
        if best is None:
            s.fn += 1
        else:
            used.add(best[1])
            s.tp += 1
            errors.append(best[0])
    s.fp = len(detected) - len(used)
    return s, errors


def reach_score(outputs: dict[str, list[Any]], truth: dict[str, Any], epoch: float,
                slack: float = 0.5) -> tuple[Prf, float]:
    true = [e for e in truth.get('events', []) if e['kind'] in ('pick', 'put_back',
                                                                 'reach_only') and e['lane']]
    reaches = [(tuple(r.lane_ids), _sec(r.start, epoch), _sec(r.end, epoch))
               for r in outputs.get('/reach/events', [])]
    used: set[int] = set()
    s = Prf()
    lane_ok = 0
    for e in sorted(true, key=lambda e: e['t_start']):
        best = None
        for i, (lanes, start, end) in enumerate(reaches):
            if i in used or e['lane'] not in lanes:
                continue
            overlap = min(end, e['t_end']) - max(start, e['t_start'])
            if overlap > -slack and (best is None or overlap > best[0]):
                best = (overlap, i)
        if best is None:
            s.fn += 1
        else:
            used.add(best[1])
            s.tp += 1
            lane_ok += reaches[best[1]][0][0] == e['lane']
    s.fp = len(reaches) - len(used)
    return s, (lane_ok / s.tp if s.tp else 1.0)


def track_score(outputs: dict[str, list[Any]], joints_npz: Any, epoch: float,
                max_d: float = 0.5, window: tuple[float, float] | None = None
                ) -> dict[str, float]:
    """IDF1, MOTA, ID switches and recall (share of true person-frames with a confirmed or
    tentative track within ``max_d`` m on the floor); ``window``: only the TrackArray
    messages stamped in ``[t0, t1]`` s from the run's epoch (a camera outage)."""
    import motmetrics as mm  # noqa: PLC0415

    times, persons, joints = joints_npz['times'], joints_npz['persons'], joints_npz['joints']
    acc = mm.MOTAccumulator(auto_id=True)
    for msg in outputs.get('/tracking/tracks', []):
        t = _sec(msg.header.stamp, epoch)
        if window is not None and not window[0] <= t <= window[1]:
            continue
        i = int(np.clip(np.searchsorted(times, t), 0, len(times) - 1))
        present = [j for j in range(len(persons)) if np.all(np.isfinite(joints[i, j]))]
        gt = np.array([joints[i, j][[11, 12], :2].mean(axis=0) for j in present]).reshape(-1, 2)
        hyps = [tr for tr in msg.tracks if tr.state in (1, 2)]
        hyp = np.array([[tr.position.x, tr.position.y] for tr in hyps]).reshape(-1, 2)
        acc.update([int(persons[j]) for j in present], [int(tr.id) for tr in hyps],
                   mm.distances.norm2squared_matrix(gt, hyp, max_d2=max_d ** 2))
    if not acc.events.shape[0]:
        return {'idf1': float('nan'), 'mota': float('nan'), 'id_switches': 0,
                'recall': float('nan')}
    row = mm.metrics.create().compute(acc, metrics=['idf1', 'mota', 'num_switches', 'recall'],
                                      name='x').loc['x']
    return {'idf1': float(row['idf1']), 'mota': float(row['mota']),
            'id_switches': int(row['num_switches']), 'recall': float(row['recall'])}
