"""Monotonic host stamps -> ROS time: one consistent clock snapshot, non-decreasing per stream.

Pure logic (stamping.py), no ROS: the clocks are scripted. ``Clocks`` plays a machine whose
ROS clock runs ``OFFSET`` ahead of the monotonic clock; every read advances true time a little,
and a scheduled *preemption* makes one read happen late, as a reader thread descheduled between
two clock reads would.
"""

from __future__ import annotations

import itertools
import random

import pytest

from smart_store.drivers.stamping import NS, ClockSnapshot, StampMapper, take_snapshot

OFFSET_NS = 1_700_000_000 * NS - 5 * NS   # ROS (wall) time minus monotonic time


class Clocks:
    def __init__(self, t0: float = 100.0, step: float = 1e-6) -> None:
        self.t, self.step = t0, step
        self.reads = 0
        self.preempt: dict[int, float] = {}   # read number -> seconds lost before it

    def _tick(self) -> float:
        self.t += self.step + self.preempt.pop(self.reads, 0.0)
        self.reads += 1
        return self.t

    def mono(self) -> float:
        return self._tick()

    def ros_ns(self) -> int:
        return round(self._tick() * NS) + OFFSET_NS


def old_ros_time_ns(clocks: Clocks, mono_s: float) -> int:
    """What HubDriverNode.ros_time did: ROS clock now, then the monotonic clock separately."""
    now_ns = clocks.ros_ns()
    return now_ns - round((clocks.mono() - mono_s) * NS)


def test_separate_clock_reads_put_a_preempted_stamp_before_an_earlier_one() -> None:
    """The defect: preempted between its two reads, the old mapping stamps 20 ms early."""
    clocks = Clocks()
    first = old_ros_time_ns(clocks, 99.990)
    clocks.preempt[clocks.reads + 1] = 0.020     # descheduled between the ROS and mono reads
    second = old_ros_time_ns(clocks, 99.995)      # a sample 5 ms after the first
    assert second < first


def test_snapshot_keeps_the_tightest_bracket_and_maps_exactly() -> None:
    clocks = Clocks()
    clocks.preempt[1] = 0.020   # the first try is preempted between its mono and ROS reads
    snap = take_snapshot(clocks.ros_ns, clocks.mono)
    assert snap.spread_s < 1e-5
    assert abs(snap.offset_ns - OFFSET_NS) < 2_000     # consistent to the microsecond
    stamps = [snap.to_ros_ns(m) for m in (99.990, 99.995)]
    assert stamps[0] < stamps[1]
    assert abs(stamps[1] - (round(99.995 * NS) + OFFSET_NS)) < 2_000


def test_snapshot_takes_one_try_when_it_is_tight_and_three_at_most() -> None:
    clocks = Clocks()
    take_snapshot(clocks.ros_ns, clocks.mono)
    assert clocks.reads == 3
    slow = Clocks(step=1e-3)   # every bracket is wide: all tries, the best one wins
    snap = take_snapshot(slow.ros_ns, slow.mono, tries=3)
    assert slow.reads == 9 and snap.spread_s == pytest.approx(1e-3)
    assert abs(snap.offset_ns - OFFSET_NS) < 1_000


def test_snapshot_mapping_is_exact_in_nanoseconds() -> None:
    snap = ClockSnapshot(ros_ns=OFFSET_NS + 200 * NS, mono_s=200.0)
    assert snap.offset_ns == OFFSET_NS
    assert snap.to_ros_ns(199.5) == OFFSET_NS + 199 * NS + NS // 2
    assert snap.to_ros_ns(200.000_001) == OFFSET_NS + 200 * NS + 1_000


def test_stamps_never_decrease_per_stream_under_load() -> None:
    """Jittery snapshots (sim time in /clock steps, preempted threads) and stamps that step
    back (HubClock re-synchronising): every stream's stamps are non-decreasing, and a stream
    never holds another back."""
    rng = random.Random(7)
    mapper = StampMapper()
    out: dict[str, list[int]] = {'hub_a': [], 'hub_b': []}
    mono = {'hub_a': 10.0, 'hub_b': 50.0}          # hub_b's stamps run 40 s ahead
    for _ in range(2000):
        key = rng.choice(list(out))
        mono[key] += rng.uniform(-0.004, 0.0125)     # mostly forward, sometimes back
        jitter = rng.randint(-5_000_000, 5_000_000)  # +-5 ms of clock snapshot error
        now = mono[key] + 0.01
        snap = ClockSnapshot(round(now * NS) + OFFSET_NS + jitter, now)
        out[key].append(mapper.stamp(key, mono[key], snap))
    for stamps in out.values():   # strictly: a repeated stamp reads as out of order
        assert all(b > a for a, b in itertools.pairwise(stamps))
    assert mapper.clamped > 0 and mapper.resets == 0
    assert min(out['hub_b']) > max(out['hub_a'])  # independent streams


def test_in_order_stamps_pass_unchanged() -> None:
    mapper = StampMapper()
    snap = ClockSnapshot(ros_ns=OFFSET_NS + 100 * NS, mono_s=100.0)
    got = [mapper.stamp(('hub', 3), 99.0 + i * 0.02, snap) for i in range(10)]
    assert got == [snap.to_ros_ns(99.0 + i * 0.02) for i in range(10)]
    assert mapper.clamped == 0
    assert mapper.now(('hub', 3), snap) == snap.ros_ns


def test_a_ros_clock_jump_back_starts_a_new_time_line() -> None:
    """Sim time restarted (a bag looped) or the wall clock stepped back: the stream follows
    the clock instead of pinning every later stamp to the old time line."""
    mapper = StampMapper(reset_s=1.0)
    before = ClockSnapshot(ros_ns=OFFSET_NS + 100 * NS, mono_s=100.0)
    after = ClockSnapshot(ros_ns=OFFSET_NS + 90 * NS, mono_s=100.5)  # clock went back 10.5 s
    a = mapper.stamp('hub', 99.99, before)
    b = mapper.stamp('hub', 100.49, after)
    c = mapper.stamp('hub', 100.50, after)
    assert b < a and c > b
    assert (mapper.resets, mapper.clamped) == (1, 0)
    # a small step back of the ROS clock (a /clock tick late) is clamped, not a new time line
    late = ClockSnapshot(ros_ns=after.ros_ns - NS // 10, mono_s=100.51)
    assert mapper.stamp('hub', 100.51, late) == c + 1   # just after: never a repeat
    assert (mapper.resets, mapper.clamped) == (1, 1)
