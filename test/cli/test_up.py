"""`./smart-store up`: starts the graph from the table; store_layout publishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smart_store.cli.up import node_argv
from smart_store.graph.table import LaunchOptions, build_graph, read_executables

pytestmark = pytest.mark.ros
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'test' / 'layout'))
from test_node import receive_latched  # noqa: E402


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
        time.sleep(12.0)  # every node logs once it is up (torch takes a while to import)
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
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
