"""Load-cell and distance-sensor emulation: what the shelf hubs would measure in a World.

``LoadCellEmulator(cfg, world, faults, seed).samples(t0, t1)`` and
``DistanceEmulator(cfg, world, seed).samples(t0, t1)`` return every sample with
``t0 <= t < t1`` as ``(t, hub_id, channel, value)`` tuples, sorted by time, then hub (config
order), then channel. ``value`` is raw HX711-style counts (signed 24 bit) for load cells and
millimetres (``65535`` = nothing in range) for distance sensors, i.e. exactly what goes into
the ``$LC`` / ``$DS`` lines of ``smart_store/drivers/protocol.py``.

Sample timing. Every hub samples on its own grid ``t_k = phase + k / rate_hz + jitter_k``
(``k >= 0``): ``phase`` is a per-hub offset in [0.1, 0.9] of a period drawn from the seed,
``jitter_k`` a little timing noise (1 % of a period rms, clipped to +-4 %), so grid times stay
ordered. All channels of a hub are sampled at the SAME instant (one ADC per channel on a common
conversion clock) and sent back to back in channel order with one ``hub_ms``.

Load cells, per lane, in grams before the calibration ``counts = offset + scale * grams``:
    * the true lane weight: ``world.lane_weights_at(0)`` plus the steps of
      ``world.lane_changes`` (a step counts from its instant on);
    * white noise, ``noise_g`` rms (1.5 g);
    * drift: a random walk (``drift_g_per_min`` rms after one minute), knots every second,
      linearly interpolated;
    * a settling transient after every step: ``delta * A * exp(-dt / tau) * cos(2 pi f dt)``
      with A 10-20 % of the step, f 4-8 Hz, tau 0.2-0.4 s, drawn per step;
    * hand pressure while hands are in the lane (``world.hands_in_lanes_at`` on a 20 Hz grid):
      20-50 g per hand (per lane, drawn from the seed) with a slow +-25 % wobble, ramping in and
      out over 0.25 s (a moving average of the hand count);
    * faults (``LoadCellFault``): ``bump`` adds ``grams * sin(pi u)**2`` over its ``duration``
      (u = 0..1: peak ``grams`` mid-way, back to baseline at the end), ``noise_burst`` adds white
      noise of ``grams`` rms for ``duration``, ``stall`` makes the whole hub send nothing
      (no samples, and ``hub_stalled`` tells the serial feeder to drop heartbeats too);
    * rounding and clamping to signed 24 bit.

Distance sensors: the beam runs along the shelf front and normally reaches the far end, so
``mm = shelf width`` plus ``noise_mm`` (3 mm) rms; while an arm crosses the front face the
nearest crossing, ``min(world.shelf_intrusions_at(t)[shelf])``; beyond ``max_range`` reads
65535, anything nearer than ``min_range`` reads ``min_range``.

Determinism: all randomness comes from ``numpy`` generators seeded by ``(seed, stream, id,
block)``, where a block is a fixed run of 256 grid samples of one hub computed as a whole and
cached. A sample's value therefore depends only on the seed and its grid index, never on how
a run is chunked: ``samples(0, 10) == samples(0, 5) + samples(5, 10)``. Pure Python, no ROS.
"""

from __future__ import annotations

import math
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np
from numpy.typing import NDArray

from smart_store.config.model import DistanceSensor, Hub, Lane, Shelf, StoreConfig
from smart_store.drivers.protocol import COUNTS_MAX, COUNTS_MIN, MM_MAX, MM_NO_TARGET
from smart_store.twin.model import LoadCellFault

__all__ = [
    'BLOCK',
    'DistanceEmulator',
    'LoadCellEmulator',
    'SensorSample',
    'WorldLike',
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: (sim time s, hub id, channel, counts or mm)
SensorSample = tuple[float, str, int, int]

BLOCK = 256                      # grid samples per computed (and cached) block of one hub
_CACHE_BLOCKS = 8                # blocks kept per hub
_JITTER_RMS = 0.01               # of a sample period
_JITTER_MAX = 0.04
_HAND_DT = 0.05                  # s, grid on which the world's hands are sampled
_HAND_RAMP_STEPS = 5             # moving average over 5 x 50 ms = 0.25 s
_SETTLE_CUTOFF = 8.0             # transients are dropped after 8 time constants
_DRIFT_KNOTS = 64                # drift knots (1 s apart) per generated block

# stream ids: keep every random quantity in its own reproducible stream
_S_PHASE, _S_GRID, _S_DRIFT, _S_SETTLE, _S_HAND = 1, 2, 3, 4, 5


class WorldLike(Protocol):
    """What the emulators need from ``twin/world.py``'s ``World`` (see the design contract)."""

    @property
    def lane_changes(self) -> Sequence[tuple[float, str, float]]: ...

    def lane_weights_at(self, t: float) -> Mapping[str, float]: ...

    def hands_in_lanes_at(self, t: float) -> Mapping[str, int]: ...

    def shelf_intrusions_at(self, t: float) -> Mapping[str, Sequence[float]]: ...


def _key(text: str) -> int:
    return zlib.crc32(text.encode('utf-8'))


def _rng(seed: int, *words: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed % (1 << 64), *words]))


