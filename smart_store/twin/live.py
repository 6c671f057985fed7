"""The twin live beside the node graph: ``./smart-store up --twin SCENARIO``.

The twin plays a scenario in real time and stands in for the store's hardware:

* **Shelf hubs.** Every hub of the store config gets a pseudo-terminal (``PtyHub``) with a
  stable link ``<run_dir>/ptys/<hub_id>``; a ``SerialFeeder`` writes the ``LoadCellEmulator`` and
  ``DistanceEmulator`` samples into them as protocol lines when the sim clock passes them (with a
  heartbeat per hub per second and optional link faults). The real ``loadcell_driver`` and
  ``distance_driver`` read those links (``port_overrides:=["<hub>=<link>"]``, which
  ``up --twin`` passes), so ``/shelves/load_cells/raw``, ``/shelves/weights``,
  ``/shelves/ranges`` and ``/diagnostics`` come from the drivers, exactly as in the store.
* **Cameras.** With ``camera_streams`` (what ``up --twin`` uses) every camera is a network
  camera: an MJPEG-over-HTTP stream ``http://127.0.0.1:<port>/<camera_id>``
  (``twin/camera_stream.py``) that the real ``camera_driver`` opens as its ``sources``, so
  images and CameraInfo come from the driver, stamped at capture, as in the store. Without it
  the twin publishes the images and CameraInfo of the ``TwinRun`` itself and the camera driver
  does not run.
* **The entry gate.** The entry scans are published by ``ros/player.py``'s ``Player``; the
  twin's own shelf messages are not produced at all (the drivers make those).

Time base (one choice for everything): **wall-clock time**, as in the store itself: every node
runs with ``use_sim_time: false`` and the twin publishes no ``/clock``. Sim time ``t`` (seconds
from the start of the scenario) advances at real time on a monotonic ``SimClock``; when the run
starts the twin notes the wall time of ``t = 0``, ``wall_zero_ns`` (in ``live.json``), and from
then on sim time ``t`` is ROS time ``wall_zero_ns + t * 1e9`` for everything:

* Camera streams: the frame of sim time ``t`` is rendered and JPEG-encoded ahead of time and
  handed to the stream's clients at wall time ``wall_zero + t`` (the Player paces it on the same
  time line as the entry scans); the driver stamps it when it has read and decoded it
  (measured by test/drivers/test_up_twin.py on the 2-core machine, 4 cameras at 320x240 and
  5 fps: median 8-9 ms after the frame's time, 90th percentile 13-15 ms, max 22 ms).
* Images, CameraInfo and entry events (without streams): ``TwinRun`` stamps them with their
  sim time on the recording origin (``SIM_EPOCH_NS + t``); the twin rewrites that header stamp
  in the serialised message to ``wall_zero_ns + t`` (the header is the first field of all
  three types) and the Player publishes each when its time comes. A frame that could only be
  rendered more than ``max_image_lag`` s late is dropped (counted), as a camera driver that
  cannot keep up drops frames.
* Shelf topics: the drivers stamp them on their node clock (the system clock here) through the
  hub clock. The feeder writes a sample of sim time ``t`` at ``wall_zero + t`` plus its write
  latency (it writes every 5 ms), and the driver's least-latency mapping of the hub's
  millisecond clock takes that jitter out. Measured with ``up --twin`` on a 2-core machine
  under heavy load (load average ~10): stamps - (``wall_zero`` + t) median +1.3 ms, 5th..95th
  percentile -34..+11 ms (measured before the drivers took one clock snapshot per batch:
  a reader thread preempted between two separate clock reads then stamped up to ~0.1 s early;
  that tail is gone, see ``drivers/stamping.py``). A reader thread starved for more than 0.5 s
  still re-synchronises its hub clock on the late lines and stamps a burst up to ~0.7 s late.
* Ground truth (``truth/``) is in sim seconds: ``t = (stamp_ns - wall_zero_ns) / 1e9``.

Why not sim time with ``/clock`` from the twin (tried first): a sim-time node's clock is the
last ``/clock`` message its executor has processed, an error source the wall clock (read, never
received) does not have. With a 100 Hz ``/clock`` on the same machine shelf stamps were 7 ms
early in the median (the clock's staleness) against 1-2 ms late on the wall clock. The wall
clock is also how the store itself runs. The rate is real time (rate 1) either way: the drivers
map the hubs' clocks onto the host clock, which only works when the two advance together.

The run starts once the ``wait_for`` nodes are in the ROS graph, every ``wait_links`` link
has a reader (another process holds its ``/dev/pts/N`` open, seen in ``/proc``) and, with
streams, every camera stream has a client, plus ``lead_in``: no sample is written and no frame
sent before a driver reads.

The run ends at the scenario's end (or ``end``) plus ``tail`` seconds in which the hubs go on
sending (the last events settle) and ``drain`` seconds of quiet (readers that fell behind
catch up). With ``hold`` the twin then writes ``<run_dir>/done`` and
keeps its links open until it is stopped, so ``up`` can stop the graph first; on a stop it waits
``close_delay`` before removing the links, so the drivers never see their ports vanish at
shutdown.

Files in ``run_dir``: ``ptys/<hub_id>`` (the links; removed when the twin stops), ``truth/``
(``TwinRun.write_truth``: scenario, true events, lane changes, receipts; written when the run
starts and again at the end), ``live.json`` (scenario, time origin, links, initial lane
weights, statistics) and ``done`` (held runs).

Run it on its own with ``./smart-store python -m smart_store.twin.live SCENARIO`` and start the
drivers with the ``port_overrides`` it prints; ``up --twin`` does all of that.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smart_store.config import StoreConfig
from smart_store.twin.camera_stream import MjpegStreams, StreamError, encode_jpeg
from smart_store.twin.model import PersonState, Scenario
from smart_store.twin.record import (
    CAMERA_INFO_TYPE,
    IMAGE_TYPE,
    SIM_EPOCH_NS,
    RunOptions,
    TwinRun,
    stamp_ns,
)
from smart_store.twin.serial_link import LinkFault, PtyHub, SerialFeeder, SimClock, open_hubs

__all__ = [
    'LiveOptions',
    'LiveStats',
    'LiveTwin',
    'LiveTwinRun',
    'link_readers',
    'main',
    'open_links',
    'parse_link_fault',
    'port_overrides',
    'pty_dir',
    'restamp',
]

#: Topic prefix of a camera stream's frames in the Player's input (JPEG bytes, never published).
_STREAM = '/smart_store_twin/stream/'
#: Topic name of the message that anchors the Player's pacing to the sim clock (never published).
_ANCHOR = '/smart_store_twin/anchor'
_LIVE_TYPES = (IMAGE_TYPE, CAMERA_INFO_TYPE, 'smart_store/msg/EntryEvent')


def restamp(cdr: bytes, stamp_ns: int) -> bytes:
    """A serialised message whose first field is a ``std_msgs/Header`` with its
    ``header.stamp`` replaced (CDR: a 4-byte encapsulation header, then int32 sec and uint32
    nanosec, in the byte order the encapsulation names)."""
    if len(cdr) < 12 or cdr[0] != 0 or cdr[1] not in (0, 1):
        raise ValueError('not a plain CDR message')
    sec, nsec = divmod(stamp_ns, 1_000_000_000)
    return cdr[:4] + struct.pack('<iI' if cdr[1] else '>iI', sec, nsec) + cdr[12:]


def pty_dir(run_dir: Path) -> Path:
    """Where the hub links of a live run live."""
    return run_dir / 'ptys'


def port_overrides(cfg: StoreConfig, run_dir: Path, kind: str) -> list[str]:
    """``"<hub>=<link>"`` for every hub of ``kind`` (``load_cell`` / ``distance``): the drivers'
    ``port_overrides`` parameter for a live twin in ``run_dir``."""
    links = pty_dir(run_dir.resolve())
    return [f'{hub.id}={links / hub.id}' for hub in cfg.hubs if hub.kind == kind]


def parse_link_fault(text: str) -> LinkFault:
    """``KIND:HUB:START[:DURATION_OR_BYTES]``, e.g. ``unplug:hub_lc_a:12:2`` (2 s unplugged),
    ``garbage:hub_lc_b:8:200`` (200 random bytes), ``stall:hub_distance:5:1.5``."""
    parts = text.split(':')
    if len(parts) not in (3, 4) or parts[0] not in ('unplug', 'garbage', 'stall'):
        raise ValueError(f'link fault {text!r}: expected unplug|garbage|stall:HUB:START[:N]')
    hub, start = parts[1], float(parts[2])
    extra = float(parts[3]) if len(parts) == 4 else None
    if parts[0] == 'garbage':
        return LinkFault('garbage', hub, start, n_bytes=int(extra) if extra else 64)
    duration = extra if extra is not None else 1.0
    if parts[0] == 'unplug':
        return LinkFault('unplug', hub, start, duration=duration)
    return LinkFault('stall', hub, start, duration=duration)


@dataclass(frozen=True)
class LiveOptions:
    """How a live twin runs (see the module docstring)."""

    run_dir: Path = Path('out/live')
    images: bool = True                  # render the cameras
    camera_streams: bool = False         # as MJPEG streams for camera_driver (else: topics)
    stream_host: str = '127.0.0.1'
    stream_port: int = 0                 # 0 = any free port (in live.json and the log)
    jpeg_quality: int = 90
    start: float = 0.0                   # s of sim time where the run starts
    end: float | None = None             # s of sim time where it ends; None = the scenario's
    wait_for: tuple[str, ...] = ()       # node names that must be up before the run starts
    wait_links: tuple[str, ...] = ()     # hub ids whose links must have a reader by then
    wait_timeout: float = 60.0           # s; then the run starts anyway (with a warning)
    lead_in: float = 0.5                 # s between all of that and the start
    tail: float = 2.0                    # s the hubs go on sending after the end (settling)
    drain: float = 1.0                   # s of quiet after the tail: readers catch up
    hold: bool = False                   # then write <run_dir>/done, keep the links open
                                         # until stopped
    close_delay: float = 1.0             # s between a stop and closing the links (held runs:
                                         # the drivers stop first and never see them vanish)
    max_image_lag: float = 0.5           # s; frames that would be later are dropped
    link_faults: tuple[LinkFault, ...] = ()
    report_every: float = 10.0           # s of sim time between progress lines


@dataclass
class LiveStats:
    """What a live run did."""

    published: int = 0                   # images, camera infos, entry events
    late: int = 0                        # of those, published > 50 ms after their stamp
    frames: int = 0                      # camera frames rendered and published
    frames_dropped_lag: int = 0          # frames dropped to keep up with the clock
    lines: int = 0                       # protocol lines written into the hub links
    heartbeats: int = 0
    lines_dropped: int = 0               # lines a full link (nobody reading) did not take
    sim_start: float = 0.0
    sim_end: float = 0.0                 # how far sim time got
    completed: bool = False              # reached the end (not stopped early)
    streamed: int = 0                    # stream frames handed to camera clients
    stream_clients: dict[str, int] = field(default_factory=dict)  # camera -> connections
    missing_nodes: list[str] = field(default_factory=list)   # never appeared (wait_for)
    unread_links: list[str] = field(default_factory=list)    # no reader by then (wait_links)
    unwatched_streams: list[str] = field(default_factory=list)  # no client by then (streams)


class LiveTwinRun(TwinRun):
    """A ``TwinRun`` for live use: no shelf messages (the drivers publish those from the hub
    links), no COCO ground truth, and frames too late for the clock are dropped. With
    ``jpeg_quality`` a frame is one JPEG on ``_STREAM + camera id`` (for the camera streams)
    instead of an Image and a CameraInfo."""

    def __init__(self, cfg: StoreConfig, scenario: Scenario, options: RunOptions,
                 clock: Callable[[], float], max_lag: float, *,
                 jpeg_quality: int | None = None) -> None:
        super().__init__(cfg, scenario, options)
        self._now = clock
        self._max_lag = max_lag
        self._jpeg_quality = jpeg_quality
        self.lag_dropped: dict[str, int] = {}

    def _shelf_messages(self, t0: float, t1: float) -> list[tuple[int, str, bytes]]:
        del t0, t1
        return []

    def _image_messages(self, renderer: Any, t: float, people: Sequence[PersonState], *,
                        stock: dict[str, int] | None = None) -> list[tuple[int, str, bytes]]:
        if self._now() - t > self._max_lag:
            cam = renderer.camera.id
            self.lag_dropped[cam] = self.lag_dropped.get(cam, 0) + 1
            return []
        if self._jpeg_quality is not None:
            image = self.render_frame(renderer, t, people, stock=stock)
            return [(stamp_ns(t), _STREAM + renderer.camera.id,
                     encode_jpeg(image, self._jpeg_quality))]
        return super()._image_messages(renderer, t, people, stock=stock)


class LiveTwin:
    """A scenario played in real time into hub links and ROS topics (module docstring).

    Construction opens the hub links first (so drivers can open them while the rest loads),
    then builds the world, emulators and renderers. ``play(node, stop)`` waits for the graph,
    runs the scenario and returns its ``LiveStats``; ``close()`` stops the feeder and removes
    the links.
    """

    def __init__(self, cfg: StoreConfig, scenario: Scenario, options: LiveOptions | None = None,
                 log: Callable[[str], None] | None = None,
                 hubs: dict[str, PtyHub] | None = None) -> None:
        self.cfg = cfg
        self.scenario = scenario
        self.options = options or LiveOptions()
        self.log = log or (lambda text: print(text, flush=True))
        self.run_dir = self.options.run_dir.resolve()
        (self.run_dir / 'done').unlink(missing_ok=True)
        #: hub id -> its link (``hubs``: links opened beforehand, see ``open_links``)
        self.hubs: dict[str, PtyHub] = hubs if hubs is not None else open_links(cfg, self.run_dir)
        self._clock: SimClock | None = None
        self._clock_lock = threading.Lock()
        #: wall time (ns) of sim time 0, known once the run has started
        self.wall_zero_ns: int | None = None
        #: the camera streams (``camera_streams``), serving from construction on
        self.streams: MjpegStreams | None = None
        try:
            opts = self.options
            streaming = opts.images and opts.camera_streams
            self.run = LiveTwinRun(
                cfg, scenario, RunOptions(images=opts.images, start=opts.start, end=opts.end,
                                          coco=False),
                clock=self.now, max_lag=opts.max_image_lag,
                jpeg_quality=opts.jpeg_quality if streaming else None)
            if streaming:
                self.streams = MjpegStreams([c.id for c in cfg.cameras], opts.stream_host,
                                            opts.stream_port)
            self.feeder = SerialFeeder(
                [self.run.loadcells, self.run.distances], self.hubs, clock=self.now,
                link_faults=opts.link_faults, seed=scenario.seed, start=opts.start,
                end=self.run.end + opts.tail)   # the hubs go on sending through the tail
        except BaseException:
            for hub in self.hubs.values():
                hub.close()
            if self.streams is not None:
                self.streams.close()
            raise
        self.stats = LiveStats(sim_start=self.options.start, sim_end=self.options.start)

    # ----------------------------------------------------------------------------- clock
    def now(self) -> float:
        """Sim time: the start time until the run starts, then real time from there."""
        with self._clock_lock:
            clock = self._clock
        return self.options.start if clock is None else clock()

    @property
    def started(self) -> bool:
        return self._clock is not None

    def _start_clock(self) -> None:
        with self._clock_lock:
            self._clock = SimClock(rate=1.0, start=self.options.start)
            wall = time.time_ns()
            sim = self._clock()
        self.wall_zero_ns = wall - round(sim * 1e9)

    def wall_ns(self, t: float) -> int:
        """ROS (wall-clock) time in ns of sim time ``t``; the run must have started."""
        assert self.wall_zero_ns is not None, 'the run has not started'
        return self.wall_zero_ns + round(t * 1e9)

    # ----------------------------------------------------------------------------- run
    def links(self) -> dict[str, Path]:
        """hub id -> link path."""
        return {h: hub.link_path for h, hub in self.hubs.items()}

    def _stream(self, stop: threading.Event) -> Iterator[tuple[int, str, bytes]]:
        """The Player's input: an anchor, then the run's camera and entry messages.

        The sim clock and the feeder start right before the anchor is handed over, so the
        Player (which paces from its first message) and the feeder share one time line. The
        first window is rendered before that (the renderers' first frames are the slowest), so
        that frame 0 is not late.
        """
        messages = self.run.messages(window=0.1)
        first = next(messages, None)
        self._start_clock()
        self.feeder.start()
        self._write_info()
        zero = self.wall_ns(0.0)
        self.log(f'sim time runs: {self.scenario.name} t={self.options.start:g}..'
                 f'{self.run.end:g} s; t=0 is wall time {zero / 1e9:.3f}')
        yield self.wall_ns(self.options.start), _ANCHOR, b''
        for sim_ns, topic, data in itertools.chain([first] if first else [], messages):
            if stop.is_set():
                return
            ns = zero + (sim_ns - SIM_EPOCH_NS)
            yield ns, topic, data if topic.startswith(_STREAM) else restamp(data, ns)

    def play(self, node: Any, stop: threading.Event) -> LiveStats:
        """Run the scenario (blocking) until its end plus the tail, or until ``stop`` is set."""
        from smart_store.ros.player import Player  # noqa: PLC0415 - ROS only here

        topics = {t.name: (t.type, t.qos) for t in self.run.topics() if t.type in _LIVE_TYPES
                  and not (self.streams is not None and t.type != _LIVE_TYPES[2])}
        sinks = {}
        if self.streams is not None:
            streams = self.streams
            for cam in self.cfg.cameras:
                sinks[_STREAM + cam.id] = (
                    lambda ns, jpeg, cam_id=cam.id: streams.publish(cam_id, jpeg, ns))
        player = Player(node, topics, rate=1.0, clock=False, sinks=sinks)
        try:
            self._write_files()
            self._wait_for_graph(node, stop)
            if stop.wait(self.options.lead_in):
                return self.stats
            player_error: list[Exception] = []

            def play_messages() -> None:
                try:
                    player.play(self._stream(stop), keep_going=lambda: not stop.is_set())
                except Exception as err:  # noqa: BLE001 - re-raised by the main thread
                    player_error.append(err)
                    stop.set()

            player_thread = threading.Thread(target=play_messages, name='twin-player',
                                             daemon=True)
            player_thread.start()
            next_report = self.options.start + self.options.report_every
            end = self.run.end
            while not stop.wait(0.1):
                t = self.now()
                if t >= next_report:
                    self._update_stats(player)
                    self.log(f't={t:6.1f} s: {self.stats.frames} frames '
                             f'({self.stats.frames_dropped_lag} dropped to keep up), '
                             f'{self.stats.published} published ({self.stats.late} late), '
                             f'{self.stats.lines} hub lines')
                    next_report += self.options.report_every
                quiet = end + self.options.tail + self.options.drain
                if t >= quiet and not player_thread.is_alive():
                    self.stats.completed = True
                    break
            if self.stats.completed and self.options.hold:
                self._update_stats(player)
                self._write_files()
                (self.run_dir / 'done').write_text('done\n', encoding='utf-8')
                self.log('run complete; holding the links open until stopped')
                stop.wait()
            stop.set()
            player_thread.join(0.5)  # it may sleep until its next message's time: a daemon
            if player_error:
                raise player_error[0]
            if self.feeder.error is not None:
                raise self.feeder.error
        finally:
            self.feeder.stop()
            self._update_stats(player)
            if self.started:
                self._write_files()
        return self.stats

    def _wait_for_graph(self, node: Any, stop: threading.Event) -> None:
        """Until the ``wait_for`` nodes are in the ROS graph and the ``wait_links`` have a
        reader (or ``wait_timeout``): then no sample is written before a driver reads."""
        nodes, links = list(self.options.wait_for), list(self.options.wait_links)
        cams = list(self.streams.urls()) if self.streams is not None else []
        if not nodes and not links and not cams:
            return
        self.log(f'waiting for the graph before sim time starts: nodes {", ".join(nodes)}; '
                 f'readers on {", ".join(links) or "-"}; stream clients on '
                 f'{", ".join(cams) or "-"}')
        deadline = time.monotonic() + self.options.wait_timeout
        standby = self._standby_frames()
        while True:
            # Like a real camera, a stream is never silent: until the run starts it shows the
            # store as it is at the start (OpenCV's open blocks until a first frame comes).
            if self.streams is not None:
                for cam_id, jpeg in standby.items():
                    self.streams.publish(cam_id, jpeg)
            present = {name for name, _ns in node.get_node_names_and_namespaces()}
            missing = [n for n in nodes if n not in present]
            slaves = {h: self.hubs[h].slave_name for h in links if h in self.hubs}
            read = link_readers({p for p in slaves.values() if p})
            unread = [h for h, p in slaves.items() if read is not None and p not in read]
            unread += [h for h in links if h not in self.hubs]
            unwatched = [c for c in cams
                         if self.streams is not None and not self.streams.clients(c)]
            if (not missing and not unread and not unwatched) \
                    or time.monotonic() >= deadline or stop.wait(0.2):
                break
        self.stats.missing_nodes, self.stats.unread_links = missing, unread
        self.stats.unwatched_streams = unwatched
        if missing or unread or unwatched:
            self.log(f'WARNING: after {self.options.wait_timeout:g} s still missing: nodes '
                     f'{", ".join(missing) or "-"}, link readers {", ".join(unread) or "-"}, '
                     f'stream clients {", ".join(unwatched) or "-"}; starting anyway')

    def _standby_frames(self) -> dict[str, bytes]:
        """camera id -> JPEG of its view at the start time (the streams' frames until the run
        starts)."""
        if self.streams is None:
            return {}
        t = self.options.start
        people = self.run.world.people_at(t)
        return {r.camera.id: encode_jpeg(self.run.render_frame(r, t, people),
                                         self.options.jpeg_quality)
                for r in self.run.renderers}

    def _update_stats(self, player: Any) -> None:
        s = self.stats
        s.published, s.late = player.stats.published, player.stats.late
        # copies: the player thread adds cameras to these while rendering
        s.frames_dropped_lag = sum(dict(self.run.lag_dropped).values())
        s.frames = sum(dict(self.run.frame_counts).values()) - s.frames_dropped_lag
        s.lines = sum(h.stats.lines_queued for h in self.hubs.values())
        s.lines_dropped = sum(h.stats.lines_dropped for h in self.hubs.values())
        s.heartbeats = self.feeder.heartbeats
        if self.streams is not None:
            st = self.streams.stats()
            s.streamed = sum(v.published for v in st.values())
            s.stream_clients = {cam: v.connections for cam, v in st.items()}
        s.sim_end = min(self.now(), self.run.end) if self.started else s.sim_start

    def _write_files(self) -> None:
        """``truth/`` and ``live.json`` in the run directory."""
        self.run.write_truth(self.run_dir / 'truth')
        self._write_info()

    def _write_info(self) -> None:
        info = {
            'scenario': self.scenario.name,
            'seed': self.scenario.seed,
            'store_config': self.cfg.path,
            'time_base': 'wall clock: the ROS time of sim time t is wall_zero_ns + t * 1e9',
            'wall_zero_ns': self.wall_zero_ns,   # null until the run starts
            'start': self.options.start,
            'end': self.run.end,
            'images': self.options.images,
            'links': {h: str(p) for h, p in self.links().items()},
            'camera_streams': self.streams.urls() if self.streams is not None else {},
            # hub_ms of a line = (hub_ms_at_zero + floor(1000 t)) mod 2**32
            'hub_ms_at_zero': {h: self.feeder.hub_ms(h, 0.0) for h in self.hubs},
            'initial_lane_weights': self.run.world.lane_weights_at(0.0),
            'stats': self.stats.__dict__,
        }
        path = self.run_dir / 'live.json'
        tmp = path.with_name(f'.live.json.{threading.get_ident()}.tmp')
        tmp.write_text(json.dumps(info, indent=1, sort_keys=True, default=str),
                       encoding='utf-8')
        tmp.replace(path)  # readers never see half a file

    def close(self) -> None:
        """Stop the feeder, remove the hub links and end the camera streams."""
        self.feeder.close()
        if self.streams is not None:
            self.streams.close()


def open_links(cfg: StoreConfig, run_dir: Path) -> dict[str, PtyHub]:
    """A PtyHub (pseudo-terminal + link ``<run_dir>/ptys/<hub>``) for every hub of ``cfg``."""
    return open_hubs([h.id for h in cfg.hubs], pty_dir(run_dir.resolve()))


def link_readers(slaves: set[str]) -> set[str] | None:
    """Which of these ``/dev/pts/N`` another process has open (Linux ``/proc``; None where it
    cannot be told). The twin itself keeps every slave open, so its own process is skipped."""
    if not slaves:
        return set()
    proc = Path('/proc')
    if not (proc / 'self' / 'fd').is_dir():
        return None
    me = str(os.getpid())
    found: set[str] = set()
    for entry in os.scandir(proc):
        if not entry.name.isdigit() or entry.name == me:
            continue
        try:
            fds = os.scandir(f'/proc/{entry.name}/fd')
        except OSError:
            continue  # gone, or not ours to look at
        with fds:
            for fd in fds:
                try:
                    target = os.readlink(fd.path)
                except OSError:
                    continue
                if target in slaves:
                    found.add(target)
    return found


# ---------------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='python -m smart_store.twin.live',
        description='Play a twin scenario live on wall-clock time: hub links for the shelf '
                    'drivers, camera images and entry scans on ROS topics.')
    p.add_argument('scenario', help='library scenario name or scenario YAML file')
    p.add_argument('--config', default=None, help='store config (default: the scenario\'s)')
    p.add_argument('--run-dir', type=Path, default=Path('out/live'),
                   help='hub links (ptys/), truth/ and live.json go here (default: out/live)')
    p.add_argument('--no-images', action='store_true', help='no cameras (shelves and entries)')
    p.add_argument('--camera-streams', action='store_true',
                   help='serve each camera as an MJPEG stream http://HOST:PORT/<camera id> for '
                   'camera_driver, instead of publishing the images')
    p.add_argument('--stream-host', default='127.0.0.1', help='camera streams: address to serve on')
    p.add_argument('--stream-port', type=int, default=0,
                   help='camera streams: TCP port (default 0: any free port)')
    p.add_argument('--resolution', default=None, metavar='WxH', help='camera render size')
    p.add_argument('--fps', type=float, default=None, help='camera frame rate override')
    p.add_argument('--start', type=float, default=0.0, help='sim time to start at (s)')
    p.add_argument('--end', type=float, default=None, help='sim time to stop at (s)')
    p.add_argument('--wait-for', nargs='*', default=[], metavar='NODE',
                   help='node names that must be up before sim time starts')
    p.add_argument('--wait-links', nargs='*', default=[], metavar='HUB',
                   help='hub ids whose links must have a reader before sim time starts')
    p.add_argument('--wait-timeout', type=float, default=60.0)
    p.add_argument('--lead-in', type=float, default=0.5,
                   help='s between the graph being ready and sim time starting')
    p.add_argument('--tail', type=float, default=2.0, help='s the hubs send on after the end')
    p.add_argument('--hold', action='store_true',
                   help='after the run write <run-dir>/done and keep the links open until '
                   'stopped (so the graph can be stopped first)')
    p.add_argument('--link-fault', action='append', default=[], metavar='KIND:HUB:START[:N]',
                   help='unplug|stall:HUB:START:SECONDS or garbage:HUB:START:BYTES (repeatable)')
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from smart_store.cli.sim import with_render_overrides  # noqa: PLC0415
    from smart_store.config import ConfigError, load_store_config  # noqa: PLC0415
    from smart_store.twin.errors import ScenarioError  # noqa: PLC0415
    from smart_store.twin.scenario import load_scenario, scenario_store_config  # noqa: PLC0415

    hubs: dict[str, PtyHub] = {}
    try:
        if args.config:
            # The links first, before anything slow: the drivers start at the same time.
            hubs = open_links(load_store_config(args.config), args.run_dir)
        cfg = load_store_config(args.config) if args.config else None
        scenario = load_scenario(args.scenario, cfg)
        cfg = cfg or scenario_store_config(scenario)
        scenario = with_render_overrides(scenario, args.resolution, args.fps)
        faults = tuple(parse_link_fault(f) for f in args.link_fault)
    except (ScenarioError, ConfigError, ValueError) as err:
        for hub in hubs.values():
            hub.close()
        print(f'twin: {err}', file=sys.stderr)
        return 2
    options = LiveOptions(run_dir=args.run_dir, images=not args.no_images, start=args.start,
                          end=args.end, wait_for=tuple(args.wait_for),
                          wait_links=tuple(args.wait_links), wait_timeout=args.wait_timeout,
                          lead_in=args.lead_in, tail=args.tail, hold=args.hold,
                          link_faults=faults, camera_streams=args.camera_streams,
                          stream_host=args.stream_host, stream_port=args.stream_port)

    import rclpy  # noqa: PLC0415
    from rclpy.signals import SignalHandlerOptions  # noqa: PLC0415

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        del signum, frame
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node('smart_store_twin')
    twin: LiveTwin | None = None
    try:
        try:
            twin = LiveTwin(cfg, scenario, options, hubs=hubs or None)
        except StreamError as err:
            print(f'twin: {err}', file=sys.stderr)
            return 2
        for hub_id, link in twin.links().items():
            print(f'hub {hub_id}: {link} -> {twin.hubs[hub_id].slave_name}', flush=True)
        if twin.streams is not None:
            for cam_id, url in twin.streams.urls().items():
                print(f'camera {cam_id}: {url}', flush=True)
        stats = twin.play(node, stop)
    finally:
        if stop.is_set():
            time.sleep(options.close_delay)  # let the readers stop before their links vanish
        if twin is not None:
            twin.close()
        else:
            for hub in hubs.values():
                hub.close()
        node.destroy_node()
        rclpy.try_shutdown()
    print(f'{"done" if stats.completed else "stopped"} at t={stats.sim_end:.1f} s: '
          f'{stats.frames} camera frames ({stats.frames_dropped_lag} dropped to keep up), '
          f'{stats.published} messages published ({stats.late} late), {stats.lines} hub lines '
          f'({stats.lines_dropped} not taken), {stats.heartbeats} heartbeats', flush=True)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
