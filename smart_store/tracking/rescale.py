"""Detections from the pose network's image size to the calibrated camera resolution."""

from __future__ import annotations

from typing import Any

import numpy as np

from smart_store.tracking.model import Detection2D


def rescale(cam: str, det: Any, size: tuple[int, int], calibrated: tuple[int, int]
            ) -> Detection2D:
    """A detection (``box``, ``keypoints`` (17, 3), ``score``) in an image of ``size`` ->
    a Detection2D in pixels of the ``calibrated`` resolution.

    Pixel centres are at integer coordinates, so the map is ``(u + 0.5) * s - 0.5``.
    """
    sx, sy = calibrated[0] / size[0], calibrated[1] / size[1]
    kp = np.asarray(det.keypoints, float).copy()
    kp[:, 0] = (kp[:, 0] + 0.5) * sx - 0.5
    kp[:, 1] = (kp[:, 1] + 0.5) * sy - 0.5
    box = (np.asarray(det.box, float) + 0.5) * np.array([sx, sy, sx, sy]) - 0.5
    return Detection2D(cam, box, kp, float(det.score))
