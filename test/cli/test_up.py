"""`./smart-store up`: starts the graph from the table; store_layout publishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
import rclpy
from rclpy.node import NodeNameNonExistentError

from smart_store.cli.up import node_argv
from smart_store.config import load_store_config
from smart_store.graph.table import (
    LaunchOptions,
    NodeSpec,
    build_graph,
    graph_for_config,
    read_executables,
)
from smart_store.resources import default_store_config

pytestmark = pytest.mark.ros
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'test' / 'layout'))
from test_node import receive_latched  # noqa: E402

# Topics every rclpy node has whatever its role (not part of the table's graph).
INFRA = {'/parameter_events', '/rosout', '/clock'}


def graph_mismatch(graph: Sequence[NodeSpec], timeout: float, unopened: frozenset[str] = frozenset()
                   ) -> dict[str, dict[str, list[str]]]:
    """What the running nodes publish and subscribe, against the table (empty: they agree).

    The table drives the launch file, the pip launcher and the pipeline's wait for its
    subscriptions, so a topic it lists that a node never opens (or the other way round)
    is a bug: the pipeline would wait for a reader that never comes. ``unopened``: table
    publishers a node may rightly leave closed here (a camera given no source)."""
    rclpy.init()
    node = rclpy.create_node('up_graph_probe')
    try:
        deadline = time.monotonic() + timeout
        while True:
            wrong: dict[str, dict[str, list[str]]] = {}
            for spec in graph:
                try:
                    subs = {t for t, _ in node.get_subscriber_names_and_types_by_node(
                        spec.name, '/')} - INFRA
                    pubs = {t for t, _ in node.get_publisher_names_and_types_by_node(
                        spec.name, '/')} - INFRA
                except NodeNameNonExistentError:
                    wrong[spec.name] = {'missing': ['node not in the graph']}
                    continue
                want_subs = {t.name for t in spec.subscribes}
                want_pubs = {t.name for t in spec.publishes}
                missing_ok = unopened & want_pubs
                diff = {k: sorted(v) for k, v in (
                    ('subscribes, not in table', subs - want_subs),
                    ('table subscription never opened', want_subs - subs),
                    ('publishes, not in table', pubs - want_pubs),
                    ('table publisher never opened', want_pubs - pubs - missing_ok)) if v}
                if diff:
                    wrong[spec.name] = diff
            if not wrong or time.monotonic() > deadline:
                return wrong
            rclpy.spin_once(node, timeout_sec=0.5)
    finally:
        node.destroy_node()
        rclpy.shutdown()


def test_node_argv_is_what_launch_ros_would_run() -> None:
    graph = build_graph(['/cameras/a/image_raw'])
    tracker = next(s for s in graph if s.name == 'tracker')
    argv = node_argv(tracker, LaunchOptions(store_config='/s.yaml', use_sim_time=True,
                                            device='cpu', namespace='/shop', log_level='debug'),
                     python='py')
    assert argv[:3] == ['py', '-m', read_executables()['tracker']]
    assert argv[3] == '--ros-args'
    pairs = list(zip(argv[4::2], argv[5::2], strict=False))
    assert ('-r', '__node:=tracker') in pairs
    assert ('-r', '__ns:=/shop') in pairs
    assert ('-p', 'use_sim_time:=true') in pairs
    assert ('-p', 'store_config:="/s.yaml"') in pairs
    assert ('-p', 'device:="cpu"') in pairs
    assert argv[-2:] == ['--log-level', 'debug']
    params = argv[argv.index('--params-file') + 1]
    assert Path(params).name == 'nodes.yaml'


def test_up_starts_every_node_and_layout_publishes(ros_env: dict[str, str],
                                                   tmp_path: Path) -> None:
    # cwd: the billing node's database (out/store.db) and the arbiter's state go there.
    proc = subprocess.Popen(
        [str(ROOT / 'smart-store'), 'up', '--duration', '90'], env=ros_env, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        msg = receive_latched('/store/layout', timeout=40.0, node_name='up_smoke')
        assert msg is not None and len(msg.markers) > 20
        # every node is up (torch takes a while to import) with the table's topics
        # (a bare `up` gives the cameras no source: the capture node opens no camera topic)
        cfg = load_store_config(default_store_config())
        wrong = graph_mismatch(graph_for_config(cfg), timeout=60.0, unopened=frozenset(
            name for cam in cfg.cameras for name in (cam.topic, cam.info_topic)))
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert not wrong, f'the running nodes differ from the graph table: {wrong}'
    graph_names = [s.name for s in build_graph(['/c/image_raw'])]
    for name in graph_names:
        assert f'[{name}' in out, f'no output from {name}:\n{out}'
    assert 'pose (OnnxPoseBackend) on cpu' in out  # packaged weights, ONNX Runtime on a CPU
    assert 'Traceback' not in out


def test_up_bad_config_is_one_line(tmp_path: Path, ros_env: dict[str, str]) -> None:
    bad = tmp_path / 's.yaml'
    bad.write_text('store:\n  name: x\n')
    proc = subprocess.run([str(ROOT / 'smart-store'), 'up', '--config', str(bad)],
                          env=ros_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count('\n') == 1 and str(bad) in proc.stderr
    assert 'Traceback' not in proc.stderr
