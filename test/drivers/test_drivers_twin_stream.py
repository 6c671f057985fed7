"""The load-cell driver fed by the twin's own device stream, link faults included.

A ``SerialFeeder`` writes ``LoadCellEmulator`` samples of a library scenario (a real pick, hand
pressure, settling, drift, noise) into a ``PtyHub`` in real time, with a burst of line noise and
an unplug/replug of the link; the ``loadcell_driver`` process reads the link. Checked: every raw
frame carries exactly the emulated counts, calibrated weights are the twin's true lane weights
within noise, stamps follow the hub clock, and the driver reconnects after the unplug.
"""

from __future__ import annotations

import itertools
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from smart_store.msg import LaneWeightArray, LoadCellRaw
from smart_store.srv import TareChannel

from smart_store.twin.live import link_readers
from smart_store.twin.scenario import load_scenario, scenario_store_config
from smart_store.twin.sensors import LoadCellEmulator, SensorSample
from smart_store.twin.serial_link import LinkFault, PtyHub, SerialFeeder, SimClock
from smart_store.twin.world import World

#: Reliable and volatile: matches volatile and transient-local publishers alike.
EVENTS = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE,
                    durability=DurabilityPolicy.VOLATILE)
pytestmark = pytest.mark.ros
HUB = 'hub_lc_b'               # shelf B: the cold brew lane B2c is picked at ~10.5 s
START, END = 8.0, 18.0         # s of sim time fed
GARBAGE_AT = 9.0
UNPLUG_AT, UNPLUG_S = 12.5, 1.0
BOOT_MS = 5_000_000


class OneHub:
    """The emulator restricted to one hub (the feeder needs a link for every hub it feeds)."""

    KIND = 'load_cell'

    def __init__(self, emulator: LoadCellEmulator, hub: str) -> None:
        self.emulator, self.hub = emulator, hub

    @property
    def hub_ids(self) -> tuple[str, ...]:
        return (self.hub,)

    def samples(self, t0: float, t1: float) -> list[SensorSample]:
        return [s for s in self.emulator.samples(t0, t1) if s[1] == self.hub]

    def hub_stalled(self, hub_id: str, t: float) -> bool:
        return self.emulator.hub_stalled(hub_id, t)


def stamp_s(stamp: object) -> float:
    return stamp.sec + stamp.nanosec * 1e-9  # type: ignore[attr-defined]