# ---------------------------------------------------------------------------- hub sample grid
@dataclass
class _HubPlan:
    """One hub's sample grid and the channels it carries (sorted by channel)."""

    index: int               # position in cfg.hubs (output sort order)
    hub: Hub
    channels: list[int]
    period: float
    phase: float


class _GridEmulator:
    """Block-wise, cached, chunking-invariant sampling on per-hub grids."""

    def __init__(self, seed: int, stream: int) -> None:
        self.seed = int(seed)
        self._stream = stream
        self._plans: list[_HubPlan] = []
        self._cache: OrderedDict[tuple[int, int], tuple[FloatArray, IntArray, BoolArray]] = (
            OrderedDict()
        )

    def _add_hub(self, index: int, hub: Hub, channels: list[int]) -> _HubPlan:
        period = 1.0 / hub.rate_hz
        phase = period * float(_rng(self.seed, _S_PHASE, _key(hub.id)).uniform(0.1, 0.9))
        plan = _HubPlan(index, hub, channels, period, phase)
        self._plans.append(plan)
        return plan

    @property
    def hub_ids(self) -> tuple[str, ...]:
        """Hubs this emulator produces samples for, in config order."""
        return tuple(p.hub.id for p in self._plans)

    def sample_period(self, hub_id: str) -> float:
        """Nominal sample period of ``hub_id`` in seconds."""
        return self._plan(hub_id).period

    def hub_stalled(self, hub_id: str, t: float) -> bool:
        """True while ``hub_id`` sends nothing at all (heartbeats included)."""
        del hub_id, t
        return False

    def _plan(self, hub_id: str) -> _HubPlan:
        for plan in self._plans:
            if plan.hub.id == hub_id:
                return plan
        raise KeyError(f'unknown hub id {hub_id!r}')

    def _grid_times(self, plan: _HubPlan, block: int, rng: np.random.Generator) -> FloatArray:
        k = block * BLOCK + np.arange(BLOCK, dtype=np.float64)
        jitter = np.clip(rng.normal(0.0, _JITTER_RMS, BLOCK), -_JITTER_MAX, _JITTER_MAX)
        return plan.phase + (k + jitter) * plan.period

    def _block(self, plan: _HubPlan, block: int) -> tuple[FloatArray, IntArray, BoolArray]:
        key = (plan.index, block)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        rng = _rng(self.seed, self._stream, _S_GRID, _key(plan.hub.id), block)
        times = self._grid_times(plan, block, rng)
        values, keep = self._compute(plan, times, rng)
        result = (times, values, keep)
        self._cache[key] = result
        while len(self._cache) > _CACHE_BLOCKS * max(1, len(self._plans)):
            self._cache.popitem(last=False)
        return result

    def _compute(
        self, plan: _HubPlan, times: FloatArray, rng: np.random.Generator
    ) -> tuple[IntArray, BoolArray]:
        raise NotImplementedError

    def samples(self, t0: float, t1: float) -> list[SensorSample]:
        """All samples with ``t0 <= t < t1``, sorted by (time, hub config order, channel)."""
        if not t1 > t0:
            return []
        t_parts: list[FloatArray] = []
        h_parts: list[IntArray] = []
        c_parts: list[IntArray] = []
        v_parts: list[IntArray] = []
        for plan in self._plans:
            if not plan.channels:
                continue
            k_lo = max(0, math.floor((t0 - plan.phase) / plan.period) - 1)
            k_hi = max(0, math.ceil((t1 - plan.phase) / plan.period) + 1)
            n_ch = len(plan.channels)
            for block in range(k_lo // BLOCK, k_hi // BLOCK + 1):
                times, values, keep = self._block(plan, block)
                sel = keep & (times >= t0) & (times < t1)
                if not sel.any():
                    continue
                ts = times[sel]
                t_parts.append(np.repeat(ts, n_ch))
                h_parts.append(np.full(ts.size * n_ch, plan.index, dtype=np.int64))
                c_parts.append(np.tile(np.asarray(plan.channels, dtype=np.int64), ts.size))
                v_parts.append(values[sel].reshape(-1))
        if not t_parts:
            return []
        t_all = np.concatenate(t_parts)
        h_all = np.concatenate(h_parts)
        c_all = np.concatenate(c_parts)
        v_all = np.concatenate(v_parts)
        order = np.lexsort((c_all, h_all, t_all))
        ids = {p.index: p.hub.id for p in self._plans}
        return [
            (t, ids[h], c, v)
            for t, h, c, v in zip(
                t_all[order].tolist(),
                h_all[order].tolist(),
                c_all[order].tolist(),
                v_all[order].tolist(),
                strict=True,
            )
        ]


# -------------------------------------------------------------------------------- load cells
@dataclass
class _Settle:
    t: float
    delta: float
    amp: float
    freq: float
    tau: float


@dataclass
class _LaneModel:
    lane: Lane
    step_times: FloatArray        # sorted change instants
    levels: FloatArray            # weight before the first step, then after each step
    settles: list[_Settle]
    hand_g: float
    hand_phase: float
    bumps: list[LoadCellFault]
    bursts: list[LoadCellFault]


class LoadCellEmulator(_GridEmulator):
    """Raw counts of every lane's load cell, per load-cell hub (see the module docstring)."""

    KIND: ClassVar[str] = 'load_cell'

    def __init__(
        self,
        cfg: StoreConfig,
        world: WorldLike,
        faults: Sequence[LoadCellFault] = (),
        seed: int = 0,
        *,
        noise_g: float = 1.5,
        drift_g_per_min: float = 1.0,
        hand_g: tuple[float, float] = (20.0, 50.0),
        settle_fraction: tuple[float, float] = (0.10, 0.20),
        settle_hz: tuple[float, float] = (4.0, 8.0),
        settle_tau: tuple[float, float] = (0.2, 0.4),
    ) -> None:
        super().__init__(seed, stream=10)
        self.cfg = cfg
        self.world = world
        self.noise_g = noise_g
        self._drift_step = drift_g_per_min / math.sqrt(60.0)
        self._hand_cache: OrderedDict[int, Mapping[str, int]] = OrderedDict()
        self._drift: dict[str, list[FloatArray]] = {}   # lane -> knot blocks
        self._stalls: dict[str, list[tuple[float, float]]] = {}

        lanes = cfg.lanes()
        lane_ids = {lane.id for lane in lanes}
        hub_ids = {h.id for h in cfg.hubs}
        bumps: dict[str, list[LoadCellFault]] = {}
        bursts: dict[str, list[LoadCellFault]] = {}
        for fault in faults:
            if fault.kind in ('bump', 'noise_burst'):
                if fault.lane not in lane_ids:
                    raise ValueError(f'{fault.kind} fault needs a known lane, got {fault.lane!r}')
                (bumps if fault.kind == 'bump' else bursts).setdefault(fault.lane, []).append(
                    fault
                )
            elif fault.kind == 'stall':
                hub = fault.hub
                if hub is None and fault.lane in lane_ids:
                    hub = cfg.lane(fault.lane).load_cell.hub
                if hub not in hub_ids:
                    raise ValueError(f'stall fault needs a known hub, got {fault.hub!r}')
                self._stalls.setdefault(hub, []).append(
                    (fault.start, fault.start + fault.duration)
                )
            else:
                raise ValueError(f'unknown load-cell fault kind {fault.kind!r}')

        # true weights: the value at t = 0 minus the steps up to 0 gives the starting level
        changes: dict[str, list[tuple[float, float]]] = {}
        for t, lane_id, delta in sorted(world.lane_changes, key=lambda c: c[0]):
            if lane_id in lane_ids:
                changes.setdefault(lane_id, []).append((float(t), float(delta)))
        at_zero = world.lane_weights_at(0.0)

        self._lanes: dict[tuple[str, int], _LaneModel] = {}
        for lane in lanes:
            steps = changes.get(lane.id, [])
            step_t = np.array([s[0] for s in steps], dtype=np.float64)
            deltas = np.array([s[1] for s in steps], dtype=np.float64)
            base = float(at_zero.get(lane.id, 0.0)) - float(deltas[step_t <= 0.0].sum())
            levels = base + np.concatenate([[0.0], np.cumsum(deltas)])
            settles = []
            for i, (t, delta) in enumerate(steps):
                rng = _rng(self.seed, _S_SETTLE, _key(lane.id), i)
                settles.append(
                    _Settle(
                        t=t,
                        delta=delta,
                        amp=float(rng.uniform(*settle_fraction)),
                        freq=float(rng.uniform(*settle_hz)),
                        tau=float(rng.uniform(*settle_tau)),
                    )
                )
            hand_rng = _rng(self.seed, _S_HAND, _key(lane.id))
            self._lanes[(lane.load_cell.hub, lane.load_cell.channel)] = _LaneModel(
                lane=lane,
                step_times=step_t,
                levels=levels,
                settles=settles,
                hand_g=float(hand_rng.uniform(*hand_g)),
                hand_phase=float(hand_rng.uniform(0.0, 2.0 * math.pi)),
                bumps=bumps.get(lane.id, []),
                bursts=bursts.get(lane.id, []),
            )
        for index, hub in enumerate(cfg.hubs):
            if hub.kind != 'load_cell':
                continue
            channels = sorted(ch for (h, ch) in self._lanes if h == hub.id)
            if channels:
                self._add_hub(index, hub, channels)

    def lane_channel(self, lane_id: str) -> tuple[str, int]:
        """(hub id, channel) of a lane's load cell."""
        cell = self.cfg.lane(lane_id).load_cell
        return cell.hub, cell.channel

    def hub_stalled(self, hub_id: str, t: float) -> bool:
        return any(a <= t < b for a, b in self._stalls.get(hub_id, ()))

    # ----------------------------------------------------------------------- block computation
    def _compute(
        self, plan: _HubPlan, times: FloatArray, rng: np.random.Generator
    ) -> tuple[IntArray, BoolArray]:
        n, n_ch = times.size, len(plan.channels)
        noise = rng.standard_normal((n, n_ch))
        burst_noise = rng.standard_normal((n, n_ch))
        hands = self._hand_counts(times, [self._lanes[(plan.hub.id, c)] for c in plan.channels])
        counts = np.empty((n, n_ch), dtype=np.int64)
        for col, channel in enumerate(plan.channels):
            model = self._lanes[(plan.hub.id, channel)]
            grams = model.levels[np.searchsorted(model.step_times, times, side='right')]
            grams = grams + self._settle(model, times)
            grams = grams + self._drift_at(model.lane.id, times)
            wobble = 1.0 + 0.25 * np.sin(2.0 * math.pi * 0.7 * times + model.hand_phase)
            grams = grams + model.hand_g * wobble * hands[:, col]
            burst_var = np.zeros(n)
            for fault in model.bumps:
                u = (times - fault.start) / max(fault.duration, 1e-9)
                inside = (u >= 0.0) & (u < 1.0)
                grams = grams + np.where(inside, fault.grams * np.sin(math.pi * u) ** 2, 0.0)
            for fault in model.bursts:
                inside = (times >= fault.start) & (times < fault.start + fault.duration)
                burst_var = burst_var + np.where(inside, fault.grams**2, 0.0)
            grams = grams + self.noise_g * noise[:, col] + np.sqrt(burst_var) * burst_noise[:, col]
            cell = model.lane.load_cell
            raw = np.rint(cell.offset + cell.scale * grams)
            counts[:, col] = np.clip(raw, COUNTS_MIN, COUNTS_MAX).astype(np.int64)
        keep = np.ones(n, dtype=bool)
        for a, b in self._stalls.get(plan.hub.id, ()):
            keep &= ~((times >= a) & (times < b))
        return counts, keep

    def _settle(self, model: _LaneModel, times: FloatArray) -> FloatArray:
        out = np.zeros(times.size)
        lo, hi = float(times[0]), float(times[-1])
        for s in model.settles:
            if s.t > hi or s.t + _SETTLE_CUTOFF * s.tau < lo:
                continue
            dt = times - s.t
            inside = (dt >= 0.0) & (dt < _SETTLE_CUTOFF * s.tau)
            wave = s.delta * s.amp * np.exp(-dt / s.tau) * np.cos(2.0 * math.pi * s.freq * dt)
            out += np.where(inside, wave, 0.0)
        return out

    def _hand_counts(self, times: FloatArray, models: list[_LaneModel]) -> FloatArray:
        """Moving average (0.25 s) of the hands in each lane, sampled on a fixed 20 Hz grid."""
        j_t = np.floor(times / _HAND_DT).astype(np.int64)
        j_lo = int(j_t.min()) - _HAND_RAMP_STEPS
        j_hi = int(j_t.max())
        grid = [self._hands_at(j) for j in range(j_lo, j_hi + 1)]
        out = np.zeros((times.size, len(models)))
        for col, model in enumerate(models):
            counts = np.array([float(g.get(model.lane.id, 0)) for g in grid])
            if not counts.any():
                continue
            csum = np.concatenate([[0.0], np.cumsum(counts)])
            idx = j_t - j_lo + 1
            out[:, col] = (csum[idx] - csum[idx - _HAND_RAMP_STEPS]) / _HAND_RAMP_STEPS
        return out

    def _hands_at(self, j: int) -> Mapping[str, int]:
        hit = self._hand_cache.get(j)
        if hit is None:
            hit = self.world.hands_in_lanes_at(j * _HAND_DT) if j >= 0 else {}
            self._hand_cache[j] = hit
            while len(self._hand_cache) > 4096:
                self._hand_cache.popitem(last=False)
        return hit

    def _drift_at(self, lane_id: str, times: FloatArray) -> FloatArray:
        """Random walk with knots at whole seconds (knot 0 = 0 g), linearly interpolated."""
        n = np.maximum(np.floor(times).astype(np.int64), 0)
        lo, hi = int(n.min()), int(n.max()) + 1
        knots = self._drift_knots(lane_id, lo, hi)
        frac = np.clip(times - n, 0.0, 1.0)
        idx = n - lo
        return knots[idx] * (1.0 - frac) + knots[idx + 1] * frac

    def _drift_knots(self, lane_id: str, lo: int, hi: int) -> FloatArray:
        """Drift knots ``lo..hi`` (inclusive). Blocks of 64 increments are generated in order,
        each from its own seeded stream, so knot values never depend on what was asked first."""
        blocks = self._drift.setdefault(lane_id, [])  # block kb: knots kb*64 .. kb*64 + 64
        while len(blocks) * _DRIFT_KNOTS < hi:
            kb = len(blocks)
            start = float(blocks[-1][-1]) if blocks else 0.0
            inc = _rng(self.seed, _S_DRIFT, _key(lane_id), kb).normal(
                0.0, self._drift_step, _DRIFT_KNOTS
            )
            blocks.append(start + np.concatenate([[0.0], np.cumsum(inc)]))
        b_lo = lo // _DRIFT_KNOTS
        flat = np.concatenate([b[:-1] for b in blocks[b_lo:]] + [blocks[-1][-1:]])
        base = b_lo * _DRIFT_KNOTS
        return flat[lo - base : hi - base + 1]


# --------------------------------------------------------------------------- distance sensors
@dataclass
class _RangeModel:
    shelf: Shelf
    sensor: DistanceSensor


class DistanceEmulator(_GridEmulator):
    """Millimetre readings of every shelf-front distance sensor, per distance hub."""

    KIND: ClassVar[str] = 'distance'

    def __init__(
        self,
        cfg: StoreConfig,
        world: WorldLike,
        seed: int = 0,
        *,
        noise_mm: float = 3.0,
    ) -> None:
        super().__init__(seed, stream=20)
        self.cfg = cfg
        self.world = world
        self.noise_mm = noise_mm
        self._sensors: dict[tuple[str, int], _RangeModel] = {}
        for shelf in cfg.shelves:
            sensor = shelf.distance_sensor
            if sensor is not None:
                self._sensors[(sensor.hub, sensor.channel)] = _RangeModel(shelf, sensor)
        for index, hub in enumerate(cfg.hubs):
            if hub.kind != 'distance':
                continue
            channels = sorted(ch for (h, ch) in self._sensors if h == hub.id)
            if channels:
                self._add_hub(index, hub, channels)

    def _compute(
        self, plan: _HubPlan, times: FloatArray, rng: np.random.Generator
    ) -> tuple[IntArray, BoolArray]:
        models = [self._sensors[(plan.hub.id, c)] for c in plan.channels]
        noise = rng.standard_normal((times.size, len(models)))
        true_m = np.empty((times.size, len(models)))
        lookup: Callable[[float], Mapping[str, Sequence[float]]] = self.world.shelf_intrusions_at
        for row, t in enumerate(times.tolist()):
            intrusions = lookup(t)
            for col, model in enumerate(models):
                hits = intrusions.get(model.shelf.id) or ()
                true_m[row, col] = min(hits) if hits else model.shelf.width
        mm = true_m * 1000.0 + self.noise_mm * noise
        out = np.empty(mm.shape, dtype=np.int64)
        for col, model in enumerate(models):
            lo = model.sensor.min_range * 1000.0
            hi = model.sensor.max_range * 1000.0
            column = np.clip(np.rint(np.maximum(mm[:, col], lo)), 0, MM_MAX)
            out[:, col] = np.where(mm[:, col] > hi, MM_NO_TARGET, column).astype(np.int64)
        return out, np.ones(times.size, dtype=bool)
