"""Camera renderer of the digital twin: what each ceiling camera sees, plus a top-down map.

Pure numpy + OpenCV (no ROS). One ``CameraRenderer`` per configured camera:

* The static scene (floor tiles, walls, ceiling, shelving units, products in their lanes) is ray
  cast ONCE per camera into a colour buffer and a depth buffer (metres along the optical axis,
  the same "depth" ``CameraModel.project`` reports), through the camera's own distortion: every
  pixel's ray comes from ``CameraModel.ray``, so the static image is exactly consistent with
  ``project``. Lanes follow the stock passed to ``render`` (``World.lane_stock_at``): a lane's
  products fill ``stock / facings`` of its depth, from the back. When a count changes, only the
  rectangle around that lane is ray cast and shaded again (exactly as the whole image was, so
  nothing else moves by a grey level) and pasted into the scene as drawn; the pieces are cached.
* People are drawn every frame as shaded 3-D primitives projected with ``CameraModel.project``:
  capsules for limbs, neck, pelvis, hands and feet, a convex hull of three elliptic rings for the
  torso, a sphere for the head with hair on top (no face is ever drawn), and what they hold
  (``PersonState.held``) as boxes in the product's colour at the hand. Parts of all people are
  painted far to near (painter's algorithm, anti-aliased OpenCV primitives straight into the
  frame) while a parallel "people depth" layer records each part's front-surface depth; pixels
  where the static scene is nearer than the people layer are then restored from the static
  colour buffer, so shelves hide people behind them and people hide each other in depth order.
* Camera effects: soft contact shadows, a fixed per-camera white balance, lens vignetting, an
  exposure that drifts slowly over time, Gaussian sensor noise, optional motion blur (the
  poses at ``t``, mid-exposure and the shutter opening averaged; the recorder passes the
  people at ``t - exposure``). All of it is a pure function of ``(seed, camera, t, people,
  stock)``: the same call gives a byte-identical image.

Speed: per frame the cost is one copy of the static colour buffer, a few hundred OpenCV drawing
calls for ~8 people (prepared in vectorised numpy, body points shared between cameras rendering
the same poses), a per-person z-test with OpenCV compare/copyTo and three full-frame SIMD passes
(gain, noise); see ``benchmarks/render_speed.py``. The sensor noise comes from a per-camera bank
of pre-drawn noise fields read at a random offset each frame (drawing 900 k normals per frame
would cost more than the whole render). Small people are cheaper by themselves (no highlight
passes below ~1.5 px radius), so lower resolutions are a fast path without a separate code path.

``keypoints_2d`` reports COCO-17 keypoints with visibility flags from the same buffers:
0 = outside the image or behind the camera, 1 = in the image but hidden (by a shelf, another
person or the person's own body), 2 = visible. A joint is hidden when its body surface lies
more than ``KEYPOINT_TOLERANCE`` behind the static depth at its pixel, or behind the surface of
the person part drawn on top there (the layer stores which part; its depth is evaluated exactly
for that capsule, head sphere or torso plane; a held item counts with its flat front).
"""

from __future__ import annotations

import math
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from smart_store.config.model import CameraConfig, Shelf, StoreConfig
from smart_store.geometry.camera import CameraModel
from smart_store.twin.model import COCO_KEYPOINTS, BodySpec, HeldItem, PersonState, RenderSpec

__all__ = [
    "KEYPOINT_TOLERANCE",
    "CameraRenderer",
    "contact_sheet",
    "render_topdown",
    "sku_colour",
    "synthetic_person",
    "topdown_pixel",
]

FloatArray = NDArray[np.float64]
U8Image = NDArray[np.uint8]

#: Depth tolerance (m) of the keypoint visibility test, on top of each joint's body radius.
KEYPOINT_TOLERANCE = 0.06

_N_KP = len(COCO_KEYPOINTS)
_SHIFT = 4  # OpenCV sub-pixel bits for drawing
_ONE = 1 << _SHIFT
_NOISE_MARGIN = 24  # px of extra noise field around the image (random read offsets)
_NOISE_BANK = 3  # noise fields per camera
_RESTORE_TOL = 0.02  # m: a person surface this close behind a static surface still shows
_WALL_HEIGHT_MIN = 2.6  # m

# Body radius (m at 1.75 m body height) of each COCO joint: a joint sits inside its limb, so its
# surface towards the camera is this much nearer than the joint itself.
_JOINT_RADIUS = np.array(
    [0.0, 0.01, 0.01, 0.03, 0.03, 0.09, 0.09, 0.045, 0.045, 0.035, 0.035,
     0.10, 0.10, 0.06, 0.06, 0.05, 0.05]
)
_BUILD_WIDTH = {"slim": 0.86, "average": 1.0, "broad": 1.2}

# Colour slots of a person (BGR rows of a (6, 3) array).
_SHIRT, _PANTS, _SKIN, _HAIR, _SHOES, _SLEEVE = range(6)

# Extra points computed per person after the 17 joints.
_HEAD, _HAIR_C, _NECK, _HAND_L, _HAND_R, _TOE_L, _TOE_R = range(17, 24)
_RING0 = 24
_RING_N = 8  # points per torso ring
_RINGS = 3  # shoulder, chest, hip
_N_PTS = _RING0 + _RINGS * _RING_N
_SHADOW_N = 12  # points per contact-shadow ellipse
_SHADOW_R = (0.34, 0.25, 0.16)  # m (at 1.75 m), outer to inner
_SHADOW0 = _N_PTS
_N_ALL = _SHADOW0 + len(_SHADOW_R) * _SHADOW_N

# Capsules: (point a, point b, radius m at 1.75 m, colour slot, scales with build, sort bias m).
_CAPSULES: tuple[tuple[int, int, float, int, bool, float], ...] = (
    (11, 12, 0.090, _PANTS, True, 0.03),  # pelvis
    (_NECK, _HEAD, 0.050, _SKIN, False, 0.02),  # neck
    (5, 7, 0.048, _SHIRT, True, 0.0),  # upper arms
    (6, 8, 0.048, _SHIRT, True, 0.0),
    (7, 9, 0.040, _SLEEVE, True, 0.0),  # forearms
    (8, 10, 0.040, _SLEEVE, True, 0.0),
    (9, _HAND_L, 0.042, _SKIN, False, -0.01),  # hands
    (10, _HAND_R, 0.042, _SKIN, False, -0.01),
    (11, 13, 0.075, _PANTS, True, 0.0),  # thighs
    (12, 14, 0.075, _PANTS, True, 0.0),
    (13, 15, 0.055, _PANTS, True, 0.0),  # shins
    (14, 16, 0.055, _PANTS, True, 0.0),
    (15, _TOE_L, 0.045, _SHOES, False, 0.0),  # feet
    (16, _TOE_R, 0.045, _SHOES, False, 0.0),
)
_CAP_A = np.array([c[0] for c in _CAPSULES])
_CAP_B = np.array([c[1] for c in _CAPSULES])
_CAP_R = np.array([c[2] for c in _CAPSULES])
_CAP_SLOT = np.array([c[3] for c in _CAPSULES])
_CAP_BUILD = np.array([c[4] for c in _CAPSULES])
_CAP_BIAS = np.array([c[5] for c in _CAPSULES])
_LIMB_CAPS = frozenset(range(2, 6)) | frozenset(range(8, 12))  # depth drawn in two halves
_CAP_LIMB = np.array([i in _LIMB_CAPS for i in range(len(_CAPSULES))], dtype=np.int64)
_HEAD_R = 0.105
_HAIR_R = 0.100
_TORSO_BIAS = 0.03
_HEAD_BIAS = -0.03

_LIGHT_DIR = np.array([0.15, 0.25, 1.0]) / np.linalg.norm([0.15, 0.25, 1.0])


# =========================================================================== small helpers
def _hash01(*parts: object) -> float:
    """Stable pseudo-random number in [0, 1) from any printable parts (not Python's hash())."""
    return zlib.crc32("|".join(map(str, parts)).encode()) / 2**32


def sku_colour(sku: str) -> tuple[int, int, int]:
    """A stable, saturated BGR colour for a product (same in camera images and maps)."""
    hue = int(_hash01("hue", sku) * 180)
    sat = 140 + int(_hash01("sat", sku) * 100)
    val = 120 + int(_hash01("val", sku) * 110)
    bgr = cv2.cvtColor(np.array([[[hue, sat, val]]], np.uint8), cv2.COLOR_HSV2BGR)[0, 0]
    return int(bgr[0]), int(bgr[1]), int(bgr[2])


def _label_colour(sku: str) -> tuple[int, int, int]:
    """Second colour of a product's packaging (label band)."""
    hue = int((_hash01("hue", sku) * 180 + 60 + _hash01("lab", sku) * 60) % 180)
    light = _hash01("light", sku) > 0.5
    hsv = np.array([[[hue, 60 if light else 200, 235 if light else 90]]], np.uint8)
    bgr = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(bgr[0]), int(bgr[1]), int(bgr[2])


def _rgb_to_bgr(c: tuple[int, int, int]) -> tuple[float, float, float]:
    return float(c[2]), float(c[1]), float(c[0])


def _scaled_model(camera: CameraConfig, width: int, height: int) -> CameraModel:
    """The camera's model with intrinsics scaled to a ``width`` x ``height`` image.

    Pixel centres are at integer coordinates, so the principal point maps as
    ``c' = (c + 0.5) * s - 0.5``; distortion acts on normalised coordinates and is unchanged.
    """
    return camera.model.resized(width, height)  # geometry.camera.scale_intrinsics


def _render_size(camera: CameraConfig, spec: RenderSpec) -> tuple[int, int]:
    w, h = spec.width, spec.height
    if w is None and h is None:
        return camera.width, camera.height
    if w is None:
        w = round(h * camera.width / camera.height)
    if h is None:
        h = round(w * camera.height / camera.width)
    if w <= 0 or h <= 0:
        raise ValueError(f"render size must be positive, got {w}x{h}")
    return int(w), int(h)


def _line_mask(coord: FloatArray, pitch: float, half_width: float, footprint: FloatArray):
    """Soft 0..1 mask of grid lines every ``pitch`` m along ``coord``, box-filtered over the
    pixel footprint so distant lines fade to their average instead of aliasing."""
    d = np.abs((coord / pitch + 0.5) % 1.0 - 0.5) * pitch  # distance to the nearest line
    fp = np.maximum(footprint, 1e-6)
    cover = np.clip((half_width + 0.5 * fp - d) / fp, 0.0, 1.0)
    # beyond ~ pitch / 2 per pixel the pattern averages out to its area share
    share = min(1.0, 2.0 * half_width / pitch)
    blend = np.clip((fp - 0.25 * pitch) / (0.25 * pitch), 0.0, 1.0)
    return cover * (1.0 - blend) + share * blend


def _grid_hash(ix: NDArray[np.int64], iy: NDArray[np.int64], salt: int) -> FloatArray:
    """Stable per-cell pseudo-random values in [0, 1) for integer grid cells."""
    h = (ix * 73856093) ^ (iy * 19349663) ^ (salt * 83492791)
    h = (h ^ (h >> 13)) * 1274126177
    return ((h ^ (h >> 16)) & 0xFFFF).astype(np.float64) / 65536.0


# =========================================================================== static scene
@dataclass
class _Box:
    """An axis-aligned box in a shelf's local frame and what it is made of."""

    lo: FloatArray
    hi: FloatArray
    material: str  # frame | back | board | product
    lane: int = -1  # index into the scene's lane table (products)


@dataclass
class _LaneLook:
    x0: float
    x1: float
    z0: float  # board top
    height: float  # item height
    columns: int
    colour: FloatArray  # BGR
    label: FloatArray  # BGR
    lane_id: str


@dataclass
class _StaticScene:
    colour: U8Image  # (H, W, 3) BGR, vignetting and white balance applied
    depth: NDArray[np.float32]  # (H, W) metres along the optical axis; inf = nothing
    floor: NDArray[np.uint8]  # (H, W) 255 where the floor is what the pixel sees
    vignette: NDArray[np.float32]  # (H, W, 3) lens gain: vignetting x white balance
    floor3: NDArray[np.uint8]  # the floor mask, 3 channels
    kind: NDArray[np.int32]  # (H, W) what each pixel's ray hit (``_Hits.kind``)
    lane_boxes: dict[str, int]  # lane id -> ``kind`` of its product box
    ph: FloatArray  # floor-pattern phases (to re-shade parts of the scene)


def _item_size(sku: str, unit_weight_g: float) -> tuple[float, float]:
    """Height and width (m) of one packaged item, from its weight (same on shelves and in
    hands)."""
    size = min(1.0, (unit_weight_g / 1000.0) ** (1.0 / 3.0))
    item_h = 0.09 + 0.17 * size + 0.05 * _hash01("h", sku)
    item_w = 0.055 + 0.05 * size + 0.03 * _hash01("w", sku)
    return item_h, item_w


