"""Twin camera renderer: static-scene depth, people drawing and occlusion, COCO keypoint flags,
held items, lane contents following the stock, determinism, render-size override, top-down map
and contact sheet.

People here are built from simple proportions by ``standing`` below (not the world
simulation), so these tests pin the renderer alone.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from smart_store.config import StoreConfig, load_store_config
from smart_store.twin.model import BodySpec, HeldItem, PersonState, RenderSpec
from smart_store.twin.render import (
    CameraRenderer,
    contact_sheet,
    render_topdown,
    sku_colour,
    synthetic_person,
    topdown_pixel,
)

DEMO = Path(__file__).resolve().parents[2] / "config" / "demo_store.yaml"
QUIET = RenderSpec(width=320, height=240, noise_sigma=0.0, exposure_jitter=0.0)
HIPS, KNEES, ANKLES, SHOULDERS = (11, 12), (13, 14), (15, 16), (5, 6)
BODY_JOINTS = list(range(5, 17))


def standing(person: int, x: float, y: float, heading: float, *, height: float = 1.75,
             shirt: tuple[int, int, int] = (40, 90, 160),
             pants: tuple[int, int, int] = (40, 40, 50)) -> PersonState:
    """A person standing upright at (x, y), arms hanging, facing ``heading`` (COCO order)."""
    s = height / 1.75
    f = np.array([math.cos(heading), math.sin(heading), 0.0])
    left = np.array([-math.sin(heading), math.cos(heading), 0.0])
    base = np.array([x, y, 0.0])

    def at(z: float, side: float = 0.0, fwd: float = 0.0) -> np.ndarray:
        return base + np.array([0.0, 0.0, z * s]) + left * side * s + f * fwd * s

    joints = np.array([
        at(1.61, 0.0, 0.10),  # nose
        at(1.65, 0.03, 0.08), at(1.65, -0.03, 0.08),  # eyes
        at(1.62, 0.075), at(1.62, -0.075),  # ears
        at(1.44, 0.19), at(1.44, -0.19),  # shoulders
        at(1.15, 0.21), at(1.15, -0.21),  # elbows
        at(0.88, 0.21, 0.03), at(0.88, -0.21, 0.03),  # wrists
        at(0.93, 0.09), at(0.93, -0.09),  # hips
        at(0.50, 0.09), at(0.50, -0.09),  # knees
        at(0.08, 0.09), at(0.08, -0.09),  # ankles
    ])
    body = BodySpec(height=height, shirt=shirt, pants=pants)
    return PersonState(person=person, shopper=f"S{person}", joints=joints, body=body,
                       heading=heading)


@pytest.fixture(scope="module")
def cfg() -> StoreConfig:
    return load_store_config(DEMO)


@pytest.fixture(scope="module")
def cam(cfg: StoreConfig) -> CameraRenderer:
    """Front-left camera at 320x240, no noise, constant exposure: pixels are exact."""
    return CameraRenderer(cfg, cfg.cameras[0], QUIET, seed=3)


def facing(cam: CameraRenderer, xy: np.ndarray | tuple[float, float]) -> float:
    c = cam.model.center
    return math.atan2(c[1] - xy[1], c[0] - xy[0])


def along_view(cam: CameraRenderer, target: tuple[float, float], dist: float) -> np.ndarray:
    """Floor point ``dist`` m from the camera's floor position towards ``target``."""
    c = cam.model.center[:2]
    d = np.asarray(target, float) - c
    return c + dist * d / np.linalg.norm(d)


