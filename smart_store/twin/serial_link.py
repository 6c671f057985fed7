"""Pseudo-terminal serial links that carry the emulated hubs' lines to the real drivers.

Every hub gets a pty pair (``PtyHub``): the twin writes protocol lines into the master side,
and a driver opens the slave side with pyserial through a stable symlink,
``<run_dir>/<hub_id> -> /dev/pts/N``, exactly as it would open ``/dev/ttySS0`` in the store.
``SerialFeeder`` paces the emulators' samples against sim time and writes each hub's lines
when their time comes, with a heartbeat per hub per second and scheduled link faults:

    * ``unplug``  the master is closed and the symlink removed for ``duration`` seconds, then
                  a new pty is created and the symlink re-pointed (a different /dev/pts/N): the
                  driver sees a read error and must reopen the link path;
    * ``garbage`` ``n_bytes`` random bytes (line noise) are written at ``start``;
    * ``stall``   the hub sends nothing (no samples, no heartbeats) for ``duration`` seconds.

Writes never block: the master is non-blocking; what the pty does not take (its kernel buffer,
~20 kB on Linux, is full because nobody reads) waits in a per-hub backlog of at most
``max_backlog`` bytes (4 kB), and further lines are dropped (whole lines, counted in
``lines_dropped``), like a hub whose transmit buffer overflows. pyserial flushes the kernel
buffer when it opens the port, so a driver that connects late starts with at most the backlog
of stale lines, as on a real serial port.

``hub_ms`` in the lines is ``(boot_ms + floor(1000 * t)) mod 2**32`` with a per-hub boot time
(10 s to 1 h before the run unless given), so the driver sees an unrelated, wrapping hub clock.
Pure Python (POSIX only), no ROS.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import threading
import time
import tty
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol

import numpy as np

from smart_store.drivers.protocol import (
    HUB_MS_MODULUS,
    Sample,
    encode,
    encode_distance,
    encode_heartbeat,
    encode_loadcell,
)

__all__ = [
    'HubStats',
    'LinkFault',
    'PtyHub',
    'SampleSource',
    'SerialFeeder',
    'SimClock',
    'open_hubs',
]


# ------------------------------------------------------------------------------------ pty hub
@dataclass
class HubStats:
    """Counters of one PtyHub (plain ints, read them any time)."""

    lines_queued: int = 0           # lines accepted for writing
    lines_dropped: int = 0          # lines dropped: backlog full (reader not reading)
    lines_lost_unplugged: int = 0   # lines written while unplugged
    bytes_written: int = 0          # bytes the pty accepted
    bytes_discarded: int = 0        # backlog bytes thrown away by an unplug
    unplugs: int = 0


class PtyHub:
    """One hub's serial line: a pty pair with a stable symlink to its slave.

    The slave is put in raw mode (no echo, no CR/LF translation) and kept open by the hub so
    the link exists before any reader; the master is non-blocking. Thread-safe.
    """

    def __init__(
        self,
        hub_id: str,
        run_dir: str | os.PathLike[str],
        *,
        link_name: str | None = None,
        max_backlog: int = 4096,
    ) -> None:
        self.hub_id = hub_id
        self.link_path = Path(run_dir) / (link_name or hub_id)
        self.max_backlog = max_backlog
        self.stats = HubStats()
        self._lock = threading.Lock()
        self._master: int | None = None
        self._slave: int | None = None
        self._slave_name: str | None = None
        self._out = bytearray()
        self.link_path.parent.mkdir(parents=True, exist_ok=True)
        self.plug()

    # ------------------------------------------------------------------------- connection
    @property
    def plugged(self) -> bool:
        return self._master is not None

    @property
    def slave_name(self) -> str | None:
        """The current /dev/pts/N (None while unplugged)."""
        return self._slave_name

    @property
    def pending(self) -> int:
        """Bytes queued but not yet taken by the pty."""
        return len(self._out)

    def plug(self) -> None:
        """Create the pty pair and point the symlink at its slave (no-op if plugged)."""
        with self._lock:
            if self._master is not None:
                return
            master, slave = os.openpty()
            try:
                tty.setraw(slave)
                os.set_blocking(master, False)
                name = os.ttyname(slave)
                tmp = self.link_path.with_name(f'.{self.link_path.name}.{os.getpid()}.tmp')
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                tmp.symlink_to(name)
                tmp.replace(self.link_path)
            except BaseException:
                os.close(master)
                os.close(slave)
                raise
            self._master, self._slave, self._slave_name = master, slave, name

    def unplug(self) -> None:
        """Remove the symlink and close the pty (the reader sees the device vanish)."""
        with self._lock:
            if self._master is None:
                return
            with contextlib.suppress(FileNotFoundError):
                self.link_path.unlink()
            master, slave = self._master, self._slave
            self._master = self._slave = self._slave_name = None
            self.stats.bytes_discarded += len(self._out)
            self._out.clear()
            self.stats.unplugs += 1
            os.close(master)
            if slave is not None:
                os.close(slave)

    def close(self) -> None:
        """Unplug for good (same as ``unplug``; the counter is not bumped)."""
        unplugs = self.stats.unplugs
        self.unplug()
        self.stats.unplugs = unplugs

    def __enter__(self) -> PtyHub:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---------------------------------------------------------------------------- writing
    def write_line(self, line: bytes) -> bool:
        """Queue one line (or any bytes) and push what the pty takes. False if dropped."""
        with self._lock:
            if self._master is None:
                self.stats.lines_lost_unplugged += 1
                return False
            if len(self._out) + len(line) > self.max_backlog:
                self.stats.lines_dropped += 1
                self._flush_locked()
                return False
            self._out += line
            self.stats.lines_queued += 1
            self._flush_locked()
            return True

    def write_lines(self, lines: Iterable[bytes]) -> int:
        """Queue several lines; returns how many were accepted."""
        return sum(self.write_line(line) for line in lines)

    def write_samples(self, samples: Iterable[Sample]) -> int:
        """Encode protocol samples (``LoadCellSample``, ``DistanceSample``, ``Heartbeat``) and
        queue them; returns how many lines were accepted."""
        return self.write_lines(encode(s) for s in samples)

    def flush(self) -> int:
        """Push queued bytes into the pty as far as it takes them; returns bytes written."""
        with self._lock:
            return self._flush_locked()

    def _flush_locked(self) -> int:
        if self._master is None or not self._out:
            return 0
        try:
            n = os.write(self._master, self._out)
        except BlockingIOError:
            return 0
        except OSError as err:  # EIO: the slave side is gone; keep the data for a reader
            if err.errno == errno.EIO:
                return 0
            raise
        del self._out[:n]
        self.stats.bytes_written += n
        return n


def open_hubs(
    hub_ids: Iterable[str], run_dir: str | os.PathLike[str], *, max_backlog: int = 4096
) -> dict[str, PtyHub]:
    """A PtyHub per hub id, links at ``<run_dir>/<hub_id>``."""
    return {h: PtyHub(h, run_dir, max_backlog=max_backlog) for h in hub_ids}


# ------------------------------------------------------------------------------------- feeder
class SampleSource(Protocol):
    """What the feeder needs from LoadCellEmulator / DistanceEmulator."""

    KIND: str  # 'load_cell' or 'distance'

    @property
    def hub_ids(self) -> tuple[str, ...]: ...

    def samples(self, t0: float, t1: float) -> list[tuple[float, str, int, int]]: ...

    def hub_stalled(self, hub_id: str, t: float) -> bool: ...


@dataclass(frozen=True)
class LinkFault:
    """A fault of one hub's serial link (see the module docstring)."""

    kind: Literal['unplug', 'garbage', 'stall']
    hub: str
    start: float
    duration: float = 0.0         # unplug, stall
    n_bytes: int = 64             # garbage


