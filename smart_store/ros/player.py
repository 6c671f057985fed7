"""Publishing already-serialised messages in time order, like `ros2 bag play --clock`.

Used by `./smart-store replay` (messages from a bag) and `./smart-store sim --live` (messages
straight from the twin). Messages go out as CDR bytes through ordinary rclpy publishers, each
with the QoS its topic was recorded with, and /clock follows the message stamps.
"""

from __future__ import annotations

import importlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from rclpy.duration import Duration
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock

from smart_store.ros.qos import SENSOR, profile

# Reliable but volatile, shallow: every frame reaches a reliable subscriber, nothing is kept.
RELIABLE_IMAGES = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.VOLATILE)


# How long a refused write of a reliable topic is retried before it is dropped (s).
RELIABLE_RETRY_S = 2.0

# How long, at the end of a play, the reliable topics may take to be acknowledged (s).
DRAIN_S = 5.0


def ros_msg_class(typename: str) -> type:
    """``sensor_msgs/msg/Image`` -> the rclpy message class."""
    pkg, kind, name = typename.split('/')
    return getattr(importlib.import_module(f'{pkg}.{kind}'), name)


@dataclass
class PlayStats:
    published: int = 0
    skipped: int = 0
    late: int = 0            # messages published more than 50 ms after their due time
    # messages the middleware refused (topic -> count): a reliable writer whose history is
    # full of samples a starved reader has not acknowledged blocks, then fails the write
    failed: Counter[str] = field(default_factory=Counter)
    sim_start_ns: int = 0
    sim_end_ns: int = 0


