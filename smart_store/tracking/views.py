"""Camera rig arrays and per-frame-set prepared detections, shared by association and
triangulation.

``CameraRig`` stacks the calibrated ``CameraModel``s into arrays (rotations, translations,
centres, focal lengths, image diagonals) so that every later step is one vectorised numpy
expression over all cameras, detections and joints instead of a Python loop.

``prepare_views`` does the per-frame-set work that both association and triangulation need,
exactly once: undistort every confident keypoint (one OpenCV call per camera), turn it into a
world ray direction, and compute each detection's single-view floor point (ankle rays to the
ankle plane; hips or shoulders at a typical height when the feet are not visible).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from smart_store.config.model import StoreConfig
from smart_store.geometry.camera import CameraModel
from smart_store.tracking.model import ANKLES, HIPS, NUM_KEYPOINTS, SHOULDERS, Detection2D

__all__ = [
    "ANKLE_HEIGHT",
    "FLOOR_ERROR_MODEL",
    "HIP_HEIGHT",
    "SHOULDER_HEIGHT",
    "CameraRig",
    "PreparedViews",
    "floor_sigma",
    "prepare_views",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]

#: Typical joint heights above the floor (m) for the single-view floor point. The ankle joint of
#: a standing adult is ~8 cm up; hips and shoulders vary with body height (hips 0.82-1.03 m for
#: 1.55-1.95 m people), hence their larger floor uncertainty below.
ANKLE_HEIGHT = 0.08
HIP_HEIGHT = 0.92
SHOULDER_HEIGHT = 1.42

#: Single-view floor-point error model, per source joints: ``(sigma_xy, sigma_height)`` in m.
#: ``sigma_xy`` is how far the joints' midpoint sits from the point under the body centre
#: (stance, lean); ``sigma_height`` is the spread of the joint's true height around the assumed
#: one (body heights 1.55-1.95 m). The pixel noise of the joints adds the third term; see
#: ``floor_sigma``.
FLOOR_ERROR_MODEL = {"ankles": (0.08, 0.02), "hips": (0.05, 0.06), "shoulders": (0.08, 0.08)}

_OPENCV_MAJOR = int(cv2.__version__.split(".")[0])
# OpenCV < 5 stops undistorting after 5 iterations by default, which leaves sub-pixel errors at
# the image corners; ask for tight convergence there. OpenCV 5's default already converges to
# < 1e-4 px for plumb_bob (measured on the demo cameras; test_triangulate checks the round trip).
_UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 20, 1e-10)


def _undistort(uv: FloatArray, K: FloatArray, dist: FloatArray) -> FloatArray:
    """Distorted pixels ``(n, 2)`` -> undistorted normalized image coordinates ``(n, 2)``."""
    src = np.ascontiguousarray(uv, dtype=np.float64).reshape(-1, 1, 2)
    if _OPENCV_MAJOR >= 5:
        out = cv2.undistortPoints(src, K, dist)
    else:  # pragma: no cover - depends on the installed OpenCV
        iter_fn = getattr(cv2, "undistortPointsIter", None)
        if iter_fn is not None:
            out = iter_fn(src, K, dist, None, None, _UNDISTORT_CRITERIA)
        else:
            out = cv2.undistortPoints(src, K, dist)
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


class CameraRig:
    """The calibrated cameras as stacked arrays (index ``c`` = position in ``ids``).

    Attributes:
        ids: Camera ids in index order.
        models: The ``CameraModel`` of each camera.
        index: Camera id -> index.
        R: ``(C, 3, 3)`` world -> camera rotations.
        t: ``(C, 3)`` world -> camera translations.
        P: ``(C, 3, 4)`` normalized projection matrices ``[R | t]``.
        centers: ``(C, 3)`` camera centres in the store frame.
        focal: ``(C,)`` geometric-mean focal length in px (normalized units -> pixels).
        diag: ``(C,)`` image diagonal in px (pixels -> fraction of the image size).
        scale: ``(C,)`` ``focal / diag``: normalized image units -> fraction of the diagonal.
    """

    def __init__(self, cameras: Mapping[str, CameraModel]) -> None:
        if not cameras:
            raise ValueError("a camera rig needs at least one camera")
        self.ids: tuple[str, ...] = tuple(cameras)
        self.models: tuple[CameraModel, ...] = tuple(cameras[i] for i in self.ids)
        self.index: dict[str, int] = {cid: i for i, cid in enumerate(self.ids)}
        self.R: FloatArray = np.stack([m.R for m in self.models])
        self.t: FloatArray = np.stack([m.t for m in self.models])
        self.P: FloatArray = np.concatenate([self.R, self.t[:, :, None]], axis=2)
        self.centers: FloatArray = np.stack([m.center for m in self.models])
        self.focal: FloatArray = np.array([np.sqrt(m.fx * m.fy) for m in self.models])
        self.diag: FloatArray = np.array([float(np.hypot(m.width, m.height)) for m in self.models])
        self.scale: FloatArray = self.focal / self.diag

    @classmethod
    def from_config(
        cls, cfg: StoreConfig, overrides: Mapping[str, CameraModel] | None = None
    ) -> CameraRig:
        """All cameras of ``cfg``; ``overrides`` replaces models (e.g. from live CameraInfo)."""
        models = {cam.id: cam.model for cam in cfg.cameras}
        if overrides:
            models.update(overrides)
        return cls(models)

    def __len__(self) -> int:
        return len(self.ids)

    def undistort(self, camera: int, uv: FloatArray) -> FloatArray:
        """Pixels ``(n, 2)`` of camera index ``camera`` -> normalized coordinates ``(n, 2)``."""
        m = self.models[camera]
        return _undistort(uv, m.K, m.dist)

    def to_camera(self, cams: IntArray, points: FloatArray) -> FloatArray:
        """World points ``(P, J, 3)`` -> camera frames of cameras ``cams`` ``(P,)``."""
        return points @ self.R[cams].transpose(0, 2, 1) + self.t[cams][:, None, :]


@dataclass(eq=False)
class PreparedViews:
    """The detections of one frame set, flattened, with everything geometry needs.

    ``N`` detections (grouped by camera), ``J = 17`` joints.

    Attributes:
        detections: The ``N`` detections.
        cam: ``(N,)`` camera index into the rig.
        score: ``(N, J)`` keypoint score, 0 where below the minimum score or not finite.
        xn: ``(N, J, 2)`` undistorted normalized image coordinates (NaN where ``score == 0``).
        dirs: ``(N, J, 3)`` world ray directions ``R^T [x, y, 1]`` (not unit; NaN likewise).
        floor: ``(N, 2)`` single-view floor point (NaN where unknown).
        floor_sigma: ``(N,)`` its 1-sigma uncertainty in m (inf where unknown).
        valid: ``(N,)`` usable for association: enough confident joints and a floor point.
        unknown_cameras: Camera ids in the input that the rig does not know (ignored).
    """

    detections: list[Detection2D]
    cam: IntArray
    score: FloatArray
    xn: FloatArray
    dirs: FloatArray
    floor: FloatArray
    floor_sigma: FloatArray
    valid: BoolArray
    unknown_cameras: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.detections)


# Floor-point sources in order of preference: (joints, plane height, error-model key).
_SOURCES = (("ankles", ANKLES, ANKLE_HEIGHT), ("hips", HIPS, HIP_HEIGHT),
            ("shoulders", SHOULDERS, SHOULDER_HEIGHT))
_SRC_JOINTS = np.array([j for _, joints, _ in _SOURCES for j in joints])
_SRC_Z = np.array([z for _, joints, z in _SOURCES for _ in joints])


def _single_view_floor(
    dirs: FloatArray, score: FloatArray, centers: FloatArray
) -> tuple[FloatArray, NDArray[np.intp]]:
    """Per detection, the floor point from the first available source (ankles, hips,
    shoulders): the mean of that pair's rays intersected with the plane at its height
    (unweighted - the midpoint of both ankles is under the body, a score-weighted mean is not).

    Returns ``(floor (N, 2) NaN where none, source index (N,) -1 where none)``.
    """
    n = dirs.shape[0]
    d = dirs[:, _SRC_JOINTS, :]  # (N, 6, 3)
    dz = d[..., 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        s = (_SRC_Z[None, :] - centers[:, None, 2]) / dz
        ok = (score[:, _SRC_JOINTS] > 0.0) & (dz < -1e-9) & (s > 0.0) & np.isfinite(s)
    s = np.where(ok, s, 0.0)
    p = centers[:, None, :2] + s[..., None] * np.nan_to_num(d[..., :2])  # (N, 6, 2)
    p = np.where(ok[..., None], p, 0.0).reshape(n, 3, 2, 2)
    cnt = ok.reshape(n, 3, 2).sum(axis=2)  # (N, 3)
    has = cnt > 0
    src = np.where(has.any(axis=1), np.argmax(has, axis=1), -1)
    rows = np.arange(n)
    pick = np.maximum(src, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        floor = p[rows, pick].sum(axis=1) / cnt[rows, pick][:, None]
    floor[src < 0] = np.nan
    return floor, src


def floor_sigma(
    camera_height: FloatArray,
    horizontal_range: FloatArray,
    source: str,
    focal: FloatArray,
    pixel_sigma: float,
) -> FloatArray:
    """1-sigma error (m) of a single-view floor point (isotropic approximation).

    With the camera ``dh`` above the joint plane and the point ``r`` away horizontally:
    a height error ``sigma_h`` moves the ray's hit by ``sigma_h * r / dh``, and a pixel error
    ``sigma_px`` (angle ``sigma_px / f``) by ``sigma_px / f * (dh^2 + r^2) / dh`` along the
    line of sight - the grazing views of far people are the uncertain ones.
    """
    sigma_xy, sigma_h = FLOOR_ERROR_MODEL[source]
    dh = np.maximum(camera_height, 0.3)
    r = np.nan_to_num(horizontal_range, nan=0.0)
    return np.sqrt(
        sigma_xy**2 + (sigma_h * r / dh) ** 2 + (pixel_sigma / focal * (dh**2 + r**2) / dh) ** 2
    )


def prepare_views(
    rig: CameraRig,
    detections_by_camera: Mapping[str, Sequence[Detection2D]],
    min_score: float = 0.3,
    min_joints: int = 4,
    pixel_sigma: float = 3.0,
) -> PreparedViews:
    """Flatten, undistort and back-project the detections of one frame set.

    Args:
        rig: The cameras.
        detections_by_camera: Camera id -> its detections; a camera missing from the frame set
            is simply absent (or maps to an empty list). Unknown ids are ignored and reported.
        min_score: Keypoints below this score count as not found.
        min_joints: Detections with fewer confident keypoints are not ``valid``.
        pixel_sigma: Assumed 2-D keypoint noise (px) for the floor-point uncertainty.
    """
    dets: list[Detection2D] = []
    cams: list[int] = []
    unknown: list[str] = []
    for cid, items in detections_by_camera.items():
        c = rig.index.get(cid)
        if c is None:
            if items:
                unknown.append(cid)
            continue
        for d in items:
            dets.append(d)
            cams.append(c)
    n = len(dets)
    if n == 0:
        e2 = np.empty((0, 2))
        return PreparedViews(
            [], np.empty(0, np.intp), np.empty((0, NUM_KEYPOINTS)),
            np.empty((0, NUM_KEYPOINTS, 2)), np.empty((0, NUM_KEYPOINTS, 3)), e2,
            np.empty(0), np.empty(0, bool), tuple(unknown),
        )
    cam = np.asarray(cams, dtype=np.intp)
    kp = np.stack([d.keypoints for d in dets])
    score = kp[..., 2]
    finite = np.all(np.isfinite(kp), axis=2)
    score = np.where(finite & (score >= min_score), score, 0.0)
    found = score > 0.0
    xn = np.full((n, NUM_KEYPOINTS, 2), np.nan)
    # Detections were appended camera by camera, so each camera's rows are contiguous.
    bounds = np.flatnonzero(np.diff(cam)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [n]])
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        mask = found[s:e]
        if np.any(mask):
            block = xn[s:e]
            block[mask] = rig.undistort(int(cam[s]), kp[s:e][mask][:, :2])
    homog = np.concatenate([xn, np.ones((n, NUM_KEYPOINTS, 1))], axis=2)
    dirs = homog @ rig.R[cam]  # rows x^T R = (R^T x)^T
    centers = rig.centers[cam]
    floor, src = _single_view_floor(dirs, score, centers)
    sigma = np.full(n, np.inf)
    for k, (key, _, z) in enumerate(_SOURCES):
        take = src == k
        if np.any(take):
            rng = np.hypot(floor[take, 0] - centers[take, 0], floor[take, 1] - centers[take, 1])
            sigma[take] = floor_sigma(
                centers[take, 2] - z, rng, key, rig.focal[cam[take]], pixel_sigma
            )
    todo = src < 0
    valid = (found.sum(axis=1) >= min_joints) & ~todo
    return PreparedViews(dets, cam, score, xn, dirs, floor, sigma, valid, tuple(unknown))