def _shelf_boxes(cfg: StoreConfig, shelf: Shelf, lanes: list[_LaneLook],
                 fill: Mapping[str, float] | None = None) -> list[_Box]:
    """Break a shelving unit into boxes (shelf-local frame); appends product looks to lanes.

    ``fill``: share (0-1) of a lane's depth its items take up, from the back (items are taken
    from the front); lanes not listed are full, an empty lane has no product box."""
    hw, hd, h = 0.5 * shelf.width, 0.5 * shelf.depth, shelf.height
    post, panel, board, cap = 0.03, 0.02, 0.025, 0.03
    boxes = [
        _Box(np.array([-hw, -hd, 0.0]), np.array([-hw + post, hd, h]), "frame"),
        _Box(np.array([hw - post, -hd, 0.0]), np.array([hw, hd, h]), "frame"),
        _Box(np.array([-hw, -hd, 0.0]), np.array([hw, -hd + panel, h]), "back"),
        _Box(np.array([-hw, -hd, h - cap]), np.array([hw, hd, h]), "frame"),
    ]
    levels = sorted(shelf.levels, key=lambda lv: lv.z)
    if levels and levels[0].z - board > 0.01:
        boxes.append(_Box(np.array([-hw, -hd, 0.0]), np.array([hw, hd - 0.01, levels[0].z - board]),
                          "frame"))
    for level in levels:
        boxes.append(_Box(np.array([-hw, -hd, level.z - board]), np.array([hw, hd, level.z]),
                          "board"))
        for lane in level.lanes:
            lo, hi = lane.box_local
            product = cfg.product_in_lane(lane.id)
            if product is None:
                continue
            item_h, item_w = _item_size(product.sku, product.unit_weight_g)
            item_h = min(item_h, 0.9 * (hi[2] - lo[2]))
            x0, x1 = float(lo[0]) + 0.005, float(hi[0]) - 0.005
            columns = max(1, round((x1 - x0) / item_w))
            lanes.append(
                _LaneLook(
                    x0=x0, x1=x1, z0=float(level.z), height=item_h, columns=columns,
                    colour=np.array(sku_colour(product.sku), float),
                    label=np.array(_label_colour(product.sku), float), lane_id=lane.id,
                )
            )
            back, front = -hd + panel + 0.01, hd - 0.03
            share = 1.0 if fill is None else fill.get(lane.id, 1.0)
            if share <= 0.0:
                continue
            if share < 1.0:
                front = back + share * (front - back)
            boxes.append(
                _Box(np.array([x0, back, level.z]),
                     np.array([x1, front, level.z + item_h]), "product", len(lanes) - 1)
            )
    return boxes


def _mul3(v: FloatArray, M: FloatArray) -> FloatArray:
    """``v @ M`` for many rows ``(N, 3)`` and a 3x3 ``M`` (numpy's matmul is slow for this)."""
    out = np.empty((v.shape[0], 3))
    for k in range(3):
        out[:, k] = v[:, 0] * M[0, k] + v[:, 1] * M[1, k] + v[:, 2] * M[2, k]
    return out


def _slab(o: FloatArray, inv: FloatArray, lo: FloatArray, hi: FloatArray):
    """Vectorised ray/box slab test for rays ``o + s d`` given ``inv = 1 / d`` as ``(3, N)``
    columns: entry distance (inf = miss) and the per-axis entry distances (for the face)."""
    near = []
    far = []
    with np.errstate(invalid="ignore"):
        for a in range(3):
            t1 = (lo[a] - o[a]) * inv[a]
            t2 = (hi[a] - o[a]) * inv[a]
            near.append(np.fmin(t1, t2))
            far.append(np.fmax(t1, t2))
    tmin = np.maximum(np.maximum(near[0], near[1]), near[2])
    tmax = np.minimum(np.minimum(far[0], far[1]), far[2])
    hit = (tmax >= tmin) & (tmin > 1e-6)
    return np.where(hit, tmin, np.inf), near


def _door_spans(cfg: StoreConfig, a: FloatArray, b: FloatArray) -> list[tuple[float, float]]:
    """Spans (m along the wall a->b) of entry/exit zones that touch this wall: doors."""
    e = b - a
    length = float(np.hypot(*e))
    ed = e / length
    nrm = np.array([-ed[1], ed[0]])
    spans = []
    for zone in cfg.zones:
        if zone.kind not in ("entry", "exit"):
            continue
        poly = np.asarray(zone.polygon, dtype=np.float64)
        dist = np.abs((poly - a) @ nrm)
        near = poly[dist < 0.05]
        if len(near) >= 2:
            u = (near - a) @ ed
            spans.append((float(u.min()), float(u.max())))
    return spans


def _seg_distance(p: FloatArray, poly: FloatArray) -> FloatArray:
    """Distance (N,) from points (N, 2) to the outline of a polygon (M, 2)."""
    best = np.full(p.shape[0], np.inf)
    for i in range(len(poly)):
        a, b = poly[i], poly[(i + 1) % len(poly)]
        e = b - a
        tt = np.clip(((p - a) @ e) / max(float(e @ e), 1e-12), 0.0, 1.0)
        best = np.minimum(best, np.hypot(*(p - a - tt[:, None] * e).T))
    return best


class _Hits:
    """Per-pixel ray-cast results (flattened image)."""

    def __init__(self, n: int) -> None:
        self.s = np.full(n, np.inf)  # ray parameter (unit directions: metres from the camera)
        self.kind = np.zeros(n, np.int32)  # 0 none, 1 floor, 2 wall, 3 ceiling, 10 + k box k
        self.normal = np.zeros((n, 3))  # store frame
        self.nloc = np.zeros((n, 3))  # box hits: normal in the shelf frame
        self.local = np.zeros((n, 3))  # box hits: point in the shelf frame
        self.wall = np.zeros(n, np.int32)  # wall index
        self.wall_u = np.zeros(n)  # m along the wall


