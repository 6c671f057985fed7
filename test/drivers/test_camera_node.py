"""The camera_driver node as a process: a video file and an image folder that vanishes."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import QoSPresetProfiles
from sensor_msgs.msg import CameraInfo, Image

from smart_store.config import load_store_config
from smart_store.drivers.camera_node import camera_info_msg
from smart_store.twin.render import _scaled_model

sys.path.insert(0, str(Path(__file__).parent))
from test_camera_source import write_folder, write_video

pytestmark = pytest.mark.ros
ROOT = Path(__file__).resolve().parents[2]
CFG_DEMO = load_store_config(ROOT / 'config' / 'demo_store.yaml')


def start(python: str, env: dict[str, str], *params: str) -> subprocess.Popen[str]:
    argv = [python, '-m', 'smart_store.drivers.camera_node', '--ros-args']
    for p in params:
        argv += ['-p', p]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def collect(seconds: float, topics: dict[str, type],
            until: Callable[[dict[str, list]], bool] | None = None) -> dict[str, list]:
    """Messages of ``topics`` for ``seconds`` (or until ``until(got)``: a node that starts
    slowly on a loaded machine gets the whole budget, a fast one does not wait for it)."""
    rclpy.init()
    got: dict[str, list] = {t: [] for t in topics}
    try:
        node = rclpy.create_node('camera_test')
        for topic, cls in topics.items():
            qos = QoSPresetProfiles.SENSOR_DATA.value if cls is not DiagnosticArray else 10
            node.create_subscription(cls, topic, got[topic].append, qos)
        end = time.monotonic() + seconds
        while time.monotonic() < end and not (until and until(got)):
            rclpy.spin_once(node, timeout_sec=0.05)
        node.destroy_node()
    finally:
        rclpy.shutdown()
    return got


@pytest.mark.parametrize('size', [(640, 480), (320, 240), (1280, 720), (200, 150)])
def test_camera_info_rescaling_agrees_with_the_twin_renderer(size: tuple[int, int]) -> None:
    """A twin image at another resolution and the driver's CameraInfo for it share one K (the
    pixel-centre convention of ``geometry.scale_intrinsics``), so a tracker fed by the twin
    sees exactly the geometry the twin rendered with."""
    cam = load_store_config(ROOT / 'config' / 'demo_store.yaml').camera('cam_fl')
    model = _scaled_model(cam, *size)  # what CameraRenderer renders a width x height image with
    info = camera_info_msg(cam, *size)
    assert (info.width, info.height) == size == (model.width, model.height)
    k = np.reshape(info.k, (3, 3))
    np.testing.assert_array_equal(k, model.K)
    np.testing.assert_array_equal(np.reshape(info.p, (3, 4))[:, :3], k)
    np.testing.assert_array_equal(info.d, model.dist)
    sx = size[0] / cam.width
    assert info.k[2] == pytest.approx((cam.model.cx + 0.5) * sx - 0.5)


def test_video_file_source_publishes_images_and_camera_info(
        tmp_path: Path, ros_env: dict[str, str], python: str) -> None:
    video = write_video(tmp_path / 'cam.mp4', frames=30, size=(320, 240))
    proc = start(python, ros_env, 'cameras:=["cam_fl"]', f'sources:=["cam_fl=file:{video}"]',
                 'loop:=true', 'fps_cap:=10.0')
    try:
        got = collect(30.0, {'/cameras/cam_fl/image_raw': Image,
                             '/cameras/cam_fl/camera_info': CameraInfo},
                      until=lambda g: len(g['/cameras/cam_fl/image_raw']) >= 40
                      and len(g['/cameras/cam_fl/camera_info']) >= 1)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    images, infos = got['/cameras/cam_fl/image_raw'], got['/cameras/cam_fl/camera_info']
    assert len(images) >= 40, out  # more than the 30-frame file: it loops
    stamps = [i.header.stamp.sec + i.header.stamp.nanosec * 1e-9 for i in images]
    assert (len(stamps) - 1) / (stamps[-1] - stamps[0]) <= 12.0  # the 10 fps cap holds
    img = images[-1]
    assert (img.width, img.height, img.encoding) == (320, 240, 'bgr8')
    assert img.header.frame_id == 'cam_fl'
    info = infos[-1]
    # Calibration of a 640x480 camera rescaled to the 320x240 source.
    cam = load_store_config(ROOT / 'config' / 'demo_store.yaml').camera('cam_fl')
    assert info.width == 320
    assert info.k[2] == pytest.approx((cam.model.cx + 0.5) * 320 / cam.width - 0.5)
    assert 100 < info.k[0] < 300
    assert proc.returncode == 0, out


def dead_reported(got: dict[str, list]) -> bool:
    statuses = [s for d in got['/diagnostics'] for s in d.status if 'cam_fr' in s.name]
    return bool(statuses) and statuses[-1].level != 0


def test_vanishing_folder_degrades_without_crashing(
        tmp_path: Path, ros_env: dict[str, str], python: str) -> None:
    folder = write_folder(tmp_path / 'imgs', frames=200)
    proc = start(python, ros_env, 'cameras:=["cam_fr"]', f'sources:=["cam_fr=dir:{folder}"]',
                 'fps_cap:=20.0', 'reconnect_backoff_max:=0.5')
    try:
        first = collect(30.0, {'/cameras/cam_fr/image_raw': Image},
                        until=lambda got: len(got['/cameras/cam_fr/image_raw']) >= 10)
        shutil.rmtree(folder)
        later = collect(20.0, {'/diagnostics': DiagnosticArray,
                               '/cameras/cam_fr/image_raw': Image}, until=dead_reported)
        assert proc.poll() is None, 'the node must survive its source vanishing'
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert len(first['/cameras/cam_fr/image_raw']) >= 10
    statuses = [s for d in later['/diagnostics'] for s in d.status if 'cam_fr' in s.name]
    assert statuses and statuses[-1].level != 0, 'diagnostics must report the dead source'
    values = {kv.key: kv.value for kv in statuses[-1].values}
    assert int(values['dropped']) >= 1 or int(values['open_failures']) >= 1
    assert 'Traceback' not in out


def test_a_file_source_on_sim_time_follows_the_clock(
        tmp_path: Path, ros_env: dict[str, str], python: str) -> None:
    """``use_sim_time``: the video waits for /clock, plays at the clock's rate (2x here) and
    stops while the clock is paused; images are stamped on sim time."""
    from builtin_interfaces.msg import Time
    from rosgraph_msgs.msg import Clock

    video = write_video(tmp_path / 'cam.mp4', frames=30, size=(160, 120))
    proc = start(python, ros_env, 'cameras:=["cam_fl"]', f'sources:=["cam_fl=file:{video}"]',
                 'loop:=true', 'fps_cap:=10.0', 'use_sim_time:=true')
    images: list[Image] = []
    phases: dict[str, int] = {}
    rclpy.init()
    try:
        node = rclpy.create_node('camera_sim_time_test')
        node.create_subscription(Image, '/cameras/cam_fl/image_raw', images.append,
                                 QoSPresetProfiles.SENSOR_DATA.value)
        clock = node.create_publisher(Clock, '/clock', 10)
        deadline = time.monotonic() + 30.0  # the driver and its subscription, on a slow box
        while time.monotonic() < deadline and node.count_publishers(
                '/cameras/cam_fl/image_raw') == 0:
            rclpy.spin_once(node, timeout_sec=0.05)
        end = time.monotonic() + 2.0         # no clock yet: sim time has not started
        while time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.05)
        phases['before_clock'] = len(images)
        sim, wall0 = 100.0, time.monotonic()

        def tick() -> None:
            clock.publish(Clock(clock=Time(sec=int(sim), nanosec=int(sim % 1 * 1e9))))
            rclpy.spin_once(node, timeout_sec=0.01)
        while len(images) < 5 and time.monotonic() - wall0 < 20.0:  # until frames flow
            sim += 0.02
            tick()
        n0, sim0, run0 = len(images), sim, time.monotonic()
        while time.monotonic() - run0 < 4.0:  # 2x: 20 ms of sim time per 10 ms of wall time
            sim = sim0 + 2.0 * (time.monotonic() - run0)
            tick()
        phases['run'], run_wall, run_sim = len(images) - n0, time.monotonic() - run0, sim - sim0
        end = time.monotonic() + 1.5         # paused: the clock stands still
        while time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.05)
        # a frame already due when the clock stopped may still land
        phases['paused'] = len(images) - n0 - phases['run']
        node.destroy_node()
    finally:
        rclpy.shutdown()
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert phases['before_clock'] == 0, out
    # 10 fps of sim time at 2x is 20 frames per wall second: well above what wall pacing gives
    assert phases['run'] >= 0.6 * 10 * run_sim and phases['run'] > 1.3 * 10 * run_wall, \
        (phases, run_wall, run_sim, out)
    assert phases['paused'] <= 1, phases
    stamps = np.array([i.header.stamp.sec + i.header.stamp.nanosec * 1e-9 for i in images])
    assert stamps.min() >= 100.0 and stamps.max() <= sim + 1e-6   # on sim time
    assert float(np.median(np.diff(stamps))) == pytest.approx(0.1, abs=0.03)


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str) -> None:
        self.lines.append(msg)

    warning = error = info


class _Node:
    """What a CameraWorker uses of its node, without a ROS context."""

    def __init__(self) -> None:
        self.log = _Log()
        self.sim_time = False
        self.context = type('Ctx', (), {'ok': staticmethod(lambda: True)})()

    def create_publisher(self, *_args: object, **_kw: object) -> object:
        return object()

    def get_logger(self) -> _Log:
        return self.log


def test_an_unexpected_capture_error_is_logged_counted_and_survived() -> None:
    from smart_store.drivers.camera_node import CameraWorker
    from smart_store.drivers.camera_source import SourceSpec, SourceStats

    class FlakySource:
        """Raises once (say, a codec error), then delivers frames."""

        spec = SourceSpec('dir', '/nowhere')
        stats = SourceStats()
        calls = 0

        def read(self, _now: float) -> np.ndarray | None:
            FlakySource.calls += 1
            if FlakySource.calls == 1:
                raise RuntimeError('decoder exploded')
            return np.zeros((4, 4, 3), np.uint8)

        def finished(self) -> bool:
            return False

        def release(self) -> None:
            pass

    node = _Node()
    cam = CFG_DEMO.camera('cam_fl')
    worker = CameraWorker(node, cam, FlakySource(), 50.0, ('img', 'info'))  # type: ignore[arg-type]
    published: list[np.ndarray] = []
    worker._publish = published.append  # type: ignore[method-assign]
    worker.start()
    deadline = time.monotonic() + 10.0
    while len(published) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.stop()
    assert worker.errors == 1 and len(published) >= 3
    assert any('decoder exploded' in line and 'goes on' in line for line in node.log.lines)


def test_two_cameras_in_one_process_a_namespaced_one_and_a_qos_override(
        tmp_path: Path, ros_env: dict[str, str], python: str) -> None:
    """Deployment both ways: cam_fl and cam_fr served by one process (cam_fl's publisher made
    reliable through the standard QoS-override parameter), and cam_bl by a node of its own
    under /cameras/cam_bl with relative topics."""
    from rclpy.qos import ReliabilityPolicy

    video = write_video(tmp_path / 'cam.mp4', frames=30, size=(160, 120))
    folder = write_folder(tmp_path / 'imgs', frames=30)
    shared = start(python, ros_env, 'cameras:=["cam_fl", "cam_fr"]',
                   f'sources:=["cam_fl=file:{video}", "cam_fr=dir:{folder}"]', 'loop:=true',
                   'fps_cap:=10.0',
                   'qos_overrides./cameras/cam_fl/image_raw.publisher.reliability:=reliable')
    argv = [python, '-m', 'smart_store.drivers.camera_node', '--ros-args',
            '-r', '__ns:=/cameras/cam_bl', '-r', '__node:=camera_driver_cam_bl',
            '-p', 'cameras:=["cam_bl"]', '-p', f'sources:=["cam_bl=file:{video}"]',
            '-p', 'loop:=true', '-p', 'fps_cap:=10.0', '-p', 'relative_topics:=true']
    own = subprocess.Popen(argv, env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    topics = [f'/cameras/{c}/image_raw' for c in ('cam_fl', 'cam_fr', 'cam_bl')]
    reliability: dict[str, list[ReliabilityPolicy]] = {}
    try:
        got = collect(40.0, dict.fromkeys(topics, Image),
                      until=lambda g: all(len(g[t]) >= 5 for t in topics))
        rclpy.init()
        try:
            node = rclpy.create_node('camera_qos_probe')
            deadline = time.monotonic() + 20.0  # a new participant discovers the others
            while time.monotonic() < deadline and not all(
                    node.get_publishers_info_by_topic(t) for t in topics[:2]):
                rclpy.spin_once(node, timeout_sec=0.1)
            for t in topics[:2]:
                reliability[t] = [i.qos_profile.reliability
                                  for i in node.get_publishers_info_by_topic(t)]
            node.destroy_node()
        finally:
            rclpy.shutdown()
    finally:
        for proc in (shared, own):
            proc.terminate()
        out = shared.communicate(timeout=30)[0] + own.communicate(timeout=30)[0]
    assert all(len(got[t]) >= 5 for t in topics), ({t: len(got[t]) for t in topics}, out)
    assert {i.header.frame_id for i in got[topics[2]]} == {'cam_bl'}
    assert reliability[topics[0]] == [ReliabilityPolicy.RELIABLE], reliability
    assert reliability[topics[1]] == [ReliabilityPolicy.BEST_EFFORT], reliability
    assert 'Traceback' not in out, out
