"""Cross-view association: synthetic people projected into the four demo cameras must be grouped
exactly (one cluster per person, one detection per camera), with dropped joints, pixel noise and
a missing camera; anchors from predictions claim the right detections."""

from __future__ import annotations

import numpy as np
import pytest

from smart_store.config import load_store_config
from smart_store.tracking.associate import Anchor, AssociationParams, Associator, epipolar_distances
from smart_store.tracking.model import NUM_KEYPOINTS, Detection2D
from smart_store.tracking.synthetic import detect, skeleton
from smart_store.tracking.views import CameraRig


@pytest.fixture(scope="module")
def cfg():
    return load_store_config("config/demo_store.yaml")


@pytest.fixture(scope="module")
def rig(cfg):
    return CameraRig.from_config(cfg)


def open_floor_point(rng: np.random.Generator) -> tuple[float, float]:
    """A random floor point outside the shelf footprints (front area, aisles, back area)."""
    region = rng.integers(4)
    if region == 0:
        return rng.uniform(0.4, 5.6), rng.uniform(0.4, 3.3)
    if region == 1:
        return rng.uniform(0.4, 5.6), rng.uniform(5.7, 7.6)
    if region == 2:
        return rng.uniform(0.8, 2.2), rng.uniform(3.6, 5.4)
    return rng.uniform(3.8, 5.2), rng.uniform(3.6, 5.4)


def place(rng: np.random.Generator, n: int, min_sep: float) -> list[tuple[float, float]]:
    pts: list[tuple[float, float]] = []
    while len(pts) < n:
        p = open_floor_point(rng)
        if all(np.hypot(p[0] - q[0], p[1] - q[1]) >= min_sep for q in pts):
            pts.append(p)
    return pts


def scene(cfg, rng, positions, *, missing: str | None = None, noise=2.0, drop=0.15):
    """Detections per camera and the true person index of every detection (by identity)."""
    joints = [skeleton(x, y, rng.uniform(-np.pi, np.pi), rng.uniform(1.55, 1.95))
              for x, y in positions]
    dets: dict[str, list] = {}
    truth: dict[int, int] = {}
    for cam in cfg.cameras:
        if cam.id == missing:
            continue
        lst = []
        for k, j in enumerate(joints):
            d = detect(cam.id, cam.model, j, rng, noise_px=noise, drop=drop)
            if d is not None:
                lst.append(d)
                truth[id(d)] = k
        rng.shuffle(lst)
        dets[cam.id] = lst
    return dets, truth, joints


def check_grouping(groups, truth, dets) -> None:
    seen: dict[int, int] = {}
    for g in groups:
        labels = {truth[id(d)] for d in g}
        assert len(labels) == 1, f"mixed cluster {labels}"
        cams = [d.camera_id for d in g]
        assert len(cams) == len(set(cams)), "two detections of one camera in a cluster"
        (label,) = labels
        assert label not in seen, f"person {label} split over clusters"
        seen[label] = len(g)
    # Every detection ended in a cluster.
    assert sum(seen.values()) == sum(len(v) for v in dets.values())


@pytest.mark.parametrize("seed", range(12))
def test_groups_2_to_5_people_with_noise_drops_and_a_missing_camera(cfg, rig, seed) -> None:
    rng = np.random.default_rng(seed)
    n = 2 + seed % 4
    positions = place(rng, n, min_sep=0.7)
    missing = cfg.cameras[seed % 4].id if seed % 3 else None
    dets, truth, _ = scene(cfg, rng, positions, missing=missing)
    groups = Associator(rig).group(dets)
    check_grouping(groups, truth, dets)
    # Persons seen by >= 2 cameras are fused (not left as singletons).
    assert len(groups) == n


def test_people_side_by_side_half_a_metre_apart(cfg, rig) -> None:
    rng = np.random.default_rng(42)
    positions = [(1.5, 2.0), (2.0, 2.0), (1.75, 2.45)]
    dets, truth, _ = scene(cfg, rng, positions, noise=1.5, drop=0.1)
    groups = Associator(rig).group(dets)
    check_grouping(groups, truth, dets)
    assert len(groups) == 3


