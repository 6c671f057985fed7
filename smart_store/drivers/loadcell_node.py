"""loadcell_driver node: shelf load-cell hubs over serial -> raw counts and lane weights.

Publishes LoadCellRaw and LaneWeightArray (one per hub instant) with a stale flag for channels
that went quiet, and serves ``~/tare`` and ``~/calibrate`` (smart_store/srv); calibrations are
persisted to ``calibration_file`` and survive restarts. Bad lines, unknown channels, stalls,
unplugging and clock jumps are counted and reported on /diagnostics; the node never exits for
them.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from pathlib import Path

from builtin_interfaces.msg import Time

from smart_store.drivers.hub_node import HubDriverNode
from smart_store.drivers.loadcell import (
    CalibrationError,
    CalibrationStore,
    FrameAssembler,
    RecentCounts,
    StaleTracker,
)
from smart_store.drivers.protocol import LoadCellSample, Sample
from smart_store.drivers.serial_hub import SerialHubReader
from smart_store.drivers.stamping import ClockSnapshot
from smart_store.msg import LaneWeight, LaneWeightArray, LoadCellRaw
from smart_store.ros.params import declare_float, declare_str
from smart_store.ros.runner import run_node
from smart_store.srv import CalibrateChannel, TareChannel


class LoadCellDriverNode(HubDriverNode):
    hub_kind = 'load_cell'

    def __init__(self) -> None:
        super().__init__('loadcell_driver')
        cal_file = declare_str(self, 'calibration_file', 'out/loadcell_calibration.json',
                               'JSON file for tare/calibration results, loaded at start (a '
                               'relative path is from the working directory); empty = not '
                               'persisted', read_only=True)
        self.stale_timeout = declare_float(self, 'stale_timeout', 0.5,
                                           's without a sample before a channel is stale',
                                           low=0.01, high=60.0)
        self.default_average = declare_float(self, 'average_s', 2.0,
                                             's averaged by tare/calibrate by default',
                                             low=0.1, high=60.0)
        try:
            self.cal = CalibrationStore(self.cfg, Path(cal_file) if cal_file else None)
        except CalibrationError as err:
            self.get_logger().error(f'{err}; using the store config calibration')
            self.cal = CalibrationStore(self.cfg, None)
        if not cal_file:
            self.get_logger().warning('calibration_file is empty: tare and calibrate results '
                                      'are lost when the driver stops')
        elif self.cal.path is not None:
            self.get_logger().info(f'calibration file {self.cal.path}: '
                                   f'{self.cal.loaded_overrides} channel(s) loaded over the '
                                   'store config')
        self.recent = RecentCounts()
        self.assemblers = {t.reader.hub_id: FrameAssembler() for t in self.threads}
        channels = [k for k in self.cal.lanes if k[0] in self.assemblers]
        self.stale = StaleTracker(channels, self.stale_timeout, time.monotonic())
        self.unknown_channels = dict.fromkeys(self.assemblers, 0)
        self._lock = threading.Lock()
        self.raw_pub = self.create_publisher(LoadCellRaw, '/shelves/load_cells/raw', 100)
        self.weights_pub = self.create_publisher(LaneWeightArray, '/shelves/weights', 100)
        self.create_service(TareChannel, '~/tare', self.handle_tare)
        self.create_service(CalibrateChannel, '~/calibrate', self.handle_calibrate)
        # Quiet hubs still get LaneWeightArray messages with stale=True, so consumers see it.
        self._stale_timer = self.create_timer(0.25, self.publish_stale)
        self.start_hubs()

    def on_samples(self, reader: SerialHubReader, samples: list[tuple[float, Sample]]) -> None:
        hub = reader.hub_id
        frames = []
        with self._lock:
            for stamp, sample in samples:
                if not isinstance(sample, LoadCellSample):
                    continue
                if (hub, sample.channel) not in self.cal.lanes:
                    self.unknown_channels[hub] += 1
                    if self.unknown_channels[hub] == 1:
                        self.get_logger().warning(
                            f'{hub}: channel {sample.channel} is not in the store config; '
                            'its samples are counted and dropped')
                    continue
                self.stale.seen(hub, sample.channel, stamp)
                self.recent.add(stamp, hub, sample.channel, sample.counts)
                frames += self.assemblers[hub].add(stamp, sample.hub_ms, sample.channel,
                                                   sample.counts)
            frames += self.assemblers[hub].flush()
        if not frames:
            return
        snapshot = self.clock_snapshot()  # one for the batch
        for frame in frames:
            self.publish_frame(hub, frame.stamp, frame.hub_ms, frame.samples, snapshot)

    def publish_frame(self, hub: str, stamp_mono: float, hub_ms: int,
                      samples: tuple[tuple[int, int], ...],
                      snapshot: ClockSnapshot | None = None) -> None:
        stamp = self.ros_stamp(hub, stamp_mono, snapshot or self.clock_snapshot())
        raw = LoadCellRaw()
        raw.header.stamp, raw.header.frame_id = stamp, self.cfg.frame_id
        raw.hub_id, raw.hub_time = hub, hub_ms / 1000.0
        raw.channels = [c for c, _ in samples]
        raw.counts = [n for _, n in samples]
        self.publish(self.raw_pub.publish, raw)
        self.publish(self.weights_pub.publish,
                     self._weights(hub, stamp, dict(samples), time.monotonic()))

    def _weights(self, hub: str, stamp: Time, fresh: dict[int, int], now: float
                 ) -> LaneWeightArray:
        msg = LaneWeightArray()
        msg.header.stamp, msg.header.frame_id = stamp, self.cfg.frame_id
        msg.hub_id = hub
        for (h, channel), lane_id in sorted(self.cal.lanes.items()):
            if h != hub:
                continue
            cal = self.cal.get(h, channel)
            lane = self.cfg.lane(lane_id)
            lw = LaneWeight(shelf_id=lane.shelf_id, lane_id=lane_id, hub_id=hub,
                            channel=channel)
            if channel in fresh and cal is not None:
                lw.raw_counts = fresh[channel]
                lw.grams = cal.grams(fresh[channel])
                lw.stale = False
            else:
                lw.grams = math.nan
                lw.stale = self.stale.stale(h, channel, now)
                if not lw.stale:
                    continue  # just not in this frame (staggered channels)
            msg.lanes.append(lw)
        return msg

    def publish_stale(self) -> None:
        now = time.monotonic()
        quiet = {h for h, _ in self.stale.stale_channels(now)}
        if not quiet:
            return
        snapshot = self.clock_snapshot()
        for hub in sorted(quiet):  # on the hub's stream: its stamps stay in order
            stamp = self.ros_stamp(hub, snapshot.mono_s, snapshot)
            self.publish(self.weights_pub.publish, self._weights(hub, stamp, {}, now))

    def extra_diagnostics(self, reader: SerialHubReader) -> list[tuple[str, str]]:
        now = time.monotonic()
        stale = [f'{c}' for h, c in self.stale.stale_channels(now) if h == reader.hub_id]
        return [('unknown_channels', str(self.unknown_channels.get(reader.hub_id, 0))),
                ('stale_channels', ','.join(stale))]

    def _mean(self, hub: str, channel: int, average_s: float) -> tuple[float, int]:
        seconds = average_s if average_s > 0 else self.default_average
        with self._lock:
            return self.recent.mean(hub, channel, seconds, time.monotonic())

    def handle_tare(self, request: TareChannel.Request, response: TareChannel.Response
                    ) -> TareChannel.Response:
        try:
            mean, n = self._mean(request.hub_id, request.channel, request.average_s)
            cal = self.cal.tare(request.hub_id, request.channel, mean)
        except (CalibrationError, OSError) as err:
            response.success, response.message = False, str(err)
            return response
        response.success, response.offset = True, round(cal.offset)
        response.message = f'offset {cal.offset:.0f} counts from {n} samples'
        self.get_logger().info(f'tare {request.hub_id}/{request.channel}: {response.message}')
        return response

    def handle_calibrate(self, request: CalibrateChannel.Request,
                         response: CalibrateChannel.Response) -> CalibrateChannel.Response:
        try:
            mean, n = self._mean(request.hub_id, request.channel, request.average_s)
            cal = self.cal.calibrate(request.hub_id, request.channel, mean, request.known_grams)
        except (CalibrationError, OSError) as err:
            response.success, response.message = False, str(err)
            return response
        response.success, response.scale = True, cal.scale
        response.message = f'scale {cal.scale:.3f} counts/g from {n} samples'
        self.get_logger().info(f'calibrate {request.hub_id}/{request.channel}: '
                               f'{response.message}')
        return response


def main(args: list[str] | None = None) -> int:
    return run_node(LoadCellDriverNode, args if args is not None else sys.argv,
                    orderly_shutdown=True)


if __name__ == '__main__':
    raise SystemExit(main())
