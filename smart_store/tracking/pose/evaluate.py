"""OKS keypoint AP of a pose back-end on COCO-keypoint data, with pycocotools' COCOeval.

``evaluate(weights, coco_json, image_root)`` runs a back-end (``TorchPoseBackend`` for a weights
file or a ``PoseNet``; any ``PoseBackend`` works) over the images and scores its detections with
``COCOeval(iouType='keypoints')`` (COCO's per-keypoint OKS sigmas, maxDets 20). The twin's
annotations use pixel centres at integer coordinates, as the back-ends do.
"""

from __future__ import annotations

import contextlib
import copy
import io
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from smart_store.tracking.pose.backend import PoseBackend, TorchPoseBackend
from smart_store.tracking.pose.dataset import ImageSource, file_image_source, load_coco
from smart_store.tracking.pose.decode import DecodeParams, Detection
from smart_store.tracking.pose.network import PoseNet

STAT_NAMES = ('AP', 'AP50', 'AP75', 'APm', 'APl', 'AR', 'AR50', 'AR75', 'ARm', 'ARl')
# Low person threshold for AP (the ranking matters, not the cut), as is usual for COCO eval.
EVAL_DECODE = DecodeParams(score_threshold=0.05)


def detections_to_results(image_id: int, detections: Sequence[Detection]) -> list[dict[str, Any]]:
    """COCO result records (category 1) for one image's detections."""
    out = []
    for det in detections:
        kp = np.asarray(det.keypoints, dtype=np.float64).reshape(-1)
        out.append({'image_id': int(image_id), 'category_id': 1,
                    'keypoints': [float(v) for v in kp], 'score': float(det.score)})
    return out


def _coco_gt(coco: dict[str, Any]) -> COCO:
    gt = COCO()
    data = copy.deepcopy(coco)
    for ann in data.get('annotations', []):
        ann.setdefault('iscrowd', 0)
        if 'area' not in ann:
            _, _, bw, bh = ann.get('bbox', (0, 0, 0, 0))
            ann['area'] = float(bw) * float(bh)
    gt.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt


def coco_keypoint_eval(coco_json: str | Path | dict[str, Any], results: list[dict[str, Any]],
                       image_ids: Sequence[int] | None = None) -> dict[str, float]:
    """pycocotools keypoint evaluation of ``results`` (COCO result records); the 10 stats.

    ``image_ids`` restricts the evaluation (default: every image of the ground truth).
    """
    gt = _coco_gt(load_coco(coco_json))
    if not results:
        return dict.fromkeys(STAT_NAMES, 0.0)
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(copy.deepcopy(results))
        ev = COCOeval(gt, dt, iouType='keypoints')
        if image_ids is not None:
            ev.params.imgIds = sorted(int(i) for i in image_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    # -1 = no ground truth in that area range: report 0 rather than a negative AP.
    return {name: max(float(v), 0.0) for name, v in zip(STAT_NAMES, ev.stats, strict=True)}


def evaluate(weights: str | Path | PoseNet | PoseBackend, coco_json: str | Path | dict[str, Any],
             image_root: str | Path | None = None, *, image_source: ImageSource | None = None,
             device: str = 'auto', input_size: tuple[int, int] | None = None,
             batch_size: int = 8, max_images: int | None = None,
             params: DecodeParams = EVAL_DECODE,
             log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Keypoint AP of ``weights`` (weights file, ``PoseNet`` or any ``PoseBackend``).

    Returns the COCOeval stats (``AP``, ``AP50``, ``AP75``, ``APm``, ``APl``, ``AR``, ...) plus
    ``images``, ``detections`` and ``images_per_s`` (inference + decoding only).
    """
    if (image_root is None) == (image_source is None):
        raise ValueError('give exactly one of image_root and image_source')
    source = image_source or file_image_source(image_root)  # type: ignore[arg-type]
    coco = load_coco(coco_json)
    if isinstance(weights, (str, Path, PoseNet)):
        was_training = isinstance(weights, PoseNet) and weights.training
        backend: PoseBackend = TorchPoseBackend(weights, device, input_size, params=params)
    else:
        was_training = False
        backend = weights
    images = sorted(coco['images'], key=lambda im: im['id'])[:max_images]
    results: list[dict[str, Any]] = []
    infer_s = 0.0
    try:
        for start in range(0, len(images), batch_size):
            chunk = images[start:start + batch_size]
            pixels = [source(info) for info in chunk]
            t0 = time.perf_counter()
            dets = backend.infer(pixels)
            infer_s += time.perf_counter() - t0
            for info, people in zip(chunk, dets, strict=True):
                results.extend(detections_to_results(info['id'], people))
            if log:
                log(f'[pose eval] {min(start + batch_size, len(images))}/{len(images)} images')
    finally:
        if was_training:
            weights.train()  # type: ignore[union-attr]
    stats: dict[str, Any] = coco_keypoint_eval(coco, results, [im['id'] for im in images])
    stats.update(images=len(images), detections=len(results),
                 images_per_s=len(images) / infer_s if infer_s > 0 else 0.0)
    if log:
        log(f'[pose eval] AP {stats["AP"]:.3f} AP50 {stats["AP50"]:.3f} AP75 '
            f'{stats["AP75"]:.3f} on {len(images)} images ({stats["images_per_s"]:.1f} img/s)')
    return stats