def test_epipolar_distance_is_small_for_one_person_large_for_two(cfg, rig) -> None:
    rng = np.random.default_rng(5)
    dets, truth, _ = scene(cfg, rng, [(1.5, 2.5), (4.5, 6.0)], noise=0.0, drop=0.0)
    assoc = Associator(rig)
    views = assoc.prepare(dets)
    lab = np.array([truth[id(d)] for d in views.detections])
    ii, jj = np.triu_indices(len(views), k=1)
    keep = views.cam[ii] != views.cam[jj]
    ii, jj = ii[keep], jj[keep]
    d, count = epipolar_distances(rig, views, ii, jj, clip=1.0)
    d_rev, _ = epipolar_distances(rig, views, jj, ii, clip=1.0)
    np.testing.assert_allclose(d, d_rev, rtol=1e-9)  # symmetric
    same = lab[ii] == lab[jj]
    assert np.all(count[same] == NUM_KEYPOINTS)
    assert d[same].max() < 1e-6
    assert d[~same].min() > 0.02  # people can lie near epipolar lines: hence the floor cue
    assert np.median(d[~same]) > 0.05


def test_floor_constraint_separates_people_on_an_epipolar_line(cfg, rig) -> None:
    """Two people on one line of sight of cam_fl agree epipolarly with each other's views in
    some pairs; the floor points tell them apart."""
    rng = np.random.default_rng(8)
    cam = cfg.camera("cam_fl").model
    c = cam.center
    direction = np.array([3.0, 4.0]) - c[:2]
    direction /= np.linalg.norm(direction)
    p1 = c[:2] + 2.5 * direction
    p2 = c[:2] + 3.6 * direction
    dets, truth, _ = scene(cfg, rng, [tuple(p1), tuple(p2)], noise=1.0, drop=0.0)
    groups = Associator(rig).group(dets)
    check_grouping(groups, truth, dets)


def test_anchors_claim_their_people(cfg, rig) -> None:
    rng = np.random.default_rng(11)
    positions = [(1.2, 2.0), (2.0, 2.2), (4.5, 6.5), (1.5, 4.5)]
    dets, truth, joints = scene(cfg, rng, positions)
    anchors = []
    for k, j in enumerate(joints):
        kp = np.column_stack([j, np.full(NUM_KEYPOINTS, 0.8)])
        # The prediction is 10 cm off, as a one-frame constant-velocity prediction can be.
        kp[:, 0] += 0.1
        anchors.append(Anchor(100 + k, np.add(positions[k], [0.1, 0.0]), kp))
    # A stale anchor far from everybody claims nothing.
    anchors.append(Anchor(999, np.array([5.0, 3.0]), np.full((NUM_KEYPOINTS, 4), np.nan)))
    assoc = Associator(rig)
    views = assoc.prepare(dets)
    clusters = assoc.associate(views, anchors)
    check_grouping([[views.detections[i] for i in c.members] for c in clusters], truth, dets)
    for c in clusters:
        label = truth[id(views.detections[c.members[0]])]
        assert c.anchor_id == 100 + label
    assert all(c.anchor_id != 999 for c in clusters)


def test_swapped_anchor_predictions_do_not_mix_people(cfg, rig) -> None:
    """Anchors only seed clusters: two anchors predicted at each other's place still yield two
    pure clusters (the tracker decides the ids, not the association)."""
    rng = np.random.default_rng(12)
    positions = [(1.5, 2.0), (2.3, 2.0)]
    dets, truth, joints = scene(cfg, rng, positions)
    anchors = [
        Anchor(1, np.array(positions[1]), np.column_stack([joints[1], np.full(17, 0.8)])),
        Anchor(2, np.array(positions[0]), np.column_stack([joints[0], np.full(17, 0.8)])),
    ]
    assoc = Associator(rig)
    views = assoc.prepare(dets)
    clusters = assoc.associate(views, anchors)
    check_grouping([[views.detections[i] for i in c.members] for c in clusters], truth, dets)


def test_detections_with_too_few_joints_are_discarded(cfg, rig) -> None:
    rng = np.random.default_rng(13)
    dets, _, _ = scene(cfg, rng, [(2.0, 2.0)], drop=0.0)
    cam = cfg.cameras[0].id
    weak = dets[cam][0].keypoints.copy()
    weak[3:, 2] = 0.0  # only 3 joints left
    dets[cam] = [Detection2D.from_keypoints(cam, weak)]
    assoc = Associator(rig, AssociationParams(min_joints=4))
    groups = assoc.group(dets)
    assert len(groups) == 1
    assert cam not in {d.camera_id for d in groups[0]}
