"""camera_driver node: captures cameras through OpenCV and publishes Image + CameraInfo.

One process can serve several cameras (parameter ``cameras``: ids, empty = all in the store
config) or one camera each (launch them under ``/cameras/<id>`` with ``cameras:=[<id>]`` and
``relative_topics:=true``). Each camera has its own capture thread, so a stalled device never
blocks another. A failing source reconnects with backoff; dropped frames are counted, logged
once per burst and reported on /diagnostics. The node never exits because a camera failed.
Video files and image folders are paced at the camera rate on the wall clock, or on sim time
when the node runs with ``use_sim_time`` (it then follows a replay's ``/clock``).
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, Image

from smart_store.config import load_store_config
from smart_store.config.model import CameraConfig
from smart_store.drivers.camera_source import ReconnectingSource, SourceError, parse_source
from smart_store.drivers.image_convert import get_bridge
from smart_store.drivers.pacing import FramePacer, RateCap
from smart_store.drivers.publish_gate import PublishGate
from smart_store.geometry.camera import scale_intrinsics
from smart_store.resources import default_store_config
from smart_store.ros.params import declare_bool, declare_float, declare_str, declare_str_list
from smart_store.ros.qos import fresh_sensor_qos
from smart_store.ros.runner import SHUTDOWN_ERRORS, run_node


def camera_info_msg(cam: CameraConfig, width: int, height: int) -> CameraInfo:
    """CameraInfo from the store calibration, rescaled if the source delivers another size.

    The rescaling is ``scale_intrinsics`` (pixel centres at integer coordinates), the same the
    twin's renderer uses, so a twin image and its CameraInfo agree to the sub-pixel.
    """
    info = cam.model.camera_info_dict()
    sx, sy = width / float(info['width']), height / float(info['height'])
    k = scale_intrinsics(np.reshape(info['k'], (3, 3)), sx, sy)
    p = scale_intrinsics(np.reshape(info['p'], (3, 4)), sx, sy)
    msg = CameraInfo()
    msg.width, msg.height = width, height
    msg.distortion_model = info['distortion_model']
    msg.d = [float(v) for v in info['d']]
    msg.k = [float(v) for v in k.reshape(-1)]
    msg.r = [float(v) for v in info['r']]
    msg.p = [float(v) for v in p.reshape(-1)]
    return msg


class CameraWorker:
    """One camera: a capture thread pacing reads and publishing what it gets."""

    def __init__(self, node: CameraDriverNode, cam: CameraConfig, source: ReconnectingSource,
                 fps: float, topics: tuple[str, str]) -> None:
        image_topic, info_topic = topics
        self.node, self.cam, self.source, self.fps = node, cam, source, fps
        overrides = QoSOverridingOptions.with_default_policies()
        # one profile object each: an override is applied to the object in place
        self.image_pub = node.create_publisher(Image, image_topic, fresh_sensor_qos(),
                                               qos_overriding_options=overrides)
        self.info_pub = node.create_publisher(CameraInfo, info_topic, fresh_sensor_qos(),
                                              qos_overriding_options=overrides)
        self.published = 0
        self.capped = 0
        self.errors = 0           # unexpected capture errors survived (see _loop)
        self.pacer = FramePacer(1.0 / fps)
        self._reported_state = ''
        self._info: CameraInfo | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f'camera-{cam.id}', daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self, timeout: float = 2.0) -> None:
        self.request_stop()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout=timeout)
        if not self._thread.is_alive():
            self.source.release()

    def _loop(self) -> None:
        """The capture thread: an unexpected error is logged, counted and survived (the camera
        goes on after a short pause), so one bad frame never silently ends a camera."""
        while not self._stop.is_set():
            try:
                self._capture()
                return
            except Exception as err:  # noqa: BLE001 - a capture thread must not die unseen
                if not self.node.context.ok():
                    return  # shutting down: the context went first
                self.errors += 1
                self.node.get_logger().error(
                    f'{self.cam.id}: capture error {type(err).__name__}: {err} (error '
                    f'{self.errors}); the camera goes on')
                self._stop.wait(0.5)

    def _capture(self) -> None:
        cap = RateCap(1.0 / self.fps)
        recorded = self.source.spec.kind in ('file', 'dir')
        while not self._stop.is_set():
            frame = self.source.read(time.monotonic())
            if self.source.stats.state != self._reported_state:
                self._reported_state = self.source.stats.state
                log = self.node.get_logger()
                if self._reported_state == 'open':
                    log.info(f'{self.cam.id}: {self.source.spec.describe()} open')
                else:
                    log.warning(f'{self.cam.id}: {self.source.stats.last_error}; retrying')
            if frame is None:
                self._stop.wait(0.05 if not self.source.finished() else 0.5)
                continue
            if recorded:
                # Recorded sources are paced at the camera rate (the fps cap), on sim time
                # when the node runs on it: a replay's /clock sets the video's speed.
                if not self._wait_until_due():
                    return
                self._publish(frame)
                self.pacer.published(self._pace_now())
                continue
            # a live source faster than the cap loses frames; one at the cap with jitter none
            if not cap.admit(time.monotonic()):
                self.capped = cap.capped
                continue
            self._publish(frame)

    def _pace_now(self) -> float:
        if self.node.sim_time:
            return self.node.get_clock().now().nanoseconds / 1e9
        return time.monotonic()

    def _wait_until_due(self) -> bool:
        """Block until the pacer says the frame is due; False when asked to stop."""
        while not self._stop.is_set():
            now = self._pace_now()
            if self.node.sim_time and now <= 0.0:
                self._stop.wait(0.05)  # no /clock yet: sim time has not started
                continue
            wait = self.pacer.due_in(now)
            if wait <= 0.0:
                return True
            # On sim time the clock's rate is unknown (paused, 2x): look again soon.
            self._stop.wait(min(wait, 0.01) if self.node.sim_time else wait)
        return False

    def _publish(self, frame: np.ndarray) -> None:
        stamp = self.node.get_clock().now().to_msg()  # capture time on the node's clock
        msg = self.node.bridge.cv2_to_imgmsg(frame, 'bgr8')
        msg.header.stamp = stamp
        msg.header.frame_id = self.cam.id
        h, w = frame.shape[:2]
        if self._info is None or (self._info.width, self._info.height) != (w, h):
            self._info = camera_info_msg(self.cam, w, h)
        self._info.header = msg.header
        gate = self.node.gate  # after shutdown: a counted drop, not a traceback
        if gate.publish(self.image_pub.publish, msg):
            gate.publish(self.info_pub.publish, self._info)
            self.published += 1


class CameraDriverNode(Node):
    def __init__(self) -> None:
        super().__init__('camera_driver')
        path = declare_str(self, 'store_config', '', 'store config YAML; empty = demo store')
        ids = declare_str_list(self, 'cameras', 'camera ids to capture; empty = all')
        sources = declare_str_list(self, 'sources', 'camera sources as "<id>=<uri>" (uri: '
                                   'device:N, /dev/videoN, file:PATH, dir:PATH, rtsp://...)')
        fps_cap = declare_float(self, 'fps_cap', 0.0, 'max frames/s per camera; 0 = config fps',
                                low=0.0, high=240.0)
        loop = declare_bool(self, 'loop', False, 'loop file and folder sources')
        relative = declare_bool(self, 'relative_topics', False,
                                'publish image_raw/camera_info relative to the namespace '
                                '(one node per camera)')
        backoff = declare_float(self, 'reconnect_backoff_max', 10.0,
                                's, longest wait between reconnection attempts', low=0.1,
                                high=600.0)
        cfg = load_store_config(path or default_store_config())
        # File and folder sources follow the node clock when it is sim time (a bag's /clock).
        self.sim_time = bool(self.get_parameter('use_sim_time').value)
        self.bridge = get_bridge()
        self.gate = PublishGate(self.context.ok, SHUTDOWN_ERRORS)
        wanted = [i for i in ids if i] or [c.id for c in cfg.cameras]
        uri_by_id = dict(s.split('=', 1) for s in sources if '=' in s)
        self.workers: list[CameraWorker] = []
        for cam_id in wanted:
            try:
                cam = cfg.camera(cam_id)
            except KeyError:
                self.get_logger().error(f'unknown camera {cam_id!r} (not in {cfg.path})')
                continue
            uri = uri_by_id.get(cam_id)
            if uri is None:
                self.get_logger().warning(f'{cam_id}: no source given (sources:=["{cam_id}='
                                          'device:0"]); not capturing')
                continue
            try:
                spec = parse_source(uri, loop=loop)
            except (SourceError, ValueError) as err:
                self.get_logger().error(f'{cam_id}: {err}')
                continue
            fps = fps_cap or cam.fps
            image_topic = 'image_raw' if relative else cam.topic
            info_topic = 'camera_info' if relative else cam.info_topic
            worker = CameraWorker(self, cam, ReconnectingSource(spec, backoff_max=backoff), fps,
                                  (image_topic, info_topic))
            self.workers.append(worker)
        self._diag = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._timer = self.create_timer(1.0, self.publish_diagnostics)
        for worker in self.workers:
            worker.start()
        self.get_logger().info(f'capturing {len(self.workers)} camera(s)')

    def publish_diagnostics(self) -> None:
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        for w in self.workers:
            s = w.source.stats
            level = DiagnosticStatus.OK if s.state == 'open' else DiagnosticStatus.WARN
            msg.status.append(DiagnosticStatus(
                level=level, name=f'camera_driver: {w.cam.id}',
                hardware_id=w.source.spec.describe(),
                message=s.state if s.state == 'open' else s.last_error,
                values=[KeyValue(key=k, value=str(v)) for k, v in (
                    ('published', w.published), ('frames', s.frames), ('dropped', s.dropped),
                    ('open_failures', s.open_failures), ('reconnects', s.reconnects),
                    ('capped', w.capped), ('capture_errors', w.errors))]))
        self.gate.publish(self._diag.publish, msg)

    def destroy_node(self) -> None:
        """Stop and join the capture threads before the node (and then the context) goes."""
        self.gate.close()
        for worker in self.workers:
            worker.request_stop()
        for worker in self.workers:
            worker.stop()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(CameraDriverNode, args if args is not None else sys.argv,
                    orderly_shutdown=True)


if __name__ == '__main__':
    raise SystemExit(main())
