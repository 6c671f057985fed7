"""Host monotonic stamps -> ROS time, from one consistent clock snapshot, monotonic per stream.

The hub drivers stamp samples on the host's monotonic clock (``HubClock`` in serial_hub.py:
immune to wall-clock steps) and publish them on the node's ROS clock, which is the wall clock or
follows /clock with sim time. The mapping is ``ros = snapshot.ros + (mono - snapshot.mono)``
for a *snapshot*: a pair of readings of the two clocks taken at the same instant.

Reading the two clocks one after the other, each where it is needed, is not a snapshot: a
reader thread preempted between the two reads (a loaded machine, the GIL) pairs a ROS time
with a monotonic time read later, and the stamp comes out early by the delay - later samples
then get stamps before earlier ones. ``take_snapshot`` brackets the ROS read between two
monotonic reads, keeps the tightest of a few tries and uses the bracket's midpoint, so the pair
is consistent to a few microseconds, and a batch of samples is mapped with one snapshot.

What is left - the sim clock advancing in /clock steps, ``HubClock`` re-synchronising after a
stall - can still move a stamp back by a little; ``StampMapper`` clamps each stream (a hub, a
sensor channel) so its published stamps strictly increase, counting the clamps. Only a real jump
back of the ROS clock itself (sim time restarted, the wall clock stepped), seen as the
ROS-minus-monotonic offset falling by more than ``reset_s``, restarts a stream's history.

Pure Python, no ROS: the node passes its clock in as a function returning nanoseconds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass

NS = 1_000_000_000


@dataclass(frozen=True)
class ClockSnapshot:
    """The ROS clock and the monotonic clock read at (as near as can be seen) one instant."""

    ros_ns: int          # the node's clock, nanoseconds
    mono_s: float        # time.monotonic() at the same instant
    spread_s: float = 0.0  # half the width of the monotonic bracket around the ROS read

    @property
    def offset_ns(self) -> int:
        """ROS time minus monotonic time (constant while neither clock jumps)."""
        return self.ros_ns - round(self.mono_s * NS)

    def to_ros_ns(self, mono_s: float) -> int:
        """A monotonic stamp as ROS-time nanoseconds."""
        return self.ros_ns + round((mono_s - self.mono_s) * NS)


def take_snapshot(ros_now_ns: Callable[[], int], mono_now: Callable[[], float], *,
                  tries: int = 3, good_s: float = 50e-6) -> ClockSnapshot:
    """Read both clocks as one snapshot: ``mono, ros, mono``, the tightest of ``tries``.

    A try whose bracket is within ``good_s`` is taken at once; a thread preempted inside the
    bracket widens it and that try loses to the next.
    """
    best: ClockSnapshot | None = None
    for _ in range(max(1, tries)):
        before = mono_now()
        ros = ros_now_ns()
        after = mono_now()
        snap = ClockSnapshot(ros, 0.5 * (before + after), 0.5 * (after - before))
        if best is None or snap.spread_s < best.spread_s:
            best = snap
        if best.spread_s <= good_s:
            break
    assert best is not None
    return best


@dataclass
class _Stream:
    last_ns: int
    offset_ns: int


class StampMapper:
    """Maps monotonic stamps to ROS nanoseconds that strictly increase within a stream.

    ``stamp(key, mono_s, snapshot)`` -> ``max(snapshot.to_ros_ns(mono_s), last of key + 1)``.
    Thread-safe (a hub's reader thread and the node's timers share a stream).
    """

    def __init__(self, reset_s: float = 1.0) -> None:
        self._reset_ns = round(reset_s * NS)
        self._streams: dict[Hashable, _Stream] = {}
        self._lock = threading.Lock()
        self.clamped = 0      # stamps raised to just after their stream's previous stamp
        self.resets = 0       # steps back let through because the ROS clock jumped back

    def stamp(self, key: Hashable, mono_s: float, snapshot: ClockSnapshot) -> int:
        ns = snapshot.to_ros_ns(mono_s)
        offset = snapshot.offset_ns
        with self._lock:
            stream = self._streams.get(key)
            if stream is None:
                self._streams[key] = _Stream(ns, offset)
                return ns
            if ns <= stream.last_ns:
                if offset < stream.offset_ns - self._reset_ns:
                    self.resets += 1  # the ROS clock itself went back: a new time line
                else:
                    # 1 ns after the previous one: consumers drop a repeated stamp as out of
                    # order (shelf_events did, for the first frames of a hub whose clock
                    # offset was still settling)
                    self.clamped += 1
                    ns = stream.last_ns + 1
            stream.last_ns, stream.offset_ns = ns, offset
            return ns

    def now(self, key: Hashable, snapshot: ClockSnapshot) -> int:
        """The snapshot's instant as a stamp of ``key`` (e.g. a message about silence)."""
        return self.stamp(key, snapshot.mono_s, snapshot)
