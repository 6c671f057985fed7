"""The load-cell and distance drivers as processes, reading pseudo-terminals.

A test thread plays a shelf hub: it writes protocol lines (good ones, garbage, a bad checksum,
an unknown channel) into the master side of a pty whose slave the driver opens via
``port_overrides``, then stops writing to make the hub stall.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import threading
import time
import tty
from pathlib import Path

import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import QoSPresetProfiles
from sensor_msgs.msg import Range
from smart_store.msg import LaneWeightArray
from smart_store.srv import TareChannel

from smart_store.config import load_store_config
from smart_store.drivers.protocol import encode_distance, encode_heartbeat, encode_loadcell

pytestmark = pytest.mark.ros
ROOT = Path(__file__).resolve().parents[2]
CFG = load_store_config(ROOT / 'config' / 'demo_store.yaml')


class FakeHub:
    """A pty pair; ``run(seconds, make_lines)`` writes at 80 Hz in a thread."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        self.slave = slave
        self._thread: threading.Thread | None = None

    def run(self, seconds: float, make_lines: object, rate: float = 80.0) -> None:
        def loop() -> None:
            t0 = time.monotonic()
            i = 0
            while time.monotonic() - t0 < seconds:
                try:
                    os.write(self.master, make_lines(i))  # type: ignore[operator]
                except OSError:
                    return
                i += 1
                time.sleep(1.0 / rate)
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def join(self) -> None:
        if self._thread:
            self._thread.join()

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


def spin_collect(node: rclpy.node.Node, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)


