"""Typed, immutable model of a store configuration (the result of ``load_store_config``).

Every stage (drivers, tracking, reach detection, billing, the digital twin) reads the same
``StoreConfig``. The classes here are frozen dataclasses holding already-validated values in
SI units (metres, radians, grams, minor currency units), so consumers never re-check the YAML
and never convert degrees. Construction is the loader's job; these classes do no validation
beyond what is needed to build derived values.

Frames:
    * store frame: right-handed, metres, z up, origin at a floor corner (``StoreConfig.frame_id``).
    * shelf-local frame: origin at the centre of the shelf footprint on the floor, x along the
      width, y towards the aisle (the front face is at ``y = +depth/2``), z up. A shelf pose
      ``(x, y, yaw)`` maps local to store coordinates: ``p_store = Rz(yaw) @ p_local + [x, y, 0]``.

Classes holding numpy arrays use ``eq=False`` (array ``==`` is ambiguous); compare ids instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from smart_store.geometry.camera import CameraModel
from smart_store.geometry.polygon import point_in_polygon, rect_corners, yaw_rotation

__all__ = [
    "HUB_KINDS",
    "ZONE_KINDS",
    "CameraConfig",
    "DistanceSensor",
    "Hub",
    "Lane",
    "Level",
    "LoadCellChannel",
    "PlanogramEntry",
    "Pose2D",
    "Product",
    "Shelf",
    "StoreConfig",
    "Zone",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: Allowed ``zones[].kind`` values.
ZONE_KINDS: tuple[str, ...] = ("entry", "exit", "analytics")
#: Allowed ``hubs[].kind`` values.
HUB_KINDS: tuple[str, ...] = ("load_cell", "distance")


def _frozen_array(values: ArrayLike) -> FloatArray:
    arr = np.array(values, dtype=np.float64)
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True)
class Pose2D:
    """Planar pose of a shelf footprint centre in the store frame; ``yaw`` in radians."""

    x: float
    y: float
    yaw: float

    def rotation(self) -> FloatArray:
        """3x3 rotation shelf-local -> store."""
        return yaw_rotation(self.yaw)

    def to_store(self, points_local: ArrayLike) -> FloatArray:
        """Shelf-local points ``(N, 3)`` (or ``(N, 2)``, z = 0) -> store frame ``(N, 3)``."""
        pts = np.asarray(points_local, dtype=np.float64)
        pts = pts.reshape(1, -1) if pts.ndim == 1 else pts
        if pts.shape[1] == 2:
            pts = np.column_stack([pts, np.zeros(pts.shape[0])])
        return pts @ self.rotation().T + np.array([self.x, self.y, 0.0])

    def to_local(self, points_store: ArrayLike) -> FloatArray:
        """Store points ``(N, 3)`` (or ``(N, 2)``, z = 0) -> shelf-local ``(N, 3)``."""
        pts = np.asarray(points_store, dtype=np.float64)
        pts = pts.reshape(1, -1) if pts.ndim == 1 else pts
        if pts.shape[1] == 2:
            pts = np.column_stack([pts, np.zeros(pts.shape[0])])
        return (pts - np.array([self.x, self.y, 0.0])) @ self.rotation()


@dataclass(frozen=True, eq=False)
class Zone:
    """A floor region: ``entry``/``exit`` gates open and close shopping sessions,
    ``analytics`` zones are only reported."""

    id: str
    kind: str
    polygon: FloatArray  # (M, 2) store frame, metres

    def contains(self, points_xy: ArrayLike) -> BoolArray:
        """Bool ``(N,)``: which store-frame floor points lie inside the zone."""
        return point_in_polygon(points_xy, self.polygon)


@dataclass(frozen=True, eq=False)
class CameraConfig:
    """A ceiling camera: where its images are published and its calibrated model."""

    id: str
    topic: str
    width: int
    height: int
    fps: float
    model: CameraModel
    position: FloatArray  # (3,) as configured
    look_at: FloatArray  # (3,) as configured

    @property
    def info_topic(self) -> str:
        """``CameraInfo`` topic: the image topic's sibling ``camera_info`` (ROS convention)."""
        head, sep, _ = self.topic.rpartition("/")
        return f"{head}{sep}camera_info"


@dataclass(frozen=True)
class Hub:
    """A serial sensor hub multiplexing many channels (load cells or distance sensors)."""

    id: str
    kind: str  # one of HUB_KINDS
    port: str
    baud: int
    rate_hz: float


