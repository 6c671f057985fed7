"""Beam-break detection on synthetic shelf-front distance traces whose intervals are known.

The generator mimics the twin's distance emulator (twin/sensors.py): the empty front reads the
shelf width plus ~3 mm noise, an arm crossing the front reads the nearest crossing, nearer than
``min_range`` reads ``min_range``, beyond ``max_range`` reads "no return" (inf here, as the
driver publishes it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from smart_store.config.model import DistanceSensor
from smart_store.events.beam import BeamBreakDetector, BeamParams, ShelfBeamDetectors
from smart_store.events.model import BeamBreak

SENSOR = DistanceSensor(id="ds_x", shelf_id="shelf_x", hub="hub", channel=0, min_range=0.03,
                        max_range=2.0, fov=0.44)


@dataclass
class BeamTrace:
    t: np.ndarray
    r: np.ndarray
    truths: list[tuple[float, float, float]]   # merged (start, end, min distance)


@dataclass
class BeamBuilder:
    rng: np.random.Generator
    duration: float
    rate: float = 50.0
    width: float = 1.9
    noise: float = 0.003
    drift_m_per_min: float = 0.0
    jitter: float = 0.02
    arms: list[tuple[float, float, float]] = field(default_factory=list)
    spikes: list[tuple[float, float]] = field(default_factory=list)   # (t, dur): short dips
    no_return: list[tuple[float, float]] = field(default_factory=list)
    baseline_steps: list[tuple[float, float]] = field(default_factory=list)  # (t, new level)

    def arm(self, t0: float, t1: float, dist: float) -> None:
        self.arms.append((t0, t1, dist))

    def build(self) -> BeamTrace:
        r = self.rng
        k = np.arange(int(self.duration * self.rate))
        t = (k + np.clip(r.normal(0, self.jitter, k.size), -0.4, 0.4)) / self.rate + 0.005
        level = np.full(t.size, self.width) + self.drift_m_per_min * t / 60.0
        for ts, lv in self.baseline_steps:
            level = np.where(t >= ts, lv, level)
        true = level.copy()
        for t0, t1, d in self.arms:
            true = np.where((t >= t0) & (t < t1), np.minimum(true, d), true)
        for t0, dur in self.spikes:
            true = np.where((t >= t0) & (t < t0 + dur), np.minimum(true, 0.5), true)
        meas = true + self.noise * r.standard_normal(t.size)
        meas = np.maximum(meas, SENSOR.min_range)
        for t0, t1 in self.no_return:
            meas = np.where((t >= t0) & (t < t1), math.inf, meas)
        meas = np.where(meas > SENSOR.max_range, math.inf, meas)
        # truth: union of the arm intervals, with their minimum distance
        merged: list[list[float]] = []
        for t0, t1, d in sorted(self.arms):
            if merged and t0 <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], t1)
                merged[-1][2] = min(merged[-1][2], d)
            else:
                merged.append([t0, t1, d])
        return BeamTrace(t, meas, [(a, b, max(d, SENSOR.min_range)) for a, b, d in merged])


def run(trace: BeamTrace, det: BeamBreakDetector | None = None,
        ) -> tuple[list[BeamBreak], BeamBreakDetector]:
    det = det or BeamBreakDetector(SENSOR, 1.9)
    out = [b for ti, ri in zip(trace.t.tolist(), trace.r.tolist(), strict=True)
           for b in det.update(ti, ri)]
    return out, det


def builder(seed: int = 0, duration: float = 10.0, **kw: float) -> BeamBuilder:
    return BeamBuilder(np.random.default_rng(seed), duration, **kw)  # type: ignore[arg-type]


def assert_intervals(trace: BeamTrace, found: list[BeamBreak], rate: float = 50.0) -> None:
    assert len(found) == len(trace.truths), (found, trace.truths)
    period = 1.0 / rate
    for b, (t0, t1, d) in zip(found, trace.truths, strict=True):
        assert -0.5 * period <= b.start - t0 <= 1.5 * period, (b, t0)
        assert -0.5 * period <= b.end - t1 <= 1.5 * period, (b, t1)
        assert b.min_range == pytest.approx(d, abs=0.012)


# --------------------------------------------------------------------------------- tests
def test_single_arm_fields() -> None:
    b = builder(1)
    b.arm(3.0, 4.2, 0.85)
    trace = b.build()
    found, det = run(trace)
    assert_intervals(trace, found)
    ev = found[0]
    assert ev.sensor_id == "ds_x" and ev.shelf_id == "shelf_x"
    assert ev.baseline_range == pytest.approx(1.9, abs=0.003)
    assert ev.event_id == f"b-ds_x-{round(ev.start * 1000)}"
    assert det.margin == pytest.approx(0.03)
    assert det.noise == pytest.approx(0.003, rel=0.3)
    assert not det.in_break


def test_overlapping_arms_give_one_interval_with_the_nearest() -> None:
    b = builder(2)
    b.arm(2.0, 3.0, 0.8)
    b.arm(2.5, 3.6, 0.4)
    b.arm(3.4, 4.0, 1.2)
    trace = b.build()
    found, _ = run(trace)
    assert len(trace.truths) == 1
    assert_intervals(trace, found)
    assert found[0].min_range == pytest.approx(0.4, abs=0.012)


def test_brief_return_does_not_split_but_a_real_one_does() -> None:
    b = builder(3)
    b.arm(2.0, 2.5, 0.6)
    b.arm(2.54, 3.0, 0.7)      # back for 40 ms: one interval
    b.arm(5.0, 5.5, 0.6)
    b.arm(5.65, 6.0, 0.9)      # back for 150 ms: two intervals
    trace = b.build()
    found, _ = run(trace)
    assert [(round(x.start, 1), round(x.end, 1)) for x in found] == [
        (2.0, 3.0), (5.0, 5.5), (5.7, 6.0)]


def test_short_dips_are_noise() -> None:
    b = builder(4)
    for k in range(8):
        b.spikes.append((1.0 + k, 0.01 + 0.004 * k))   # 1 or 2 samples at 50 Hz
    trace = b.build()
    found, det = run(trace)
    assert found == []
    assert det.stats["short"] >= 6


def test_no_return_means_nothing_in_the_beam() -> None:
    b = builder(5, 12.0)
    b.no_return.append((2.0, 2.3))
    b.no_return.append((6.0, 9.0))
    b.arm(4.0, 4.5, 1.1)
    b.arm(10.0, 10.6, 0.3)
    trace = b.build()
    found, det = run(trace)
    assert_intervals(trace, found)
    assert det.baseline == pytest.approx(1.9, abs=0.01)


def test_a_sensor_that_sees_nothing_when_empty() -> None:
    b = builder(6, 8.0, width=3.0)   # the far end is beyond max_range: always "no return"
    b.arm(3.0, 3.8, 1.5)
    trace = b.build()
    found, det = run(trace, BeamBreakDetector(SENSOR, None))
    assert det.baseline == math.inf
    assert_intervals(trace, found)
    assert found[0].baseline_range == math.inf


def test_bad_samples_are_dropped_and_counted() -> None:
    det = BeamBreakDetector(SENSOR, 1.9)
    for k in range(50):
        det.update(0.02 * k, 1.9)
    det.update(0.5, 1.9)            # duplicate time
    det.update(0.3, 1.9)            # out of order
    det.update(1.2, math.nan)
    det.update(math.nan, 1.9)
    assert det.stats["out_of_order"] == 2
    assert det.stats["non_finite"] == 2
    assert det.stats["samples"] == 50


def test_slow_baseline_drift_is_tracked() -> None:
    b = builder(7, 120.0, drift_m_per_min=0.02)
    b.arm(100.0, 100.7, 1.0)
    trace = b.build()
    found, det = run(trace)
    assert_intervals(trace, found)
    assert det.baseline == pytest.approx(1.9 + 0.04, abs=0.006)


def test_something_left_in_the_beam_becomes_the_baseline() -> None:
    b = builder(8, 40.0)
    b.baseline_steps.append((2.0, 1.2))   # a box left at 1.2 m
    b.arm(30.0, 30.8, 0.5)
    trace = b.build()
    found, det = run(trace)
    assert det.stats["rebaselined"] == 1
    assert len(found) == 1
    assert found[0].min_range == pytest.approx(0.5, abs=0.012)
    assert found[0].baseline_range == pytest.approx(1.2, abs=0.01)


def test_an_arm_at_start_up_does_not_spoil_the_baseline() -> None:
    b = builder(9, 10.0)
    b.arm(0.0, 1.5, 0.7)
    b.arm(5.0, 5.6, 1.3)
    trace = b.build()
    found, det = run(trace)
    assert len(found) == 1
    assert found[0].start == pytest.approx(5.0, abs=0.03)
    assert det.baseline == pytest.approx(1.9, abs=0.005)


def test_gap_closes_an_open_interval() -> None:
    det = BeamBreakDetector(SENSOR, 1.9)
    out = []
    for k in range(100):
        out += det.update(0.02 * k, 1.9)
    for k in range(20):
        out += det.update(2.0 + 0.02 * k, 0.6)
    out += det.update(5.0, 1.9)       # 2.6 s of silence
    assert len(out) == 1
    assert out[0].end == pytest.approx(2.38)


def test_shelf_beam_detectors_by_sensor_id(root: Path) -> None:
    from smart_store.config import load_store_config

    cfg = load_store_config(root / "config" / "demo_store.yaml")
    dets = ShelfBeamDetectors(cfg)
    assert set(dets.detectors) == {"ds_a", "ds_b", "ds_c", "ds_d"}
    out: list[BeamBreak] = []
    for k in range(300):
        t = 0.02 * k
        for sid in ("ds_a", "ds_b"):
            r = 0.9 if sid == "ds_b" and 3.0 <= t < 3.5 else 1.9
            out += dets.on_range(t, sid, r)
    assert dets.on_range(1.0, "ds_zz", 1.0) == []
    assert dets.stats["unknown_sensor"] == 1
    assert len(out) == 1
    assert out[0].sensor_id == "ds_b" and out[0].shelf_id == "shelf_b"


def test_replay_ids_and_custom_params() -> None:
    b = builder(10)
    b.arm(2.0, 2.4, 1.0)
    b.arm(6.0, 6.3, 0.2)
    trace = b.build()
    first, _ = run(trace)
    second, _ = run(trace)
    assert [x.event_id for x in first] == [x.event_id for x in second]
    # a larger margin ignores the shallow intrusion at 1.85 m
    b = builder(11)
    b.arm(2.0, 2.4, 1.85)
    trace = b.build()
    assert len(run(trace)[0]) == 1
    det = BeamBreakDetector(SENSOR, 1.9, BeamParams(min_margin_m=0.08))
    assert run(trace, det)[0] == []


def test_randomized_beam_traces() -> None:
    tp = fp = fn = 0
    errs: list[float] = []
    misses: list[str] = []
    for seed in range(60):
        r = np.random.default_rng(500 + seed)
        rate = float(r.choice([25.0, 50.0, 100.0]))
        b = builder(500 + seed, 30.0, rate=rate, noise=float(r.uniform(0.001, 0.005)),
                    drift_m_per_min=float(r.uniform(-0.01, 0.01)))
        t = 1.0
        while t < 25.0:
            a = t + float(r.uniform(0.0, 0.4))
            for _ in range(int(r.integers(1, 4))):   # 1-3 arms, each overlapping the last
                dur = float(r.uniform(0.15, 1.5))
                b.arm(a, a + dur, float(r.uniform(0.05, 1.8)))
                a += float(r.uniform(0.0, dur))
            end = max(x[1] for x in b.arms)
            if r.random() < 0.3:   # a one-sample dip well after the arms
                b.spikes.append((end + float(r.uniform(0.4, 0.6)), 0.3 / rate))
            t = end + float(r.uniform(0.9, 2.0))
        trace = b.build()
        found, _ = run(trace)
        used: set[int] = set()
        for t0, t1, d in trace.truths:
            hit = next((i for i, x in enumerate(found) if i not in used
                        and abs(x.start - t0) < 0.1 and abs(x.end - t1) < 0.1
                        and abs(x.min_range - d) < 0.02), None)
            if hit is None:
                fn += 1
                misses.append(f"{500 + seed} FN {(t0, t1, d)} {found}")
                continue
            used.add(hit)
            tp += 1
            errs += [found[hit].start - t0, found[hit].end - t1]
        fp += len(found) - len(used)
        misses += [f"{500 + seed} FP {x}" for i, x in enumerate(found) if i not in used]
    assert tp > 300
    assert tp / (tp + fp) >= 0.995 and tp / (tp + fn) >= 0.995, (tp, fp, fn, misses)
    assert float(np.percentile(np.abs(errs), 95)) <= 0.04
