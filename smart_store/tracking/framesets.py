"""Group camera frames into frame sets by header stamp, with a bounded wait.

The tracker fuses *frame sets*: the frames (or the detections computed from them) that the
cameras took at about the same instant. ``message_filters.ApproximateTimeSynchronizer`` is the
usual tool, but it only emits when *every* input has a message within the slop - when one
camera stops (cable, crash, overload) the whole store goes blind. ``FrameSetAssembler`` never
lets one camera stall the output:

* A frame joins the open set whose reference stamp is within ``tolerance`` (default half a
  period) of its own stamp, else it opens a new set (its stamp becomes the reference).
* A set **closes** when every *live* camera has delivered a frame to it, or when ``max_wait``
  has passed since its first frame arrived - whichever comes first.
* A camera is **live** until it has delivered nothing for ``dead_after`` (stamp time, relative
  to the newest stamp seen from any camera); a dead camera is not waited for until it delivers
  again. A camera whose frames keep arriving after their set closed (``lag_limit`` times in a
  row) counts as **lagging** and is not waited for either, until one of its frames arrives in
  time again. So a stopped camera costs at most ``dead_after`` of ``max_wait`` delays, and a
  lagging one ``lag_limit`` of them.
* Frames arriving after their set closed (stamp at or before the newest closed set, give or
  take the tolerance) are **late**: counted per camera and dropped, never re-opening a set.
* Sets are emitted in stamp order: closing a set also closes every older open set.
* A frame stamped more than ``resync`` before the newest closed set means the clock jumped back
  (a replay restarted, simulation reset) rather than a late frame: the assembler forgets its
  timeline (open sets are discarded, counted in ``resets``) and starts over, so one bogus
  stamp cannot make every later frame "late".

Times are seconds (float). ``add(..., now=...)`` takes the arrival time on the clock that
``poll(now)`` uses; without it the frame's stamp stands in for its arrival time (fine when the
stamps and ``now`` come from one clock, e.g. simulation time).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FrameSet", "FrameSetAssembler", "stamp_to_sec"]


def stamp_to_sec(stamp: Any) -> float:
    """Seconds from a float, a ``builtin_interfaces/Time``-like (``sec``, ``nanosec``) or an
    ``rclpy.time.Time``-like (``nanoseconds``) object."""
    if isinstance(stamp, int | float):
        return float(stamp)
    ns = getattr(stamp, "nanoseconds", None)
    if ns is not None:
        return float(ns) * 1e-9
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9


@dataclass(eq=False)
class FrameSet:
    """The frames of (about) one instant.

    Attributes:
        stamp: Reference stamp (s): the stamp of the set's first frame.
        items: Camera id -> item (whatever was passed to ``add``).
        stamps: Camera id -> that frame's own stamp.
        complete: True if every camera that was live when the set closed delivered.
        missing: Live cameras that did not deliver (empty when ``complete``).
        opened_at: Arrival time of the first frame.
        closed_at: ``now`` of the ``poll`` that closed the set.
    """

    stamp: float
    items: dict[str, Any] = field(default_factory=dict)
    stamps: dict[str, float] = field(default_factory=dict)
    complete: bool = False
    missing: tuple[str, ...] = ()
    opened_at: float = 0.0
    closed_at: float = 0.0


class FrameSetAssembler:
    """Assemble frame sets from per-camera frames with a bounded wait (see module docstring).

    Args:
        camera_ids: The cameras expected.
        period: Nominal frame period (s), e.g. ``1 / fps``.
        max_wait: Longest time (s) a set stays open after its first frame arrived.
        tolerance: Largest stamp difference (s) of a frame to its set's reference stamp;
            default ``period / 2``.
        dead_after: Stamp time (s) without a frame after which a camera is dead; default
            ``max(5 * period, 2 * max_wait)``.
        lag_limit: Consecutive late frames after which a camera counts as lagging.
        max_open: Most sets kept open at once (the oldest is closed beyond that).
        resync: A stamp this far (s) behind the newest closed set restarts the timeline;
            default ``max(1.0, 10 * period)``.
    """

    def __init__(
        self,
        camera_ids: Iterable[str],
        period: float,
        max_wait: float,
        *,
        tolerance: float | None = None,
        dead_after: float | None = None,
        lag_limit: int = 3,
        max_open: int = 16,
        resync: float | None = None,
    ) -> None:
        self.camera_ids: tuple[str, ...] = tuple(camera_ids)
        if not self.camera_ids:
            raise ValueError("FrameSetAssembler needs at least one camera")
        if period <= 0.0 or max_wait < 0.0:
            raise ValueError("period must be > 0 and max_wait >= 0")
        self.period = float(period)
        self.max_wait = float(max_wait)
        self.tolerance = 0.5 * self.period if tolerance is None else float(tolerance)
        self.dead_after = (
            max(5.0 * self.period, 2.0 * self.max_wait) if dead_after is None else float(dead_after)
        )
        self.lag_limit = int(lag_limit)
        self.max_open = int(max_open)
        self.resync = max(1.0, 10.0 * self.period) if resync is None else float(resync)
        self._open: list[FrameSet] = []  # sorted by stamp
        self._ready: list[FrameSet] = []
        self._last_closed: float | None = None
        self._last_stamp: dict[str, float | None] = dict.fromkeys(self.camera_ids)
        self._late_run: dict[str, int] = dict.fromkeys(self.camera_ids, 0)
        self._newest: float | None = None
        self._first_stamp = 0.0
        #: Frames dropped because their set had already closed, per camera.
        self.late: dict[str, int] = dict.fromkeys(self.camera_ids, 0)
        #: Second frames of one camera for one set (the one nearer the reference is kept).
        self.duplicates = 0
        #: Sets closed complete / closed by the wait limit.
        self.completed = 0
        self.timed_out = 0
        #: Timeline restarts (clock jumped back) and the open sets discarded by them.
        self.resets = 0
        self.discarded = 0

    def _restart(self) -> None:
        self.resets += 1
        self.discarded += len(self._open)
        self._open = []
        self._last_closed = None
        self._newest = None
        self._last_stamp = dict.fromkeys(self.camera_ids)
        self._late_run = dict.fromkeys(self.camera_ids, 0)

    # ------------------------------------------------------------------ camera health
    def live_cameras(self) -> tuple[str, ...]:
        """Cameras currently waited for: not dead and not lagging."""
        return tuple(c for c in self.camera_ids if self._is_live(c))

    def _is_live(self, cam: str) -> bool:
        if self._late_run[cam] >= self.lag_limit:
            return False
        if self._newest is None:
            return True
        last = self._last_stamp[cam]
        # A camera never heard from counts from the first frame of any camera.
        ref = self._first_stamp if last is None else last
        return self._newest - ref <= self.dead_after

    # ------------------------------------------------------------------ input
    def add(self, camera_id: str, stamp: Any, item: Any, now: float | None = None) -> bool:
        """Offer one frame. Returns False if it was dropped as late (or as a worse duplicate).

        Raises:
            KeyError: for a camera id not given to the constructor.
        """
        if camera_id not in self._late_run:
            raise KeyError(f"unknown camera id {camera_id!r}")
        s = stamp_to_sec(stamp)
        arrival = s if now is None else float(now)
        if self._last_closed is not None and s < self._last_closed - self.resync:
            self._restart()
        if self._newest is None:
            self._first_stamp = s
        if self._last_closed is not None and s <= self._last_closed + self.tolerance:
            self.late[camera_id] += 1
            self._late_run[camera_id] += 1
            return False
        self._late_run[camera_id] = 0
        prev = self._last_stamp[camera_id]
        self._last_stamp[camera_id] = s if prev is None else max(prev, s)
        self._newest = s if self._newest is None else max(self._newest, s)
        best: FrameSet | None = None
        for fs in self._open:
            d = abs(fs.stamp - s)
            if d <= self.tolerance and (best is None or d < abs(best.stamp - s)):
                best = fs
        if best is None:
            best = FrameSet(stamp=s, opened_at=arrival)
            self._open.append(best)
            self._open.sort(key=lambda f: f.stamp)
            while len(self._open) > self.max_open:
                self._close(self._open[0], arrival)
        elif camera_id in best.items:
            self.duplicates += 1
            if abs(best.stamps[camera_id] - best.stamp) <= abs(s - best.stamp):
                return False
        best.items[camera_id] = item
        best.stamps[camera_id] = s
        return True

    # ------------------------------------------------------------------ output
    def _close(self, fs: FrameSet, now: float) -> None:
        live = self.live_cameras()
        fs.missing = tuple(c for c in live if c not in fs.items)
        fs.complete = not fs.missing
        fs.closed_at = now
        if fs.complete:
            self.completed += 1
        else:
            self.timed_out += 1
        self._open.remove(fs)
        self._ready.append(fs)
        self._last_closed = (
            fs.stamp if self._last_closed is None else max(self._last_closed, fs.stamp)
        )

    def poll(self, now: float) -> list[FrameSet]:
        """Close and return (oldest first) the sets that are complete or waited ``max_wait``.

        A complete or expired set also closes every older open set, so output is in stamp
        order and never goes back in time.
        """
        live = set(self.live_cameras())
        last_due = -1
        for k, fs in enumerate(self._open):
            if live.issubset(fs.items) or now - fs.opened_at >= self.max_wait:
                last_due = k
        for fs in list(self._open[: last_due + 1]):
            self._close(fs, now)
        out, self._ready = self._ready, []
        return out

    def flush(self, now: float) -> list[FrameSet]:
        """Close every open set (e.g. at shutdown) and return all pending sets."""
        for fs in list(self._open):
            self._close(fs, now)
        out, self._ready = self._ready, []
        return out

    @property
    def open_sets(self) -> int:
        """Number of sets currently open."""
        return len(self._open)
