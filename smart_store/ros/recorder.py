"""A node that records topics as raw CDR into a rosbag2 directory (``./smart-store record``)."""

from __future__ import annotations

from pathlib import Path

from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from smart_store.ros.player import ros_msg_class
from smart_store.twin.bag import BagWriter, Storage, TopicSpec, typestore

# Topics a recorder never records: its own plumbing.
IGNORED = {'/rosout', '/parameter_events'}


class Recorder(Node):
    """Subscribes (raw) to the chosen topics as they appear and writes what arrives."""

    def __init__(self, output: Path, topics: list[str], record_all: bool, storage: Storage,
                 use_sim_time: bool = False) -> None:
        super().__init__('smart_store_record',
                         parameter_overrides=[Parameter('use_sim_time', value=use_sim_time)])
        self._wanted = set(topics)
        self._all = record_all
        self._writer: BagWriter | None = BagWriter(output, [], storage)
        self.recorded_topics: dict[str, tuple[str, str]] = {}
        self.count = 0
        self._subs = []
        self._discover()
        # On the steady clock: with use_sim_time the node clock stands still until /clock
        # comes, and a recorder started before the replay would find its topics only after
        # the replay had begun, losing the start (and the replay's --wait-for-subscribers
        # would wait for it in vain).
        self._timer = self.create_timer(0.5, self._discover,
                                        clock=Clock(clock_type=ClockType.STEADY_TIME))

    def _qos_for(self, topic: str) -> tuple[QoSProfile, str]:
        """Match the publishers: reliable only if all are, transient local if all are."""
        infos = self.get_publishers_info_by_topic(topic)
        reliable = bool(infos) and all(
            i.qos_profile.reliability == ReliabilityPolicy.RELIABLE for i in infos)
        latched = bool(infos) and all(
            i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for i in infos)
        # The bag's offered QoS names one of the graph's profiles (twin/bag.py qos_for_role).
        # Discovery does not carry the history depth, so a transient-local topic is recorded
        # as 'events' (kept, depth 100): replayed, a topic that was latched (depth 1) and
        # published once is delivered the same way.
        role = 'events' if reliable else 'sensor'
        qos = QoSProfile(depth=100,
                         reliability=ReliabilityPolicy.RELIABLE if reliable
                         else ReliabilityPolicy.BEST_EFFORT,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL if latched
                         else DurabilityPolicy.VOLATILE)
        return qos, role

    def _discover(self) -> None:
        known = typestore().types
        for topic, types in self.get_topic_names_and_types():
            if topic in self.recorded_topics or topic in IGNORED:
                continue
            if not (self._all or topic in self._wanted) or not types:
                continue
            typename = types[0]
            if typename not in known:
                self.get_logger().warning(f'not recording {topic}: unknown type {typename}')
                self.recorded_topics[topic] = (typename, 'skipped')
                continue
            qos, role = self._qos_for(topic)
            self.recorded_topics[topic] = (typename, role)
            self._subs.append(self.create_subscription(
                ros_msg_class(typename), topic,
                lambda data, t=topic: self._on_message(t, data), qos, raw=True))
            if self._writer is not None:
                self._writer.add_topic(TopicSpec(topic, typename, role))
            self.get_logger().info(f'recording {topic} [{typename}]')

    def _on_message(self, topic: str, data: bytes) -> None:
        if self._writer is None:
            return
        self._writer.write(topic, self.get_clock().now().nanoseconds, data)
        self.count += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