def _cast_room(cfg: StoreConfig, origin: FloatArray, dirs: FloatArray, hits: _Hits, *,
               wall_h: float) -> None:
    floor_poly = np.asarray(cfg.floor, dtype=np.float64)
    dz = dirs[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        s_floor = np.where(dz < -1e-9, -origin[2] / dz, np.inf)
        s_ceil = np.where(dz > 1e-9, (wall_h - origin[2]) / dz, np.inf)
    for s_new, kind, nrm in ((s_floor, 1, (0.0, 0.0, 1.0)), (s_ceil, 3, (0.0, 0.0, -1.0))):
        better = s_new < hits.s
        hits.s[better], hits.kind[better], hits.normal[better] = s_new[better], kind, nrm
    centroid = floor_poly.mean(axis=0)
    for i in range(len(floor_poly)):
        a, b = floor_poly[i], floor_poly[(i + 1) % len(floor_poly)]
        e = b - a
        length = float(np.hypot(*e))
        if length < 1e-9:
            continue
        nrm = np.array([-e[1], e[0]]) / length
        if np.dot(centroid - a, nrm) < 0:
            nrm = -nrm
        denom = dirs[:, :2] @ nrm
        with np.errstate(divide="ignore", invalid="ignore"):
            s = ((a - origin[:2]) @ nrm) / denom
            p = origin[None, :] + s[:, None] * dirs
        u = (p[:, :2] - a) @ (e / length)
        ok = (denom < -1e-9) & (s > 0) & (u >= -0.01) & (u <= length + 0.01)
        ok &= (p[:, 2] >= -0.01) & (p[:, 2] <= wall_h + 0.01) & (s < hits.s)
        hits.s[ok], hits.kind[ok], hits.wall[ok], hits.wall_u[ok] = s[ok], 2, i, u[ok]
        hits.normal[ok] = (nrm[0], nrm[1], 0.0)


def _cast_shelves(cfg: StoreConfig, origin: FloatArray, dirs: FloatArray, hits: _Hits, *,
                  boxes_all: list[tuple[Shelf, _Box]], lanes: list[_LaneLook],
                  fill: Mapping[str, float] | None = None) -> None:
    for shelf in cfg.shelves:
        base = len(boxes_all)
        boxes = _shelf_boxes(cfg, shelf, lanes, fill)
        boxes_all.extend((shelf, b) for b in boxes)
        R = shelf.pose.rotation()
        o_l = shelf.to_local(origin)[0]
        hw, hd = 0.5 * shelf.width, 0.5 * shelf.depth
        d_all = _mul3(dirs, R)  # rows R^T d: directions in the shelf frame
        with np.errstate(divide="ignore"):
            inv_all = np.ascontiguousarray((1.0 / d_all).T)
        s_bb, _ = _slab(o_l, inv_all, np.array([-hw, -hd, 0.0]),
                        np.array([hw, hd, shelf.height]))
        idx = np.nonzero(s_bb < hits.s)[0]
        if idx.size == 0:
            continue
        inv = np.ascontiguousarray(inv_all[:, idx])
        s_sub = hits.s[idx]
        box_sub = np.full(idx.size, -1, np.int64)
        ax_sub = np.zeros(idx.size, np.int64)
        for j, box in enumerate(boxes):
            s_box, near = _slab(o_l, inv, box.lo, box.hi)
            ok = s_box < s_sub
            if not np.any(ok):
                continue
            s_ok = s_box[ok]
            s_sub[ok] = s_ok
            box_sub[ok] = j
            ax_sub[ok] = np.where(near[0][ok] == s_ok, 0, np.where(near[1][ok] == s_ok, 1, 2))
        won = box_sub >= 0
        if not np.any(won):
            continue
        sel, s_won, ax = idx[won], s_sub[won], ax_sub[won]
        dl = d_all[sel]
        n_loc = np.zeros((sel.size, 3))
        n_loc[np.arange(sel.size), ax] = -np.sign(dl[np.arange(sel.size), ax])
        hits.s[sel] = s_won
        hits.kind[sel] = 10 + base + box_sub[won]
        hits.nloc[sel] = n_loc
        hits.normal[sel] = _mul3(n_loc, R.T)
        hits.local[sel] = o_l + s_won[:, None] * dl


def _shade_room(cfg: StoreConfig, hits: _Hits, world: FloatArray, footprint: FloatArray, *,
                col: FloatArray, ph: FloatArray) -> None:
    """Floor tiles, entry/exit mats, walls with doors and baseboard, ceiling with lights."""
    fl = np.nonzero(hits.kind == 1)[0]
    if fl.size:
        x, y, fp = world[fl, 0], world[fl, 1], footprint[fl]
        tile = 0.6
        ix, iy = np.floor(x / tile).astype(np.int64), np.floor(y / tile).astype(np.int64)
        albedo = 0.93 + 0.09 * _grid_hash(ix, iy, 1)
        albedo *= 1.0 + 0.025 * np.sin(1.7 * x + ph[0]) * np.sin(1.3 * y + ph[1])
        albedo *= 1.0 + 0.02 * np.sin(5.1 * x + 3.7 * y + ph[2])
        c = np.array([172.0, 177.0, 181.0])[None, :] * albedo[:, None]
        grout = np.maximum(_line_mask(x, tile, 0.004, fp), _line_mask(y, tile, 0.004, fp))
        c = c * (1 - grout[:, None]) + np.array([118.0, 120.0, 124.0]) * grout[:, None]
        for zone in cfg.zones:
            if zone.kind not in ("entry", "exit"):
                continue
            inside = zone.contains(np.column_stack([x, y]))
            if not np.any(inside):
                continue
            pin = np.column_stack([x[inside], y[inside]])
            edge = _seg_distance(pin, np.asarray(zone.polygon, dtype=np.float64))
            tape = np.array([70.0, 150.0, 60.0] if zone.kind == "entry" else [60.0, 60.0, 170.0])
            mat = np.array([62.0, 64.0, 66.0]) * (0.95 + 0.1 * _grid_hash(
                np.floor(pin[:, 0] / 0.05).astype(np.int64),
                np.floor(pin[:, 1] / 0.05).astype(np.int64), 3))[:, None]
            band = np.clip((0.07 - edge) / np.maximum(fp[inside], 1e-3) + 0.5, 0, 1)[:, None]
            c[inside] = mat * (1 - band) + tape * band
        col[fl] = c
    wl = np.nonzero(hits.kind == 2)[0]
    if wl.size:
        z, u, fp = world[wl, 2], hits.wall_u[wl], footprint[wl]
        c = np.tile(np.array([196.0, 202.0, 206.0]), (wl.size, 1))
        c *= (1.0 - 0.06 * np.clip(z / 3.0, 0, 1))[:, None]
        floor_poly = np.asarray(cfg.floor, dtype=np.float64)
        for i in range(len(floor_poly)):
            a, b = floor_poly[i], floor_poly[(i + 1) % len(floor_poly)]
            on = hits.wall[wl] == i
            for u0, u1 in _door_spans(cfg, a, b):
                door = on & (u >= u0) & (u <= u1) & (z <= 2.15)
                frame_ = door & ((u < u0 + 0.06) | (u > u1 - 0.06) | (z > 2.09)
                                 | (np.abs(u - 0.5 * (u0 + u1)) < 0.025))
                glass = door & ~frame_
                c[glass] = np.array([112.0, 100.0, 88.0]) * (0.85 + 0.15 * z[glass] / 2.1)[:, None]
                c[frame_] = (70.0, 72.0, 75.0)
        base = z < 0.1
        c[base] = (95.0, 96.0, 100.0)
        col[wl] = c
    ce = np.nonzero(hits.kind == 3)[0]
    if ce.size:
        x, y = world[ce, 0], world[ce, 1]
        c = np.tile(np.array([186.0, 188.0, 190.0]), (ce.size, 1))
        lx = np.abs((x - 1.0) / 2.0 - np.round((x - 1.0) / 2.0)) * 2.0
        ly = np.abs((y - 1.0) / 2.0 - np.round((y - 1.0) / 2.0)) * 2.0
        lamp = (lx < 0.3) & (ly < 0.6)
        c[lamp] = (250.0, 250.0, 248.0)
        col[ce] = c


def _shade_boxes(hits: _Hits, footprint: FloatArray, col: FloatArray,
                 boxes_all: list[tuple[Shelf, _Box]], lanes: list[_LaneLook]) -> None:
    """Shelving (frame, back panel, boards with price strips) and the products in the lanes."""
    bx = np.nonzero(hits.kind >= 10)[0]
    if bx.size == 0:
        return
    box_of = hits.kind[bx] - 10
    for k in np.unique(box_of):
        shelf, box = boxes_all[int(k)]
        sel = bx[box_of == k]
        p, nl, fp = hits.local[sel], hits.nloc[sel], footprint[sel]
        hd = 0.5 * shelf.depth
        inner = np.clip((hd - p[:, 1]) / (2 * hd), 0.0, 1.0)  # 0 at the front, 1 at the back
        front = nl[:, 1] > 0.5
        top = nl[:, 2] > 0.5
        if box.material == "frame":
            c = np.tile(np.array([178.0, 180.0, 178.0]), (sel.size, 1))
        elif box.material == "back":
            c = np.tile(np.array([150.0, 154.0, 152.0]), (sel.size, 1))
            holes = _line_mask(p[:, 0], 0.025, 0.003, fp) * _line_mask(p[:, 2], 0.025, 0.003, fp)
            c *= (1 - 0.5 * holes)[:, None]
        elif box.material == "board":
            c = np.tile(np.array([186.0, 188.0, 186.0]), (sel.size, 1))
            c[front] = (232.0, 234.0, 232.0)
            for lane in lanes:
                if lane.z0 != box.hi[2]:
                    continue
                mid = 0.5 * (lane.x0 + lane.x1)
                tag = front & (np.abs(p[:, 0] - mid) < 0.035)
                c[tag] = (70.0, 205.0, 235.0)
                digits = tag & (_line_mask(p[:, 0] - mid, 0.012, 0.002, fp) > 0.5)
                digits &= np.abs(p[:, 2] - (box.hi[2] - 0.0125)) < 0.005
                c[digits] = (40.0, 40.0, 40.0)
        else:  # product
            lane = lanes[box.lane]
            base, label = lane.colour, lane.label
            width = lane.x1 - lane.x0
            cx = (p[:, 0] - lane.x0) / width * lane.columns
            column = np.clip(np.floor(cx), 0, lane.columns - 1).astype(np.int64)
            fx = cx - np.floor(cx)
            fz = np.clip((p[:, 2] - lane.z0) / lane.height, 0.0, 1.0)
            jitter = 0.9 + 0.14 * _grid_hash(column, np.full_like(column, box.lane), 5)
            c = base[None, :] * jitter[:, None]
            band = (fz > 0.35) & (fz < 0.68)
            c[band] = label[None, :] * jitter[band, None]
            logo = band & (np.abs(fx - 0.5) < 0.16) & (np.abs(fz - 0.52) < 0.08)
            c[logo] = 0.5 * base + 0.5 * np.array([250.0, 250.0, 250.0])
            cap = fz > 0.9
            c[cap] *= 0.72
            item_w = width / lane.columns
            gap = _line_mask(fx * item_w, item_w, 0.004, fp)
            c *= (1.0 - 0.55 * gap)[:, None]
            rows = _line_mask(p[:, 1], 0.08, 0.004, fp)
            c[top] *= (0.78 * (1.0 - 0.4 * rows[top]))[:, None]
            side = ~front & ~top
            c[side] *= 0.75
        ao = 1.0 - 0.45 * inner * (~front)
        col[sel] = c * ao[:, None]


@dataclass
class _Cast:
    """Ray-cast, shaded and lit pixels (flattened, before the lens)."""

    col: FloatArray  # (N, 3) BGR, surface grain included
    depth: NDArray[np.float32]  # (N,) metres along the optical axis; inf = nothing
    kind: NDArray[np.int32]  # (N,) what the ray hit (see ``_Hits.kind``)


def _cast_pixels(cfg: StoreConfig, model: CameraModel, uu: FloatArray, vv: FloatArray, *,
                 ph: FloatArray, grain: FloatArray, fill: Mapping[str, float] | None = None,
                 lane_boxes: dict[str, int] | None = None) -> _Cast:
    """Ray cast and shade the pixels ``(uu, vv)`` (flat arrays) of the store with its lanes
    filled to ``fill`` (see ``_shelf_boxes``). Every pixel is computed on its own, so a block
    of pixels comes out exactly as it does in the whole image. ``lane_boxes``, if given, gets
    each lane's product box as its ``kind`` value."""
    origin, dirs = model.ray(np.column_stack([uu, vv]))
    valid = np.all(np.isfinite(dirs), axis=1)
    dirs = np.where(valid[:, None], dirs, np.array([0.0, 0.0, 1.0]))
    hits = _Hits(dirs.shape[0])
    cam_top = max(float(c.model.center[2]) for c in cfg.cameras) if cfg.cameras else 2.8
    wall_h = max(_WALL_HEIGHT_MIN, cam_top + 0.15)
    _cast_room(cfg, origin, dirs, hits, wall_h=wall_h)
    boxes_all: list[tuple[Shelf, _Box]] = []
    lanes: list[_LaneLook] = []
    _cast_shelves(cfg, origin, dirs, hits, boxes_all=boxes_all, lanes=lanes, fill=fill)
    if lane_boxes is not None:
        for k, (_, box) in enumerate(boxes_all):
            if box.material == "product":
                lane_boxes[lanes[box.lane].lane_id] = 10 + k

    finite = np.isfinite(hits.s)
    s = np.where(finite, hits.s, 0.0)
    world = origin[None, :] + s[:, None] * dirs
    f = 0.5 * (model.fx + model.fy)
    cos_inc = np.abs(np.sum(hits.normal * dirs, axis=1))
    footprint = s / f / np.maximum(cos_inc, 0.15)
    col = np.zeros((dirs.shape[0], 3))
    _shade_room(cfg, hits, world, footprint, col=col, ph=ph)
    _shade_boxes(hits, footprint, col, boxes_all, lanes)

    # light: ceiling lamps every 2 m (pools on the floor), a key light from above, ambient
    lam = 0.66 + 0.34 * np.clip(hits.normal @ _LIGHT_DIR, 0.0, 1.0)
    x0, y0 = np.asarray(cfg.floor).min(axis=0)
    x1, y1 = np.asarray(cfg.floor).max(axis=0)
    pools = np.zeros(dirs.shape[0])
    for lx in np.arange(x0 + 1.0, x1, 2.0):
        for ly in np.arange(y0 + 1.0, y1, 2.0):
            pools += np.exp(-((world[:, 0] - lx) ** 2 + (world[:, 1] - ly) ** 2) / 3.0)
    light = lam * (0.84 + 0.16 * np.clip(pools, 0.0, 1.6))
    light[hits.kind == 3] = 1.0
    col *= light[:, None]
    col += grain  # surface grain
    col[~valid | ~finite] = 20.0
    depth = np.where(valid & finite, s * (dirs @ model.forward), np.inf).astype(np.float32)
    return _Cast(col=col, depth=depth, kind=hits.kind)


def _static_random(seed: int, cam_index: int, n: int) -> tuple[FloatArray, FloatArray]:
    """Floor-pattern phases and the ``(n, 3)`` surface grain of a camera's static scene."""
    rng = np.random.default_rng([abs(int(seed)), cam_index, 3])
    ph = rng.uniform(0, 2 * np.pi, 4)
    return ph, rng.normal(0.0, 2.0, (n, 3))


def _optical_sigma(width: int) -> float:
    """Sigma (px) of the lens's mild optical blur at an image ``width``."""
    return 0.5 * max(width / 640.0, 0.6)


def _build_static(cfg: StoreConfig, model: CameraModel, seed: int, cam_index: int) -> _StaticScene:
    """Ray cast the empty store through ``model``: colour, depth, floor mask, vignette."""
    W, H = model.width, model.height
    uu, vv = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    ph, grain = _static_random(seed, cam_index, W * H)
    lane_boxes: dict[str, int] = {}
    cast = _cast_pixels(cfg, model, uu.ravel(), vv.ravel(), ph=ph, grain=grain,
                        lane_boxes=lane_boxes)

    # lens: vignetting and per-camera white balance (people get the same), mild optical blur
    rr = ((uu - model.cx) / model.fx) ** 2 + ((vv - model.cy) / model.fy) ** 2
    r_corner = max(
        ((x - model.cx) / model.fx) ** 2 + ((y - model.cy) / model.fy) ** 2
        for x in (0, W - 1)
        for y in (0, H - 1)
    )
    vig = 1.0 - 0.22 * np.clip(rr / r_corner, 0.0, 1.0) ** 1.2
    tint = 1.0 + np.random.default_rng([abs(int(seed)), cam_index, 7]).normal(0.0, 0.025, 3)
    gain = (vig[..., None] * tint[None, None, :]).astype(np.float32)
    img = np.clip(cast.col.reshape(H, W, 3) * gain + 0.5, 0, 255).astype(np.uint8)
    img = cv2.GaussianBlur(img, (0, 0), _optical_sigma(W))
    kind = cast.kind.reshape(H, W)
    floor = np.where(kind == 1, 255, 0).astype(np.uint8)
    return _StaticScene(colour=img, depth=cast.depth.reshape(H, W), floor=floor, vignette=gain,
                        floor3=cv2.merge([floor] * 3), kind=kind, lane_boxes=lane_boxes, ph=ph)


# =========================================================================== people
@dataclass
class _Geometry:
    """Projected body primitives of a list of people, for one camera."""

    people: list[PersonState]
    pts: FloatArray  # (P, N_PTS, 3) world points
    uv: FloatArray  # (P, N_PTS, 2)
    depth: FloatArray  # (P, N_PTS)
    scale: FloatArray  # (P,) body height / 1.75
    width: FloatArray  # (P,) build factor
    colours: FloatArray  # (P, 6, 3) BGR
    drawn: NDArray[np.bool_]  # (P,) anything of the person may be in the image
    # torso front surface d = a u + b v + c per person (filled by _torso_cmds; NaN = none),
    # and the depth range it is clamped to
    torso_plane: FloatArray | None = None  # (P, 3)
    torso_range: FloatArray | None = None  # (P, 2)
    items: _Items | None = None  # held items, None when nobody holds anything


@dataclass
class _Items:
    """Held items of a list of people as boxes at the hands, projected for one camera.

    Corners 0-3 are the bottom face, 4-7 the top face (both in order around the face)."""

    owner: NDArray[np.int64]  # (n,) person index in the geometry
    uv: FloatArray  # (n, 8, 2)
    depth: FloatArray  # (n, 8)
    centre: FloatArray  # (n,) depth of the box centre (painter's order)
    front: FloatArray  # (n,) depth of the front surface (layer)
    side: FloatArray  # (n, 3) BGR of the sides
    top: FloatArray  # (n, 3) BGR of the top
    show_top: NDArray[np.bool_]  # (n,) the top face is towards the camera
    # OpenCV arguments, prepared once: fixed-point corners, colours, layer (depth, part id)
    fixed: NDArray[np.int32] = field(init=False)
    side_bgr: list[list[float]] = field(init=False)
    top_bgr: list[list[float]] = field(init=False)
    layer_value: list[tuple[float, float]] = field(init=False)

    def __post_init__(self) -> None:
        self.fixed = np.round(np.clip(self.uv, -1e5, 1e5) * _ONE).astype(np.int32)
        self.side_bgr = self.side.tolist()
        self.top_bgr = self.top.tolist()
        pid = (self.owner * _PARTS_PER_PERSON + _ITEM_PART + 1).tolist()
        self.layer_value = list(zip(self.front.tolist(), map(float, pid), strict=True))


def _body_points(joints: FloatArray, heading: FloatArray, s: FloatArray,
                 wb: FloatArray) -> FloatArray:
    """(P, 17, 3) COCO joints -> (P, N_PTS, 3): joints plus the points the primitives need."""
    P = joints.shape[0]
    J = joints
    pts = np.empty((P, _N_ALL, 3))
    pts[:, :_N_KP] = J
    up = np.array([0.0, 0.0, 1.0])
    s1 = s[:, None]
    fwd = np.column_stack([np.cos(heading), np.sin(heading), np.zeros(P)])
    sm = 0.5 * (J[:, 5] + J[:, 6])
    hm = 0.5 * (J[:, 11] + J[:, 12])
    head = 0.5 * (J[:, 3] + J[:, 4])
    pts[:, _HEAD] = head
    pts[:, _HAIR_C] = head + up * (0.028 * s1) - fwd * (0.02 * s1)
    pts[:, _NECK] = sm + up * (0.02 * s1)
    for wrist, elbow, idx in ((9, 7, _HAND_L), (10, 8, _HAND_R)):
        d = J[:, wrist] - J[:, elbow]
        d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-6)
        pts[:, idx] = J[:, wrist] + d * (0.075 * s1)
    for ankle, idx in ((15, _TOE_L), (16, _TOE_R)):
        toe = J[:, ankle] + fwd * (0.14 * s1)
        toe[:, 2] = np.maximum(0.5 * J[:, ankle, 2], 0.03 * s)
        pts[:, idx] = toe
    axis = sm - hm
    length = np.maximum(np.linalg.norm(axis, axis=1, keepdims=True), 1e-6)
    a = axis / length
    lat = J[:, 5] - J[:, 6]
    lat -= np.sum(lat * a, axis=1, keepdims=True) * a
    lat_n = np.linalg.norm(lat, axis=1, keepdims=True)
    left = np.column_stack([-np.sin(heading), np.cos(heading), np.zeros(P)])
    lat = np.where(lat_n > 1e-6, lat / np.maximum(lat_n, 1e-9), left)
    fw = np.cross(lat, a)
    sh_half = 0.5 * np.linalg.norm(J[:, 5] - J[:, 6], axis=1)
    hip_half = 0.5 * np.linalg.norm(J[:, 11] - J[:, 12], axis=1)
    centres = (sm + a * (0.02 * s1), hm + a * (0.62 * length), hm - a * (0.03 * s1))
    half_w = (0.92 * sh_half, 0.85 * sh_half, hip_half + 0.055 * wb * s)
    half_d = (0.085 * wb * s, 0.11 * wb * s, 0.10 * wb * s)
    theta = np.linspace(0.0, 2.0 * np.pi, _RING_N, endpoint=False)
    cos_t, sin_t = np.cos(theta)[None, :, None], np.sin(theta)[None, :, None]
    for r in range(_RINGS):
        ring = (centres[r][:, None, :] + half_w[r][:, None, None] * cos_t * lat[:, None, :]
                + half_d[r][:, None, None] * sin_t * fw[:, None, :])
        pts[:, _RING0 + r * _RING_N:_RING0 + (r + 1) * _RING_N] = ring
    # contact shadow: nested ellipses on the floor around the body's floor position
    centre = 0.25 * (J[:, 15] + J[:, 16] + J[:, 11] + J[:, 12])
    phi = np.linspace(0.0, 2.0 * np.pi, _SHADOW_N, endpoint=False)
    radii = np.repeat(np.array(_SHADOW_R), _SHADOW_N)[None, :] * s1
    shadow = pts[:, _SHADOW0:]
    shadow[..., 0] = centre[:, 0:1] + radii * np.tile(np.cos(phi), len(_SHADOW_R))[None, :]
    shadow[..., 1] = centre[:, 1:2] + radii * np.tile(np.sin(phi), len(_SHADOW_R))[None, :]
    shadow[..., 2] = 0.002
    return pts


