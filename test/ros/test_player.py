"""The player's pacing: real time (x rate) for the data, faster for a clock-only tail."""

from __future__ import annotations

import time

import rclpy

from smart_store.ros.player import Player


def _ticks(t0_ns: int, t1_ns: int, step_ns: int = 50_000_000) -> list[tuple[int, str, bytes]]:
    return [(t, '', b'') for t in range(t0_ns, t1_ns + 1, step_ns)]


def test_tail_after_the_data_plays_at_its_own_rate() -> None:
    rclpy.init()
    try:
        node = rclpy.create_node('player_test')
        clocks: list[int] = []
        player = Player(node, {}, rate=2.0)
        publish = player._publish_clock

        def record(stamp_ns: int) -> None:
            clocks.append(stamp_ns)
            publish(stamp_ns)
        player._publish_clock = record  # type: ignore[method-assign]
        second = 1_000_000_000
        # 2 s of "data" at 2x (1 s of wall time), then 8 s of tail at 16x (0.5 s of wall time)
        messages = _ticks(0, 2 * second) + _ticks(2 * second + 50_000_000, 10 * second)
        wall0 = time.monotonic()
        stats = player.play(messages, fast_after_ns=2 * second, fast_rate=16.0)
        wall = time.monotonic() - wall0
        node.destroy_node()
    finally:
        rclpy.try_shutdown()
    assert 1.4 <= wall <= 3.0, wall          # not 5 s (all at 2x), not a burst
    assert stats.sim_start_ns == 0 and clocks[-1] <= 10 * second
    assert clocks == sorted(clocks) and clocks[-1] >= 9 * second


def test_waits_until_the_subscriptions_have_matched() -> None:
    from smart_store.msg import EntryEvent

    from smart_store.ros.qos import EVENTS_VOLATILE

    rclpy.init()
    try:
        node = rclpy.create_node('player_wait_test')
        topics = {'/entry/events': ('smart_store/msg/EntryEvent', 'events')}
        player = Player(node, topics)
        # nobody listens yet: short after the timeout, and topics it does not publish are
        # not waited for
        wall0 = time.monotonic()
        short = player.wait_for_subscribers({'/entry/events': 1, '/not/played': 3}, 0.3)
        assert short == {'/entry/events': (0, 1)}
        assert 0.3 <= time.monotonic() - wall0 < 2.0
        listener = rclpy.create_node('player_wait_listener')
        listener.create_subscription(EntryEvent, '/entry/events', lambda _m: None,
                                     EVENTS_VOLATILE)
        assert player.wait_for_subscribers({'/entry/events': 1}, 20.0,
                                           spin=lambda: rclpy.spin_once(node,
                                                                        timeout_sec=0.05)) == {}
        listener.destroy_node()
        node.destroy_node()
    finally:
        rclpy.try_shutdown()


class _RefusingPublisher:
    """Stands in for a reliable writer whose history a starved reader has not acknowledged:
    Fast DDS blocks, then fails the write (RCLError 'cannot publish data')."""

    def __init__(self, refuse: set[int]) -> None:
        self.refuse, self.calls, self.sent = refuse, 0, []

    def publish(self, data: bytes) -> None:
        from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy

        self.calls += 1
        if data[0] in self.refuse:
            raise _rclpy.RCLError('Failed to publish: cannot publish data, at rmw_publish.cpp')
        self.sent.append(data)


def test_a_refused_write_is_retried_then_a_counted_drop_and_the_replay_goes_on() -> None:
    rclpy.init()
    try:
        node = rclpy.create_node('player_refused_test')
        player = Player(node, {}, clock=False, rate=100.0)
        pub = _RefusingPublisher(refuse={2})
        player._pubs['/cameras/a/image_raw'] = pub  # type: ignore[assignment]
        messages = [(i * 1_000_000, '/cameras/a/image_raw', bytes([i])) for i in range(5)]
        stats = player.play(messages)
        node.destroy_node()
    finally:
        rclpy.try_shutdown()
    assert pub.sent == [bytes([i]) for i in (0, 1, 3, 4)]  # the rest went out
    assert pub.calls == 4 + 3                               # the refused one: tried 3 times
    assert stats.failed == {'/cameras/a/image_raw': 1} and stats.published == 4


