"""Small, vectorised 2-D polygon helpers for the store floor plan.

The store configuration describes the floor, zones and shelf footprints as simple polygons in
the store frame (metres, z up, so polygons live in the x/y plane). These helpers are plain
numpy: they are used by the config validator at start-up and by runtime nodes (is this person
inside the exit zone?), so they must be cheap on arrays of points and must not depend on ROS.

Conventions
-----------
* A polygon is an ``(M, 2)`` array of vertices, either orientation, implicitly closed (the last
  vertex connects back to the first; do not repeat the first vertex).
* "Touching" is not "overlapping": two shelves that share an edge, or two lanes that meet at
  ``x = 0.3``, are fine. Overlap means a shared region of positive area.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from smart_store.geometry.errors import GeometryError

__all__ = [
    "as_points",
    "as_polygon",
    "convex_polygons_overlap",
    "intervals_overlap",
    "point_in_polygon",
    "polygon_area",
    "polygon_contains",
    "polygon_grid_samples",
    "polygon_signed_area",
    "polygons_overlap",
    "rect_corners",
    "segments_cross",
    "yaw_rotation",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


def as_points(points: ArrayLike, dim: int = 2) -> FloatArray:
    """Return ``points`` as a float64 ``(N, dim)`` array; a single point becomes ``(1, dim)``.

    Accepting a single point keeps call sites short (``point_in_polygon([x, y], poly)``) while
    the implementation only has to handle the 2-D case.
    """
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise GeometryError(f"expected points of shape (N, {dim}), got {arr.shape}")
    return arr


def as_polygon(polygon: ArrayLike) -> FloatArray:
    """Validate and return a polygon as a float64 ``(M, 2)`` array with ``M >= 3``.

    Raises ``GeometryError`` for too few vertices, non-finite coordinates or zero area, because
    every consumer (inside tests, area, overlap) silently returns nonsense for such input.
    """
    arr = np.asarray(polygon, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise GeometryError(f"polygon must be a list of [x, y] points, got shape {arr.shape}")
    if arr.shape[0] < 3:
        raise GeometryError(f"polygon needs at least 3 points, got {arr.shape[0]}")
    if not np.all(np.isfinite(arr)):
        raise GeometryError("polygon has non-finite coordinates")
    if polygon_area(arr) <= 1e-12:
        raise GeometryError("polygon has zero area (points are collinear or repeated)")
    return arr


def polygon_signed_area(polygon: ArrayLike) -> float:
    """Shoelace area: positive for counter-clockwise vertex order, negative for clockwise."""
    p = np.asarray(polygon, dtype=np.float64)
    x, y = p[:, 0], p[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def polygon_area(polygon: ArrayLike) -> float:
    """Unsigned polygon area in square units (orientation does not matter to callers)."""
    return abs(polygon_signed_area(polygon))


def _distance_to_segments(points: FloatArray, polygon: FloatArray) -> FloatArray:
    """Distance from each point to the closest polygon edge, shape ``(N,)``."""
    a = polygon  # (M, 2) edge starts
    b = np.roll(polygon, -1, axis=0)  # (M, 2) edge ends
    ab = b - a
    ab_len2 = np.einsum("ij,ij->i", ab, ab)
    ab_len2 = np.where(ab_len2 > 0.0, ab_len2, 1.0)  # repeated vertices: distance to a
    ap = points[:, None, :] - a[None, :, :]  # (N, M, 2)
    s = np.clip(np.einsum("nmj,mj->nm", ap, ab) / ab_len2, 0.0, 1.0)
    closest = a[None, :, :] + s[..., None] * ab[None, :, :]
    d = np.linalg.norm(points[:, None, :] - closest, axis=2)
    return d.min(axis=1)


def point_in_polygon(points: ArrayLike, polygon: ArrayLike, tol: float = 0.0) -> BoolArray:
    """Vectorised even-odd inside test; returns a bool array of shape ``(N,)``.

    ``tol > 0`` additionally counts points within ``tol`` of the boundary as inside. The plain
    crossing test is ambiguous exactly on the boundary; a validator that asks "does this shelf
    stand inside the floor?" wants a shelf flush against the wall to pass, so it passes a small
    tolerance. Non-finite points are never inside.
    """
    pts = as_points(points)
    poly = np.asarray(polygon, dtype=np.float64)
    x = pts[:, 0:1]  # (N, 1)
    y = pts[:, 1:2]
    x0, y0 = poly[:, 0][None, :], poly[:, 1][None, :]  # (1, M)
    x1 = np.roll(poly[:, 0], -1)[None, :]
    y1 = np.roll(poly[:, 1], -1)[None, :]
    straddles = (y0 > y) != (y1 > y)  # edge crosses the horizontal line through the point
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    crossings = straddles & (x < x_cross)
    inside = (np.count_nonzero(crossings, axis=1) % 2) == 1
    if tol > 0.0:
        inside |= _distance_to_segments(pts, poly) <= tol
    finite = np.all(np.isfinite(pts), axis=1)
    return inside & finite


def _orient(a: FloatArray, b: FloatArray, c: FloatArray) -> FloatArray:
    """Twice the signed area of triangle (a, b, c), broadcasting over leading axes."""
    return (b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (
        c[..., 0] - a[..., 0]
    )


def segments_cross(
    p0: ArrayLike, p1: ArrayLike, q0: ArrayLike, q1: ArrayLike, eps: float = 1e-12
) -> BoolArray:
    """True where segment p0-p1 properly crosses q0-q1 (interiors intersect at one point).

    Touching at an endpoint or running collinearly along each other does not count: this is
    the "do these outlines cut through each other" test used for containment, where shared
    walls are legitimate.
    """
    p0a, p1a = np.asarray(p0, float), np.asarray(p1, float)
    q0a, q1a = np.asarray(q0, float), np.asarray(q1, float)
    d1 = _orient(q0a, q1a, p0a)
    d2 = _orient(q0a, q1a, p1a)
    d3 = _orient(p0a, p1a, q0a)
    d4 = _orient(p0a, p1a, q1a)
    return (((d1 > eps) & (d2 < -eps)) | ((d1 < -eps) & (d2 > eps))) & (
        ((d3 > eps) & (d4 < -eps)) | ((d3 < -eps) & (d4 > eps))
    )


def polygon_contains(outer: ArrayLike, inner: ArrayLike, tol: float = 1e-6) -> bool:
    """True if polygon ``inner`` lies entirely inside ``outer`` (boundaries may touch).

    Checking vertices alone is not enough for a non-convex floor (an L-shaped store): a zone's
    vertices can all be inside while one of its edges cuts across the notch. So we also require
    that no edge of ``inner`` properly crosses an edge of ``outer`` and that edge midpoints are
    inside.
    """
    out = np.asarray(outer, dtype=np.float64)
    inn = np.asarray(inner, dtype=np.float64)
    if not np.all(point_in_polygon(inn, out, tol=tol)):
        return False
    mids = 0.5 * (inn + np.roll(inn, -1, axis=0))
    if not np.all(point_in_polygon(mids, out, tol=tol)):
        return False
    a0, a1 = inn[:, None, :], np.roll(inn, -1, axis=0)[:, None, :]
    b0, b1 = out[None, :, :], np.roll(out, -1, axis=0)[None, :, :]
    return not bool(np.any(segments_cross(a0, a1, b0, b1)))


def convex_polygons_overlap(a: ArrayLike, b: ArrayLike, tol: float = 1e-9) -> bool:
    """Separating-axis test for two convex polygons; touching edges do not count as overlap.

    Rectangles (shelf footprints) are the main use; SAT is exact for convex shapes and needs
    no clipping library.
    """
    pa = np.asarray(a, dtype=np.float64)
    pb = np.asarray(b, dtype=np.float64)
    for poly in (pa, pb):
        edges = np.roll(poly, -1, axis=0) - poly
        normals = np.stack([-edges[:, 1], edges[:, 0]], axis=1)
        lengths = np.linalg.norm(normals, axis=1)
        normals = normals[lengths > 0] / lengths[lengths > 0, None]
        proj_a = pa @ normals.T  # (Ma, K)
        proj_b = pb @ normals.T
        separated = (proj_a.max(axis=0) <= proj_b.min(axis=0) + tol) | (
            proj_b.max(axis=0) <= proj_a.min(axis=0) + tol
        )
        if np.any(separated):
            return False
    return True


def _inward_edge_samples(poly: FloatArray) -> FloatArray:
    """Edge midpoints nudged a hair into the polygon's interior, shape ``(M, 2)``.

    These points are strictly inside the polygon (for any feature larger than the nudge), so if
    one is strictly inside another polygon the two share area - even when their outlines only
    touch or coincide and no edges properly cross.
    """
    nxt = np.roll(poly, -1, axis=0)
    mid = 0.5 * (poly + nxt)
    edge = nxt - poly
    length = np.linalg.norm(edge, axis=1)
    length = np.where(length > 0.0, length, 1.0)
    left = np.stack([-edge[:, 1], edge[:, 0]], axis=1) / length[:, None]
    inward = left if polygon_signed_area(poly) > 0.0 else -left  # CCW: interior on the left
    scale = float(np.ptp(poly, axis=0).max())
    return mid + inward * (1e-6 * scale)


def polygons_overlap(a: ArrayLike, b: ArrayLike) -> bool:
    """True if two simple polygons (convex or not) share a region of positive area.

    Two simple polygons overlap exactly when an edge of one properly crosses an edge of the
    other, or, with no crossings, when one has interior points inside the other (containment,
    coincident or partly shared outlines). Touching along an edge or at a corner is not
    overlap. For two convex shapes ``convex_polygons_overlap`` is the cheaper exact test.
    """
    pa = np.asarray(a, dtype=np.float64)
    pb = np.asarray(b, dtype=np.float64)
    a0, a1 = pa[:, None, :], np.roll(pa, -1, axis=0)[:, None, :]
    b0, b1 = pb[None, :, :], np.roll(pb, -1, axis=0)[None, :, :]
    if np.any(segments_cross(a0, a1, b0, b1)):
        return True
    return bool(
        np.any(point_in_polygon(_inward_edge_samples(pa), pb))
        or np.any(point_in_polygon(_inward_edge_samples(pb), pa))
    )


def intervals_overlap(a0: float, a1: float, b0: float, b1: float, tol: float = 1e-9) -> bool:
    """True if closed intervals [a0, a1] and [b0, b1] share more than a point.

    Used for lanes along a shelf width and levels along its height, where meeting exactly at a
    divider (``a1 == b0``) is normal.
    """
    return min(a1, b1) - max(a0, b0) > tol


def rect_corners(
    width: float, depth: float, center: Sequence[float] = (0.0, 0.0), yaw: float = 0.0
) -> FloatArray:
    """Corners ``(4, 2)`` of a ``width`` x ``depth`` rectangle, rotated by ``yaw`` (radians).

    Counter-clockwise starting at local (-w/2, -d/2); the local x axis is along the width. This
    is the footprint of a shelf whose pose is ``(center, yaw)``.
    """
    hw, hd = 0.5 * width, 0.5 * depth
    local = np.array([[-hw, -hd], [hw, -hd], [hw, hd], [-hw, hd]], dtype=np.float64)
    rot = yaw_rotation(yaw)[:2, :2]
    return local @ rot.T + np.asarray(center, dtype=np.float64)[None, :2]


def polygon_grid_samples(polygon: ArrayLike, spacing: float) -> FloatArray:
    """Points ``(K, 2)`` of a regular grid with ``spacing`` that fall inside ``polygon``.

    The grid is offset by half a cell so samples sit at cell centres; the polygon's vertices are
    appended too, so even a polygon smaller than one cell yields samples. Used to test camera
    coverage of the floor without solving polygon/frustum intersections.
    """
    if spacing <= 0.0:
        raise GeometryError("grid spacing must be positive")
    poly = np.asarray(polygon, dtype=np.float64)
    lo, hi = poly.min(axis=0), poly.max(axis=0)
    xs = np.arange(lo[0] + 0.5 * spacing, hi[0], spacing)
    ys = np.arange(lo[1] + 0.5 * spacing, hi[1], spacing)
    gx, gy = np.meshgrid(xs, ys, indexing="xy")
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    if grid.size:
        grid = grid[point_in_polygon(grid, poly)]
    return np.vstack([grid.reshape(-1, 2), poly])


def yaw_rotation(yaw_rad: float) -> FloatArray:
    """3x3 rotation about +z by ``yaw_rad`` (counter-clockwise seen from above).

    A shelf with yaw ``psi`` maps shelf-local points to the store frame as
    ``p_store = yaw_rotation(psi) @ p_local + [x, y, 0]``.
    """
    c, s = float(np.cos(yaw_rad)), float(np.sin(yaw_rad))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=np.float64)