def _person_colours(person: PersonState) -> FloatArray:
    body = person.body
    shirt, pants = _rgb_to_bgr(body.shirt), _rgb_to_bgr(body.pants)
    skin, hair = _rgb_to_bgr(body.skin), _rgb_to_bgr(body.hair)
    h = _hash01("shoes", person.shopper)
    shoes = (230.0, 230.0, 232.0) if h < 0.25 else (38.0 + 40 * h, 38.0 + 30 * h, 42.0 + 20 * h)
    sleeve = shirt if _hash01("sleeve", person.shopper) < 0.35 else skin
    return np.array([shirt, pants, skin, hair, shoes, sleeve])


# Person part ids in the layer: 0..13 capsules, 14 torso, 15 head, 16 held items (+1, and 32
# per person).
_TORSO_PART, _HEAD_PART, _ITEM_PART, _PARTS_PER_PERSON = 14, 15, 16, 32
_MAX_HELD = 3  # items drawn per hand (a handful; the rest are behind them)
_ITEM_BIAS = -0.03  # m: drawn after the hand holding it


@dataclass(frozen=True)
class _LaneRegion:
    """Image rectangles ``(x0, y0, x1, y1)`` a lane's contents affect: ``paste`` (the lane's
    pixels grown by the reach of the optical blur) inside ``cast`` (grown again, so the blur in
    ``paste`` is exact), and the lanes with pixels inside ``cast``."""

    paste: tuple[int, int, int, int]
    cast: tuple[int, int, int, int]
    near: tuple[str, ...]


@dataclass(frozen=True)
class _Patch:
    """The static scene inside a ``_LaneRegion.paste`` rectangle for some lane fills."""

    colour: U8Image
    depth: NDArray[np.float32]
    floor3: NDArray[np.uint8]


_PATCH_CACHE = 128  # patches kept per camera


