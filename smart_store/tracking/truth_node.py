"""truth_tracker node — ABLATION ONLY: publishes the twin's ground-truth people as tracks.

This is not perception. It replays ``<run>/truth/joints3d.npz`` on the node clock (sim time)
as TrackArray messages (the logic is :mod:`smart_store.tracking.truth`), so the stages after
tracking (reach detection, arbitration, billing) can be scored without perception errors: the
"ground-truth tracks" ablation of the benchmark, always labelled as such. When the clock jumps,
every frame it jumped over is still published, in order.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rclpy.node import Node

from smart_store.config import load_store_config
from smart_store.graph.table import TRACKS
from smart_store.msg import Keypoint3D, Track, TrackArray
from smart_store.resources import default_store_config
from smart_store.ros.convert import to_time
from smart_store.ros.params import declare_float, declare_str
from smart_store.ros.qos import profile
from smart_store.ros.runner import run_node
from smart_store.tracking.truth import TruthFrame, TruthTracks


class TruthTrackerNode(Node):
    def __init__(self) -> None:
        super().__init__('tracker')
        path = declare_str(self, 'store_config', '', 'store config YAML; empty = demo store')
        truth_dir = declare_str(self, 'truth_dir', '', 'the run\'s truth/ folder')
        epoch = declare_float(self, 'sim_epoch', 1_767_225_600.0,
                              'ROS time (s) of sim time 0', low=0.0, high=4e9)
        self.cfg = load_store_config(path or default_store_config())
        self.truth = TruthTracks.load(Path(truth_dir), self.cfg.zones_of_kind('exit'), epoch)
        self.pub = self.create_publisher(TrackArray, TRACKS.name, profile(TRACKS.qos))
        self.timer = self.create_timer(1.0 / 30.0, self.tick)
        self.get_logger().warning('ABLATION: publishing ground-truth tracks, not perception')

    def tick(self) -> None:
        now = self.get_clock().now().nanoseconds / 1e9
        for frame in self.truth.until(now):
            self.pub.publish(self.frame_msg(frame))

    def frame_msg(self, frame: TruthFrame) -> TrackArray:
        msg = TrackArray()
        msg.header.stamp, msg.header.frame_id = to_time(frame.stamp), self.cfg.frame_id
        for t in frame.tracks:
            track = Track(id=t.track_id, state=t.state)
            if t.joints is not None:
                track.confidence = 1.0
                track.position.x, track.position.y = t.x, t.y
                for k in range(17):
                    kp = Keypoint3D(confidence=1.0)
                    kp.position.x, kp.position.y, kp.position.z = (float(v) for v in t.joints[k])
                    track.keypoints[k] = kp
            msg.tracks.append(track)
        return msg


def main(args: list[str] | None = None) -> int:
    return run_node(TruthTrackerNode, args if args is not None else sys.argv)


if __name__ == '__main__':
    raise SystemExit(main())
