"""Image <-> network-input geometry shared by training, inference and evaluation.

Pixel convention: pixel centres at integer coordinates (OpenCV's and the twin's convention; the
COCO keypoints the twin exports use it). A 2x3 affine ``M`` maps original image pixels to network
input pixels, ``x_in = M @ [x, y, 1]``; the same matrix warps the image (``warp_image``) and the
keypoints (``apply_affine``), so targets and images can never drift apart.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

PAD_BGR = (114, 114, 114)  # value of pixels outside the source image (letterbox, jitter)
_AREA_BELOW = 0.8          # shrink factors below this are pre-scaled with INTER_AREA


def letterbox_matrix(src_w: int, src_h: int, dst_w: int, dst_h: int) -> np.ndarray:
    """Scale ``src`` to fit ``dst`` keeping its aspect ratio, centred (2x3 float64)."""
    s = min(dst_w / src_w, dst_h / src_h)
    tx = 0.5 * s - 0.5 + (dst_w - src_w * s) / 2.0
    ty = 0.5 * s - 0.5 + (dst_h - src_h * s) / 2.0
    return np.array([[s, 0.0, tx], [0.0, s, ty]])


def to3x3(M: np.ndarray) -> np.ndarray:
    return np.vstack([M, [0.0, 0.0, 1.0]])


def invert_affine(M: np.ndarray) -> np.ndarray:
    return np.linalg.inv(to3x3(M))[:2]


def compose(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """The affine ``x -> A(B(x))``."""
    return (to3x3(A) @ to3x3(B))[:2]


def apply_affine(M: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map ``(..., 2)`` points through the 2x3 affine ``M``."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ M[:, :2].T + M[:, 2]


def _is_shift(M: np.ndarray) -> bool:
    """``M`` is a translation by whole pixels."""
    return (abs(M[0, 0] - 1.0) < 1e-9 and abs(M[1, 1] - 1.0) < 1e-9 and abs(M[0, 1]) < 1e-9
            and abs(M[1, 0]) < 1e-9 and abs(M[0, 2] - round(M[0, 2])) < 1e-6
            and abs(M[1, 2] - round(M[1, 2])) < 1e-6)


def warp_image(image: np.ndarray, M: np.ndarray, size: tuple[int, int],
               pad: tuple[int, int, int] = PAD_BGR) -> np.ndarray:
    """Warp ``image`` by ``M`` into a ``size = (width, height)`` image, anti-aliased.

    A strong shrink is first done with ``cv2.INTER_AREA`` (the exact pixel-centre mapping of
    ``cv2.resize`` is folded into the remaining affine), the rest with bilinear interpolation; a
    remaining pure integer shift (the usual case: 640x480 -> 320x240) is a copy.
    """
    w, h = size
    scale = math.sqrt(abs(float(np.linalg.det(M[:, :2]))))
    src = image
    if scale < _AREA_BELOW:
        sh, sw = image.shape[:2]
        nw, nh = max(1, round(sw * scale)), max(1, round(sh * scale))
        src = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
        sx, sy = nw / sw, nh / sh
        pre = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])
        M = compose(M, invert_affine(pre))
    if _is_shift(M):
        tx, ty = round(float(M[0, 2])), round(float(M[1, 2]))
        if tx == 0 and ty == 0 and src.shape[:2] == (h, w):
            return src if src is not image else src.copy()
        out = np.empty((h, w, 3), dtype=np.uint8)
        out[:] = pad
        sh, sw = src.shape[:2]
        x0, y0 = max(0, tx), max(0, ty)
        x1, y1 = min(w, sw + tx), min(h, sh + ty)
        if x1 > x0 and y1 > y0:
            out[y0:y1, x0:x1] = src[y0 - ty:y1 - ty, x0 - tx:x1 - tx]
        return out
    return cv2.warpAffine(src, M, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=pad)


def cell_to_input(xy: np.ndarray, stride: int) -> np.ndarray:
    """Heatmap cell coordinates -> network input pixels."""
    return xy * stride + (stride - 1) / 2.0


def input_to_cell(xy: np.ndarray, stride: int) -> np.ndarray:
    """Network input pixels -> heatmap cell coordinates (cell centres at integers)."""
    return (xy - (stride - 1) / 2.0) / stride
