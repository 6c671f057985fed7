"""Data model of the multi-camera 3-D fusion and tracking stage (issue #5).

Three value types flow through the stage, mirroring the messages:

* ``Detection2D`` - one person found by the 2-D pose network in one camera image
  (``msg/PersonDetection.msg``): box, COCO-17 keypoints ``(u, v, score)`` and a person score.
* ``Person3D`` - one person fused from one or more views in one frame set: COCO-17 keypoints
  triangulated in the store frame ``(x, y, z, confidence)``, the floor point under the body
  centre and the cameras that saw them.
* ``TrackState`` - one tracked person after a frame set (``msg/Track.msg``): anonymous id, state,
  floor position and velocity, smoothed keypoints.

Pixel convention: ``Detection2D`` keypoints and boxes use the ``CameraModel`` / OpenCV convention,
pixel *centres* at integer coordinates. ``msg/Keypoint2D.msg`` counts from the left *edge* of
pixel 0, so the ROS shell converts with ``edge_to_center`` (``u - 0.5``) when it builds one.

Privacy: everything here is geometry only (no crops, no appearance descriptors); track ids are
anonymous integers that are never reused.

Pure Python + numpy: nothing here imports ROS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "ANKLES",
    "ELBOWS",
    "HIPS",
    "LEFT_ANKLE",
    "LEFT_ELBOW",
    "LEFT_HIP",
    "LEFT_SHOULDER",
    "LEFT_WRIST",
    "NUM_KEYPOINTS",
    "RIGHT_ANKLE",
    "RIGHT_ELBOW",
    "RIGHT_HIP",
    "RIGHT_SHOULDER",
    "RIGHT_WRIST",
    "SHOULDERS",
    "WRISTS",
    "Detection2D",
    "Person3D",
    "TrackState",
    "TrackStatus",
    "edge_to_center",
]

FloatArray = NDArray[np.float64]

#: COCO-17 keypoints per person (order: ``smart_store.twin.model.COCO_KEYPOINTS``).
NUM_KEYPOINTS = 17
LEFT_SHOULDER, RIGHT_SHOULDER = 5, 6
LEFT_ELBOW, RIGHT_ELBOW = 7, 8
LEFT_WRIST, RIGHT_WRIST = 9, 10
LEFT_HIP, RIGHT_HIP = 11, 12
LEFT_ANKLE, RIGHT_ANKLE = 15, 16
SHOULDERS = (LEFT_SHOULDER, RIGHT_SHOULDER)
ELBOWS = (LEFT_ELBOW, RIGHT_ELBOW)
WRISTS = (LEFT_WRIST, RIGHT_WRIST)
HIPS = (LEFT_HIP, RIGHT_HIP)
ANKLES = (LEFT_ANKLE, RIGHT_ANKLE)


class TrackStatus(IntEnum):
    """Track life cycle; the values are the ``STATE_*`` constants of ``msg/Track.msg``."""

    TENTATIVE = 0  #: born in an entry zone, not yet confirmed
    CONFIRMED = 1  #: seen and associated in the latest frame set
    COASTING = 2  #: not seen in the latest frame set (occluded); position is predicted
    EXITED = 3  #: left through an exit zone; reported once, the id is never reused


def edge_to_center(uv: ArrayLike) -> FloatArray:
    """Pixels measured from the left/top *edge* of pixel 0 (``Keypoint2D.msg``) -> pixel-centre
    convention of ``CameraModel`` (OpenCV): subtract half a pixel."""
    return np.asarray(uv, dtype=np.float64) - 0.5


def _as_float(values: ArrayLike, shape: tuple[int, ...], name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    return arr


@dataclass(frozen=True, eq=False)
class Detection2D:
    """One person seen by the 2-D pose network in one camera image.

    Attributes:
        camera_id: Id of the camera (``cameras[].id`` in the store config).
        box: ``(4,)`` ``x_min, y_min, x_max, y_max`` in pixels.
        keypoints: ``(17, 3)`` COCO-17 rows ``(u, v, score)``; pixel centres at integers
            (``CameraModel`` convention); ``score`` in ``[0, 1]``, 0 = not found (``u, v`` are
            then meaningless).
        score: Person confidence in ``[0, 1]``.
    """

    camera_id: str
    box: FloatArray
    keypoints: FloatArray
    score: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "box", _as_float(self.box, (4,), "box"))
        object.__setattr__(
            self, "keypoints", _as_float(self.keypoints, (NUM_KEYPOINTS, 3), "keypoints")
        )
        object.__setattr__(self, "score", float(self.score))

    @classmethod
    def from_keypoints(
        cls, camera_id: str, keypoints: ArrayLike, score: float | None = None, margin: float = 8.0
    ) -> Detection2D:
        """Build a detection whose box encloses the found keypoints (plus ``margin`` px) and
        whose person score is the mean keypoint score unless given."""
        kp = _as_float(keypoints, (NUM_KEYPOINTS, 3), "keypoints")
        found = (kp[:, 2] > 0.0) & np.all(np.isfinite(kp[:, :2]), axis=1)
        if np.any(found):
            lo = kp[found, :2].min(axis=0) - margin
            hi = kp[found, :2].max(axis=0) + margin
            box = np.array([lo[0], lo[1], hi[0], hi[1]])
            mean_score = float(kp[found, 2].mean())
        else:
            box = np.zeros(4)
            mean_score = 0.0
        return cls(camera_id, box, kp, mean_score if score is None else score)


@dataclass(frozen=True, eq=False)
class Person3D:
    """One person fused from the detections of one frame set.

    Attributes:
        keypoints: ``(17, 4)`` rows ``(x, y, z, confidence)`` in the store frame (m);
            ``confidence`` in ``[0, 1]``, 0 = not triangulated, and then ``x, y, z`` are NaN.
        floor: ``(2,)`` floor point under the body centre (store frame x, y; z = 0 implied).
        floor_sigma: 1-sigma uncertainty of ``floor`` in metres (per axis).
        cameras: Ids of the cameras whose detections were fused, one per camera.
        detections: The fused detections, in the order of ``cameras``.
        triangulated: True if ``floor`` comes from triangulated joints (>= 2 agreeing views),
            False for the single-view fallback (an ankle or hip ray intersected with the plane
            at its typical height).
        score: Mean person score of the fused detections.
        anchor_id: Track id whose predicted position seeded this person's cluster, if any (a
            hint for debugging; the tracker does its own assignment).
    """

    keypoints: FloatArray
    floor: FloatArray
    floor_sigma: float
    cameras: tuple[str, ...]
    detections: tuple[Detection2D, ...] = ()
    triangulated: bool = True
    score: float = 1.0
    anchor_id: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "keypoints", _as_float(self.keypoints, (NUM_KEYPOINTS, 4), "keypoints")
        )
        object.__setattr__(self, "floor", _as_float(self.floor, (2,), "floor"))
        object.__setattr__(self, "floor_sigma", float(self.floor_sigma))

    @property
    def num_views(self) -> int:
        """How many cameras contributed."""
        return len(self.cameras)

    @property
    def position(self) -> FloatArray:
        """``(3,)`` floor point ``(x, y, 0)``."""
        return np.array([self.floor[0], self.floor[1], 0.0])


@dataclass(frozen=True, eq=False)
class TrackState:
    """One tracked person after a frame set (mirrors ``msg/Track.msg``).

    Attributes:
        id: Anonymous track id; ids increase and are never reused (also not after ``EXITED``
            or after a track was lost).
        state: ``TrackStatus``.
        position: ``(3,)`` filtered floor point under the body centre, store frame, z = 0.
        velocity: ``(3,)`` floor-plane velocity in m/s, z = 0.
        keypoints: ``(17, 4)`` smoothed keypoints ``(x, y, z, confidence)``; joints never seen
            have confidence 0 and NaN coordinates. While coasting, the last smoothed skeleton is
            moved with the predicted body position and its confidence decays.
        camera_ids: Cameras whose detections were fused into this track in this frame set
            (empty while coasting).
        confidence: Track existence confidence in ``[0, 1]``.
        first_seen: Sensor time (s) of the first detection of this track.
        last_seen: Sensor time (s) of the latest detection associated with this track.
        stamp: Frame-set time (s) this state refers to.
        position_cov: ``(2, 2)`` covariance of ``position`` (m^2).
        hits: Number of frame sets in which the track was associated with a detection.
        confusable: Ids of the tracks whose identity this frame set's assignment could have
            exchanged with this one (``Tracker`` docstring: identity ambiguity).
    """

    id: int
    state: TrackStatus
    position: FloatArray
    velocity: FloatArray
    keypoints: FloatArray
    camera_ids: tuple[str, ...]
    confidence: float
    first_seen: float
    last_seen: float
    stamp: float
    position_cov: FloatArray = field(default_factory=lambda: np.eye(2))
    hits: int = 0
    confusable: tuple[int, ...] = ()

    @property
    def speed(self) -> float:
        """Floor speed in m/s."""
        return float(np.hypot(self.velocity[0], self.velocity[1]))

    @property
    def coast_time(self) -> float:
        """Seconds since the track was last associated with a detection."""
        return max(0.0, self.stamp - self.last_seen)
