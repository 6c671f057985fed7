"""Every library scenario records to a rosbag2 directory and reads back through ``twin/bag.py``:
the topics and their types, per-topic message counts against what the run says it produced,
time order, header stamps equal to the bag's receive stamps, and an independent MCAP reader
counting the same messages.

What is recorded, honestly: not the full scenario. A recording costs about 0.07 s of CPU per
sim second even with tiny images (the four load-cell hubs alone publish 640 messages a second,
raw and calibrated, each serialised to CDR), i.e. ~45 s for the library's 620 s, plus as much
again to read it all back, which is too slow for a fast test on 2 cores. So each scenario is
recorded with 32x24 images at 2 fps from its start until 1.5 s after its first item change (and
at least 1 s past the start of every fault), 9-22 s of sim time a scenario (200 s in all, about
20 s of CPU): the entries, the first pick and the scenario's faults are in every bag.
Full-length recordings of every library scenario are made by
``test_record.py::test_every_library_scenario_records_and_both_readers_agree`` (slow).
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from smart_store.config import load_store_config
from smart_store.twin import bag as rb
from smart_store.twin.record import (
    ENTRY_TOPIC,
    RANGES_TOPIC,
    RAW_TOPIC,
    WEIGHTS_TOPIC,
    RunOptions,
    TwinRun,
    record_run,
    stamp_ns,
)
from smart_store.twin.scenario import library_names, load_scenario
from smart_store.twin.world import World

ROOT = Path(__file__).resolve().parents[2]
CFG = load_store_config(ROOT / "config" / "demo_store.yaml")
FPS = 2.0
STAMPED = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CameraInfo", "sensor_msgs/msg/Range",
           "smart_store/msg/LoadCellRaw", "smart_store/msg/LaneWeightArray",
           "smart_store/msg/EntryEvent")


def opening_window(world: World) -> float:
    """End of the recorded window (s): past the first item change and every fault start."""
    sc = world.scenario
    first = world.lane_changes[0][0] if world.lane_changes else 5.0
    starts = [f.start for f in sc.camera_faults] + [f.start for f in sc.load_cell_faults]
    return min(sc.duration, max(first + 1.5, *(s + 1.0 for s in starts), 4.0))


def _mcap_counts(bag_dir: Path) -> dict[str, int]:
    """Topic -> messages, read by the independent MCAP reader (no decoding)."""
    from mcap.reader import make_reader

    counts: dict[str, int] = {}
    for path in bag_dir.glob("*.mcap"):
        with path.open("rb") as fh:
            for _schema, channel, _message in make_reader(fh).iter_messages():
                counts[channel.topic] = counts.get(channel.topic, 0) + 1
    return counts


@pytest.mark.parametrize("name", library_names())
def test_library_scenario_bag_reads_back(name: str, tmp_path: Path) -> None:
    base = load_scenario(name, CFG)
    scenario = replace(base, render=replace(base.render, width=32, height=24, fps=FPS))
    world = World(CFG, scenario)
    end = opening_window(world)
    run = TwinRun(CFG, scenario, RunOptions(end=end, coco=False), world=world)
    bag = record_run(run, tmp_path / name)

    # topics: exactly what the run declares, with their types and QoS roles
    topics = rb.bag_topics(bag)
    declared = {t.name: (t.type, t.qos) for t in run.topics()}
    assert topics == declared
    assert len([t for t in topics if t.endswith("image_raw")]) == len(CFG.cameras)

    # every message, in time order, stamped inside the window, header stamp = bag stamp
    counts = dict.fromkeys(topics, 0)
    last = dict.fromkeys(topics, -1)
    previous = -1
    grams: dict[str, list[tuple[int, float]]] = {}
    first = -1
    for m in rb.read_bag(bag):
        first = m.stamp_ns if first < 0 else first
        counts[m.topic] += 1
        assert m.stamp_ns >= previous
        assert m.stamp_ns >= last[m.topic]
        if m.topic.endswith(("image_raw", "camera_info")) or m.topic == ENTRY_TOPIC:
            assert m.stamp_ns > last[m.topic], m.topic       # one message per instant
        previous = last[m.topic] = m.stamp_ns
        assert stamp_ns(0.0) <= m.stamp_ns < stamp_ns(end)
        assert m.type in STAMPED
        msg = rb.deserialize(m.data, m.type)
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        assert stamp == m.stamp_ns, m.topic
        if m.topic == WEIGHTS_TOPIC:
            for lane in msg.lanes:
                grams.setdefault(lane.lane_id, []).append((m.stamp_ns, lane.grams))
    assert rb.bag_time_range(bag) == (first, previous + 1)    # rosbags: end is exclusive

    # counts: what the run produced and says it produced
    for cam in CFG.cameras:
        frames = math.ceil(end * FPS - 1e-9)
        shown = run.frame_counts.get(cam.id, 0)
        assert shown + run.dropped_frames.get(cam.id, 0) == frames
        assert counts[cam.topic] == counts[cam.info_topic] == shown
    assert counts[RAW_TOPIC] == counts[WEIGHTS_TOPIC]
    hubs = [h for h in CFG.hubs if h.kind == "load_cell"]
    expected = 0.0
    for hub in hubs:                    # one message per hub sample, none while it stalls
        stalled = sum(min(f.duration, max(end - f.start, 0.0))
                      for f in scenario.load_cell_faults if f.kind == "stall" and f.hub == hub.id)
        expected += hub.rate_hz * (end - stalled)
    assert abs(counts[RAW_TOPIC] - expected) <= 2 * len(hubs)
    for fault in scenario.camera_faults:
        if fault.kind == "dead" and fault.start < end - 1.0 / FPS:
            assert run.dropped_frames.get(fault.camera, 0) > 0
    assert counts[RANGES_TOPIC] > 0
    entries = [e for e in run.world.entries if e[0] < end and e[2] is not None]
    assert counts[ENTRY_TOPIC] == len(entries) > 0
    assert _mcap_counts(bag) == {t: n for t, n in counts.items() if n}

    # the first item change shows in the calibrated weights of its lane
    t, lane, delta = run.world.lane_changes[0]
    if t + 1.0 < end:
        series = np.array([g for ns, g in grams[lane] if ns < stamp_ns(t) - 300_000_000])
        after = np.array([g for ns, g in grams[lane] if ns > stamp_ns(t + 1.0)])
        step = float(np.median(after) - np.median(series))
        assert abs(step - delta) < 15.0 + 0.1 * abs(delta), (lane, step, delta)


def test_recorded_qos_is_the_live_graphs_profile_of_each_role() -> None:
    """A bag offers, per role, the profile a live publisher of that role offers
    (smart_store/ros/qos.py), so a replay delivers like the live store."""
    from smart_store.ros.qos import PROFILES

    for role, live in PROFILES.items():
        recorded = rb.qos_for_role(role)
        assert (recorded.depth, recorded.reliability.value, recorded.durability.value,
                recorded.history.value) == \
            (live.depth, int(live.reliability), int(live.durability), int(live.history)), role
