"""QoS profiles by role, matching the names used in the node-graph table."""

from __future__ import annotations

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

# Latched: late joiners (RViz, a store app, a respawned node) get the last message.
LATCHED = QoSProfile(
    depth=1, history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
# Keyed state (one message per session): keep enough history that every open session's latest
# cart or receipt reaches a late joiner.
STATE = QoSProfile(
    depth=100, history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
# Discrete events must not be dropped: reliable with a deep queue, and kept by the publisher for
# late joiners, so that a respawned node gets what was published while it was down (up to the
# depth). Every consumer therefore takes events idempotently (by id, or by stamp order).
EVENTS = QoSProfile(
    depth=100, history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
# For subscriptions to topics that publishers outside the graph may feed (the gate app,
# `ros2 bag play` of a recording): a transient-local subscription matches no volatile publisher,
# a volatile one matches both.
EVENTS_VOLATILE = QoSProfile(
    depth=100, history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
# Streams where the newest sample matters most.
SENSOR = qos_profile_sensor_data



def fresh_sensor_qos() -> QoSProfile:
    """A new copy of the sensor-data profile, for a publisher that takes QoS overrides.

    rclpy applies ``qos_overrides.<topic>...`` parameters to the profile object it is given, in
    place: handing it the shared preset would carry one topic's override to every publisher
    created after it (a reliable cam_fl made every later camera reliable).
    """
    s = qos_profile_sensor_data
    return QoSProfile(history=s.history, depth=s.depth, reliability=s.reliability,
                      durability=s.durability)


PROFILES: dict[str, QoSProfile] = {
    'latched': LATCHED, 'state': STATE, 'events': EVENTS, 'sensor': SENSOR,
}


def profile(name: str) -> QoSProfile:
    """The rclpy profile for a QoS name of the graph table."""
    return PROFILES[name]
