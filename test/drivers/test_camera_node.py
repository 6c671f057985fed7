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
    assert info.width == 320 and info.k[2] == pytest.approx(info.k[2])
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
