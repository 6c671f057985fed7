"""A small, ROS-free stand-in for ``message_filters.SimpleFilter`` and ``message_filters.Cache``.

The tracker node keeps a short history of each camera's detections and looks frames up by
stamp. On a ROS 2 install that is ``message_filters.Cache``; this module offers the same call
shape without rclpy so that the pure-Python stages and their tests run anywhere:

* ``SimpleFilter``: ``registerCallback(cb, *args) -> connection``, ``signalMessage(*msg)``
  calls every ``cb(*msg, *args)`` in registration order.
* ``Cache(f, cache_size=1, allow_headerless=False)``: ``f`` is an input filter (anything with
  ``registerCallback``) or ``None``; ``add(msg)`` stores a message with ``msg.header.stamp``
  (``sec`` / ``nanosec``), keeps the newest ``cache_size`` and passes the message on to its
  own callbacks. Queries, as documented for ROS 2 ``message_filters``:

  - ``getInterval(from_stamp, to_stamp)``: messages with ``from <= stamp <= to`` (both ends
    inclusive), oldest first; ``from_stamp <= to_stamp`` is asserted;
  - ``getElemAfterTime(stamp)``: the *oldest* message with stamp ``>= stamp``, else ``None``;
  - ``getElemBeforeTime(stamp)``: the *newest* message with stamp ``<= stamp``, else ``None``;
  - ``getLastestTime()`` (the ROS 2 spelling; ``getLatestTime`` is an alias) and
    ``getOldestTime()``: stamps, ``None`` when empty;
  - ``getLast()``: ``getElemAfterTime(getLastestTime())`` - the newest message.

  A message without ``header.stamp`` is refused (with a warning) unless ``allow_headerless``,
  in which case it is stored with the current time of ``clock`` (default: system time, what
  ROS time is without simulation).

Differences from the real ``Cache``: stamps are returned as ``Stamp`` (integer nanoseconds,
comparable with ``Stamp``, ``rclpy.time.Time``-likes, ``builtin_interfaces/Time``-likes and
float seconds) instead of ``rclpy.time.Time``; query arguments may be any of those. Messages are
kept sorted by stamp (an out-of-order arrival is inserted in place; with equal stamps, arrival
order), so the ring buffer always drops the *oldest stamp* - for in-order streams this is
exactly the real behaviour.

``import_cache()`` returns the real ``message_filters.Cache`` when it is importable (which
imports rclpy - call it from a ROS node only) and this stand-in otherwise.
"""

from __future__ import annotations

import bisect
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Cache", "SimpleFilter", "Stamp", "import_cache", "to_nanoseconds"]

_LOG = logging.getLogger("message_filters_cache")


def to_nanoseconds(stamp: Any) -> int:
    """Integer nanoseconds from a ``Stamp``, an ``rclpy.time.Time``-like (``nanoseconds``), a
    ``builtin_interfaces/Time``-like (``sec``, ``nanosec``) or float / int seconds."""
    if isinstance(stamp, Stamp):
        return stamp.nanoseconds
    ns = getattr(stamp, "nanoseconds", None)
    if ns is not None:
        return int(ns)
    if isinstance(stamp, bool):
        raise TypeError("a bool is not a time stamp")
    if isinstance(stamp, int | float):
        return round(float(stamp) * 1e9)
    if hasattr(stamp, "sec") and hasattr(stamp, "nanosec"):
        return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)
    raise TypeError(f"cannot read a time stamp from {type(stamp).__name__}")


@functools.total_ordering
class Stamp:
    """An immutable time point in integer nanoseconds (the stand-in for ``rclpy.time.Time``)."""

    __slots__ = ("_ns",)

    def __init__(self, nanoseconds: int = 0) -> None:
        self._ns = int(nanoseconds)

    @classmethod
    def of(cls, stamp: Any) -> Stamp:
        """Convert anything ``to_nanoseconds`` reads."""
        return stamp if isinstance(stamp, Stamp) else cls(to_nanoseconds(stamp))

    @property
    def nanoseconds(self) -> int:
        return self._ns

    @property
    def sec(self) -> int:
        return self._ns // 1_000_000_000

    @property
    def nanosec(self) -> int:
        return self._ns % 1_000_000_000

    def seconds_nanoseconds(self) -> tuple[int, int]:
        """``(sec, nanosec)`` like ``rclpy.time.Time.seconds_nanoseconds``."""
        return self.sec, self.nanosec

    def to_sec(self) -> float:
        return self._ns * 1e-9

    def __eq__(self, other: object) -> bool:
        try:
            return self._ns == to_nanoseconds(other)
        except TypeError:
            return NotImplemented

    def __lt__(self, other: object) -> bool:
        try:
            return self._ns < to_nanoseconds(other)
        except TypeError:
            return NotImplemented

    def __hash__(self) -> int:
        return hash(self._ns)

    def __repr__(self) -> str:
        return f"Stamp(sec={self.sec}, nanosec={self.nanosec})"


