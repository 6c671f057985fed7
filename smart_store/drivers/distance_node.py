"""distance_driver node: shelf-front distance sensors over serial -> sensor_msgs/Range.

Each reading becomes a Range with the sensor's min/max range and field of view from the store
config; header.frame_id is the sensor id. Per REP 117, "nothing in range" is +inf and a reading
below the minimum range is -inf. Failures are counted on /diagnostics; the node never exits.
"""

from __future__ import annotations

import math
import sys

from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import Range

from smart_store.config.model import DistanceSensor
from smart_store.drivers.hub_node import HubDriverNode
from smart_store.drivers.protocol import MM_NO_TARGET, DistanceSample, Sample
from smart_store.drivers.serial_hub import SerialHubReader
from smart_store.ros.qos import fresh_sensor_qos
from smart_store.ros.runner import run_node


def range_value(mm: int, sensor: DistanceSensor) -> float:
    """Millimetres on the wire -> metres per REP 117 (+inf nothing in range, -inf too close)."""
    if mm >= MM_NO_TARGET:
        return math.inf
    metres = mm / 1000.0
    if metres > sensor.max_range:
        return math.inf
    if metres < sensor.min_range:
        return -math.inf
    return metres


class DistanceDriverNode(HubDriverNode):
    hub_kind = 'distance'

    def __init__(self) -> None:
        super().__init__('distance_driver')
        self.sensors = {(s.distance_sensor.hub, s.distance_sensor.channel): s.distance_sensor
                        for s in self.cfg.shelves if s.distance_sensor is not None}
        self.unknown = 0
        self.pub = self.create_publisher(
            Range, '/shelves/ranges', fresh_sensor_qos(),
            qos_overriding_options=QoSOverridingOptions.with_default_policies())
        self.start_hubs()

    def on_samples(self, reader: SerialHubReader, samples: list[tuple[float, Sample]]) -> None:
        snapshot = self.clock_snapshot()  # one for the batch
        for stamp, sample in samples:
            if not isinstance(sample, DistanceSample):
                continue
            sensor = self.sensors.get((reader.hub_id, sample.channel))
            if sensor is None:
                self.unknown += 1
                if self.unknown == 1:
                    self.get_logger().warning(
                        f'{reader.hub_id}: channel {sample.channel} has no sensor in the store '
                        'config; counted and dropped')
                continue
            msg = Range()
            msg.header.stamp = self.ros_stamp((reader.hub_id, sample.channel), stamp, snapshot)
            msg.header.frame_id = sensor.id
            msg.radiation_type = Range.INFRARED
            msg.field_of_view = float(sensor.fov)
            msg.min_range, msg.max_range = float(sensor.min_range), float(sensor.max_range)
            msg.range = range_value(sample.mm, sensor)
            self.publish(self.pub.publish, msg)

    def extra_diagnostics(self, reader: SerialHubReader) -> list[tuple[str, str]]:
        return [('unknown_channels', str(self.unknown))]


def main(args: list[str] | None = None) -> int:
    return run_node(DistanceDriverNode, args if args is not None else sys.argv,
                    orderly_shutdown=True)


if __name__ == '__main__':
    raise SystemExit(main())
