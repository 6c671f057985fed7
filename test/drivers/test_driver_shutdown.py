"""Ctrl-C (and SIGTERM) on the serial hub drivers while their reader threads publish.

The twin's ``PtyHub`` links are fed as fast as the drivers read, so every reader thread is
publishing at the moment the signal lands. A driver must stop and join its threads before the
context goes and drop quietly whatever is still on its way: exit code 0, no ``Traceback`` and no
``RCLError`` ("publisher's context is invalid") on its output. The race is short, so each driver
is interrupted a few times.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import rclpy
from rclpy.qos import QoSPresetProfiles
from sensor_msgs.msg import Range
from smart_store.msg import LoadCellRaw

from smart_store.config import load_store_config
from smart_store.drivers.protocol import encode_distance, encode_loadcell
from smart_store.twin.serial_link import PtyHub

pytestmark = pytest.mark.ros
ROOT = Path(__file__).resolve().parents[2]
CFG = load_store_config(ROOT / 'config' / 'demo_store.yaml')
ROUNDS = (signal.SIGINT, signal.SIGTERM, signal.SIGINT, signal.SIGINT)


def loadcell_lines(hub: str) -> Callable[[int], list[bytes]]:
    lanes = [lane.load_cell for lane in CFG.lanes() if lane.load_cell.hub == hub]
    return lambda i: [encode_loadcell(1000 + 2 * i, lc.channel, round(lc.offset) + i % 50)
                      for lc in lanes]


def distance_lines(hub: str) -> Callable[[int], list[bytes]]:
    channels = [s.distance_sensor.channel for s in CFG.shelves
                if s.distance_sensor is not None and s.distance_sensor.hub == hub]
    return lambda i: [encode_distance(1000 + 2 * i, ch, 400 + i % 300) for ch in channels]


DRIVERS = {
    'loadcell_driver': ('smart_store.drivers.loadcell_node', 'load_cell', loadcell_lines,
                        '/shelves/load_cells/raw', LoadCellRaw),
    'distance_driver': ('smart_store.drivers.distance_node', 'distance', distance_lines,
                        '/shelves/ranges', Range),
}


class Flood:
    """Writes lines into every hub's pty as fast as the driver takes them (a thread)."""

    def __init__(self, hubs: dict[str, PtyHub],
                 lines: dict[str, Callable[[int], list[bytes]]]) -> None:
        self._hubs, self._lines = hubs, lines
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            for hub_id, hub in self._hubs.items():
                hub.write_lines(self._lines[hub_id](i))
            i += 1
            time.sleep(0.0005)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)


class Output:
    """Drains a pipe in a thread."""

    def __init__(self, stream: object) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=lambda: self.lines.extend(stream),  # type: ignore[call-overload]
                                        daemon=True)
        self._thread.start()

    def text(self) -> str:
        self._thread.join(10.0)
        return ''.join(self.lines)


@pytest.mark.parametrize('driver', sorted(DRIVERS))
def test_signal_while_publishing_exits_cleanly(driver: str, tmp_path: Path,
                                               ros_env: dict[str, str], python: str) -> None:
    module, kind, make_lines, topic, msg_type = DRIVERS[driver]
    hub_ids = [h.id for h in CFG.hubs if h.kind == kind]
    hubs = {h: PtyHub(h, tmp_path) for h in hub_ids}
    flood = Flood(hubs, {h: make_lines(h) for h in hub_ids})
    overrides = ','.join(f'"{h}={hub.link_path}"' for h, hub in hubs.items())
    got: list[object] = []
    rclpy.init()
    try:
        node = rclpy.create_node('shutdown_test')
        node.create_subscription(msg_type, topic, got.append,
                                 QoSPresetProfiles.SENSOR_DATA.value)
        for sig in ROUNDS:
            proc = subprocess.Popen(
                [python, '-m', module, '--ros-args', '-p', f'port_overrides:=[{overrides}]'],
                env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            out, err = Output(proc.stdout), Output(proc.stderr)
            got.clear()
            deadline = time.monotonic() + 20.0
            while len(got) < 20 and time.monotonic() < deadline and proc.poll() is None:
                rclpy.spin_once(node, timeout_sec=0.05)
            assert len(got) >= 20, f'{driver} never published:\n{err.text()}'
            proc.send_signal(sig)  # the reader threads are publishing right now
            try:
                rc = proc.wait(timeout=10.0)
            finally:
                if proc.poll() is None:
                    proc.kill()
            text = out.text() + err.text()
            assert rc == 0, f'{driver} exited {rc} on {sig.name}:\n{text}'
            assert 'Traceback' not in text and 'RCLError' not in text, text
        node.destroy_node()
    finally:
        rclpy.shutdown()
        flood.stop()
        for hub in hubs.values():
            hub.close()
