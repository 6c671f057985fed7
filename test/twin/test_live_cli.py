"""The twin's live output and the replay loop, through their commands.

``sim --live`` publishes the sensor topics with ``/clock`` (sim time) faster than real time and
writes the ground truth of what it played; ``replay --loop`` starts the bag again at its end,
its ``/clock`` going back to the start offset.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from smart_store.msg import EntryEvent, LaneWeightArray

from smart_store.config import load_store_config
from smart_store.ros.qos import SENSOR
from smart_store.twin.record import SIM_EPOCH_NS, RunOptions, TwinRun, record_run
from smart_store.twin.scenario import load_scenario

pytestmark = [pytest.mark.ros, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
CFG = load_store_config(ROOT / 'config' / 'demo_store.yaml')
LATCHED = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


def stamp_s(stamp: object) -> float:
    return stamp.sec + stamp.nanosec * 1e-9  # type: ignore[attr-defined]


class Listener:
    """/clock (with the wall time it came), lane weights and entry scans."""

    def __init__(self, name: str) -> None:
        self.node = rclpy.create_node(name)
        self.clock: list[tuple[float, float]] = []
        self.weights: list[float] = []
        self.entries: list[EntryEvent] = []
        self.node.create_subscription(
            Clock, '/clock', lambda m: self.clock.append((time.monotonic(), stamp_s(m.clock))),
            SENSOR)
        self.node.create_subscription(
            LaneWeightArray, '/shelves/weights',
            lambda m: self.weights.append(stamp_s(m.header.stamp)), 1000)
        self.node.create_subscription(EntryEvent, '/entry/events', self.entries.append, LATCHED)

    def spin_while(self, proc: subprocess.Popen[str], limit: float,
                   until: object = None) -> None:
        deadline = time.monotonic() + limit
        while proc.poll() is None and time.monotonic() < deadline:
            rclpy.spin_once(self.node, timeout_sec=0.02)
            if callable(until) and until():
                return


def test_sim_live_publishes_sensor_topics_on_sim_time_at_the_rate_and_writes_truth(
        tmp_path: Path, ros_env: dict[str, str]) -> None:
    rate, duration = 4.0, 8.0
    out = tmp_path / 'live'
    rclpy.init()
    try:
        listener = Listener('sim_live_test')
        proc = subprocess.Popen(
            [str(ROOT / 'smart-store'), 'sim', 'single_shopper', '--live', '--no-images',
             '--rate', str(rate), '--duration', str(duration), '-o', str(out),
             '--wait-for-subscribers', '20'],
            env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        listener.spin_while(proc, 60.0)
        for _ in range(20):
            rclpy.spin_once(listener.node, timeout_sec=0.02)
        listener.node.destroy_node()
    finally:
        rclpy.shutdown()
        if proc.poll() is None:
            proc.terminate()
        text = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, text
    epoch = SIM_EPOCH_NS / 1e9
    wall = np.array([w for w, _ in listener.clock])
    sim = np.array([c for _, c in listener.clock]) - epoch
    assert len(sim) > 100, text
    assert np.all(np.diff(sim) >= 0), 'the clock went back'
    assert sim[0] < 1.0 and sim[-1] > duration - 0.2, (sim[0], sim[-1])
    # faster than real time, at the rate asked for
    span = sim > 1.0
    slope = np.polyfit(wall[span], sim[span], 1)[0]
    assert abs(slope - rate) < 0.15 * rate, slope
    # the sensor topics are stamped on that clock: 80 Hz per lane board, one array per hub
    weights = np.array(listener.weights) - epoch
    hubs = len([h for h in CFG.hubs if h.kind == 'load_cell'])
    assert np.all((weights >= -1e-3) & (weights <= duration + 1e-3))
    assert len(weights) > 0.7 * 80 * hubs * (sim[-1] - sim[0]), len(weights)
    # the gate's scan, and the truth of the run beside it
    truth = json.loads((out / 'truth' / 'truth.json').read_text())
    scans = [e for e in truth['entries'] if e['t'] < duration and e['token']]
    assert [e.account_token for e in listener.entries] == [e['token'] for e in scans]
    assert (out / 'truth' / 'joints3d.npz').is_file()


def test_replay_loop_starts_the_bag_again_at_its_start_offset(
        tmp_path: Path, ros_env: dict[str, str]) -> None:
    scenario = load_scenario('single_shopper')
    run_dir = tmp_path / 'run'
    record_run(TwinRun(CFG, scenario, RunOptions(images=False, end=4.0, coco=False)), run_dir)
    rclpy.init()
    try:
        listener = Listener('replay_loop_test')
        proc = subprocess.Popen(
            [str(ROOT / 'smart-store'), 'replay', str(run_dir), '--loop', '--rate', '4',
             '--start-offset', '1', '--quiet', '--topics', '/shelves/weights'],
            env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

        def three_passes() -> bool:
            sim = [c for _, c in listener.clock]
            return sum(b < a - 1.0 for a, b in itertools.pairwise(sim)) >= 2

        listener.spin_while(proc, 40.0, until=three_passes)
        listener.node.destroy_node()
    finally:
        rclpy.shutdown()
        proc.terminate()
        text = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, text   # looping until told to stop, then a clean exit
    assert 'Traceback' not in text, text
    sim = np.array([c for _, c in listener.clock]) - SIM_EPOCH_NS / 1e9
    backs = np.flatnonzero(np.diff(sim) < -1.0)
    assert len(backs) >= 2, 'the bag did not start over'
    for i in backs:    # each pass ends near the bag's end and starts again at the offset
        assert sim[i] > 3.5 and 0.99 <= sim[i + 1] < 1.3, (sim[i], sim[i + 1])
    assert np.min(sim) >= 1.0 - 1e-3            # --start-offset honoured on every pass
    weights = np.array(listener.weights) - SIM_EPOCH_NS / 1e9
    assert np.min(weights) >= 1.0 - 1e-3 and np.max(weights) <= 4.0
