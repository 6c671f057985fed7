"""tracker node: every camera -> batched 2D pose -> cross-view fusion -> 3D tracks with IDs.

Images are grouped into frame sets by header stamp with a bounded wait (tracking/framesets.py),
so a camera that stops or lags never stalls tracking. The newest complete-or-timed-out frame set
is processed at ``inference_rate``: all its images go through the pose network as ONE batch
(CUDA with fp16 when present, CPU otherwise), detections are rescaled to the calibrated camera
resolution, and tracking/fusion.py associates, triangulates and tracks them. Output: TrackArray
stamped with the frame-set time, RViz markers (skeletons, ID labels, short trails) and, on
request, the 2D detections.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np
import rclpy.clock
from rclpy.node import Node
from sensor_msgs.msg import Image
from visualization_msgs.msg import Marker, MarkerArray

from smart_store.config import ConfigError, load_store_config
from smart_store.drivers.image_convert import ConversionError, get_bridge
from smart_store.graph.table import DETECTIONS, TRACK_MARKERS, TRACKS
from smart_store.jsonfile import write_json_atomic
from smart_store.msg import (
    Keypoint2D,
    Keypoint3D,
    PersonDetection,
    PersonDetectionArray,
    Track,
    TrackArray,
)
from smart_store.resources import default_store_config
from smart_store.ros.convert import to_sec, to_time
from smart_store.ros.params import declare_bool, declare_float, declare_int, declare_str
from smart_store.ros.player import RELIABLE_IMAGES
from smart_store.ros.qos import SENSOR, profile
from smart_store.ros.runner import run_node
from smart_store.tracking.framesets import FrameSetAssembler
from smart_store.tracking.fusion import Fusion
from smart_store.tracking.model import Detection2D, TrackState, TrackStatus
from smart_store.tracking.rescale import rescale
from smart_store.twin.model import COCO_SKELETON

DEFAULT_WEIGHTS = Path(__file__).parent / 'pose' / 'weights' / 'posenet.pt'


def track_msg(s: TrackState) -> Track:
    msg = Track(id=int(s.id), state=int(s.state), confidence=float(s.confidence))
    msg.position.x, msg.position.y = float(s.position[0]), float(s.position[1])
    msg.velocity.x, msg.velocity.y = float(s.velocity[0]), float(s.velocity[1])
    for i in range(17):
        x, y, z, c = (float(v) for v in s.keypoints[i])
        kp = Keypoint3D(confidence=c if np.isfinite(x) else 0.0)
        if np.isfinite(x):
            kp.position.x, kp.position.y, kp.position.z = x, y, z
        msg.keypoints[i] = kp
    msg.camera_ids = list(s.camera_ids)
    msg.first_seen = to_time(s.first_seen)
    msg.confusable_ids = [int(i) for i in s.confusable]
    return msg


class TrackerNode(Node):
    def __init__(self) -> None:
        super().__init__('tracker')
        path = declare_str(self, 'store_config', '', 'store config YAML; empty = demo store')
        device = declare_str(self, 'device', 'auto', 'torch device: auto, cpu or cuda')
        weights = declare_str(self, 'weights', '', 'pose weights (.pt); empty = packaged')
        width = declare_int(self, 'input_width', 0, 'network input width px; 0 = trained size',
                            low=0, high=4096)
        height = declare_int(self, 'input_height', 0, 'network input height px', low=0,
                             high=4096)
        self.rate = declare_float(self, 'inference_rate', 5.0, 'frame sets per second run '
                                  'through the network', low=0.1, high=120.0)
        max_wait = declare_float(self, 'max_wait', 0.4, 's a frame set waits for late frames',
                                 low=0.0, high=2.0)
        threads = declare_int(self, 'torch_threads', 1, 'CPU threads for inference',
                              low=1, high=64)
        self.publish_detections = declare_bool(self, 'publish_detections', True,
                                                'also publish the 2D detections')
        image_reliable = declare_bool(self, 'image_reliable', False,
                                      'subscribe to images RELIABLE (needs reliable camera '
                                      'publishers: a bag replay, or drivers with a QoS override)',
                                      read_only=True)
        backend = declare_str(self, 'backend', 'auto', 'pose backend: auto (torch on a GPU, '
                              'ONNX Runtime on a CPU when installed), torch or onnx',
                              read_only=True)
        state = declare_str(self, 'state_file', 'out/tracker_state.json',
                            'tracks saved here every second and taken over by a respawned '
                            'tracker (people inside keep their ids); empty = off')
        self.state_max_age = declare_float(self, 'state_max_age', 60.0, 's of sensor time a '
                                           'saved state may be older than the first frame set '
                                           'after a restart (a respawn, not a new day)',
                                           low=0.0, high=600.0)
        self.cfg = load_store_config(path or default_store_config())
        from smart_store.tracking.pose.backend import BACKENDS, make_backend  # noqa: PLC0415

        if backend not in BACKENDS:  # one line from run_node, not a traceback
            raise ConfigError('<parameters>', 'tracker.backend',
                              f'{backend!r} is not one of {", ".join(BACKENDS)}')

        weights_path = Path(weights) if weights else DEFAULT_WEIGHTS
        self.backend = make_backend(backend, weights_path, device,
                                    (width, height) if width and height else None,
                                    num_threads=threads)
        self.fusion = Fusion(self.cfg)
        self.state_file = Path(state) if state else None
        self._saved_state: dict[str, object] | None = None
        if self.state_file is not None and self.state_file.exists():
            try:
                self._saved_state = json.loads(self.state_file.read_text(encoding='utf-8'))
            except (OSError, ValueError) as err:
                self.get_logger().error(f'{self.state_file}: unreadable ({err}); '
                                        'starting without the saved tracks')
        self._state_lock = threading.Lock()
        fps = max(c.fps for c in self.cfg.cameras)
        self.assembler = FrameSetAssembler([c.id for c in self.cfg.cameras], 1.0 / fps,
                                           max_wait)
        self.bridge = get_bridge()
        self.sizes = {c.id: (c.width, c.height) for c in self.cfg.cameras}
        self.track_pub = self.create_publisher(TrackArray, TRACKS.name, profile(TRACKS.qos))
        self.marker_pub = self.create_publisher(MarkerArray, TRACK_MARKERS.name,
                                                profile(TRACK_MARKERS.qos))
        self.det_pub = self.create_publisher(PersonDetectionArray, DETECTIONS.name, SENSOR)
        image_qos = RELIABLE_IMAGES if image_reliable else SENSOR
        for cam in self.cfg.cameras:
            self.create_subscription(Image, cam.topic,
                                     lambda msg, c=cam.id: self.on_image(c, msg), image_qos)
        self.last_processed = -np.inf
        self.trails: dict[int, deque[tuple[float, float]]] = {}
        self.stats = {'frame_sets': 0, 'skipped_sets': 0, 'bad_images': 0}
        # Inference runs in a worker thread so that image callbacks keep flowing into the
        # frame-set assembler while the network is busy; the worker always takes the newest
        # closed frame set (older ones waiting are skipped, never queued up).
        self._slot: tuple[float, dict[str, Image]] | None = None
        self._slot_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, name='tracker-inference',
                                        daemon=True)
        self._worker.start()
        self.timer = self.create_timer(0.02, self.tick)
        self.report_timer = self.create_timer(10.0, self.report)
        if self.state_file is not None:
            # wall clock: saving must go on whatever the sim clock does
            self.save_timer = self.create_timer(1.0, self.save_state,
                                                clock=rclpy.clock.Clock())
        self.get_logger().info(
            f'pose ({type(self.backend).__name__}) on {self.backend.device} at '
            f'{self.backend.input_size[0]}x'
            f'{self.backend.input_size[1]}, {self.rate:g} frame sets/s, '
            f'{len(self.cfg.cameras)} cameras')

    def on_image(self, camera_id: str, msg: Image) -> None:
        self.assembler.add(camera_id, to_sec(msg.header.stamp), msg, now=self._now())

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds / 1e9

    def tick(self) -> None:
        sets = self.assembler.poll(self._now())
        if not sets:
            return
        # The newest of the fullest sets: a set closed by the wait limit with few cameras
        # (frames still in flight) is worth less than a slightly older complete one.
        newest = max(sets, key=lambda fs: (len(fs.items), fs.stamp))
        self.stats['skipped_sets'] += len(sets) - 1
        if newest.stamp - self.last_processed < 1.0 / self.rate - 1e-3:
            self.stats['skipped_sets'] += 1
            return
        self.last_processed = newest.stamp
        with self._slot_lock:
            if self._slot is not None:
                self.stats['skipped_sets'] += 1  # the worker is still busy: newest wins
            self._slot = (newest.stamp, dict(newest.items))
        self._wake.set()

    def _work(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            with self._slot_lock:
                job, self._slot = self._slot, None
            if job is not None:
                try:
                    self.process(*job)
                except Exception as err:  # noqa: BLE001 - one bad frame set must not stop tracking
                    self.get_logger().error(f'frame set at {job[0]:.3f} failed: {err!r}')

    def report(self) -> None:
        late = sum(self.assembler.late.values())
        self.get_logger().info(
            f"{self.stats['frame_sets']} frame sets processed, {self.stats['skipped_sets']} "
            f"skipped, {late} late frames, {self.stats['bad_images']} bad images")

    def destroy_node(self) -> None:
        self._stop.set()
        self._wake.set()
        self._worker.join(timeout=5.0)
        super().destroy_node()

    def process(self, t: float, images: dict[str, Image]) -> None:
        cams, frames = [], []
        for cam, msg in sorted(images.items()):
            try:
                frames.append(self.bridge.imgmsg_to_cv2(msg, 'bgr8'))
                cams.append(cam)
            except (ConversionError, ValueError) as err:
                self.stats['bad_images'] += 1
                if self.stats['bad_images'] == 1:
                    self.get_logger().warning(f'{cam}: unusable image dropped ({err})')
        t0 = time.perf_counter()
        results = self.backend.infer(frames) if frames else []
        t1 = time.perf_counter()
        by_camera: dict[str, list[Detection2D]] = {}
        det_msgs = []
        for cam, frame, dets in zip(cams, frames, results, strict=True):
            h, w = frame.shape[:2]
            cw, ch = self.sizes[cam]
            converted = [rescale(cam, d, (w, h), (cw, ch)) for d in dets]
            by_camera[cam] = converted
            if self.publish_detections:
                det_msgs.append(self._detections_msg(t, cam, cw, ch, converted))
        if self._saved_state is not None:
            self._take_over(t)
        with self._state_lock:
            states = self.fusion.process(t, by_camera)
        self.stats['frame_sets'] += 1
        out = TrackArray()
        out.header.stamp, out.header.frame_id = to_time(t), self.cfg.frame_id
        out.tracks = [track_msg(s) for s in states]
        self.track_pub.publish(out)
        for m in det_msgs:
            self.det_pub.publish(m)
        self.marker_pub.publish(self._markers(t, states))
        if self.stats['frame_sets'] % 50 == 1:
            self.get_logger().info(
                f'{len(frames)} images: pose {1e3 * (t1 - t0):.0f} ms, fusion '
                f'{self.fusion.timings.get("total", 0.0):.1f} ms, {len(states)} tracks')

    def _take_over(self, t: float) -> None:
        """First frame set after a start: carry on with the saved tracks if they are recent
        (a respawn), not after a long stop or when the clock went back (a new replay)."""
        saved, self._saved_state = self._saved_state, None
        t_saved = saved.get('t') if saved else None
        if not isinstance(t_saved, (int, float)) or not 0.0 <= t - t_saved <= self.state_max_age:
            return
        try:
            with self._state_lock:
                n = self.fusion.tracker.restore(saved, now=t)  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError) as err:
            self.get_logger().error(f'{self.state_file}: cannot restore ({err})')
            return
        self.get_logger().info(f'took over {n} tracks saved {t - t_saved:.1f} s earlier')

    def save_state(self) -> None:
        """Write the tracks atomically (a crash mid-write leaves the previous file)."""
        assert self.state_file is not None
        if self._saved_state is not None:
            return  # not yet decided whether to take the old state over: do not overwrite it
        with self._state_lock:
            snap = self.fusion.tracker.snapshot()
        if snap['t'] is None:
            return
        write_json_atomic(self.state_file, snap)

    def _detections_msg(self, t: float, cam: str, w: int, h: int,
                        dets: list[Detection2D]) -> PersonDetectionArray:
        msg = PersonDetectionArray(camera_id=cam, image_width=w, image_height=h)
        msg.header.stamp, msg.header.frame_id = to_time(t), self.cfg.frame_id
        for d in dets:
            p = PersonDetection(score=float(d.score))
            p.x_min, p.y_min, p.x_max, p.y_max = (float(v) for v in d.box)
            for i in range(17):
                u, v, s = (float(x) for x in d.keypoints[i])
                p.keypoints[i] = Keypoint2D(u=u, v=v, score=s)
            msg.detections.append(p)
        return msg

    def _markers(self, t: float, states: list[TrackState]) -> MarkerArray:
        out = MarkerArray()
        stamp = to_time(t)
        delete = Marker(action=Marker.DELETEALL)
        delete.header.frame_id = self.cfg.frame_id
        out.markers.append(delete)
        for s in states:
            if s.state == TrackStatus.EXITED:
                self.trails.pop(s.id, None)
                continue
            trail = self.trails.setdefault(s.id, deque(maxlen=40))
            trail.append((float(s.position[0]), float(s.position[1])))
            colour = ((s.id * 67) % 255 / 255.0, (s.id * 131) % 255 / 255.0,
                      (s.id * 199) % 255 / 255.0)
            bones = Marker(type=Marker.LINE_LIST, action=Marker.ADD, ns='skeletons', id=s.id)
            trail_m = Marker(type=Marker.LINE_STRIP, action=Marker.ADD, ns='trails', id=s.id)
            label = Marker(type=Marker.TEXT_VIEW_FACING, action=Marker.ADD, ns='ids', id=s.id)
            for m in (bones, trail_m, label):
                m.header.frame_id, m.header.stamp = self.cfg.frame_id, stamp
                m.pose.orientation.w = 1.0
                m.color.r, m.color.g, m.color.b, m.color.a = (*colour, 1.0)
            bones.scale.x, trail_m.scale.x, label.scale.z = 0.03, 0.02, 0.25
            kp = s.keypoints
            from geometry_msgs.msg import Point  # noqa: PLC0415

            for a, b in COCO_SKELETON:
                if kp[a, 3] > 0.2 and kp[b, 3] > 0.2 and np.all(np.isfinite(kp[[a, b], :3])):
                    bones.points += [Point(x=float(kp[a, 0]), y=float(kp[a, 1]),
                                           z=float(kp[a, 2])),
                                     Point(x=float(kp[b, 0]), y=float(kp[b, 1]),
                                           z=float(kp[b, 2]))]
            trail_m.points = [Point(x=x, y=y, z=0.02) for x, y in trail]
            label.pose.position.x, label.pose.position.y = trail[-1]
            label.pose.position.z = 2.0
            label.text = f'#{s.id}' + ('' if s.state == TrackStatus.CONFIRMED
                                       else f' ({s.state.name.lower()})')
            out.markers += [bones, trail_m, label]
        return out


def main(args: list[str] | None = None) -> int:
    return run_node(TrackerNode, args if args is not None else sys.argv)


if __name__ == '__main__':
    raise SystemExit(main())
