"""Multi-camera 3-D fusion: association + triangulation + tracking for one frame set at a time.

``Fusion.process(t, detections_by_camera)`` is everything the tracker node does per frame set
(the node itself only converts messages and assembles frame sets, ``framesets.py``):

1. prepare the detections once (undistort, rays, single-view floor points);
2. anchor them on the tracker's predictions and cluster the rest across views
   (``associate.py``);
3. triangulate each cluster (``triangulate.py``); single-view people keep their floor point;
4. drop single-view people that duplicate a multi-view person (a detection that failed to
   join its cluster must not become a second "person" next to it);
5. step the tracker (``tracker.py``).

A camera missing from a frame set is simply absent from ``detections_by_camera``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np

from smart_store.config.model import StoreConfig
from smart_store.geometry.camera import CameraModel
from smart_store.tracking.associate import AssociationParams, Associator
from smart_store.tracking.model import Detection2D, Person3D, TrackState
from smart_store.tracking.tracker import Tracker, TrackerParams
from smart_store.tracking.triangulate import TriangulationParams, Triangulator
from smart_store.tracking.views import CameraRig

__all__ = ["Fusion"]


class Fusion:
    """The fusion pipeline of one store.

    Args:
        cfg: Store config (zones, floor, cameras).
        camera_models: Camera id -> model, e.g. from live ``CameraInfo``; missing ids fall back
            to the config's calibration. ``None``: all from the config.
        association, triangulation, tracker: Tuning of the stages.
        duplicate_radius: A single-view person closer than this (m) to a multi-view person of
            the same frame set is dropped as a duplicate.
        use_anchors: Seed association with the tracker's predictions (faster, more stable).
    """

    def __init__(
        self,
        cfg: StoreConfig,
        camera_models: Mapping[str, CameraModel] | None = None,
        *,
        association: AssociationParams | None = None,
        triangulation: TriangulationParams | None = None,
        tracker: TrackerParams | None = None,
        duplicate_radius: float = 0.45,
        use_anchors: bool = True,
    ) -> None:
        self.cfg = cfg
        self.rig = CameraRig.from_config(cfg, camera_models)
        self.associator = Associator(self.rig, association)
        self.triangulator = Triangulator(self.rig, triangulation)
        self.tracker = Tracker(cfg, tracker)
        self.duplicate_radius = float(duplicate_radius)
        self.use_anchors = bool(use_anchors)
        #: People fused in the latest frame set (before tracking).
        self.last_persons: list[Person3D] = []
        #: Wall-clock milliseconds of the latest call, per stage.
        self.timings: dict[str, float] = {}
        #: Counters: frame sets, unknown camera ids seen, duplicates dropped.
        self.stats: dict[str, int] = {"frame_sets": 0, "unknown_cameras": 0, "duplicates": 0}

    def process(
        self, t: float, detections_by_camera: Mapping[str, Sequence[Detection2D]]
    ) -> list[TrackState]:
        """Fuse one frame set taken at sensor time ``t`` (s) and return the track states."""
        t0 = time.perf_counter()
        views = self.associator.prepare(detections_by_camera)
        if views.unknown_cameras:
            self.stats["unknown_cameras"] += len(views.unknown_cameras)
        anchors = self.tracker.anchors(t) if self.use_anchors else []
        t1 = time.perf_counter()
        clusters = self.associator.associate(views, anchors)
        t2 = time.perf_counter()
        persons = self.triangulator.triangulate(
            views, [c.members for c in clusters], [c.anchor_id for c in clusters]
        )
        persons = self._drop_duplicates(persons)
        t3 = time.perf_counter()
        tracks = self.tracker.step(t, persons)
        t4 = time.perf_counter()
        self.last_persons = persons
        self.stats["frame_sets"] += 1
        self.timings = {
            "prepare": (t1 - t0) * 1e3,
            "associate": (t2 - t1) * 1e3,
            "triangulate": (t3 - t2) * 1e3,
            "track": (t4 - t3) * 1e3,
            "total": (t4 - t0) * 1e3,
        }
        return tracks

    def reset(self) -> None:
        """Drop all tracks and the clock (ids stay unique); see ``Tracker.reset``."""
        self.tracker.reset()
        self.last_persons = []

    def _drop_duplicates(self, persons: list[Person3D]) -> list[Person3D]:
        multi = [q for q in persons if q.triangulated]
        single = [q for q in persons if not q.triangulated]
        if not multi or not single:
            return persons
        M = np.stack([q.floor for q in multi])
        kept = list(multi)
        for q in single:
            if np.min(np.linalg.norm(M - q.floor, axis=1)) < self.duplicate_radius:
                self.stats["duplicates"] += 1
                continue
            kept.append(q)
        return kept
