"""Network output -> people: vectorised CenterNet-style multi-person decoding.

1. Person centres: 3x3 NMS (local maxima) and top-k on the centre logits, sigmoid, threshold.
2. Each centre's 17 keypoints are regressed as ``centre cell + offset`` (heatmap cells).
3. Keypoint heatmap peaks (NMS, top-k per type, sub-pixel offset added) are matched: a regressed
   keypoint snaps to the nearest peak of its type above ``keypoint_threshold`` within
   ``max(min_snap_radius, snap_radius * person size)`` cells; its confidence is that peak's
   score. A keypoint that finds no peak keeps its regressed position and gets the heatmap value
   there as confidence (low by construction); one outside the original image gets 0.
4. Coordinates go back to ORIGINAL image pixels through the inverse of each image's input affine
   (``transforms.py``; pixel centres at integers); the box is the extent of the confident
   keypoints plus a margin, clipped to the image. The person score is the centre score times
   the mean confidence of its keypoints inside the image (``rescore``): a centre peak without a
   body is not a confident person; people partly out of view are not penalised.

Everything up to the per-image lists runs batched in torch (on the model's device).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch.nn import functional as nnf

from smart_store.tracking.pose.network import CHANNELS, NUM_KEYPOINTS, STRIDE
from smart_store.tracking.pose.transforms import apply_affine, cell_to_input, invert_affine


class Detection(NamedTuple):
    """One person in one image (unpacks as ``box, score, keypoints``)."""

    box: np.ndarray        # (4,) float32 x_min, y_min, x_max, y_max, original image px
    score: float           # [0, 1] person confidence
    keypoints: np.ndarray  # (17, 3) float32 u, v (px), confidence [0, 1]; 0 = not found


@dataclass(frozen=True)
class DecodeParams:
    score_threshold: float = 0.3     # person-centre score to report a person
    max_people: int = 20             # per image (top-k centres)
    keypoint_threshold: float = 0.3  # heatmap peak score a keypoint may snap to
    max_peaks: int = 24              # per keypoint type and image
    snap_radius: float = 0.5         # x person size (sqrt of the regressed box area), cells
    min_snap_radius: float = 2.0     # cells
    box_margin: float = 0.08         # x person size, added on each side of the keypoint extent
    rescore: bool = True             # person score x mean confidence of its in-image keypoints
    nms_kernel: int = 3


DEFAULT_DECODE = DecodeParams()


def _nms(logits: torch.Tensor, kernel: int) -> torch.Tensor:
    """Keep local maxima (``kernel`` x ``kernel`` window) of ``(B, C, H, W)``; others -> -inf.

    A separable max over shifted views: several times cheaper on CPU than ``max_pool2d``.
    """
    r = kernel // 2
    H, W = logits.shape[-2:]
    padded = nnf.pad(logits, (r, r, r, r), value=-torch.inf)
    rows = padded[..., :, 0:W]
    for d in range(1, 2 * r + 1):
        rows = torch.maximum(rows, padded[..., :, d:d + W])
    peak = rows[..., 0:H, :]
    for d in range(1, 2 * r + 1):
        peak = torch.maximum(peak, rows[..., d:d + H, :])
    return logits.masked_fill(peak != logits, -torch.inf)


def _gather(maps: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``maps (B, C, H*W)``, ``index (B, C, K)`` -> ``(B, C, K)``."""
    return maps.gather(2, index)


