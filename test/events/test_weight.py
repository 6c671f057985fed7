"""Weight-change detection on synthetic load-cell traces whose events are known.

The trace generator below (``TraceBuilder``, ``random_trace``, ``score``) is also used by
``benchmarks/events_synthetic.py``. It models what the twin's load-cell emulator models
(twin/sensors.py): white noise, drift, a damped settling oscillation after every step
(``delta * A * exp(-dt / tau) * cos(2 pi f dt)``, A 10-20 %, f 4-8 Hz), hand pressure while a hand
is in the lane (20-50 g, a slow 0.7 Hz +-25 % wobble, 0.25 s ramps), bumps
(``grams * sin(pi u)**2``), noise bursts, irregular sample times and gaps; reaches are timed
like the twin's (a normal reach holds the hand in the lane ~0.5-1 s and lifts at 60 % of the
hold; a hesitant one pauses 1-1.5 s with the hand in the lane).

Truth per action: ``start`` = the first moment the noise-free signal moves (hand ramp or step),
``end`` = the last moment the noise-free signal is further than 2 sigma from its final level
(the true settle time), ``delta`` = the sum of its item steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from smart_store.events.model import WeightEvent
from smart_store.events.weight import (
    ShelfEventDetector,
    WeightChangeDetector,
    WeightDetectorParams,
    default_min_delta,
)

FloatArray = np.ndarray

#: unit weights (g) and item sd (g) of the demo catalogue, light to heavy
CATALOG_UNITS: tuple[tuple[float, float], ...] = (
    (32.0, 0.8), (44.0, 1.0), (65.0, 1.0), (85.0, 2.0), (95.0, 2.0), (102.0, 1.5),
    (105.0, 1.5), (112.0, 1.5), (162.0, 2.5), (168.0, 2.5), (185.0, 6.0), (208.0, 2.0),
    (215.0, 3.0), (228.0, 3.0), (262.0, 3.0), (275.0, 1.5), (290.0, 2.0), (350.0, 2.0),
    (356.0, 2.0), (520.0, 3.0), (535.0, 3.0), (1040.0, 6.0), (1065.0, 6.0),
)
HAND_WOBBLE_HZ = 0.7


# ------------------------------------------------------------------------------ generator
@dataclass
class Truth:
    delta: float
    start: float
    end: float
    kind: str
    lane: str = "L"


@dataclass
class Trace:
    t: FloatArray
    y: FloatArray
    truths: list[Truth]
    unit: float
    unit_sd: float
    sigma: float
    rate: float
    lane: str = "L"


@dataclass
class _Step:
    t: float
    delta: float
    amp: float
    freq: float
    tau: float


@dataclass
class TraceBuilder:
    """Compose a one-lane trace; every action method returns the time its disturbance ends."""

    rng: np.random.Generator
    duration: float
    unit: float = 350.0
    unit_sd: float = 2.0
    sigma: float = 1.5
    rate: float = 80.0
    jitter: float = 0.02              # of a period, rms
    base: float = 3000.0
    drift_g_per_min: float = 1.0      # linear drift ...
    drift_walk: float = 0.5           # ... plus a random walk (g rms after one minute)
    settle_tau: tuple[float, float] = (0.1, 0.4)
    lane: str = "L"
    steps: list[_Step] = field(default_factory=list)
    hands: list[tuple[float, float, float, float]] = field(default_factory=list)
    bumps: list[tuple[float, float, float]] = field(default_factory=list)
    bursts: list[tuple[float, float, float]] = field(default_factory=list)
    gaps: list[tuple[float, float]] = field(default_factory=list)
    actions: list[tuple[str, float, float, float]] = field(default_factory=list)

    # -- primitives
    def item(self) -> float:
        return float(self.unit + self.unit_sd * self.rng.standard_normal())

    def step(self, t: float, delta: float) -> None:
        r = self.rng
        self.steps.append(_Step(t, delta, float(r.uniform(0.10, 0.20)),
                                float(r.uniform(4.0, 8.0)), float(r.uniform(*self.settle_tau))))

    def hand(self, t_in: float, t_out: float, grams: float | None = None) -> None:
        g = float(self.rng.uniform(20.0, 50.0)) if grams is None else grams
        self.hands.append((t_in, t_out, g, float(self.rng.uniform(0.0, 2 * math.pi))))

    def bump(self, t: float, dur: float, grams: float) -> float:
        self.bumps.append((t, dur, grams))
        self.actions.append(("bump", t, 0.0, t + dur))
        return t + dur

    def burst(self, t: float, dur: float, rms: float) -> float:
        self.bursts.append((t, dur, rms))
        self.actions.append(("burst", t, 0.0, t + dur))
        return t + dur

    def gap(self, t: float, dur: float) -> None:
        self.gaps.append((t, t + dur))

    # -- actions (twin-like timing)
    def pick(self, t: float, qty: int = 1, *, hand: bool = True, put: bool = False) -> float:
        """A reach that takes (or puts, ``put``) ``qty`` items; the hand presses the lane."""
        r = self.rng
        delta = sum(self.item() for _ in range(qty)) * (1 if put else -1)
        if not hand:
            self.step(t, delta)
            self.actions.append(("put" if put else "pick", t, delta, t))
            return t
        t_in = float(r.uniform(0.1, 0.2))
        hold = float(r.uniform(0.25, 0.6))
        t_change = t + t_in + (0.5 if put else 0.6) * hold
        t_out = t + t_in + hold + float(r.uniform(0.1, 0.2))
        self.hand(t, t_out)
        self.step(t_change, delta)
        self.actions.append(("put" if put else "pick", t, delta, t_out + 0.25))
        return t_out + 0.25

    def reach_only(self, t: float, dwell: float | None = None) -> float:
        dwell = float(self.rng.uniform(0.4, 1.0)) if dwell is None else dwell
        self.hand(t, t + dwell)
        self.actions.append(("reach", t, 0.0, t + dwell + 0.25))
        return t + dwell + 0.25

    def hesitant_pick(self, t: float, qty: int = 1) -> float:
        """Hand in the lane for 3-5 s: pauses, fiddles with the item (partial, moving lifts)."""
        r = self.rng
        total = float(r.uniform(3.0, 5.0))
        delta = -sum(self.item() for _ in range(qty))
        t_lift = t + total - float(r.uniform(0.4, 0.7))
        self.hand(t, t + total)
        # fiddling: the item is tilted / half-lifted, a smooth continuous wander (no plateau)
        n_f = int(r.integers(3, 7))
        t_f = np.sort(r.uniform(t + 0.6, t_lift - 0.3, n_f))
        for tf in t_f:
            dip = -float(r.uniform(0.1, 0.5)) * abs(delta)
            self.bump(float(tf), float(r.uniform(0.3, 0.6)), dip)
            self.actions.pop()
        self.step(t_lift, delta)
        self.actions.append(("hesitant", t, delta, t + total + 0.25))
        return t + total + 0.25

    # -- evaluation
    def clean(self, t: FloatArray) -> FloatArray:
        """Noise-free, drift-free lane weight (hand, steps, settling, bumps)."""
        y = np.full(t.shape, self.base)
        lo, hi = float(t.min()), float(t.max())
        for s in self.steps:
            if s.t > hi:
                continue
            if s.t + 12 * s.tau < lo:   # settled long before: just the step
                y += s.delta
                continue
            dt = t - s.t
            on = dt >= 0.0
            y += np.where(on, s.delta, 0.0)
            y += np.where(on, s.delta * s.amp * np.exp(-np.maximum(dt, 0) / s.tau)
                          * np.cos(2 * np.pi * s.freq * dt), 0.0)
        for t_in, t_out, g, ph in self.hands:
            if t_in > hi or t_out + 0.25 < lo:
                continue
            ramp = np.clip((t - t_in) / 0.25, 0, 1) - np.clip((t - t_out) / 0.25, 0, 1)
            y += g * (1 + 0.25 * np.sin(2 * np.pi * HAND_WOBBLE_HZ * t + ph)) * ramp
        for t0, dur, g in self.bumps:
            if t0 > hi or t0 + dur < lo:
                continue
            u = (t - t0) / dur
            y += np.where((u >= 0) & (u < 1), g * np.sin(np.pi * u) ** 2, 0.0)
        return y

    def build(self) -> Trace:
        r = self.rng
        period = 1.0 / self.rate
        k = np.arange(int(self.duration * self.rate))
        t = (k + np.clip(r.normal(0, self.jitter, k.size), -0.4, 0.4)) * period + 0.01
        keep = np.ones(t.size, dtype=bool)
        for a, b in self.gaps:
            keep &= ~((t >= a) & (t < b))
        t = t[keep]
        y = self.clean(t)
        y += self.sigma * r.standard_normal(t.size)
        knots = np.cumsum(r.normal(0, self.drift_walk / math.sqrt(60), int(self.duration) + 2))
        y += np.interp(t, np.arange(knots.size), knots)
        y += self.drift_g_per_min * t / 60.0
        for t0, dur, rms in self.bursts:
            inside = (t >= t0) & (t < t0 + dur)
            y += np.where(inside, rms * r.standard_normal(t.size), 0.0)
        return Trace(t, y, self._truths(), self.unit, self.unit_sd, self.sigma, self.rate,
                     self.lane)

    def _truths(self) -> list[Truth]:
        min_delta = default_min_delta(self.unit)
        acts = sorted(self.actions, key=lambda a: a[1])
        out: list[Truth] = []
        for i, (kind, t0, delta, t_end) in enumerate(acts):
            if abs(delta) < min_delta:
                continue
            t_next = acts[i + 1][1] if i + 1 < len(acts) else self.duration
            grid = np.arange(t0 - 0.05, t_next - 0.01, 0.004)
            clean = self.clean(grid)
            before = clean[0]
            final = clean[-1]
            moved = np.nonzero(np.abs(clean - before) > 1e-6)[0]
            start = float(grid[moved[0]]) if moved.size else t0
            far = np.nonzero(np.abs(clean - final) > 2 * self.sigma)[0]
            end = float(grid[far[-1]]) if far.size else t_end
            out.append(Truth(delta, start, max(end, start), kind, self.lane))
        return out


def settle_time(b: TraceBuilder, t_act: float) -> float:
    """True settle time of the action starting at ``t_act`` (as in ``_truths``)."""
    return next(tr.end for tr in b._truths() if abs(tr.start - t_act) < 0.5)


def run(trace: Trace, det: WeightChangeDetector | None = None,
        ) -> tuple[list[WeightEvent], list[float]]:
    """Feed a trace; returns the events and the time each was emitted."""
    det = det or WeightChangeDetector(trace.lane, "S", unit_weight_g=trace.unit,
                                      unit_sd_g=trace.unit_sd)
    events: list[WeightEvent] = []
    emitted: list[float] = []
    for ti, yi in zip(trace.t.tolist(), trace.y.tolist(), strict=True):
        for ev in det.update(ti, yi):
            events.append(ev)
            emitted.append(ti)
    return events, emitted


def random_trace(seed: int, duration: float = 40.0) -> Trace:
    """A random lane: rate, noise, product, and a random sequence of actions and disturbances."""
    r = np.random.default_rng(seed)
    unit, sd = CATALOG_UNITS[int(r.integers(len(CATALOG_UNITS)))]
    rate = float(r.choice([10.0, 20.0, 40.0, 80.0]))
    b = TraceBuilder(
        r, duration, unit=unit, unit_sd=sd, sigma=float(r.uniform(1.0, 2.0)), rate=rate,
        jitter=float(r.uniform(0.0, 0.1)), base=float(r.uniform(0.0, 3000.0)) + 12 * unit,
        drift_g_per_min=float(r.uniform(-1.0, 1.0)),
    )
    t = float(r.uniform(2.0, 3.0))
    while True:
        kind = r.choice(["pick", "put", "multi", "hesitant", "reach", "bump", "burst",
                         "double", "quick", "bare"],
                        p=[0.26, 0.12, 0.08, 0.08, 0.14, 0.08, 0.05, 0.07, 0.06, 0.06])
        if t + 6.0 > duration - 4.0:
            break
        if kind == "pick":
            end = b.pick(t)
        elif kind == "put":
            end = b.pick(t, put=True)
        elif kind == "multi":
            end = b.pick(t, int(r.integers(2, 4)))
        elif kind == "hesitant":
            end = b.hesitant_pick(t)
        elif kind == "reach":
            end = b.reach_only(t, float(r.uniform(0.3, 2.5)))
        elif kind == "bump":
            grams = float(r.choice([-1, 1]) * r.uniform(10, 300))
            end = b.bump(t, float(r.uniform(0.2, 1.0)), grams)
        elif kind == "burst":
            end = b.burst(t, float(r.uniform(1.0, 2.5)), float(r.uniform(20.0, 30.0)))
        elif kind == "double":   # two picks with a clear plateau in between: two events
            first = b.pick(t)
            tr = b._truths()
            end = b.pick(max(first, tr[-1].end if tr else first) + float(r.uniform(0.6, 1.0)))
        elif kind == "quick":    # two items lifted 0.05-0.15 s apart: one event
            b.hand(t, t + 0.9)
            d1, d2 = -b.item(), -b.item()
            dt = float(r.uniform(0.05, 0.15))
            b.step(t + 0.4, d1)
            b.step(t + 0.4 + dt, d2)
            b.actions.append(("quick", t, d1 + d2, t + 1.15))
            end = t + 1.15
        else:                    # a bare step (no hand), either sign
            end = b.pick(t, hand=False, put=bool(r.integers(2)))
        if r.random() < 0.1:     # a short gap somewhere in the samples
            b.gap(float(r.uniform(1.0, duration - 2.0)), float(r.uniform(0.05, 0.4)))
        t = end + float(r.uniform(1.5, 3.5)) + (1.5 if abs(unit) > 500 else 0.0)
    return b.build()


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    start_err: list[float] = field(default_factory=list)
    end_err: list[float] = field(default_factory=list)
    delta_err: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)
    by_kind: dict[str, list[int]] = field(default_factory=dict)   # kind -> [found, truths]

    @property
    def precision(self) -> float:
        return self.tp / max(1, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return self.tp / max(1, self.tp + self.fn)


def score(trace: Trace, events: Sequence[WeightEvent], emitted: Sequence[float],
          acc: Score | None = None, tag: str = "") -> Score:
    """Greedy one-to-one matching in time order: same lane, overlapping in time (1 s slack),
    delta within 25 % of a unit (or 10 g)."""
    acc = acc or Score()
    tol = max(10.0, 0.25 * trace.unit)
    used: set[int] = set()
    for tr in trace.truths:
        acc.by_kind.setdefault(tr.kind, [0, 0])[1] += 1
        best = None
        for i, ev in enumerate(events):
            if i in used or ev.lane_id != tr.lane:
                continue
            if ev.start > tr.end + 1.0 or ev.end < tr.start - 1.0:
                continue
            if abs(ev.delta_grams - tr.delta) > tol:
                continue
            if best is None or abs(ev.start - tr.start) < abs(events[best].start - tr.start):
                best = i
        if best is None:
            acc.fn += 1
            acc.misses.append(f"{tag} FN {tr}")
            continue
        used.add(best)
        ev = events[best]
        acc.tp += 1
        acc.by_kind[tr.kind][0] += 1
        acc.start_err.append(ev.start - tr.start)
        acc.end_err.append(ev.end - tr.end)
        acc.delta_err.append(ev.delta_grams - tr.delta)
        acc.latency.append(emitted[best] - tr.end)
    for i, ev in enumerate(events):
        if i not in used:
            acc.fp += 1
            acc.misses.append(f"{tag} FP {ev}")
    return acc


# ------------------------------------------------------------------------------- helpers
def builder(seed: int = 0, duration: float = 20.0, **kw: float) -> TraceBuilder:
    return TraceBuilder(np.random.default_rng(seed), duration, **kw)  # type: ignore[arg-type]


def assert_events(trace: Trace, events: Sequence[WeightEvent], *, delta_tol: float = 5.0,
                  start_tol: float = 0.25, end_tol: float = 0.5) -> None:
    assert len(events) == len(trace.truths), (events, trace.truths)
    for ev, tr in zip(events, trace.truths, strict=True):
        assert ev.delta_grams == pytest.approx(tr.delta, abs=delta_tol), (ev, tr)
        assert abs(ev.start - tr.start) <= start_tol, (ev, tr)
        assert abs(ev.end - tr.end) <= end_tol, (ev, tr)


# --------------------------------------------------------------------------------- tests
def test_single_pick_fields_and_timing() -> None:
    b = builder(1, unit=350.0)
    b.pick(5.0)
    trace = b.build()
    events, emitted = run(trace)
    assert_events(trace, events)
    ev, tr = events[0], trace.truths[0]
    assert ev.lane_id == "L" and ev.shelf_id == "S"
    assert ev.delta_grams < 0
    assert ev.quantity_hint == pytest.approx(-1.0, abs=0.03)
    assert ev.quantity_residual < 0.03
    assert ev.weight_after - ev.weight_before == pytest.approx(ev.delta_grams)
    assert ev.weight_before == pytest.approx(3000.0 + 5.0 / 60.0, abs=1.5)
    assert 0.8 <= ev.stability <= 1.0
    assert ev.noise_grams == pytest.approx(1.5, rel=0.3)
    assert not ev.stale
    assert ev.event_id == f"w-L-{round(ev.start * 1000)}"
    assert emitted[0] - tr.end <= 0.6


@pytest.mark.parametrize("rate", [10.0, 20.0, 40.0, 80.0])
def test_pick_and_put_back_at_every_rate(rate: float) -> None:
    b = builder(2, 25.0, unit=212.0, rate=rate, jitter=0.1)
    b.pick(4.0)
    b.pick(10.0, put=True)
    b.pick(16.0, hand=False)
    trace = b.build()
    events, _ = run(trace)
    assert_events(trace, events, start_tol=0.25 + 0.5 / rate)
    assert [round(e.quantity_hint) for e in events] == [-1, 1, -1]


def test_drift_and_noise_alone_give_no_event() -> None:
    for seed, drift in [(3, 1.0), (4, -1.0), (5, 3.0)]:
        b = builder(seed, 300.0, unit=32.0, sigma=2.0, drift_g_per_min=drift, drift_walk=1.0)
        events, _ = run(b.build())
        assert events == []


def test_drift_is_tracked_into_weight_before() -> None:
    b = builder(6, 130.0, unit=105.0, drift_g_per_min=1.0, drift_walk=0.0)
    b.pick(120.0)
    events, _ = run(b.build())
    assert len(events) == 1
    assert events[0].weight_before == pytest.approx(3000.0 + 2.0, abs=1.0)


def test_settling_oscillation_of_a_heavy_item() -> None:
    b = builder(7, 20.0, unit=1065.0, unit_sd=6.0, settle_tau=(0.4, 0.4))
    b.pick(5.0, hand=False)
    b.pick(12.0, put=True)
    trace = b.build()
    events, emitted = run(trace)
    assert_events(trace, events, delta_tol=5.0)
    for t_emit, tr in zip(emitted, trace.truths, strict=True):
        assert t_emit - tr.end <= 0.6


@pytest.mark.parametrize("unit", [32.0, 44.0, 65.0, 105.0, 350.0])
def test_reach_without_taking_gives_no_event(unit: float) -> None:
    b = builder(8, 40.0, unit=unit)
    t = 3.0
    for dwell in (0.3, 0.6, 1.0, 1.5, 2.5, 4.0):
        t = b.reach_only(t, dwell) + 2.5
    b.hand(t, t + 1.2, 35.0)  # two overlapping hands (two shoppers), together <= hand_max_g
    b.hand(t + 0.3, t + 1.5, 25.0)
    events, _ = run(b.build())
    assert events == []


def test_pick_with_a_long_resting_hand() -> None:
    b = builder(9, 20.0, unit=44.0, unit_sd=1.0)
    b.hand(4.0, 7.5, 20.0)
    b.step(7.2, -b.item())
    b.actions.append(("pick", 4.0, b.steps[-1].delta, 7.75))
    trace = b.build()
    events, _ = run(trace)
    assert_events(trace, events)


def test_bumps_give_no_event() -> None:
    b = builder(10, 30.0, unit=65.0)
    t = 3.0
    for dur, grams in [(0.2, 300.0), (0.5, 120.0), (0.8, 60.0), (1.0, 200.0), (0.6, -80.0),
                       (1.0, 25.0)]:
        t = b.bump(t, dur, grams) + 2.0
    events, _ = run(b.build())
    assert events == []


def test_noise_burst_gives_no_event_and_a_pick_after_it_is_found() -> None:
    b = builder(11, 20.0, unit=102.0)
    b.burst(3.0, 2.0, 30.0)
    b.burst(7.0, 2.5, 20.0)
    b.pick(10.3)              # 0.8 s after the burst: the lane settled in between
    trace = b.build()
    events, _ = run(trace)
    assert_events(trace, events)


def test_hesitant_pick_is_one_event() -> None:
    for seed, unit in [(12, 520.0), (13, 95.0), (14, 44.0)]:
        b = builder(seed, 20.0, unit=unit)
        b.hesitant_pick(4.0)
        trace = b.build()
        events, _ = run(trace)
        assert_events(trace, events)


def test_multi_item_pick_is_one_event_with_the_full_delta() -> None:
    b = builder(15, 25.0, unit=162.0)
    b.pick(4.0, qty=3)
    b.hand(10.0, 10.9)       # three items lifted 0.1 s apart in one reach
    for k in range(3):
        b.step(10.4 + 0.1 * k, -b.item())
    b.actions.append(("quick", 10.0, sum(s.delta for s in b.steps[-3:]), 11.15))
    trace = b.build()
    events, _ = run(trace)
    assert_events(trace, events, delta_tol=6.0)
    assert [round(e.quantity_hint) for e in events] == [-3, -3]


@pytest.mark.parametrize("unit", [44.0, 350.0])
def test_back_to_back_changes(unit: float) -> None:
    # a stable plateau of 0.5 s between two picks: two events
    b = builder(16, 20.0, unit=unit, settle_tau=(0.1, 0.1))
    b.pick(4.0, hand=False)
    t2 = settle_time(b, 4.0) + 0.5
    b.pick(t2, hand=False)
    trace = b.build()
    events, _ = run(trace)
    assert_events(trace, events)
    # the same without a plateau (0.1 s): one event with both items
    b = builder(17, 20.0, unit=unit, settle_tau=(0.1, 0.1))
    b.step(4.0, -b.item())
    b.step(4.1, -b.item())
    b.actions.append(("quick", 4.0, b.steps[0].delta + b.steps[1].delta, 4.1))
    trace = b.build()
    events, _ = run(trace)
    assert_events(trace, events)


def test_pick_then_put_back_with_a_plateau_is_two_events() -> None:
    b = builder(18, 20.0, unit=520.0, settle_tau=(0.1, 0.1))
    b.pick(4.0, hand=False)
    b.pick(settle_time(b, 4.0) + 0.6, hand=False, put=True)
    trace = b.build()
    events, _ = run(trace)
    assert_events(trace, events, delta_tol=8.0)
    assert [round(e.quantity_hint) for e in events] == [-1, 1]


def test_light_put_back_waits_for_the_hand_guard() -> None:
    b = builder(19, 20.0, unit=32.0, unit_sd=0.8)
    b.pick(4.0, put=True)
    trace = b.build()
    events, emitted = run(trace)
    assert_events(trace, events)
    assert emitted[0] - trace.truths[0].end <= 1.7


def test_simultaneous_changes_on_one_shelf_are_independent(root: Path) -> None:
    from smart_store.config import load_store_config

    cfg = load_store_config(root / "config" / "demo_store.yaml")
    shelf = ShelfEventDetector(cfg)
    lanes = {"A2a": (350.0, 2), "A2b": (348.0, 1), "A2c": (356.0, 0), "A3a": (275.0, -1)}
    traces = {}
    for i, (lane, (unit, qty)) in enumerate(lanes.items()):
        b = builder(20 + i, 15.0, unit=unit, lane=lane)
        if qty > 0:
            b.pick(5.0 + 0.05 * i, qty)
        elif qty < 0:
            b.pick(5.0, -qty, put=True)
        traces[lane] = b.build()
    samples = sorted((t, lane, y) for lane, tr in traces.items()
                     for t, y in zip(tr.t.tolist(), tr.y.tolist(), strict=True))
    events = [ev for t, lane, y in samples for ev in shelf.on_weights(t, lane, y)]
    by_lane = {ev.lane_id: ev for ev in events}
    assert len(events) == 3 and set(by_lane) == {"A2a", "A2b", "A3a"}
    assert round(by_lane["A2a"].quantity_hint) == -2
    assert round(by_lane["A2b"].quantity_hint) == -1
    assert round(by_lane["A3a"].quantity_hint) == 1
    assert all(ev.shelf_id == "shelf_a" for ev in events)
    for lane, ev in by_lane.items():
        tr = traces[lane].truths[0]
        assert abs(ev.start - tr.start) <= 0.25 and abs(ev.end - tr.end) <= 0.5


def test_shelf_detector_drops_and_counts_bad_samples(root: Path) -> None:
    from smart_store.config import load_store_config

    cfg = load_store_config(root / "config" / "demo_store.yaml")
    shelf = ShelfEventDetector(cfg)
    assert shelf.on_weights(0.0, "nope", 1.0) == []
    for k in range(40):
        shelf.on_weights(0.1 * k, "D3a", 500.0)
    shelf.on_weights(1.0, "D3a", 500.0)        # duplicate
    shelf.on_weights(0.5, "D3a", 500.0)        # out of order
    shelf.on_weights(4.0, "D3a", math.nan)
    shelf.on_weights(4.1, "D3a", math.inf)
    stats = shelf.stats
    assert stats["unknown_lane"] == 1
    assert stats["out_of_order"] == 2
    assert stats["non_finite"] == 2
    assert stats["samples"] == 40
    assert shelf.detectors["D3a"].stable


def test_replay_gives_the_same_event_ids() -> None:
    b = builder(22, 20.0, unit=208.0)
    b.pick(4.0)
    b.pick(9.0, put=True)
    trace = b.build()
    first, _ = run(trace)
    second, _ = run(trace)
    assert [e.event_id for e in first] == [e.event_id for e in second]
    assert len({e.event_id for e in first}) == 2


def test_gap_inside_an_event_marks_it_stale() -> None:
    b = builder(23, 20.0, unit=350.0)
    b.gap(15.0, 2.0)          # a silence while stable: nothing
    b.pick(5.0)
    b.gap(5.3, 1.5)
    trace = b.build()
    events, _ = run(trace)
    assert len(events) == 1
    assert events[0].stale
    assert events[0].delta_grams == pytest.approx(trace.truths[0].delta, abs=5.0)


def test_stale_flag_is_passed_through() -> None:
    b = builder(24, 15.0, unit=350.0)
    b.pick(5.0)
    trace = b.build()
    det = WeightChangeDetector("L", unit_weight_g=350.0)
    events = [ev for t, y in zip(trace.t.tolist(), trace.y.tolist(), strict=True)
              for ev in det.update(t, y, stale=5.5 < t < 5.6)]
    assert len(events) == 1 and events[0].stale


def test_a_lane_that_never_settles_emits_a_low_stability_event() -> None:
    b = builder(25, 40.0, unit=350.0)
    b.pick(5.0)
    b.burst(5.2, 30.0, 15.0)   # the noise floor changes for good
    trace = b.build()
    events, emitted = run(trace)
    assert len(events) == 1
    ev = events[0]
    assert ev.delta_grams == pytest.approx(trace.truths[0].delta, abs=15.0)
    assert ev.stability <= 0.25
    assert ev.noise_grams > 5.0
    assert emitted[0] >= 5.0 + 8.0


def test_unplanned_lane_and_min_delta() -> None:
    assert default_min_delta(None) == 20.0
    assert default_min_delta(10.0) == 8.0
    assert default_min_delta(350.0) == pytest.approx(140.0)
    b = builder(26, 15.0, unit=100.0)
    b.pick(5.0)
    trace = b.build()
    events, _ = run(trace, WeightChangeDetector("L", params=WeightDetectorParams()))
    assert len(events) == 1
    assert events[0].quantity_hint == 0.0 and events[0].quantity_residual == 1.0
    # a lane whose min_delta is above the change reports nothing
    events, _ = run(trace, WeightChangeDetector(
        "L", unit_weight_g=100.0, params=WeightDetectorParams(min_delta_g=150.0)))
    assert events == []


def test_randomized_precision_and_recall() -> None:
    acc = Score()
    for seed in range(200):
        trace = random_trace(1000 + seed)
        events, emitted = run(trace)
        score(trace, events, emitted, acc, tag=f"seed {1000 + seed}")
    assert acc.tp > 400
    assert acc.precision >= 0.995, acc.misses[:10]
    assert acc.recall >= 0.995, acc.misses[:10]
    assert float(np.percentile(np.abs(acc.start_err), 95)) <= 0.25
    assert float(np.percentile(np.abs(acc.end_err), 95)) <= 0.5



def test_put_back_then_pick_on_a_still_settling_lane_is_two_events() -> None:
    # a heavy item put back, another shopper's pick 0.9 s after the first hand left: the slow
    # settling transient (tau 0.4 s, 10-20 % overshoot) still wobbles by several sigma when
    # the second hand arrives, yet the lane did rest in between (seen on the twin: generated
    # seed 11, lane A2a). The settling-tail rule (``tail_avg_s``) recovers most of these; the
    # strict plateau test alone few. Neither rule ever invents a third event.
    def pair(seed: int) -> Trace:
        b = builder(seed, 10.0, unit=347.0, unit_sd=2.0, settle_tau=(0.4, 0.4))
        t_free = b.pick(4.0, put=True)  # = hand out + 0.25 s
        b.pick(t_free - 0.25 + 0.9)
        return b.build()

    found = {"loose": 0, "strict": 0}
    for seed in range(30, 60):
        trace = pair(seed)
        for name, k in (("loose", 0.25), ("strict", 0.0)):
            det = WeightChangeDetector("L", "S", unit_weight_g=347.0, unit_sd_g=2.0,
                                       params=WeightDetectorParams(tail_avg_s=k))
            events, _ = run(trace, det)
            hints = [round(e.quantity_hint) for e in events]
            assert hints in ([1, -1], []), hints      # both events, or none (net zero)
            if hints:
                found[name] += 1
                for ev, tr in zip(events, trace.truths, strict=True):
                    # a hand resting on the short rest biases both deltas by its pressure
                    # (known limit, module docstring); such events say so by their stability
                    assert abs(ev.delta_grams - tr.delta) <= 8.0 or ev.stability < 0.6, ev
    assert found["loose"] >= 27 and found["strict"] <= 8, found
