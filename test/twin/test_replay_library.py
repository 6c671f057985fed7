"""Every library scenario replays: ``./smart-store replay`` plays each scenario's bag into a live
ROS graph, every recorded topic with its recorded QoS, on a ``/clock`` that covers the bag.

Each scenario is recorded over its opening window (the window ``test_bag.py`` checks: up to
1.5 s past its first item change and past every fault start) at 32x24 and 2 fps, and replayed
at 8x with ``--wait-for-subscribers``. A subscriber in this process reads every topic raw, with
the QoS the bag recorded. Topics recorded reliable (scans, lane weights) must arrive complete and
byte for byte (up to the zero padding DDS adds to a multiple of 4); best-effort topics (images,
ranges, raw counts) may lose a message under load, so at least 90 % must arrive, each one a
message of the bag. Header stamps are the bag's (sim time), and the clock runs from the bag's
first message to its last.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from smart_store.config import load_store_config
from smart_store.twin import bag as rb
from smart_store.twin.record import RunOptions, TwinRun, record_run
from smart_store.twin.scenario import library_names, load_scenario
from smart_store.twin.world import World

sys.path.insert(0, str(Path(__file__).parent))
from test_bag import opening_window  # the window test_bag.py checks

pytestmark = [pytest.mark.ros, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
CFG = load_store_config(ROOT / 'config' / 'demo_store.yaml')


def _pad(data: bytes) -> bytes:
    return data + b'\x00' * ((-len(data)) % 4)


@pytest.fixture(scope='module')
def listener(ros_env: dict[str, str]) -> Iterator[Any]:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    rclpy.init()
    node = rclpy.create_node('replay_library_test')
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        yield node
    finally:
        executor.shutdown(timeout_sec=5)
        node.destroy_node()
        rclpy.shutdown()
        thread.join(5)


@pytest.mark.parametrize('name', library_names())
def test_library_scenario_replays_into_the_graph(name: str, tmp_path: Path, listener: Any,
                                                 ros_env: dict[str, str]) -> None:
    from rclpy.qos import QoSProfile
    from rclpy.serialization import deserialize_message
    from rosgraph_msgs.msg import Clock

    from smart_store.ros.player import ros_msg_class
    from smart_store.ros.qos import SENSOR, profile

    base = load_scenario(name, CFG)
    scenario = replace(base, render=replace(base.render, width=32, height=24, fps=2.0))
    world = World(CFG, scenario)
    run = TwinRun(CFG, scenario, RunOptions(end=opening_window(world), coco=False), world=world)
    bag = record_run(run, tmp_path / 'run')
    topics = rb.bag_topics(bag)
    want: dict[str, list[bytes]] = defaultdict(list)
    stamps: dict[str, set[int]] = defaultdict(set)
    for m in rb.read_bag(bag):
        want[m.topic].append(_pad(m.data))
        stamps[m.topic].add(m.stamp_ns)
    first_ns, end_ns = rb.bag_time_range(bag)

    lock = threading.Lock()
    got: dict[str, list[bytes]] = defaultdict(list)
    clock: list[int] = []

    def keep(topic: str) -> Any:
        def cb(data: bytes) -> None:
            with lock:
                got[topic].append(bytes(data))
        return cb

    def tick(msg: Clock) -> None:
        with lock:
            clock.append(msg.clock.sec * 1_000_000_000 + msg.clock.nanosec)

    def deep(role: str) -> QoSProfile:
        # the recorded reliability and durability, with a history deep enough that this
        # Python reader never falls behind a KEEP_LAST queue at 8x (a slow reader loses
        # messages even from a reliable writer once its queue is full)
        p = profile(role)
        return QoSProfile(depth=100_000, reliability=p.reliability, durability=p.durability)

    subs = [listener.create_subscription(ros_msg_class(typename), topic, keep(topic),
                                         deep(role), raw=True)
            for topic, (typename, role) in topics.items()]
    subs.append(listener.create_subscription(Clock, '/clock', tick, SENSOR))
    try:
        proc = subprocess.run(
            [str(ROOT / 'smart-store'), 'replay', str(bag), '--rate', '8', '--quiet',
             '--wait-for-subscribers', '15'],
            env=ros_env, capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert 'Traceback' not in proc.stdout + proc.stderr
        # the last messages are in flight when replay exits
        for _ in range(40):
            with lock:
                if all(len(got[t]) >= len(want[t]) for t in want):
                    break
            time.sleep(0.05)
    finally:
        for sub in subs:
            listener.destroy_subscription(sub)

    with lock:
        received = {t: list(v) for t, v in got.items()}
        ticks = list(clock)
    for topic, (typename, role) in topics.items():
        sent, came = want[topic], received.get(topic, [])
        if role == 'sensor':
            assert len(came) >= 0.9 * len(sent), (topic, len(came), len(sent))
            assert set(came) <= set(sent), topic
        else:
            assert sorted(came) == sorted(sent), (topic, len(came), len(sent))
        kind = ros_msg_class(typename)
        for data in came[:: max(1, len(came) // 20)]:   # header stamps: the bag's sim time
            msg = deserialize_message(data, kind)
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            assert stamp in stamps[topic], topic
    assert ticks and min(ticks) >= first_ns - 1 and max(ticks) >= end_ns - 20_000_000
    assert ticks == sorted(ticks)
