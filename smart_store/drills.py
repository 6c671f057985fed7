"""Reliability drills: the whole node graph on a recorded twin run, disturbed on purpose.

Pure orchestration over :class:`smart_store.pipeline.Pipeline`; the only ROS code here is an
injector (a process of its own, so that large messages never stall the player) that publishes
drill messages. Each drill records (or reuses) a short scenario under ``workdir/recordings``,
runs the graph on it under ``workdir/runs/<label>`` and checks what came out of the billing
database against an undisturbed reference run of the same recording (or against the twin's
truth), naming every check it made. Pipelines of drills use ROS domains 200-231, apart from
those of ``demo``/``bench`` (20-169).

``kill_nodes``
    ``kill -9`` each node of the pipeline graph (the supervisor's pid; respawn on) at a seeded
    random moment between the first entry and the last exit: one run per node (``each``) or all
    nodes in one run at staggered moments (``staggered``); kill runs play ``recovery`` s more so
    a node killed late can catch up. Checks: every kill happened, every killed node was
    respawned and runs at the end; exactly one receipt row per session and no receipt published
    twice; the receipts' session ids and tokens equal the reference's; each receipt's items and
    total equal the reference's, or it went to review (``needs_review``, or a review item for
    its session recording a cart change that arrived after the receipt).
``kill_camera``
    The library scenario ``camera_dropout`` (cam_fl dead 8-22 s, cam_br dropping 30 % of its
    frames from 12 s). With the learned tracker only when asked for explicitly and the pose
    weights exist; otherwise with ground-truth tracks, which checks only that the rest of the
    graph runs on a recording with a dead camera (perception is not exercised: the result says
    so). Checks: no restart, no gap over ``OUTAGE_MAX_GAP_S`` in /tracking/tracks during the
    dead interval, the people inside covered by tracks during it (motmetrics recall >=
    ``OUTAGE_RECALL``), every visit billed exactly once; with ground-truth tracks also a
    receipt per visit and every receipt exact or sent to review. With the learned tracker the
    receipts' accuracy is reported, not checked: it is the perception's accuracy (issue 6),
    camera or no camera.
``stall_hub``
    The load-cell hub of the lane of the scenario's first pick stops: its ``/shelves/weights``
    and ``/shelves/load_cells/raw`` messages are left out of the replay from 1 s before the pick
    to 1.5 s after it, and LaneWeightArray messages with ``stale: true`` and NaN grams are
    published for its lanes in their place, every 0.25 s after 0.5 s, as the driver does for a
    quiet hub (the driver's staleness is not in a bag replay). Checks: the pick's lane got a
    ``stale_sensor`` review or its receipt went to review; a receipt that differs from the
    reference went to review (no silent wrong charge); the other receipts are unchanged.
``malformed``
    While the graph runs, three volleys of malformed messages are published onto every input
    topic of its nodes but the entry scans (:class:`MalformedPlan`). Checks: no node restarted or
    changed pid, no traceback in the node log, the receipts' items and totals equal the
    reference's (a changed review flag is noted).
``long_run`` (benchmark, not in CI)
    A generated scenario with many shoppers; each node's resident memory is sampled every 10 s
    and its growth (least-squares slope, MB/min) checked, and queues are checked through the
    lag of /tracking/tracks (arrival in sim time minus header stamp; its median in the last
    quarter of the run may exceed the first quarter's by ``LAG_GROWTH_S``); with ground-truth
    tracks a receipt per visit, with the learned tracker one receipt row per session and the
    receipt score reported.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import random
import signal
import sqlite3
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smart_store.config import StoreConfig

__all__ = [
    'DEFAULT_KINDS',
    'KINDS',
    'Check',
    'DrillConfig',
    'DrillResult',
    'Drills',
    'ReceiptRow',
    'ci_config',
    'compare_receipts',
    'read_receipts',
    'read_reviews',
    'run_drills',
]

KINDS = ('kill_nodes', 'kill_camera', 'stall_hub', 'malformed', 'long_run')
DEFAULT_KINDS = ('kill_nodes', 'kill_camera', 'stall_hub', 'malformed')
KILL_MODES = ('each', 'staggered')

STALE_SENSOR = 5  # msg/ReviewItem.msg KIND_STALE_SENSOR
# kill_camera: share of the true person-frames a track must cover while the camera is dead
# (the learned tracker covered 0.988 on camera_dropout, 160x120 at 5 fps, this machine)
OUTAGE_RECALL = 0.9
# kill_camera: the largest gap allowed between /tracking/tracks stamps while the camera is dead.
# A dead camera that stopped the tracker leaves the whole outage (14 s) as a gap; the gaps of a
# working tracker come from the CPU: the learned pose on a 2-core machine sharing it with the
# graph and the player skips frame sets (0.8 s with every camera up on this machine, 1.2 s in
# the outage on the CI runner). 2 s stays well under the tracker's max_coast (5 s), so no
# track is lost over such a gap.
OUTAGE_MAX_GAP_S = 2.0
# long_run: how much the tracks' median lag may grow from the first to the last quarter (s)
LAG_GROWTH_S = 0.5
WEIGHTS_TOPIC = '/shelves/weights'
RAW_TOPIC = '/shelves/load_cells/raw'


# ------------------------------------------------------------------------------ results
@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ''


@dataclass
class DrillResult:
    kind: str
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0
    error: str = ''

    @property
    def ok(self) -> bool:
        return not self.error and bool(self.checks) and all(c.ok for c in self.checks)

    def check(self, name: str, ok: bool, detail: str = '') -> bool:
        self.checks.append(Check(name, bool(ok), detail))
        return bool(ok)

    def as_dict(self) -> dict[str, Any]:
        return {'kind': self.kind, 'ok': self.ok, 'wall_s': round(self.wall_s, 1),
                'error': self.error, 'figures': self.figures, 'notes': self.notes,
                'checks': [{'name': c.name, 'ok': c.ok, 'detail': c.detail}
                           for c in self.checks]}


@dataclass(frozen=True)
class ReceiptRow:
    """One issued receipt as the billing database holds it."""

    session_id: str
    token: str
    lines: tuple[tuple[str, int], ...]
    total: int
    needs_review: bool

    def describe(self) -> str:
        items = ', '.join(f'{q}x {s}' for s, q in self.lines) or 'nothing'
        return f'{items} = {self.total}' + (' (review)' if self.needs_review else '')


def read_receipts(db: Path) -> tuple[dict[str, ReceiptRow], int]:
    """(receipts by session id, number of receipt rows) of a billing database."""
    if not Path(db).is_file():
        return {}, 0
    conn = sqlite3.connect(f'file:{db}?mode=ro', uri=True)
    try:
        rows = conn.execute('SELECT receipt_id, session_id, account_token, total, needs_review '
                            'FROM receipts ORDER BY session_id').fetchall()
        out: dict[str, ReceiptRow] = {}
        for receipt_id, session_id, token, total, review in rows:
            lines: Counter[str] = Counter()
            for sku, qty in conn.execute('SELECT sku, quantity FROM receipt_lines '
                                         'WHERE receipt_id = ?', (receipt_id,)):
                lines[sku] += int(qty)
            out[session_id] = ReceiptRow(session_id, token or '',
                                         tuple(sorted((k, v) for k, v in lines.items() if v)),
                                         int(total), bool(review))
        return out, len(rows)
    finally:
        conn.close()


def read_reviews(db: Path) -> list[dict[str, Any]]:
    """Every review item of a billing database (kind, session, lane, detail)."""
    if not Path(db).is_file():
        return []
    conn = sqlite3.connect(f'file:{db}?mode=ro', uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(
            'SELECT review_id, kind, session_id, shelf_id, lane_id, sku, detail, stamp '
            'FROM review_items ORDER BY stamp, review_id')]
    finally:
        conn.close()


def compare_receipts(result: DrillResult, reference: dict[str, ReceiptRow],
                     got: dict[str, ReceiptRow], rows: int, published: Counter[str], *,
                     strict: bool = False, label: str = '',
                     reviews: Sequence[dict[str, Any]] = ()) -> list[str]:
    """Add the receipt checks to ``result``; returns the sessions whose receipt differs.

    ``strict``: the items and totals must equal the reference's (a differing review flag is
    noted); otherwise a receipt may differ if it went to review - the receipt itself
    (``needs_review``), or a review item raised for its session after it was issued (a cart
    change that came too late): data the drill destroyed cannot be billed exactly, but it must
    not be billed silently wrong."""
    tag = f' [{label}]' if label else ''
    doubled = sorted(s for s, n in published.items() if n > 1)
    result.check(f'one receipt per session{tag}', rows == len(got) and not doubled,
                 f'{rows} receipt rows for {len(got)} sessions; published twice: '
                 f'{doubled or "none"}')
    ref_keys = {(s, r.token) for s, r in reference.items()}
    got_keys = {(s, r.token) for s, r in got.items()}
    lost, extra = sorted(ref_keys - got_keys), sorted(got_keys - ref_keys)
    result.check(f'same sessions billed as the reference{tag}', not lost and not extra,
                 f'{len(got_keys)} receipts; lost {lost or "none"}, extra {extra or "none"}')
    differing: list[str] = []
    bad: list[str] = []
    late = {r['session_id'] for r in reviews if str(r['review_id']).startswith('rv-late-')}
    tag_note = f'{label}: ' if label else ''
    for sid in sorted(set(reference) & set(got)):
        ref, cur = reference[sid], got[sid]
        if (ref.lines, ref.total) == (cur.lines, cur.total):
            if ref.needs_review != cur.needs_review:
                result.notes.append(f'{tag_note}{sid}: same items; review flag '
                                    f'{ref.needs_review} in the reference, {cur.needs_review} '
                                    'here')
            continue
        differing.append(sid)
        text = f'{sid}: reference {ref.describe()}, got {cur.describe()}'
        if not strict and cur.needs_review:
            result.notes.append(f'{tag_note}{text} (went to review)')
        elif not strict and sid in late:
            result.notes.append(f'{tag_note}{text} (a late cart change went to review)')
        else:
            bad.append(text)
    what = ('receipts equal the reference (items and totals)' if strict
            else 'receipts equal the reference or went to review')
    result.check(what + tag, not bad, '; '.join(bad) or
                 f'{len(set(reference) & set(got)) - len(differing)} equal, '
                 f'{len(differing)} differ and went to review')
    return differing


# ------------------------------------------------------------------------------ config
@dataclass
class DrillConfig:
    scenario: str = 'single_shopper'
    workdir: Path = Path('out/drills')
    seed: int = 0
    ablation: str | None = 'truth_tracks'
    rate: float = 1.0                  # playback speed (sim s per wall s)
    tail: float = 24.0                 # s of sim time played after the bag (at 4x): a lost
                                       # track's session is billed (pipeline.END_TAIL_S)
    recovery: float = 8.0              # kill runs: s more, so a node killed late can catch up
    recovery_wall: float = 15.0        # kill runs: and the clock goes on until every killed
                                       # node has been back this many wall s (start-up costs
                                       # wall time, and a loaded machine takes longer)
    end: float | None = None           # record only this much of the scenario (s of sim time)
    resolution: str = '160x120'
    fps: float = 5.0
    kill_mode: str = 'each'            # kill_nodes: 'each' node in its own run, or 'staggered'
    kill_nodes: tuple[str, ...] = ()   # kill_nodes: which nodes (empty = the whole graph)
    kills_per_node: int = 1            # kill_nodes: how often each node is killed in its run
    learned_camera: bool = False       # kill_camera with the learned tracker (needs weights)
    reuse_reference: bool = False      # reuse a finished reference run found in the workdir
    long_shoppers: int = 20
    long_duration: float = 180.0
    long_rate: float = 1.0
    rss_period: float = 10.0           # s between memory samples (long_run)
    rss_slope_limit: float = 5.0       # MB/min a node may grow in long_run
    log: Callable[[str], None] = print


def ci_config(workdir: Path, **overrides: Any) -> DrillConfig:
    """The cheap settings of the test suite: single_shopper cut after its exit (26 s of sim
    time), 160x120 at 5 fps, ground-truth tracks, real time (the playback rate at which the
    graph keeps up on a busy 2-core machine), one reference run shared by every test of a
    session (``reuse_reference``). The 16 s tail (4 s of wall time at 4x) gives a node killed
    near the end (the last staggered kill falls ~3.5 s before the bag ends, the shopper's exit
    in between) time to respawn and catch up: with a 4 s tail, a billing node that took longer
    than ~4.5 s to come back on a loaded machine had no frame set left to see the exit in."""
    settings: dict[str, Any] = {'scenario': 'single_shopper', 'workdir': Path(workdir),
                                'end': 26.0, 'tail': 16.0, 'rate': 1.0, 'resolution': '160x120',
                                'fps': 5.0, 'ablation': 'truth_tracks', 'reuse_reference': True}
    settings.update(overrides)
    return DrillConfig(**settings)


@dataclass
class RunOutcome:
    label: str
    run_dir: Path
    result: Any                       # PipelineResult
    receipts: dict[str, ReceiptRow]
    rows: int
    published: Counter[str]
    reviews: list[dict[str, Any]]
    pids_start: dict[str, int | None]
    pids_end: dict[str, int | None]
    status_end: dict[str, str]
    actions: list[str]
    start_ns: int

    @property
    def db(self) -> Path:
        return self.run_dir / 'results' / 'store.db'

    def tracebacks(self) -> list[str]:
        log = self.run_dir / 'results' / 'nodes.log'
        if not log.is_file():
            return []
        return [line for line in log.read_text(encoding='utf-8', errors='replace').splitlines()
                if 'Traceback (most recent call last)' in line]


# ------------------------------------------------------------------------------ injection
class Injector:
    """Publishes drill messages from a process of its own, as a misbehaving node would.

    In its own process so that neither the serialisation nor the transport of a large message
    holds the player's interpreter (a stalled player bursts and overflows the nodes' queues:
    the drill would then measure its own side effects). Topics are ``{topic: (ROS type name,
    QoS role)}``; ``stored`` payloads (CDR bytes, e.g. 6 MB arrays) are handed over once at
    start. Before anything is published the child waits until each topic has a subscriber other
    than itself and then ``match_grace`` seconds (the first messages of a fresh reliable writer
    are lost while the reader's side of the match is made). Items are published in order.
    """

    def __init__(self, topics: dict[str, tuple[str, str]], watch: Iterable[str] = (),
                 stored: dict[str, bytes] | None = None, match_timeout: float = 30.0,
                 match_grace: float = 1.0) -> None:
        self.topics = dict(topics)
        self.watch = tuple(watch)
        self.stored = dict(stored or {})
        self.match_timeout, self.match_grace = match_timeout, match_grace
        self._conn: Any = None
        self._proc: Any = None
        self.sent: Counter[str] = Counter()
        self.unmatched: Counter[str] = Counter()
        self.errors: list[str] = []

    @property
    def started(self) -> bool:
        return self._proc is not None

    def start(self, domain_id: int) -> None:
        import socket  # noqa: PLC0415
        import subprocess  # noqa: PLC0415
        import sys  # noqa: PLC0415
        from multiprocessing.connection import Connection  # noqa: PLC0415

        ours, theirs = socket.socketpair()
        self._proc = subprocess.Popen(
            [sys.executable, '-m', 'smart_store.drills', '--injector-fd', str(theirs.fileno())],
            pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        theirs.close()
        self._conn = Connection(ours.detach())
        self._send({'topics': self.topics, 'watch': self.watch, 'stored': self.stored,
                    'domain_id': int(domain_id), 'match_timeout': self.match_timeout,
                    'match_grace': self.match_grace})

    def put(self, topic: str, message: Any) -> None:
        """Publish a message (or its CDR bytes) as soon as the child gets to it."""
        from rclpy.serialization import serialize_message  # noqa: PLC0415

        data = message if isinstance(message, bytes) else serialize_message(message)
        self._send(('cdr', topic, data))

    def put_stored(self, topic: str, key: str, stamp_ns: int | None = None) -> None:
        """Publish a stored payload with its header stamp set to ``stamp_ns`` (None: the newest
        stamp seen on ``topic``, which the child watches)."""
        self._send(('stored', topic, key, stamp_ns))

    def _send(self, item: Any) -> None:
        if self._conn is None:
            raise RuntimeError('injector not started')
        try:
            self._conn.send(item)
        except (OSError, EOFError) as err:
            self.errors.append(f'injector gone: {err}')

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until everything sent so far was published."""
        if self._conn is None:
            return True
        self._send(('ping',))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self._conn.poll(0.1):
                    reply = self._conn.recv()
                    if reply[0] == 'pong':
                        return True
            except (OSError, EOFError):
                return False
        self.errors.append(f'injector did not drain within {timeout:g} s')
        return False

    def close(self) -> None:
        import subprocess  # noqa: PLC0415

        if self._conn is None:
            return
        self._send(None)
        deadline = time.monotonic() + 15.0
        try:
            while time.monotonic() < deadline:
                if self._conn.poll(0.1):
                    reply = self._conn.recv()
                    if reply[0] == 'stats':
                        self.sent.update(reply[1])
                        self.unmatched.update(reply[2])
                        self.errors += reply[3]
                        break
        except (OSError, EOFError) as err:
            self.errors.append(f'injector gone: {err}')
        try:
            self._proc.wait(timeout=10.0)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5.0)
        self._conn.close()
        self._conn = None


