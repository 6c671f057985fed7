"""Reading a shelf hub over a serial line: reconnects, bad input, silence and clock jumps.

``SerialHubReader.poll()`` is called in a loop by a driver thread. It never raises: an unplugged
port is closed and reopened with exponential backoff, garbage is split into lines and every
rejected line is counted by kind (protocol.py), and a hub that goes quiet is reported as silent.
Samples are stamped on the host clock through ``HubClock``, which maps the hub's millisecond
counter to host time with the least-latency offset seen recently, so stamps do not inherit the
jitter of USB/serial buffering, and re-synchronises after a hub clock jump (reboot, wrap).

Pure Python + pyserial; no ROS.
"""

from __future__ import annotations

import contextlib
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import serial

from smart_store.drivers.protocol import (
    Heartbeat,
    HubTimeUnwrapper,
    LineSplitter,
    ProtocolError,
    Sample,
    parse_line,
)


class Port(Protocol):
    def read(self, size: int = 1) -> bytes: ...

    @property
    def in_waiting(self) -> int: ...

    def close(self) -> None: ...


def open_serial(port: str, baud: int, timeout: float) -> Port:
    """pyserial port in raw 8N1 mode (``serial_for_url`` also takes ``socket://`` etc.)."""
    return serial.serial_for_url(port, baudrate=baud, timeout=timeout)


class HubClock:
    """Maps the hub's (unwrapped) millisecond clock to host seconds.

    offset = min over the last ``window`` samples of (host arrival - hub time): the sample that
    arrived fastest defines the latency floor, and a moving window follows slow drift between the
    two oscillators. A change of more than ``jump_s`` between hub and host time is a clock jump
    (hub reboot, a stall that was buffered): the window restarts and ``jumps`` counts it.
    """

    def __init__(self, window: int = 400, jump_s: float = 0.5) -> None:
        self._window: deque[float] = deque(maxlen=window)
        self._jump_s = jump_s
        self.jumps = 0

    def stamp(self, hub_s: float, host_s: float) -> float:
        d = host_s - hub_s
        if self._window and abs(d - min(self._window)) > self._jump_s:
            self._window.clear()
            self.jumps += 1
        self._window.append(d)
        return hub_s + min(self._window)

    def reset(self) -> None:
        self._window.clear()


@dataclass
class HubStats:
    lines: int = 0
    samples: int = 0
    heartbeats: int = 0
    bytes: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    open_failures: int = 0
    reconnects: int = 0
    disconnects: int = 0
    silent_periods: int = 0
    clock_jumps: int = 0
    backwards: int = 0          # samples older than the previous one (dropped)
    state: str = 'closed'       # closed | open | silent
    last_error: str = ''

    def as_dict(self) -> dict[str, str]:
        out = {k: str(v) for k, v in self.__dict__.items() if k != 'errors'}
        out.update({f'error_{k}': str(v) for k, v in sorted(self.errors.items())})
        return out