class SimClock:
    """Sim time paced against the wall clock: ``start + rate * (monotonic() - t_created)``."""

    def __init__(self, rate: float = 1.0, start: float = 0.0) -> None:
        if rate <= 0:
            raise ValueError('rate must be positive')
        self.rate = rate
        self.start = start
        self._t0 = time.monotonic()

    def __call__(self) -> float:
        return self.start + self.rate * (time.monotonic() - self._t0)


_Action = Literal['line', 'unplug', 'plug']


class SerialFeeder:
    """Writes every hub's lines into its PtyHub when sim time passes them.

    ``step(now)`` writes everything in ``[last, now)`` (use it directly for deterministic
    tests); ``start()`` runs a thread that calls ``step(clock())`` every ``tick`` seconds until
    ``stop()`` or until ``end`` (sim time). Within one step every hub's lines, heartbeats and
    fault actions are executed in time order.
    """

    def __init__(
        self,
        sources: Sequence[SampleSource],
        hubs: Mapping[str, PtyHub],
        clock: Callable[[], float] | None = None,
        *,
        link_faults: Sequence[LinkFault] = (),
        seed: int = 0,
        boot_ms: Mapping[str, int] | None = None,
        start: float = 0.0,
        end: float | None = None,
        tick: float = 0.005,
    ) -> None:
        self.hubs = dict(hubs)
        self.clock = clock if clock is not None else SimClock()
        self.end = end
        self.tick = tick
        self.error: BaseException | None = None
        self.heartbeats = 0
        self.lines_stalled = 0
        self.garbage_bytes = 0
        self._last = start
        self._source_of: dict[str, SampleSource] = {}
        self._sources = list(sources)
        for source in self._sources:
            if source.KIND not in ('load_cell', 'distance'):
                raise ValueError(f'unknown source kind {source.KIND!r}')
            for hub_id in source.hub_ids:
                if hub_id not in self.hubs:
                    raise ValueError(f'no PtyHub for hub {hub_id!r}')
                self._source_of[hub_id] = source
        for fault in link_faults:
            if fault.hub not in self.hubs:
                raise ValueError(f'link fault for unknown hub {fault.hub!r}')
            if fault.kind not in ('unplug', 'garbage', 'stall'):
                raise ValueError(f'unknown link fault kind {fault.kind!r}')
        self._faults = sorted(link_faults, key=lambda f: f.start)
        self._boot_ms: dict[str, int] = {}
        for hub_id in self.hubs:
            if boot_ms is not None and hub_id in boot_ms:
                self._boot_ms[hub_id] = int(boot_ms[hub_id]) % HUB_MS_MODULUS
            else:
                rng = np.random.default_rng([seed % (1 << 64), zlib.crc32(hub_id.encode())])
                self._boot_ms[hub_id] = int(rng.integers(10_000, 3_600_000))
        self._seed = seed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._step_lock = threading.Lock()

    def hub_ms(self, hub_id: str, t: float) -> int:
        """The hub's uint32 millisecond clock at sim time ``t``."""
        # (+1e-6: sim times like 59 / 50 must not floor to the millisecond below)
        return (self._boot_ms[hub_id] + math.floor(t * 1000.0 + 1e-6)) % HUB_MS_MODULUS

    @property
    def sim_time(self) -> float:
        """Sim time up to which lines have been written."""
        return self._last

    # ------------------------------------------------------------------------------ stepping
    def step(self, now: float) -> int:
        """Write everything due in ``[last, now)``; returns the number of lines queued."""
        with self._step_lock:
            t0, t1 = self._last, now
            if self.end is not None:
                t1 = min(t1, self.end)
            queued = 0
            if t1 > t0:
                per_hub: dict[str, list[tuple[float, int, _Action, bytes]]] = {
                    h: [] for h in self.hubs
                }
                self._collect_samples(t0, t1, per_hub)
                self._collect_heartbeats(t0, t1, per_hub)
                self._collect_faults(t0, t1, per_hub)
                for hub_id, items in per_hub.items():
                    items.sort(key=lambda it: (it[0], it[1]))
                    queued += self._execute(hub_id, items)
                self._last = t1
            for hub in self.hubs.values():
                hub.flush()
            return queued

    def _stalled(self, hub_id: str, t: float) -> bool:
        source = self._source_of.get(hub_id)
        if source is not None and source.hub_stalled(hub_id, t):
            return True
        return any(
            f.kind == 'stall' and f.hub == hub_id and f.start <= t < f.start + f.duration
            for f in self._faults
        )

    def _collect_samples(
        self, t0: float, t1: float, per_hub: dict[str, list[tuple[float, int, _Action, bytes]]]
    ) -> None:
        for source in self._sources:
            enc = encode_loadcell if source.KIND == 'load_cell' else encode_distance
            for seq, (t, hub_id, channel, value) in enumerate(source.samples(t0, t1)):
                if self._stalled(hub_id, t):
                    self.lines_stalled += 1
                    continue
                line = enc(self.hub_ms(hub_id, t), channel, value)
                per_hub[hub_id].append((t, 2 + seq, 'line', line))

    def _collect_heartbeats(
        self, t0: float, t1: float, per_hub: dict[str, list[tuple[float, int, _Action, bytes]]]
    ) -> None:
        for hub_id in self._source_of:
            for n in range(max(0, math.ceil(t0)), math.ceil(t1)):
                t = float(n)
                if t0 <= t < t1 and not self._stalled(hub_id, t):
                    line = encode_heartbeat(self.hub_ms(hub_id, t), hub_id)
                    per_hub[hub_id].append((t, 1, 'line', line))
                    self.heartbeats += 1

    def _collect_faults(
        self, t0: float, t1: float, per_hub: dict[str, list[tuple[float, int, _Action, bytes]]]
    ) -> None:
        for index, fault in enumerate(self._faults):
            items = per_hub[fault.hub]
            if fault.kind == 'unplug':
                if t0 <= fault.start < t1:
                    items.append((fault.start, 0, 'unplug', b''))
                replug = fault.start + fault.duration
                if t0 <= replug < t1:
                    items.append((replug, 0, 'plug', b''))
            elif fault.kind == 'garbage' and t0 <= fault.start < t1:
                rng = np.random.default_rng([self._seed % (1 << 64), 7, index])
                data = rng.integers(0, 256, fault.n_bytes, dtype=np.uint8).tobytes()
                items.append((fault.start, 0, 'line', data))
                self.garbage_bytes += len(data)

    def _execute(self, hub_id: str, items: list[tuple[float, int, _Action, bytes]]) -> int:
        hub = self.hubs[hub_id]
        queued = 0
        for _, _, action, data in items:
            if action == 'unplug':
                hub.unplug()
            elif action == 'plug':
                hub.plug()
            elif hub.write_line(data):
                queued += 1
        return queued

    # ------------------------------------------------------------------------------- thread
    def run(self) -> None:
        """Pace against ``clock`` until ``stop()`` or ``end`` (blocking; ``start`` threads it)."""
        try:
            while not self._stop.is_set():
                now = self.clock()
                self.step(now)
                if self.end is not None and now >= self.end:
                    break
                self._stop.wait(self.tick)
        except Exception as err:
            self.error = err  # join() re-raises it in the caller's thread
            raise

    def start(self) -> SerialFeeder:
        if self._thread is not None:
            raise RuntimeError('feeder already started')
        self._thread = threading.Thread(target=self.run, name='serial-feeder', daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread; re-raises an error that ended it."""
        if self._thread is not None:
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error

    def close(self, *, close_hubs: bool = True) -> None:
        """Stop the thread and (by default) unplug every hub."""
        self.stop()
        if self._thread is not None:
            self._thread.join(5.0)
        if close_hubs:
            for hub in self.hubs.values():
                hub.close()

    def __enter__(self) -> SerialFeeder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
