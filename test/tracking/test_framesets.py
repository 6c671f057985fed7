"""Frame-set assembly with a bounded wait: complete sets close at once, a dead or lagging
camera never stalls the output, late frames are counted and dropped, output stays in order."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from smart_store.tracking.framesets import FrameSetAssembler, stamp_to_sec

CAMS = ("a", "b", "c", "d")
PERIOD = 1.0 / 15.0


def feed(asm, t, cams, *, jitter=0.002, delay=0.01):
    """All ``cams`` deliver the frame taken at ``t`` (stamps jittered), arriving ``delay`` later."""
    for k, cam in enumerate(cams):
        asm.add(cam, t + (k - 1.5) * jitter, f"{cam}@{t:.3f}", now=t + delay)


def test_complete_sets_close_immediately_in_order() -> None:
    asm = FrameSetAssembler(CAMS, PERIOD, max_wait=0.1)
    out = []
    for i in range(10):
        t = i * PERIOD
        feed(asm, t, CAMS)
        out += asm.poll(t + 0.011)
    assert len(out) == 10
    assert all(fs.complete and not fs.missing for fs in out)
    assert [fs.stamp for fs in out] == sorted(fs.stamp for fs in out)
    assert set(out[3].items) == set(CAMS)
    assert asm.completed == 10 and asm.timed_out == 0


def test_partial_set_waits_at_most_max_wait() -> None:
    asm = FrameSetAssembler(CAMS, PERIOD, max_wait=0.05)
    feed(asm, 0.0, CAMS[:3])
    assert asm.poll(0.02) == []
    (fs,) = asm.poll(0.061)  # first frame arrived at 0.01: 0.05 later it must go
    assert not fs.complete and fs.missing == ("d",)
    assert set(fs.items) == {"a", "b", "c"}


def test_dead_camera_never_stalls_output() -> None:
    asm = FrameSetAssembler(CAMS, PERIOD, max_wait=0.05, dead_after=0.5)
    out = []
    n = 60
    for i in range(n):
        t = i * PERIOD
        feed(asm, t, CAMS if t < 1.0 else CAMS[:3])  # camera d dies at 1 s
        out += asm.poll(t + 0.011)
        out += asm.poll(t + 0.065)
    out += asm.flush(10.0)
    assert len(out) == n  # one set per instant, none lost, no stall
    # Until d is declared dead, its sets close by the wait limit; afterwards at once.
    after = [fs for fs in out if fs.stamp > 1.0 + 0.5 + PERIOD]
    assert after and all(fs.complete and set(fs.items) == {"a", "b", "c"} for fs in after)
    assert all(fs.closed_at - fs.opened_at < 0.01 for fs in after)
    waiting = [fs for fs in out if 1.0 < fs.stamp < 1.4]
    assert waiting and all(fs.missing == ("d",) for fs in waiting)
    assert asm.live_cameras() == ("a", "b", "c")
    # The camera comes back: it is waited for again.
    t = n * PERIOD
    feed(asm, t, CAMS)
    assert asm.live_cameras() == CAMS
    (fs,) = asm.poll(t + 0.011)
    assert fs.complete and set(fs.items) == set(CAMS)


def test_camera_that_never_started_is_given_up() -> None:
    asm = FrameSetAssembler(CAMS, PERIOD, max_wait=0.05, dead_after=0.3)
    for i in range(20):
        feed(asm, i * PERIOD, CAMS[:3])
        asm.poll(i * PERIOD + 0.07)
    assert "d" not in asm.live_cameras()


def test_late_frames_are_counted_and_dropped() -> None:
    asm = FrameSetAssembler(CAMS, PERIOD, max_wait=0.05)
    feed(asm, 0.0, CAMS[:3])
    assert len(asm.poll(0.07)) == 1
    assert asm.add("d", 0.001, "late", now=0.09) is False
    assert asm.late["d"] == 1
    assert asm.open_sets == 0  # never re-opens a closed set
    feed(asm, PERIOD, CAMS)
    (fs2,) = asm.poll(PERIOD + 0.011)
    assert fs2.complete and fs2.items["d"] == f"d@{PERIOD:.3f}"


def test_lagging_camera_is_not_waited_for() -> None:
    """Camera d delivers every frame 0.2 s late: after ``lag_limit`` late frames the sets close
    as soon as a, b, c delivered instead of waiting max_wait each time."""
    asm = FrameSetAssembler(CAMS, PERIOD, max_wait=0.05, lag_limit=3)
    out = []
    for i in range(30):
        t = i * PERIOD
        feed(asm, t, CAMS[:3])
        if i >= 3:
            asm.add("d", (i - 3) * PERIOD, "old", now=t + 0.01)
        out += asm.poll(t + 0.011)
        out += asm.poll(t + 0.065)
    assert len(out) == 30
    assert asm.late["d"] >= 20
    quick = [fs for fs in out[10:] if fs.closed_at - fs.opened_at < 0.005]
    assert len(quick) == len(out[10:])


def test_out_of_order_and_duplicate_frames() -> None:
    asm = FrameSetAssembler(CAMS, PERIOD, max_wait=0.2)
    asm.add("a", 2 * PERIOD, "a2", now=0.2)
    asm.add("a", 1 * PERIOD, "a1", now=0.2)
    asm.add("b", 1 * PERIOD + 0.003, "b1", now=0.2)
    asm.add("b", 1 * PERIOD + 0.001, "b1-better", now=0.2)
    assert asm.duplicates == 1
    for cam in "cd":
        asm.add(cam, 1 * PERIOD, f"{cam}1", now=0.2)
    out = asm.poll(0.21)
    assert [fs.stamp for fs in out] == [1 * PERIOD]
    assert out[0].items["b"] == "b1-better"
    # Closing a newer complete set also closes the older ones, oldest first.
    asm.add("a", 3 * PERIOD, "a3", now=0.3)
    for cam in "bcd":
        asm.add(cam, 3 * PERIOD, f"{cam}3", now=0.3)
    out = asm.poll(0.3)
    assert [round(fs.stamp / PERIOD) for fs in out] == [2, 3]
    assert not out[0].complete and out[1].complete


def test_stamps_from_messages() -> None:
    assert stamp_to_sec(SimpleNamespace(sec=12, nanosec=500_000_000)) == pytest.approx(12.5)
    assert stamp_to_sec(SimpleNamespace(nanoseconds=1_250_000_000)) == pytest.approx(1.25)
    asm = FrameSetAssembler(["a"], PERIOD, 0.05)
    asm.add("a", SimpleNamespace(sec=1, nanosec=0), "x")
    (fs,) = asm.poll(1.0)
    assert fs.stamp == 1.0 and fs.complete
    with pytest.raises(KeyError):
        asm.add("zz", 1.0, "x")


def test_clock_jump_back_restarts_instead_of_dropping_everything() -> None:
    asm = FrameSetAssembler(CAMS, PERIOD, max_wait=0.05)
    for i in range(5):
        feed(asm, 100.0 + i * PERIOD, CAMS)
        asm.poll(100.0 + i * PERIOD + 0.011)
    out = []
    for i in range(5):  # the replay restarts at t = 0
        feed(asm, i * PERIOD, CAMS)
        out += asm.poll(i * PERIOD + 0.011)
    assert asm.resets == 1
    assert len(out) == 5 and all(fs.complete for fs in out)
    assert sum(asm.late.values()) == 0
