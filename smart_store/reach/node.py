"""reach_detector node: tracks + beam breaks -> ReachEvent (and RViz highlights).

A thin shell around reach/detector.py: it converts TrackArray and BeamBreak messages, feeds the
detector in stamp order, and publishes what it decides. Malformed input is dropped and counted
with a throttled warning (smart_store/ros/guard.py): oversized track arrays (before they are
deserialised), stamps going backwards, tracks with an invalid state or a non-finite position,
beam breaks of unknown shelves, with a non-finite range or ending before they start.
"""

from __future__ import annotations

import math
import sys
import zlib

from rclpy.node import Node
from visualization_msgs.msg import Marker, MarkerArray

from smart_store.config import load_store_config
from smart_store.graph.table import BEAM_BREAKS, REACH_MARKERS, REACHES, TRACKS
from smart_store.msg import BeamBreak, ReachEvent, TrackArray
from smart_store.reach.detector import ReachDetector, ReachParams
from smart_store.resources import default_store_config
from smart_store.ros.convert import beam_from_msg, reach_to_msg, to_sec, track_keypoints
from smart_store.ros.guard import InputGuard, Malformed, finite
from smart_store.ros.params import declare_float, declare_str
from smart_store.ros.qos import profile
from smart_store.ros.runner import run_node

#: Serialised size limits: a track is ~600 bytes, so 1 MiB is well over a thousand people.
MAX_TRACKS_BYTES = 1 << 20
MAX_BEAM_BYTES = 8 * 1024


class ReachDetectorNode(Node):
    def __init__(self) -> None:
        super().__init__('reach_detector')
        path = declare_str(self, 'store_config', '', 'store config YAML; empty = demo store')
        params = ReachParams(
            depth_in=declare_float(self, 'depth_in', 0.30, 'm behind the shelf face that '
                                   'counts as inside a lane', low=0.0, high=1.0),
            depth_out=declare_float(self, 'depth_out', 0.06, 'm in front of the face',
                                    low=0.0, high=0.5),
            settle_wait=declare_float(self, 'settle_wait', 0.4, 's after a reach ends before '
                                      'it is decided (beam matching)', low=0.0, high=5.0))
        self.cfg = load_store_config(path or default_store_config())
        self.detector = ReachDetector(self.cfg, params)
        self.pub = self.create_publisher(ReachEvent, REACHES.name, profile(REACHES.qos))
        self.markers = self.create_publisher(MarkerArray, REACH_MARKERS.name,
                                             profile(REACH_MARKERS.qos))
        self.guard = InputGuard(self)
        self.shelf_ids = frozenset(s.id for s in self.cfg.shelves)
        self.last_tracks = -math.inf
        self.guard.subscribe(TrackArray, TRACKS.name, self.on_tracks, profile(TRACKS.qos),
                             max_bytes=MAX_TRACKS_BYTES)
        self.guard.subscribe(BeamBreak, BEAM_BREAKS.name, self.on_beam,
                             profile(BEAM_BREAKS.qos), max_bytes=MAX_BEAM_BYTES)
        self.published = 0
        self.get_logger().info(f'reach detection on {len(self.cfg.shelves)} shelving units, '
                               f'{len(self.cfg.lanes())} lanes')

    def on_beam(self, msg: BeamBreak) -> None:
        beam = beam_from_msg(msg)
        if beam.shelf_id not in self.shelf_ids:
            raise Malformed('unknown shelf', repr(beam.shelf_id))
        if not finite(beam.min_range) or beam.end < beam.start:
            raise Malformed('invalid beam break', f'{beam.event_id}: range {beam.min_range}, '
                            f'{beam.start:.3f}-{beam.end:.3f} s')
        self.detector.on_beam(beam)

    def on_tracks(self, msg: TrackArray) -> None:
        t = to_sec(msg.header.stamp)
        if t < self.last_tracks:
            raise Malformed('out-of-order stamp', f'{t:.3f} s after {self.last_tracks:.3f} s')
        self.last_tracks = t
        tracks = {int(track.id): track_keypoints(track)
                  for track in self.guard.usable_tracks(msg, TRACKS.name)
                  if track.state != track.STATE_EXITED}
        for reach in self.detector.on_tracks(t, tracks):
            self.pub.publish(reach_to_msg(reach, self.cfg.frame_id))
            self.published += 1
            self._highlight(reach.lane_ids, msg)

    def _highlight(self, lane_ids: tuple[str, ...], msg: TrackArray) -> None:
        out = MarkerArray()
        for i, lane_id in enumerate(lane_ids[:2]):
            lane = self.cfg.lane(lane_id)
            m = Marker()
            m.header.frame_id, m.header.stamp = self.cfg.frame_id, msg.header.stamp
            m.ns, m.type, m.action = 'reach', Marker.CUBE, Marker.ADD
            m.id = zlib.crc32(lane_id.encode()) % 100000 + i
            c = lane.front_center_store()
            m.pose.position.x, m.pose.position.y, m.pose.position.z = map(float, c)
            m.pose.orientation.w = 1.0
            m.scale.x = m.scale.y = m.scale.z = 0.15
            m.color.r, m.color.g, m.color.a = 1.0, 0.3, 0.8
            m.lifetime.sec = 2
            out.markers.append(m)
        self.markers.publish(out)


def main(args: list[str] | None = None) -> int:
    return run_node(ReachDetectorNode, args if args is not None else sys.argv)


if __name__ == '__main__':
    raise SystemExit(main())
