"""CameraModel: hand-computed projections, round trips, and the edge cases that produce garbage
pixels if handled carelessly (points behind the camera, rays above the horizon, distortion
fold-back)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from smart_store.geometry import CameraModel, GeometryError, scale_intrinsics

K = np.array([[400.0, 0.0, 320.0], [0.0, 400.0, 240.0], [0.0, 0.0, 1.0]])
NO_DIST = np.zeros(5)
DIST = np.array([-0.05, 0.012, 0.0004, -0.0003, -0.001])


def level_camera(dist: np.ndarray = NO_DIST) -> CameraModel:
    """Camera 1 m above the floor at the origin, looking horizontally along world +y.

    By hand: optical z = world +y, image right (x) = world +x, image down (y) = world -z, so
    ``R = [[1, 0, 0], [0, 0, -1], [0, 1, 0]]`` and ``t = -R @ (0, 0, 1) = (0, 1, 0)``.
    """
    return CameraModel.from_look_at(K, dist, [0.0, 0.0, 1.0], [0.0, 1.0, 1.0], 640, 480)


def ceiling_camera(dist: np.ndarray = DIST) -> CameraModel:
    """A store-like camera: 2.9 m up in a corner, aimed at the floor centre."""
    return CameraModel.from_look_at(K, dist, [0.3, 0.3, 2.9], [3.0, 4.0, 0.0], 640, 480)


def test_look_at_pose_matches_hand_computation() -> None:
    cam = level_camera()
    np.testing.assert_allclose(cam.R, [[1, 0, 0], [0, 0, -1], [0, 1, 0]], atol=1e-12)
    np.testing.assert_allclose(cam.t, [0.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(cam.center, [0.0, 0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(cam.forward, [0.0, 1.0, 0.0], atol=1e-12)


def test_project_known_points_to_known_pixels() -> None:
    cam = level_camera()
    points = np.array(
        [
            [0.0, 5.0, 1.0],  # on the optical axis -> principal point
            [1.0, 5.0, 1.0],  # 1 m right at 5 m: u = 320 + 400 * 1/5 = 400
            [0.0, 4.0, 0.0],  # 1 m below at 4 m: v = 240 + 400 * 1/4 = 340
            [-2.0, 8.0, 3.0],  # u = 320 - 400 * 2/8 = 220, v = 240 - 400 * 2/8 = 140
        ]
    )
    uv, depth = cam.project(points)
    assert uv.shape == (4, 2) and uv.dtype == np.float64
    np.testing.assert_allclose(uv, [[320, 240], [400, 240], [320, 340], [220, 140]], atol=1e-9)
    np.testing.assert_allclose(depth, [5.0, 5.0, 4.0, 8.0], atol=1e-12)
    assert cam.in_image(uv).all()


def test_project_single_point_returns_batch_of_one() -> None:
    uv, depth = level_camera().project([1.0, 5.0, 1.0])
    assert uv.shape == (1, 2) and depth.shape == (1,)
    np.testing.assert_allclose(uv[0], [400.0, 240.0])


def test_points_behind_or_on_camera_plane_give_nan_not_mirrored_pixels() -> None:
    cam = level_camera()
    points = np.array(
        [
            [1.0, -5.0, 1.0],  # behind: a naive x/z would mirror it to u = 240
            [0.0, 0.0, 2.0],  # on the camera plane: depth 0
            [1.0, 5.0, 1.0],  # in front, must be unaffected by its neighbours
        ]
    )
    uv, depth = cam.project(points)
    np.testing.assert_allclose(depth, [-5.0, 0.0, 5.0], atol=1e-12)
    assert np.isnan(uv[:2]).all()
    np.testing.assert_allclose(uv[2], [400.0, 240.0])
    np.testing.assert_array_equal(cam.in_image(uv), [False, False, True])


def test_in_image_bounds() -> None:
    cam = level_camera()
    uv = np.array([[0, 0], [639.9, 479.9], [640, 10], [10, 480], [-0.1, 5], [np.nan, 5]])
    np.testing.assert_array_equal(cam.in_image(uv), [True, True, False, False, False, False])


def test_ray_through_principal_point_is_optical_axis() -> None:
    cam = ceiling_camera()
    origin, dirs = cam.ray([cam.cx, cam.cy])
    np.testing.assert_allclose(origin, [0.3, 0.3, 2.9])
    np.testing.assert_allclose(dirs[0], cam.forward, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(dirs, axis=1), 1.0)


def test_floor_point_by_hand() -> None:
    cam = level_camera()
    # Pixel (320, 340) looks 1 m down per 4 m forward, so it meets the floor at y = 4.
    np.testing.assert_allclose(cam.floor_point([320.0, 340.0])[0], [0.0, 4.0, 0.0], atol=1e-9)
    # The same ray meets the plane z = 0.5 halfway, at y = 2.
    np.testing.assert_allclose(cam.floor_point([320.0, 340.0], z=0.5)[0], [0, 2, 0.5], atol=1e-9)


def test_floor_point_is_nan_above_horizon_on_horizon_and_for_nan_pixels() -> None:
    cam = level_camera()
    pts = cam.floor_point([[320.0, 100.0], [320.0, 240.0], [np.nan, 1.0], [320.0, 400.0]])
    assert np.isnan(pts[:3]).all()
    assert np.isfinite(pts[3]).all()


@pytest.mark.parametrize("dist", [NO_DIST, DIST], ids=["pinhole", "plumb_bob"])
def test_round_trip_project_ray_floor_point(dist: np.ndarray) -> None:
    cam = ceiling_camera(dist)
    rng = np.random.default_rng(3)
    floor = np.column_stack([rng.uniform(0.5, 6.0, 200), rng.uniform(0.5, 8.0, 200), np.zeros(200)])
    uv, depth = cam.project(floor)
    seen = cam.in_image(uv)
    assert seen.sum() > 50 and (depth[seen] > 0).all()
    back = cam.floor_point(uv[seen])
    np.testing.assert_allclose(back, floor[seen], atol=1e-6)
    # and the rays point from the camera centre at the original points
    origin, dirs = cam.ray(uv[seen])
    expected = floor[seen] - origin
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(dirs, expected, atol=1e-8)


def test_distortion_matches_plumb_bob_formula_and_undistorts_back() -> None:
    """Checks the coefficient order [k1, k2, p1, p2, k3] against the textbook formula."""
    cam = level_camera(DIST)
    p_w = np.array([[0.8, 3.0, 0.4]])
    uv, _ = cam.project(p_w)
    x, y = 0.8 / 3.0, 0.6 / 3.0  # camera frame (0.8, 0.6, 3.0): image down is world -z
    k1, k2, p1, p2, k3 = DIST
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    np.testing.assert_allclose(uv[0], [320 + 400 * xd, 240 + 400 * yd], atol=1e-9)
    # ray() must undo the distortion exactly enough to hit the original point
    _, dirs = cam.ray(uv)
    d = p_w[0] - cam.center
    np.testing.assert_allclose(dirs[0], d / np.linalg.norm(d), atol=1e-9)


def test_distorted_pixel_differs_from_pinhole() -> None:
    point = [[1.5, 3.0, 0.0]]
    uv_pinhole, _ = level_camera(NO_DIST).project(point)
    uv_dist, _ = level_camera(DIST).project(point)
    assert np.linalg.norm(uv_pinhole - uv_dist) > 1.0  # barrel distortion pulls it inwards


def test_far_off_axis_points_do_not_fold_back_into_the_image() -> None:
    """With k1 < 0 the radial polynomial turns over near r = 2.6; a point at r = 4.5 would be
    mapped right next to the principal point by the raw formula."""
    cam = level_camera(np.array([-0.05, 0.0, 0.0, 0.0, 0.0]))
    uv, depth = cam.project([[4.5, 1.0, 1.0]])  # x/z = 4.5, in front of the camera
    assert depth[0] == pytest.approx(1.0)
    assert np.isnan(uv).all()
    assert not cam.in_image(uv).any()


@pytest.mark.parametrize(
    ("look_at", "fragment"),
    [
        ([1.0, 2.0, 3.0], "look_at equals position"),
        ([1.0, 2.0, 0.0], "straight down"),
        ([1.0, 2.0, 9.0], "straight up"),
    ],
)
def test_from_look_at_rejects_degenerate_views(look_at: list[float], fragment: str) -> None:
    with pytest.raises(GeometryError, match=fragment):
        CameraModel.from_look_at(K, NO_DIST, [1.0, 2.0, 3.0], look_at, 640, 480)


def test_slightly_tilted_ceiling_camera_is_fine() -> None:
    cam = CameraModel.from_look_at(K, NO_DIST, [1.0, 2.0, 3.0], [1.0, 2.05, 0.0], 640, 480)
    assert cam.in_image(cam.project([[1.0, 2.05, 0.0]])[0]).all()


def test_constructor_validates_inputs() -> None:
    with pytest.raises(GeometryError, match="focal"):
        CameraModel(np.diag([0.0, 400.0, 1.0]), NO_DIST, np.eye(3), np.zeros(3), 640, 480)
    with pytest.raises(GeometryError, match="rotation"):
        CameraModel(K, NO_DIST, np.diag([1.0, 1.0, -1.0]), np.zeros(3), 640, 480)
    with pytest.raises(GeometryError, match="dist"):
        CameraModel(K, np.zeros(4), np.eye(3), np.zeros(3), 640, 480)
    with pytest.raises(GeometryError, match="width"):
        CameraModel(K, NO_DIST, np.eye(3), np.zeros(3), 0, 480)


def test_model_is_immutable() -> None:
    cam = level_camera()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cam.width = 10  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        cam.K[0, 0] = 1.0


def test_camera_info_dict_shape_and_values() -> None:
    cam = ceiling_camera()
    info = cam.camera_info_dict()
    assert set(info) == {"width", "height", "distortion_model", "d", "k", "r", "p"}
    assert (info["width"], info["height"]) == (640, 480)
    assert info["distortion_model"] == "plumb_bob"
    assert [len(info[k]) for k in ("d", "k", "r", "p")] == [5, 9, 9, 12]
    np.testing.assert_allclose(info["d"], DIST)
    np.testing.assert_allclose(np.reshape(info["k"], (3, 3)), K)
    np.testing.assert_allclose(np.reshape(info["r"], (3, 3)), np.eye(3))
    np.testing.assert_allclose(np.reshape(info["p"], (3, 4)), np.hstack([K, np.zeros((3, 1))]))
    json.dumps(info)  # plain Python types only: no numpy scalars leak into messages


# ---------------------------------------------------------------- resolution changes
def test_scale_intrinsics_keeps_pixel_centres_at_integers() -> None:
    """2x2 binning: output pixel i averages input pixels 2i and 2i+1, whose centres are at 2i
    and 2i+1, so input coordinate 2i+0.5 is output coordinate i: ``u' = (u + 0.5) s - 0.5``.
    The image edges (-0.5 and width - 0.5) stay the edges."""
    half = scale_intrinsics(K, 0.5, 0.5)
    np.testing.assert_allclose(half, [[200.0, 0.0, 159.75], [0.0, 200.0, 119.75], [0, 0, 1]])
    # not c * s (= 160, 120): that convention is a quarter pixel off at half resolution
    double = scale_intrinsics(K, 2.0, 2.0)
    np.testing.assert_allclose(double[:2, 2], [640.5, 480.5])
    for u, s, size in ((-0.5, 0.5, 640), (639.5, 0.5, 640), (-0.5, 3.0, 480), (479.5, 3.0, 480)):
        # a principal point is a pixel coordinate like any other: put it on the edge
        h = np.array([[1.0, 0.0, u], [0.0, 1.0, u], [0.0, 0.0, 1.0]])
        edge = scale_intrinsics(h, s, s)[0, 2]
        assert edge == pytest.approx(-0.5 if u < 0 else size * s - 0.5)


@pytest.mark.parametrize("dist", [NO_DIST, DIST], ids=["pinhole", "plumb_bob"])
@pytest.mark.parametrize("size", [(320, 240), (960, 720), (400, 300), (1280, 360)])
def test_resized_model_projects_where_the_pixels_went(dist: np.ndarray,
                                                      size: tuple[int, int]) -> None:
    cam = ceiling_camera(dist)
    small = cam.resized(*size)
    assert (small.width, small.height) == size
    sx, sy = size[0] / cam.width, size[1] / cam.height
    rng = np.random.default_rng(3)
    pts = np.column_stack([rng.uniform(0.5, 6.0, 50), rng.uniform(0.5, 7.0, 50),
                           rng.uniform(0.0, 2.0, 50)])
    uv, depth = cam.project(pts)
    uv2, depth2 = small.project(pts)
    ok = cam.in_image(uv)
    assert ok.sum() > 10
    expected = (uv + 0.5) * [sx, sy] - 0.5
    np.testing.assert_allclose(uv2[ok], expected[ok], atol=1e-6)
    np.testing.assert_allclose(depth2, depth)
    np.testing.assert_array_equal(small.dist, cam.dist)
    np.testing.assert_array_equal(small.R, cam.R)


def test_scale_intrinsics_of_a_projection_matrix_and_skew() -> None:
    k = np.array([[400.0, 2.0, 320.0], [0.0, 410.0, 240.0], [0.0, 0.0, 1.0]])
    p = np.hstack([k, [[-40.0], [0.0], [0.0]]])  # a stereo right camera: Tx = -fx * baseline
    k2, p2 = scale_intrinsics(k, 0.5, 0.25), scale_intrinsics(p, 0.5, 0.25)
    np.testing.assert_array_equal(p2[:, :3], k2)
    assert p2[0, 3] == -20.0 and p2[1, 3] == 0.0
    assert k2[0, 1] == 1.0  # skew scales with x
    np.testing.assert_array_equal(scale_intrinsics(p, 1.0, 1.0), p)
    assert k[0, 2] == 320.0  # the input is not modified


@pytest.mark.parametrize(("matrix", "sx", "sy", "fragment"), [
    (np.eye(2), 1.0, 1.0, "3x3 K or 3x4 P"),
    (np.zeros((3, 5)), 1.0, 1.0, "3x3 K or 3x4 P"),
    (np.full((3, 3), np.nan), 1.0, 1.0, "non-finite"),
    (K, 0.0, 1.0, "sx"),
    (K, 1.0, -2.0, "sy"),
    (K, 1.0, float("inf"), "sy"),
])
def test_scale_intrinsics_rejects_bad_input(matrix: np.ndarray, sx: float, sy: float,
                                            fragment: str) -> None:
    with pytest.raises(GeometryError, match=fragment):
        scale_intrinsics(matrix, sx, sy)
    with pytest.raises(GeometryError):
        level_camera().resized(0, 480)