@dataclass(frozen=True)
class DistanceSensor:
    """Range sensor at a shelf's front-left corner, looking along the front edge (local +x).

    It sees hands entering the shelf face; ``fov`` is the full cone angle in radians.
    """

    id: str
    shelf_id: str
    hub: str
    channel: int
    min_range: float
    max_range: float
    fov: float


@dataclass(frozen=True)
class LoadCellChannel:
    """One load-cell channel: ``grams = (counts - offset) / scale``."""

    hub: str
    channel: int
    offset: int  # raw counts at zero load
    scale: float  # counts per gram

    def grams(self, counts: ArrayLike) -> FloatArray:
        """Convert raw counts to grams with this channel's calibration."""
        return (np.asarray(counts, dtype=np.float64) - self.offset) / self.scale


@dataclass(frozen=True, eq=False)
class Lane:
    """A product lane: a box on one shelf level, weighed by one load cell.

    ``box_local`` is ``(min_xyz, max_xyz)`` in the shelf-local frame: x spans the lane,
    y the full shelf depth, z from the board to the board plus clearance.
    """

    id: str
    shelf_id: str
    level_id: str
    box_local: tuple[FloatArray, FloatArray]
    load_cell: LoadCellChannel
    shelf_pose: Pose2D

    def corners_local(self) -> FloatArray:
        """The 8 box corners ``(8, 3)`` in shelf-local frame.

        Corner ``i`` takes max x if ``i & 1``, max y if ``i & 2``, max z if ``i & 4``.
        """
        lo, hi = self.box_local
        idx = np.arange(8)
        return np.column_stack(
            [
                np.where(idx & 1, hi[0], lo[0]),
                np.where(idx & 2, hi[1], lo[1]),
                np.where(idx & 4, hi[2], lo[2]),
            ]
        )

    def corners_store(self) -> FloatArray:
        """The 8 box corners ``(8, 3)`` in the store frame (same order as ``corners_local``)."""
        return self.shelf_pose.to_store(self.corners_local())

    def center_store(self) -> FloatArray:
        """Box centre ``(3,)`` in the store frame."""
        lo, hi = self.box_local
        return self.shelf_pose.to_store(0.5 * (lo + hi))[0]

    def front_center_store(self) -> FloatArray:
        """Centre ``(3,)`` of the lane's opening on the shelf front face, store frame.

        Where a hand reaches in: x and z mid-lane, y on the front face.
        """
        lo, hi = self.box_local
        p = np.array([0.5 * (lo[0] + hi[0]), hi[1], 0.5 * (lo[2] + hi[2])])
        return self.shelf_pose.to_store(p)[0]

    def contains_store(self, points_store: ArrayLike) -> BoolArray:
        """Bool ``(N,)``: which store-frame 3-D points lie inside the lane box."""
        local = self.shelf_pose.to_local(np.asarray(points_store, dtype=np.float64).reshape(-1, 3))
        lo, hi = self.box_local
        return np.all((local >= lo) & (local <= hi), axis=1)


@dataclass(frozen=True)
class Level:
    """A shelf board at height ``z`` with ``clearance`` metres of free space above it."""

    id: str
    z: float
    clearance: float
    lanes: tuple[Lane, ...]


@dataclass(frozen=True, eq=False)
class Shelf:
    """A shelving unit standing on the floor; see the module docstring for its local frame."""

    id: str
    pose: Pose2D
    width: float
    depth: float
    height: float
    levels: tuple[Level, ...]
    distance_sensor: DistanceSensor | None

    def to_store(self, points_local: ArrayLike) -> FloatArray:
        """Shelf-local points ``(N, 3)`` (or ``(N, 2)``) -> store frame ``(N, 3)``."""
        return self.pose.to_store(points_local)

    def to_local(self, points_store: ArrayLike) -> FloatArray:
        """Store-frame points ``(N, 3)`` (or ``(N, 2)``) -> shelf-local ``(N, 3)``."""
        return self.pose.to_local(points_store)

    def footprint_store(self) -> FloatArray:
        """Footprint rectangle ``(4, 2)`` on the floor, store frame, counter-clockwise."""
        return rect_corners(self.width, self.depth, (self.pose.x, self.pose.y), self.pose.yaw)

    def front_face_store(self) -> FloatArray:
        """Front face rectangle ``(4, 3)`` in the store frame (the side shoppers reach into).

        Corners in order are local ``(-w/2, d/2, 0), (w/2, d/2, 0), (w/2, d/2, h),
        (-w/2, d/2, h)``: bottom edge first, going along local +x. (A shopper facing the shelf
        looks along local -y, so local +x runs from their right to their left.)
        """
        hw, hd, h = 0.5 * self.width, 0.5 * self.depth, self.height
        local = np.array([[-hw, hd, 0.0], [hw, hd, 0.0], [hw, hd, h], [-hw, hd, h]])
        return self.pose.to_store(local)

    def front_normal_store(self) -> FloatArray:
        """Unit outward normal ``(3,)`` of the front face (towards the aisle), store frame."""
        return self.pose.rotation() @ np.array([0.0, 1.0, 0.0])

    def lanes(self) -> tuple[Lane, ...]:
        """All lanes of this shelf, bottom level first."""
        return tuple(lane for level in self.levels for lane in level.lanes)


