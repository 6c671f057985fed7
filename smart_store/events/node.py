"""shelf_events node: lane weights -> weight-change events, ranges -> beam-break intervals.

A thin shell around events/weight.py and events/beam.py. It consumes what the drivers publish
(or a replayed bag), so replaying a recording recomputes every event. Samples of stale channels
are passed on as such (events around them are flagged stale). Malformed input is dropped and
counted with a throttled warning (smart_store/ros/guard.py), never passed on: oversized arrays
(before they are deserialised), unknown lanes or sensors, non-finite readings and out-of-order
stamps. The counters are reported once a minute.

Restarts: with ``state_file`` set, the stable weight of every lane is written there (atomically)
at least once a second and right after every event. A respawned node reads it back; when a
lane first settles again, a weight different from the one it had before the restart means items
moved while nobody was weighing them: that change is published as a ``stale`` event spanning
the outage, which the arbiter still attributes (to a reach in that time) and sends to review,
instead of it silently becoming the new baseline.
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from pathlib import Path

from rclpy.node import Node
from sensor_msgs.msg import Range

from smart_store.config import load_store_config
from smart_store.events.beam import ShelfBeamDetectors
from smart_store.events.model import WeightEvent as WeightEventData
from smart_store.events.weight import ShelfEventDetector, WeightChangeDetector
from smart_store.graph.table import BEAM_BREAKS, RANGES, WEIGHT_EVENTS, WEIGHTS
from smart_store.jsonfile import write_json_atomic
from smart_store.msg import BeamBreak, LaneWeightArray, WeightEvent
from smart_store.resources import default_store_config
from smart_store.ros.convert import beam_to_msg, to_sec, weight_to_msg
from smart_store.ros.guard import InputGuard, Malformed
from smart_store.ros.params import declare_str
from smart_store.ros.qos import EVENTS_VOLATILE, profile
from smart_store.ros.runner import run_node

#: Serialised size limits: a hub serves at most a few dozen lanes (a lane is ~70 bytes).
MAX_WEIGHTS_BYTES = 64 * 1024
MAX_RANGE_BYTES = 4 * 1024


class ShelfEventsNode(Node):
    def __init__(self) -> None:
        super().__init__('shelf_events')
        path = declare_str(self, 'store_config', '', 'store config YAML; empty = demo store')
        state = declare_str(self, 'state_file', '', 'where stable lane weights are kept across '
                            'restarts (empty = nowhere)')
        self.cfg = load_store_config(path or default_store_config())
        self.weights = ShelfEventDetector(self.cfg)
        self.state_file = Path(state) if state else None
        self.before_restart = self._load_state()
        self.saved = dict(self.before_restart)  # lane -> (last stable weight, its time)
        self.saved_at = -math.inf
        self.beams = ShelfBeamDetectors(self.cfg)
        self.weight_pub = self.create_publisher(WeightEvent, WEIGHT_EVENTS.name,
                                                profile(WEIGHT_EVENTS.qos))
        self.beam_pub = self.create_publisher(BeamBreak, BEAM_BREAKS.name,
                                              profile(BEAM_BREAKS.qos))
        self.guard = InputGuard(self)
        self.lane_ids = frozenset(lane.id for lane in self.cfg.lanes())
        self.sensor_ids = frozenset(s.distance_sensor.id for s in self.cfg.shelves
                                    if s.distance_sensor is not None)
        self.last_lane: dict[str, float] = {}
        self.last_sensor: dict[str, float] = {}
        # volatile: the driver, or `ros2 bag play` of a recording, may be the publisher
        self.guard.subscribe(LaneWeightArray, WEIGHTS.name, self.on_weights, EVENTS_VOLATILE,
                             max_bytes=MAX_WEIGHTS_BYTES)
        self.guard.subscribe(Range, RANGES.name, self.on_range, profile(RANGES.qos),
                             max_bytes=MAX_RANGE_BYTES)
        self.timer = self.create_timer(60.0, self.report)
        self.events = 0
        self.breaks = 0
        self.get_logger().info(f'weight events for {len(self.weights.detectors)} lanes, beam '
                               f'breaks for {len(self.beams.detectors)} shelf-front sensors')

    def on_weights(self, msg: LaneWeightArray) -> None:
        t = to_sec(msg.header.stamp)
        bad: Counter[str] = Counter()
        for lane in msg.lanes:
            grams = float(lane.grams)
            if lane.lane_id not in self.lane_ids:
                bad['unknown lane'] += 1
                continue
            if lane.stale and math.isnan(grams):
                continue  # no reading at all: the detector cannot use it
            if not math.isfinite(grams):
                bad['non-finite grams'] += 1
                continue
            if t <= self.last_lane.get(lane.lane_id, -math.inf):
                bad['out-of-order stamp'] += 1
                continue
            self.last_lane[lane.lane_id] = t
            published = False
            for event in self.weights.on_weights(t, lane.lane_id, grams, bool(lane.stale)):
                self.weight_pub.publish(weight_to_msg(event, self.cfg.frame_id))
                self.events += 1
                published = True
            if lane.lane_id in self.before_restart:
                published = self._after_restart(lane.lane_id, t) or published
            if published:
                self._save_state()
        if bad:
            self.guard.drop_counts(WEIGHTS.name, bad.items(), f'hub {msg.hub_id!r}')
        if t - self.saved_at >= 1.0:
            self._save_state()

    # ---------------------------------------------------------------- restarts
    def _load_state(self) -> dict[str, tuple[float, float]]:
        if self.state_file is None or not self.state_file.is_file():
            return {}
        try:
            data = json.loads(self.state_file.read_text(encoding='utf-8'))
            lanes = {str(k): (float(v[0]), float(v[1])) for k, v in data['lanes'].items()
                     if k in self.weights.detectors and math.isfinite(float(v[0]))}
        except (OSError, ValueError, KeyError, TypeError, IndexError) as err:
            self.get_logger().error(f'{self.state_file}: cannot restore ({err}); starting empty')
            return {}
        self.get_logger().warning(f'restarted: stable weights of {len(lanes)} lane(s) restored '
                                  f'from {self.state_file}; changes while down become stale '
                                  'events')
        return lanes

    def _save_state(self) -> None:
        """The last stable weight and time of every lane, written atomically: a lane in the
        middle of a change (or not settled since a restart) keeps the weight it had before."""
        if self.state_file is None:
            return
        for lane_id, det in self.weights.detectors.items():
            if det.stable and lane_id in self.last_lane and lane_id not in self.before_restart:
                self.saved[lane_id] = (det.base, self.last_lane[lane_id])
        lanes = self.saved
        self.saved_at = max(self.last_lane.values(), default=-math.inf)
        write_json_atomic(self.state_file, {
            'lanes': {k: [round(w, 3), t] for k, (w, t) in sorted(lanes.items())}})

    def _after_restart(self, lane_id: str, t: float) -> bool:
        """Once the lane settles after a restart: publish what changed while the node was down.
        Returns True if an event was published."""
        det = self.weights.detectors[lane_id]
        if not det.stable:
            return False
        before, since = self.before_restart.pop(lane_id)
        if t <= since:  # a replay from the start, not a restart: nothing to compare
            return False
        event = _gap_event(det, before, since, t)
        if event is None:
            return False
        self.weight_pub.publish(weight_to_msg(event, self.cfg.frame_id))
        self.events += 1
        self.get_logger().warning(f'lane {lane_id}: {event.delta_grams:+.1f} g changed while '
                                  f'shelf_events was down ({since:.2f} to {t:.2f}); published '
                                  f'as stale event {event.event_id}')
        return True

    def on_range(self, msg: Range) -> None:
        t, sensor, value = to_sec(msg.header.stamp), msg.header.frame_id, float(msg.range)
        if sensor not in self.sensor_ids:
            raise Malformed('unknown sensor', repr(sensor))
        if math.isnan(value):  # +inf: nothing in range, -inf: too close (REP 117)
            raise Malformed('NaN range', sensor)
        if t <= self.last_sensor.get(sensor, -math.inf):
            raise Malformed('out-of-order stamp', sensor)
        self.last_sensor[sensor] = t
        for brk in self.beams.on_range(t, sensor, value):
            self.beam_pub.publish(beam_to_msg(brk, self.cfg.frame_id))
            self.breaks += 1

    def report(self) -> None:
        counters = {**{f'weight_{k}': v for k, v in self.weights.stats.items()},
                    **{f'beam_{k}': v for k, v in self.beams.stats.items()}}
        dropped = {k: v for k, v in counters.items()
                   if v and not k.endswith(('samples', 'intervals', 'events'))}
        self.get_logger().info(f'{self.events} weight events, {self.breaks} beam breaks from '
                               f'{counters["weight_samples"]} weight and '
                               f'{counters.get("beam_samples", 0)} range samples; '
                               f'counters: {dropped}; input dropped: {self.guard.totals()}')


def _gap_event(det: WeightChangeDetector, before: float, since: float, t: float
               ) -> WeightEventData | None:
    """The change of a lane's stable weight across an outage, as a stale event (None when it
    is below what the detector itself would report)."""
    delta = det.base - before
    p = det.params
    if abs(delta) < max(det.min_delta_g, p.trigger_k * det.sigma, p.trigger_floor_g):
        return None
    unit = det.unit_weight_g
    hint = delta / unit if unit else 0.0
    return WeightEventData(
        event_id=f'w-{det.lane_id}-{round(since * 1000)}-restart', shelf_id=det.shelf_id,
        lane_id=det.lane_id, delta_grams=delta, start=since, end=t, weight_before=before,
        weight_after=det.base, stability=0.0, quantity_hint=hint,
        quantity_residual=abs(hint - round(hint)) if unit else 1.0, noise_grams=det.sigma,
        stale=True)


def main(args: list[str] | None = None) -> int:
    return run_node(ShelfEventsNode, args if args is not None else sys.argv)


if __name__ == '__main__':
    raise SystemExit(main())