def decode_cells(output: torch.Tensor, params: DecodeParams = DEFAULT_DECODE
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, 54, H, W)`` raw network output -> ``scores (B, K)`` and ``keypoints (B, K, 17, 3)``.

    Keypoints are ``(x, y, confidence)`` in heatmap cells; rows are sorted by score, low-score
    rows included (callers threshold).
    """
    out = output.float()
    B, _, H, W = out.shape
    n = NUM_KEYPOINTS
    centre = out[:, CHANNELS.centre]   # logits: NMS and top-k on logits, sigmoid of the few
    heat = out[:, CHANNELS.heatmaps]
    offsets = out[:, CHANNELS.offsets].reshape(B, 2 * n, H * W)
    subpix = out[:, CHANNELS.subpixel].reshape(B, 2, H * W)

    k = min(params.max_people, H * W)
    scores, cidx = _nms(centre, params.nms_kernel).reshape(B, H * W).topk(k)   # (B, K)
    scores = torch.sigmoid(scores)
    cxy = torch.stack([cidx % W, cidx // W], dim=-1).float()                  # (B, K, 2)
    off = _gather(offsets, cidx[:, None, :].expand(B, 2 * n, k))              # (B, 2n, K)
    reg = cxy[:, :, None, :] + off.permute(0, 2, 1).reshape(B, k, n, 2)       # (B, K, n, 2)

    m = min(params.max_peaks, H * W)
    pscore, pidx = _nms(heat, params.nms_kernel).reshape(B, n, H * W).topk(m)  # (B, n, M)
    pscore = torch.sigmoid(pscore)
    flat = pidx.reshape(B, 1, n * m).expand(B, 2, n * m)
    sub = _gather(subpix, flat).reshape(B, 2, n, m).permute(0, 2, 3, 1)       # (B, n, M, 2)
    pxy = torch.stack([pidx % W, pidx // W], dim=-1).float() + sub            # (B, n, M, 2)

    dist = torch.linalg.vector_norm(reg[:, :, :, None, :] - pxy[:, None], dim=-1)  # (B,K,n,M)
    dist = torch.where(pscore[:, None] >= params.keypoint_threshold, dist, torch.inf)
    dmin, jmin = dist.min(dim=-1)                                             # (B, K, n)
    extent = reg.amax(dim=2) - reg.amin(dim=2)                                # (B, K, 2)
    size = torch.sqrt(extent[..., 0].clamp(min=1.0) * extent[..., 1].clamp(min=1.0))
    radius = torch.clamp(params.snap_radius * size, min=params.min_snap_radius)
    snapped = dmin <= radius[..., None]                                       # (B, K, n)

    bi = torch.arange(B, device=out.device)[:, None, None]
    ki = torch.arange(n, device=out.device)[None, None, :]
    peak_xy = pxy[bi, ki, jmin]                                               # (B, K, n, 2)
    peak_score = pscore[bi, ki, jmin]                                         # (B, K, n)
    rx = torch.round(reg[..., 0]).long()
    ry = torch.round(reg[..., 1]).long()
    inside = (rx >= 0) & (rx < W) & (ry >= 0) & (ry < H)
    ridx = (ry.clamp(0, H - 1) * W + rx.clamp(0, W - 1))                      # (B, K, n)
    reg_score = torch.sigmoid(
        _gather(heat.reshape(B, n, H * W), ridx.permute(0, 2, 1)).permute(0, 2, 1))
    reg_score = torch.where(inside, reg_score, torch.zeros_like(reg_score))

    xy = torch.where(snapped[..., None], peak_xy, reg)
    conf = torch.where(snapped, peak_score, reg_score)
    return scores, torch.cat([xy, conf[..., None]], dim=-1)


def to_detections(scores: np.ndarray, keypoints: np.ndarray, matrices: list[np.ndarray],
                  sizes: list[tuple[int, int]], params: DecodeParams = DEFAULT_DECODE, *,
                  stride: int = STRIDE) -> list[list[Detection]]:
    """Per-image ``Detection`` lists from ``decode_cells`` output (numpy).

    ``matrices[i]`` is image i's original->input affine, ``sizes[i]`` its (width, height).
    """
    result: list[list[Detection]] = []
    for i, (M, (w, h)) in enumerate(zip(matrices, sizes, strict=True)):
        keep = scores[i] >= params.score_threshold
        dets: list[Detection] = []
        if np.any(keep):
            kps = keypoints[i][keep].astype(np.float64)                       # (P, 17, 3)
            uv = apply_affine(invert_affine(M), cell_to_input(kps[..., :2], stride))
            conf = kps[..., 2]
            inside = ((uv[..., 0] >= -0.5) & (uv[..., 0] < w - 0.5)
                      & (uv[..., 1] >= -0.5) & (uv[..., 1] < h - 0.5))
            conf = np.where(inside, conf, 0.0)
            person = scores[i][keep].astype(np.float64)
            if params.rescore:
                n_in = inside.sum(axis=1)
                person = person * np.where(n_in > 0, conf.sum(axis=1) / np.maximum(n_in, 1), 0)
            for p in np.argsort(-person, kind='stable'):
                dets.append(_detection(uv[p], conf[p], float(person[p]), (w, h), params))
        result.append(dets)
    return result


def _detection(uv: np.ndarray, conf: np.ndarray, score: float, size: tuple[int, int],
               params: DecodeParams) -> Detection:
    w, h = size
    use = conf >= params.keypoint_threshold
    if not np.any(use):
        use = conf > 0 if np.any(conf > 0) else np.ones(len(conf), dtype=bool)
    limit = np.array([w - 1.0, h - 1.0])
    lo = np.clip(uv[use].min(axis=0), 0.0, limit)
    hi = np.clip(uv[use].max(axis=0), 0.0, limit)
    margin = params.box_margin * float(np.sqrt(max(hi[0] - lo[0], 1.0) * max(hi[1] - lo[1], 1.0)))
    margin = max(margin, 2.0)
    box = np.array([max(lo[0] - margin, 0.0), max(lo[1] - margin, 0.0),
                    min(hi[0] + margin, w - 1.0), min(hi[1] + margin, h - 1.0)], dtype=np.float32)
    kp = np.concatenate([uv, conf[:, None]], axis=1).astype(np.float32)
    return Detection(box=box, score=score, keypoints=kp)


def decode(output: torch.Tensor, matrices: list[np.ndarray], sizes: list[tuple[int, int]],
           params: DecodeParams = DEFAULT_DECODE) -> list[list[Detection]]:
    """Raw network output for a batch -> per-image ``Detection`` lists in original pixels."""
    scores, kps = decode_cells(output, params)
    return to_detections(scores.cpu().numpy(), kps.cpu().numpy(), matrices, sizes, params)