@dataclass(frozen=True)
class Product:
    """A catalog item. ``price`` is an integer in minor units (cents) of the store currency."""

    sku: str
    name: str
    price: int
    unit_weight_g: float
    weight_sd_g: float


@dataclass(frozen=True)
class PlanogramEntry:
    """Which product a lane holds and how many items it starts with (``facings``)."""

    lane: str
    sku: str
    facings: int


@dataclass(frozen=True, eq=False)
class StoreConfig:
    """The validated store configuration; build it with ``load_store_config``."""

    path: str
    name: str
    frame_id: str
    currency: str
    floor: FloatArray  # (N, 2) store frame polygon
    zones: tuple[Zone, ...]
    cameras: tuple[CameraConfig, ...]
    hubs: tuple[Hub, ...]
    shelves: tuple[Shelf, ...]
    catalog: dict[str, Product]
    planogram: dict[str, PlanogramEntry]
    _lanes: tuple[Lane, ...] = field(init=False, repr=False, default=())
    _lane_by_id: dict[str, Lane] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        lanes = tuple(lane for shelf in self.shelves for lane in shelf.lanes())
        object.__setattr__(self, "_lanes", lanes)
        object.__setattr__(self, "_lane_by_id", {lane.id: lane for lane in lanes})

    def lanes(self) -> tuple[Lane, ...]:
        """All lanes in config order (shelf, then level, then lane)."""
        return self._lanes

    def lane(self, lane_id: str) -> Lane:
        """The lane with id ``lane_id``; ``KeyError`` naming the id if unknown."""
        try:
            return self._lane_by_id[lane_id]
        except KeyError:
            raise KeyError(f"unknown lane id {lane_id!r}") from None

    def zone(self, zone_id: str) -> Zone:
        """The zone with id ``zone_id``; ``KeyError`` if unknown."""
        return _by_id(self.zones, zone_id, "zone")

    def zones_of_kind(self, kind: str) -> tuple[Zone, ...]:
        """All zones of ``kind`` (``entry``, ``exit`` or ``analytics``)."""
        return tuple(z for z in self.zones if z.kind == kind)

    def shelf(self, shelf_id: str) -> Shelf:
        """The shelf with id ``shelf_id``; ``KeyError`` if unknown."""
        return _by_id(self.shelves, shelf_id, "shelf")

    def camera(self, camera_id: str) -> CameraConfig:
        """The camera with id ``camera_id``; ``KeyError`` if unknown."""
        return _by_id(self.cameras, camera_id, "camera")

    def hub(self, hub_id: str) -> Hub:
        """The hub with id ``hub_id``; ``KeyError`` if unknown."""
        return _by_id(self.hubs, hub_id, "hub")

    def product_in_lane(self, lane_id: str) -> Product | None:
        """The catalog product planned for ``lane_id``, or ``None`` for an unplanned lane."""
        entry = self.planogram.get(lane_id)
        return None if entry is None else self.catalog[entry.sku]


class _HasId(Protocol):
    id: str


_T = TypeVar("_T", bound=_HasId)


def _by_id(items: tuple[_T, ...], item_id: str, what: str) -> _T:
    """Linear lookup by ``id``: configs hold tens of items, so a dict is not worth keeping."""
    for item in items:
        if item.id == item_id:
            return item
    raise KeyError(f"unknown {what} id {item_id!r}")
