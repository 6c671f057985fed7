"""Pacing recorded camera frames (files, image folders) on a clock that may be simulated.

Without ROS: the camera node asks :class:`FramePacer` how long the next frame still has to
wait, on whichever clock it paces by: the wall clock, or the node clock when it runs on sim
time (``use_sim_time``), so that a video follows a replay's ``/clock``: faster at ``--rate 2``,
stopped while the clock is paused, restarted when the clock goes back (a looped bag).
"""

from __future__ import annotations

__all__ = ['FramePacer', 'RateCap']


class FramePacer:
    """Frame k is due ``k * period`` after the first one, on the caller's clock.

    A clock that goes back (a bag starting over) re-anchors the sequence at the new time; one
    that runs more than ``period`` ahead of the schedule (a stall, a jump forward) resynchronises
    to the present instead of publishing a burst of stale frames.
    """

    def __init__(self, period: float) -> None:
        if not period > 0.0:
            raise ValueError(f'period must be > 0 s, got {period!r}')
        self.period = float(period)
        self._next: float | None = None
        self._last: float | None = None
        self.resyncs = 0          # times the schedule was re-anchored (clock back or far ahead)

    def due_in(self, now: float) -> float:
        """Seconds (on the pacing clock) until the next frame may be published; 0 = now."""
        if self._next is None:
            self._next = now
        elif self._last is not None and now < self._last:
            self._next = now      # the clock went back: start the sequence again
            self.resyncs += 1
        return max(0.0, self._next - now)

    def published(self, now: float) -> None:
        """A frame went out at ``now``: schedule the next one."""
        assert self._next is not None, 'due_in() first'
        self._last = now
        self._next += self.period
        if self._next < now - self.period:
            self._next = now + self.period  # far behind the schedule: no burst to catch up
            self.resyncs += 1


class RateCap:
    """The fps cap of a live source (device, stream): at most one frame per ``period`` on
    average, without dropping frames of a camera that runs at the cap with jitter.

    A frame passes when it comes no earlier than half a period before its slot; the next slot
    is one period after the previous slot (not after the frame), so a late frame followed by an
    early one both pass, while a source twice as fast as the cap loses every other frame. A
    source that pauses longer than a period starts a fresh schedule (no burst allowance is
    saved up).
    """

    def __init__(self, period: float, tolerance: float = 0.5) -> None:
        if not period > 0.0:
            raise ValueError(f'period must be > 0 s, got {period!r}')
        if not 0.0 <= tolerance < 1.0:
            raise ValueError(f'tolerance must be in [0, 1), got {tolerance!r}')
        self.period = float(period)
        self.tolerance = float(tolerance)
        self._slot: float | None = None
        self.capped = 0           # frames dropped by the cap

    def admit(self, now: float) -> bool:
        """Whether a frame that arrived at ``now`` (monotonic s) is published."""
        if self._slot is not None and now < self._slot - self.tolerance * self.period:
            self.capped += 1
            return False
        if self._slot is None or now > self._slot + self.period:
            self._slot = now      # first frame, or after a pause: a fresh schedule
        self._slot += self.period
        return True