def _injector_main(conn: Any) -> None:
    """The injector process (see :class:`Injector`); its settings are the first item."""
    settings: dict[str, Any] = conn.recv()
    topics: dict[str, tuple[str, str]] = settings['topics']
    watch: tuple[str, ...] = settings['watch']
    stored: dict[str, bytes] = settings['stored']
    domain_id, match_timeout = settings['domain_id'], settings['match_timeout']
    match_grace = settings['match_grace']
    os.environ['ROS_DOMAIN_ID'] = str(domain_id)
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    import rclpy  # noqa: PLC0415
    from rclpy.executors import SingleThreadedExecutor  # noqa: PLC0415

    from smart_store.ros.player import ros_msg_class  # noqa: PLC0415
    from smart_store.ros.qos import profile  # noqa: PLC0415

    sent: Counter[str] = Counter()
    unmatched: Counter[str] = Counter()
    errors: list[str] = []
    newest: dict[str, int] = {}
    rclpy.init()
    node = rclpy.create_node('smart_store_drill_injector')
    executor = SingleThreadedExecutor()
    executor.add_node(node)

    def seen(topic: str, data: bytes) -> None:
        if len(data) >= 12:
            sec, nsec = struct.unpack_from('<iI', data, 4)
            newest[topic] = max(newest.get(topic, -1), sec * 1_000_000_000 + nsec)

    try:
        pubs = {t: node.create_publisher(ros_msg_class(typ), t, profile(role))
                for t, (typ, role) in topics.items()}
        for t in watch:
            typ, role = topics[t]
            node.create_subscription(ros_msg_class(typ), t, lambda d, t=t: seen(t, d),
                                     profile(role), raw=True)
        deadline = time.monotonic() + match_timeout
        for t, pub in pubs.items():
            own = 1 if t in watch else 0
            while pub.get_subscription_count() <= own and time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.05)
            if pub.get_subscription_count() <= own:
                unmatched[t] += 1
        until = time.monotonic() + match_grace
        while time.monotonic() < until:
            executor.spin_once(timeout_sec=0.05)
        while True:
            if not conn.poll(0.01):
                executor.spin_once(timeout_sec=0.0)
                continue
            item = conn.recv()
            if item is None:
                break
            executor.spin_once(timeout_sec=0.0)
            if item[0] == 'ping':
                conn.send(('pong',))
                continue
            try:
                if item[0] == 'cdr':
                    _, topic, data = item
                else:
                    _, topic, key, stamp = item
                    stamp = newest.get(topic) if stamp is None else stamp
                    if stamp is None:
                        errors.append(f'{topic}: no stamp seen yet for {key}')
                        continue
                    data = set_stamp(stored[key], stamp)
                pubs[topic].publish(data)
                sent[topic] += 1
            except Exception as err:  # noqa: BLE001 - reported to the drill
                errors.append(f'{item[1]}: {type(err).__name__}: {err}')
    except Exception as err:  # noqa: BLE001 - reported to the drill
        errors.append(f'{type(err).__name__}: {err}')
    finally:
        with contextlib.suppress(Exception):
            conn.send(('stats', dict(sent), dict(unmatched), errors))
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()