class SimpleFilter:
    """Base of message filters: a list of output callbacks."""

    def __init__(self) -> None:
        self.callbacks: dict[int, tuple[Callable[..., Any], tuple[Any, ...]]] = {}

    def registerCallback(self, cb: Callable[..., Any], *args: Any) -> int:  # noqa: N802
        """Call ``cb(*msg, *args)`` for every output; returns a connection id."""
        conn = len(self.callbacks)
        while conn in self.callbacks:
            conn += 1
        self.callbacks[conn] = (cb, args)
        return conn

    def signalMessage(self, *msg: Any) -> None:  # noqa: N802
        """Pass ``msg`` to every registered callback, in registration order."""
        for cb, args in list(self.callbacks.values()):
            cb(*(msg + args))


class Cache(SimpleFilter):
    """Time history of the newest ``cache_size`` messages (see the module docstring).

    Args:
        f: Input filter to connect (``f.registerCallback(self.add)``), or ``None`` to feed the
            cache with ``add`` directly.
        cache_size: How many messages to keep (>= 1).
        allow_headerless: Store messages without ``header.stamp`` with the current time.
        clock: Seconds-returning clock for headerless messages (default ``time.time``).
    """

    def __init__(
        self,
        f: Any = None,
        cache_size: int = 1,
        allow_headerless: bool = False,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__()
        if int(cache_size) < 1:
            raise ValueError("cache_size must be >= 1")
        self.cache_size = int(cache_size)
        self.allow_headerless = bool(allow_headerless)
        self._clock = clock or time.time
        self.cache_msgs: list[Any] = []
        self.cache_times: list[Stamp] = []
        self.incoming_connection: int | None = None
        if f is not None:
            self.connectInput(f)

    def connectInput(self, f: Any) -> None:  # noqa: N802
        """Receive the output of filter ``f``."""
        self.incoming_connection = f.registerCallback(self.add)

    def add(self, msg: Any) -> None:
        """Store ``msg`` by its header stamp and signal it to this cache's callbacks."""
        header = getattr(msg, "header", None)
        raw = getattr(header, "stamp", None) if header is not None else None
        if raw is None:
            if not self.allow_headerless:
                _LOG.warning(
                    "can not use message filters messages without timestamp information when "
                    "'allow_headerless' is disabled; enable it to stamp them with the current "
                    "time"
                )
                return
            stamp = Stamp.of(self._clock())
        else:
            stamp = Stamp.of(raw)
        pos = bisect.bisect_right(self.cache_times, stamp)
        self.cache_times.insert(pos, stamp)
        self.cache_msgs.insert(pos, msg)
        while len(self.cache_msgs) > self.cache_size:
            del self.cache_msgs[0]
            del self.cache_times[0]
        self.signalMessage(msg)

    def getInterval(self, from_stamp: Any, to_stamp: Any) -> list[Any]:  # noqa: N802
        """Messages with ``from_stamp <= stamp <= to_stamp``, oldest first."""
        lo, hi = to_nanoseconds(from_stamp), to_nanoseconds(to_stamp)
        assert lo <= hi, "from_stamp must not be after to_stamp"
        a = bisect.bisect_left(self.cache_times, Stamp(lo))
        b = bisect.bisect_right(self.cache_times, Stamp(hi))
        return self.cache_msgs[a:b]

    def getElemAfterTime(self, stamp: Any) -> Any | None:  # noqa: N802
        """The oldest message with a stamp at or after ``stamp``; ``None`` if there is none."""
        k = bisect.bisect_left(self.cache_times, Stamp.of(stamp))
        return self.cache_msgs[k] if k < len(self.cache_msgs) else None

    def getElemBeforeTime(self, stamp: Any) -> Any | None:  # noqa: N802
        """The newest message with a stamp at or before ``stamp``; ``None`` if there is none."""
        k = bisect.bisect_right(self.cache_times, Stamp.of(stamp))
        return self.cache_msgs[k - 1] if k > 0 else None

    def getLastestTime(self) -> Stamp | None:  # noqa: N802 - ROS 2 spelling, kept on purpose
        """The newest stamp; ``None`` when empty."""
        return self.cache_times[-1] if self.cache_times else None

    def getLatestTime(self) -> Stamp | None:  # noqa: N802
        """Alias of ``getLastestTime`` (the corrected spelling of newer releases)."""
        return self.getLastestTime()

    def getOldestTime(self) -> Stamp | None:  # noqa: N802
        """The oldest stamp; ``None`` when empty."""
        return self.cache_times[0] if self.cache_times else None

    def getLast(self) -> Any | None:  # noqa: N802
        """The newest message (``getElemAfterTime(getLastestTime())``); ``None`` when empty."""
        latest = self.getLastestTime()
        return None if latest is None else self.getElemAfterTime(latest)


def import_cache() -> type:
    """``message_filters.Cache`` if importable (imports rclpy), else this module's ``Cache``."""
    try:
        from message_filters import Cache as RealCache  # noqa: PLC0415 - optional, ROS only
    except ImportError:
        return Cache
    return RealCache
