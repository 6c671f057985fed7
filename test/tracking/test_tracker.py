"""Tracker rules that keep ids on the right shopper: births only in the entry zone, crossing
paths, occlusion and re-acquisition (also behind a shelf, also with competing tracks), exits
that never come back, lost tracks."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from smart_store.config import load_store_config
from smart_store.tracking.model import (
    LEFT_WRIST,
    NUM_KEYPOINTS,
    Person3D,
    TrackState,
    TrackStatus,
)
from smart_store.tracking.synthetic import person3d
from smart_store.tracking.tracker import Tracker, TrackerParams

DT = 1.0 / 15.0
ENTRY = (1.1, 0.5)  # inside the demo entry zone (x 0.5..1.7, y 0..1)


@pytest.fixture(scope="module")
def cfg():
    return load_store_config("config/demo_store.yaml")


def keyframes(points: Sequence[tuple[float, float, float]]) -> Callable[[float], np.ndarray]:
    """Piecewise-linear path through ``(t, x, y)`` keyframes (held before / after)."""
    arr = np.asarray(points, dtype=np.float64)

    def at(t: float) -> np.ndarray:
        return np.array([np.interp(t, arr[:, 0], arr[:, 1]), np.interp(t, arr[:, 0], arr[:, 2])])

    return at


def run(
    tracker: Tracker,
    paths: Sequence[Callable[[float], np.ndarray]],
    t0: float,
    t1: float,
    *,
    visible: Callable[[int, float], bool] = lambda k, t: True,
    noise: float = 0.04,
    seed: int = 0,
) -> list[tuple[float, list[TrackState], list[np.ndarray | None]]]:
    """Step ``tracker`` from ``t0`` to ``t1``; returns (t, states, true positions) per step."""
    rng = np.random.default_rng(seed)
    out = []
    n = round((t1 - t0) / DT)
    for i in range(n + 1):
        t = t0 + i * DT
        truth: list[np.ndarray | None] = []
        persons = []
        for k, path in enumerate(paths):
            p = path(t)
            if visible(k, t):
                z = p + rng.normal(0.0, noise, 2)
                persons.append(person3d(z[0], z[1], sigma=0.06))
                truth.append(p)
            else:
                truth.append(None)
        rng.shuffle(persons)
        out.append((t, tracker.step(t, persons), truth))
    return out


def nearest_id(states: list[TrackState], p: np.ndarray, max_d: float = 0.5) -> int | None:
    live = [s for s in states if s.state != TrackStatus.EXITED]
    if not live:
        return None
    d = [np.linalg.norm(s.position[:2] - p) for s in live]
    k = int(np.argmin(d))
    return live[k].id if d[k] < max_d else None


def test_birth_in_entry_zone_then_confirmation(cfg) -> None:
    tr = Tracker(cfg)
    states = tr.step(0.0, [person3d(*ENTRY)])
    assert len(states) == 1 and states[0].state == TrackStatus.TENTATIVE
    assert states[0].id == 1 and states[0].first_seen == 0.0
    hits = tr.params.confirm_hits
    for i in range(1, hits - 1):
        tr.step(i * DT, [person3d(*ENTRY)])
    states = tr.step((hits - 1) * DT, [person3d(*ENTRY)])
    assert states[0].state == TrackStatus.CONFIRMED and states[0].hits == hits
    assert states[0].camera_ids == ("synthetic",)


def test_no_birth_outside_the_entry_zone(cfg) -> None:
    tr = Tracker(cfg)
    for i in range(60):
        states = tr.step(i * DT, [person3d(3.0, 2.5), person3d(1.5, 6.5)])
        assert states == []
    assert tr.stats["orphans"] == 120
    assert tr.stats["births"] == 0


def test_tentative_track_that_vanishes_is_dropped_and_its_id_not_reused(cfg) -> None:
    tr = Tracker(cfg)
    tr.step(0.0, [person3d(*ENTRY)])
    for i in range(1, 10):
        states = tr.step(i * DT, [])
    assert states == []
    states = tr.step(1.0, [person3d(*ENTRY)])
    assert [s.id for s in states] == [2]


def test_velocity_estimate(cfg) -> None:
    tr = Tracker(cfg)
    path = keyframes([(0.0, 1.0, 0.5), (1.0, 1.0, 1.5), (5.0, 5.0, 1.5)])
    res = run(tr, [path], 0.0, 4.0, noise=0.02)
    (state,) = res[-1][1]
    np.testing.assert_allclose(state.velocity[:2], [1.0, 0.0], atol=0.12)
    assert state.speed == pytest.approx(1.0, abs=0.12)


def test_crossing_paths_keep_their_ids(cfg) -> None:
    """Two shoppers enter, then walk diagonally across each other's path; closest approach
    0.5 m, at the same moment."""
    a = keyframes([(0.0, 0.8, 0.5), (1.5, 1.0, 2.0), (4.0, 1.0, 2.0), (8.714, 5.0, 6.0)])
    b = keyframes([(0.0, 1.45, 0.5), (4.0, 5.0, 2.5), (8.714, 1.0, 6.5)])
    ts = np.arange(4.0, 8.7, 0.01)
    closest = min(np.linalg.norm(a(t) - b(t)) for t in ts)
    assert 0.45 < closest < 0.55
    tr = Tracker(cfg)
    res = run(tr, [a, b], 0.0, 9.0, noise=0.05, seed=3)
    ids = [None, None]
    for t, states, truth in res:
        if t < 0.5:
            continue
        for k in range(2):
            got = nearest_id(states, truth[k], max_d=0.3)
            assert got is not None, f"person {k} untracked at t={t:.2f}"
            ids[k] = got if ids[k] is None else ids[k]
            assert got == ids[k], f"id of person {k} changed at t={t:.2f}"
    assert ids[0] != ids[1]
    assert tr.stats["births"] == 2


def test_head_on_passing_keeps_ids(cfg) -> None:
    a = keyframes([(0.0, 0.8, 0.5), (1.5, 1.0, 2.0), (2.0, 1.0, 2.0), (6.0, 5.0, 2.0)])
    b = keyframes([(0.0, 1.45, 0.5), (2.0, 5.0, 2.45), (6.0, 1.0, 2.45)])
    tr = Tracker(cfg)
    res = run(tr, [a, b], 0.0, 6.0, noise=0.05, seed=4)
    first = {k: nearest_id(res[30][1], res[30][2][k]) for k in range(2)}
    for _, states, truth in res[30:]:
        for k in range(2):
            assert nearest_id(states, truth[k], 0.3) == first[k]


def test_occlusion_two_seconds_same_id(cfg) -> None:
    path = keyframes([(0.0, 1.0, 0.5), (1.5, 1.0, 2.0), (10.0, 5.0, 2.5)])
    tr = Tracker(cfg)
    hidden = (3.0, 5.0)
    res = run(tr, [path], 0.0, 7.0, visible=lambda k, t: not hidden[0] <= t < hidden[1])
    ids = set()
    for t, states, truth in res:
        if t < 0.2:
            continue
        assert len(states) == 1
        s = states[0]
        ids.add(s.id)
        if truth[0] is None:
            assert s.state == TrackStatus.COASTING
            assert s.camera_ids == ()
        elif t > 0.3:
            assert s.state == TrackStatus.CONFIRMED
            assert np.linalg.norm(s.position[:2] - truth[0]) < 0.25
    assert ids == {1}


def test_hidden_behind_a_shelf_reacquired_with_same_id(cfg) -> None:
    """Walks up aisle 1 past the end of shelf B, is hidden for 3 s while going around the back
    of shelf B into aisle 2 (no camera sees them), re-appears in aisle 2: same id."""
    path = keyframes([
        (0.0, 1.1, 0.5), (2.0, 1.5, 3.0), (4.0, 1.5, 5.9),  # up aisle 1 to the back area
        (7.0, 4.0, 5.9), (9.0, 4.5, 4.5),  # around the back, hidden 4.3..7.3 s, then aisle 2
    ])
    tr = Tracker(cfg)
    res = run(tr, [path], 0.0, 9.0, visible=lambda k, t: not 4.3 <= t < 7.3)
    ids = {s.id for _, states, _ in res for s in states}
    assert ids == {1}
    _, states, truth = res[-1]
    assert states[0].state == TrackStatus.CONFIRMED
    assert np.linalg.norm(states[0].position[:2] - truth[0]) < 0.2
    assert tr.stats["reacquisitions"] == 1


def test_competing_reacquisitions_use_assignment_not_greedy(cfg) -> None:
    """Two shoppers stand at shelf A/B, both hidden for 2 s, both step 0.85-0.9 m to the right.
    Greedy nearest-first would give B's new position to B (0.1 m) and leave A with the far one;
    the global assignment pairs A->p1 and B->p2."""
    tr = Tracker(cfg)
    a = keyframes([(0.0, 0.8, 0.5), (2.0, 1.0, 4.0), (4.0, 1.0, 4.0), (4.8, 1.9, 4.0)])
    b = keyframes([(0.0, 1.45, 0.5), (2.0, 2.0, 4.3), (4.0, 2.0, 4.3), (4.8, 2.85, 4.3)])
    res = run(tr, [a, b], 0.0, 6.0, visible=lambda k, t: not 3.0 <= t < 5.0, noise=0.02)
    ids_before = [nearest_id(res[40][1], res[40][2][k]) for k in range(2)]
    ids_after = [nearest_id(res[-1][1], res[-1][2][k], 0.3) for k in range(2)]
    assert None not in ids_before
    assert ids_after == ids_before


def test_exit_zone_then_gone_is_exited_once_and_never_returns(cfg) -> None:
    path = keyframes([(0.0, 1.1, 0.5), (1.0, 1.1, 2.0), (4.0, 4.9, 2.0), (5.0, 4.9, 0.5)])
    tr = Tracker(cfg)
    res = run(tr, [path], 0.0, 5.0)
    (state,) = res[-1][1]
    tid = state.id
    assert state.state == TrackStatus.CONFIRMED
    exited = []
    for i in range(1, 20):
        t = 5.0 + i * DT
        states = tr.step(t, [])
        exited += [s for s in states if s.state == TrackStatus.EXITED]
        if t > 5.0 + TrackerParams().exit_grace + DT:
            assert all(s.id != tid for s in states)
    assert [s.id for s in exited] == [tid]
    assert tr.exited[0][0] == tid
    # Somebody shows up at the exit zone again: no track (not an entry zone), never the old id.
    for i in range(30):
        states = tr.step(7.0 + i * DT, [person3d(4.9, 0.5)])
        assert all(s.id != tid for s in states)
        assert states == []
    # A new shopper entering gets a fresh, larger id.
    states = tr.step(10.0, [person3d(*ENTRY)])
    assert [s.id for s in states] == [tid + 1]


def test_leaving_the_floor_through_the_exit_is_exited_immediately(cfg) -> None:
    path = keyframes([(0.0, 1.1, 0.5), (1.0, 1.1, 2.0), (4.0, 4.9, 2.0), (5.0, 4.9, 0.4),
                      (5.5, 4.9, -0.4)])
    tr = Tracker(cfg)
    res = run(tr, [path], 0.0, 5.6)
    exited = [t for t, states, _ in res for s in states if s.state == TrackStatus.EXITED]
    assert len(exited) == 1
    t_exit = exited[0]
    # Exited as soon as it was measured outside the floor (y < 0), while still detected.
    assert path(t_exit)[1] < 0.0
    assert res[-1][1] == []


def test_coasting_longer_than_max_coast_is_lost_not_reborn(cfg) -> None:
    path = keyframes([(0.0, 1.1, 0.5), (1.0, 1.5, 2.5)])
    tr = Tracker(cfg, TrackerParams(max_coast=2.0))
    run(tr, [path], 0.0, 2.0)
    for i in range(1, 40):
        states = tr.step(2.0 + i * DT, [])
    assert states == []
    assert [i for i, _ in tr.lost] == [1]
    states = tr.step(5.0, [person3d(1.5, 2.5)])
    assert states == []  # mid-store: no birth, and the lost id is retired


def test_new_shopper_in_entry_does_not_take_a_coasting_id(cfg) -> None:
    """A shopper vanishes mid-store near the entry; a newcomer then appears in the entry zone
    within the re-acquisition radius: new id (entry-zone people only re-acquire tracks that
    were last seen in that entry zone)."""
    path = keyframes([(0.0, 1.1, 0.5), (1.0, 1.1, 1.6)])
    tr = Tracker(cfg)
    run(tr, [path], 0.0, 1.5)
    for i in range(1, 15):
        tr.step(1.5 + i * DT, [])
    states = tr.step(2.5, [person3d(1.1, 0.8)])
    ids = sorted(s.id for s in states)
    assert ids == [1, 2]
    assert {s.id: s.state for s in states}[1] == TrackStatus.COASTING


def test_duplicate_near_a_track_in_entry_is_not_born(cfg) -> None:
    tr = Tracker(cfg)
    for i in range(5):
        states = tr.step(i * DT, [person3d(*ENTRY), person3d(ENTRY[0] + 0.2, ENTRY[1])])
    assert len(states) == 1
    assert tr.stats["duplicates"] >= 1


def test_keypoints_smoothed_limbs_fast_and_unseen_decay(cfg) -> None:
    tr = Tracker(cfg)
    for i in range(5):
        tr.step(i * DT, [person3d(*ENTRY)])
    p = person3d(*ENTRY)
    kp = p.keypoints.copy()
    kp[LEFT_WRIST, :3] += [0.3, 0.0, 0.2]  # a reach
    kp[0, 3] = 0.0  # nose not seen
    kp[0, :3] = np.nan
    before = tr.step(5 * DT, [p])[0].keypoints
    after = tr.step(6 * DT, [Person3D(kp, p.floor, p.floor_sigma, p.cameras)])[0].keypoints
    moved = np.linalg.norm(after[LEFT_WRIST, :3] - before[LEFT_WRIST, :3])
    assert moved == pytest.approx(0.8 * np.hypot(0.3, 0.2), rel=0.05)  # limb gain 0.8
    assert after[0, 3] < before[0, 3]  # unseen joint: confidence decays
    assert np.all(np.isfinite(after[:, :3]))
    assert after.shape == (NUM_KEYPOINTS, 4)


def test_ids_are_never_reused_across_many_shoppers(cfg) -> None:
    tr = Tracker(cfg)
    seen: set[int] = set()
    t = 0.0
    for _ in range(5):
        path = keyframes([(t, 1.1, 0.5), (t + 1.0, 1.1, 2.0), (t + 4.0, 4.9, 2.0),
                          (t + 5.0, 4.9, 0.5)])
        res = run(tr, [path], t, t + 5.0)
        ids = {s.id for _, states, _ in res for s in states}
        assert len(ids) == 1 and not ids & seen
        seen |= ids
        t += 5.0
        for i in range(1, 10):
            tr.step(t + i * DT, [])
        t += 1.0
    assert len(seen) == 5
    assert len(tr.exited) == 5


def test_reset_keeps_ids_unique(cfg) -> None:
    tr = Tracker(cfg)
    tr.step(0.0, [person3d(*ENTRY)])
    tr.reset()
    assert tr.live_ids() == [] and tr.time is None
    states = tr.step(0.0, [person3d(*ENTRY)])
    assert [s.id for s in states] == [2]


def test_out_of_order_frame_set_is_ignored(cfg) -> None:
    tr = Tracker(cfg)
    for i in range(4):
        tr.step(i * DT, [person3d(ENTRY[0], ENTRY[1] + 0.05 * i)])
    before = tr.step(4 * DT, [person3d(ENTRY[0], ENTRY[1] + 0.2)])
    after = tr.step(2 * DT, [person3d(3.0, 3.0)])
    assert tr.stats["out_of_order"] == 1
    assert [s.id for s in after] == [s.id for s in before]
    np.testing.assert_allclose(after[0].position, before[0].position)


def test_single_view_person_reacquires_only_nearby(cfg) -> None:
    """A coasting track is re-acquired by a triangulated person 1.2 m away after 1.5 s hidden,
    but not by a single-view person there (a ray meeting the floor: often half a metre off, and
    a weak detector's false positives are single-view): the id must not jump to it."""
    import dataclasses

    def hidden_then(single: bool) -> tuple[Tracker, list[TrackState]]:
        tr = Tracker(cfg)
        for i in range(12):  # confirmed, standing in the entry zone
            tr.step(i * DT, [person3d(*ENTRY)])
        t = 11 * DT + 1.5
        p = person3d(ENTRY[0] + 1.2, ENTRY[1] + 0.3)
        if single:
            p = dataclasses.replace(p, triangulated=False, floor_sigma=0.3)
        return tr, tr.step(t, [p])

    tr, states = hidden_then(single=False)
    assert [s.id for s in states] == [1] and tr.stats["reacquisitions"] == 1
    tr, states = hidden_then(single=True)
    assert tr.stats["reacquisitions"] == 0
    assert [s.state for s in states if s.id == 1] == [TrackStatus.COASTING]


def test_snapshot_restore_keeps_ids_of_people_inside(cfg) -> None:
    """A respawned tracker takes over the saved tracks: a shopper in the middle of the store
    (where no track may be born) keeps the id; new ids stay unique; JSON round trip."""
    import json

    path = keyframes([(0.0, 1.1, 0.5), (3.0, 1.5, 3.0), (13.0, 1.5, 5.0)])
    tr = Tracker(cfg)
    run(tr, [path], 0.0, 3.0)
    saved = json.loads(json.dumps(tr.snapshot()))   # what the node writes and reads back
    assert saved['ids'] == [1]
    # the process dies; 8 s of frames are lost (more than max_coast: the outage does not
    # count as coasting); the new process restores at its first frame set and carries on
    fresh = Tracker(cfg)
    assert fresh.restore(saved, now=11.0) == 1
    res = run(fresh, [path], 11.0, 13.0)
    assert {s.id for _, states, _ in res for s in states} == {1}
    _, states, truth = res[-1]
    assert states[0].state == TrackStatus.CONFIRMED
    assert np.linalg.norm(states[0].position[:2] - truth[0]) < 0.2
    # without the snapshot the same shopper is an orphan: no track at all
    orphan = Tracker(cfg)
    assert all(not states for _, states, _ in run(orphan, [path], 11.0, 13.0))
    # the next birth gets a new id
    states = fresh.step(13.0 + DT, [person3d(*ENTRY)])
    assert max(s.id for s in states) == 2


def test_restore_rejects_a_damaged_snapshot(cfg) -> None:
    tr = Tracker(cfg)
    run(tr, [keyframes([(0.0, 1.1, 0.5), (2.0, 1.1, 0.6)])], 0.0, 1.0)
    snap = tr.snapshot()
    with pytest.raises(ValueError, match='version'):
        Tracker(cfg).restore({**snap, 'version': 7})
    with pytest.raises(ValueError, match='different lengths'):
        Tracker(cfg).restore({**snap, 'hits': [1, 2, 3]})
    with pytest.raises(ValueError, match='shape'):
        Tracker(cfg).restore({**snap, 'x': [[0.0, 1.0]]})


def _confusions(res) -> dict[float, set[tuple[int, int]]]:
    out: dict[float, set[tuple[int, int]]] = {}
    for t, states, _ in res:
        for s in states:
            for o in s.confusable:
                out.setdefault(round(t, 3), set()).add((min(s.id, o), max(s.id, o)))
    return out


def test_well_separated_people_are_never_confusable(cfg) -> None:
    """Identity ambiguity is reported only where the assignment could have gone either way:
    two shoppers whose measurements stay 0.5 m apart or more (the crossing test's paths) are
    told apart by position, so no frame set calls them confusable."""
    a = keyframes([(0.0, 0.8, 0.5), (1.5, 1.0, 2.0), (4.0, 1.0, 2.0), (8.714, 5.0, 6.0)])
    b = keyframes([(0.0, 1.45, 0.5), (4.0, 5.0, 2.5), (8.714, 1.0, 6.5)])
    res = run(Tracker(cfg), [a, b], 0.0, 9.0, noise=0.05, seed=3)
    assert _confusions(res) == {}


def test_two_people_who_nearly_merge_are_confusable_while_they_do(cfg) -> None:
    """Two shoppers walk side by side, come within 0.1 m of each other (one stepping behind
    the other) and part again: while their measurements could belong to either track, the
    tracks say so, each naming the other; far apart, before and after, they do not."""
    a = keyframes([(0.0, 0.9, 0.5), (1.0, 0.9, 1.5), (3.0, 2.0, 2.0), (3.6, 2.0, 2.0),
                   (5.0, 2.0, 3.2)])
    b = keyframes([(0.0, 1.5, 0.5), (1.0, 1.5, 1.5), (3.0, 2.1, 2.0), (3.6, 2.1, 2.0),
                   (5.0, 3.8, 2.0)])
    res = run(Tracker(cfg), [a, b], 0.0, 5.0, noise=0.05, seed=1)
    conf = _confusions(res)
    ids = {nearest_id(res[-1][1], res[-1][2][k]) for k in range(2)}
    assert None not in ids and len(ids) == 2
    pair = (min(ids), max(ids))
    times = sorted(t for t, pairs in conf.items() if pair in pairs)
    assert times, conf
    # only around the meeting (2.4-4.2 s), both tracks naming each other
    assert times[0] >= 2.0, times
    assert times[-1] <= 4.5, times
    for t, states, _ in res:
        if round(t, 3) in times:
            named = {s.id: s.confusable for s in states if s.id in ids}
            assert named[pair[0]] == (pair[1],) and named[pair[1]] == (pair[0],), named
            break