class Player:
    """Paces serialised messages against the wall clock and publishes them."""

    def __init__(self, node: Node, topics: dict[str, tuple[str, str]], *, rate: float = 1.0,
                 clock: bool = True, clock_hz: float = 100.0,
                 reliable_images: bool = False,
                 sinks: Mapping[str, Callable[[int, bytes], None]] | None = None) -> None:
        """``sinks``: topics whose messages are not published but handed, at their due
        time, to ``sink(stamp_ns, data)`` (the live twin's camera streams: frames paced on the
        same time line as the published topics).

        ``reliable_images``: publish sensor_msgs/Image topics RELIABLE instead of their
        recorded best-effort QoS. Bursts of large images (every camera at one stamp) lose
        fragments over best effort; a reliable publisher still serves best-effort
        subscribers, and a subscriber that asks for reliability gets every frame."""
        if rate <= 0.0:
            raise ValueError('rate must be positive')
        self._node = node
        self._rate = rate
        self._pubs: dict[str, Publisher] = {}
        self._reliable: set[str] = set()  # recorded reliable (not images made reliable here)
        self._acked: set[str] = set()     # every reliable publisher, images included
        for topic, (typename, role) in topics.items():
            reliable = reliable_images and typename == 'sensor_msgs/msg/Image'
            qos: QoSProfile = RELIABLE_IMAGES if reliable else profile(role)
            self._pubs[topic] = node.create_publisher(ros_msg_class(typename), topic, qos)
            if qos.reliability == ReliabilityPolicy.RELIABLE:
                self._acked.add(topic)
                if not reliable:
                    self._reliable.add(topic)
        self._sinks: dict[str, Callable[[int, bytes], None]] = dict(sinks or {})
        self._clock_pub = node.create_publisher(Clock, '/clock', SENSOR) if clock else None
        self._clock_period_ns = int(1e9 / clock_hz)
        self.stats = PlayStats()

    def wait_for_subscribers(self, expected: dict[str, int], timeout: float,
                             spin: Callable[[], None] | None = None,
                             keep_going: Callable[[], bool] = lambda: True
                             ) -> dict[str, tuple[int, int]]:
        """Wait until each topic's publisher has matched ``expected[topic]`` subscriptions.

        Seeing a node in the graph does not mean its subscriptions have matched this player's
        publishers yet; whatever is published before they match is lost to a volatile
        subscriber (the billing node's entry scans, the shelf-events node's lane weights).
        Returns ``{topic: (matched, expected)}`` for the topics still short after ``timeout``
        s, or when ``keep_going()`` turns false (empty when all matched). ``/clock`` counts
        when this player publishes the clock; other topics it does not publish are ignored.
        """
        pubs = dict(self._pubs)
        if self._clock_pub is not None:
            pubs['/clock'] = self._clock_pub
        deadline = time.monotonic() + timeout
        while True:
            short = {t: (pubs[t].get_subscription_count(), n)
                     for t, n in expected.items()
                     if t in pubs and pubs[t].get_subscription_count() < n}
            if not short or time.monotonic() >= deadline or not keep_going():
                return short
            if spin is not None:
                spin()
            else:
                time.sleep(0.05)

    def _publish_clock(self, stamp_ns: int) -> None:
        if self._clock_pub is not None:
            msg = Clock()
            msg.clock.sec, msg.clock.nanosec = divmod(stamp_ns, 1_000_000_000)
            self._clock_pub.publish(msg)

    def _publish(self, pub: Publisher, topic: str, data: bytes) -> bool:
        """Publish, retrying a refused write; a message still refused is a counted, logged
        drop (never a traceback that ends the replay).

        A topic recorded reliable (events, state) is retried for up to ``RELIABLE_RETRY_S``:
        a reliable reader is owed every message, so the replay falls behind (the messages
        count as late) rather than lose one. Best-effort topics (images, ranges) get two
        retries: their readers expect losses and the newest sample matters more."""
        err: Exception | None = None
        reliable = topic in self._reliable
        deadline = time.monotonic() + (RELIABLE_RETRY_S if reliable else 0.0)
        attempt = 0
        while True:
            try:
                pub.publish(data)
                return True
            except _rclpy.RCLError as exc:  # the middleware refused the write
                if not self._node.context.ok():
                    raise  # shut down (Ctrl-C): the caller stops, this is no drop
                err = exc
            attempt += 1
            if attempt >= 3 and time.monotonic() >= deadline:
                break
            time.sleep(min(0.02 * attempt, 0.1))  # give the reader a moment to acknowledge
        self.stats.failed[topic] += 1
        if self.stats.failed[topic] in (1, 10, 100) or self.stats.failed[topic] % 1000 == 0:
            self._node.get_logger().warning(
                f'{topic}: {self.stats.failed[topic]} message(s) dropped, the middleware '
                f'refused them ({str(err).split(",")[0]})')
        return False

    def play(self, messages: Iterable[tuple[int, str, bytes]],
             keep_going: Callable[[], bool] = lambda: True,
             on_progress: Callable[[int], None] | None = None, *,
             fast_after_ns: int | None = None, fast_rate: float | None = None) -> PlayStats:
        """Publish ``(stamp_ns, topic, cdr)`` tuples (time-ordered) at ``rate`` x real time;
        from ``fast_after_ns`` on (e.g. a clock-only tail after the data) at ``fast_rate``."""
        wall0: float | None = None
        sim0 = 0
        next_clock = 0
        rate = self._rate
        for stamp_ns, topic, data in messages:
            if not keep_going():
                break
            if wall0 is None:
                wall0, sim0, next_clock = time.monotonic(), stamp_ns, stamp_ns
                self.stats.sim_start_ns = stamp_ns
            if (fast_after_ns is not None and fast_rate is not None and rate != fast_rate
                    and stamp_ns > fast_after_ns):
                # re-anchor the pacing at the switch, so no burst and no stall
                wall0 = wall0 + (fast_after_ns - sim0) / 1e9 / rate
                sim0, rate = fast_after_ns, fast_rate
            # /clock ticks between messages too, so timers in sim time keep running.
            while True:
                due = min(stamp_ns, next_clock)
                delay = wall0 + (due - sim0) / 1e9 / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if next_clock <= stamp_ns:
                    self._publish_clock(next_clock)
                    next_clock += self._clock_period_ns
                    continue
                break
            if delay < -0.05:
                self.stats.late += 1
            pub = self._pubs.get(topic)
            if pub is not None:
                if not self._publish(pub, topic, data):
                    continue
            elif topic in self._sinks:
                self._sinks[topic](stamp_ns, data)
            else:
                self.stats.skipped += 1
                continue
            self.stats.published += 1
            self.stats.sim_end_ns = stamp_ns
            if on_progress is not None:
                on_progress(stamp_ns)
        return self.stats

    def drain(self, timeout: float = DRAIN_S) -> list[str]:
        """Wait until every matched subscriber has acknowledged what the reliable topics
        published; returns the topics still unacknowledged after ``timeout`` seconds.

        A process that exits right after its last write takes the samples not yet
        acknowledged with it: a recorder lost the last 2 of 960 /shelves/weights that way
        under load. Best-effort topics have nothing to wait for."""
        deadline = time.monotonic() + timeout
        short = []
        for topic in sorted(self._acked):
            left = max(0.0, deadline - time.monotonic())
            if not self._pubs[topic].wait_for_all_acked(Duration(seconds=left)):
                short.append(topic)
        return short
