"""Triangulation against hand-made geometry: exact recovery, noise, outlier views, the
single-view floor fallback, and the confidence model."""

from __future__ import annotations

import numpy as np
import pytest

from smart_store.config import load_store_config
from smart_store.geometry import CameraModel
from smart_store.tracking.model import NUM_KEYPOINTS, Detection2D
from smart_store.tracking.synthetic import detect, skeleton
from smart_store.tracking.triangulate import (
    TriangulationParams,
    Triangulator,
    triangulate_views,
)
from smart_store.tracking.views import HIP_HEIGHT, CameraRig, floor_sigma, prepare_views

K = np.array([[400.0, 0.0, 320.0], [0.0, 400.0, 240.0], [0.0, 0.0, 1.0]])
DIST = np.array([-0.05, 0.012, 0.0004, -0.0003, -0.001])


@pytest.fixture(scope="module")
def cfg():
    return load_store_config("config/demo_store.yaml")


def two_cameras(dist: np.ndarray = DIST) -> list[CameraModel]:
    """Two ceiling cameras 4 m apart, 3 m up, both aimed at (2, 2, 1)."""
    return [
        CameraModel.from_look_at(K, dist, [0.0, 0.0, 3.0], [2.0, 2.0, 1.0], 640, 480),
        CameraModel.from_look_at(K, dist, [4.0, 0.0, 3.0], [2.0, 2.0, 1.0], 640, 480),
    ]


def four_cameras() -> list[CameraModel]:
    corners = [[0.0, 0.0, 3.0], [4.0, 0.0, 3.0], [0.0, 4.0, 3.0], [4.0, 4.0, 3.0]]
    return [CameraModel.from_look_at(K, DIST, c, [2.0, 2.0, 1.0], 640, 480) for c in corners]


def project_all(cams: list[CameraModel], pts: np.ndarray) -> np.ndarray:
    return np.stack([c.project(pts)[0] for c in cams])


@pytest.mark.parametrize("dist", [np.zeros(5), DIST])
def test_two_views_recover_known_points_exactly(dist: np.ndarray) -> None:
    cams = two_cameras(dist)
    rng = np.random.default_rng(0)
    pts = np.column_stack([rng.uniform(1.2, 2.8, 17), rng.uniform(1.2, 2.8, 17),
                           rng.uniform(0.05, 1.8, 17)])
    uv = project_all(cams, pts)
    assert np.all(np.isfinite(uv))
    kp, res = triangulate_views(cams, uv)
    assert np.max(np.abs(kp[:, :3] - pts)) < 1e-6
    assert np.all(kp[:, 3] > 0.7)  # 2 views, score 1, zero error -> 0.75
    assert np.all(res.used[0].sum(axis=0) == 2)


def test_hand_computed_point() -> None:
    """Undistorted cameras looking at (2, 2, 1): that point projects to both principal points."""
    cams = two_cameras(np.zeros(5))
    uv = np.array([[[320.0, 240.0]], [[320.0, 240.0]]])
    kp, _ = triangulate_views(cams, uv)
    np.testing.assert_allclose(kp[0, :3], [2.0, 2.0, 1.0], atol=1e-9)


def test_noise_gives_small_error() -> None:
    cams = four_cameras()
    rng = np.random.default_rng(1)
    pts = np.column_stack([rng.uniform(1.0, 3.0, 200), rng.uniform(1.0, 3.0, 200),
                           rng.uniform(0.1, 1.8, 200)])
    uv = project_all(cams, pts) + rng.normal(0.0, 1.0, size=(4, 200, 2))
    kp, _ = triangulate_views(cams, uv)
    err = np.linalg.norm(kp[:, :3] - pts, axis=1)
    assert np.all(kp[:, 3] > 0.5)
    assert np.median(err) < 0.01
    assert err.max() < 0.04


def test_outlier_view_is_dropped() -> None:
    cams = four_cameras()
    pts = np.array([[2.0, 2.2, 1.0], [1.5, 2.5, 1.4], [2.5, 1.5, 0.3]])
    uv = project_all(cams, pts)
    uv[2, 0] += [70.0, -40.0]  # camera 2 sees joint 0 at the wrong place (another person)
    uv[1, 2] += [0.0, 90.0]  # camera 1 mislocates joint 2
    kp, res = triangulate_views(cams, uv)
    assert np.max(np.linalg.norm(kp[:, :3] - pts, axis=1)) < 1e-6
    used = res.used[0]  # (V, J)
    assert not used[2, 0] and used[[0, 1, 3], 0].all()
    assert not used[1, 2] and used[[0, 2, 3], 2].all()
    assert used[:, 1].all()
    # Three agreeing views (0.875) rank below four (0.9375).
    assert kp[0, 3] < kp[1, 3]


