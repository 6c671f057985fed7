"""Pseudo-terminal hub links: pyserial reads what the twin writes, unplug/replug, back-pressure,
and the paced feeder with heartbeats and link faults."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import pytest
import serial

from smart_store.config import load_store_config
from smart_store.drivers.protocol import (
    DistanceSample,
    Heartbeat,
    HubTimeUnwrapper,
    LineSplitter,
    LoadCellSample,
    ProtocolError,
    encode_loadcell,
    parse_line,
)
from smart_store.twin.sensors import DistanceEmulator
from smart_store.twin.serial_link import LinkFault, PtyHub, SerialFeeder, SimClock, open_hubs

DEMO = Path(__file__).resolve().parents[2] / 'config' / 'demo_store.yaml'


class FakeSource:
    """Two channels at ``rate`` Hz on each hub; value = grid index (easy to check)."""

    KIND = 'load_cell'

    def __init__(
        self, hubs: tuple[str, ...] = ('hub_x',), rate: float = 50.0,
        stalls: tuple[tuple[float, float], ...] = (),
    ) -> None:
        self._hubs = hubs
        self.rate = rate
        self.stalls = stalls

    @property
    def hub_ids(self) -> tuple[str, ...]:
        return self._hubs

    def samples(self, t0: float, t1: float) -> list[tuple[float, str, int, int]]:
        out = []
        for k in range(max(0, math.ceil(t0 * self.rate) - 1), math.ceil(t1 * self.rate) + 1):
            t = k / self.rate
            if t0 <= t < t1 and not self.hub_stalled('', t):
                for hub in self._hubs:
                    out += [(t, hub, 0, k), (t, hub, 1, -k)]
        return out

    def hub_stalled(self, hub_id: str, t: float) -> bool:
        return any(a <= t < b for a, b in self.stalls)


def open_port(path: Path) -> serial.Serial:
    return serial.Serial(str(path), 460800, timeout=0.05)


def read_lines(port: serial.Serial, want: int | None = None, quiet: float = 0.15,
               timeout: float = 3.0, splitter: LineSplitter | None = None) -> list[bytes]:
    """Read until ``want`` lines arrived, or (want None) until ``quiet`` s without data."""
    splitter = splitter or LineSplitter()
    out: list[bytes] = []
    deadline = time.monotonic() + timeout
    last_data = time.monotonic()
    while time.monotonic() < deadline:
        data = port.read(max(1, port.in_waiting))
        if data:
            last_data = time.monotonic()
            out += splitter.feed(data)
        if want is not None and len(out) >= want:
            break
        if want is None and time.monotonic() - last_data > quiet:
            break
    return out


# --------------------------------------------------------------------------- PtyHub
def test_pyserial_reads_lines_written_through_ptyhub(tmp_path: Path) -> None:
    with PtyHub('hub_lc_a', tmp_path / 'dev') as hub:
        assert hub.link_path == tmp_path / 'dev' / 'hub_lc_a'
        assert hub.link_path.is_symlink()
        assert os.readlink(hub.link_path) == hub.slave_name
        assert hub.slave_name is not None and hub.slave_name.startswith('/dev/pts/')
        samples = [LoadCellSample(1000 + i, i % 8, 50_000 - 7 * i) for i in range(300)]
        samples.append(Heartbeat(2000, 'hub_lc_a'))
        with open_port(hub.link_path) as port:
            assert hub.write_samples(samples) == len(samples)
            hub.write_line(b'$LC,1,2,3\r\r\n')   # raw mode: no CR/LF translation
            lines = read_lines(port, want=len(samples) + 1)
        assert [parse_line(line) for line in lines[:-1]] == samples
        assert lines[-1] == b'$LC,1,2,3\r\n'
        assert hub.stats.lines_dropped == 0 and hub.pending == 0


def test_unplug_and_replug(tmp_path: Path) -> None:
    hub = PtyHub('hub_distance', tmp_path)
    try:
        port = open_port(hub.link_path)
        hub.write_line(encode_loadcell(1, 0, 1))
        assert len(read_lines(port, want=1)) == 1
        first_name = hub.slave_name
        hub.unplug()
        assert not hub.plugged and not hub.link_path.exists() and not hub.link_path.is_symlink()
        with pytest.raises(serial.SerialException):
            for _ in range(20):          # the device vanished: the reader sees an error
                port.read(10)
        port.close()
        assert hub.write_line(encode_loadcell(2, 0, 2)) is False
        assert hub.stats.lines_lost_unplugged == 1
        with pytest.raises(serial.SerialException):
            open_port(hub.link_path)
        hub.plug()
        assert hub.link_path.is_symlink() and hub.slave_name is not None
        assert first_name is not None
        with open_port(hub.link_path) as port2:  # the driver reopens the same path
            hub.write_line(encode_loadcell(3, 0, 3))
            assert [parse_line(x) for x in read_lines(port2, want=1)] == [LoadCellSample(3, 0, 3)]
        assert hub.stats.unplugs == 1
    finally:
        hub.close()
    assert not hub.link_path.exists()


def test_non_reading_peer_does_not_block_the_writer(tmp_path: Path) -> None:
    hub = PtyHub('hub_lc_b', tmp_path, max_backlog=4096)
    try:
        line = encode_loadcell(4_000_000_000, 7, -8_000_000)
        with open_port(hub.link_path) as port:   # opened, never read
            start = time.monotonic()
            accepted = sum(hub.write_line(line) for _ in range(20_000))   # ~620 kB
            assert time.monotonic() - start < 5.0
            assert hub.stats.lines_dropped > 0 and accepted < 20_000
            assert hub.stats.lines_dropped + accepted == 20_000
            assert hub.pending <= 4096
            # once the reader reads again the backlog drains and new lines go through
            splitter = LineSplitter()
            got = read_lines(port, quiet=0.1, splitter=splitter)
            hub.flush()
            got += read_lines(port, quiet=0.1, splitter=splitter)
            assert set(got) == {line}
            assert len(got) == accepted
            hub.write_line(encode_loadcell(5, 1, 5))
            assert [parse_line(x) for x in read_lines(port, want=1)] == [LoadCellSample(5, 1, 5)]
        # nobody has the port open at all: still never blocks
        start = time.monotonic()
        for _ in range(5000):
            hub.write_line(line)
        assert time.monotonic() - start < 5.0
    finally:
        hub.close()


# --------------------------------------------------------------------------- SerialFeeder
def test_feeder_writes_due_lines_heartbeats_and_wrapping_hub_ms(tmp_path: Path) -> None:
    hubs = open_hubs(['hub_x'], tmp_path)
    boot = 2**32 - 500                 # the hub clock wraps 0.5 s into the run
    feeder = SerialFeeder([FakeSource()], hubs, clock=lambda: 0.0, boot_ms={'hub_x': boot})
    try:
        with open_port(hubs['hub_x'].link_path) as port:
            assert feeder.step(0.5) == 25 * 2 + 1
            first = [parse_line(x) for x in read_lines(port, want=51)]
            assert first[0] == Heartbeat(boot, 'hub_x')
            assert first[1:3] == [LoadCellSample(boot, 0, 0), LoadCellSample(boot, 1, 0)]
            assert feeder.step(0.5) == 0 and feeder.sim_time == 0.5
            assert feeder.step(1.2) == 35 * 2 + 1
            rest = [parse_line(x) for x in read_lines(port, want=71)]
        assert Heartbeat(500, 'hub_x') in rest          # t = 1 s, after the wrap
        unwrap = HubTimeUnwrapper()
        times = [unwrap(s.hub_ms) - boot for s in first + rest if not isinstance(s, ProtocolError)]
        assert times == sorted(times) and times[-1] == 1180
        ch0 = [s for s in first + rest if isinstance(s, LoadCellSample) and s.channel == 0]
        assert [s.counts for s in ch0] == list(range(60))
        assert feeder.heartbeats == 2
    finally:
        feeder.close()


def test_feeder_link_faults(tmp_path: Path) -> None:
    hubs = open_hubs(['hub_x', 'hub_y'], tmp_path)
    faults = [
        LinkFault('garbage', 'hub_x', start=0.31, n_bytes=40),
        LinkFault('stall', 'hub_x', start=0.5, duration=0.2),
        LinkFault('unplug', 'hub_x', start=1.0, duration=0.5),
    ]
    source = FakeSource(('hub_x', 'hub_y'), stalls=((3.0, 3.5),))
    feeder = SerialFeeder([source], hubs, clock=lambda: 0.0, link_faults=faults,
                          boot_ms={'hub_x': 0, 'hub_y': 0})
    try:
        px, py = open_port(hubs['hub_x'].link_path), open_port(hubs['hub_y'].link_path)
        splitter = LineSplitter()
        feeder.step(0.95)
        x_lines = read_lines(px, quiet=0.1, splitter=splitter)
        feeder.step(1.2)             # unplugged at 1.0
        assert not hubs['hub_x'].link_path.exists()
        with pytest.raises(serial.SerialException):
            for _ in range(20):
                x_lines += splitter.feed(px.read(100))
        px.close()
        splitter.reset()
        feeder.step(1.6)             # plugged again at 1.5
        assert hubs['hub_x'].link_path.is_symlink()
        px = open_port(hubs['hub_x'].link_path)
        feeder.step(4.0)
        x_lines += read_lines(px, quiet=0.1, splitter=splitter)
        y_lines = read_lines(py, quiet=0.1)
        px.close()
        py.close()
    finally:
        feeder.close()

    x = [parse_line(line) for line in x_lines]
    x_ms = {s.hub_ms for s in x if isinstance(s, LoadCellSample)}
    y = [parse_line(line) for line in y_lines]
    y_ms = {s.hub_ms for s in y if isinstance(s, LoadCellSample)}
    assert not any(500 <= ms < 700 for ms in x_ms)          # link stall
    assert not any(1000 <= ms < 1500 for ms in x_ms)        # unplugged
    assert any(ms >= 1600 for ms in x_ms)                   # reconnected
    assert not any(3000 <= ms < 3500 for ms in x_ms | y_ms)  # source stall: both hubs
    assert any(500 <= ms < 700 for ms in y_ms) and any(1000 <= ms < 1500 for ms in y_ms)
    hb_y = [s.hub_ms for s in y if isinstance(s, Heartbeat)]
    assert hb_y == [0, 1000, 2000]                          # no heartbeat during the stall at 3 s
    assert feeder.garbage_bytes == 40 and feeder.lines_stalled > 0
    assert hubs['hub_x'].stats.unplugs == 1 and hubs['hub_x'].stats.lines_lost_unplugged > 0
    assert all(isinstance(s, ProtocolError) or s.hub_ms >= 0 for s in x)


def test_feeder_thread_paced_by_sim_clock(tmp_path: Path) -> None:
    hubs = open_hubs(['hub_x'], tmp_path)
    feeder = SerialFeeder([FakeSource()], hubs, clock=SimClock(rate=10.0), end=3.0,
                          boot_ms={'hub_x': 0})
    try:
        with open_port(hubs['hub_x'].link_path) as port:
            start = time.monotonic()
            feeder.start()
            lines = read_lines(port, want=3 * 50 * 2 + 3, timeout=5.0)
            feeder.join(timeout=5.0)
            elapsed = time.monotonic() - start
        assert 0.25 < elapsed < 3.0                              # 3 s of sim time at 10x
        parsed = [parse_line(line) for line in lines]
        assert sum(isinstance(p, Heartbeat) for p in parsed) == 3
        assert sum(isinstance(p, LoadCellSample) for p in parsed) == 300
        assert feeder.sim_time == 3.0
    finally:
        feeder.close()


def test_feeder_with_distance_emulator(tmp_path: Path) -> None:
    class QuietWorld:
        lane_changes: tuple[tuple[float, str, float], ...] = ()

        def lane_weights_at(self, t: float) -> dict[str, float]:
            return {}

        def hands_in_lanes_at(self, t: float) -> dict[str, int]:
            return {}

        def shelf_intrusions_at(self, t: float) -> dict[str, list[float]]:
            return {'shelf_a': [0.5]} if t >= 0.5 else {}

    cfg = load_store_config(DEMO)
    emulator = DistanceEmulator(cfg, QuietWorld(), seed=3)
    hubs = open_hubs(emulator.hub_ids, tmp_path)
    feeder = SerialFeeder([emulator], hubs, clock=lambda: 0.0, boot_ms={'hub_distance': 0})
    try:
        with open_port(hubs['hub_distance'].link_path) as port:
            feeder.step(1.0)
            parsed = [parse_line(line) for line in read_lines(port, want=201)]
    finally:
        feeder.close()
    ds = [p for p in parsed if isinstance(p, DistanceSample)]
    assert len(ds) == 200 and {d.channel for d in ds} == {0, 1, 2, 3}
    assert all(abs(d.mm - 500) < 20 for d in ds if d.channel == 0 and d.hub_ms >= 500)
    assert all(abs(d.mm - 1900) < 20 for d in ds if d.channel == 1)


def test_feeder_rejects_bad_setup(tmp_path: Path) -> None:
    hubs = open_hubs(['hub_x'], tmp_path)
    try:
        with pytest.raises(ValueError):
            SerialFeeder([FakeSource(('hub_z',))], hubs)
        with pytest.raises(ValueError):
            SerialFeeder([FakeSource()], hubs, link_faults=[LinkFault('stall', 'nope', 0.0, 1.0)])
        with pytest.raises(ValueError):
            SimClock(rate=0.0)
    finally:
        for hub in hubs.values():
            hub.close()
