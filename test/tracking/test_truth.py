"""The truth-tracks ablation's replay: every frame once and in order, exits included."""

from __future__ import annotations

import numpy as np
import pytest

from smart_store.config.model import Zone
from smart_store.tracking.truth import (
    STATE_CONFIRMED,
    STATE_EXITED,
    STATE_TENTATIVE,
    TruthTracks,
)

EXIT = Zone('exit', 'exit', np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]))


def _walk_out() -> TruthTracks:
    """One person walking from x=3 to x=0.5 (the exit zone) in 0.2 s frames, then gone."""
    times = np.arange(8) * 0.2
    xs = [3.0, 2.5, 2.0, 1.5, 1.2, 0.5, np.nan, np.nan]
    joints = np.full((8, 1, 17, 3), np.nan)
    for i, x in enumerate(xs):
        joints[i, 0, :, 0], joints[i, 0, :, 1], joints[i, 0, :, 2] = x, 0.5, 1.0
    return TruthTracks(times, [0], joints, (EXIT,), epoch=100.0)


def test_a_clock_jump_still_publishes_every_frame_it_jumped_over() -> None:
    truth = _walk_out()
    first = truth.until(100.05)
    assert [f.stamp for f in first] == [100.0]
    assert first[0].tracks[0].state == STATE_TENTATIVE and first[0].tracks[0].x == 3.0
    assert truth.until(100.1) == []                  # nothing new: nothing twice
    # the clock stalls, then jumps 1.4 s: the frame in the exit zone and the exit both come
    frames = truth.until(101.5)
    assert [round(f.stamp - 100.0, 1) for f in frames] == [0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4]
    assert [t.x for f in frames[:5] for t in f.tracks] == [2.5, 2.0, 1.5, 1.2, 0.5]
    assert all(t.state == STATE_CONFIRMED for f in frames[:5] for t in f.tracks)
    assert [(t.track_id, t.state) for t in frames[5].tracks] == [(1, STATE_EXITED)]
    assert frames[6].tracks == ()                    # exited once, never again


def test_a_late_start_does_not_replay_the_past() -> None:
    truth = _walk_out()
    frames = truth.until(100.9)                      # a tracker respawned at 0.9 s
    assert [round(f.stamp - 100.0, 1) for f in frames] == [0.8]
    assert truth.until(99.0) == []                   # the clock never takes it back


def test_nobody_in_the_exit_zone_leaves_without_an_exit() -> None:
    times = np.arange(3) * 0.2
    joints = np.full((3, 1, 17, 3), np.nan)
    joints[0, 0] = 3.0                               # vanishes far from the exit (occluded)
    truth = TruthTracks(times, [0], joints, (EXIT,))
    frames = [truth.until(0.0)[0], *truth.until(1.0)]
    assert [len(f.tracks) for f in frames] == [1, 0, 0]


def test_bad_joints_are_one_clear_error(tmp_path) -> None:
    with pytest.raises(ValueError, match=r'\(frames, persons, 17, 3\)'):
        TruthTracks(np.arange(2), [0], np.zeros((2, 1, 17)), (EXIT,))
    (tmp_path / 'joints3d.npz').write_bytes(b'not numpy')
    with pytest.raises(ValueError, match=r'joints3d\.npz: not a truth joints file'):
        TruthTracks.load(tmp_path, (EXIT,))