def test_loadcell_driver_weights_tare_and_stale(ros_env: dict[str, str], python: str,
                                                tmp_path: Path) -> None:
    hub_id = 'hub_lc_a'
    lanes = [lane for lane in CFG.lanes() if lane.load_cell.hub == hub_id]
    first = lanes[0].load_cell
    hub = FakeHub()
    grams = 1234.5

    def lines(i: int) -> bytes:
        ms = 1000 + i * 12
        out = b''.join(encode_loadcell(ms, lane.load_cell.channel,
                                       round(lane.load_cell.offset + grams * lane.load_cell.scale))
                       for lane in lanes)
        if i % 20 == 5:
            out += b'\x00garbage\xff\r\n' + encode_loadcell(ms, 0, 7)[:-4] + b'ZZ\r\n'
        if i % 40 == 7:
            out += encode_loadcell(ms, 63, 1)  # a channel the config does not know
        if i % 80 == 0:
            out += encode_heartbeat(ms, hub_id)
        return out

    cal_file = tmp_path / 'calibration.json'
    proc = subprocess.Popen(
        [python, '-m', 'smart_store.drivers.loadcell_node', '--ros-args',
         '-p', f'hubs:=["{hub_id}"]', '-p', f'port_overrides:=["{hub_id}={hub.path}"]',
         '-p', f'calibration_file:={cal_file}', '-p', 'stale_timeout:=0.4'],
        env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    rclpy.init()
    try:
        node = rclpy.create_node('loadcell_test')
        weights: list[LaneWeightArray] = []
        diags: list[DiagnosticArray] = []
        node.create_subscription(LaneWeightArray, '/shelves/weights', weights.append, 100)
        node.create_subscription(DiagnosticArray, '/diagnostics', diags.append, 10)
        tare = node.create_client(TareChannel, '/loadcell_driver/tare')
        hub.run(6.0, lines)
        assert tare.wait_for_service(timeout_sec=15.0), 'tare service never appeared'
        spin_collect(node, 2.0)
        fresh = [lw for m in weights for lw in m.lanes if not lw.stale]
        assert len(fresh) > 50, 'no calibrated weights received'
        assert {lw.lane_id for lw in fresh} == {lane.id for lane in lanes}
        assert all(abs(lw.grams - grams) < 0.01 for lw in fresh)

        future = tare.call_async(TareChannel.Request(hub_id=hub_id, channel=first.channel,
                                                     average_s=0.5))
        rclpy.spin_until_future_complete(node, future, timeout_sec=10.0)
        result = future.result()
        assert result is not None and result.success, result
        assert abs(result.offset - (first.offset + grams * first.scale)) <= 1
        assert cal_file.exists()  # persisted
        weights.clear()
        spin_collect(node, 1.0)
        tared = [lw for m in weights for lw in m.lanes if lw.lane_id == lanes[0].id
                 and not lw.stale]
        assert tared and abs(tared[-1].grams) < 0.05

        hub.join()  # the hub stalls now
        weights.clear()
        spin_collect(node, 2.0)
        stale = [lw for m in weights for lw in m.lanes if lw.stale]
        assert {lw.lane_id for lw in stale} == {lane.id for lane in lanes}
        assert all(math.isnan(lw.grams) for lw in stale)
        status = [s for d in diags for s in d.status if hub_id in s.name][-1]
        values = {kv.key: kv.value for kv in status.values}
        assert int(values['error_checksum']) >= 1 and int(values['error_partial']) >= 1
        assert int(values['unknown_channels']) >= 1
        assert values['error_overlong'] == '0' and values['stamp_resets'] == '0'
        assert proc.poll() is None, 'the driver must survive garbage and a stalled hub'
        node.destroy_node()
    finally:
        rclpy.shutdown()
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
        hub.close()
    assert 'Traceback' not in out, out


def test_distance_driver_publishes_ranges(ros_env: dict[str, str], python: str) -> None:
    shelf = CFG.shelves[0]
    sensor = shelf.distance_sensor
    assert sensor is not None
    hub = FakeHub()
    values = [int(shelf.width * 1000), 650, 65535]

    def lines(i: int) -> bytes:
        out = encode_distance(i * 20, sensor.channel, values[(i // 25) % 3])
        if i % 10 == 3:  # a hostile wire: noise, a bad checksum, a cut line, a stray channel
            out += (b'\xff\x00#%garbage\r\n' + encode_distance(i * 20, 0, 1)[:-4] + b'00\r\n'
                    + encode_distance(i * 20, sensor.channel, 5)[:9] + b'\r\n'
                    + encode_distance(i * 20, 61, 100))
        return out

    proc = subprocess.Popen(
        [python, '-m', 'smart_store.drivers.distance_node', '--ros-args',
         '-p', f'port_overrides:=["{sensor.hub}={hub.path}"]'],
        env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    rclpy.init()
    try:
        node = rclpy.create_node('distance_test')
        ranges: list[Range] = []
        diags: list[DiagnosticArray] = []
        node.create_subscription(Range, '/shelves/ranges', ranges.append,
                                 QoSPresetProfiles.SENSOR_DATA.value)
        node.create_subscription(DiagnosticArray, '/diagnostics', diags.append, 10)
        time.sleep(1.0)
        hub.run(4.0, lines, rate=50.0)
        spin_collect(node, 5.0)
        alive = proc.poll() is None
        node.destroy_node()
    finally:
        rclpy.shutdown()
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
        hub.close()
    mine = [r for r in ranges if r.header.frame_id == sensor.id]
    assert len(mine) > 50, out
    seen = {round(r.range, 3) for r in mine}
    assert round(shelf.width, 3) in seen and 0.65 in seen and math.inf in seen
    assert mine[0].max_range == pytest.approx(sensor.max_range)
    assert mine[0].field_of_view == pytest.approx(sensor.fov)
    assert alive, out
    assert 'Traceback' not in out, out
    status = [st for d in diags for st in d.status if sensor.hub in st.name][-1]
    counts = {kv.key: kv.value for kv in status.values}
    assert int(counts['error_checksum']) >= 1 and int(counts['error_partial']) >= 1, counts
    assert int(counts['unknown_channels']) >= 1, counts


def test_cli_tare_and_calibrate_persist_across_a_driver_restart(
        ros_env: dict[str, str], python: str, tmp_path: Path) -> None:
    """The README's calibration procedure, end to end: `./smart-store loadcell tare`, then
    `calibrate --grams 500`, both through the driver's services; a restarted driver loads the
    result from its calibration file and weighs with it."""
    hub_id = 'hub_lc_a'
    lane = next(lane for lane in CFG.lanes() if lane.load_cell.hub == hub_id)
    cell = lane.load_cell
    # the real cell drifted from the config: a new zero and a 10 % steeper scale
    offset, scale = cell.offset + 5000, cell.scale * 1.1
    load = {'grams': 0.0}
    hub = FakeHub()

    def lines(i: int) -> bytes:
        return encode_loadcell(1000 + i * 12, cell.channel,
                               round(offset + load['grams'] * scale))

    cal_file = tmp_path / 'calibration.json'
    argv = [python, '-m', 'smart_store.drivers.loadcell_node', '--ros-args',
            '-p', f'hubs:=["{hub_id}"]', '-p', f'port_overrides:=["{hub_id}={hub.path}"]',
            '-p', f'calibration_file:={cal_file}']

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(ROOT / 'smart-store'), 'loadcell', *args, '--hub', hub_id,
                               '--channel', str(cell.channel), '--average', '0.5',
                               '--timeout', '20'],
                              env=ros_env, capture_output=True, text=True, timeout=60)

    hub.run(40.0, lines)
    proc = subprocess.Popen(argv, env=ros_env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(2.0)  # a second of empty-lane samples to average
        tared = cli('tare')
        assert tared.returncode == 0 and tared.stdout.startswith('ok'), tared
        load['grams'] = 500.0
        time.sleep(1.5)  # the known weight settles on the lane
        calibrated = cli('calibrate', '--grams', '500')
        assert calibrated.returncode == 0 and calibrated.stdout.startswith('ok'), calibrated
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert 'Traceback' not in out, out
    saved = {(c['hub'], c['channel']): c
             for c in json.loads(cal_file.read_text())["channels"]}
    entry = saved[(hub_id, cell.channel)]
    assert entry['lane'] == lane.id
    assert entry['offset'] == pytest.approx(offset, abs=1.0)
    assert entry['scale'] == pytest.approx(scale, rel=1e-3)
    assert 'calibration file' in out and '0 channel(s) loaded' in out
    # the driver restarts: the persisted calibration weighs 250 g as 250 g
    load['grams'] = 250.0
    proc = subprocess.Popen(argv, env=ros_env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    rclpy.init()
    try:
        node = rclpy.create_node('loadcell_restart_test')
        weights: list[float] = []
        node.create_subscription(
            LaneWeightArray, '/shelves/weights',
            lambda m: weights.extend(lw.grams for lw in m.lanes
                                     if lw.lane_id == lane.id and not lw.stale), 100)
        end = time.monotonic() + 30.0
        while len(weights) < 40 and time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.05)
        node.destroy_node()
    finally:
        rclpy.shutdown()
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
        hub.close()
    assert len(weights) >= 40, out
    assert all(abs(g - 250.0) < 0.5 for g in weights[-20:]), weights[-5:]
    # every channel is written (the config's values for the untouched ones)
    assert f'{len(CFG.lanes())} channel(s) loaded' in out, out
