"""Recorded camera frames paced on a clock that runs, pauses, speeds up and goes back."""

from __future__ import annotations

import pytest

from smart_store.drivers.pacing import FramePacer


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