def set_stamp(cdr: bytes, stamp_ns: int) -> bytes:
    """CDR bytes of a message whose first field is a std_msgs/Header, with the stamp replaced
    (little-endian CDR: 4 bytes of encapsulation, then stamp.sec and stamp.nanosec)."""
    if cdr[:2] != b'\x00\x01':
        raise ValueError('not little-endian CDR')
    out = bytearray(cdr)
    sec, nsec = divmod(max(0, int(stamp_ns)), 1_000_000_000)
    struct.pack_into('<iI', out, 4, sec, nsec)
    return bytes(out)


def _to_time(stamp_ns: int) -> Any:
    from builtin_interfaces.msg import Time  # noqa: PLC0415

    sec, nsec = divmod(max(0, int(stamp_ns)), 1_000_000_000)
    return Time(sec=int(sec), nanosec=int(nsec))


# ------------------------------------------------------------------------------ memory
def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f'/proc/{pid}/status').read_text().splitlines():
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        return None
    return None


class RssSampler(threading.Thread):
    """Resident memory of every node of a running pipeline, every ``period`` s of wall time."""

    def __init__(self, pipeline: Any, period: float) -> None:
        super().__init__(daemon=True, name='drill-rss')
        self.pipeline, self.period = pipeline, period
        self.samples: dict[str, list[tuple[float, float, int]]] = {
            s.name: [] for s in pipeline.graph}
        self._stop_event = threading.Event()
        self._t0 = time.monotonic()

    def sample(self) -> None:
        now = time.monotonic() - self._t0
        for name in self.samples:
            pid = self.pipeline.supervisor.pid(name)
            rss = None if pid is None else _rss_mb(pid)
            if rss is not None and pid is not None:
                self.samples[name].append((now, rss, pid))

    def run(self) -> None:
        self.sample()
        while not self._stop_event.wait(self.period):
            self.sample()

    def stop(self) -> None:
        self._stop_event.set()
        self.sample()


def slope_mb_per_min(samples: Sequence[tuple[float, float, int]], skip_s: float = 0.0
                     ) -> float:
    """Least-squares slope of RSS over time (MB/min) of one pid's samples after ``skip_s``."""
    if not samples:
        return math.nan
    last_pid = samples[-1][2]
    pts = [(t, r) for t, r, pid in samples if pid == last_pid and t >= skip_s]
    if len(pts) < 3:
        return math.nan
    n = len(pts)
    mt = sum(t for t, _ in pts) / n
    mr = sum(r for _, r in pts) / n
    var = sum((t - mt) ** 2 for t, _ in pts)
    if var <= 0:
        return math.nan
    return 60.0 * sum((t - mt) * (r - mr) for t, r in pts) / var