def test_two_disagreeing_views_do_not_triangulate() -> None:
    cams = two_cameras()
    pts = np.array([[2.0, 2.0, 1.0]])
    uv = project_all(cams, pts)
    uv[1, 0, 1] += 60.0  # not on the epipolar line: rays miss each other by a lot
    kp, _ = triangulate_views(cams, uv)
    assert kp[0, 3] == 0.0
    assert np.all(np.isnan(kp[0, :3]))


def test_one_view_or_missing_joint_is_not_triangulated() -> None:
    cams = two_cameras()
    pts = np.array([[2.0, 2.0, 1.0], [2.1, 1.9, 1.2]])
    uv = project_all(cams, pts)
    uv[0, 1] = np.nan
    kp, _ = triangulate_views(cams, uv)
    assert kp[0, 3] > 0.0
    assert kp[1, 3] == 0.0


def test_confidence_follows_score_views_and_error() -> None:
    cams = four_cameras()
    pts = np.tile([[2.0, 2.0, 1.0]], (3, 1))
    uv = project_all(cams, pts)
    scores = np.ones((4, 3))
    scores[:, 1] = 0.5  # low 2-D scores
    uv[:, 2] += np.array([[4.0, 0.0], [-4.0, 0.0], [0.0, 4.0], [0.0, -4.0]])  # inconsistent
    kp, _ = triangulate_views(cams, uv, scores)
    assert kp[0, 3] == pytest.approx(1.0 - 0.5**4, abs=1e-6)
    assert kp[1, 3] == pytest.approx(0.5 * (1.0 - 0.5**4), abs=1e-6)
    assert 0.0 < kp[2, 3] < kp[0, 3]


def test_rig_undistortion_round_trip(cfg) -> None:
    rig = CameraRig.from_config(cfg)
    for c, model in enumerate(rig.models):
        uv = np.array([[1.0, 1.0], [639.0, 1.0], [1.0, 479.0], [639.0, 479.0], [320.0, 240.0]])
        xn = rig.undistort(c, uv)
        pc = np.column_stack([xn, np.ones(len(xn))])
        world = (pc - model.t) @ model.R  # camera -> world, any depth
        back, _ = model.project(world)
        assert np.max(np.abs(back - uv)) < 1e-3


def test_single_view_floor_point_from_ankles_and_hips(cfg) -> None:
    rig = CameraRig.from_config(cfg)
    cam = cfg.cameras[0]
    joints = skeleton(2.0, 2.5, 0.3, height=1.75)
    uv, _ = cam.model.project(joints)
    kp = np.column_stack([uv, np.full(NUM_KEYPOINTS, 0.9)])
    views = prepare_views(rig, {cam.id: [Detection2D.from_keypoints(cam.id, kp)]})
    # The ankles are 8 cm up, exactly ANKLE_HEIGHT: the floor point is exact.
    np.testing.assert_allclose(views.floor[0], [2.0, 2.5], atol=1e-6)
    c = cam.model.center
    expected = floor_sigma(c[2] - 0.08, np.hypot(2.0 - c[0], 2.5 - c[1]), "ankles",
                           rig.focal[0], 3.0)
    assert views.floor_sigma[0] == pytest.approx(expected)
    assert 0.08 < views.floor_sigma[0] < 0.15
    kp_no_feet = kp.copy()
    kp_no_feet[13:, 2] = 0.0
    views = prepare_views(rig, {cam.id: [Detection2D.from_keypoints(cam.id, kp_no_feet)]})
    # Hips at 0.93 m vs. the assumed HIP_HEIGHT: error = dh * horizontal / vertical distance.
    horiz = np.hypot(2.0 - 0.3, 2.5 - 0.3)
    bound = abs(0.93 - HIP_HEIGHT) * horiz / (2.9 - 0.93) + 1e-6
    assert np.linalg.norm(views.floor[0] - [2.0, 2.5]) <= bound
    assert views.floor_sigma[0] > expected  # hips: the height is a guess


