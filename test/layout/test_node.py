"""Smoke test: the store_layout node, run as its own process, publishes latched markers."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import rclpy
from visualization_msgs.msg import MarkerArray

from smart_store.config import load_store_config
from smart_store.layout.markers import layout_markers
from smart_store.ros.qos import LATCHED

pytestmark = pytest.mark.ros
ROOT = Path(__file__).resolve().parents[2]


def receive_latched(topic: str, timeout: float, node_name: str) -> MarkerArray | None:
    """Subscribe with transient-local QoS and wait for one message."""
    rclpy.init()
    try:
        node = rclpy.create_node(node_name)
        got: list[MarkerArray] = []
        node.create_subscription(MarkerArray, topic, got.append, LATCHED)
        deadline = time.monotonic() + timeout
        while not got and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
        node.destroy_node()
        return got[0] if got else None
    finally:
        rclpy.shutdown()


def test_layout_node_process_publishes_markers(ros_env: dict[str, str], python: str) -> None:
    cfg = load_store_config(ROOT / 'config' / 'demo_store.yaml')
    proc = subprocess.Popen(
        [python, '-m', 'smart_store.layout.node', '--ros-args', '-p',
         f'store_config:={ROOT / "config" / "demo_store.yaml"}'],
        env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # Subscribing after the node started proves the topic is latched (transient local).
        time.sleep(1.0)
        msg = receive_latched('/store/layout', timeout=20.0, node_name='layout_smoke')
        assert msg is not None, 'no layout received'
        assert len(msg.markers) == len(layout_markers(cfg))
        assert {m.header.frame_id for m in msg.markers} == {cfg.frame_id}
        texts = {m.text for m in msg.markers}
        assert any(entry.sku in t for entry in cfg.planogram.values() for t in texts)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert 'published' in out and 'layout markers' in out


def test_layout_node_rejects_a_bad_config_in_one_line(ros_env: dict[str, str], python: str,
                                                      tmp_path: Path) -> None:
    bad = tmp_path / 'store.yaml'
    bad.write_text('store: [1, 2]\n')
    proc = subprocess.run(
        [python, '-m', 'smart_store.layout.node', '--ros-args', '-p', f'store_config:={bad}'],
        env=ros_env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert 'Traceback' not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f'error: {bad}'), proc.stderr