class CameraRenderer:
    """Renders what one configured ceiling camera sees (see the module docstring).

    Args:
        cfg: the store configuration (shelves, products, floor, zones).
        camera: one of ``cfg.cameras``.
        spec: render options (size override, noise, exposure drift, motion blur).
        seed: run seed; the image is a pure function of (seed, camera, t, people).
    """

    def __init__(self, cfg: StoreConfig, camera: CameraConfig, spec: RenderSpec | None = None,
                 seed: int = 0) -> None:
        self.cfg = cfg
        self.camera = camera
        self.spec = spec if spec is not None else RenderSpec()
        self.seed = int(seed)
        ids = [c.id for c in cfg.cameras]
        self.camera_index = ids.index(camera.id) if camera.id in ids else (
            zlib.crc32(camera.id.encode()) & 0xFFFF)
        self.width, self.height = _render_size(camera, self.spec)
        self.model = _scaled_model(camera, self.width, self.height)
        self.fps = float(self.spec.fps or camera.fps)
        #: shutter time (s): pass ``world.people_at(t - exposure)`` as ``shutter`` for blur
        self.exposure = 0.5 / self.fps
        self._f = 0.5 * (self.model.fx + self.model.fy)
        self._static = _build_static(cfg, self.model, self.seed, self.camera_index)
        self._static_depth_tol = self._static.depth + np.float32(_RESTORE_TOL)
        # the scene as drawn now: the static scene with the lanes emptied to the stock of the
        # last render (copied from the static scene on the first change, see ``_set_stock``)
        self._scene_colour = self._static.colour
        self._scene_depth = self._static.depth
        self._scene_tol = self._static_depth_tol
        self._scene_floor3 = self._static.floor3
        self._facings = {lane: cfg.planogram[lane].facings for lane in self._static.lane_boxes
                         if lane in cfg.planogram and cfg.planogram[lane].facings > 0}
        self._levels: dict[str, int] = {}  # lanes drawn with fewer items than their facings
        self._regions: dict[str, _LaneRegion | None] | None = None
        self._patches: OrderedDict[tuple, _Patch] = OrderedDict()
        self._grain: FloatArray | None = None
        self._item_looks: dict[str, tuple[FloatArray, FloatArray]] = {}
        H, W = self.height, self.width
        self._layer = _Layer(H, W)  # of the last render
        self._scratch = _Layer(H, W)
        self._noise: list[tuple[U8Image, U8Image]] | None = None
        rng = np.random.default_rng([abs(self.seed), self.camera_index, 11])
        self._drift_period = rng.uniform(20.0, 90.0, 3)
        self._drift_phase = rng.uniform(0.0, 2.0 * np.pi, 3)
        self._drift_amp = rng.uniform(0.3, 1.0, 3)
        self._drift_amp /= self._drift_amp.sum()
        self._last: _Geometry | None = None
        self._colour_cache: dict[tuple[str, BodySpec], FloatArray] = {}
        self._last_key: tuple | None = None

    # ------------------------------------------------------------------ public API
    @property
    def static_colour(self) -> U8Image:
        """The empty store as this camera sees it (before noise and exposure), read-only."""
        out = self._static.colour.view()
        out.flags.writeable = False
        return out

    @property
    def static_depth(self) -> NDArray[np.float32]:
        """Depth (m along the optical axis) of the empty store per pixel, read-only."""
        out = self._static.depth.view()
        out.flags.writeable = False
        return out

    def gain(self, t: float) -> float:
        """The slowly drifting exposure gain at time ``t`` (without per-frame flicker)."""
        phase = 2.0 * np.pi * t / self._drift_period + self._drift_phase
        drift = float(np.sum(self._drift_amp * np.sin(phase)))
        return 1.0 + 0.5 * self.spec.exposure_jitter * drift

    def render(self, people: Sequence[PersonState], t: float,
               shutter: Sequence[PersonState] | None = None,
               stock: Mapping[str, int] | None = None) -> U8Image:
        """The camera image ``(H, W, 3)`` uint8 BGR at sim time ``t``.

        ``shutter``: the same people at the shutter opening (``t - self.exposure``); with
        ``spec.motion_blur`` the frame averages the poses at ``t``, mid-exposure and the
        opening (joints interpolated per person id). Without it there is no blur. Keypoints
        always describe the pose at ``t``. People with ``in_store`` False are not drawn; what
        a person holds (``PersonState.held``) is drawn as boxes in the product's colour at
        the hand (up to ``_MAX_HELD`` per hand).

        ``stock``: items in each lane (``World.lane_stock_at``); a lane's products are drawn
        filling the share ``stock / facings`` of its depth, from the back (lanes not listed,
        and every lane when ``stock`` is None, are full). The scene is re-shaded only where a
        lane's count changed since the previous render, and those pieces are cached.
        """
        self._set_stock(stock)
        people = [p for p in people if p.in_store]
        key = _people_key(people)
        geo = self._geometry(people, key)
        frame = self._scene_colour.copy()
        self._layer.clear()
        self._draw(geo, frame, self._layer)
        if self.spec.motion_blur and shutter is not None:
            # average of the poses at the end, middle and start of the exposure
            acc = frame.astype(np.float32)
            for a in _BLUR_SAMPLES:
                other = self._scene_colour.copy()
                self._scratch.clear()
                self._draw(self._geometry(_lerp_people(people, shutter, a)), other,
                           self._scratch)
                cv2.accumulate(other, acc)
            frame = np.rint(acc * (1.0 / (1 + len(_BLUR_SAMPLES)))).astype(np.uint8)
        self._last, self._last_key = geo, key
        rng = np.random.default_rng(_frame_seed(self.seed, self.camera_index, t))
        flicker = 0.05 * self.spec.exposure_jitter * float(rng.standard_normal())
        gain = self.gain(t) * (1.0 + flicker)
        if abs(gain - 1.0) > 1e-4:
            cv2.convertScaleAbs(frame, dst=frame, alpha=gain, beta=0.0)
        if self.spec.noise_sigma > 0.0:
            bank = self._noise_bank()
            pos, neg = bank[int(rng.integers(len(bank)))]
            oy, ox = (int(v) for v in rng.integers(0, 2 * _NOISE_MARGIN + 1, 2))
            H, W = self.height, self.width
            cv2.add(frame, pos[oy:oy + H, ox:ox + W], dst=frame)
            cv2.subtract(frame, neg[oy:oy + H, ox:ox + W], dst=frame)
        return frame

    def keypoints_2d(self, people: Sequence[PersonState] | None = None) -> dict[int, FloatArray]:
        """COCO-17 keypoints ``{person: (17, 3) rows (u, v, flag)}`` in this camera's image.

        For the people of the most recent ``render`` (``people`` None or the same poses) the
        flags come from that frame's depth buffers; other people are laid out on their own
        (static scene plus themselves). ``u, v`` are ``CameraModel.project`` pixels (NaN when
        the joint is behind the camera); flag 0 = outside the image or behind the camera,
        1 = in the image but hidden by a shelf, another person or the person's own body,
        2 = visible.
        """
        if people is None:
            if self._last is None:
                return {}
            geo, layer = self._last, self._layer
        else:
            people = [p for p in people if p.in_store]
            key = _people_key(people)
            if self._last is not None and key == self._last_key:
                geo, layer = self._last, self._layer
            else:
                geo = self._geometry(people, key)
                layer = self._scratch
                layer.clear()
                self._draw(geo, None, layer)
        return self._flags(geo, layer)

    # ------------------------------------------------------------------ internals
    def _set_stock(self, stock: Mapping[str, int] | None) -> None:
        """Bring the scene buffers to the lane fills of ``stock`` (see ``render``)."""
        levels: dict[str, int] = {}
        if stock is not None:
            for lane, full in self._facings.items():
                n = stock.get(lane, full)
                if n < full:
                    levels[lane] = max(int(n), 0)
        if levels == self._levels:
            return
        changed = sorted(lane for lane in set(levels) | set(self._levels)
                         if levels.get(lane) != self._levels.get(lane))
        self._levels = levels
        if self._scene_colour is self._static.colour:  # copy on the first change
            self._scene_colour = self._static.colour.copy()
            self._scene_depth = self._static.depth.copy()
            self._scene_tol = self._static_depth_tol.copy()
            self._scene_floor3 = self._static.floor3.copy()
        regions = self._lane_regions()
        for lane in changed:
            region = regions.get(lane)
            if region is None:  # not in view
                continue
            key = (lane, tuple(self._levels.get(b, -1) for b in region.near))
            patch = self._patches.get(key)
            if patch is None:
                patch = self._patches[key] = self._lane_patch(region)
                while len(self._patches) > _PATCH_CACHE:
                    self._patches.popitem(last=False)
            else:
                self._patches.move_to_end(key)
            x0, y0, x1, y1 = region.paste
            self._scene_colour[y0:y1, x0:x1] = patch.colour
            self._scene_depth[y0:y1, x0:x1] = patch.depth
            self._scene_tol[y0:y1, x0:x1] = patch.depth + np.float32(_RESTORE_TOL)
            self._scene_floor3[y0:y1, x0:x1] = patch.floor3

    def _lane_regions(self) -> dict[str, _LaneRegion | None]:
        """Where each stocked lane's products are in the image (computed once)."""
        if self._regions is None:
            r = math.ceil(3.0 * _optical_sigma(self.width)) + 1  # the blur kernel's radius
            boxes: dict[str, tuple[int, int, int, int]] = {}
            for lane in self._facings:
                ys, xs = np.nonzero(self._static.kind == self._static.lane_boxes[lane])
                if xs.size:
                    boxes[lane] = (int(xs.min()), int(ys.min()), int(xs.max()) + 1,
                                   int(ys.max()) + 1)

            def grow(b: tuple[int, int, int, int], m: int) -> tuple[int, int, int, int]:
                return (max(b[0] - m, 0), max(b[1] - m, 0), min(b[2] + m, self.width),
                        min(b[3] + m, self.height))

            self._regions = {}
            for lane in self._facings:
                if lane not in boxes:
                    self._regions[lane] = None
                    continue
                cast = grow(boxes[lane], 2 * r + 2)
                near = tuple(sorted(
                    b for b, o in boxes.items()
                    if o[0] < cast[2] and cast[0] < o[2] and o[1] < cast[3] and cast[1] < o[3]))
                self._regions[lane] = _LaneRegion(grow(boxes[lane], r + 1), cast, near)
        return self._regions

    def _lane_patch(self, region: _LaneRegion) -> _Patch:
        """The static scene in ``region.paste`` with the lanes at the current fills: the rays
        of ``region.cast`` cast and shaded again, exactly as ``_build_static`` does."""
        px0, py0, px1, py1 = region.paste
        if all(b not in self._levels for b in region.near):
            return _Patch(self._static.colour[py0:py1, px0:px1].copy(),
                          self._static.depth[py0:py1, px0:px1].copy(),
                          self._static.floor3[py0:py1, px0:px1].copy())
        if self._grain is None:
            self._grain = _static_random(self.seed, self.camera_index,
                                         self.width * self.height)[1]
        x0, y0, x1, y1 = region.cast
        w, h = x1 - x0, y1 - y0
        vv, uu = np.mgrid[y0:y1, x0:x1]
        fill = {b: n / self._facings[b] for b, n in self._levels.items()}
        cast = _cast_pixels(self.cfg, self.model, uu.ravel().astype(np.float64),
                            vv.ravel().astype(np.float64), ph=self._static.ph,
                            grain=self._grain[(vv * self.width + uu).ravel()], fill=fill)
        img = np.clip(cast.col.reshape(h, w, 3) * self._static.vignette[y0:y1, x0:x1] + 0.5,
                      0, 255).astype(np.uint8)
        img = cv2.GaussianBlur(img, (0, 0), _optical_sigma(self.width))
        sl = (slice(py0 - y0, py1 - y0), slice(px0 - x0, px1 - x0))
        floor = np.where(cast.kind.reshape(h, w)[sl] == 1, 255, 0).astype(np.uint8)
        return _Patch(np.ascontiguousarray(img[sl]), cast.depth.reshape(h, w)[sl].copy(),
                      cv2.merge([floor] * 3))

    def _noise_bank(self) -> list[tuple[U8Image, U8Image]]:
        if self._noise is None:
            rng = np.random.default_rng([abs(self.seed), self.camera_index, 13])
            shape = (self.height + 2 * _NOISE_MARGIN, self.width + 2 * _NOISE_MARGIN, 3)
            bank = []
            for _ in range(_NOISE_BANK):
                n = np.rint(rng.standard_normal(shape, dtype=np.float32) * self.spec.noise_sigma)
                bank.append((np.clip(n, 0, 255).astype(np.uint8),
                             np.clip(-n, 0, 255).astype(np.uint8)))
            self._noise = bank
        return self._noise

    def _geometry(self, people: list[PersonState], key: tuple | None = None) -> _Geometry:
        P = len(people)
        if P == 0:
            z = np.zeros((0, _N_ALL))
            return _Geometry([], np.zeros((0, _N_ALL, 3)), np.zeros((0, _N_ALL, 2)), z,
                             np.zeros(0), np.zeros(0), np.zeros((0, 6, 3)),
                             np.zeros(0, bool))
        pts, s, wb = _people_points(people, key)
        boxes = self._held_boxes(people, pts, key) if any(p.held for p in people) else None
        flat = pts.reshape(-1, 3)
        if boxes is not None:  # one projection for bodies and held items
            flat = np.vstack([flat, boxes.corners.reshape(-1, 3), boxes.centre])
        uv_all, depth_all = self.model.project(flat)
        uv = uv_all[:P * _N_ALL].reshape(P, _N_ALL, 2)
        depth = depth_all[:P * _N_ALL].reshape(P, _N_ALL)
        with np.errstate(invalid="ignore"):
            mw, mh = 0.5 * self.width, 0.5 * self.height
            body = uv[:, :_N_PTS]
            inside = ((body[..., 0] > -mw) & (body[..., 0] < self.width + mw)
                      & (body[..., 1] > -mh) & (body[..., 1] < self.height + mh))
        drawn = np.any(inside, axis=1)
        colours = np.stack([self._colours(p) for p in people])
        geo = _Geometry(people, pts, uv, depth, s, wb, colours, drawn)
        if boxes is not None:
            geo.items = self._items(boxes, uv_all[P * _N_ALL:], depth_all[P * _N_ALL:], drawn)
        return geo

    def _held_boxes(self, people: list[PersonState], pts: FloatArray,
                    key: tuple | None) -> _HeldBoxes | None:
        """The 3-D boxes of what ``people`` hold, shared by the cameras of one store."""
        if key is None:
            return _held_boxes(people, pts, self._item_look)
        ckey = (key, id(self.cfg))
        with _POINTS_LOCK:
            found = _BOXES_CACHE.get(ckey)
            if found is not None and found[0] is self.cfg:
                _BOXES_CACHE.move_to_end(ckey)
                return found[1]
        boxes = _held_boxes(people, pts, self._item_look)
        with _POINTS_LOCK:
            _BOXES_CACHE[ckey] = (self.cfg, boxes)
            while len(_BOXES_CACHE) > 16:
                _BOXES_CACHE.popitem(last=False)
        return boxes

    def _item_look(self, sku: str) -> tuple[FloatArray, FloatArray]:
        """Size ``(w, d, h)`` (m) and BGR colour of a held item of ``sku``."""
        found = self._item_looks.get(sku)
        if found is None:
            product = self.cfg.catalog.get(sku)
            h, w = _item_size(sku, product.unit_weight_g if product is not None else 250.0)
            found = (np.array([w, 0.8 * w, min(h, 0.3)]), np.array(sku_colour(sku), float))
            self._item_looks[sku] = found
        return found

    def _items(self, boxes: _HeldBoxes, uv: FloatArray, depth: FloatArray,
               drawn: NDArray[np.bool_]) -> _Items | None:
        """Held boxes as this camera sees them: ``uv``, ``depth`` are the projections of the
        corners (``8 n`` rows) and then of the centres (``n`` rows)."""
        n = boxes.owner.size
        uv_k, d_k = uv[:8 * n].reshape(n, 8, 2), depth[:8 * n].reshape(n, 8)
        uv_c, d_c = uv[8 * n:], depth[8 * n:]
        ok = (drawn[boxes.owner] & np.all(d_k > 0.05, axis=1)
              & np.all(np.isfinite(uv_k), axis=(1, 2)) & np.isfinite(d_c))
        if not np.any(ok):
            return None
        colour = boxes.base[ok] * self._vignette_at(uv_c[ok])
        half = boxes.half[ok]
        return _Items(owner=boxes.owner[ok], uv=uv_k[ok], depth=d_k[ok], centre=d_c[ok],
                      front=d_c[ok] - np.minimum(half[:, 0], half[:, 1]),
                      side=np.minimum(colour * 0.72, 255.0), top=np.minimum(colour, 255.0),
                      show_top=self.model.center[2] > boxes.centre[ok, 2] + half[:, 2])

    def _colours(self, person: PersonState) -> FloatArray:
        key = (person.shopper, person.body)
        found = self._colour_cache.get(key)
        if found is None:
            if len(self._colour_cache) > 4096:
                self._colour_cache.clear()
            found = self._colour_cache[key] = _person_colours(person)
        return found

    def _draw(self, geo: _Geometry, frame: U8Image | None, people_layer: _Layer) -> None:
        """Paint people far to near into ``frame`` (None = depth only) and the layer, then
        restore the static scene wherever it is nearer than the people."""
        if not np.any(geo.drawn):
            return
        layer = people_layer.buf
        caps = self._capsule_cmds(geo)
        heads = self._head_cmds(geo)
        torsos = self._torso_cmds(geo)
        items = geo.items
        item_keys = items.centre + _ITEM_BIAS if items is not None else np.zeros(0)
        keys = np.concatenate([caps[0], heads[0], torsos[0], item_keys])
        order = np.argsort(-keys, kind="stable").tolist()
        n_cap, n_head = len(caps[0]), len(heads[0])
        n_body = n_cap + n_head + len(torsos[0])
        cap_rows, head_rows, torso_rows = caps[1], heads[1], torsos[1]
        if frame is not None:
            self._shadows(geo, frame)
        aa, l8 = cv2.LINE_AA, cv2.LINE_8
        line, circle = cv2.line, cv2.circle
        for i in order:
            if i < n_cap:
                # ints: p0 p1 (outline) q0 q1 (highlight) pm (middle) thick thin limb
                # floats: outer BGR, inner BGR, depth half 1, half 2, whole, part id
                a, f = cap_rows[0][i], cap_rows[1][i]
                p0, p1 = a[0:2], a[2:4]
                if frame is not None:
                    line(frame, p0, p1, f[0:3], a[10], aa, _SHIFT)
                    if a[11]:  # highlight stripe, inside the outline: no anti-aliasing needed
                        line(frame, a[4:6], a[6:8], f[3:6], a[11], l8, _SHIFT)
                if a[12]:
                    pm = a[8:10]
                    line(layer, p0, pm, (f[6], f[9]), a[10] + 2, l8, _SHIFT)
                    line(layer, pm, p1, (f[7], f[9]), a[10] + 2, l8, _SHIFT)
                else:
                    line(layer, p0, p1, (f[8], f[9]), a[10] + 2, l8, _SHIFT)
            elif i < n_cap + n_head:
                # ints: head centre, radius, highlight centre, radius, hair centre, radius,
                # hair highlight centre, radius; floats: skin dark, skin light, hair dark,
                # hair light (BGR each), depth, part id
                a, f = head_rows[0][i - n_cap], head_rows[1][i - n_cap]
                c0, c2 = a[0:2], a[6:8]
                if frame is not None:
                    circle(frame, c0, a[2], f[0:3], -1, aa, _SHIFT)
                    if a[5]:
                        circle(frame, a[3:5], a[5], f[3:6], -1, aa, _SHIFT)
                    circle(frame, c2, a[8], f[6:9], -1, aa, _SHIFT)
                    if a[11]:
                        circle(frame, a[9:11], a[11], f[9:12], -1, aa, _SHIFT)
                val = (f[12], f[13])
                circle(layer, c0, a[2] + _ONE, val, -1, l8, _SHIFT)
                circle(layer, c2, a[8] + _ONE, val, -1, l8, _SHIFT)
            elif i < n_body:
                self._draw_torso(torso_rows[i - n_cap - n_head], frame, layer)
            else:
                assert items is not None
                self._draw_item(items, i - n_body, frame, layer)
        self._restore(geo, frame, people_layer)

    def _draw_item(self, items: _Items, j: int, frame: U8Image | None,
                   layer: NDArray[np.float32]) -> None:
        """One held item: the box's outline in the side shade, its top face lighter."""
        fixed = items.fixed[j]
        hull = cv2.convexHull(fixed)
        if frame is not None:
            cv2.fillConvexPoly(frame, hull, items.side_bgr[j], cv2.LINE_AA, _SHIFT)
            if items.show_top[j]:
                cv2.fillConvexPoly(frame, fixed[4:8], items.top_bgr[j], cv2.LINE_AA, _SHIFT)
        # in the layer the hull gets a 3 px outline too, so it covers the anti-aliased fringe
        value = items.layer_value[j]
        cv2.fillConvexPoly(layer, hull, value, cv2.LINE_8, _SHIFT)
        cv2.polylines(layer, [hull], True, value, 3, cv2.LINE_8, _SHIFT)

    def _capsule_cmds(self, geo: _Geometry) -> tuple[FloatArray, tuple[list, list]]:
        """Sort keys and pre-computed OpenCV arguments of every visible capsule."""
        uv, dep, pts = geo.uv, geo.depth, geo.pts
        ua, ub = uv[:, _CAP_A], uv[:, _CAP_B]
        da, db = dep[:, _CAP_A], dep[:, _CAP_B]
        ok = ((da > 0.05) & (db > 0.05) & geo.drawn[:, None]
              & np.isfinite(ua[..., 0] + ua[..., 1] + ub[..., 0] + ub[..., 1]))
        p_idx, c_idx = np.nonzero(ok)
        n = p_idx.size
        if n == 0:
            return np.zeros(0), ([], [])
        ua, ub = ua[p_idx, c_idx], ub[p_idx, c_idx]
        da, db = da[p_idx, c_idx], db[p_idx, c_idx]
        rm = _CAP_R[c_idx] * geo.scale[p_idx] * np.where(_CAP_BUILD[c_idx], geo.width[p_idx], 1.0)
        dmid = 0.5 * (da + db)
        rpx = np.minimum(self._f * rm / dmid, 400.0)
        axis = pts[p_idx, _CAP_B[c_idx]] - pts[p_idx, _CAP_A[c_idx]]
        az2 = axis[:, 2] ** 2 / np.maximum(np.einsum("ij,ij->i", axis, axis), 1e-12)
        light = 0.74 + 0.26 * np.sqrt(np.maximum(1.0 - az2, 0.0))
        umid = 0.5 * (ua + ub)
        col = geo.colours[p_idx, _CAP_SLOT[c_idx]] * (light[:, None] * self._vignette_at(umid))
        ints = np.empty((n, 13), np.int64)
        lim = 1e5
        ints[:, 0:2] = np.rint(np.minimum(np.maximum(ua, -lim), lim) * _ONE)
        ints[:, 2:4] = np.rint(np.minimum(np.maximum(ub, -lim), lim) * _ONE)
        shift_up = np.rint(0.28 * rpx * _ONE)
        ints[:, 4:8] = ints[:, 0:4]
        ints[:, 5] -= shift_up.astype(np.int64)
        ints[:, 7] -= shift_up.astype(np.int64)
        ints[:, 8:10] = (ints[:, 0:2] + ints[:, 2:4]) // 2
        ints[:, 10] = np.maximum(1, np.rint(2.0 * rpx))
        ints[:, 11] = np.where(rpx >= 1.5, np.maximum(1, np.rint(1.1 * rpx)), 0)
        ints[:, 12] = _CAP_LIMB[c_idx]
        floats = np.empty((n, 10))
        floats[:, 0:3] = np.minimum(col * 0.7, 255.0)
        floats[:, 3:6] = np.minimum(col, 255.0)
        floats[:, 6] = 0.5 * (da + dmid) - rm
        floats[:, 7] = 0.5 * (db + dmid) - rm
        floats[:, 8] = dmid - rm
        floats[:, 9] = p_idx * _PARTS_PER_PERSON + c_idx + 1
        return dmid + _CAP_BIAS[c_idx], (ints.tolist(), floats.tolist())

    def _head_cmds(self, geo: _Geometry) -> tuple[FloatArray, tuple[list, list]]:
        uv, dep = geo.uv, geo.depth
        ok = ((dep[:, _HEAD] > 0.05) & (dep[:, _HAIR_C] > 0.05) & geo.drawn
              & np.isfinite(uv[:, _HEAD, 0] + uv[:, _HEAD, 1] + uv[:, _HAIR_C, 0]
                            + uv[:, _HAIR_C, 1]))
        p_idx = np.nonzero(ok)[0]
        n = p_idx.size
        if n == 0:
            return np.zeros(0), ([], [])
        s = geo.scale[p_idx]
        hc, d = uv[p_idx, _HEAD], dep[p_idx, _HEAD]
        cc, dc = uv[p_idx, _HAIR_C], dep[p_idx, _HAIR_C]
        r_head = np.minimum(self._f * _HEAD_R * s / d, 400.0)
        r_hair = np.minimum(self._f * _HAIR_R * s / dc, 400.0)
        vig = self._vignette_at(hc)
        skin = geo.colours[p_idx, _SKIN] * vig
        hair = geo.colours[p_idx, _HAIR] * vig
        lim = 1e5
        hc = np.minimum(np.maximum(hc, -lim), lim)
        cc = np.minimum(np.maximum(cc, -lim), lim)
        ints = np.empty((n, 12), np.int64)
        ints[:, 0:2] = np.rint(hc * _ONE)
        ints[:, 2] = np.rint(r_head * _ONE)
        ints[:, 3:5] = np.rint((hc - 0.1 * r_head[:, None]) * _ONE)
        ints[:, 5] = np.where(r_head >= 1.5, np.rint(0.62 * r_head * _ONE), 0)
        ints[:, 6:8] = np.rint(cc * _ONE)
        ints[:, 8] = np.rint(r_hair * _ONE)
        ints[:, 9] = np.rint((cc[:, 0] - 0.12 * r_hair) * _ONE)
        ints[:, 10] = np.rint((cc[:, 1] - 0.2 * r_hair) * _ONE)
        ints[:, 11] = np.where(r_hair >= 2.0, np.rint(0.55 * r_hair * _ONE), 0)
        floats = np.empty((n, 14))
        floats[:, 0:3] = np.minimum(skin * 0.72, 255)
        floats[:, 3:6] = np.minimum(skin * 0.98, 255)
        floats[:, 6:9] = np.minimum(hair * 0.75, 255)
        floats[:, 9:12] = np.minimum(hair * 1.05, 255)
        floats[:, 12] = d - _HEAD_R * s
        floats[:, 13] = p_idx * _PARTS_PER_PERSON + _HEAD_PART + 1
        return d + _HEAD_BIAS, (ints.tolist(), floats.tolist())

    def _torso_cmds(self, geo: _Geometry) -> tuple[FloatArray, list[tuple]]:
        """Torso: a hull of three rings. Its depth is a plane fitted to the ring points facing
        the camera (kept in ``geo`` for the keypoint test); the layer gets two bands."""
        P = len(geo.people)
        geo.torso_plane = np.full((P, 3), np.nan)
        geo.torso_range = np.zeros((P, 2))
        ring = slice(_RING0, _N_PTS)
        uv, dep = geo.uv[:, ring], geo.depth[:, ring]
        ok = (np.all(np.isfinite(uv), axis=(1, 2)) & np.all(dep > 0.05, axis=1) & geo.drawn)
        p_idx = np.nonzero(ok)[0]
        if p_idx.size == 0:
            return np.zeros(0), []
        uv, dep = uv[p_idx], dep[p_idx]
        n = len(p_idx)
        rings = dep.reshape(n, _RINGS, _RING_N)
        w = (rings <= rings.mean(axis=2, keepdims=True)).reshape(n, -1).astype(float)
        A = np.concatenate([uv, np.ones((*uv.shape[:2], 1))], axis=2)
        M = np.einsum("pn,pni,pnj->pij", w, A, A) + 1e-6 * np.eye(3)
        b = np.einsum("pn,pni,pn->pi", w, A, dep)
        coef = np.linalg.solve(M, b[..., None])[..., 0]
        lo_d, hi_d = dep.min(axis=1) - 0.02, dep.max(axis=1)
        geo.torso_plane[p_idx] = coef
        geo.torso_range[p_idx, 0], geo.torso_range[p_idx, 1] = lo_d, hi_d
        centre = uv.mean(axis=1)
        shirt = geo.colours[p_idx, _SHIRT] * 0.86 * self._vignette_at(centre)
        # layer depth of the upper (shoulder-chest) and lower (chest-hip) bands: the plane at
        # the band's centre
        band_uv = np.stack([uv[:, :2 * _RING_N].mean(axis=1), uv[:, _RING_N:].mean(axis=1)], 1)
        band_d = np.clip(np.einsum("pbi,pi->pb", band_uv, coef[:, :2]) + coef[:, 2:3],
                         lo_d[:, None], hi_d[:, None])
        span = uv.max(axis=1) - uv.min(axis=1)
        fixed = np.round(uv * _ONE).astype(np.int32)
        inner = centre[:, None, :] + 0.7 * (uv - centre[:, None, :])
        inner[..., 1] -= 0.06 * span[:, 1:2]
        fixed_in = np.round(inner * _ONE).astype(np.int32)
        # the layer hull is grown by ~1 px so it covers the anti-aliased fringe
        away = uv - centre[:, None, :]
        away /= np.maximum(np.linalg.norm(away, axis=2, keepdims=True), 1e-6)
        grown = np.round((uv + 1.2 * away) * _ONE).astype(np.int32)
        pid = (p_idx * _PARTS_PER_PERSON + _TORSO_PART + 1).astype(float)
        outer_c = np.minimum(shirt * 0.72, 255).tolist()
        inner_c = np.minimum(shirt, 255).tolist()
        has_inner = (span.min(axis=1) >= 4.0).tolist()
        rows = [(fixed[k], fixed_in[k] if has_inner[k] else None, grown[k], outer_c[k],
                 inner_c[k], float(band_d[k, 0]), float(band_d[k, 1]), float(pid[k]))
                for k in range(n)]
        return dep.mean(axis=1) + _TORSO_BIAS, rows

    def _vignette_at(self, uv: FloatArray) -> FloatArray:
        """Per-channel lens gain (vignetting x white balance) at pixels ``(N, 2)``."""
        # callers pass finite pixels only
        iu = np.minimum(np.maximum(uv[:, 0], 0.0), self.width - 1).astype(np.int64)
        iv = np.minimum(np.maximum(uv[:, 1], 0.0), self.height - 1).astype(np.int64)
        return self._static.vignette[iv, iu]

    def _draw_torso(self, row: tuple, frame: U8Image | None, layer: NDArray[np.float32]) -> None:
        fixed, fixed_in, grown, outer, inner, d_up, d_low, pid = row
        if frame is not None:
            cv2.fillConvexPoly(frame, cv2.convexHull(fixed), outer, cv2.LINE_AA, _SHIFT)
            if fixed_in is not None:
                cv2.fillConvexPoly(frame, cv2.convexHull(fixed_in), inner, cv2.LINE_AA, _SHIFT)
        upper, lower = grown[:2 * _RING_N], grown[_RING_N:]
        cv2.fillConvexPoly(layer, cv2.convexHull(lower), (d_low, pid), cv2.LINE_8, _SHIFT)
        cv2.fillConvexPoly(layer, cv2.convexHull(upper), (d_up, pid), cv2.LINE_8, _SHIFT)

    def _restore(self, geo: _Geometry, frame: U8Image | None, people_layer: _Layer) -> None:
        """Z-test the people layer against the static depth; restore the static scene where it
        is nearer (per person bounding box)."""
        uv = geo.uv[:, :_N_PTS]
        fin = np.isfinite(uv)
        near = np.where(geo.depth[:, :_N_PTS] > 0.05, geo.depth[:, :_N_PTS], np.inf).min(axis=1)
        reach = 0.12 * geo.scale * np.maximum(geo.width, 1.0)  # > any part's radius
        pad = self._f * reach / np.maximum(near, 0.05) + 3
        lo = np.where(fin, uv, np.inf).min(axis=1) - pad[:, None]
        hi = np.where(fin, uv, -np.inf).max(axis=1) + pad[:, None]
        if geo.items is not None:  # held items may stick out of the body's box
            np.minimum.at(lo, geo.items.owner, geo.items.uv.min(axis=1) - 2.0)
            np.maximum.at(hi, geo.items.owner, geo.items.uv.max(axis=1) + 2.0)
        sd = self._scene_tol
        layer = people_layer.buf
        for p_i in np.nonzero(geo.drawn)[0].tolist():
            if not (np.all(np.isfinite(lo[p_i])) and np.all(np.isfinite(hi[p_i]))):
                x0, y0, x1, y1 = 0, 0, self.width, self.height
            else:
                x0 = max(0, int(min(max(lo[p_i, 0], -1e6), 1e6)))
                y0 = max(0, int(min(max(lo[p_i, 1], -1e6), 1e6)))
                x1 = min(self.width, int(min(max(hi[p_i, 0], -1e6), 1e6)) + 1)
                y1 = min(self.height, int(min(max(hi[p_i, 1], -1e6), 1e6)) + 1)
            if x1 <= x0 or y1 <= y0:
                continue
            people_layer.dirty.append((x0, y0, x1, y1))
            if frame is None:
                continue
            # no need to clear the layer there: keypoints test the static depth first
            hidden = cv2.compare(cv2.extractChannel(layer[y0:y1, x0:x1], 0),
                                 sd[y0:y1, x0:x1], cv2.CMP_GT)
            if cv2.countNonZero(hidden):
                cv2.copyTo(self._scene_colour[y0:y1, x0:x1], hidden, frame[y0:y1, x0:x1])

    def _shadows(self, geo: _Geometry, frame: U8Image) -> None:
        """Soft contact shadows on the visible floor under each person: three nested
        anti-aliased ellipses, box-blurred, applied only where the static scene is floor."""
        uv_all = geo.uv[:, _SHADOW0:]
        ok = np.all(np.isfinite(uv_all), axis=(1, 2)) & geo.drawn
        fl = self._scene_floor3
        for p_i in np.nonzero(ok)[0].tolist():
            uv = uv_all[p_i]
            lo = uv[:_SHADOW_N].min(axis=0)
            hi = uv[:_SHADOW_N].max(axis=0)
            k = max(3, int(0.1 * (hi[0] - lo[0])) | 1)
            m = k // 2 + 1
            x0, y0 = max(0, int(lo[0]) - m), max(0, int(lo[1]) - m)
            x1, y1 = min(self.width, int(hi[0]) + m + 1), min(self.height, int(hi[1]) + m + 1)
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            mask = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
            polys = np.round((uv - [x0, y0]) * _ONE).astype(np.int32)
            for i, value in enumerate((30, 55, 75)):
                cv2.fillConvexPoly(mask, polys[i * _SHADOW_N:(i + 1) * _SHADOW_N],
                                   (value, value, value), cv2.LINE_AA, _SHIFT)
            cv2.blur(mask, (k, k), dst=mask, borderType=cv2.BORDER_CONSTANT)
            cv2.min(mask, fl[y0:y1, x0:x1], dst=mask)
            roi = frame[y0:y1, x0:x1]
            cv2.subtract(roi, cv2.multiply(roi, mask, scale=1.0 / 255.0), dst=roi)

    def _flags(self, geo: _Geometry, people_layer: _Layer) -> dict[int, FloatArray]:
        """COCO visibility of every joint (see ``keypoints_2d``).

        A joint is hidden when its body surface towards the camera (joint depth minus the
        limb radius there) lies more than ``KEYPOINT_TOLERANCE`` behind the static scene at its
        pixel, or behind the person part drawn on top at that pixel. That part comes from the
        layer's id channel; its depth is evaluated exactly (capsule, head sphere, torso plane)
        at the joint's pixel, so a limb's own surface never hides its joint.
        """
        out: dict[int, FloatArray] = {}
        if not geo.people:
            return out
        P = len(geo.people)
        layer = people_layer.buf
        uv = geo.uv[:, :_N_KP]
        dep = geo.depth[:, :_N_KP]
        inside = self.model.in_image(uv.reshape(-1, 2)).reshape(P, _N_KP) & (dep > 0.0)
        q = np.nan_to_num(uv)
        iu = np.clip(np.rint(q[..., 0]), 0, self.width - 1).astype(np.int64)
        iv = np.clip(np.rint(q[..., 1]), 0, self.height - 1).astype(np.int64)
        d_static = self._scene_depth[iv, iu]
        top = layer[iv, iu, 1].astype(np.int64) - 1  # -1 = no person there
        d_people = np.full((P, _N_KP), np.inf)
        owner, part = top // _PARTS_PER_PERSON, top % _PARTS_PER_PERSON
        valid = (top >= 0) & inside
        f = self._f
        on_cap = valid & (part < len(_CAPSULES))
        if np.any(on_cap):
            o, c, x = owner[on_cap], part[on_cap], q[on_cap]
            a, b = geo.uv[o, _CAP_A[c]], geo.uv[o, _CAP_B[c]]
            da, db = geo.depth[o, _CAP_A[c]], geo.depth[o, _CAP_B[c]]
            ab = b - a
            tt = np.clip(np.sum((x - a) * ab, axis=1) / np.maximum(np.sum(ab * ab, axis=1),
                                                                   1e-12), 0.0, 1.0)
            rho_px = np.linalg.norm(x - a - tt[:, None] * ab, axis=1)
            d_axis = da + tt * (db - da)
            rm = _CAP_R[c] * geo.scale[o] * np.where(_CAP_BUILD[c], geo.width[o], 1.0)
            rho = rho_px * d_axis / f
            d_people[on_cap] = d_axis - np.sqrt(np.maximum(rm**2 - rho**2, 0.0))
        on_head = valid & (part == _HEAD_PART)
        if np.any(on_head):
            o, x = owner[on_head], q[on_head]
            d_c = geo.depth[o, _HEAD]
            rm = _HEAD_R * geo.scale[o]
            rho = np.linalg.norm(x - geo.uv[o, _HEAD], axis=1) * d_c / f
            d_people[on_head] = d_c - np.sqrt(np.maximum(rm**2 - rho**2, 0.0))
        on_item = valid & (part == _ITEM_PART)  # a held item: its flat front surface
        if np.any(on_item):
            d_people[on_item] = layer[iv, iu, 0][on_item]
        on_torso = valid & (part == _TORSO_PART)
        if np.any(on_torso) and geo.torso_plane is not None:
            o, x = owner[on_torso], q[on_torso]
            plane = geo.torso_plane[o]
            d = plane[:, 0] * x[:, 0] + plane[:, 1] * x[:, 1] + plane[:, 2]
            d = np.clip(d, geo.torso_range[o, 0], geo.torso_range[o, 1])
            d_people[on_torso] = np.where(np.isfinite(d), d, layer[iv, iu, 0][on_torso])
        surface = dep - _JOINT_RADIUS[None, :] * geo.scale[:, None]
        with np.errstate(invalid="ignore"):
            hidden = ((surface > d_static + KEYPOINT_TOLERANCE)
                      | (surface > d_people + KEYPOINT_TOLERANCE))
        flags = np.where(inside, np.where(hidden, 1.0, 2.0), 0.0)
        for p_i, person in enumerate(geo.people):
            rows = np.empty((_N_KP, 3))
            rows[:, :2] = uv[p_i]
            rows[:, 2] = flags[p_i]
            out[person.person] = rows
        return out


