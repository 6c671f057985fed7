"""Polygon helpers: inside tests, areas, containment and overlap with touching edges."""

from __future__ import annotations

import math

import numpy as np
import pytest

from smart_store.geometry import (
    GeometryError,
    as_polygon,
    convex_polygons_overlap,
    intervals_overlap,
    point_in_polygon,
    polygon_area,
    polygon_contains,
    polygon_grid_samples,
    polygon_signed_area,
    polygons_overlap,
    rect_corners,
    segments_cross,
    yaw_rotation,
)

SQUARE = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]])
# L-shaped floor: a 4 x 4 square minus the [1, 4] x [1, 4] notch.
L_SHAPE = np.array([[0, 0], [4, 0], [4, 1], [1, 1], [1, 4], [0, 4]], dtype=float)


def box(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)


def test_point_in_polygon_vectorised() -> None:
    pts = np.array([[1.0, 1.0], [3.0, 1.0], [-0.1, 1.0], [1.9, 0.1], [np.nan, 1.0]])
    np.testing.assert_array_equal(point_in_polygon(pts, SQUARE), [True, False, False, True, False])
    assert point_in_polygon([1.0, 1.0], SQUARE).shape == (1,)


def test_point_in_non_convex_polygon() -> None:
    pts = np.array([[0.5, 3.0], [3.0, 0.5], [2.0, 2.0]])  # two arms, then the notch
    np.testing.assert_array_equal(point_in_polygon(pts, L_SHAPE), [True, True, False])


def test_boundary_counts_as_inside_only_with_tolerance() -> None:
    edge_points = np.array([[0.0, 1.0], [2.0, 1.0], [1.0, 2.0]])
    assert point_in_polygon(edge_points, SQUARE, tol=1e-9).all()
    assert not point_in_polygon([[2.1, 1.0]], SQUARE, tol=0.05).any()


def test_area_is_orientation_independent() -> None:
    assert polygon_area(SQUARE) == pytest.approx(4.0)
    assert polygon_area(SQUARE[::-1]) == pytest.approx(4.0)
    assert polygon_signed_area(SQUARE) > 0 > polygon_signed_area(SQUARE[::-1])
    assert polygon_area([[0, 0], [3, 0], [0, 4]]) == pytest.approx(6.0)
    assert polygon_area(L_SHAPE) == pytest.approx(7.0)


def test_as_polygon_rejects_degenerate_input() -> None:
    with pytest.raises(GeometryError, match="at least 3"):
        as_polygon([[0, 0], [1, 1]])
    with pytest.raises(GeometryError, match="zero area"):
        as_polygon([[0, 0], [1, 1], [2, 2]])
    with pytest.raises(GeometryError, match="non-finite"):
        as_polygon([[0, 0], [1, 0], [np.inf, 1]])
    assert as_polygon(SQUARE.tolist()).shape == (4, 2)


def test_polygon_contains_allows_touching_walls() -> None:
    assert polygon_contains(SQUARE, box(0.5, 0.5, 1.5, 1.5))
    assert polygon_contains(SQUARE, box(0.0, 0.0, 1.0, 2.0))  # flush against three walls
    assert not polygon_contains(SQUARE, box(1.5, 1.5, 2.5, 2.5))


def test_polygon_contains_catches_edges_crossing_a_notch() -> None:
    # All three vertices are inside the L, but the long edge cuts across the notch.
    triangle = np.array([[3.0, 0.5], [0.5, 3.0], [0.5, 0.5]])
    assert point_in_polygon(triangle, L_SHAPE).all()
    assert not polygon_contains(L_SHAPE, triangle)
    assert polygon_contains(L_SHAPE, box(0.2, 0.2, 0.8, 3.5))


def test_convex_overlap_ignores_touching() -> None:
    a = box(0, 0, 1, 1)
    assert convex_polygons_overlap(a, box(0.5, 0.5, 1.5, 1.5))
    assert not convex_polygons_overlap(a, box(1.0, 0.0, 2.0, 1.0))  # shared edge
    assert not convex_polygons_overlap(a, box(1.0, 1.0, 2.0, 2.0))  # shared corner
    assert not convex_polygons_overlap(a, box(3, 3, 4, 4))
    diamond = rect_corners(1.0, 1.0, (1.6, 0.5), math.radians(45))  # corner pokes into a
    assert convex_polygons_overlap(a, diamond)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (box(0, 0, 2, 1), box(1, 0, 3, 1), True),  # no proper crossings, collinear edges
        (box(0, 0, 4, 4), box(1, 1, 2, 2), True),  # containment
        (box(0, 0, 1, 1), box(0, 0, 1, 1), True),  # identical
        (box(0, 0, 1, 1), box(1, 0, 2, 1), False),  # shared edge
        (box(0, 0, 1, 1), box(0.5, -1, 0.7, 2), True),  # crossing bar
        (L_SHAPE, box(1.5, 1.5, 3.5, 3.5), False),  # inside the notch
        (L_SHAPE, box(0.5, 0.5, 3.5, 3.5), True),
    ],
)
def test_general_polygons_overlap(a: np.ndarray, b: np.ndarray, expected: bool) -> None:
    assert polygons_overlap(a, b) is expected
    assert polygons_overlap(b, a) is expected


def test_segments_cross_only_properly() -> None:
    assert segments_cross([0, 0], [2, 2], [0, 2], [2, 0])
    assert not segments_cross([0, 0], [2, 0], [1, 0], [1, 2])  # T junction
    assert not segments_cross([0, 0], [1, 0], [2, 0], [3, 0])  # collinear apart


def test_intervals_overlap() -> None:
    assert intervals_overlap(0.0, 1.0, 0.5, 2.0)
    assert not intervals_overlap(0.0, 1.0, 1.0, 2.0)  # lanes meeting at a divider
    assert not intervals_overlap(0.0, 1.0, 1.5, 2.0)


def test_yaw_rotation() -> None:
    rot = yaw_rotation(math.pi / 2)
    np.testing.assert_allclose(rot @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-15)
    np.testing.assert_allclose(rot @ [0.0, 0.0, 1.0], [0.0, 0.0, 1.0])
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-15)
    assert np.linalg.det(yaw_rotation(0.7)) == pytest.approx(1.0)


def test_rect_corners_rotated() -> None:
    corners = rect_corners(2.0, 1.0, (5.0, 5.0), math.pi / 2)
    np.testing.assert_allclose(corners, [[5.5, 4.0], [5.5, 6.0], [4.5, 6.0], [4.5, 4.0]])
    assert polygon_signed_area(corners) == pytest.approx(2.0)


def test_grid_samples_cover_the_polygon() -> None:
    samples = polygon_grid_samples(SQUARE, 0.1)
    assert len(samples) == 400 + 4  # cell centres plus the vertices
    assert point_in_polygon(samples, SQUARE, tol=1e-9).all()
    assert len(polygon_grid_samples(L_SHAPE, 0.5)) == 28 + 6
