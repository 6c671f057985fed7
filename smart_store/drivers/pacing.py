"""Pacing recorded camera frames (files, image folders) on a clock that may be simulated.

Without ROS: the camera node asks :class:`FramePacer` how long the next frame still has to
wait, on whichever clock it paces by: the wall clock, or the node clock when it runs on sim
time (``use_sim_time``), so that a video follows a replay's ``/clock``: faster at ``--rate 2``,
stopped while the clock is paused, restarted when the clock goes back (a looped bag).
"""

from __future__ import annotations

__all__ = ['FramePacer']


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