def test_a_reliable_topic_is_retried_until_the_reader_catches_up() -> None:
    from smart_store.msg import LaneWeightArray  # noqa: F401 - the interfaces are built

    rclpy.init()
    try:
        node = rclpy.create_node('player_reliable_retry_test')
        player = Player(node, {'/shelves/weights': ('smart_store/msg/LaneWeightArray',
                                                    'events')}, clock=False, rate=100.0)
        assert '/shelves/weights' in player._reliable  # recorded reliable
        refusals = iter(range(6))                       # refused 6 times, then accepted

        class SlowReader(_RefusingPublisher):
            def publish(self, data: bytes) -> None:
                self.calls += 1
                if next(refusals, None) is not None:
                    from rclpy.impl.implementation_singleton import (
                        rclpy_implementation as _rclpy,
                    )
                    raise _rclpy.RCLError('Failed to publish: cannot publish data')
                self.sent.append(data)

        pub = SlowReader(refuse=set())
        player._pubs['/shelves/weights'] = pub  # type: ignore[assignment]
        stats = player.play([(0, '/shelves/weights', b'\x01')])
        node.destroy_node()
    finally:
        rclpy.try_shutdown()
    assert pub.sent == [b'\x01'] and pub.calls == 7   # delivered, not dropped after 3 tries
    assert not stats.failed and stats.published == 1


def test_the_clock_counts_as_a_played_topic_and_a_stop_ends_the_wait() -> None:
    from rosgraph_msgs.msg import Clock

    from smart_store.ros.qos import SENSOR

    rclpy.init()
    try:
        node = rclpy.create_node('player_clock_wait_test')
        player = Player(node, {}, clock=True)
        wall0 = time.monotonic()
        assert player.wait_for_subscribers({'/clock': 1}, 20.0,
                                           keep_going=lambda: False) == {'/clock': (0, 1)}
        assert time.monotonic() - wall0 < 1.0  # a stop request does not wait out the timeout
        reader = rclpy.create_node('player_clock_reader')
        reader.create_subscription(Clock, '/clock', lambda _m: None, SENSOR)
        assert player.wait_for_subscribers({'/clock': 1}, 20.0) == {}
        assert Player(node, {}, clock=False).wait_for_subscribers({'/clock': 1}, 0.1) == {}
        reader.destroy_node()
        node.destroy_node()
    finally:
        rclpy.try_shutdown()


def test_drain_waits_for_the_last_reliable_messages_to_be_acknowledged() -> None:
    from rclpy.serialization import serialize_message
    from smart_store.msg import EntryEvent

    from smart_store.ros.qos import EVENTS_VOLATILE

    rclpy.init()
    try:
        node = rclpy.create_node('player_drain_test')
        topics = {'/entry/events': ('smart_store/msg/EntryEvent', 'events')}
        player = Player(node, topics, clock=False, rate=1000.0)
        listener = rclpy.create_node('player_drain_listener')
        got: list[EntryEvent] = []
        listener.create_subscription(EntryEvent, '/entry/events', got.append,
                                     EVENTS_VOLATILE)
        assert player.wait_for_subscribers({'/entry/events': 1}, 20.0) == {}
        time.sleep(0.5)  # the subscriber side matches a moment after the publisher
        data = serialize_message(EntryEvent(event_id='e1'))
        player.play([(i * 1_000_000, '/entry/events', data) for i in range(50)])
        assert player.drain(timeout=10.0) == []
        deadline = time.monotonic() + 10.0
        while len(got) < 50 and time.monotonic() < deadline:
            rclpy.spin_once(listener, timeout_sec=0.05)
        assert len(got) == 50 and all(m.event_id == 'e1' for m in got)

        class Unacknowledged:   # a matched reader that never acknowledges
            def wait_for_all_acked(self, timeout: object) -> bool:
                return False

        player._pubs['/entry/events'] = Unacknowledged()  # type: ignore[assignment]
        wall0 = time.monotonic()
        assert player.drain(timeout=0.2) == ['/entry/events']
        assert time.monotonic() - wall0 < 1.0
        listener.destroy_node()
        node.destroy_node()
    finally:
        rclpy.try_shutdown()
