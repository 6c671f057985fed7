"""truth_tracker node — ABLATION ONLY: publishes the twin's ground-truth people as tracks.

This is not perception. It replays ``<run>/truth/joints3d.npz`` on the node clock (sim time)
as TrackArray messages, so the stages after tracking (reach detection, arbitration, billing) can
be scored without perception errors: the "ground-truth tracks" ablation of the benchmark,
always labelled as such. Track ids are the truth person index + 1; a person is tentative in
their first frame, confirmed afterwards, and exited once they disappear after being inside an
exit zone.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from rclpy.node import Node

from smart_store.config import load_store_config
from smart_store.graph.table import TRACKS
from smart_store.msg import Keypoint3D, Track, TrackArray
from smart_store.resources import default_store_config
from smart_store.ros.convert import to_time
from smart_store.ros.params import declare_float, declare_str
from smart_store.ros.qos import profile
from smart_store.ros.runner import run_node


class TruthTrackerNode(Node):
    def __init__(self) -> None:
        super().__init__('tracker')
        path = declare_str(self, 'store_config', '', 'store config YAML; empty = demo store')
        truth_dir = declare_str(self, 'truth_dir', '', 'the run\'s truth/ folder')
        epoch = declare_float(self, 'sim_epoch', 1_767_225_600.0,
                              'ROS time (s) of sim time 0', low=0.0, high=4e9)
        self.cfg = load_store_config(path or default_store_config())
        data = np.load(Path(truth_dir) / 'joints3d.npz')
        self.times = data['times'] + epoch
        self.persons = [int(p) for p in data['persons']]
        self.joints = data['joints']
        self.exit_zones = self.cfg.zones_of_kind('exit')
        self.seen: set[int] = set()
        self.in_exit: dict[int, bool] = {}
        self.exited: set[int] = set()
        self.index = -1
        self.pub = self.create_publisher(TrackArray, TRACKS.name, profile(TRACKS.qos))
        self.timer = self.create_timer(1.0 / 30.0, self.tick)
        self.get_logger().warning('ABLATION: publishing ground-truth tracks, not perception')

    def tick(self) -> None:
        now = self.get_clock().now().nanoseconds / 1e9
        i = int(np.searchsorted(self.times, now, side='right')) - 1
        if i < 0 or i == self.index:
            return
        self.index = i
        msg = TrackArray()
        msg.header.stamp, msg.header.frame_id = to_time(float(self.times[i])), self.cfg.frame_id
        for j, person in enumerate(self.persons):
            tid = person + 1
            pts = self.joints[i, j]
            present = bool(np.all(np.isfinite(pts)))
            if not present:
                if tid in self.seen and self.in_exit.get(tid) and tid not in self.exited:
                    self.exited.add(tid)
                    msg.tracks.append(Track(id=tid, state=Track.STATE_EXITED))
                continue
            floor = pts[[11, 12], :2].mean(axis=0)
            self.in_exit[tid] = any(bool(z.contains(floor[None])[0]) for z in self.exit_zones)
            track = Track(id=tid, state=Track.STATE_CONFIRMED if tid in self.seen
                          else Track.STATE_TENTATIVE, confidence=1.0)
            self.seen.add(tid)
            track.position.x, track.position.y = float(floor[0]), float(floor[1])
            for k in range(17):
                kp = Keypoint3D(confidence=1.0)
                kp.position.x, kp.position.y, kp.position.z = (float(v) for v in pts[k])
                track.keypoints[k] = kp
            msg.tracks.append(track)
        self.pub.publish(msg)


def main(args: list[str] | None = None) -> int:
    return run_node(TruthTrackerNode, args if args is not None else sys.argv)


if __name__ == '__main__':
    raise SystemExit(main())
