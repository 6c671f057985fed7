"""Perception scored against the twin's truth, offline: the learned pose model on the rendered
pixels of a recorded run, through the real fusion and tracker.

Frame sets are taken from the run's bag at ``rate`` Hz (all cameras of one stamp), run through
the pose backend as one batch each, fused and tracked. Tracks are compared with the true people
on the floor (hip midpoint) with motmetrics: IDF1, MOTA and ID switches, matched within
``max_d`` metres. For matched pairs the 3D wrist error is measured where the track reports a
confident wrist. No ROS needed; this is the same code the tracker node runs.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from smart_store.config import StoreConfig

WRISTS = (9, 10)


def _frame_sets(run_dir: Path, cfg: StoreConfig, rate: float) -> Any:
    from smart_store.twin import bag as rb  # noqa: PLC0415
    from smart_store.twin.record import SIM_EPOCH_NS  # noqa: PLC0415

    topics = {c.topic: c.id for c in cfg.cameras}
    current: dict[str, np.ndarray] = {}
    stamp = None
    last = -np.inf
    for m in rb.read_bag(run_dir / 'bag', topics=list(topics)):
        if m.stamp_ns != stamp:
            if current and stamp is not None:
                t = (stamp - SIM_EPOCH_NS) / 1e9
                if t - last >= 1.0 / rate - 1e-6:
                    last = t
                    yield t, current
            current, stamp = {}, m.stamp_ns
        img = rb.deserialize(m.data, m.type)
        current[topics[m.topic]] = np.frombuffer(img.data, np.uint8).reshape(
            img.height, img.width, 3)
    if current and stamp is not None:
        yield (stamp - SIM_EPOCH_NS) / 1e9, current


def evaluate_tracking(cfg: StoreConfig, run_dir: Path, backend: Any, rate: float = 5.0,
                      max_d: float = 0.5) -> dict[str, Any]:
    import motmetrics as mm  # noqa: PLC0415

    from smart_store.tracking.fusion import Fusion  # noqa: PLC0415
    from smart_store.tracking.model import TrackStatus  # noqa: PLC0415
    from smart_store.tracking.rescale import rescale  # noqa: PLC0415

    truth = np.load(run_dir / 'truth' / 'joints3d.npz')
    times, persons, joints = truth['times'], truth['persons'], truth['joints']
    fusion = Fusion(cfg)
    sizes = {c.id: (c.width, c.height) for c in cfg.cameras}
    acc = mm.MOTAccumulator(auto_id=True)
    wrist_err: list[float] = []
    pose_s = fusion_ms = 0.0
    images = sets = 0
    per_track_truth: dict[int, set[int]] = defaultdict(set)
    for t, frames in _frame_sets(run_dir, cfg, rate):
        cams = sorted(frames)
        t0 = time.perf_counter()
        results = backend.infer([frames[c] for c in cams])
        pose_s += time.perf_counter() - t0
        images += len(cams)
        dets = {}
        for cam, res in zip(cams, results, strict=True):
            h, w = frames[cam].shape[:2]
            dets[cam] = [rescale(cam, d, (w, h), sizes[cam]) for d in res]
        states = fusion.process(t, dets)
        fusion_ms += fusion.timings.get('total', 0.0)
        sets += 1
        i = int(np.clip(np.searchsorted(times, t), 0, len(times) - 1))
        present = [j for j in range(len(persons)) if np.all(np.isfinite(joints[i, j]))]
        gt_xy = np.array([joints[i, j][[11, 12], :2].mean(axis=0) for j in present]) \
            .reshape(-1, 2)
        hyps = [s for s in states if s.state in (TrackStatus.CONFIRMED, TrackStatus.COASTING)]
        hyp_xy = np.array([s.position[:2] for s in hyps]).reshape(-1, 2)
        dist = mm.distances.norm2squared_matrix(gt_xy, hyp_xy, max_d2=max_d ** 2)
        acc.update([int(persons[j]) for j in present], [s.id for s in hyps], dist)
        # Wrist error of matched pairs (nearest within max_d).
        for a, j in enumerate(present):
            if not hyps:
                break
            b = int(np.nanargmin(np.where(np.isnan(dist[a]), np.inf, dist[a])))
            if not np.isfinite(dist[a, b]):
                continue
            per_track_truth[hyps[b].id].add(int(persons[j]))
            for k in WRISTS:
                if hyps[b].keypoints[k, 3] > 0.3 and np.all(np.isfinite(hyps[b].keypoints[k,
                                                                                          :3])):
                    wrist_err.append(float(np.linalg.norm(hyps[b].keypoints[k, :3]
                                                          - joints[i, j][k])))
    mh = mm.metrics.create()
    summary = mh.compute(acc, metrics=['idf1', 'mota', 'num_switches', 'num_false_positives',
                                       'num_misses', 'num_unique_objects'], name='run')
    row = summary.loc['run']
    return {
        'idf1': float(row['idf1']), 'mota': float(row['mota']),
        'id_switches': int(row['num_switches']), 'false_positives': int(row['num_false_positives']),
        'misses': int(row['num_misses']), 'people': int(row['num_unique_objects']),
        'wrist_err_median_m': float(np.median(wrist_err)) if wrist_err else float('nan'),
        'wrist_err_p95_m': float(np.percentile(wrist_err, 95)) if wrist_err else float('nan'),
        'frame_sets': sets, 'images': images,
        'pose_images_per_s': images / pose_s if pose_s else 0.0,
        'fusion_ms_per_set': fusion_ms / sets if sets else 0.0,
        'tracks_spanning_people': sum(len(v) > 1 for v in per_track_truth.values()),
    }
