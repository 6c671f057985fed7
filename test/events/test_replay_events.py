"""Replaying a recorded bag recomputes the shelf events: the bag holds sensor topics only.

A library scenario is recorded with ``./smart-store sim --no-images`` (shelves and entries);
``shelf_events`` runs on sim time and ``./smart-store replay --rate 4 --topics`` plays only the
lane weights and ranges into it (and ``/clock``), once its subscriptions have matched. The
weight events and beam breaks it derives are checked against the twin's ground truth: one
event per true lane change (picks, put-backs, lanes changing together) with its delta and
time, one beam break around every reach, and nothing from the topics the replay left out.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from smart_store.msg import BeamBreak, EntryEvent, LoadCellRaw, WeightEvent

from smart_store.config import load_store_config
from smart_store.ros.qos import SENSOR

pytestmark = [pytest.mark.ros, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
EVENTS = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE,
                    durability=DurabilityPolicy.VOLATILE)
RATE = 4.0
CFG = load_store_config(ROOT / 'config' / 'demo_store.yaml')


def stamp_s(stamp: object) -> float:
    return stamp.sec + stamp.nanosec * 1e-9  # type: ignore[attr-defined]


@pytest.mark.parametrize('scenario', ['simultaneous_two', 'putback_misplaced'])
def test_replaying_a_bag_recomputes_weight_events_and_beam_breaks(
        scenario: str, tmp_path: Path, ros_env: dict[str, str], python: str) -> None:
    run = tmp_path / scenario
    sim = subprocess.run([str(ROOT / 'smart-store'), 'sim', scenario, '-o', str(run),
                          '--no-images'], env=ros_env, capture_output=True, text=True,
                         timeout=120, check=False)
    assert sim.returncode == 0, sim.stdout + sim.stderr
    truth = json.loads((run / 'truth' / 'truth.json').read_text())
    epoch = truth['sim_epoch_ns'] / 1e9
    changes = truth['lane_changes']
    reaches = [e for e in truth['events'] if e['kind'] in ('pick', 'put_back', 'reach_only')]
    assert changes and any(c['delta_g'] > 0 for c in changes) == (scenario == 'putback_misplaced')

    events: list[WeightEvent] = []
    breaks: list[BeamBreak] = []
    left_out: list[object] = []
    node_proc = subprocess.Popen(
        [python, '-m', 'smart_store.events.node', '--ros-args', '-p', 'use_sim_time:=true',
         '-p', f'state_file:={tmp_path / "state.json"}'],
        env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    replay = None
    rclpy.init()
    try:
        node = rclpy.create_node('replay_events_test')
        node.create_subscription(WeightEvent, '/shelves/weight_events', events.append, EVENTS)
        node.create_subscription(BeamBreak, '/shelves/beam_breaks', breaks.append, EVENTS)
        node.create_subscription(LoadCellRaw, '/shelves/load_cells/raw', left_out.append, SENSOR)
        node.create_subscription(EntryEvent, '/entry/events', left_out.append, EVENTS)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
                node.count_publishers('/shelves/weight_events')
                and node.count_subscribers('/shelves/weights')
                and node.count_subscribers('/shelves/ranges')):
            rclpy.spin_once(node, timeout_sec=0.1)
        assert node.count_subscribers('/shelves/weights'), 'shelf_events did not come up'
        replay = subprocess.Popen(
            [str(ROOT / 'smart-store'), 'replay', str(run), '--rate', str(RATE), '--quiet',
             '--topics', '/shelves/weights', '/shelves/ranges',
             '--wait-for-subscribers', '10'],
            env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + truth['duration'] / RATE + 30
        while replay.poll() is None and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
        settle = time.monotonic() + 2.0   # the last events are published after the bag ends
        while time.monotonic() < settle:
            rclpy.spin_once(node, timeout_sec=0.05)
        node.destroy_node()
    finally:
        rclpy.shutdown()
        for proc in (replay, node_proc):
            if proc is not None and proc.poll() is None:
                proc.terminate()
        out = node_proc.communicate(timeout=30)[0]
        replayed = replay.communicate(timeout=30)[0] if replay is not None else ''
    assert replay is not None and replay.returncode == 0, replayed
    assert 'Traceback' not in out, out
    assert not left_out, 'replay --topics published a topic it was not asked for'

    got = [(e.lane_id, stamp_s(e.start) - epoch, stamp_s(e.end) - epoch, e.delta_grams)
           for e in events]
    assert len(got) == len(changes), ([g[:2] for g in got],
                                      [(c['lane'], c['t']) for c in changes], out[-3000:])
    for change in changes:
        match = [g for g in got if g[0] == change['lane']
                 and g[1] - 0.5 <= change['t'] <= g[2] + 0.5]
        assert len(match) == 1, (change, got)
        assert abs(match[0][3] - change['delta_g']) < 5.0, (change, match)
    shelf_of = {lane.id: lane.shelf_id for lane in CFG.lanes()}
    for e in reaches:
        hits = [b for b in breaks if b.shelf_id == shelf_of[e['lane']]
                and stamp_s(b.start) - epoch <= e['t_end'] + 0.3
                and stamp_s(b.end) - epoch >= e['t_start'] - 0.3]
        assert hits, (e, [(b.shelf_id, stamp_s(b.start) - epoch) for b in breaks])
