"""Input validation for node subscriptions: a malformed message is dropped and counted with a
logged warning, never a traceback (the product standard; ``./smart-store drill --kinds
malformed`` checks it).

:meth:`InputGuard.subscribe` subscribes *raw* and refuses a message above ``max_bytes`` before
deserialising it (deserialising 100 000 lanes or 10 000 tracks would hold a node for seconds
while its queues overflow); a callback rejects a message it finds malformed by raising
:class:`Malformed`. Warnings are throttled per topic and reason (wall clock), each naming how many
were dropped since the last one; ``InputGuard.dropped`` keeps the totals.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.serialization import deserialize_message
from rclpy.subscription import Subscription

__all__ = ['TRACK_STATES', 'InputGuard', 'Malformed', 'finite', 'track_problem']


class Malformed(ValueError):  # noqa: N818 - reads as "raise Malformed(reason)"
    """Raised by a callback for a message it will not use."""

    def __init__(self, reason: str, detail: str = '') -> None:
        super().__init__(f'{reason}: {detail}' if detail else reason)
        self.reason, self.detail = reason, detail


def finite(*values: float) -> bool:
    """True when every value is a finite number."""
    return all(math.isfinite(float(v)) for v in values)


class InputGuard:
    """Validating subscriptions of one node, with drop counters and throttled warnings."""

    def __init__(self, node: Node, warn_period: float = 5.0) -> None:
        self.node = node
        self.warn_period = warn_period
        self.dropped: Counter[tuple[str, str]] = Counter()
        self._unreported: Counter[tuple[str, str]] = Counter()
        self._last_warn: dict[tuple[str, str], float] = {}
        self._detail: dict[tuple[str, str], str] = {}

    def subscribe(self, msg_type: Any, topic: str, callback: Callable[[Any], None],
                  qos: QoSProfile, *, max_bytes: int) -> Subscription:
        """Like ``node.create_subscription``; messages over ``max_bytes`` (serialised) and
        messages for which ``callback`` raises :class:`Malformed` are dropped and counted."""

        def on_raw(data: bytes) -> None:
            if len(data) > max_bytes:
                self.drop(topic, 'oversized', f'{len(data)} bytes, limit {max_bytes}')
                return
            try:
                msg = deserialize_message(data, msg_type)
            except Exception as err:  # noqa: BLE001 - undecodable bytes are input, not a bug
                self.drop(topic, 'undecodable', f'{type(err).__name__}: {err}')
                return
            try:
                callback(msg)
            except Malformed as err:
                self.drop(topic, err.reason, err.detail)

        return self.node.create_subscription(msg_type, topic, on_raw, qos, raw=True)

    def drop(self, topic: str, reason: str, detail: str = '', count: int = 1) -> None:
        """Count ``count`` dropped messages (or elements) and warn at most every
        ``warn_period`` seconds per (topic, reason)."""
        if count <= 0:
            return
        key = (topic, reason)
        self.dropped[key] += count
        self._unreported[key] += count
        self._detail[key] = detail
        now = time.monotonic()
        if now - self._last_warn.get(key, -math.inf) < self.warn_period:
            return
        self._last_warn[key] = now
        n = self._unreported.pop(key)
        self.node.get_logger().warning(
            f'dropped {n} on {topic}: {reason}' + (f' ({detail})' if detail else '')
            + f'; {self.dropped[key]} in all')

    def drop_counts(self, topic: str, reasons: Iterable[tuple[str, int]], detail: str = ''
                    ) -> None:
        """Several element-level drops of one message (e.g. lanes of one array)."""
        for reason, n in reasons:
            self.drop(topic, reason, detail, n)

    def usable_tracks(self, msg: Any, topic: str) -> list[Any]:
        """The tracks of a TrackArray that can be used; the others are dropped and counted
        by ``track_problem`` reason (one place for the three nodes that read tracks)."""
        bad: Counter[str] = Counter()
        good = []
        for track in msg.tracks:
            problem = track_problem(track)
            if problem:
                bad[problem] += 1
            else:
                good.append(track)
        if bad:
            self.drop_counts(topic, bad.items())
        return good

    def totals(self) -> dict[str, int]:
        """``topic: reason`` -> messages (or elements) dropped so far."""
        return {f'{t}: {r}': n for (t, r), n in sorted(self.dropped.items())}


#: Track.msg STATE_* codes.
TRACK_STATES = frozenset((0, 1, 2, 3))


def track_problem(track: Any) -> str:
    """Why a msg/Track.msg cannot be used ('' when it can): an invalid state code or a
    non-finite floor position."""
    if int(track.state) not in TRACK_STATES:
        return 'invalid track state'
    if not finite(track.position.x, track.position.y):
        return 'non-finite track position'
    return ''