def _fixed(uv: FloatArray) -> list[list[int]]:
    """Float pixels ``(N, 2)`` -> OpenCV fixed-point points (``_SHIFT`` fractional bits)."""
    return np.round(np.clip(np.nan_to_num(uv), -1e5, 1e5) * _ONE).astype(np.int64).tolist()


_POINTS_CACHE: OrderedDict[tuple, tuple[FloatArray, FloatArray, FloatArray]] = OrderedDict()
_POINTS_LOCK = threading.Lock()
_BOXES_CACHE: OrderedDict[tuple, tuple[StoreConfig, _HeldBoxes | None]] = OrderedDict()
_BOX_SIGNS = np.array([[-1, -1, -1], [1, -1, -1], [1, 1, -1], [-1, 1, -1],
                       [-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1]], float)


@dataclass(frozen=True)
class _HeldBoxes:
    """What a list of people holds, as 3-D boxes in the store frame (camera independent)."""

    owner: NDArray[np.int64]  # (n,) person index
    corners: FloatArray  # (n, 8, 3): bottom face, then top face, each in order around it
    centre: FloatArray  # (n, 3)
    half: FloatArray  # (n, 3) half extents: across the body, along the heading, up
    base: FloatArray  # (n, 3) BGR product colour


def _held_boxes(people: Sequence[PersonState], pts: FloatArray,
                look: Callable[[str], tuple[FloatArray, FloatArray]]) -> _HeldBoxes | None:
    """Boxes for what the people hold: upright, turned like the person, at the hand and a
    little past it along the forearm; further items of one hand sit beside the first, away
    from the body (at most ``_MAX_HELD`` per hand). ``look(sku)``: size ``(w, d, h)`` and
    colour."""
    rows: list[tuple[int, bool, int, str]] = []
    for p_i, person in enumerate(people):
        count = {"left": 0, "right": 0}
        for item in person.held:
            k = count.get(item.hand, 0)
            if k < _MAX_HELD:
                count[item.hand] = k + 1
                rows.append((p_i, item.hand != "left", k, item.sku))
    if not rows:
        return None
    n = len(rows)
    owner = np.array([r[0] for r in rows], np.int64)
    right = np.array([r[1] for r in rows])
    k = np.array([r[2] for r in rows], float)
    looks = [look(r[3]) for r in rows]
    dims = np.stack([lk[0] for lk in looks])  # (n, 3): w, d, h
    hand = pts[owner, np.where(right, _HAND_R, _HAND_L)]
    wrist = pts[owner, np.where(right, 10, 9)]
    heading = np.array([people[i].heading for i in owner.tolist()])
    cos_h, sin_h = np.cos(heading), np.sin(heading)
    fwd = np.column_stack([cos_h, sin_h, np.zeros(n)])
    left = np.column_stack([-sin_h, cos_h, np.zeros(n)])
    fore = hand - wrist
    fore /= np.maximum(np.linalg.norm(fore, axis=1, keepdims=True), 1e-6)
    out = np.where(right[:, None], -left, left)
    centre = hand + fore * (0.3 * dims[:, 2:3]) + out * (k * (dims[:, 0] + 0.01))[:, None]
    centre[:, 2] = np.maximum(centre[:, 2], 0.5 * dims[:, 2] + 0.01)
    half = 0.5 * dims
    corners = (centre[:, None, :]
               + (_BOX_SIGNS[None, :, 0:1] * half[:, None, 0:1]) * left[:, None, :]
               + (_BOX_SIGNS[None, :, 1:2] * half[:, None, 1:2]) * fwd[:, None, :])
    corners[..., 2] += _BOX_SIGNS[None, :, 2] * half[:, None, 2]
    return _HeldBoxes(owner=owner, corners=corners, centre=centre, half=half,
                      base=np.stack([lk[1] for lk in looks]))



