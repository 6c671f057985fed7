"""Run the node graph on a recorded twin run: the engine of `demo`, `bench`, `drill`, `eval`.

Every node of the graph (except the drivers, whose topics the bag holds) starts as its own
process from the graph table, with sim time. The bag is played into the graph like
`ros2 bag play --clock`, followed by a tail of clock ticks so receipts of the last shoppers
come out; the pipeline's own topics are recorded to ``<run>/results/outputs``; the billing
database is ``<run>/results/store.db``. A monitor samples each node's CPU time and peak memory
from /proc. Nothing here is specific to the twin except the optional ground-truth tracks
ablation.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smart_store.config import StoreConfig
from smart_store.graph.supervisor import ProcessSpec, Supervisor
from smart_store.graph.table import (
    RECEIPTS,
    LaunchOptions,
    NodeSpec,
    graph_for_config,
    node_parameters,
    read_executables,
)

DRIVERS = ('camera_driver', 'loadcell_driver', 'distance_driver')
OUTPUT_TOPICS = ('/receipts', '/carts', '/carts/updates', '/review', '/sessions',
                 '/reach/events', '/shelves/weight_events', '/shelves/beam_breaks',
                 '/tracking/tracks')


@dataclass
class NodeUsage:
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0


@dataclass
class PipelineResult:
    run_dir: Path
    wall_s: float
    sim_s: float
    receipts: list[Any] = field(default_factory=list)
    restarts: dict[str, int] = field(default_factory=dict)
    usage: dict[str, NodeUsage] = field(default_factory=dict)
    late_messages: int = 0
    dropped_messages: dict[str, int] = field(default_factory=dict)  # refused by the middleware
    log: Path | None = None
    data_sim_s: float = 0.0     # the recording itself (the clock-only tail excluded) ...
    data_wall_s: float = 0.0    # ... and the wall time it took to play
    tail_held_s: float = 0.0    # sim s the tail ran past its planned end (``hold_tail``)

    @property
    def real_time_factor(self) -> float:
        """Sim seconds per wall second over the recording (not the faster clock-only tail)."""
        if self.data_wall_s > 0:
            return self.data_sim_s / self.data_wall_s
        return self.sim_s / self.wall_s if self.wall_s > 0 else 0.0


def _proc_usage(pid: int) -> tuple[float, float] | None:
    """(cpu seconds incl. waited-for children, peak RSS MB) of a live process."""
    try:
        stat = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
        ticks = os.sysconf('SC_CLK_TCK')
        cpu = (int(stat[11]) + int(stat[12]) + int(stat[13]) + int(stat[14])) / ticks
        peak = 0.0
        for line in Path(f'/proc/{pid}/status').read_text().splitlines():
            if line.startswith('VmHWM:'):
                peak = int(line.split()[1]) / 1024.0
        return cpu, peak
    except (OSError, IndexError, ValueError):
        return None


class _Monitor(threading.Thread):
    """Samples CPU and peak memory of every node once a second (per pid, summed over
    respawns)."""

    def __init__(self, supervisor: Supervisor, names: list[str]) -> None:
        super().__init__(daemon=True)
        self.supervisor, self.names = supervisor, names
        self.usage = {n: NodeUsage() for n in names}
        self._last: dict[tuple[str, int], float] = {}
        self._stop = threading.Event()

    def sample(self) -> None:
        for name in self.names:
            pid = self.supervisor.pid(name)
            if pid is None:
                continue
            got = _proc_usage(pid)
            if got is None:
                continue
            cpu, peak = got
            prev = self._last.get((name, pid), 0.0)
            self.usage[name].cpu_s += max(0.0, cpu - prev)
            self._last[(name, pid)] = cpu
            self.usage[name].peak_rss_mb = max(self.usage[name].peak_rss_mb, peak)

    def run(self) -> None:
        while not self._stop.wait(1.0):
            self.sample()

    def stop(self) -> None:
        self.sample()
        self._stop.set()


def pipeline_graph(cfg: StoreConfig, ablation: str | None = None) -> list[NodeSpec]:
    """The graph minus the drivers (the bag replaces them); the tracker swapped for the
    ground-truth ablation when asked."""
    from dataclasses import replace  # noqa: PLC0415

    graph = [s for s in graph_for_config(cfg) if s.executable not in DRIVERS]
    if ablation == 'truth_tracks':
        # the ablation replays the truth on the clock: it reads no camera
        graph = [replace(s, executable='truth_tracker', subscribes=()) if s.name == 'tracker'
                 else s for s in graph]
    elif ablation is not None:
        raise ValueError(f'unknown ablation {ablation!r}')
    return graph


def expected_subscribers(graph: list[NodeSpec]) -> dict[str, int]:
    """How many subscriptions each topic has in ``graph`` (after the nodes' remappings)."""
    counts: Counter[str] = Counter()
    for spec in graph:
        remap = dict(spec.remappings)
        counts.update({remap.get(t.name, t.name) for t in spec.subscribes})
    return dict(counts)


def _argv(spec: NodeSpec, params: dict[str, object], python: str) -> list[str]:
    import json  # noqa: PLC0415

    from smart_store.resources import node_params_file  # noqa: PLC0415

    argv = [python, '-m', read_executables()[spec.executable], '--ros-args',
            '-r', f'__node:={spec.name}', '--params-file', str(node_params_file())]
    for name, value in params.items():
        argv += ['-p', f'{name}:={json.dumps(value)}']
    for src, dst in spec.remappings:
        argv += ['-r', f'{src}:={dst}']
    return argv


class Pipeline:
    """Start the graph for a run, play its bag, collect the results."""

    def __init__(self, cfg: StoreConfig, run_dir: Path, *, ablation: str | None = None,
                 domain_id: int | None = None, device: str = 'auto', respawn: bool = True,
                 python: str | None = None, extra_params: dict[str, dict[str, object]] | None
                 = None) -> None:
        import sys  # noqa: PLC0415

        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.results = self.run_dir / 'results'
        self.ablation = ablation
        self.domain_id = domain_id if domain_id is not None else 20 + os.getpid() % 150
        self.graph = pipeline_graph(cfg, ablation)
        opts = LaunchOptions(store_config=str(Path(cfg.path).resolve()), use_sim_time=True,
                             device=device, respawn=respawn)
        self.log_path = self.results / 'nodes.log'
        per_node: dict[str, dict[str, object]] = {
            'billing': {'database': str(self.results / 'store.db')},
            'cart_arbiter': {'state_file': str(self.results / 'arbiter_state.json')},
            'shelf_events': {'state_file': str(self.results / 'shelf_events_state.json')},
            'tracker': ({'truth_dir': str(self.run_dir / 'truth')} if ablation
                        else {'image_reliable': True,
                              'state_file': str(self.results / 'tracker_state.json')}),
        }
        for name, params in (extra_params or {}).items():
            per_node.setdefault(name, {}).update(params)
        env = {'ROS_DOMAIN_ID': str(self.domain_id),
               'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST'}
        self.specs = [
            ProcessSpec(spec.name, tuple(_argv(spec, {**node_parameters(spec, opts),
                                                      **per_node.get(spec.name, {})},
                                               python or sys.executable)),
                        env=env, respawn=respawn and spec.respawn,
                        respawn_delay=spec.respawn_delay)
            for spec in self.graph]
        self.supervisor: Supervisor | None = None

    def start(self) -> None:
        if self.results.exists():
            shutil.rmtree(self.results)
        self.results.mkdir(parents=True)
        self._log = self.log_path.open('w', encoding='utf-8')
        self.supervisor = Supervisor(self.specs, out=self._log, color=False)
        self.supervisor.start()
        self._sup_thread = threading.Thread(target=self.supervisor.run, daemon=True)
        self._sup_thread.start()
        self.monitor = _Monitor(self.supervisor, [s.name for s in self.graph])
        self.monitor.start()

    def stop(self) -> None:
        if self.supervisor is not None:
            self.monitor.stop()
            self.supervisor.stop()
            self._sup_thread.join(timeout=30)
            self._log.close()

    def play(self, *, rate: float = 1.0, tail: float = 6.0, tail_rate: float | None = None,
             wait_nodes: float = 60.0,
             on_progress: Callable[[float, float], None] | None = None,
             on_receipt: Callable[[Any], None] | None = None,
             during: Callable[[float, Pipeline], None] | None = None,
             topic_filter: Callable[[int, str, bytes], bool] | None = None,
             hold_tail: Callable[[], bool] | None = None,
             max_hold: float = 120.0) -> PipelineResult:
        """Play the run's bag into the running graph; returns when the tail has passed.

        ``tail`` s of sim time (clock only) follow the bag, played at ``tail_rate`` (default
        ``rate``): time for lost tracks to time out and their sessions to be billed.
        ``during(sim_s, pipeline)`` is called after every published message;
        ``topic_filter(stamp_ns, topic, cdr)`` is asked about every bag message before it is
        published and leaves it out of the replay when it returns False (drills: a stalled
        sensor hub). While ``hold_tail()`` is true at the tail's end, the clock goes on ticking
        (at ``tail_rate``, ``max_hold`` s of sim time at most): a drill holds it until the
        nodes it killed have been back long enough to catch up, whatever their start-up cost
        on this machine (a store's clock does not stop after a crash; a replay's does).
        """
        # The player, recorder and listener join the graph's domain; the caller's environment
        # is restored afterwards (a test process must not stay in the pipeline's domain).
        saved = {k: os.environ.get(k) for k in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE')}
        os.environ['ROS_DOMAIN_ID'] = str(self.domain_id)
        os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
        try:
            return self._play(rate=rate, tail=tail, tail_rate=tail_rate, wait_nodes=wait_nodes,
                              on_progress=on_progress, on_receipt=on_receipt, during=during,
                              topic_filter=topic_filter, hold_tail=hold_tail, max_hold=max_hold)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def _play(self, *, rate: float, tail: float, tail_rate: float | None, wait_nodes: float,
              on_progress: Callable[[float, float], None] | None,
              on_receipt: Callable[[Any], None] | None,
              during: Callable[[float, Pipeline], None] | None,
              topic_filter: Callable[[int, str, bytes], bool] | None,
              hold_tail: Callable[[], bool] | None,
              max_hold: float) -> PipelineResult:
        import rclpy  # noqa: PLC0415
        from rclpy.executors import MultiThreadedExecutor  # noqa: PLC0415

        from smart_store.msg import Receipt  # noqa: PLC0415
        from smart_store.ros.player import Player  # noqa: PLC0415
        from smart_store.ros.qos import profile  # noqa: PLC0415
        from smart_store.ros.recorder import Recorder  # noqa: PLC0415
        from smart_store.twin.bag import bag_time_range, bag_topics, read_bag  # noqa: PLC0415

        bag = self.run_dir / 'bag'
        rclpy.init()
        receipts: list[Any] = []
        try:
            player_node = rclpy.create_node('smart_store_pipeline_player')
            recorder = Recorder(self.results / 'outputs', list(OUTPUT_TOPICS), False, 'mcap',
                                use_sim_time=True)
            listener = rclpy.create_node('smart_store_pipeline_listener')

            def got_receipt(msg: Receipt) -> None:
                receipts.append(msg)
                if on_receipt is not None:
                    on_receipt(msg)
            listener.create_subscription(Receipt, RECEIPTS.name, got_receipt,
                                         profile(RECEIPTS.qos))
            executor = MultiThreadedExecutor(num_threads=2)
            executor.add_node(recorder)
            executor.add_node(listener)
            spin = threading.Thread(target=executor.spin, daemon=True)
            spin.start()
            self._wait_for_nodes(player_node, wait_nodes)
            topics = bag_topics(bag)
            player = Player(player_node, topics, rate=rate, clock=True, reliable_images=True)
            short = player.wait_for_subscribers(
                expected_subscribers(self.graph), wait_nodes,
                spin=lambda: rclpy.spin_once(player_node, timeout_sec=0.05))
            if short:
                missing = ', '.join(f'{t} ({have} of {want})'
                                    for t, (have, want) in sorted(short.items()))
                raise TimeoutError(f'the graph\'s subscriptions did not match the player within '
                                   f'{wait_nodes:.0f} s: {missing} (see {self.log_path})')
            start_ns, end_ns = bag_time_range(bag)
            total = (end_ns - start_ns) / 1e9 + tail
            wall0 = time.monotonic()
            last_report = [0.0]

            data_wall = [0.0]

            def progress(stamp: int) -> None:
                sim = (stamp - start_ns) / 1e9
                if stamp <= end_ns:
                    data_wall[0] = time.monotonic() - wall0
                if on_progress is not None and time.monotonic() - last_report[0] > 0.25:
                    last_report[0] = time.monotonic()
                    on_progress(sim, total)
                if during is not None:
                    during(sim, self)

            stream = ((m.stamp_ns, m.topic, m.data) for m in read_bag(bag)
                      if topic_filter is None or topic_filter(m.stamp_ns, m.topic, m.data))
            held = [0.0]
            player.play(_with_tail(stream, end_ns, tail, hold=hold_tail,
                                   max_hold=max_hold, held=held),
                        keep_going=rclpy.ok,
                        on_progress=progress, fast_after_ns=end_ns + 2_000_000_000,
                        fast_rate=tail_rate)
            time.sleep(1.0)  # let the last messages land
            wall = time.monotonic() - wall0
            # Bounded: a callback stuck in a dying context must not hold the run forever
            # (the pool's threads are daemons; rclpy.try_shutdown below ends them).
            executor.shutdown(timeout_sec=5, wait_for_threads=False)
            spin.join(timeout=5.0)  # the recorder's callbacks are done before its file closes
            recorder.close()
            result = PipelineResult(self.run_dir, wall, total, receipts,
                                    {n: self.supervisor.restarts(n) for n in
                                     (s.name for s in self.graph)} if self.supervisor else {},
                                    late_messages=player.stats.late,
                                    dropped_messages=dict(player.stats.failed),
                                    log=self.log_path,
                                    data_sim_s=(end_ns - start_ns) / 1e9,
                                    data_wall_s=data_wall[0], tail_held_s=held[0])
        finally:
            rclpy.try_shutdown()
        self.monitor.sample()
        result.usage = dict(self.monitor.usage)
        return result

    def _wait_for_nodes(self, node: Any, timeout: float) -> None:
        import rclpy  # noqa: PLC0415

        wanted = {s.name for s in self.graph}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.2)
            if wanted <= set(node.get_node_names()):
                time.sleep(1.0)  # subscriptions match a moment after the node appears
                return
        missing = wanted - set(node.get_node_names())
        raise TimeoutError(f'nodes did not start within {timeout:.0f} s: {sorted(missing)} '
                           f'(see {self.log_path})')


#: Sim seconds played after a recording by ``demo`` and ``bench`` (4x faster, clock only): a
#: track the tracker gave up on (5 s of coasting) stops holding its session after the billing
#: node's ``lost_timeout`` (15 s), and that visit is billed, with a review, before the run ends.
END_TAIL_S = 24.0


def _with_tail(stream: Any, end_ns: int, tail: float, *,
               hold: Callable[[], bool] | None = None, max_hold: float = 0.0,
               held: list[float] | None = None) -> Any:
    """The bag's messages, then clock-only ticks for ``tail`` seconds of sim time, and on
    while ``hold()`` is true (``max_hold`` s more at most; ``held[0]`` says how many)."""
    yield from stream
    step = 50_000_000
    t = end_ns + step
    planned = end_ns + int(tail * 1e9)
    while t <= planned or (hold is not None and t <= planned + int(max_hold * 1e9) and hold()):
        if held is not None and t > planned:
            held[0] = (t - planned) / 1e9
        yield t, '', b''
        t += step