def test_triangulator_people_and_single_view_fallback(cfg) -> None:
    rig = CameraRig.from_config(cfg)
    rng = np.random.default_rng(3)
    truth = [skeleton(1.5, 2.5, 0.0), skeleton(4.2, 6.5, 2.0, 1.6)]
    dets = {c.id: [] for c in cfg.cameras}
    for k, j in enumerate(truth):
        for cam in cfg.cameras[: 4 if k == 0 else 1]:  # person 1 is seen by one camera only
            d = detect(cam.id, cam.model, j, rng, noise_px=0.0, drop=0.0)
            assert d is not None
            dets[cam.id].append(d)
    views = prepare_views(rig, dets)
    order = {id(d): i for i, d in enumerate(views.detections)}
    first = [order[id(dets[c.id][0])] for c in cfg.cameras]
    second = [order[id(dets[cfg.cameras[0].id][1])]]
    people = Triangulator(rig).triangulate(views, [first, second])
    p0, p1 = people
    assert p0.triangulated and p0.num_views == 4
    assert np.max(np.linalg.norm(p0.keypoints[:, :3] - truth[0], axis=1)) < 1e-6
    np.testing.assert_allclose(p0.floor, [1.5, 2.5], atol=1e-6)
    assert not p1.triangulated and p1.cameras == (cfg.cameras[0].id,)
    np.testing.assert_allclose(p1.floor, [4.2, 6.5], atol=1e-6)
    assert np.all(p1.keypoints[:, 3] == 0.0)


def test_reprojection_gate_is_a_parameter() -> None:
    cams = four_cameras()
    pts = np.array([[2.0, 2.2, 1.0]])
    uv = project_all(cams, pts)
    uv[2, 0] += [12.0, 0.0]  # 12 px: inside the default gate (20 px), outside a 5 px one
    kp_default, res_default = triangulate_views(cams, uv)
    kp_tight, res_tight = triangulate_views(
        cams, uv, params=TriangulationParams(reprojection_gate=5.0 / 800.0)
    )
    assert res_default.used[0, :, 0].all()
    assert not res_tight.used[0, 2, 0]
    assert np.linalg.norm(kp_tight[0, :3] - pts[0]) < 1e-6 < np.linalg.norm(
        kp_default[0, :3] - pts[0]
    )


def _views_of(cfg, rig, skeletons_per_camera):
    """prepare_views of one detection per camera (noise-free); returns views and indices."""
    rng = np.random.default_rng(0)
    dets = {}
    for cam in cfg.cameras:
        joints = skeletons_per_camera.get(cam.id)
        if joints is not None:
            dets[cam.id] = [detect(cam.id, cam.model, joints, rng, noise_px=0.0, drop=0.0)]
    views = prepare_views(rig, dets)
    return views, list(range(len(views)))


def test_a_view_of_somebody_else_is_removed_from_the_person(cfg) -> None:
    rig = CameraRig.from_config(cfg)
    me, other = skeleton(2.0, 2.2, 0.5), skeleton(2.6, 2.0, 2.0)
    ids = [c.id for c in cfg.cameras]
    views, members = _views_of(cfg, rig, {ids[0]: me, ids[1]: me, ids[2]: me, ids[3]: other})
    person, stray = Triangulator(rig).triangulate(views, [members])
    assert person.triangulated
    assert person.cameras == tuple(ids[:3])
    assert len(person.detections) == 3
    np.testing.assert_allclose(person.floor, [2.0, 2.2], atol=1e-6)
    # The stray view is a single-view person of its own, where the other person stands.
    assert not stray.triangulated and stray.cameras == (ids[3],)
    np.testing.assert_allclose(stray.floor, [2.6, 2.0], atol=1e-6)


def test_two_disagreeing_views_split_into_single_view_people(cfg) -> None:
    rig = CameraRig.from_config(cfg)
    ids = [c.id for c in cfg.cameras]
    a, b = skeleton(1.5, 2.0), skeleton(4.5, 6.0)
    views, members = _views_of(cfg, rig, {ids[0]: a, ids[3]: b})
    people = Triangulator(rig).triangulate(views, [members])
    assert len(people) == 2
    assert all(not q.triangulated and q.num_views == 1 for q in people)
    floors = sorted(tuple(np.round(q.floor, 6)) for q in people)
    np.testing.assert_allclose(floors, [(1.5, 2.0), (4.5, 6.0)], atol=1e-5)