def _people_points(people: list[PersonState],
                   key: tuple | None) -> tuple[FloatArray, FloatArray, FloatArray]:
    """World points of every person's primitives, shared by all cameras rendering the same
    people (a small LRU keyed by the poses)."""
    if key is not None:
        with _POINTS_LOCK:
            found = _POINTS_CACHE.get(key)
            if found is not None:
                _POINTS_CACHE.move_to_end(key)
                return found
    joints = np.stack([np.asarray(p.joints, dtype=np.float64).reshape(_N_KP, 3) for p in people])
    heading = np.array([p.heading for p in people], dtype=np.float64)
    s = np.array([max(0.3, p.body.height) / 1.75 for p in people])
    wb = np.array([_BUILD_WIDTH.get(p.body.build, 1.0) for p in people])
    out = (_body_points(joints, heading, s, wb), s, wb)
    for arr in out:
        arr.flags.writeable = False
    if key is not None:
        with _POINTS_LOCK:
            _POINTS_CACHE[key] = out
            while len(_POINTS_CACHE) > 16:
                _POINTS_CACHE.popitem(last=False)
    return out


class _Layer:
    """Per-pixel (front-surface depth, part id + 1) of the topmost person part; (0, 0) = no
    person (0 so that "deeper than the static scene" is false there). Only the boxes drawn
    into are cleared for the next frame."""

    def __init__(self, H: int, W: int) -> None:
        self.buf = np.zeros((H, W, 2), np.float32)
        self.dirty: list[tuple[int, int, int, int]] = []

    def clear(self) -> None:
        for x0, y0, x1, y1 in self.dirty:
            self.buf[y0:y1, x0:x1] = 0.0
        self.dirty = []


_BLUR_SAMPLES = (0.5, 1.0)  # fractions of the way to the shutter-opening pose


def _lerp_people(people: list[PersonState], shutter: Sequence[PersonState],
                 a: float) -> list[PersonState]:
    """``people`` moved the fraction ``a`` of the way to their pose in ``shutter`` (by id)."""
    before = {p.person: p for p in shutter}
    out = []
    for p in people:
        q = before.get(p.person)
        if q is None:
            out.append(p)
            continue
        joints = (1.0 - a) * np.asarray(p.joints, float) + a * np.asarray(q.joints, float)
        dh = math.remainder(q.heading - p.heading, 2.0 * math.pi)
        out.append(PersonState(person=p.person, shopper=p.shopper, joints=joints, body=p.body,
                               heading=p.heading + a * dh, in_store=p.in_store, held=p.held))
    return out


def _people_key(people: Sequence[PersonState]) -> tuple:
    return tuple((p.person, np.asarray(p.joints, dtype=np.float64).tobytes(), p.heading,
                  p.body, p.held) for p in people)


def _frame_seed(seed: int, cam_index: int, t: float) -> list[int]:
    t_us = round(t * 1e6)
    return [abs(int(seed)), int(seed < 0), cam_index, abs(t_us), int(t_us < 0)]


# =========================================================================== synthetic people
def synthetic_person(person: int, x: float, y: float, heading: float = 0.0, *,
                     body: BodySpec | None = None, phase: float | None = None,
                     shopper: str | None = None,
                     held: Sequence[HeldItem] = ()) -> PersonState:
    """A plausible COCO-17 skeleton standing (``phase`` None) or mid-stride at gait ``phase``
    (rad) with its hips above ``(x, y)``, facing ``heading``, holding ``held``. For previews,
    tests and benchmarks; the world simulation animates its own people."""
    body = body if body is not None else BodySpec(height=1.75)
    s = body.height / 1.75
    wb = _BUILD_WIDTH.get(body.build, 1.0)
    f = np.array([math.cos(heading), math.sin(heading), 0.0])
    left = np.array([-math.sin(heading), math.cos(heading), 0.0])
    up = np.array([0.0, 0.0, 1.0])
    base = np.array([x, y, 0.0])
    swing = 0.0 if phase is None else 0.42 * math.sin(phase)

    def limb(root: FloatArray, angle: float, length: float) -> FloatArray:
        return root + length * (-up * math.cos(angle) + f * math.sin(angle))

    J = np.zeros((_N_KP, 3))
    head = base + up * 1.62 * s
    J[0] = head + f * 0.10 * s - up * 0.01 * s
    J[1] = head + f * 0.085 * s + up * 0.025 * s + left * 0.032 * s
    J[2] = head + f * 0.085 * s + up * 0.025 * s - left * 0.032 * s
    J[3] = head + left * 0.075 * s
    J[4] = head - left * 0.075 * s
    for side, sign, leg_swing in ((0, 1.0, swing), (1, -1.0, -swing)):
        shoulder = base + up * 1.44 * s + sign * left * 0.185 * s * wb**0.5
        hip = base + up * 0.93 * s + sign * left * 0.09 * s * wb**0.5
        arm = -0.8 * leg_swing
        elbow = limb(shoulder, arm, 0.29 * s) + sign * left * 0.02 * s
        wrist = limb(elbow, arm + 0.25, 0.26 * s)
        knee = limb(hip, leg_swing, 0.44 * s)
        bend = 0.0 if phase is None else 0.55 * max(0.0, math.sin(phase + side * math.pi + 1.3))
        ankle = limb(knee, leg_swing - bend, 0.42 * s)
        J[5 + side], J[7 + side], J[9 + side] = shoulder, elbow, wrist
        J[11 + side], J[13 + side], J[15 + side] = hip, knee, ankle
    J[:, 2] += 0.07 * s - min(J[15, 2], J[16, 2])  # the lower foot touches the floor
    return PersonState(person=person, shopper=shopper or f"S{person}", joints=J, body=body,
                       heading=heading, held=tuple(held))


