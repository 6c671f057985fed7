"""shelf_events node: lane weights -> weight-change events, ranges -> beam-break intervals.

A thin shell around events/weight.py and events/beam.py. It consumes what the drivers publish
(or a replayed bag), so replaying a recording recomputes every event. Samples of stale channels
are passed on as such (events around them are flagged stale); NaN, unknown lanes or sensors and
out-of-order stamps are dropped and counted by the detectors, and reported here once a minute.
"""

from __future__ import annotations

import math
import sys

from rclpy.node import Node
from sensor_msgs.msg import Range

from smart_store.config import load_store_config
from smart_store.events.beam import ShelfBeamDetectors
from smart_store.events.weight import ShelfEventDetector
from smart_store.graph.table import BEAM_BREAKS, RANGES, WEIGHT_EVENTS, WEIGHTS
from smart_store.msg import BeamBreak, LaneWeightArray, WeightEvent
from smart_store.resources import default_store_config
from smart_store.ros.convert import beam_to_msg, to_sec, weight_to_msg
from smart_store.ros.params import declare_str
from smart_store.ros.qos import profile
from smart_store.ros.runner import run_node


class ShelfEventsNode(Node):
    def __init__(self) -> None:
        super().__init__('shelf_events')
        path = declare_str(self, 'store_config', '', 'store config YAML; empty = demo store')
        self.cfg = load_store_config(path or default_store_config())
        self.weights = ShelfEventDetector(self.cfg)
        self.beams = ShelfBeamDetectors(self.cfg)
        self.weight_pub = self.create_publisher(WeightEvent, WEIGHT_EVENTS.name,
                                                profile(WEIGHT_EVENTS.qos))
        self.beam_pub = self.create_publisher(BeamBreak, BEAM_BREAKS.name,
                                              profile(BEAM_BREAKS.qos))
        self.create_subscription(LaneWeightArray, WEIGHTS.name, self.on_weights,
                                 profile(WEIGHTS.qos))
        self.create_subscription(Range, RANGES.name, self.on_range, profile(RANGES.qos))
        self.timer = self.create_timer(60.0, self.report)
        self.events = 0
        self.breaks = 0
        self.get_logger().info(f'weight events for {len(self.weights.detectors)} lanes, beam '
                               f'breaks for {len(self.beams.detectors)} shelf-front sensors')

    def on_weights(self, msg: LaneWeightArray) -> None:
        t = to_sec(msg.header.stamp)
        for lane in msg.lanes:
            grams = float(lane.grams)
            if lane.stale and math.isnan(grams):
                continue  # no reading at all: the detector cannot use it
            for event in self.weights.on_weights(t, lane.lane_id, grams, bool(lane.stale)):
                self.weight_pub.publish(weight_to_msg(event, self.cfg.frame_id))
                self.events += 1

    def on_range(self, msg: Range) -> None:
        for brk in self.beams.on_range(to_sec(msg.header.stamp), msg.header.frame_id,
                                       float(msg.range)):
            self.beam_pub.publish(beam_to_msg(brk, self.cfg.frame_id))
            self.breaks += 1

    def report(self) -> None:
        counters = {**{f'weight_{k}': v for k, v in self.weights.stats.items()},
                    **{f'beam_{k}': v for k, v in self.beams.stats.items()}}
        dropped = {k: v for k, v in counters.items()
                   if v and not k.endswith(('samples', 'intervals', 'events'))}
        self.get_logger().info(f'{self.events} weight events, {self.breaks} beam breaks; '
                               f'counters: {dropped}')


def main(args: list[str] | None = None) -> int:
    return run_node(ShelfEventsNode, args if args is not None else sys.argv)


if __name__ == '__main__':
    raise SystemExit(main())
