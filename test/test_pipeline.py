"""The pipeline's graph and the subscriptions its player waits for before the bag plays."""

from __future__ import annotations

from pathlib import Path

from smart_store.config import load_store_config
from smart_store.graph.table import ENTRY, RANGES, TRACKS, WEIGHTS
from smart_store.pipeline import DRIVERS, _with_tail, expected_subscribers, pipeline_graph

ROOT = Path(__file__).resolve().parents[1]
CFG = load_store_config(ROOT / 'config' / 'demo_store.yaml')


def test_the_bag_replaces_the_drivers_and_every_fed_topic_is_counted() -> None:
    graph = pipeline_graph(CFG)
    assert not {s.executable for s in graph} & set(DRIVERS)
    want = expected_subscribers(graph)
    # billing reads the gate's scans, shelf_events the lane weights and the distance sensors
    assert want[ENTRY.name] == 1 and want[WEIGHTS.name] == 1 and want[RANGES.name] == 1
    # reach, arbiter and billing read the tracks; every camera is read by the tracker
    assert want[TRACKS.name] == 3
    for cam in CFG.cameras:
        assert want[cam.topic] >= 1, cam.id


def test_the_truth_ablation_waits_for_no_camera_reader() -> None:
    # The truth tracker reads no image: waiting for a camera subscription would time out.
    want = expected_subscribers(pipeline_graph(CFG, 'truth_tracks'))
    assert not any(cam.topic in want for cam in CFG.cameras)
    assert want[ENTRY.name] == 1 and want[WEIGHTS.name] == 1


def test_the_tail_ticks_the_clock_on_while_held_and_no_longer_than_max_hold() -> None:
    end = 10_000_000_000
    plain = list(_with_tail(iter([(end, '/x', b'1')]), end, 1.0))
    assert plain[0] == (end, '/x', b'1') and plain[-1][0] == end + 1_000_000_000
    assert all(topic == '' for _, topic, _ in plain[1:])
    calls = [0]

    def hold() -> bool:  # released after five more ticks
        calls[0] += 1
        return calls[0] <= 5
    held = [0.0]
    ticks = list(_with_tail(iter([]), end, 1.0, hold=hold, max_hold=10.0, held=held))
    assert ticks[-1][0] == end + 1_250_000_000 and held[0] == 0.25
    held = [0.0]
    capped = list(_with_tail(iter([]), end, 1.0, hold=lambda: True, max_hold=0.5, held=held))
    assert capped[-1][0] == end + 1_500_000_000 and held[0] == 0.5
