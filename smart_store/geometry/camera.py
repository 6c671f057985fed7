"""Pinhole camera with plumb_bob (Brown-Conrady) distortion, in the store frame.

One ``CameraModel`` describes one calibrated ceiling camera: intrinsics ``K``, distortion
``dist = [k1, k2, p1, p2, k3]`` (the ROS ``plumb_bob`` model, identical to OpenCV's 5-term model)
and the world->camera extrinsics ``X_c = R @ X_w + t``. The camera frame is the ROS *optical*
frame: z forward (along the optical axis), x right, y down in the image.

Why a hand-rolled class instead of passing ``K``/``dist`` around: the tracker, the digital twin
renderer and the config validator all need the same four operations (project, back-project to
a ray, intersect with the floor, publish ``CameraInfo``) with the same edge-case handling -
points behind the camera, pixels whose ray never reaches the floor, and the region where the
distortion polynomial folds back on itself. Getting those wrong produces plausible-looking
garbage pixels, so they are handled once, here, and mapped to NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from smart_store.geometry.errors import GeometryError

__all__ = ["WORLD_UP", "CameraModel", "scale_intrinsics"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: World "up" in the store frame (z up). Used to fix the camera roll in ``from_look_at``.
WORLD_UP: FloatArray = np.array([0.0, 0.0, 1.0])

# Points closer than this to the camera plane (metres along the optical axis) count as "behind":
# projecting them would divide by ~0 and produce huge, meaningless pixel values.
_MIN_DEPTH = 1e-9

# Termination criteria for iterative undistortion: OpenCV's default (5 iterations) leaves
# sub-pixel errors near the image corners, which shows up as floor-point errors of centimetres.
_UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)


def _readonly(arr: ArrayLike, shape: tuple[int, ...], name: str) -> FloatArray:
    """Copy ``arr`` to a float64 array of ``shape``, finite and write-protected."""
    out = np.array(arr, dtype=np.float64).reshape(-1)
    expected = int(np.prod(shape))
    if out.size != expected:
        raise GeometryError(f"{name} must have {expected} elements {shape}, got {out.size}")
    out = out.reshape(shape)
    if not np.all(np.isfinite(out)):
        raise GeometryError(f"{name} has non-finite values")
    out.flags.writeable = False
    return out


def _undistort_normalized(uv: FloatArray, K: FloatArray, dist: FloatArray) -> FloatArray:
    """Pixels ``(N, 2)`` -> undistorted normalized image coordinates ``(N, 2)``.

    Uses ``cv2.undistortPoints`` with tight iteration criteria where this OpenCV supports them
    (4.x+ overload, or ``undistortPointsIter`` on older 4.x), else its defaults.
    """
    src = np.ascontiguousarray(uv, dtype=np.float64).reshape(-1, 1, 2)
    try:
        out = cv2.undistortPoints(src, K, dist, None, None, _UNDISTORT_CRITERIA)
    except (TypeError, cv2.error):
        iter_fn = getattr(cv2, "undistortPointsIter", None)
        if iter_fn is not None:
            out = iter_fn(src, K, dist, None, None, _UNDISTORT_CRITERIA)
        else:  # pragma: no cover - very old OpenCV
            out = cv2.undistortPoints(src, K, dist)
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


def _max_valid_radius(dist: FloatArray) -> float:
    """Largest normalized radius up to which the radial distortion is monotonic.

    The plumb_bob radial term ``r_d = r (1 + k1 r^2 + k2 r^4 + k3 r^6)`` is a polynomial: with
    barrel distortion (k1 < 0) it peaks and then decreases, so points far outside the field of
    view "fold back" and land near the image centre. Beyond the first maximum the model is
    meaningless; projections there are reported as NaN instead. Returns ``inf`` if the radial
    function never turns over. (Tangential terms are small and ignored here.)
    """
    k1, k2, k3 = float(dist[0]), float(dist[1]), float(dist[4])
    # d r_d / d r = 1 + 3 k1 s + 5 k2 s^2 + 7 k3 s^3 with s = r^2; find its first positive root.
    coeffs = np.trim_zeros(np.array([7.0 * k3, 5.0 * k2, 3.0 * k1, 1.0]), trim="f")
    roots = np.roots(coeffs) if coeffs.size > 1 else np.empty(0)
    real = roots[np.abs(roots.imag) <= 1e-12 * np.maximum(1.0, np.abs(roots))].real
    positive = real[real > 0.0]
    if positive.size == 0:
        return float("inf")
    return float(np.sqrt(positive.min()))


def scale_intrinsics(matrix: ArrayLike, sx: float, sy: float) -> FloatArray:
    """Intrinsics ``K`` (3x3) or projection ``P`` (3x4) of an image resized by ``(sx, sy)``.

    The one place that rescales a calibration to another resolution (the camera driver's
    ``CameraInfo`` and the twin's renderer both call it). Pixel centres are at integer
    coordinates (the OpenCV / ROS convention ``project`` uses): pixel ``i`` covers
    ``[i - 0.5, i + 0.5)``, so the image edge ``-0.5`` stays the edge and a pixel coordinate maps
    as ``u' = (u + 0.5) * sx - 0.5``. Applied to ``M`` (homogeneous pixels ``M @ X``) that is
    ``row0' = (row0 + 0.5 row2) sx - 0.5 row2`` (likewise row 1 with ``sy``): focal lengths and
    skew scale by ``s``, the principal point ``c`` becomes ``(c + 0.5) s - 0.5`` - not ``c s``,
    which is off by ``(s - 1) / 2`` pixels (a quarter pixel at half the resolution). Distortion
    acts on normalised coordinates and does not change.

    Raises:
        GeometryError: not a finite 3x3 or 3x4 matrix, or a scale that is not positive.
    """
    m = np.array(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != 3 or m.shape[1] not in (3, 4):
        raise GeometryError(f"expected a 3x3 K or 3x4 P, got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise GeometryError("intrinsics have non-finite values")
    for name, s in (("sx", sx), ("sy", sy)):
        if not (np.isfinite(s) and s > 0.0):
            raise GeometryError(f"{name} must be a positive scale, got {s!r}")
    out = m.copy()
    out[0] = (m[0] + 0.5 * m[2]) * sx - 0.5 * m[2]
    out[1] = (m[1] + 0.5 * m[2]) * sy - 0.5 * m[2]
    return out


@dataclass(frozen=True, eq=False)
class CameraModel:
    """Calibrated pinhole + plumb_bob camera with world->camera pose ``X_c = R @ X_w + t``.

    Arrays are stored as read-only float64 copies, so a model can be shared between threads
    and nodes without defensive copies. ``eq=False`` because array fields make ``==``
    ambiguous; compare the arrays explicitly if needed.

    Attributes:
        K: 3x3 intrinsic matrix ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` in pixels.
        dist: ``(5,)`` plumb_bob coefficients ``[k1, k2, p1, p2, k3]``.
        R: 3x3 rotation world -> camera optical frame.
        t: ``(3,)`` translation world -> camera (metres).
        width: Image width in pixels.
        height: Image height in pixels.
    """

    K: FloatArray
    dist: FloatArray
    R: FloatArray
    t: FloatArray
    width: int
    height: int
    # Derived in __post_init__: radial-monotonic limit of the distortion (see _max_valid_radius).
    _r_max: float = field(init=False, repr=False, default=float("inf"))

    def __post_init__(self) -> None:
        K = _readonly(self.K, (3, 3), "K")
        if K[0, 0] <= 0.0 or K[1, 1] <= 0.0:
            raise GeometryError("focal lengths fx, fy must be positive")
        if not np.allclose(K[2], [0.0, 0.0, 1.0]) or K[1, 0] != 0.0:
            raise GeometryError("K must be upper triangular with last row [0, 0, 1]")
        R = _readonly(self.R, (3, 3), "R")
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or np.linalg.det(R) < 0.0:
            raise GeometryError("R must be a proper rotation matrix (orthonormal, det +1)")
        for name, value in (("width", self.width), ("height", self.height)):
            if isinstance(value, bool) or int(value) != value or value <= 0:
                raise GeometryError(f"{name} must be a positive integer, got {value!r}")
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "dist", _readonly(self.dist, (5,), "dist"))
        object.__setattr__(self, "R", R)
        object.__setattr__(self, "t", _readonly(self.t, (3,), "t"))
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))
        object.__setattr__(self, "_r_max", _max_valid_radius(self.dist))

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_look_at(  # noqa: PLR0917 - signature pinned by the design contract
        cls,
        K: ArrayLike,
        dist: ArrayLike,
        position: ArrayLike,
        look_at: ArrayLike,
        width: int,
        height: int,
    ) -> CameraModel:
        """Build a camera at ``position`` whose optical axis points at ``look_at``.

        Roll is fixed by keeping the image "upright": the camera x axis (image right) is
        horizontal, and image down points towards world down (-z). That is how a ceiling camera
        is mounted and is what the config's ``pose: {position, look_at}`` means.

        Raises:
            GeometryError: if ``look_at`` equals ``position`` (no direction) or the view is
                straight up or down (image right is then undefined - tilt it slightly).
        """
        pos = np.asarray(position, dtype=np.float64).reshape(-1)
        tgt = np.asarray(look_at, dtype=np.float64).reshape(-1)
        if pos.size != 3 or tgt.size != 3:
            raise GeometryError("position and look_at must be 3-D points")
        if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(tgt))):
            raise GeometryError("position and look_at must be finite")
        forward = tgt - pos
        norm = float(np.linalg.norm(forward))
        if norm < 1e-9:
            raise GeometryError(f"look_at equals position {pos.tolist()}: no viewing direction")
        z_c = forward / norm
        x_c = np.cross(z_c, WORLD_UP)  # image right: horizontal, to the right of the view
        x_norm = float(np.linalg.norm(x_c))
        if x_norm < 1e-6:
            where = "down" if z_c[2] < 0.0 else "up"
            raise GeometryError(
                f"camera looks straight {where}; the image orientation is undefined - "
                "move look_at slightly off the vertical"
            )
        x_c /= x_norm
        y_c = np.cross(z_c, x_c)  # image down
        R = np.stack([x_c, y_c, z_c], axis=0)
        t = -R @ pos
        return cls(K=np.asarray(K), dist=np.asarray(dist), R=R, t=t, width=width, height=height)

    def resized(self, width: int, height: int) -> CameraModel:
        """The same camera delivering a ``width`` x ``height`` image (``scale_intrinsics``)."""
        K = scale_intrinsics(self.K, width / self.width, height / self.height)
        return CameraModel(K=K, dist=self.dist, R=self.R, t=self.t, width=width, height=height)

    # ------------------------------------------------------------------ properties
    @property
    def center(self) -> FloatArray:
        """Camera position (optical centre) in world coordinates, ``-R^T t``."""
        return -self.R.T @ self.t

    @property
    def forward(self) -> FloatArray:
        """Unit optical axis (camera +z) in world coordinates."""
        return self.R[2].copy()

    @property
    def fx(self) -> float:
        return float(self.K[0, 0])

    @property
    def fy(self) -> float:
        return float(self.K[1, 1])

    @property
    def cx(self) -> float:
        return float(self.K[0, 2])

    @property
    def cy(self) -> float:
        return float(self.K[1, 2])

    # ------------------------------------------------------------------ projection
    def to_camera(self, points_w: ArrayLike) -> FloatArray:
        """World points ``(N, 3)`` (or one ``(3,)``) -> camera-frame points ``(N, 3)``."""
        pts = np.asarray(points_w, dtype=np.float64).reshape(-1, 3)
        return pts @ self.R.T + self.t

    def project(self, points_w: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Project world points to distorted pixel coordinates.

        Args:
            points_w: ``(N, 3)`` world points, or a single ``(3,)`` point.

        Returns:
            ``(uv, depth)``: ``uv`` is ``(N, 2)`` float64 pixels (u right, v down; pixel centres
            at integer coordinates, OpenCV convention), ``depth`` is ``(N,)`` the z coordinate
            in the camera frame (metres along the optical axis). Points with ``depth <= 0``
            (behind the camera) and points outside the distortion model's valid domain get
            ``uv = NaN`` - never a mirrored or folded-back pixel. Their depth is still reported.
            ``uv`` is not clipped to the image; use ``in_image``.
        """
        pc = self.to_camera(points_w)
        depth = pc[:, 2].copy()
        uv = np.full((pc.shape[0], 2), np.nan, dtype=np.float64)
        front = depth > _MIN_DEPTH
        if np.any(front):
            xy = pc[front, :2] / depth[front, None]
            radius = np.linalg.norm(xy, axis=1)
            ok = radius <= self._r_max
            if np.any(ok):
                obj = np.ascontiguousarray(pc[front][ok]).reshape(-1, 1, 3)
                img, _ = cv2.projectPoints(obj, np.zeros(3), np.zeros(3), self.K, self.dist)
                idx = np.nonzero(front)[0][ok]
                uv[idx] = img.reshape(-1, 2)
        return uv, depth

    def in_image(self, uv: ArrayLike) -> BoolArray:
        """Bool ``(N,)``: pixel lies inside the image, ``0 <= u < width``, ``0 <= v < height``.

        NaN pixels (behind the camera, invalid) are never in the image.
        """
        p = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        with np.errstate(invalid="ignore"):
            return (
                (p[:, 0] >= 0.0)
                & (p[:, 0] < self.width)
                & (p[:, 1] >= 0.0)
                & (p[:, 1] < self.height)
            )

    def ray(self, uv: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Back-project pixels to world rays.

        Args:
            uv: ``(N, 2)`` distorted pixels, or a single ``(2,)`` pixel.

        Returns:
            ``(origin, directions)``: ``origin`` is the ``(3,)`` camera centre shared by all
            rays, ``directions`` is ``(N, 3)`` unit vectors in the world frame. NaN pixels give
            NaN directions.
        """
        p = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        dirs = np.full((p.shape[0], 3), np.nan, dtype=np.float64)
        finite = np.all(np.isfinite(p), axis=1)
        if np.any(finite):
            xy = _undistort_normalized(p[finite], self.K, self.dist)
            d_cam = np.column_stack([xy, np.ones(xy.shape[0])])
            d_world = d_cam @ self.R  # == (R^T @ d_cam^T)^T
            dirs[finite] = d_world / np.linalg.norm(d_world, axis=1, keepdims=True)
        return self.center, dirs

    def floor_point(self, uv: ArrayLike, z: float = 0.0) -> FloatArray:
        """Intersect pixel rays with the horizontal plane at height ``z``.

        Returns ``(N, 3)`` world points; rows are NaN where the ray is parallel to the plane,
        points away from it (e.g. above the horizon for a floor below the camera) or the pixel
        is NaN. This is how a foot pixel becomes a floor position.
        """
        origin, dirs = self.ray(uv)
        out = np.full(dirs.shape, np.nan, dtype=np.float64)
        dz = dirs[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            s = (z - origin[2]) / dz
        hit = np.isfinite(s) & (s > 0.0) & (np.abs(dz) > 1e-12)
        out[hit] = origin[None, :] + s[hit, None] * dirs[hit]
        return out

    # ------------------------------------------------------------------ ROS interop
    def camera_info_dict(self) -> dict[str, Any]:
        """Fields for ``sensor_msgs/CameraInfo`` as plain Python types (no ROS import here).

        ``k`` (9), ``d`` (5), ``r`` (9, identity: no stereo rectification) and ``p`` (12,
        ``[K | 0]``: a monocular camera's projection of the *rectified* image) are row-major
        flattened lists, matching the message's fixed-size arrays; the ROS shell copies them
        one to one.
        """
        p = np.zeros((3, 4), dtype=np.float64)
        p[:, :3] = self.K
        return {
            "width": int(self.width),
            "height": int(self.height),
            "distortion_model": "plumb_bob",
            "d": [float(v) for v in self.dist],
            "k": [float(v) for v in self.K.reshape(-1)],
            "r": [float(v) for v in np.eye(3).reshape(-1)],
            "p": [float(v) for v in p.reshape(-1)],
        }