def test_loadcell_driver_on_the_twins_stream(tmp_path: Path, ros_env: dict[str, str],
                                             python: str) -> None:
    scenario = load_scenario('single_shopper')
    cfg = scenario_store_config(scenario)
    world = World(cfg, scenario)
    emulator = LoadCellEmulator(cfg, world, scenario.load_cell_faults, scenario.seed)
    lanes = {lane.load_cell.channel: lane for lane in cfg.lanes() if lane.load_cell.hub == HUB}
    picks = [e for e in world.truth if e.kind == 'pick' and e.lane in
             {lane.id for lane in lanes.values()} and START < e.t_start < END]
    assert len(picks) == 1  # the cold brew

    hub = PtyHub(HUB, tmp_path)
    faults = [LinkFault('garbage', HUB, GARBAGE_AT, n_bytes=300),
              LinkFault('unplug', HUB, UNPLUG_AT, duration=UNPLUG_S)]
    proc = subprocess.Popen(
        [python, '-m', 'smart_store.drivers.loadcell_node', '--ros-args',
         '-p', f'hubs:=["{HUB}"]', '-p', f'port_overrides:=["{HUB}={hub.link_path}"]',
         '-p', 'stale_timeout:=0.5'],
        env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    assert proc.stdout is not None
    stream = proc.stdout
    reader = threading.Thread(target=lambda: lines.extend(stream), daemon=True)
    reader.start()
    running = ''
    raw: list[LoadCellRaw] = []
    weights: list[LaneWeightArray] = []
    diags: list[DiagnosticArray] = []
    feeder: SerialFeeder | None = None
    rclpy.init()
    try:
        node = rclpy.create_node('twin_stream_test')
        node.create_subscription(LoadCellRaw, '/shelves/load_cells/raw', raw.append, EVENTS)
        node.create_subscription(LaneWeightArray, '/shelves/weights', weights.append, EVENTS)
        node.create_subscription(DiagnosticArray, '/diagnostics', diags.append, 10)
        tare = node.create_client(TareChannel, '/loadcell_driver/tare')
        assert tare.wait_for_service(timeout_sec=30.0), 'the driver never came up'
        deadline = time.monotonic() + 10.0
        while link_readers({hub.slave_name or ''}) == set() and time.monotonic() < deadline:
            time.sleep(0.05)  # the driver's reader thread opens the link
        clock = SimClock(start=START)
        wall_at_zero = time.time() - clock()
        feeder = SerialFeeder([OneHub(emulator, HUB)], {HUB: hub}, clock, link_faults=faults,
                              seed=scenario.seed, boot_ms={HUB: BOOT_MS}, start=START,
                              end=END).start()
        while clock() < END + 1.5:
            rclpy.spin_once(node, timeout_sec=0.05)
        feeder.join(1.0)
        assert proc.poll() is None, 'the driver must survive garbage and an unplug'
        running = ''.join(lines)  # before the shutdown (see test_up_twin.py)
        node.destroy_node()
    finally:
        rclpy.shutdown()
        if feeder is not None:
            feeder.close()
        hub.close()
        proc.terminate()
        proc.wait(timeout=10)
        reader.join(5.0)
    out = ''.join(lines)
    assert 'Traceback' not in running, out

    # -- raw frames: bit-exact emulated counts, stamped on the hub clock -----------------------
    expected: dict[int, dict[int, int]] = {}
    t_of: dict[int, float] = {}
    for t, _, channel, counts in OneHub(emulator, HUB).samples(START, END):
        ms = BOOT_MS + int(np.floor(t * 1000.0 + 1e-6))
        expected.setdefault(ms, {})[channel] = counts
        t_of[ms] = t
    mine = [m for m in raw if m.hub_id == HUB]
    assert len(mine) > 0.7 * len(expected), (len(mine), len(expected), out)
    stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in mine]  # exact ns
    assert all(b > a for a, b in itertools.pairwise(stamps)), 'stamps went back or repeated'
    offsets = []
    for msg in mine:
        ms = round(msg.hub_time * 1000.0)
        got = dict(zip(msg.channels.tolist(), msg.counts.tolist(), strict=True))
        assert got.items() <= expected[ms].items(), (ms, got, expected[ms])
        offsets.append(stamp_s(msg.header.stamp) - wall_at_zero - t_of[ms])
    offsets_a = np.abs(np.asarray(offsets))
    # a few ms; a reader thread starved of CPU stamps a burst late (its hub clock re-syncs)
    assert np.median(offsets_a) < 0.02, np.percentile(offsets_a, [50, 90, 99])
    assert np.mean(offsets_a < 0.05) > 0.8, np.percentile(offsets_a, [50, 90, 99])
    assert min(t_of[round(m.hub_time * 1000)] for m in mine) < GARBAGE_AT
    assert max(t_of[round(m.hub_time * 1000)] for m in mine) > UNPLUG_AT + UNPLUG_S + 1.0

    # -- calibrated weights: the twin's true lane weights within noise ----------------------
    pick = picks[0]
    errors: dict[str, list[float]] = {}
    after_replug = 0
    for msg in weights:
        t = stamp_s(msg.header.stamp) - wall_at_zero
        for lw in msg.lanes:
            if lw.stale:
                continue
            if lw.lane_id == pick.lane and pick.t_start - 0.3 <= t <= pick.t_end + 1.5:
                continue  # hand pressure and settling
            true = world.lane_weights_at(t)[lw.lane_id]
            errors.setdefault(lw.lane_id, []).append(lw.grams - true)
            after_replug += t > UNPLUG_AT + UNPLUG_S
    assert set(errors) == {lane.id for lane in lanes.values()}
    flat = np.abs(np.concatenate([np.asarray(v) for v in errors.values()]))
    assert max(abs(float(np.median(v))) for v in errors.values()) < 2.0
    assert float(np.percentile(flat, 99.5)) < 8.0
    assert after_replug > 100 * len(lanes) / 2, 'no weights after the replug'
    before = [lw.grams for m in weights for lw in m.lanes
              if lw.lane_id == pick.lane and not lw.stale
              and stamp_s(m.header.stamp) - wall_at_zero < pick.t_start - 0.3]
    after = [lw.grams for m in weights for lw in m.lanes
             if lw.lane_id == pick.lane and not lw.stale
             and stamp_s(m.header.stamp) - wall_at_zero > pick.t_end + 1.5]
    assert abs(np.median(after) - np.median(before) - pick.grams) < 3.0  # the pick, in grams

    # -- link faults: the garbage was counted, the unplug seen and recovered from ----------
    status = [s for d in diags for s in d.status if s.name.endswith(f': {HUB}')][-1]
    values = {kv.key: kv.value for kv in status.values}
    assert int(values['disconnects']) >= 1 and int(values['reconnects']) >= 1, values
    assert sum(int(v) for k, v in values.items() if k.startswith('error_')) >= 1, values
    assert values['state'] == 'open', values
