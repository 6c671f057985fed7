"""The store layout as drawing primitives, independent of ROS.

``layout_markers`` turns a StoreConfig into a list of ``MarkerSpec``; the store_layout node only
copies them into visualization_msgs/Marker. Keeping the geometry here means it is tested without
a ROS runtime, and the twin's top-down renderer can reuse it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from smart_store.config import StoreConfig
from smart_store.config.model import CameraConfig, Shelf

Kind = Literal['cube', 'line_strip', 'line_list', 'text', 'triangle_list']
Vec3 = tuple[float, float, float]
Rgba = tuple[float, float, float, float]

ZONE_COLORS: dict[str, Rgba] = {
    'entry': (0.1, 0.8, 0.2, 0.9),
    'exit': (0.9, 0.2, 0.2, 0.9),
    'analytics': (0.3, 0.5, 0.9, 0.7),
}
FLOOR_COLOR: Rgba = (0.55, 0.55, 0.55, 1.0)
SHELF_COLOR: Rgba = (0.45, 0.32, 0.2, 0.35)
LANE_COLOR: Rgba = (0.95, 0.75, 0.2, 0.45)
TEXT_COLOR: Rgba = (1.0, 1.0, 1.0, 1.0)
CAMERA_COLOR: Rgba = (0.2, 0.9, 0.9, 0.8)
# Frustum edges that meet the floor within this many max_depths end on the floor.
FLOOR_HIT_FACTOR = 4.0


@dataclass(frozen=True)
class MarkerSpec:
    """One drawing primitive in the store frame.

    ``position``/``yaw`` place cubes and texts; line and triangle kinds use ``points`` (already in
    the store frame). ``scale`` is the cube size, the line width in x, or the text height in z.
    """

    ns: str
    id: int
    kind: Kind
    color: Rgba
    position: Vec3 = (0.0, 0.0, 0.0)
    yaw: float = 0.0
    scale: Vec3 = (1.0, 1.0, 1.0)
    points: tuple[Vec3, ...] = ()
    text: str = ''


def _vec(p: np.ndarray) -> Vec3:
    return (float(p[0]), float(p[1]), float(p[2]) if p.shape[0] > 2 else 0.0)


def _closed_strip(polygon: np.ndarray, z: float) -> tuple[Vec3, ...]:
    pts = [(float(x), float(y), z) for x, y in polygon]
    return (*pts, pts[0])


def _floor(cfg: StoreConfig) -> list[MarkerSpec]:
    # Fan triangulation is enough for the convex floors stores have; the outline shows the truth
    # for a concave one.
    poly = cfg.floor
    tris: list[Vec3] = []
    for i in range(1, len(poly) - 1):
        for p in (poly[0], poly[i], poly[i + 1]):
            tris.append((float(p[0]), float(p[1]), -0.005))
    return [
        MarkerSpec('floor', 0, 'triangle_list', FLOOR_COLOR, points=tuple(tris)),
        MarkerSpec('floor', 1, 'line_strip', (0.9, 0.9, 0.9, 1.0), scale=(0.03, 0.0, 0.0),
                   points=_closed_strip(poly, 0.0)),
    ]


def _zones(cfg: StoreConfig) -> list[MarkerSpec]:
    out: list[MarkerSpec] = []
    for i, zone in enumerate(cfg.zones):
        color = ZONE_COLORS.get(zone.kind, ZONE_COLORS['analytics'])
        out.append(MarkerSpec('zones', i, 'line_strip', color, scale=(0.05, 0.0, 0.0),
                              points=_closed_strip(zone.polygon, 0.01)))
        c = zone.polygon.mean(axis=0)
        out.append(MarkerSpec('zone_labels', i, 'text', color, position=(c[0], c[1], 0.1),
                              scale=(0.0, 0.0, 0.2), text=f'{zone.id} ({zone.kind})'))
    return out


def _shelf(shelf: Shelf, index: int, cfg: StoreConfig,
           lane_ids: dict[str, int]) -> list[MarkerSpec]:
    centre = shelf.to_store([0.0, 0.0, 0.5 * shelf.height])[0]
    out = [
        MarkerSpec('shelves', index, 'cube', SHELF_COLOR, position=_vec(centre), yaw=shelf.pose.yaw,
                   scale=(shelf.width, shelf.depth, shelf.height)),
        MarkerSpec('shelf_labels', index, 'text', TEXT_COLOR,
                   position=_vec(shelf.to_store([0.0, 0.0, shelf.height + 0.15])[0]),
                   scale=(0.0, 0.0, 0.18), text=shelf.id),
    ]
    for lane in shelf.lanes():
        lo, hi = lane.box_local
        n = lane_ids[lane.id]
        product = cfg.product_in_lane(lane.id)
        label = lane.id if product is None else f'{lane.id}\n{product.sku}'
        out.append(MarkerSpec('lanes', n, 'cube', LANE_COLOR, position=_vec(lane.center_store()),
                              yaw=shelf.pose.yaw, scale=_vec(hi - lo)))
        out.append(MarkerSpec('lane_labels', n, 'text', TEXT_COLOR,
                              position=_vec(lane.front_center_store()),
                              scale=(0.0, 0.0, 0.05), text=label))
    return out


def camera_frustum(cam: CameraConfig, max_depth: float) -> tuple[Vec3, ...]:
    """Line-list segments of a camera's view pyramid, cut at the floor (or at ``max_depth``)."""
    model = cam.model
    w, h = float(cam.width), float(cam.height)
    corners = np.array([[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]])
    origin, dirs = model.ray(corners)
    origin = np.asarray(origin, dtype=np.float64).reshape(-1, 3)[0]
    ends = []
    for d in np.asarray(dirs, dtype=np.float64).reshape(-1, 3):
        # A ray that meets the floor within reach ends there; one that passes above the horizon
        # (or meets the floor far away) is drawn max_depth long.
        hit = -origin[2] / d[2] if d[2] < -1e-9 else np.inf
        ends.append(origin + (hit if hit <= FLOOR_HIT_FACTOR * max_depth else max_depth) * d)
    segments: list[Vec3] = []
    for i, end in enumerate(ends):
        segments += [_vec(origin), _vec(end)]
        segments += [_vec(end), _vec(ends[(i + 1) % 4])]
    return tuple(segments)


def _cameras(cfg: StoreConfig, frustum_depth: float) -> list[MarkerSpec]:
    out: list[MarkerSpec] = []
    for i, cam in enumerate(cfg.cameras):
        out.append(MarkerSpec('camera_frusta', i, 'line_list', CAMERA_COLOR, scale=(0.02, 0.0, 0.0),
                              points=camera_frustum(cam, frustum_depth)))
        out.append(MarkerSpec('camera_labels', i, 'text', CAMERA_COLOR,
                              position=_vec(cam.model.center + np.array([0.0, 0.0, 0.15])),
                              scale=(0.0, 0.0, 0.15), text=cam.id))
    return out


def layout_markers(cfg: StoreConfig, frustum_depth: float = 2.0) -> list[MarkerSpec]:
    """Every primitive of the static store, with ids stable for a given config."""
    lane_ids = {lane.id: i for i, lane in enumerate(cfg.lanes())}
    out = _floor(cfg) + _zones(cfg)
    for i, shelf in enumerate(cfg.shelves):
        out += _shelf(shelf, i, cfg, lane_ids)
    return out + _cameras(cfg, frustum_depth)
