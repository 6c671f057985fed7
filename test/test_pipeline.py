"""The pipeline's graph and the subscriptions its player waits for before the bag plays."""

from __future__ import annotations

from pathlib import Path

from smart_store.config import load_store_config
from smart_store.graph.table import ENTRY, RANGES, TRACKS, WEIGHTS
from smart_store.pipeline import DRIVERS, expected_subscribers, pipeline_graph

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
