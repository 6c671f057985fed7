"""SerialHubReader against scripted ports: garbage, unplugging, silence, clock jumps."""

from __future__ import annotations

import threading
import time

import serial

from smart_store.drivers.protocol import (
    LoadCellSample,
    encode_heartbeat,
    encode_loadcell,
)
from smart_store.drivers.serial_hub import HubClock, HubThread, SerialHubReader


class ScriptedPort:
    """Returns scripted chunks; an Exception in the script is raised by read()."""

    def __init__(self, chunks: list[bytes | Exception]) -> None:
        self.chunks = chunks
        self.closed = False

    @property
    def in_waiting(self) -> int:
        return 0

    def read(self, size: int = 1) -> bytes:
        if not self.chunks:
            return b''
        item = self.chunks.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    def close(self) -> None:
        self.closed = True


def reader_with(ports: list[ScriptedPort | Exception], **kw: object) -> SerialHubReader:
    def opener(port: str, baud: int, timeout: float) -> ScriptedPort:
        item = ports.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return SerialHubReader('hub_a', '/dev/x', 460800, opener=opener, backoff_min=0.1, **kw)


def lc(ms: int, ch: int, counts: int) -> bytes:
    return encode_loadcell(ms, ch, counts)


def test_garbage_is_counted_and_good_lines_survive() -> None:
    good = lc(1000, 0, 12345) + lc(1000, 1, -5)
    bad_cs = lc(1012, 0, 1)[:-4] + b'00\r\n'
    chunks = [b'\x00\xff noise ' + good[:10], good[10:] + bad_cs + b'$LC,12,zz,1*00\r\n',
              b'$LC,1,2\r\n' + encode_heartbeat(1100, 'hub_a')]
    reader = reader_with([ScriptedPort(list(chunks))])
    out = []
    for i in range(5):
        out += reader.poll(float(i) * 0.01)
    samples = [s for _, s in out]
    assert LoadCellSample(1000, 0, 12345) in samples and LoadCellSample(1000, 1, -5) in samples
    assert reader.stats.heartbeats == 1
    errors = reader.stats.errors
    assert errors['checksum'] >= 1 and sum(errors.values()) >= 3


def test_unplug_and_replug_reconnects_with_backoff() -> None:
    first = ScriptedPort([lc(0, 0, 1), serial.SerialException('device disconnected')])
    second = ScriptedPort([lc(5000, 0, 2)])
    reader = reader_with([first, OSError('no such device'), second])
    got = reader.poll(0.0)
    assert [s.counts for _, s in got] == [1]
    assert reader.poll(0.01) == [] and reader.stats.state == 'closed' and first.closed
    assert reader.poll(0.05) == []  # still backing off: no attempt
    assert reader.stats.open_failures == 0
    reader.poll(0.2)  # attempt 1 fails
    assert reader.stats.open_failures == 1
    got = []
    t = 0.2
    while not got and t < 5:
        t += 0.05
        got = reader.poll(t)
    assert [s.counts for _, s in got] == [2]
    assert reader.stats.reconnects == 1 and reader.stats.disconnects == 1


def test_silence_is_reported_and_recovers() -> None:
    port = ScriptedPort([lc(0, 0, 1)] + [b''] * 30 + [lc(9000, 0, 3)])
    reader = reader_with([port], silent_s=0.5)
    t = 0.0
    states = set()
    for _ in range(35):
        reader.poll(t)
        states.add(reader.stats.state)
        t += 0.05
    assert 'silent' in states and reader.stats.silent_periods == 1
    assert reader.stats.state == 'open'


def test_hub_reboot_resynchronises_the_clock() -> None:
    lines = ([lc(500_000 + i * 12, 0, i) for i in range(5)]
             + [lc(30 + i * 12, 0, 9) for i in range(3)])
    reader = reader_with([ScriptedPort(lines)])
    stamps = []
    for i in range(len(lines)):
        for stamp, _ in reader.poll(100.0 + i * 0.012):
            stamps.append(stamp)
    assert len(stamps) == 8
    assert reader.stats.clock_jumps >= 1
    # Stamps stay on the host clock through the reboot (no jump of 500 s).
    assert max(stamps) - min(stamps) < 1.0


def test_hub_clock_takes_the_least_latency_offset() -> None:
    clock = HubClock(window=50)
    stamps = [clock.stamp(i * 0.0125, 10.0 + i * 0.0125 + (0.004 if i % 3 else 0.0))
              for i in range(40)]
    # Jittery arrivals (0-4 ms late) map onto the fastest-arrival line: hub time + 10 s.
    assert abs(stamps[-1] - (10.0 + 39 * 0.0125)) < 1e-9


def test_hub_thread_stops_and_joins_before_closing_the_port() -> None:
    """Shutdown order: the thread finishes its poll and ends, then the port is closed; after
    join() returns the callback is never called again."""
    port = ScriptedPort([lc(i * 12, 0, i) for i in range(100_000)])
    calls: list[int] = []
    busy = threading.Event()

    def on_samples(reader: SerialHubReader, samples: list[object]) -> None:
        calls.append(len(samples))
        busy.set()
        time.sleep(0.001)

    thread = HubThread(reader_with([port]), time.monotonic, on_samples)
    thread.start()
    assert busy.wait(5.0)
    thread.request_stop()
    assert thread.join(2.0) and port.closed
    n = len(calls)
    time.sleep(0.05)
    assert len(calls) == n
    assert thread.stop()  # idempotent


def test_hub_thread_that_never_started_stops_cleanly() -> None:
    port = ScriptedPort([])
    reader = reader_with([port])
    reader.poll(0.0)  # opened
    thread = HubThread(reader, time.monotonic, lambda r, s: None)
    assert thread.stop() and port.closed


def test_overlong_lines_and_clock_jumps_are_logged_once_and_counted() -> None:
    logged: list[str] = []
    flood = b'x' * 5000  # no terminator where a valid line must have one
    lines = ([lc(500_000 + i * 12, 0, i) for i in range(5)]
             + [flood + b'\r\n', flood + b'\r\n']
             + [lc(30 + i * 12, 0, 9) for i in range(3)]      # a reboot
             + [lc(400_000 + i * 12, 0, 9) for i in range(2)]  # a jump ahead
             + [lc(10 + i * 12, 0, 9) for i in range(2)])     # and another reboot
    reader = reader_with([ScriptedPort(lines)], log=logged.append)
    samples = 0
    for i in range(len(lines)):
        samples += len(reader.poll(100.0 + i * 0.012))
    assert samples == 12                                  # the good lines all survive
    assert reader.splitter_overlong == 2 and reader.stats.clock_jumps >= 3
    assert sum('overlong' in m for m in logged) == 1
    assert sum('hub clock went back' in m for m in logged) == 1
    assert sum('disagreed' in m for m in logged) == 1