class SerialHubReader:
    """One hub's serial line, read without ever raising."""

    def __init__(self, hub_id: str, port: str, baud: int, *, read_timeout: float = 0.05,
                 backoff_min: float = 0.25, backoff_max: float = 5.0, silent_s: float = 2.0,
                 opener: Callable[[str, int, float], Port] = open_serial,
                 log: Callable[[str], None] | None = None) -> None:
        self.hub_id, self.port, self.baud = hub_id, port, baud
        self.stats = HubStats()
        self._opener = opener
        self._read_timeout = read_timeout
        self._backoff_min, self._backoff_max = backoff_min, backoff_max
        self._backoff = backoff_min
        self._next_attempt = 0.0
        self._silent_s = silent_s
        self._port: Port | None = None
        self._splitter = LineSplitter()
        self._unwrap = HubTimeUnwrapper()
        self._clock = HubClock()
        self._last_data = 0.0
        self._last_hub_ms: int | None = None
        self._ever_open = False
        self._log = log or (lambda _msg: None)
        self._logged_kinds: set[str] = set()

    def _fail(self, reason: str, now: float) -> None:
        if self._port is not None:
            # Closing a dead port may fail; it is gone either way.
            with contextlib.suppress(Exception):
                self._port.close()
            self._port = None
            self.stats.disconnects += 1
        if self.stats.state != 'closed' or reason != self.stats.last_error:
            self._log(f'{self.hub_id} ({self.port}): {reason}; retrying')
        self.stats.state = 'closed'
        self.stats.last_error = reason
        self._next_attempt = now + self._backoff
        self._backoff = min(self._backoff * 2.0, self._backoff_max)
        self._splitter.reset()  # a half line before the failure can never complete

    def _open(self, now: float) -> bool:
        if now < self._next_attempt:
            return False
        try:
            self._port = self._opener(self.port, self.baud, self._read_timeout)
        except Exception as err:  # noqa: BLE001 - SerialException, OSError, ValueError...
            self.stats.open_failures += 1
            self._fail(f'cannot open: {err}', now)
            return False
        self.stats.state = 'open'
        if self._ever_open:
            self.stats.reconnects += 1
        self._ever_open = True
        self._last_data = now
        self._unwrap.reset()
        self._clock.reset()
        self._last_hub_ms = None
        self._log(f'{self.hub_id}: {self.port} open at {self.baud} baud')
        return True

    def poll(self, now: float) -> list[tuple[float, Sample]]:
        """Read what is there (waits at most the read timeout); return stamped samples."""
        if self._port is None and not self._open(now):
            return []
        assert self._port is not None
        try:
            waiting = self._port.in_waiting
            chunk = self._port.read(max(1, min(waiting, 65536)))
        except Exception as err:  # noqa: BLE001 - unplugged: SerialException / OSError
            self._fail(f'read failed: {err}', now)
            return []
        if not chunk:
            if now - self._last_data > self._silent_s and self.stats.state == 'open':
                self.stats.state = 'silent'
                self.stats.silent_periods += 1
                self._log(f'{self.hub_id}: silent for {self._silent_s:.1f} s')
            return []
        if self.stats.state == 'silent':
            self._log(f'{self.hub_id}: data again')
        self.stats.state = 'open'
        self._last_data = now
        self._backoff = self._backoff_min
        self.stats.bytes += len(chunk)
        overlong = self._splitter.overlong
        lines = self._splitter.feed(chunk)
        if self._splitter.overlong > overlong:
            self._once('overlong', f'{self.hub_id}: dropped an overlong line (no terminator '
                       'within the longest valid line); further ones are only counted')
        return self._lines(lines, now)

    def _once(self, kind: str, message: str) -> None:
        """Log ``message`` the first time a problem of ``kind`` occurs (then only counted)."""
        if kind not in self._logged_kinds:
            self._logged_kinds.add(kind)
            self._log(message)

    def _lines(self, lines: list[bytes], now: float) -> list[tuple[float, Sample]]:
        out: list[tuple[float, Sample]] = []
        for line in lines:
            self.stats.lines += 1
            result = parse_line(line)
            if isinstance(result, ProtocolError):
                self.stats.errors[result.kind] += 1
                self._once(result.kind, f'{self.hub_id}: dropped a bad line ({result.kind}: '
                           f'{result.detail}); further ones are only counted')
                continue
            hub_ms = self._unwrap(result.hub_ms)
            if self._last_hub_ms is not None and hub_ms < self._last_hub_ms - 1000:
                # The hub clock went far back: a reboot. Re-synchronise instead of dropping.
                self.stats.clock_jumps += 1
                self._once('clock_reboot', f'{self.hub_id}: hub clock went back '
                           f'{(self._last_hub_ms - hub_ms) / 1000.0:.1f} s (a hub reboot); '
                           'stamps re-synchronised; further jumps are only counted')
                self._clock.reset()
                self._unwrap.reset()
                hub_ms = self._unwrap(result.hub_ms)
            elif self._last_hub_ms is not None and hub_ms < self._last_hub_ms:
                self.stats.backwards += 1
                continue
            self._last_hub_ms = hub_ms
            jumps = self._clock.jumps
            stamp = self._clock.stamp(hub_ms / 1000.0, now)
            if self._clock.jumps > jumps:
                self.stats.clock_jumps += self._clock.jumps - jumps
                self._once('clock_jump', f'{self.hub_id}: hub clock and host clock disagreed '
                           'by more than 0.5 s (a stall or a buffered burst); stamps '
                           're-synchronised; further jumps are only counted')
            if isinstance(result, Heartbeat):
                self.stats.heartbeats += 1
            else:
                self.stats.samples += 1
            out.append((stamp, result))
        return out

    @property
    def splitter_overlong(self) -> int:
        return self._splitter.overlong

    def close(self) -> None:
        if self._port is not None:
            try:
                self._port.close()
            finally:
                self._port = None



class HubThread:
    """Polls one SerialHubReader in a thread of its own and hands samples to ``on_samples``.

    A thread per hub means a stalled or unplugged hub never delays the others.
    """

    def __init__(self, reader: SerialHubReader, clock: Callable[[], float],
                 on_samples: Callable[[SerialHubReader, list[tuple[float, Sample]]], None]
                 ) -> None:
        import threading  # noqa: PLC0415

        self.reader = reader
        self._clock = clock
        self._on_samples = on_samples
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f'hub-{reader.hub_id}',
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            samples = self.reader.poll(self._clock())
            if samples:
                self._on_samples(self.reader, samples)
            elif self.reader.stats.state == 'closed':
                self._stop.wait(0.05)  # backing off: do not spin

    def request_stop(self) -> None:
        """Ask the thread to finish its current poll and end (does not wait)."""
        self._stop.set()

    def join(self, timeout: float = 2.0) -> bool:
        """Wait for the thread to end, then close the port; False if it is still running."""
        if self._thread.ident is not None:  # started
            self._thread.join(timeout=timeout)
        alive = self._thread.is_alive()
        if not alive:
            self.reader.close()
        return not alive

    def stop(self, timeout: float = 2.0) -> bool:
        self.request_stop()
        return self.join(timeout)
