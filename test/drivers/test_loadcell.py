"""Load-cell logic: calibration persistence, tare and known-weight calibration, frames, stale."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smart_store.config import StoreConfig, load_store_config
from smart_store.drivers.loadcell import (
    CalibrationError,
    CalibrationStore,
    FrameAssembler,
    RecentCounts,
    StaleTracker,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def cfg() -> StoreConfig:
    return load_store_config(ROOT / 'config' / 'demo_store.yaml')


def test_config_calibration_converts_counts(cfg: StoreConfig) -> None:
    lane = cfg.lanes()[0]
    cell = lane.load_cell
    store = CalibrationStore(cfg, None)
    cal = store.get(cell.hub, cell.channel)
    assert cal is not None
    assert cal.grams(cell.offset + 350 * cell.scale) == pytest.approx(350.0)
    assert store.get(cell.hub, 63) is None


def test_tare_and_calibrate_persist_and_reload(cfg: StoreConfig, tmp_path: Path) -> None:
    lane = cfg.lanes()[3]
    hub, ch = lane.load_cell.hub, lane.load_cell.channel
    path = tmp_path / 'cal' / 'calibration.json'
    store = CalibrationStore(cfg, path)
    store.tare(hub, ch, 100_000.0)
    cal = store.calibrate(hub, ch, 100_000.0 + 200.0 * 500.0, known_grams=500.0)
    assert cal.offset == 100_000.0 and cal.scale == pytest.approx(200.0)
    reloaded = CalibrationStore(cfg, path)
    assert reloaded.get(hub, ch) == cal and reloaded.loaded_overrides == len(cfg.lanes())
    data = json.loads(path.read_text())
    assert {e['lane'] for e in data['channels']} == {lane.id for lane in cfg.lanes()}


def test_bad_calibrations_are_refused(cfg: StoreConfig, tmp_path: Path) -> None:
    lane = cfg.lanes()[0]
    hub, ch = lane.load_cell.hub, lane.load_cell.channel
    store = CalibrationStore(cfg, tmp_path / 'c.json')
    store.tare(hub, ch, 50_000.0)
    with pytest.raises(CalibrationError, match='tared first'):
        store.calibrate(hub, ch, 40_000.0, 500.0)  # reading below the offset
    with pytest.raises(CalibrationError, match='positive'):
        store.calibrate(hub, ch, 60_000.0, 0.0)
    with pytest.raises(CalibrationError, match='no load-cell channel'):
        store.tare('nohub', 0, 1.0)
    (tmp_path / 'broken.json').write_text('{"channels": [{"hub": 1}]}')
    with pytest.raises(CalibrationError, match='bad calibration entry'):
        CalibrationStore(cfg, tmp_path / 'broken.json')


def test_recent_counts_mean() -> None:
    recent = RecentCounts(horizon=5.0)
    for i in range(100):
        recent.add(i * 0.1, 'h', 0, 1000 + (i % 2))
    mean, n = recent.mean('h', 0, 1.0, now=9.9)
    assert n == 11 and mean == pytest.approx(1000.45, abs=0.1)
    with pytest.raises(CalibrationError):
        recent.mean('h', 1, 1.0, now=9.9)


def test_frames_group_one_hub_instant() -> None:
    asm = FrameAssembler()
    assert asm.add(1.0, 100, 0, 5) == []
    assert asm.add(1.0, 100, 1, 6) == []
    frames = asm.add(1.0125, 112, 0, 7)
    assert len(frames) == 1 and frames[0].samples == ((0, 5), (1, 6)) and frames[0].hub_ms == 100
    assert asm.flush()[0].samples == ((0, 7),)


def test_stale_tracker() -> None:
    tracker = StaleTracker([('h', 0), ('h', 1)], timeout=0.5, start=0.0)
    tracker.seen('h', 0, 1.0)
    assert tracker.stale_channels(1.2) == [('h', 1)]
    assert tracker.stale('h', 0, 1.6) and not tracker.stale('h', 0, 1.4)