def lag_growth(samples: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Median lag (s) of the first and the last quarter of ``(sim_s, lag_s)`` samples.

    A queue that grows anywhere upstream of a topic shows as a lag (receipt time minus header
    stamp) that grows over the run; a graph that keeps up has the same lag at the end as at
    the start."""
    import statistics  # noqa: PLC0415

    ordered = sorted(samples)
    if len(ordered) < 8:
        return math.nan, math.nan
    q = len(ordered) // 4
    return (statistics.median(lag for _, lag in ordered[:q]),
            statistics.median(lag for _, lag in ordered[-q:]))


def output_lags(outputs_bag: Path, topic: str, start_ns: int) -> list[tuple[float, float]]:
    """``(sim_s of the header stamp, lag_s)`` of every recorded ``topic`` message: the
    pipeline recorder writes each message at its sim-time arrival."""
    from rclpy.serialization import deserialize_message  # noqa: PLC0415

    from smart_store.ros.player import ros_msg_class  # noqa: PLC0415
    from smart_store.twin.bag import read_bag  # noqa: PLC0415

    lags = []
    for m in read_bag(outputs_bag, [topic]):
        head = deserialize_message(m.data, ros_msg_class(m.type)).header.stamp
        stamp = head.sec * 1_000_000_000 + head.nanosec
        lags.append(((stamp - start_ns) / 1e9, (m.stamp_ns - stamp) / 1e9))
    return lags


# ------------------------------------------------------------------------------ the drills
class Drills:
    """Runs drills on recordings kept in ``config.workdir`` (see the module docstring)."""

    def __init__(self, config: DrillConfig) -> None:
        if config.kill_mode not in KILL_MODES:
            raise ValueError(f'kill_mode must be one of {KILL_MODES}, got {config.kill_mode!r}')
        if config.ablation not in (None, 'truth_tracks'):
            raise ValueError(f'unknown ablation {config.ablation!r}')
        if config.rate <= 0:
            raise ValueError('rate must be positive')
        self.c = config
        self.workdir = Path(config.workdir)
        self._references: dict[tuple[str, str | None], RunOutcome] = {}
        # 200-231: apart from the pipelines of demo/bench (20-169) running beside a drill
        self.domain_id = 200 + os.getpid() % 32
        self._runs = 0

    def log(self, text: str) -> None:
        self.c.log(text)

    # -------------------------------------------------------------------- recordings, runs
    def recording(self, scenario: str | None = None, *, generated: dict[str, Any] | None = None
                  ) -> tuple[StoreConfig, Path]:
        """The store config and the run directory of a recording (made once, then reused)."""
        from smart_store.cli.sim import with_render_overrides  # noqa: PLC0415
        from smart_store.config import load_store_config  # noqa: PLC0415
        from smart_store.resources import default_store_config  # noqa: PLC0415
        from smart_store.twin.record import RunOptions, TwinRun, record_run  # noqa: PLC0415
        from smart_store.twin.scenario import load_scenario  # noqa: PLC0415

        if generated is not None:
            from smart_store.twin.generator import generate_scenario  # noqa: PLC0415

            cfg = load_store_config(default_store_config())
            name = (f'generated-s{generated["seed"]}-n{generated["shoppers"]}-'
                    f'd{generated["duration"]:g}')
            scen = generate_scenario(cfg, int(generated['seed']),
                                     shoppers=int(generated['shoppers']),
                                     duration=float(generated['duration']), name=name)
        else:
            name = scenario or self.c.scenario
            scen = load_scenario(name)
            cfg = load_store_config(scen.store_config or default_store_config())
            name = scen.name
        scen = with_render_overrides(scen, self.c.resolution, self.c.fps)
        end = self.c.end if generated is None and scenario in (None, self.c.scenario) else None
        cut = f'-{end:g}s' if end is not None else ''
        run_dir = (self.workdir / 'recordings' /
                   f'{name}-{self.c.resolution}-{self.c.fps:g}fps{cut}')
        done = run_dir / 'truth' / 'truth.json'
        if (run_dir / 'bag' / 'metadata.yaml').is_file() and done.is_file():
            return cfg, run_dir
        self.log(f'[drill] recording {name} at {self.c.resolution}, {self.c.fps:g} fps '
                 f'-> {run_dir}')
        t0 = time.monotonic()
        record_run(TwinRun(cfg, scen, RunOptions(end=end)), run_dir, overwrite=True)
        self.log(f'[drill] recorded {name} in {time.monotonic() - t0:.1f} s')
        return cfg, run_dir

    def _run_dir(self, label: str, recording: Path) -> Path:
        run_dir = self.workdir / 'runs' / label
        run_dir.mkdir(parents=True, exist_ok=True)
        for part in ('bag', 'truth'):
            link = run_dir / part
            target = (recording / part).resolve()
            if link.is_symlink() and link.resolve() == target:
                continue
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(target)
        return run_dir

    def run(self, label: str, cfg: StoreConfig, recording: Path, *,
            ablation: str | object | None = ...,
            during: Callable[[float, Any], None] | None = None,
            topic_filter: Callable[[int, str, bytes], bool] | None = None,
            rate: float | None = None, tail: float | None = None,
            on_start: Callable[[Any], None] | None = None,
            on_end: Callable[[Any], None] | None = None,
            actions: list[str] | None = None,
            hold_tail: Callable[[Any], bool] | None = None) -> RunOutcome:
        """One pipeline run of ``recording`` under ``<workdir>/runs/<label>``."""
        from smart_store.pipeline import Pipeline  # noqa: PLC0415
        from smart_store.twin.bag import bag_time_range  # noqa: PLC0415

        abl = self.c.ablation if ablation is ... else ablation
        run_dir = self._run_dir(label, recording)
        start_ns, _ = bag_time_range(run_dir / 'bag')
        # A fresh domain for every run: a kill run leaves the shared-memory state of the
        # participants it killed with -9 behind, and a store_layout started in that domain
        # by the next run was seen to die of SIGSEGV during discovery.
        domain = 200 + (self.domain_id - 200 + self._runs) % 32
        self._runs += 1
        pipeline = Pipeline(cfg, run_dir, ablation=abl,  # type: ignore[arg-type]
                            domain_id=domain)
        published: Counter[str] = Counter()
        speed = rate or self.c.rate
        self.log(f'[drill] run {label}: {len(pipeline.graph)} nodes'
                 f'{" [ABLATION: ground-truth tracks]" if abl else ""}, rate {speed:g}x')
        t0 = time.monotonic()
        pipeline.start()
        try:
            assert pipeline.supervisor is not None
            if on_start is not None:
                on_start(pipeline)
            pids_start: dict[str, int | None] = {}

            def first(sim: float, p: Any) -> None:
                if not pids_start:
                    pids_start.update({s.name: p.supervisor.pid(s.name) for s in p.graph})
                if during is not None:
                    during(sim, p)

            result = pipeline.play(rate=speed, tail=self.c.tail if tail is None else tail,
                                   tail_rate=4.0 * speed, during=first,
                                   topic_filter=topic_filter,
                                   on_receipt=lambda m: published.update([m.session_id]),
                                   hold_tail=(None if hold_tail is None
                                              else lambda: hold_tail(pipeline)))
            pids_end = {s.name: pipeline.supervisor.pid(s.name) for s in pipeline.graph}
            status_end = pipeline.supervisor.status()
            if on_end is not None:
                on_end(pipeline)
        finally:
            pipeline.stop()
        receipts, rows = read_receipts(run_dir / 'results' / 'store.db')
        outcome = RunOutcome(label, run_dir, result, receipts, rows, published,
                             read_reviews(run_dir / 'results' / 'store.db'), pids_start,
                             pids_end, status_end, list(actions or []), start_ns)
        restarts = sum(result.restarts.values())
        held = (f', clock held {result.tail_held_s:.1f} s more for respawned nodes'
                if result.tail_held_s else '')
        self.log(f'[drill] run {label}: {len(receipts)} receipt(s), {restarts} restart(s), '
                 f'{result.late_messages} late message(s), {time.monotonic() - t0:.0f} s wall'
                 f'{held}')
        return outcome

    def reference(self, cfg: StoreConfig, recording: Path, ablation: str | object | None = ...
                  ) -> RunOutcome:
        """The undisturbed run of a recording (once per drill session)."""
        abl = self.c.ablation if ablation is ... else ablation
        key = (str(recording), abl)  # type: ignore[assignment]
        if key in self._references:
            return self._references[key]
        label = f'{recording.name}-{abl or "learned"}-reference'
        marker = self.workdir / 'runs' / label / 'reference.json'
        db = self.workdir / 'runs' / label / 'results' / 'store.db'
        if self.c.reuse_reference and marker.is_file() and db.is_file():
            receipts, rows = read_receipts(db)
            info = json.loads(marker.read_text(encoding='utf-8'))
            from smart_store.pipeline import PipelineResult  # noqa: PLC0415

            result = PipelineResult(db.parent.parent, info['wall_s'], info['sim_s'], [],
                                    info['restarts'], late_messages=info['late'])
            outcome = RunOutcome(label, db.parent.parent, result, receipts, rows,
                                 Counter(info['published']), read_reviews(db), {}, {}, {}, [],
                                 int(info['start_ns']))
            self.log(f'[drill] reusing the reference run {label}')
        else:
            marker.unlink(missing_ok=True)
            outcome = self.run(label, cfg, recording, ablation=abl)
            marker.write_text(json.dumps({
                'wall_s': outcome.result.wall_s, 'sim_s': outcome.result.sim_s,
                'restarts': outcome.result.restarts, 'late': outcome.result.late_messages,
                'published': dict(outcome.published), 'start_ns': outcome.start_ns}),
                encoding='utf-8')
        self._references[key] = outcome
        return outcome

    def _reference_checks(self, result: DrillResult, ref: RunOutcome, recording: Path) -> bool:
        """The reference must itself be sound, or no comparison with it means anything."""
        from smart_store.evaluation.receipts import match, score  # noqa: PLC0415
        from smart_store.evaluation.runs import load_run  # noqa: PLC0415

        data = load_run(ref.run_dir)
        s = score(match(data.visits, data.billed))
        result.figures['reference'] = {
            'receipts': len(ref.receipts), 'visits': s.visits, 'exact': s.exact,
            'reviewed': s.reviewed, 'restarts': sum(ref.result.restarts.values()),
            'late_messages': ref.result.late_messages, 'wall_s': round(ref.result.wall_s, 1)}
        return result.check(
            'reference run: a receipt per visit, no restart',
            s.unmatched_visits == 0 and s.receipts == s.visits and ref.receipts
            and not sum(ref.result.restarts.values()),
            f'{s.receipts} receipts for {s.visits} visits ({s.exact} exact, {s.reviewed} to '
            f'review) of {recording.name}')

    # -------------------------------------------------------------------- kill_nodes
    def kill_window(self, recording: Path) -> tuple[float, float]:
        """Sim seconds (from the bag start) in which kills land: while shoppers are inside."""
        from smart_store.evaluation.runs import load_truth  # noqa: PLC0415

        truth = load_truth(recording)
        entries = [float(e['t']) for e in truth.get('entries', [])] or [0.0]
        exits = [float(r['exit_time']) for r in truth.get('receipts', [])] or \
            [float(truth.get('duration', 10.0))]
        lo, hi = min(entries) + 0.5, max(exits)
        if hi - lo < 1.0:
            hi = lo + 1.0
        return lo, hi

    def kill_nodes(self) -> DrillResult:
        res = DrillResult('kill_nodes')
        cfg, recording = self.recording()
        ref = self.reference(cfg, recording)
        if not self._reference_checks(res, ref, recording):
            return res
        from smart_store.pipeline import pipeline_graph  # noqa: PLC0415

        names = [s.name for s in pipeline_graph(cfg, self.c.ablation)]
        if self.c.kill_nodes:
            unknown = sorted(set(self.c.kill_nodes) - set(names))
            if unknown:
                raise ValueError(f'unknown nodes {unknown}; the graph has {names}')
            names = [n for n in names if n in self.c.kill_nodes]
        rng = random.Random(self.c.seed)
        lo, hi = self.kill_window(recording)
        res.figures['kill_window_s'] = [round(lo, 2), round(hi, 2)]
        res.figures['mode'] = self.c.kill_mode
        plans: list[tuple[str, list[tuple[float, str]]]]
        k = max(1, self.c.kills_per_node)
        if self.c.kill_mode == 'each':
            plans = [(f'kill-{n}-s{self.c.seed}', sorted((rng.uniform(lo, hi), n)
                                                         for _ in range(k))) for n in names]
        else:
            order = [n for n in names for _ in range(k)]
            rng.shuffle(order)
            plans = [(f'kill-staggered-s{self.c.seed}',
                      sorted((rng.uniform(lo, hi), n) for n in order))]
        kills: list[dict[str, Any]] = []
        res.figures['receipts'] = {'reference': {s: r.describe()
                                                 for s, r in ref.receipts.items()}}
        res.figures['differing'] = {}
        for label, schedule in plans:
            out, done = self._kill_run(label, cfg, recording, schedule)
            kills += done
            res.check(f'killed as planned [{label}]', len(done) == len(schedule),
                      ', '.join(f'{d["node"]} at {d["sim_s"]:.2f} s (pid {d["pid"]})'
                                for d in done)
                      + (f'; {len(schedule) - len(done)} not done' if len(done) < len(schedule)
                         else ''))
            killed = Counter(d['node'] for d in done)
            not_back = [n for n, c in killed.items() if out.result.restarts.get(n, 0) < c
                        or out.status_end.get(n) != 'running']
            res.check(f'killed nodes respawned and running [{label}]', not not_back,
                      f'restarts {dict(out.result.restarts)}; not back: {not_back or "none"}')
            res.figures['receipts'][label] = {s: r.describe() for s, r in out.receipts.items()}
            res.figures['differing'][label] = compare_receipts(
                res, ref.receipts, out.receipts, out.rows, out.published, label=label,
                reviews=out.reviews)
        res.figures['kills'] = kills
        return res

    def _kill_run(self, label: str, cfg: StoreConfig, recording: Path,
                  schedule: list[tuple[float, str]]) -> tuple[RunOutcome, list[dict[str, Any]]]:
        todo = sorted(schedule)
        done: list[dict[str, Any]] = []

        def during(sim: float, p: Any) -> None:
            while todo and sim >= todo[0][0]:
                _, name = todo[0]
                pid = p.supervisor.pid(name)
                if pid is None:
                    return  # not running right now (respawning): try again on the next message
                todo.pop(0)
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    todo.insert(0, (sim, name))
                    return
                done.append({'node': name, 'sim_s': round(sim, 3), 'pid': pid, 'run': label})
                self.log(f'[drill] {label}: kill -9 {name} (pid {pid}) at sim {sim:.2f} s')

        def recovering(p: Any) -> bool:
            # A node killed late comes back during the tail; its start-up (imports, the
            # database, discovery, the carts history) costs wall time, which the 4x tail
            # clock cuts short on a slow machine: keep the clock going until it has had it.
            for name in {d['node'] for d in done}:
                up = p.supervisor.uptime(name)
                if up is None or up < self.c.recovery_wall:
                    return True
            return False

        out = self.run(label, cfg, recording, during=during,
                       tail=self.c.tail + self.c.recovery, hold_tail=recovering)
        return out, done

    # -------------------------------------------------------------------- kill_camera
    @staticmethod
    def perception_weights() -> Path:
        import smart_store.tracking  # noqa: PLC0415

        return Path(smart_store.tracking.__file__).parent / 'pose' / 'weights' / 'posenet.pt'

    def kill_camera(self) -> DrillResult:
        import numpy as np  # noqa: PLC0415

        from smart_store.evaluation.events import track_score  # noqa: PLC0415
        from smart_store.evaluation.html_report import load_outputs  # noqa: PLC0415
        from smart_store.evaluation.receipts import match, score  # noqa: PLC0415
        from smart_store.evaluation.runs import load_run  # noqa: PLC0415
        from smart_store.pipeline import END_TAIL_S  # noqa: PLC0415
        from smart_store.twin.scenario import load_scenario  # noqa: PLC0415

        res = DrillResult('kill_camera')
        scen = load_scenario('camera_dropout')
        faults = [f'{f.camera} {f.kind} from {f.start:g} s' +
                  (f' to {f.end:g} s' if f.end is not None else '') +
                  (f' (drop rate {f.drop_rate:g})' if f.kind == 'drop' else '')
                  for f in scen.camera_faults]
        learned = self.c.learned_camera and self.perception_weights().is_file()
        ablation = None if learned else 'truth_tracks'
        if self.c.learned_camera and not learned:
            res.notes.append(f'learned tracker asked for but no weights at '
                             f'{self.perception_weights()}: ran with ground-truth tracks')
        if learned:
            res.notes.append('LEARNED tracker on camera_dropout: perception is exercised')
        else:
            res.notes.append('ABLATION ground-truth tracks: the tracks do not come from the '
                             'cameras, so this checks that the graph runs on a recording with a '
                             'dead camera and keeps producing tracks and receipts, NOT that '
                             'perception survives it')
        res.figures['faults'] = faults
        res.figures['tracker'] = 'learned' if learned else 'truth_tracks (ablation)'
        cfg, recording = self.recording('camera_dropout')
        dead = [(f.start, f.end if f.end is not None else math.inf)
                for f in scen.camera_faults if f.kind == 'dead']
        # The learned tracker loses people (a lost track's session is billed after its
        # timeout): the whole tail, not the short one of the ground-truth runs.
        out = self.run(f'camera_dropout-{"learned" if learned else "truth"}', cfg, recording,
                       ablation=ablation, rate=1.0 if learned else None,
                       tail=max(self.c.tail, END_TAIL_S) if learned else None)
        restarts = sum(out.result.restarts.values())
        res.check('no node restarted', restarts == 0, f'restarts {dict(out.result.restarts)}')
        # Tracks throughout the camera outage (from the recorded /tracking/tracks).
        stamps, confirmed = self._track_stamps(out)
        gaps = []
        for d0, d1 in dead:
            inside = [t for t in stamps if d0 <= t <= min(d1, max(stamps, default=d0))]
            series = [d0, *inside, min(d1, max(stamps, default=d1))]
            gaps.append(max(b - a for a, b in itertools.pairwise(series))
                        if len(series) > 1 else math.inf)
        worst = max(gaps, default=math.inf)
        # The same measure outside the outage: the cadence the tracker keeps on this machine
        # with every camera up (CPU stalls show here too), for telling the two apart.
        outside = max((b - a for a, b in itertools.pairwise(stamps)
                       if not any(d0 <= a and b <= d1 for d0, d1 in dead)), default=math.nan)
        res.figures['track_messages'] = len(stamps)
        res.figures['max_track_gap_in_outage_s'] = round(worst, 2)
        res.figures['max_track_gap_outside_outage_s'] = round(outside, 2)
        res.figures['confirmed_track_ids'] = sorted(confirmed)
        res.check('tracks published throughout the dead-camera interval',
                  worst <= OUTAGE_MAX_GAP_S,
                  f'largest gap between TrackArray stamps while {faults[0]}: {worst:.2f} s '
                  f'(outside it {outside:.2f} s); needs <= '
                  f'{OUTAGE_MAX_GAP_S:g} s')
        data = load_run(out.run_dir)
        joints = np.load(recording / 'truth' / 'joints3d.npz')
        outputs = load_outputs(out.run_dir)
        outage = [track_score(outputs, joints, data.epoch_s, window=(d0, d1)) for d0, d1 in dead]
        res.figures['tracking_in_outage'] = [{k: round(v, 3) for k, v in o.items()}
                                             for o in outage]
        res.figures['tracking_whole_run'] = {
            k: round(v, 3) for k, v in track_score(outputs, joints, data.epoch_s).items()}
        recall = min((o['recall'] for o in outage), default=math.nan)
        res.check('the people inside stay tracked on the other cameras',
                  recall >= OUTAGE_RECALL,
                  f'recall {recall:.3f} (share of true person-frames with a track within '
                  f'0.5 m) while {faults[0]}; needs >= {OUTAGE_RECALL:g}')
        s = score(match(data.visits, data.billed))
        res.figures['receipts'] = {'visits': s.visits, 'receipts': s.receipts, 'exact': s.exact,
                                   'reviewed': s.reviewed, 'line_f1': round(s.f1, 3),
                                   'matching_no_visit': s.unmatched_receipts}
        pairs = match(data.visits, data.billed)
        silent = [b.session_id for v, b in pairs
                  if b is not None and not b.needs_review
                  and (v.lines if v is not None else {}) != b.lines]
        accuracy = (f'{s.exact} exact, {s.reviewed} to review; silently wrong: '
                    f'{silent or "none"}' + (f'; {"; ".join(s.mismatches)}' if s.mismatches
                                               else ''))
        billed = (f'{s.receipts} receipts for {s.visits} visits; {s.unmatched_visits} '
                  f'visit(s) without a receipt, {s.unmatched_receipts} receipt(s) matching no '
                  f'visit')
        once = not s.unmatched_visits and out.rows == len(out.receipts)
        if learned:
            # What the learned perception bills is issue 6's accuracy (the same errors on
            # intact cameras, see the README's results): reported here, not a drill check.
            res.check('every visit billed, exactly once', once, billed)
            res.notes.append(f'receipt accuracy of the learned perception (not checked '
                             f'here): {accuracy}')
            return res
        res.check('one receipt per visit', once and s.receipts == s.visits, billed)
        res.check('receipts exact or sent to review (no silent wrong charge)', not silent,
                  accuracy)
        return res

    def _track_stamps(self, out: RunOutcome) -> tuple[list[float], set[int]]:
        from rclpy.serialization import deserialize_message  # noqa: PLC0415

        from smart_store.msg import TrackArray  # noqa: PLC0415
        from smart_store.twin.bag import read_bag  # noqa: PLC0415

        stamps: list[float] = []
        confirmed: set[int] = set()
        bag = out.run_dir / 'results' / 'outputs'
        for m in read_bag(bag, ['/tracking/tracks']):
            msg = deserialize_message(m.data, TrackArray)
            stamps.append((msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
                           - out.start_ns) / 1e9)
            confirmed.update(int(t.id) for t in msg.tracks if t.state == t.STATE_CONFIRMED)
        return sorted(stamps), confirmed

    # -------------------------------------------------------------------- stall_hub
    def stall_hub(self) -> DrillResult:
        from rclpy.serialization import deserialize_message  # noqa: PLC0415

        from smart_store.evaluation.runs import load_truth  # noqa: PLC0415
        from smart_store.msg import LaneWeight, LaneWeightArray, LoadCellRaw  # noqa: PLC0415

        res = DrillResult('stall_hub')
        cfg, recording = self.recording()
        ref = self.reference(cfg, recording)
        if not self._reference_checks(res, ref, recording):
            return res
        truth = load_truth(recording)
        picks = [e for e in truth['events'] if e['kind'] == 'pick' and e.get('lane')]
        if not picks:
            res.check('the scenario has a pick to stall', False, recording.name)
            return res
        pick = picks[0]
        lane = cfg.lane(pick['lane'])
        hub = lane.load_cell.hub
        t0, t1 = float(pick['t_start']) - 1.0, float(pick['t_end']) + 1.5
        hub_lanes = [ln for ln in cfg.lanes() if ln.load_cell.hub == hub]
        res.figures.update({'hub': hub, 'lane': lane.id, 'pick': f'{pick["shopper"]} takes '
                            f'{pick["qty"]}x {pick["sku"]} at {pick["t_start"]:.2f}-'
                            f'{pick["t_end"]:.2f} s', 'stall_s': [round(t0, 2), round(t1, 2)],
                            'hub_lanes': len(hub_lanes)})
        start_ns, _ = _bag_range(recording)
        a_ns, b_ns = start_ns + int(t0 * 1e9), start_ns + int(t1 * 1e9)
        left_out: Counter[str] = Counter()

        def keep(stamp: int, topic: str, data: bytes) -> bool:
            if not a_ns <= stamp <= b_ns or topic not in (WEIGHTS_TOPIC, RAW_TOPIC):
                return True
            msg_type = LaneWeightArray if topic == WEIGHTS_TOPIC else LoadCellRaw
            if deserialize_message(data, msg_type).hub_id != hub:
                return True
            left_out[topic] += 1
            return False

        stale_timeout, period = 0.5, 0.25  # the load-cell driver's defaults
        injector = Injector({WEIGHTS_TOPIC: ('smart_store/msg/LaneWeightArray', 'events')})
        next_stale = [t0 + stale_timeout]

        def stale_array(stamp_ns: int) -> Any:
            msg = LaneWeightArray()
            msg.header.stamp, msg.header.frame_id = _to_time(stamp_ns), cfg.frame_id
            msg.hub_id = hub
            msg.lanes = [LaneWeight(shelf_id=ln.shelf_id, lane_id=ln.id, hub_id=hub,
                                    channel=ln.load_cell.channel, grams=math.nan, stale=True)
                         for ln in sorted(hub_lanes, key=lambda x: x.load_cell.channel)]
            return msg

        def during(sim: float, p: Any) -> None:
            while next_stale[0] <= min(sim, t1):
                injector.put(WEIGHTS_TOPIC, stale_array(start_ns + int(next_stale[0] * 1e9)))
                next_stale[0] += period

        try:
            out = self.run('stall_hub', cfg, recording, during=during, topic_filter=keep,
                           on_start=lambda p: injector.start(p.domain_id),
                           on_end=lambda p: injector.drain())
        finally:
            injector.close()
        res.figures['left_out'] = dict(left_out)
        res.figures['stale_arrays_published'] = injector.sent[WEIGHTS_TOPIC]
        res.check('the hub was stalled over the pick',
                  left_out[WEIGHTS_TOPIC] > 0 and injector.sent[WEIGHTS_TOPIC] > 0
                  and not injector.errors,
                  f'{left_out[WEIGHTS_TOPIC]} weight and {left_out[RAW_TOPIC]} raw messages of '
                  f'{hub} left out over {t0:.2f}-{t1:.2f} s, {injector.sent[WEIGHTS_TOPIC]} '
                  f'stale arrays published' + (f'; errors {injector.errors}'
                                               if injector.errors else ''))
        res.check('no node restarted', not sum(out.result.restarts.values()),
                  f'restarts {dict(out.result.restarts)}')
        stale_reviews = [r for r in out.reviews
                         if r['kind'] == STALE_SENSOR and r['lane_id'] == lane.id]
        res.figures['stale_sensor_reviews'] = [f'{r["review_id"]} ({r["session_id"] or "-"})'
                                               for r in stale_reviews]
        stale_events = self._stale_weight_events(out, lane.id)
        res.figures['stale_weight_events'] = stale_events
        # The session of the shopper whose pick was stalled: the one whose receipt names the
        # pick's sku in the reference.
        affected = [sid for sid, r in ref.receipts.items()
                    if pick['sku'] in dict(r.lines)] or list(ref.receipts)
        res.figures['affected_sessions'] = affected
        for sid in affected:
            got = out.receipts.get(sid)
            flagged = got is not None and (got.needs_review or any(
                r['session_id'] in (sid, '') for r in stale_reviews))
            res.check(f'the stalled pick went to review [{sid}]', flagged,
                      f'receipt {got.describe() if got else "missing"}; stale_sensor reviews '
                      f'on {lane.id}: {len(stale_reviews)}')
        differing = compare_receipts(res, ref.receipts, out.receipts, out.rows, out.published)
        others = [s for s in differing if s not in affected]
        res.check('receipts of other sessions unchanged', not others,
                  f'changed: {others or "none"}')
        return res

    def _stale_weight_events(self, out: RunOutcome, lane_id: str) -> list[str]:
        from rclpy.serialization import deserialize_message  # noqa: PLC0415

        from smart_store.msg import WeightEvent  # noqa: PLC0415
        from smart_store.twin.bag import read_bag  # noqa: PLC0415

        found = []
        for m in read_bag(out.run_dir / 'results' / 'outputs', ['/shelves/weight_events']):
            ev = deserialize_message(m.data, WeightEvent)
            if ev.lane_id == lane_id:
                found.append(f'{ev.event_id} {ev.delta_grams:+.1f} g'
                             + (' stale' if ev.stale else ''))
        return found

    # -------------------------------------------------------------------- malformed
    def malformed(self) -> DrillResult:
        res = DrillResult('malformed')
        cfg, recording = self.recording()
        ref = self.reference(cfg, recording)
        if not self._reference_checks(res, ref, recording):
            return res
        plan = MalformedPlan(cfg, self.c.seed)
        start_ns, end_ns = _bag_range(recording)
        duration = (end_ns - start_ns) / 1e9
        # Three volleys while shoppers are in the store (the injector needs ~1 s to match).
        lo, hi = self.kill_window(recording)
        lo = max(lo, 2.0)
        times = [lo + (hi - lo) * f for f in (0.15, 0.5, 0.85)] if hi > lo else [duration / 2]
        res.figures['volleys_at_s'] = [round(t, 2) for t in times]
        t_build = time.monotonic()
        injector = Injector(plan.topics(), watch=plan.watch(), stored=plan.build())
        res.figures['build_s'] = round(time.monotonic() - t_build, 1)
        todo = list(times)

        def during(sim: float, p: Any) -> None:
            while todo and sim >= todo[0]:
                todo.pop(0)
                for topic, payload, key in plan.volley(start_ns + int(sim * 1e9)):
                    if key is None:
                        injector.put(topic, payload)
                    else:
                        injector.put_stored(topic, key, payload)

        try:
            out = self.run('malformed', cfg, recording, during=during,
                           on_start=lambda p: injector.start(p.domain_id),
                           on_end=lambda p: injector.drain(30.0))
        finally:
            injector.close()
        res.figures['published'] = dict(injector.sent)
        res.figures['kinds'] = plan.described
        res.check('malformed messages published', bool(injector.sent) and not injector.errors
                  and not injector.unmatched and not todo,
                  f'{sum(injector.sent.values())} messages on {len(injector.sent)} topics'
                  + (f'; errors {injector.errors}' if injector.errors else '')
                  + (f'; no subscriber on {dict(injector.unmatched)}'
                     if injector.unmatched else '')
                  + (f'; volleys not sent: {todo}' if todo else ''))
        restarts = sum(out.result.restarts.values())
        changed = {n: (out.pids_start.get(n), out.pids_end.get(n)) for n in out.pids_start
                   if out.pids_start.get(n) != out.pids_end.get(n)}
        res.check('no node died', restarts == 0 and not changed,
                  f'restarts {dict(out.result.restarts)}; pids changed: {changed or "none"}')
        tracebacks = out.tracebacks()
        res.check('no traceback in the node log', not tracebacks,
                  f'{len(tracebacks)} traceback(s) in {out.run_dir / "results" / "nodes.log"}')
        drops = _drop_warnings(out.run_dir / 'results' / 'nodes.log')
        res.figures['drop_warnings'] = drops
        compare_receipts(res, ref.receipts, out.receipts, out.rows, out.published, strict=True)
        return res

    # -------------------------------------------------------------------- long_run
    def long_run(self) -> DrillResult:
        from smart_store.evaluation.receipts import match, score  # noqa: PLC0415
        from smart_store.evaluation.runs import load_run  # noqa: PLC0415

        res = DrillResult('long_run')
        gen = {'seed': self.c.seed, 'shoppers': self.c.long_shoppers,
               'duration': self.c.long_duration}
        t0 = time.monotonic()
        cfg, recording = self.recording(generated=gen)
        res.figures['scenario'] = (f'generate_scenario(seed={gen["seed"]}, shoppers='
                                   f'{gen["shoppers"]}, duration={gen["duration"]:g}) at '
                                   f'{self.c.resolution}, {self.c.fps:g} fps, '
                                   f'{self.c.ablation or "learned tracker"}, rate '
                                   f'{self.c.long_rate:g}x')
        res.figures['record_s'] = round(time.monotonic() - t0, 1)
        sampler: list[RssSampler] = []

        def on_start(p: Any) -> None:
            sampler.append(RssSampler(p, self.c.rss_period))
            sampler[0].start()

        out = self.run(f'long_run-{recording.name}', cfg, recording, rate=self.c.long_rate,
                       on_start=on_start, on_end=lambda p: sampler[0].stop())
        samples = sampler[0].samples
        skip = min(60.0, 0.2 * out.result.wall_s)
        slopes = {n: slope_mb_per_min(v, skip) for n, v in samples.items()}
        res.figures['rss_mb'] = {n: {'first': round(v[0][1], 1), 'last': round(v[-1][1], 1),
                                     'samples': len(v),
                                     'slope_mb_per_min': round(slopes[n], 3)}
                                 for n, v in samples.items() if v}
        res.figures['rss_samples'] = {n: [(round(t, 1), round(r, 1)) for t, r, _ in v]
                                      for n, v in samples.items()}
        res.figures['wall_s'] = round(out.result.wall_s, 1)
        res.figures['real_time_factor'] = round(out.result.real_time_factor, 3)
        res.figures['late_messages'] = out.result.late_messages
        res.figures['cpu_s'] = {n: round(u.cpu_s, 1) for n, u in out.result.usage.items()}
        res.figures['peak_rss_mb'] = {n: round(u.peak_rss_mb, 1)
                                      for n, u in out.result.usage.items()}
        data = load_run(out.run_dir)
        s = score(match(data.visits, data.billed))
        res.figures['receipts'] = s.as_dict()
        res.check('no node restarted', not sum(out.result.restarts.values()),
                  f'restarts {dict(out.result.restarts)}')
        billed = (f'{s.receipts} receipts for {s.visits} visits ({s.exact} exact, '
                  f'{s.reviewed} to review; {s.unmatched_visits} visit(s) without a receipt, '
                  f'{s.unmatched_receipts} receipt(s) matching no visit)')
        if self.c.ablation is None:
            # The learned perception's ghost and lost tracks are issue 6's accuracy; this
            # drill is about memory and queues over a long run: reported, not checked.
            res.check('one receipt row per session', out.rows == len(out.receipts),
                      f'{out.rows} rows for {len(out.receipts)} sessions')
            res.notes.append(f'receipt accuracy of the learned perception (not checked '
                             f'here): {billed}')
        else:
            res.check('a receipt per visit', s.receipts == s.visits and not s.unmatched_visits,
                      billed)
        # Queues: the lag of the tracker's output (every frame set's path through the graph)
        # at the end of the run against its start.
        lags = output_lags(out.run_dir / 'results' / 'outputs', '/tracking/tracks',
                           out.start_ns)
        first, last = lag_growth(lags)
        res.figures['track_lag_s'] = {'messages': len(lags), 'first_quarter_median':
                                      round(first, 3), 'last_quarter_median': round(last, 3)}
        res.check('queues do not grow (track lag at the end as at the start)',
                  math.isfinite(first) and last <= first + LAG_GROWTH_S,
                  f'median /tracking/tracks lag {first:.3f} s in the first quarter, '
                  f'{last:.3f} s in the last ({len(lags)} messages); may grow by at most '
                  f'{LAG_GROWTH_S:g} s')
        growing = {n: round(v, 2) for n, v in slopes.items()
                   if math.isfinite(v) and v > self.c.rss_slope_limit}
        res.check(f'no node grows faster than {self.c.rss_slope_limit:g} MB/min', not growing,
                  f'slopes (MB/min, after {skip:.0f} s): '
                  + ', '.join(f'{n} {v:+.2f}' for n, v in slopes.items() if math.isfinite(v))
                  + (f'; too fast: {growing}' if growing else ''))
        return res


def _bag_range(run_dir: Path) -> tuple[int, int]:
    from smart_store.twin.bag import bag_time_range  # noqa: PLC0415

    return bag_time_range(run_dir / 'bag')


def _drop_warnings(log: Path) -> dict[str, int]:
    """Per node, how many 'dropped' warnings it logged (evidence the injections arrived)."""
    out: Counter[str] = Counter()
    if not log.is_file():
        return {}
    for line in log.read_text(encoding='utf-8', errors='replace').splitlines():
        if '[WARN]' in line and 'dropped' in line and line.startswith('['):
            out[line[1:line.index(']')]] += 1
    return dict(out)


# ------------------------------------------------------------------------------ malformed
class MalformedPlan:
    """The malformed messages of the ``malformed`` drill, built once (the big ones are
    serialised once and only their header stamp is rewritten per volley).

    None of them is a plausible reading: each has an oversized array, a non-finite value, an
    unknown id, an invalid enum code or an out-of-order stamp, so a node that validates its
    input drops it and the receipts cannot change. Entry scans are not injected: a well-formed
    scan is indistinguishable from a real one and would legitimately open a session.
    """

    def __init__(self, cfg: StoreConfig, seed: int = 0) -> None:
        self.cfg = cfg
        self.rng = random.Random(seed)
        self.big: dict[str, bytes] = {}
        self.described: list[str] = []

    @staticmethod
    def topics() -> dict[str, tuple[str, str]]:
        """Topic -> (ROS type, QoS role): the inputs of the pipeline's nodes."""
        ss = 'smart_store/msg/'
        return {
            WEIGHTS_TOPIC: (ss + 'LaneWeightArray', 'events'),
            '/shelves/ranges': ('sensor_msgs/msg/Range', 'sensor'),
            '/shelves/weight_events': (ss + 'WeightEvent', 'events'),
            '/shelves/beam_breaks': (ss + 'BeamBreak', 'events'),
            '/tracking/tracks': (ss + 'TrackArray', 'events'),
            '/reach/events': (ss + 'ReachEvent', 'events'),
            '/sessions': (ss + 'Session', 'state'),
            '/carts': (ss + 'Cart', 'state'),
            '/carts/updates': (ss + 'CartUpdate', 'events'),
            '/review': (ss + 'ReviewItem', 'events'),
        }

    @staticmethod
    def watch() -> tuple[str, ...]:
        return ('/tracking/tracks',)

    def build(self) -> dict[str, bytes]:
        """Serialise the big messages once; returns them by key (for the injector)."""
        from rclpy.serialization import serialize_message  # noqa: PLC0415

        from smart_store.msg import (  # noqa: PLC0415
            Keypoint3D,
            LaneWeight,
            LaneWeightArray,
            Track,
            TrackArray,
        )

        nan = math.nan
        lanes = list(self.cfg.lanes())
        big = LaneWeightArray()
        big.header.frame_id = self.cfg.frame_id
        big.hub_id = lanes[0].load_cell.hub
        entries = []
        for i in range(100_000):
            real = lanes[i % len(lanes)] if i < len(lanes) else None
            entries.append(LaneWeight(
                shelf_id=real.shelf_id if real else 'no_shelf',
                lane_id=real.id if real else f'bogus_{i}', hub_id=big.hub_id,
                channel=i % 65536, raw_counts=i, grams=nan if real else float(i), stale=False))
        big.lanes = entries
        self.big[WEIGHTS_TOPIC] = serialize_message(big)
        kp = [Keypoint3D(confidence=nan) for _ in range(17)]
        for k in kp:
            k.position.x = k.position.y = k.position.z = nan
        tracks = TrackArray()
        tracks.header.frame_id = self.cfg.frame_id
        states = (0, 1, 2, 3, 7, 200)
        items = []
        for i in range(10_000):
            t = Track(id=1_000_000 + i, state=states[i % len(states)], confidence=nan)
            t.position.x = t.position.y = nan
            t.keypoints = kp
            items.append(t)
        tracks.tracks = items
        self.big['/tracking/tracks'] = serialize_message(tracks)
        self.described = [
            'LaneWeightArray with 100000 lanes (real lanes NaN grams, unknown lanes)',
            'LaneWeightArray of real lanes: NaN, +inf, -inf grams; finite grams with stamps '
            '5 s old (out of order)',
            'Range: NaN, unknown sensor frame, old stamp with an in-shelf range',
            'TrackArray with 10000 tracks (NaN positions, keypoints, confidences; states 7 and '
            '200), stamped like the newest real frame; real ids with NaN positions at an old '
            'stamp',
            'ReachEvent with 1000 unknown lane ids and NaN confidence; real lanes with NaN '
            'confidence and dwell; end before start',
            'WeightEvent with NaN delta on a real lane, unknown lane, end before start',
            'BeamBreak with NaN ranges, unknown shelf, end before start',
            'Session with 10000 unknown track ids; empty session id',
            'Cart of an unknown session with 10000 lines; one with a NaN confidence',
            'CartUpdate with NaN confidence, empty update id',
            'ReviewItem with kind 200, NaN confidence, 1000 event ids, empty review id',
        ]
        return dict(self.big)

    def volley(self, now_ns: int) -> list[tuple[str, Any, str | None]]:
        """The messages of one volley at sim time ``now_ns`` (ROS ns): ``(topic, message,
        None)`` or ``(topic, stamp_ns or None for the newest seen, key of a big one)``."""
        from sensor_msgs.msg import Range  # noqa: PLC0415

        from smart_store.msg import (  # noqa: PLC0415
            BeamBreak,
            Cart,
            CartLine,
            CartUpdate,
            LaneWeight,
            LaneWeightArray,
            ReachEvent,
            ReviewItem,
            Session,
            Track,
            TrackArray,
            WeightEvent,
        )

        cfg, nan, inf = self.cfg, math.nan, math.inf
        frame = cfg.frame_id
        lanes = list(cfg.lanes())
        lane = lanes[self.rng.randrange(len(lanes))]
        hub = lane.load_cell.hub
        old = now_ns - 5_000_000_000
        out: list[tuple[str, Any, str | None]] = []

        def header(msg: Any, stamp: int) -> Any:
            msg.header.stamp, msg.header.frame_id = _to_time(stamp), frame
            return msg

        # --- load cells
        out.append((WEIGHTS_TOPIC, now_ns, WEIGHTS_TOPIC))
        for grams, stamp in ((nan, now_ns), (inf, now_ns), (-inf, now_ns), (0.0, old),
                             (1e9, old)):
            msg = header(LaneWeightArray(hub_id=hub), stamp)
            msg.lanes = [LaneWeight(shelf_id=ln.shelf_id, lane_id=ln.id, hub_id=hub,
                                    channel=ln.load_cell.channel, grams=grams, stale=False)
                         for ln in lanes if ln.load_cell.hub == hub]
            out.append((WEIGHTS_TOPIC, msg, None))
        # --- distance sensors
        sensors = [s.distance_sensor.id for s in cfg.shelves]
        for rng_m, sensor, stamp in ((nan, sensors[0], now_ns), (0.3, 'no_such_sensor', now_ns),
                                     (0.3, sensors[0], old)):
            r = Range(radiation_type=Range.INFRARED, min_range=0.02, max_range=4.0,
                      field_of_view=0.05, range=rng_m)
            r.header.stamp, r.header.frame_id = _to_time(stamp), sensor
            out.append(('/shelves/ranges', r, None))
        # --- tracks: the big one stamped like the newest real frame (not dropped as old)
        out.append(('/tracking/tracks', None, '/tracking/tracks'))
        real = header(TrackArray(), old)
        for tid in (1, 2, 3):
            t = Track(id=tid, state=Track.STATE_CONFIRMED, confidence=nan)
            t.position.x = t.position.y = nan
            real.tracks.append(t)
        out.append(('/tracking/tracks', real, None))
        # --- reaches
        shelf = lane.shelf_id
        bogus = header(ReachEvent(event_id=f'drill-reach-{now_ns}', track_id=1, shelf_id=shelf,
                                  confidence=nan, wrist_confidence=nan), now_ns)
        bogus.lane_ids = [f'no_lane_{i}' for i in range(1000)]
        bogus.lane_dwell = [nan] * 1000
        bogus.start, bogus.end = _to_time(now_ns - 1_000_000_000), _to_time(now_ns)
        out.append(('/reach/events', bogus, None))
        nan_reach = header(ReachEvent(event_id=f'drill-reach-nan-{now_ns}', track_id=1,
                                      shelf_id=shelf, confidence=nan, wrist_confidence=nan),
                           now_ns)
        nan_reach.lane_ids, nan_reach.lane_dwell = [lane.id], [nan, nan, nan]
        nan_reach.start, nan_reach.end = _to_time(now_ns - 1_000_000_000), _to_time(now_ns)
        out.append(('/reach/events', nan_reach, None))
        backwards = header(ReachEvent(event_id=f'drill-reach-back-{now_ns}', track_id=1,
                                      shelf_id=shelf, confidence=0.9), now_ns)
        backwards.lane_ids, backwards.lane_dwell = [lane.id], [0.5]
        backwards.start, backwards.end = _to_time(now_ns), _to_time(now_ns - 3_000_000_000)
        out.append(('/reach/events', backwards, None))
        # --- weight events
        for i, (lane_id, delta, start, end) in enumerate((
                (lane.id, nan, now_ns - 1_000_000_000, now_ns),
                ('no_such_lane', -300.0, now_ns - 1_000_000_000, now_ns),
                (lane.id, -300.0, now_ns, now_ns - 3_000_000_000))):
            ev = header(WeightEvent(event_id=f'drill-weight-{i}-{now_ns}', shelf_id=shelf,
                                    lane_id=lane_id, delta_grams=delta, weight_before=nan,
                                    weight_after=nan, stability=nan, quantity_hint=nan,
                                    quantity_residual=nan, noise_grams=nan), now_ns)
            ev.start, ev.end = _to_time(start), _to_time(end)
            out.append(('/shelves/weight_events', ev, None))
        # --- beam breaks
        for i, (shelf_id, rng_m, start, end) in enumerate((
                (shelf, nan, now_ns - 1_000_000_000, now_ns),
                ('no_such_shelf', 0.3, now_ns - 1_000_000_000, now_ns),
                (shelf, 0.3, now_ns, now_ns - 3_000_000_000))):
            b = header(BeamBreak(event_id=f'drill-beam-{i}-{now_ns}', shelf_id=shelf_id,
                                 sensor_id=sensors[0], min_range=rng_m, baseline_range=nan),
                       now_ns)
            b.start, b.end = _to_time(start), _to_time(end)
            out.append(('/shelves/beam_breaks', b, None))
        # --- sessions (to the arbiter): unknown tracks only, and an empty id
        s = header(Session(session_id=f'drill-session-{now_ns}', account_token='',
                           anonymous=True, state=200), now_ns)
        s.track_ids = [2_000_000 + i for i in range(10_000)]
        out.append(('/sessions', s, None))
        out.append(('/sessions', header(Session(session_id='', state=0), now_ns), None))
        # --- billing inputs: unknown sessions, NaN, invalid codes, empty ids
        cart = header(Cart(session_id=f'drill-cart-{now_ns}', revision=1, total=-5,
                           currency='XXX'), now_ns)
        cart.lines = [CartLine(sku=f'NOPE-{i}', quantity=-1, unit_price=-1, line_total=1,
                               confidence=nan) for i in range(10_000)]
        out.append(('/carts', cart, None))
        small = header(Cart(session_id=f'drill-cart-{now_ns}', revision=2, currency='XXX'),
                       now_ns)
        small.lines = [CartLine(sku='NOPE', quantity=1, unit_price=100, line_total=100,
                                confidence=nan)]
        out.append(('/carts', small, None))
        for uid in (f'drill-update-{now_ns}', ''):
            out.append(('/carts/updates', header(CartUpdate(
                update_id=uid, session_id=f'drill-cart-{now_ns}', sku='NOPE', reason=200,
                quantity_delta=-100, confidence=nan), now_ns), None))
        for rid in (f'drill-review-{now_ns}', ''):
            rv = header(ReviewItem(review_id=rid, kind=200, session_id=f'drill-none-{now_ns}',
                                   confidence=nan, detail='drill'), now_ns)
            rv.event_ids = [f'drill-ev-{i}' for i in range(1000)]
            out.append(('/review', rv, None))
        return out


# ------------------------------------------------------------------------------ entry point
def run_drills(kinds: Sequence[str], config: DrillConfig,
               on_result: Callable[[DrillResult], None] | None = None) -> list[DrillResult]:
    """Run the drills named in ``kinds`` in order; an exception fails that drill only."""
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f'unknown drill(s) {unknown}; choose from {", ".join(KINDS)}')
    drills = Drills(config)
    results = []
    for kind in kinds:
        t0 = time.monotonic()
        try:
            result = getattr(drills, kind)()
        except Exception as err:  # noqa: BLE001 - one drill's failure must not hide the others
            import traceback  # noqa: PLC0415

            # One line on the console; the traceback only in drill.json, for whoever debugs.
            result = DrillResult(kind, error=f'{type(err).__name__}: {err}')
            result.figures['traceback'] = traceback.format_exc()
        result.wall_s = time.monotonic() - t0
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def _main(argv: Sequence[str]) -> int:
    """``python -m smart_store.drills --injector-fd N``: the injector's process."""
    from multiprocessing.connection import Connection  # noqa: PLC0415

    if len(argv) != 2 or argv[0] != '--injector-fd':
        print('usage: python -m smart_store.drills --injector-fd FD (internal; use '
              '`./smart-store drill`)')
        return 2
    _injector_main(Connection(int(argv[1])))
    return 0


if __name__ == '__main__':
    import sys

    raise SystemExit(_main(sys.argv[1:]))