# =========================================================================== top-down map
def topdown_pixel(cfg: StoreConfig, xy: Sequence[float] | FloatArray,
                  size_px: int = 800) -> FloatArray:
    """Store-frame floor points ``(N, 2)`` (or one ``(2,)``) -> ``render_topdown`` pixels."""
    scale, x0, y1, pad = _topdown_frame(cfg, size_px)
    p = np.asarray(xy, dtype=np.float64)
    return np.stack([pad + (p[..., 0] - x0) * scale, pad + (y1 - p[..., 1]) * scale], axis=-1)


def _topdown_frame(cfg: StoreConfig, size_px: int) -> tuple[float, float, float, int]:
    floor = np.asarray(cfg.floor, dtype=np.float64)
    x0, y0 = floor.min(axis=0) - 0.3
    x1, y1 = floor.max(axis=0) + 0.3
    pad = 10
    scale = (size_px - 2 * pad) / max(x1 - x0, y1 - y0)
    return float(scale), float(x0), float(y1), pad


def _text(img: U8Image, text: str, org: tuple[int, int], colour: tuple[int, int, int], *,
          scale: float = 0.4, thickness: int = 1,
          halo: tuple[int, int, int] = (20, 20, 20)) -> None:
    """Text with an outline (``halo``) so it reads on any background."""
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, halo, thickness + 2,
                cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA)


def _shopper_colour(shopper: str) -> tuple[int, int, int]:
    hsv = np.array([[[int(_hash01("trail", shopper) * 180), 200, 230]]], np.uint8)
    bgr = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(bgr[0]), int(bgr[1]), int(bgr[2])


def _lane_label(img: U8Image, text: str, corners: NDArray[np.int32]) -> None:
    """Lane id centred in its box, turned 90 degrees if the box is tall and narrow."""
    x0, y0 = corners.min(axis=0)
    x1, y1 = corners.max(axis=0)
    w, h = int(x1 - x0), int(y1 - y0)
    vertical = h > w
    room = (h if vertical else w) - 4
    scale = 0.35
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    if tw > room:
        scale *= max(room, 1) / tw
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    if th < 5:
        return
    patch = np.zeros((th + base + 2, tw + 2, 3), np.uint8)
    cv2.putText(patch, text, (1, th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                cv2.LINE_AA)
    if vertical:
        patch = cv2.rotate(patch, cv2.ROTATE_90_COUNTERCLOCKWISE)
    ph, pw = patch.shape[:2]
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    px0, py0 = cx - pw // 2, cy - ph // 2
    if px0 < 0 or py0 < 0 or px0 + pw > img.shape[1] or py0 + ph > img.shape[0]:
        return
    roi = img[py0:py0 + ph, px0:px0 + pw]
    alpha = patch[..., :1].astype(np.float32) / 255.0
    ink = np.array([25, 25, 25], np.float32)
    roi[:] = (roi * (1.0 - alpha) + ink * alpha).astype(np.uint8)


def render_topdown(  # noqa: PLR0917 - signature pinned by the design contract
    cfg: StoreConfig, people: Sequence[PersonState], t: float,
                   size_px: int = 800,
                   events: Sequence[tuple[Sequence[float], str, tuple[int, int, int]]] = (),
                   trails: Mapping[str, Sequence[Sequence[float]]] | None = None) -> U8Image:
    """A top-down map of the store at time ``t`` (BGR, longer side ``size_px``).

    Floor with a 1 m grid, zones (entry green, exit red, analytics blue outline), shelves with
    their lanes coloured by product and labelled (one strip per level, bottom level at the
    front), cameras, optional ``trails`` ({shopper: [xy, ...]}), people as discs in their
    shirt colour with their shopper id and a heading tick, and ``events`` as short labels
    ``(xy, text, BGR colour)``. Pixel of a floor point: ``topdown_pixel``.
    """
    scale, _, _, pad = _topdown_frame(cfg, size_px)
    floor = np.asarray(cfg.floor, dtype=np.float64)
    lo = floor.min(axis=0) - 0.3
    hi = floor.max(axis=0) + 0.3
    W = math.ceil((hi[0] - lo[0]) * scale) + 2 * pad
    H = math.ceil((hi[1] - lo[1]) * scale) + 2 * pad
    img = np.full((H, W, 3), 48, np.uint8)

    def px(points: object) -> NDArray[np.int32]:
        return np.round(topdown_pixel(cfg, np.asarray(points, float)[..., :2], size_px) * _ONE
                        ).astype(np.int32)

    aa = cv2.LINE_AA
    cv2.fillPoly(img, [px(floor)], (226, 228, 228), aa, _SHIFT)
    for gx in np.arange(math.ceil(lo[0]), hi[0]):
        cv2.line(img, *(tuple(p) for p in px([[gx, floor[:, 1].min()], [gx, floor[:, 1].max()]])),
                 (206, 208, 208), 1, aa, _SHIFT)
    for gy in np.arange(math.ceil(lo[1]), hi[1]):
        cv2.line(img, *(tuple(p) for p in px([[floor[:, 0].min(), gy], [floor[:, 0].max(), gy]])),
                 (206, 208, 208), 1, aa, _SHIFT)
    zone_colours = {"entry": (90, 190, 80), "exit": (80, 80, 210), "analytics": (200, 150, 90)}
    for zone in cfg.zones:
        poly = px(zone.polygon)
        colour = zone_colours.get(zone.kind, (150, 150, 150))
        if zone.kind in ("entry", "exit"):
            overlay = img.copy()
            cv2.fillPoly(overlay, [poly], colour, aa, _SHIFT)
            cv2.addWeighted(overlay, 0.45, img, 0.55, 0.0, dst=img)
        cv2.polylines(img, [poly], True, colour, 2, aa, _SHIFT)
        corner = (poly.min(axis=0) >> _SHIFT) + np.array([4, 14])
        _text(img, zone.id, (int(corner[0]), int(corner[1])), (30, 30, 30), scale=0.4,
              halo=(245, 245, 245))
    taken: list[tuple[int, int]] = []
    for shelf in cfg.shelves:
        cv2.fillPoly(img, [px(shelf.footprint_store())], (105, 105, 105), aa, _SHIFT)
        levels = sorted(shelf.levels, key=lambda lv: lv.z)
        n = max(1, len(levels))
        hd = 0.5 * shelf.depth
        for i, level in enumerate(levels):
            y_hi = hd - i * shelf.depth / n
            y_lo = y_hi - shelf.depth / n
            for lane in level.lanes:
                lx0, lx1 = float(lane.box_local[0][0]), float(lane.box_local[1][0])
                rect = shelf.to_store([[lx0, y_lo], [lx1, y_lo], [lx1, y_hi], [lx0, y_hi]])
                poly = px(rect)
                product = cfg.product_in_lane(lane.id)
                colour = sku_colour(product.sku) if product else (160, 160, 160)
                light = tuple(int(0.45 * c + 0.55 * 255) for c in colour)
                cv2.fillPoly(img, [poly], light, aa, _SHIFT)
                cv2.polylines(img, [poly], True, colour, 1, aa, _SHIFT)
                _lane_label(img, lane.id, poly >> _SHIFT)
        cv2.polylines(img, [px(shelf.footprint_store())], True, (40, 40, 40), 2, aa, _SHIFT)
        # shelf id above the footprint, or below it if that spot is taken
        foot = px(shelf.footprint_store()) >> _SHIFT
        (tw, th), _ = cv2.getTextSize(shelf.id, cv2.FONT_HERSHEY_SIMPLEX, 0.38, 1)
        cu = min(max(int(foot[:, 0].mean()) - tw // 2, 2), W - tw - 2)
        spot = (cu, int(foot[:, 1].min()) - 5)
        if any(abs(spot[0] - u) < tw + 4 and abs(spot[1] - v) < th + 4 for u, v in taken):
            spot = (cu, int(foot[:, 1].max()) + th + 5)
        taken.append(spot)
        _text(img, shelf.id, spot, (30, 30, 30), scale=0.38, halo=(245, 245, 245))
    for cam in cfg.cameras:
        c = cam.model.center
        d = np.asarray(cam.look_at, float)[:2] - c[:2]
        d = d / max(float(np.linalg.norm(d)), 1e-9)
        p0, p1 = px(c[:2]), px(c[:2] + 0.45 * d)
        cv2.line(img, tuple(p0), tuple(p1), (60, 60, 60), 2, aa, _SHIFT)
        cv2.circle(img, tuple(p0), 5 * _ONE, (40, 40, 40), -1, aa, _SHIFT)
        u, v = p0 >> _SHIFT
        (tw, _), _ = cv2.getTextSize(cam.id, cv2.FONT_HERSHEY_SIMPLEX, 0.35, 1)
        right_edge = int(topdown_pixel(cfg, floor.max(axis=0), size_px)[0])
        tu = int(u) + 6 if int(u) + 6 + tw < right_edge else int(u) - 6 - tw
        _text(img, cam.id, (tu, int(v) - 6), (30, 30, 30), scale=0.35, halo=(245, 245, 245))
    for shopper, xys in (trails or {}).items():
        pts = np.asarray(xys, float).reshape(-1, 2) if len(xys) else np.zeros((0, 2))
        if len(pts) >= 2:
            cv2.polylines(img, [px(pts)], False, _shopper_colour(shopper), 2, aa, _SHIFT)
    r_disc = max(3, round(0.22 * scale))
    for person in people:
        J = np.asarray(person.joints, float).reshape(_N_KP, 3)
        centre = 0.5 * (J[11, :2] + J[12, :2])
        c = px(centre)
        tip = px(centre + 0.4 * np.array([math.cos(person.heading), math.sin(person.heading)]))
        shirt = _rgb_to_bgr(person.body.shirt)
        if person.in_store:
            cv2.circle(img, tuple(c), r_disc * _ONE, shirt, -1, aa, _SHIFT)
        cv2.circle(img, tuple(c), r_disc * _ONE, (20, 20, 20), 2, aa, _SHIFT)
        cv2.line(img, tuple(c), tuple(tip), (20, 20, 20), 3, aa, _SHIFT)
        u, v = c >> _SHIFT
        _text(img, person.shopper, (int(u) + r_disc + 2, int(v) - r_disc), (20, 20, 20),
              scale=0.5, halo=(255, 255, 255))
    placed: list[tuple[int, int]] = []
    for xy, text, colour in events:
        u, v = (round(a) for a in topdown_pixel(cfg, np.asarray(xy, float)[:2], size_px))
        cv2.circle(img, (u, v), 4, colour, -1, aa)
        ty = v + 16
        while any(abs(ty - py) < 13 and abs(u - pu) < 120 for pu, py in placed):
            ty += 13
        placed.append((u, ty))
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
        tu = u + 6 if u + 8 + tw < W else u - 8 - tw
        cv2.rectangle(img, (tu - 2, ty - th - 3), (tu + tw + 2, ty + base), colour, -1)
        ink = (20, 20, 20) if sum(colour) > 380 else (255, 255, 255)
        cv2.putText(img, text, (tu, ty), cv2.FONT_HERSHEY_SIMPLEX, 0.45, ink, 1, cv2.LINE_AA)
    _text(img, f"t = {t:7.2f} s", (8, 18), (255, 255, 255), scale=0.5)
    return img


# =========================================================================== contact sheet
def contact_sheet(images: Sequence[U8Image], cols: int | None = None,
                  labels: Sequence[str] | None = None, gap: int = 4) -> U8Image:
    """Tile images into one BGR mosaic (each scaled to fit the first one's size, grey images
    converted), with an optional label in the top-left corner of each tile."""
    if not images:
        return np.zeros((1, 1, 3), np.uint8)
    n = len(images)
    cols = max(1, min(n, cols if cols else math.ceil(math.sqrt(n))))
    rows = math.ceil(n / cols)
    th, tw = images[0].shape[:2]
    sheet = np.full((rows * th + (rows + 1) * gap, cols * tw + (cols + 1) * gap, 3), 30, np.uint8)
    for i, image in enumerate(images):
        tile = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        if tile.dtype != np.uint8:
            tile = np.clip(tile, 0, 255).astype(np.uint8)
        h, w = tile.shape[:2]
        k = min(tw / w, th / h)
        if k != 1.0:
            nw, nh = max(1, round(w * k)), max(1, round(h * k))
            tile = cv2.resize(tile, (nw, nh),
                              interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
        r, c = divmod(i, cols)
        y0 = gap + r * (th + gap) + (th - tile.shape[0]) // 2
        x0 = gap + c * (tw + gap) + (tw - tile.shape[1]) // 2
        sheet[y0:y0 + tile.shape[0], x0:x0 + tile.shape[1]] = tile
        if labels is not None and i < len(labels) and labels[i]:
            _text(sheet, str(labels[i]), (gap + c * (tw + gap) + 6, gap + r * (th + gap) + 18),
                  (255, 255, 255), scale=0.5)
    return sheet
