"""Synthetic people and cameras for tests and benchmarks of the fusion stage.

* ``skeleton(x, y, heading, height)`` - a standing COCO-17 skeleton in the store frame.
* ``detect(camera_id, model, joints, rng, ...)`` - what an ideal-ish 2-D pose network would
  report: the projection plus pixel noise, some joints dropped, scores in a realistic range;
  ``None`` if the person is not (enough) in view.
* ``ceiling_grid(width, depth, nx, ny)`` - a grid of tilted ceiling cameras over a big floor.

Deterministic given the ``numpy.random.Generator``. No ROS.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from smart_store.geometry.camera import CameraModel
from smart_store.tracking.model import NUM_KEYPOINTS, Detection2D, Person3D

__all__ = ["ceiling_grid", "detect", "person3d", "skeleton"]

FloatArray = NDArray[np.float64]

# Body-frame template for a 1.75 m person: (forward, left, height / 1.75). Left = the person's
# own left side (COCO "left_*").
_TEMPLATE = np.array(
    [
        [0.10, 0.00, 1.62],  # nose
        [0.08, 0.03, 1.66],  # left_eye
        [0.08, -0.03, 1.66],  # right_eye
        [0.00, 0.08, 1.64],  # left_ear
        [0.00, -0.08, 1.64],  # right_ear
        [0.00, 0.20, 1.44],  # left_shoulder
        [0.00, -0.20, 1.44],  # right_shoulder
        [0.02, 0.23, 1.12],  # left_elbow
        [0.02, -0.23, 1.12],  # right_elbow
        [0.06, 0.22, 0.84],  # left_wrist
        [0.06, -0.22, 0.84],  # right_wrist
        [0.00, 0.11, 0.93],  # left_hip
        [0.00, -0.11, 0.93],  # right_hip
        [0.03, 0.11, 0.50],  # left_knee
        [0.03, -0.11, 0.50],  # right_knee
        [0.00, 0.11, 0.08],  # left_ankle
        [0.00, -0.11, 0.08],  # right_ankle
    ]
)


def skeleton(
    x: float,
    y: float,
    heading: float = 0.0,
    height: float = 1.75,
    reach: tuple[float, float, float] | None = None,
) -> FloatArray:
    """COCO-17 joints ``(17, 3)`` of a person standing at floor point ``(x, y)``.

    Args:
        x, y: Floor point under the body centre (hip midpoint), store frame.
        heading: Facing direction, radians from store +x.
        height: Body height in m (joints scale with it; ankles stay ~8 cm up).
        reach: Optional store-frame point the right wrist reaches to (elbow halfway).
    """
    s = height / 1.75
    fwd = np.array([np.cos(heading), np.sin(heading)])
    left = np.array([-fwd[1], fwd[0]])
    t = _TEMPLATE
    xy = np.array([x, y]) + s * (t[:, 0:1] * fwd + t[:, 1:2] * left)
    z = np.where(np.arange(NUM_KEYPOINTS) >= 15, t[:, 2], t[:, 2] * s)
    joints = np.column_stack([xy, z])
    if reach is not None:
        target = np.asarray(reach, dtype=np.float64)
        joints[10] = target
        joints[8] = 0.5 * (joints[6] + target) + np.array([0.0, 0.0, -0.05])
    return joints


def person3d(
    x: float,
    y: float,
    heading: float = 0.0,
    height: float = 1.75,
    *,
    sigma: float = 0.06,
    confidence: float = 0.9,
    cameras: tuple[str, ...] = ("synthetic",),
) -> Person3D:
    """A fused person at floor point ``(x, y)`` (for tracker tests without cameras)."""
    kp = np.column_stack([skeleton(x, y, heading, height), np.full(NUM_KEYPOINTS, confidence)])
    return Person3D(kp, np.array([x, y]), sigma, cameras)


def detect(
    camera_id: str,
    model: CameraModel,
    joints: FloatArray,
    rng: np.random.Generator,
    *,
    noise_px: float = 2.0,
    drop: float = 0.1,
    min_joints: int = 5,
    score_range: tuple[float, float] = (0.55, 0.98),
) -> Detection2D | None:
    """Project ``joints`` into ``model`` like a 2-D pose network would report them.

    Joints outside the image or behind the camera are not found; each other joint is dropped
    with probability ``drop``; found joints get Gaussian pixel noise ``noise_px`` and a score
    drawn from ``score_range``. Returns ``None`` with fewer than ``min_joints`` found.
    """
    uv, depth = model.project(joints)
    seen = model.in_image(uv) & (depth > 0.1)
    seen &= rng.random(NUM_KEYPOINTS) >= drop
    if int(seen.sum()) < min_joints:
        return None
    kp = np.zeros((NUM_KEYPOINTS, 3))
    kp[seen, :2] = uv[seen] + rng.normal(0.0, noise_px, size=(int(seen.sum()), 2))
    kp[seen, 2] = rng.uniform(*score_range, size=int(seen.sum()))
    return Detection2D.from_keypoints(camera_id, kp)


def ceiling_grid(
    width: float,
    depth: float,
    nx: int,
    ny: int,
    *,
    height: float = 3.2,
    image: tuple[int, int] = (640, 480),
    focal: float = 330.0,
    tilt: float = 1.2,
    dist: Sequence[float] = (-0.05, 0.012, 0.0, 0.0, -0.001),
) -> dict[str, CameraModel]:
    """``nx * ny`` ceiling cameras on a regular grid over a ``width x depth`` floor.

    Each camera hangs at ``height`` and looks at a floor point ``tilt`` metres away, the
    directions alternating over the four diagonals so that neighbouring views overlap from
    different sides (as a real installation would, for triangulation baselines).
    """
    w, h = image
    K = np.array([[focal, 0.0, w / 2.0], [0.0, focal, h / 2.0], [0.0, 0.0, 1.0]])
    out: dict[str, CameraModel] = {}
    dirs = [(1, 1), (-1, 1), (-1, -1), (1, -1)]
    for iy in range(ny):
        for ix in range(nx):
            cx = (ix + 0.5) * width / nx
            cy = (iy + 0.5) * depth / ny
            dx, dy = dirs[(ix + 2 * iy) % 4]
            look = (cx + dx * tilt / np.sqrt(2.0), cy + dy * tilt / np.sqrt(2.0), 0.0)
            out[f"cam_{ix}_{iy}"] = CameraModel.from_look_at(
                K, np.asarray(dist), (cx, cy, height), look, w, h
            )
    return out
