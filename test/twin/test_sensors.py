"""Load-cell and distance-sensor emulation against a small scripted fake world.

The fake implements only the World methods the emulators use (design contract), so these
tests do not depend on twin/world.py.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from smart_store.config import StoreConfig, load_store_config
from smart_store.drivers.protocol import COUNTS_MAX, COUNTS_MIN, encode_distance, encode_loadcell
from smart_store.twin.model import LoadCellFault
from smart_store.twin.sensors import DistanceEmulator, LoadCellEmulator

DEMO = Path(__file__).resolve().parents[2] / 'config' / 'demo_store.yaml'


class FakeWorld:
    """Scripted lane weights (steps), hands in lanes and shelf-front intrusions."""

    def __init__(
        self,
        initial: dict[str, float] | None = None,
        changes: Sequence[tuple[float, str, float]] = (),
        hands: Sequence[tuple[float, float, str]] = (),
        intrusions: Sequence[tuple[float, float, str, float]] = (),
    ) -> None:
        self.initial = dict(initial or {})
        self.lane_changes = sorted(changes)
        self.hands = list(hands)          # (start, end, lane)
        self.intrusions = list(intrusions)  # (start, end, shelf, metres)
        self.hand_calls = 0

    def lane_weights_at(self, t: float) -> dict[str, float]:
        weights = dict(self.initial)
        for tc, lane, delta in self.lane_changes:
            if tc <= t:
                weights[lane] = weights.get(lane, 0.0) + delta
        return weights

    def hands_in_lanes_at(self, t: float) -> dict[str, int]:
        self.hand_calls += 1
        out: dict[str, int] = {}
        for a, b, lane in self.hands:
            if a <= t < b:
                out[lane] = out.get(lane, 0) + 1
        return out

    def shelf_intrusions_at(self, t: float) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for a, b, shelf, d in self.intrusions:
            if a <= t < b:
                out.setdefault(shelf, []).append(d)
        return out


@pytest.fixture(scope='module')
def cfg() -> StoreConfig:
    return load_store_config(DEMO)


def lane_series(
    samples: list[tuple[float, str, int, int]], cfg: StoreConfig, lane_id: str
) -> tuple[np.ndarray, np.ndarray]:
    """(times, grams) of one lane, converted with its channel calibration."""
    cell = cfg.lane(lane_id).load_cell
    rows = [(t, v) for t, h, c, v in samples if h == cell.hub and c == cell.channel]
    t = np.array([r[0] for r in rows])
    return t, cell.grams(np.array([r[1] for r in rows]))


QUIET = {'noise_g': 0.0, 'drift_g_per_min': 0.0}


# --------------------------------------------------------------------------- load cells
def test_step_appears_in_counts_with_channel_calibration(cfg: StoreConfig) -> None:
    world = FakeWorld({'A2a': 4200.0}, [(5.0, 'A2a', -350.0)])
    samples = LoadCellEmulator(cfg, world, (), seed=1).samples(0.0, 10.0)
    assert cfg.lane('A2a').load_cell.hub == 'hub_lc_a'
    t, g = lane_series(samples, cfg, 'A2a')
    before, after = g[(t >= 2.0) & (t < 4.9)], g[(t >= 7.0) & (t < 10.0)]
    assert before.mean() == pytest.approx(4200.0, abs=1.5)
    assert after.mean() == pytest.approx(3850.0, abs=1.5)
    assert np.all(np.abs(before - 4200.0) < 10.0)
    # raw counts really are offset + scale * grams
    cell = cfg.lane('A2a').load_cell
    raw = [v for _, h, c, v in samples if (h, c) == (cell.hub, cell.channel)]
    assert np.mean(raw[-200:]) == pytest.approx(cell.offset + cell.scale * 3850.0, abs=400)
    # an empty lane with no changes reads ~0 g
    t0, g0 = lane_series(samples, cfg, 'D3b')
    assert abs(g0.mean()) < 1.5 and t0.size == 800


def test_noise_rms_and_drift(cfg: StoreConfig) -> None:
    world = FakeWorld({lane.id: 1000.0 for lane in cfg.lanes()})
    samples = LoadCellEmulator(cfg, world, (), seed=2).samples(0.0, 10.0)
    for lane_id in ('A1a', 'B2b', 'C3c'):
        _, g = lane_series(samples, cfg, lane_id)
        rms = np.std(np.diff(g)) / np.sqrt(2.0)  # differences cancel drift and weight
        assert 1.3 < rms < 1.7, (lane_id, rms)
    _, g = lane_series(LoadCellEmulator(cfg, world, (), seed=2, noise_g=4.0).samples(0, 5), cfg,
                       'A1a')
    assert 3.6 < np.std(np.diff(g)) / np.sqrt(2.0) < 4.4
    # drift: a random walk of ~1 g rms after a minute (30 lanes give a rough estimate)
    quiet = LoadCellEmulator(cfg, world, (), seed=3, noise_g=0.0)
    start, minute = quiet.samples(0.0, 0.1), quiet.samples(60.0, 60.1)
    d = [lane_series(minute, cfg, ln.id)[1][0] - lane_series(start, cfg, ln.id)[1][0]
         for ln in cfg.lanes()]
    assert 0.4 < float(np.sqrt(np.mean(np.square(d)))) < 2.0


def test_settling_transient_oscillates_and_decays(cfg: StoreConfig) -> None:
    world = FakeWorld({'C2a': 2000.0}, [(5.0, 'C2a', -350.0)])
    t, g = lane_series(LoadCellEmulator(cfg, world, (), seed=4, **QUIET).samples(3, 9), cfg,
                       'C2a')
    dev = g - 1650.0
    assert np.all(np.abs(g[t < 5.0] - 2000.0) < 0.05)
    first = dev[(t >= 5.0) & (t < 5.3)]
    assert 0.07 * 350 < np.abs(first).max() <= 0.2 * 350 + 0.05   # 10-20 % of the step
    assert np.abs(dev[(t >= 5.5) & (t < 6.0)]).max() < np.abs(first).max() / 2
    assert np.abs(dev[t >= 7.5]).max() < 0.5                      # settled after 2.5 s
    window = dev[(t >= 5.0) & (t < 5.6)]
    assert np.count_nonzero(np.diff(np.sign(window))) >= 3        # 4-8 Hz ringing


def test_hand_pressure_ramps_in_and_out(cfg: StoreConfig) -> None:
    world = FakeWorld({'A1b': 500.0}, hands=[(2.0, 4.0, 'A1b')])
    em = LoadCellEmulator(cfg, world, (), seed=5, **QUIET)
    t, g = lane_series(em.samples(0, 6), cfg, 'A1b')
    extra = g - 500.0
    plateau = extra[(t >= 2.5) & (t < 3.95)]
    assert 15.0 < plateau.mean() < 65.0
    assert np.all(np.abs(extra[t < 2.0]) < 0.05)
    ramp = extra[(t >= 2.0) & (t < 2.1)]
    assert 0 < ramp[0] < plateau.min()                            # ramps in, no jump
    assert np.all(np.abs(extra[t >= 4.3]) < 0.05)                 # and back out
    assert world.hand_calls < 6 * 20 + 40                         # a 20 Hz grid, cached


def test_bump_returns_to_baseline(cfg: StoreConfig) -> None:
    world = FakeWorld({'A3a': 3000.0})
    bump = LoadCellFault('bump', start=3.0, duration=0.8, lane='A3a', grams=200.0)
    t, g = lane_series(LoadCellEmulator(cfg, world, [bump], seed=6, **QUIET).samples(0, 6), cfg,
                       'A3a')
    dev = g - 3000.0
    assert 190.0 < dev.max() <= 200.05
    assert t[np.argmax(dev)] == pytest.approx(3.4, abs=0.05)
    assert np.all(np.abs(dev[(t < 3.0) | (t >= 3.8)]) < 0.05)
    # with the default noise it is back within noise right after the bump
    t, g = lane_series(LoadCellEmulator(cfg, world, [bump], seed=6).samples(0, 6), cfg, 'A3a')
    assert np.abs(g[t >= 3.8] - 3000.0).max() < 10.0


def test_noise_burst(cfg: StoreConfig) -> None:
    world = FakeWorld({'B1a': 3000.0})
    burst = LoadCellFault('noise_burst', start=2.0, duration=2.0, lane='B1a', grams=25.0)
    t, g = lane_series(LoadCellEmulator(cfg, world, [burst], seed=7).samples(0, 6), cfg, 'B1a')
    inside = (t >= 2.0) & (t < 4.0)
    assert 21.0 < np.std(g[inside]) < 29.0
    assert np.std(g[~inside]) < 2.0


def test_stall_produces_no_samples(cfg: StoreConfig) -> None:
    world = FakeWorld()
    stall = LoadCellFault('stall', start=2.0, duration=2.0, hub='hub_lc_b')
    em = LoadCellEmulator(cfg, world, [stall], seed=8)
    samples = em.samples(0, 6)
    during = {h for t, h, _, _ in samples if 2.0 <= t < 4.0}
    assert during == {'hub_lc_a', 'hub_lc_c', 'hub_lc_d'}
    assert any(h == 'hub_lc_b' and t >= 4.0 for t, h, _, _ in samples)
    assert any(h == 'hub_lc_b' and t < 2.0 for t, h, _, _ in samples)
    assert em.hub_stalled('hub_lc_b', 3.0) and not em.hub_stalled('hub_lc_b', 4.0)
    assert not em.hub_stalled('hub_lc_a', 3.0)
    # a stall given by lane stalls that lane's hub
    by_lane = LoadCellEmulator(cfg, world, [LoadCellFault('stall', 1.0, 1.0, lane='D2b')], seed=8)
    assert by_lane.hub_stalled('hub_lc_d', 1.5)


def test_invalid_faults_are_rejected(cfg: StoreConfig) -> None:
    world = FakeWorld()
    for fault in (
        LoadCellFault('bump', 1.0, 1.0, lane='nope', grams=5.0),
        LoadCellFault('noise_burst', 1.0, 1.0, grams=5.0),
        LoadCellFault('stall', 1.0, 1.0, hub='hub_nope'),
    ):
        with pytest.raises(ValueError):
            LoadCellEmulator(cfg, world, [fault], seed=0)


def test_counts_clamp_to_24_bit(cfg: StoreConfig) -> None:
    world = FakeWorld({'A1a': 1e9, 'A1b': -1e9})
    samples = LoadCellEmulator(cfg, world, (), seed=9).samples(0, 0.5)
    values = {lane: {v for _, h, c, v in samples
                     if (h, c) == (cfg.lane(lane).load_cell.hub, cfg.lane(lane).load_cell.channel)}
              for lane in ('A1a', 'A1b')}
    assert values == {'A1a': {COUNTS_MAX}, 'A1b': {COUNTS_MIN}}


def test_per_hub_rates_phases_and_order(cfg: StoreConfig) -> None:
    world = FakeWorld({lane.id: 800.0 for lane in cfg.lanes()})
    lc = LoadCellEmulator(cfg, world, (), seed=10)
    ds = DistanceEmulator(cfg, world, seed=10)
    lc_samples, ds_samples = lc.samples(0, 10), ds.samples(0, 10)
    assert lc.hub_ids == ('hub_lc_a', 'hub_lc_b', 'hub_lc_c', 'hub_lc_d')
    assert ds.hub_ids == ('hub_distance',)
    first: dict[str, float] = {}
    for hub_id, n_channels, rate, samples in (
        ('hub_lc_a', 8, 80, lc_samples),
        ('hub_lc_b', 7, 80, lc_samples),
        ('hub_lc_c', 8, 80, lc_samples),
        ('hub_lc_d', 7, 80, lc_samples),
        ('hub_distance', 4, 50, ds_samples),
    ):
        rows = [(t, c) for t, h, c, _ in samples if h == hub_id]
        instants = sorted({t for t, _ in rows})
        assert abs(len(instants) - rate * 10) <= 1, hub_id
        assert len(rows) == len(instants) * n_channels            # all channels per instant
        gaps = np.diff(instants)
        assert np.all(np.abs(gaps * rate - 1.0) < 0.1), hub_id    # jitter is a little
        assert gaps.std() > 0                                     # but there is some
        assert [c for t, c in rows[:n_channels]] == list(range(n_channels))
        first[hub_id] = instants[0]
    assert len(set(first.values())) == 5                          # per-hub phase offsets
    keys = [(t, h, c) for t, h, c, _ in lc_samples]
    hub_rank = {h: i for i, h in enumerate(lc.hub_ids)}
    assert keys == sorted(keys, key=lambda k: (k[0], hub_rank[k[1]], k[2]))
    assert lc.sample_period('hub_lc_a') == pytest.approx(1 / 80)


def test_samples_are_encodable(cfg: StoreConfig) -> None:
    world = FakeWorld({'A1c': 6390.0}, hands=[(0.5, 1.5, 'A1c')],
                      intrusions=[(0.5, 1.0, 'shelf_a', 0.2)])
    for t, _, c, v in LoadCellEmulator(cfg, world, (), seed=11).samples(0, 2):
        encode_loadcell(int(t * 1000), c, v)
    for t, _, c, v in DistanceEmulator(cfg, world, seed=11).samples(0, 2):
        encode_distance(int(t * 1000), c, v)


# --------------------------------------------------------------------------- determinism
def busy_world(cfg: StoreConfig) -> FakeWorld:
    return FakeWorld(
        {lane.id: 1000.0 for lane in cfg.lanes()},
        [(1.3, 'A1a', -520.0), (4.7, 'B2c', 290.0), (4.7, 'A1a', 520.0), (9.1, 'D1a', -105.0)],
        hands=[(1.0, 1.6, 'A1a'), (4.4, 5.0, 'B2c'), (8.8, 9.4, 'D1a')],
        intrusions=[(1.0, 1.6, 'shelf_a', 0.3), (4.4, 5.0, 'shelf_b', 1.2)],
    )


FAULTS = (
    LoadCellFault('bump', 2.0, 0.5, lane='C1a', grams=80.0),
    LoadCellFault('noise_burst', 3.0, 1.0, lane='C1b', grams=20.0),
    LoadCellFault('stall', 6.0, 1.5, hub='hub_lc_d'),
)


def chunked(em: LoadCellEmulator | DistanceEmulator, t_end: float, seed: int) -> list:
    rng = random.Random(seed)
    out: list = []
    t = 0.0
    while t < t_end:
        nxt = min(t_end, t + rng.choice([0.001, 0.0125, 0.2, 0.73, 1.0, 3.3]))
        out += em.samples(t, nxt)
        t = nxt
    return out


def test_deterministic_and_chunking_invariant(cfg: StoreConfig) -> None:
    world = busy_world(cfg)
    whole = LoadCellEmulator(cfg, world, FAULTS, seed=42).samples(0.0, 12.0)
    assert whole == LoadCellEmulator(cfg, busy_world(cfg), FAULTS, seed=42).samples(0.0, 12.0)
    assert whole == chunked(LoadCellEmulator(cfg, world, FAULTS, seed=42), 12.0, seed=1)
    em = LoadCellEmulator(cfg, world, FAULTS, seed=42)
    assert em.samples(0, 10) == em.samples(0, 5) + em.samples(5, 10)
    late_first = LoadCellEmulator(cfg, world, FAULTS, seed=42)   # cold cache, asked out of order
    tail = late_first.samples(7.0, 12.0)
    assert late_first.samples(0.0, 7.0) + tail == whole
    other = LoadCellEmulator(cfg, world, FAULTS, seed=43).samples(0.0, 12.0)
    assert [s[3] for s in other] != [s[3] for s in whole]

    dwhole = DistanceEmulator(cfg, world, seed=42).samples(0.0, 12.0)
    assert dwhole == chunked(DistanceEmulator(cfg, world, seed=42), 12.0, seed=2)
    assert dwhole != DistanceEmulator(cfg, world, seed=7).samples(0.0, 12.0)
    assert em.samples(3.0, 3.0) == [] and em.samples(4.0, 3.0) == []


# --------------------------------------------------------------------------- distance sensors
def test_distance_idle_intrusion_and_ranges(cfg: StoreConfig) -> None:
    world = FakeWorld(intrusions=[
        (2.0, 3.0, 'shelf_b', 0.45),
        (2.5, 3.0, 'shelf_b', 1.10),      # a second arm further along: the nearer one counts
        (4.0, 4.5, 'shelf_c', 0.01),      # inside min_range
    ])
    samples = DistanceEmulator(cfg, world, seed=12).samples(0, 5)

    def series(channel: int) -> tuple[np.ndarray, np.ndarray]:
        rows = [(t, v) for t, h, c, v in samples if h == 'hub_distance' and c == channel]
        return np.array([r[0] for r in rows]), np.array([r[1] for r in rows], dtype=float)

    assert cfg.shelf('shelf_b').distance_sensor.channel == 1
    t, mm = series(1)
    idle = mm[(t < 2.0) | (t >= 3.0)]
    assert idle.mean() == pytest.approx(1900.0, abs=1.5)          # the far end of the shelf
    assert 2.4 < idle.std() < 3.6
    arm = mm[(t >= 2.0) & (t < 3.0)]
    assert arm.mean() == pytest.approx(450.0, abs=2.0)
    assert np.all(np.abs(arm - 450.0) < 15.0)
    t, mm = series(2)
    assert set(mm[(t >= 4.0) & (t < 4.5)]) == {30.0}               # clamped to min_range
    t, mm = series(0)
    assert np.all(np.abs(mm - 1900.0) < 20.0)                     # other shelves unaffected

    # a sensor whose range ends before the far end reads 65535 unless an arm is in range
    short = dataclasses.replace(cfg.shelf('shelf_b').distance_sensor, max_range=1.5)
    shelves = tuple(dataclasses.replace(s, distance_sensor=short) if s.id == 'shelf_b' else s
                    for s in cfg.shelves)
    short_cfg = dataclasses.replace(cfg, shelves=shelves)
    rows = [(t, v) for t, h, c, v in DistanceEmulator(short_cfg, world, seed=12).samples(0, 5)
            if c == 1]
    assert {v for t, v in rows if t < 2.0} == {65535}
    assert all(abs(v - 450) < 15 for t, v in rows if 2.0 <= t < 3.0)