# ------------------------------------------------------------------------- static scene
def test_floor_pixels_have_ray_floor_depth(cam: CameraRenderer) -> None:
    """Open-floor pixels near the camera: depth = optical-axis depth of the ray's floor hit."""
    H, W = cam.height, cam.width
    # bottom middle of cam_fl's image: the open floor just inside the store's front corner
    uv = np.array([[u, v] for v in (H - 3, H - 20, H - 40) for u in range(W // 3, W - 10, 9)],
                  dtype=float)
    floor = cam.model.floor_point(uv)
    _, expected = cam.model.project(floor)
    got = cam.static_depth[uv[:, 1].astype(int), uv[:, 0].astype(int)]
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    # nothing in the static scene lies behind the floor anywhere
    vv, uu = np.mgrid[0:H:7, 0:W:7]
    pix = np.column_stack([uu.ravel(), vv.ravel()]).astype(float)
    pts = cam.model.floor_point(pix)
    ok = np.all(np.isfinite(pts), axis=1)
    _, floor_depth = cam.model.project(pts[ok])
    scene = cam.static_depth[vv.ravel()[ok], uu.ravel()[ok]]
    assert np.all(scene <= floor_depth * (1 + 1e-4) + 1e-4)
    assert np.mean(np.isclose(scene, floor_depth, rtol=1e-4)) > 0.3


def test_static_scene_is_not_blank(cam: CameraRenderer, cfg: StoreConfig) -> None:
    """Shelves stand out from the floor: the products of a lane show their sku colour."""
    img = cam.static_colour
    assert img.shape == (cam.height, cam.width, 3)
    assert img.std() > 20.0
    # a lane front, projected: that pixel is nearer than the floor behind it
    lane = cfg.lane("B2b")
    uv, depth = cam.model.project(lane.front_center_store()[None, :])
    u, v = np.round(uv[0]).astype(int)
    assert cam.static_depth[v, u] == pytest.approx(depth[0], abs=0.12)


# ------------------------------------------------------------------------- people
def test_person_in_the_open_shows_shirt_colour(cam: CameraRenderer) -> None:
    xy = (2.0, 2.0)
    p = standing(0, *xy, facing(cam, xy), shirt=(210, 30, 30))
    img = cam.render([p], 0.0)
    chest = 0.5 * (p.joints[5] + p.joints[6]) * 0.6 + 0.5 * (p.joints[11] + p.joints[12]) * 0.4
    uv, _ = cam.model.project(chest[None, :])
    u, v = np.round(uv[0]).astype(int)
    patch = img[v - 1:v + 2, u - 1:u + 2].reshape(-1, 3).astype(float)
    b, g, r = patch.mean(axis=0)
    assert r > 90 and r > 2.0 * g and r > 2.0 * b, (b, g, r)
    static = cam.static_colour[v - 1:v + 2, u - 1:u + 2].reshape(-1, 3).astype(float).mean(0)
    assert not (static[2] > 2.0 * static[1])  # the floor there is not red


def test_visible_keypoints_match_project(cam: CameraRenderer) -> None:
    xy = (2.0, 2.0)
    p = standing(0, *xy, facing(cam, xy))
    cam.render([p], 0.0)
    kp = cam.keypoints_2d([p])
    assert set(kp) == {0}
    rows = kp[0]
    assert rows.shape == (17, 3)
    expected, _ = cam.model.project(p.joints)
    np.testing.assert_allclose(rows[:, :2], expected, atol=1e-9)
    # facing the camera in the open: the whole body is visible, face included
    assert np.all(rows[:, 2] == 2), rows[:, 2]
    assert cam.keypoints_2d() is not None and np.array_equal(cam.keypoints_2d()[0], rows)


def test_person_behind_shelf_is_occluded_and_shelf_unchanged(cam: CameraRenderer) -> None:
    # beyond the B/C island (x 2.5..3.5, y 3.55..5.45, 1.8 m tall) as seen from cam_fl
    xy = along_view(cam, (3.0, 4.5), 6.2)
    assert xy[0] > 3.6 and xy[1] > 5.5
    p = standing(1, *xy, facing(cam, xy), height=1.6, shirt=(30, 210, 30))
    img = cam.render([p], 0.0)
    rows = cam.keypoints_2d()[1]
    in_image = rows[:, 2] > 0
    assert in_image.sum() >= 12
    assert np.all(rows[in_image, 2] == 1), rows[:, 2]
    for u, v, _ in rows[in_image]:
        iu, iv = round(u), round(v)
        win = (slice(max(iv - 1, 0), iv + 2), slice(max(iu - 1, 0), iu + 2))
        np.testing.assert_array_equal(img[win], cam.static_colour[win])
    # the hidden joints look at the shelf: it is nearer than the joints
    _, depth = cam.model.project(p.joints)
    iu, iv = np.round(rows[in_image, :2]).astype(int).T
    assert np.all(cam.static_depth[iv, iu] < depth[in_image])


def test_far_person_is_occluded_by_near_person(cam: CameraRenderer) -> None:
    near_xy = along_view(cam, (2.5, 2.5), 2.3)
    far_xy = along_view(cam, (2.5, 2.5), 3.0)
    near = standing(0, *near_xy, facing(cam, near_xy), height=1.75, shirt=(210, 30, 30),
                    pants=(30, 30, 200))
    far = standing(1, *far_xy, facing(cam, far_xy), height=1.75, shirt=(30, 210, 30),
                   pants=(30, 210, 30))
    img = cam.render([far, near], 0.0)  # order of the list does not matter
    kp = cam.keypoints_2d()
    assert np.all(kp[0][BODY_JOINTS, 2] == 2), kp[0][:, 2]
    for j in HIPS + KNEES:
        assert kp[1][j, 2] == 1, (j, kp[1][:, 2])
        u, v = np.round(kp[1][j, :2]).astype(int)
        b, g, r = img[v, u].astype(int)
        assert not (g > r and g > b), (j, img[v, u])  # no green of the far person there
    # the far person is visible somewhere (head over the near one's shoulder or beside)
    again = cam.render([far, near], 0.0)
    assert np.array_equal(img, again)
    assert np.any((img[..., 1] > 120) & (img[..., 1] > 2 * img[..., 2].astype(int)))


def test_own_body_hides_far_side(cam: CameraRenderer) -> None:
    """Seen from the side, the far shoulder, hip and knee are behind the body."""
    xy = (2.0, 2.0)
    side = facing(cam, xy) - math.pi / 2  # the person's left side faces the camera
    p = standing(0, *xy, side)
    cam.render([p], 0.0)
    rows = cam.keypoints_2d()[0]
    assert rows[5, 2] == 2 and rows[13, 2] == 2  # near (left) shoulder and knee
    assert rows[6, 2] == 1 and rows[12, 2] == 1 and rows[14, 2] == 1  # far side
    back = standing(0, *xy, facing(cam, xy) + math.pi)
    cam.render([back], 0.0)
    rows = cam.keypoints_2d()[0]
    assert rows[0, 2] == 1  # nose: we see the back of the head
    assert np.all(rows[[5, 6, 11, 12], 2] == 2)  # shoulders and hips are visible from behind


def test_keypoints_outside_or_behind_the_camera_are_zero(cam: CameraRenderer) -> None:
    behind = standing(0, -1.0, -1.0, 0.0)  # behind cam_fl (at 0.3, 0.3 looking into the store)
    inside = standing(1, 2.0, 2.0, 0.0)
    cam.render([behind, inside], 0.0)
    kp = cam.keypoints_2d()
    assert np.all(kp[0][:, 2] == 0)
    assert np.all(np.isnan(kp[0][:, :2]) | ~cam.model.in_image(kp[0][:, :2])[:, None])
    assert np.all(kp[1][:, 2] > 0)


def test_keypoints_for_other_people_match_a_render(cam: CameraRenderer) -> None:
    near_xy = along_view(cam, (2.5, 2.5), 2.3)
    far_xy = along_view(cam, (2.5, 2.5), 3.0)
    people = [standing(0, *near_xy, facing(cam, near_xy)),
              standing(1, *far_xy, facing(cam, far_xy))]
    cam.render([standing(5, 1.0, 2.0, 0.0)], 0.0)  # the last render is someone else
    offline = cam.keypoints_2d(people)
    cam.render(people, 0.0)
    rendered = cam.keypoints_2d()
    assert offline.keys() == rendered.keys()
    for k in offline:
        np.testing.assert_array_equal(offline[k], rendered[k])


def test_people_anywhere_render_without_error(cfg: StoreConfig) -> None:
    """Under a camera, outside the store, half out of view, leaving (in_store False)."""
    rng = np.random.default_rng(5)
    r = CameraRenderer(cfg, cfg.cameras[2], RenderSpec(width=96, height=72), seed=2)
    centre = cfg.cameras[2].model.center
    for trial in range(6):
        people = [synthetic_person(i, float(rng.uniform(-0.5, 6.5)), float(rng.uniform(-0.5, 8.5)),
                                   float(rng.uniform(-4, 4)), phase=float(rng.uniform(0, 7)))
                  for i in range(6)]
        people.append(synthetic_person(9, centre[0] + 0.3, centre[1] - 0.3, 1.0,
                                       body=BodySpec(height=2.0)))
        gone = synthetic_person(10, 3.0, 2.0, 0.0)
        gone.in_store = False
        img = r.render([*people, gone], trial * 0.5)
        kp = r.keypoints_2d()
        assert img.shape == (72, 96, 3)
        assert set(kp) == {p.person for p in people}
        for rows in kp.values():
            assert set(np.unique(rows[:, 2])) <= {0.0, 1.0, 2.0}


# ------------------------------------------------------------------------- items and stock
def _box(cam: CameraRenderer, points: np.ndarray, margin: int = 0) -> tuple[slice, slice]:
    """Image rows and columns spanned by the projection of ``points`` (+ ``margin`` px)."""
    uv, _ = cam.model.project(points)
    lo = np.floor(uv.min(axis=0)).astype(int) - margin
    hi = np.ceil(uv.max(axis=0)).astype(int) + margin + 1
    return (slice(max(lo[1], 0), min(hi[1], cam.height)),
            slice(max(lo[0], 0), min(hi[0], cam.width)))


def _near_colour(img: np.ndarray, bgr: tuple[int, int, int], tol: float = 60.0) -> np.ndarray:
    """Pixels whose hue matches ``bgr`` up to shading (normalised colour distance)."""
    a = img.astype(float) + 1.0
    ref = np.array(bgr, float) + 1.0
    return np.linalg.norm(a / a.sum(axis=-1, keepdims=True) - ref / ref.sum(), axis=-1) * 255 \
        < tol * 0.25


def test_held_items_are_drawn_at_the_hand(cam: CameraRenderer) -> None:
    xy = (2.0, 2.0)
    bare = standing(0, *xy, facing(cam, xy), shirt=(200, 200, 200), pants=(60, 60, 60))
    sku = "CHIPS-PAP-150"
    holding = standing(0, *xy, facing(cam, xy), shirt=(200, 200, 200), pants=(60, 60, 60))
    holding.held = (HeldItem(sku, "right"),)
    plain = cam.render([bare], 0.0)
    img = cam.render([holding], 0.0)
    hand = _box(cam, holding.joints[[8, 10]], margin=22)   # right forearm, and around
    changed = np.any(img != plain, axis=2)
    assert changed[hand].sum() > 20                        # the item is drawn at the right hand
    assert changed.sum() == changed[hand].sum()           # and nowhere else
    assert _near_colour(img[hand], sku_colour(sku)).sum() > 10
    # the wrist keypoint keeps its flag logic: visible joints stay visible except behind the box
    rows = cam.keypoints_2d()[0]
    assert np.all(rows[[0, 5, 6, 11, 12], 2] == 2)
    # an item in the left hand shows at the left hand; more than three per hand are not drawn
    holding.held = (HeldItem(sku, "left"),)
    left = cam.render([holding], 0.0)
    changed = np.any(left != plain, axis=2)
    assert changed[_box(cam, holding.joints[[7, 9]], margin=22)].sum() > 20
    holding.held = tuple(HeldItem(sku, "left") for _ in range(3))
    three = cam.render([holding], 0.0)
    holding.held = tuple(HeldItem(sku, "left") for _ in range(5))
    assert np.array_equal(cam.render([holding], 0.0), three)


def test_held_item_behind_a_shelf_is_hidden(cam: CameraRenderer) -> None:
    """Same person as in the shelf-occlusion test: the box in the hand is hidden too."""
    xy = along_view(cam, (3.0, 4.5), 6.2)
    p = standing(1, *xy, facing(cam, xy), height=1.6)
    empty = cam.render([p], 0.0)
    p.held = (HeldItem("COLA-330", "right"), HeldItem("MILK-1000", "left"))
    img = cam.render([p], 0.0)
    # every pixel is as before or shows the shelf (the box's depth may also cover a fringe
    # pixel of the body that was left drawn before)
    same = np.all(img == empty, axis=2) | np.all(img == cam.static_colour, axis=2)
    assert same.all()


def test_lane_contents_follow_the_stock(cfg: StoreConfig) -> None:
    r = CameraRenderer(cfg, cfg.cameras[0], QUIET, seed=3)
    lane = cfg.lane("B2b")
    full_n = cfg.planogram["B2b"].facings
    rows, cols = _box(r, lane.corners_store(), margin=6)
    outside = np.ones((r.height, r.width), bool)
    outside[rows, cols] = False
    full = r.render([], 0.0)
    assert np.array_equal(full, r.render([], 0.0, stock={"B2b": full_n}))
    assert np.array_equal(full, r.render([], 0.0, stock={"B2b": full_n + 3}))  # capped
    product = _near_colour(full[rows, cols], sku_colour("SAND-VEG")).sum()
    assert product > 50
    shown = [product]
    for n in (full_n - 2, full_n // 2, 1, 0):
        img = r.render([], 0.0, stock={"B2b": n})
        assert np.array_equal(img[outside], full[outside])      # only that lane changes
        shown.append(_near_colour(img[rows, cols], sku_colour("SAND-VEG")).sum())
    assert all(a > b for a, b in itertools.pairwise(shown)), shown
    assert shown[-1] < 0.1 * shown[0]
    # back to full: exactly the static scene again; None means full shelves
    r.render([], 0.0, stock={"B2b": 0, "C2b": 1})
    assert np.array_equal(r.render([], 0.0), full)
    assert np.array_equal(r.render([], 0.0, stock=dict.fromkeys(cfg.planogram, 0)),
                          r.render([], 0.0, stock=dict.fromkeys(cfg.planogram, 0)))


def test_an_emptied_lane_shows_a_person_behind_it(cfg: StoreConfig) -> None:
    """The z-test uses the scene as drawn: where the products were, the shelf's back panel is
    now the nearest static surface, and the people layer is tested against that."""
    r = CameraRenderer(cfg, cfg.cameras[0], QUIET, seed=3)
    depth_full = r.static_depth.copy()
    r.render([], 0.0, stock={"B2b": 0})
    rows, cols = _box(r, cfg.lane("B2b").corners_store())
    assert np.all(r.static_depth == depth_full)                 # the empty store stays full
    assert np.any(r._scene_depth[rows, cols] > depth_full[rows, cols] + 0.05)


# ------------------------------------------------------------------------- camera effects
def test_render_is_deterministic_and_noise_changes_with_time(cfg: StoreConfig) -> None:
    spec = RenderSpec(width=160, height=120, noise_sigma=3.0, exposure_jitter=0.1)
    a = CameraRenderer(cfg, cfg.cameras[1], spec, seed=7)
    b = CameraRenderer(cfg, cfg.cameras[1], spec, seed=7)
    people = [synthetic_person(0, 2.0, 2.5, 0.3, phase=1.0),
              synthetic_person(1, 4.0, 2.0, 2.0, phase=None)]
    img = a.render(people, 12.5)
    assert img.dtype == np.uint8 and img.shape == (120, 160, 3)
    assert np.array_equal(img, a.render(people, 12.5))
    assert np.array_equal(img, b.render(people, 12.5))
    later = a.render(people, 12.5 + 1.0 / 15.0)
    assert not np.array_equal(img, later)
    diff = img.astype(int) - later.astype(int)
    assert 0.5 < diff.std() < 12.0  # noise and a little exposure drift, nothing else
    other_seed = CameraRenderer(cfg, cfg.cameras[1], spec, seed=8).render(people, 12.5)
    assert not np.array_equal(img, other_seed)


def test_exposure_drifts_slowly(cfg: StoreConfig) -> None:
    spec = RenderSpec(width=64, height=48, exposure_jitter=0.1)
    r = CameraRenderer(cfg, cfg.cameras[0], spec, seed=1)
    gains = np.array([r.gain(t) for t in np.arange(0.0, 120.0, 0.5)])
    assert gains.min() >= 0.95 - 1e-9 and gains.max() <= 1.05 + 1e-9
    assert gains.max() - gains.min() > 0.02  # it does drift over two minutes
    assert np.max(np.abs(np.diff(gains))) < 0.006  # but slowly (per half second)


def test_motion_blur_blends_the_shutter_pose(cam: CameraRenderer, cfg: StoreConfig) -> None:
    blur = CameraRenderer(cfg, cfg.cameras[0], RenderSpec(width=320, height=240,
                                                          noise_sigma=0.0,
                                                          exposure_jitter=0.0,
                                                          motion_blur=True), seed=3)
    xy = (2.0, 2.0)
    now = standing(0, *xy, 0.0)
    before = standing(0, xy[0] - 0.05, xy[1], 0.0)
    sharp = cam.render([now], 0.0)
    blurred = blur.render([now], 0.0, shutter=[before])
    assert np.array_equal(blur.render([now], 0.0), sharp)  # no shutter pose: no blur
    assert not np.array_equal(blurred, sharp)
    assert np.abs(blurred.astype(int) - sharp.astype(int)).sum() < 0.02 * sharp.size * 255


def test_render_size_override_scales_intrinsics(cfg: StoreConfig, cam: CameraRenderer) -> None:
    base = cfg.cameras[0]
    assert (cam.width, cam.height) == (320, 240)
    K0, K = base.model.K, cam.model.K
    assert K[0, 0] == pytest.approx(K0[0, 0] / 2) and K[1, 1] == pytest.approx(K0[1, 1] / 2)
    assert K[0, 2] == pytest.approx((K0[0, 2] + 0.5) / 2 - 0.5)
    assert K[1, 2] == pytest.approx((K0[1, 2] + 0.5) / 2 - 0.5)
    np.testing.assert_array_equal(cam.model.dist, base.model.dist)
    pts = np.array([[2.0, 2.0, 1.0], [4.0, 5.0, 0.5]])
    full, _ = base.model.project(pts)
    half, _ = cam.model.project(pts)
    np.testing.assert_allclose(half, (full + 0.5) / 2 - 0.5, atol=1e-9)
    # width only: the height keeps the camera's aspect ratio
    r = CameraRenderer(cfg, base, RenderSpec(width=64), seed=0)
    assert (r.width, r.height) == (64, 48)
    assert r.render([], 0.0).shape == (48, 64, 3)
    native = CameraRenderer(cfg, base, RenderSpec(width=None, height=None, noise_sigma=0.0),
                            seed=0)
    assert (native.width, native.height) == (base.width, base.height)


# ------------------------------------------------------------------------- top-down and sheet
def test_topdown_draws_shelves_and_person_disc(cfg: StoreConfig) -> None:
    p = standing(0, 3.0, 2.0, math.pi / 2, shirt=(250, 20, 200))
    img = render_topdown(cfg, [p], 1.0, size_px=400, events=[((1.0, 4.0), "pick A2b",
                                                              (0, 200, 255))],
                         trails={"S0": [(1.0, 1.0), (2.0, 1.5), (3.0, 2.0)]})
    assert img.dtype == np.uint8 and max(img.shape[:2]) == 400
    u, v = np.round(topdown_pixel(cfg, (3.1, 2.0), 400)).astype(int)  # beside the heading tick
    assert tuple(img[v, u]) == (200, 20, 250)  # the disc has the shirt colour (BGR)
    u, v = np.round(topdown_pixel(cfg, (3.0, 2.0), 400)).astype(int)
    # y grows upwards on the map
    u2, v2 = topdown_pixel(cfg, (3.0, 3.0), 400)
    assert v2 < v and u2 == pytest.approx(u, abs=1)
    # a lane strip is drawn in a tint of its product colour
    lane = cfg.lane("C2b")
    shelf = cfg.shelf(lane.shelf_id)
    sku = cfg.planogram["C2b"].sku
    x0, x1 = float(lane.box_local[0][0]), float(lane.box_local[1][0])
    n = len(shelf.levels)
    level = sorted(lv.z for lv in shelf.levels).index(next(
        lv.z for lv in shelf.levels if lane in lv.lanes))
    y_mid = shelf.depth / 2 - (level + 0.5) * shelf.depth / n
    centre = shelf.to_store([[0.5 * (x0 + x1) + 0.03, y_mid]])[0, :2]
    u, v = np.round(topdown_pixel(cfg, centre, 400)).astype(int)
    tint = np.array([0.45 * c + 0.55 * 255 for c in sku_colour(sku)])
    assert np.abs(img[v, u].astype(float) - tint).max() <= 2.0
    floor = np.round(topdown_pixel(cfg, (2.0, 6.5), 400)).astype(int)
    assert np.abs(img[floor[1], floor[0]].astype(int) - img[v, u]).max() > 10


def test_contact_sheet_tiles_images() -> None:
    imgs = [np.full((40, 60, 3), i * 40, np.uint8) for i in range(5)]
    sheet = contact_sheet(imgs, cols=3, labels=["a", "b", "c", "d", "e"])
    assert sheet.shape == (2 * 40 + 3 * 4, 3 * 60 + 4 * 4, 3)
    assert tuple(sheet[4 + 40 + 4 + 30, 4 + 60 + 4 + 40]) == (160, 160, 160)
    grey = contact_sheet([np.zeros((20, 30), np.uint8), np.zeros((40, 60, 3), np.uint8)])
    assert grey.shape[2] == 3


def test_synthetic_person_is_plausible() -> None:
    p = synthetic_person(3, 2.0, 3.0, 0.5, body=BodySpec(height=1.5), phase=0.7)
    assert p.joints.shape == (17, 3) and p.person == 3
    assert p.joints[:, 2].min() == pytest.approx(0.07 * 1.5 / 1.75)
    assert 1.3 < p.joints[0, 2] < 1.5
    hips = 0.5 * (p.joints[11, :2] + p.joints[12, :2])
    np.testing.assert_allclose(hips, [2.0, 3.0], atol=1e-9)
