"""Recorded camera frames paced on a clock that runs, pauses, speeds up and goes back."""

from __future__ import annotations

import numpy as np
import pytest

from smart_store.drivers.pacing import FramePacer, RateCap


def _publish_times(pacer: FramePacer, clock: list[float]) -> list[float]:
    """Feed the clock readings in order; a frame goes out whenever one is due."""
    out = []
    for now in clock:
        if pacer.due_in(now) == 0.0:
            out.append(now)
            pacer.published(now)
    return out


def test_frames_follow_the_clock_at_any_rate() -> None:
    # a 10 fps video on a clock read every 10 ms: 1x for 1 s, then a replay at 2x
    one_x = [i * 0.01 for i in range(100)]
    assert _publish_times(FramePacer(0.1), one_x) == pytest.approx(
        [i * 0.1 for i in range(10)], abs=0.011)
    # at 2x, the same 10 ms of wall time are 20 ms of sim time: twice the frames per wall s
    two_x = [i * 0.02 for i in range(50)]
    assert len(_publish_times(FramePacer(0.1), two_x)) == 10


def test_a_paused_clock_publishes_nothing_and_a_jump_back_restarts() -> None:
    pacer = FramePacer(0.1)
    assert _publish_times(pacer, [5.0, 5.05, 5.1]) == [5.0, 5.1]
    assert pacer.due_in(5.1) > 0.0                   # paused: the next frame waits
    assert pacer.due_in(5.1) == pytest.approx(0.1)
    # a looped bag: the clock goes back to 0; the video goes on from there, at once
    assert pacer.due_in(0.0) == 0.0 and pacer.resyncs == 1
    pacer.published(0.0)
    assert pacer.due_in(0.05) == pytest.approx(0.05)


def test_a_stall_resynchronises_instead_of_bursting() -> None:
    pacer = FramePacer(0.1)
    assert _publish_times(pacer, [0.0, 0.1]) == [0.0, 0.1]
    # the clock jumps 3 s ahead: one frame now, the next a period later (no 30-frame burst)
    assert _publish_times(pacer, [3.1, 3.1, 3.15, 3.2]) == [3.1, 3.2]
    assert pacer.resyncs == 1
    with pytest.raises(ValueError, match='period'):
        FramePacer(0.0)


def test_rate_cap_keeps_every_frame_of_a_camera_at_the_cap_with_jitter() -> None:
    rng = np.random.default_rng(3)
    period = 1 / 15
    cap = RateCap(period)
    times = np.arange(300) * period + rng.uniform(-0.3, 0.3, 300) * period
    assert all(cap.admit(float(t)) for t in np.sort(times))
    assert cap.capped == 0


def test_rate_cap_halves_a_source_twice_as_fast_and_caps_bursts() -> None:
    period = 1 / 15
    cap = RateCap(period)
    kept = [k for k in range(300) if cap.admit(k * period / 2)]
    assert 149 <= len(kept) <= 151 and cap.capped == 300 - len(kept)
    # a burst of ten frames at once: one goes out (the cap saves no allowance)
    burst = RateCap(period)
    assert sum(burst.admit(5.0) for _ in range(10)) == 1
    # after a pause the schedule starts afresh: the next frame is not held back
    assert burst.admit(60.0)
    with pytest.raises(ValueError, match='period'):
        RateCap(0.0)
    with pytest.raises(ValueError, match='tolerance'):
        RateCap(1.0, tolerance=1.0)
