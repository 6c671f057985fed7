"""Beam-break detection: a shelf-front distance sensor's readings -> ``BeamBreak`` intervals.

The sensor sits at one end of a shelf's front edge and looks along it; with nothing in front of
the shelf it reads the far end (about the shelf width), an arm crossing the front face makes it
read the distance to the arm. One ``BeamBreakDetector`` per sensor, fed one reading at a time
(~50 Hz); pure Python, no ROS.

Readings
    ``range_m`` in metres. ``inf`` or anything beyond the sensor's ``max_range`` means "no
    return", i.e. nothing in the beam (it is treated as an infinitely far reading); readings
    below ``min_range`` are clamped to it (the sensor's own convention); NaN readings and
    out-of-order or duplicate times are dropped and counted in ``stats``.

Baseline (the empty-front reading)
    Learnt from the first ``init_s`` (0.5 s) of readings as their upper quartile (an arm only
    ever shortens the reading, so the upper quartile ignores one present at start-up; the
    shelf width is the prior until then). Outside intervals it follows slow changes with a
    clipped exponential average (``baseline_tau_s`` = 5 s, each reading's pull clipped to 2.5
    noise rms); the noise is a clipped exponential average of squared deviations
    (``noise_tau_s`` = 10 s, 3 mm to start). Finite readings persistently ABOVE the baseline by
    more than the margin for ``raise_s`` (0.5 s) move it up at once (the start-up guess was an
    arm, or a far obstacle went away); "no return" readings do so only after ``rebaseline_s``
    (a sensor whose empty front is out of range); a "no return" baseline is ``inf``, compared
    as ``max_range``. A break that lasts ``rebaseline_s`` (20 s) with a steady reading is not an
    arm but something left in the beam: it becomes the new baseline and the interval is dropped
    (counted as ``rebaselined``).

Intervals
    ``margin = max(margin_k x noise, min_margin_m)`` (6 x ~3 mm, at least 3 cm). An interval
    starts at the first reading below ``baseline - margin`` and ends once readings have been
    back above ``baseline - margin / 2`` (hysteresis) for ``end_hold_s`` (60 ms); its ``end`` is
    the time of the first returned reading, so a brief return shorter than the hold (two arms
    one after the other, a noisy sample) does not split it. Overlapping arms give one interval
    whose ``min_range`` is the minimum reading (the nearest arm). Intervals shorter than
    ``min_duration_s`` (50 ms: one or two samples at 50 Hz) are noise and are dropped (counted
    as ``short``). A silence longer than ``max_gap_s`` closes an open interval at its last
    in-beam reading. ``event_id = "b-<sensor>-<round(start * 1000)>"``, so a replay yields the
    same ids; ``baseline_range`` is the baseline when the interval started.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from smart_store.config.model import DistanceSensor, StoreConfig
from smart_store.events.model import BeamBreak

__all__ = ["BeamBreakDetector", "BeamParams", "ShelfBeamDetectors"]


@dataclass(frozen=True)
class BeamParams:
    """Tuning of ``BeamBreakDetector``; the defaults suit ~50 Hz sensors with ~3 mm noise."""

    margin_k: float = 6.0         # margin = max(margin_k * noise, min_margin_m)
    min_margin_m: float = 0.03
    end_hold_s: float = 0.06      # back above the release level this long -> interval over
    min_duration_s: float = 0.05  # shorter intervals are noise
    init_s: float = 0.5           # readings used to learn the first baseline
    baseline_tau_s: float = 5.0   # baseline averaging time outside intervals
    noise_init_m: float = 0.003
    min_noise_m: float = 0.001
    noise_tau_s: float = 10.0
    raise_s: float = 0.5          # persistently above the baseline this long -> move it up
    rebaseline_s: float = 20.0    # a steady break this long becomes the new baseline
    max_gap_s: float = 0.5        # a longer silence closes an open interval


class BeamBreakDetector:
    """Intervals during which something is inside one shelf front (module docstring)."""

    def __init__(
        self,
        sensor: DistanceSensor,
        shelf_width: float | None = None,
        params: BeamParams | None = None,
    ) -> None:
        self.sensor = sensor
        self.params = params or BeamParams()
        self.baseline: float = shelf_width if shelf_width and shelf_width > 0 else math.inf
        self.noise = self.params.noise_init_m
        self._var = self.noise**2
        self.stats: dict[str, int] = {
            "samples": 0, "out_of_order": 0, "non_finite": 0, "intervals": 0, "short": 0,
            "rebaselined": 0,
        }
        self._t_last = -math.inf
        self._init: list[float] | None = []   # None once the first baseline is learnt
        self._t_init: float | None = None
        self._above_since: float | None = None
        self._above: list[float] = []
        # open interval
        self._open = False
        self._start = 0.0
        self._min = math.inf
        self._last_in = 0.0
        self._return_since: float | None = None
        self._base_at_start = self.baseline
        self._steady_lo = self._steady_hi = 0.0
        self._steady_since = 0.0

    # ------------------------------------------------------------------------------ public
    @property
    def in_break(self) -> bool:
        """True while an interval is open."""
        return self._open

    @property
    def margin(self) -> float:
        """Current break margin below the baseline, m."""
        return max(self.params.margin_k * self.noise, self.params.min_margin_m)

    def update(self, t: float, range_m: float) -> list[BeamBreak]:
        """Feed one reading (time s, range m; inf = no return); returns finished intervals."""
        if math.isnan(range_m) or not math.isfinite(t):
            self.stats["non_finite"] += 1
            return []
        if t <= self._t_last:
            self.stats["out_of_order"] += 1
            return []
        self.stats["samples"] += 1
        r = self._clamp(range_m)
        out: list[BeamBreak] = []
        if self._open and t - self._t_last > self.params.max_gap_s:
            self._close(self._last_in, out)
        if self._t_init is None:
            self._t_init = t
        if self._init is not None:
            if t - self._t_init < self.params.init_s:
                self._init.append(r)
                self._t_last = t
                return out
            self._learn_initial()
        self._step(t, r, out)
        self._t_last = t
        return out

    # ---------------------------------------------------------------------------- internals
    def _clamp(self, r: float) -> float:
        s = self.sensor
        if r > s.max_range:
            return math.inf
        return max(r, s.min_range)

    def _ref(self) -> float:
        """The baseline as a number to compare with (a no-return baseline is max_range)."""
        return self.baseline if math.isfinite(self.baseline) else self.sensor.max_range

    def _learn_initial(self) -> None:
        vals = sorted(self._init or [self.baseline])
        self.baseline = vals[(3 * len(vals)) // 4]
        self._init = None
        self._base_at_start = self.baseline

    def _step(self, t: float, r: float, out: list[BeamBreak]) -> None:
        p = self.params
        ref = self._ref()
        margin = self.margin
        if not self._open:
            if r < ref - margin:
                self._open = True
                self._start = t
                self._min = r
                self._last_in = t
                self._return_since = None
                self._base_at_start = self.baseline
                self._steady_lo = self._steady_hi = r
                self._steady_since = t
                self._above_since = None
                return
            self._track_baseline(t, r, ref, margin)
            return
        # inside an interval
        if r < ref - 0.5 * margin:
            self._min = min(self._min, r)
            self._last_in = t
            self._return_since = None
            lo, hi = min(self._steady_lo, r), max(self._steady_hi, r)
            if hi - lo > margin:  # the reading moves: an arm, not a fixed obstacle
                lo = hi = r
                self._steady_since = t
            self._steady_lo, self._steady_hi = lo, hi
            if t - self._steady_since >= p.rebaseline_s:
                self.stats["rebaselined"] += 1
                self.baseline = 0.5 * (lo + hi)
                self._open = False
            return
        if self._return_since is None:
            self._return_since = t
        if t - self._return_since >= p.end_hold_s:
            self._close(self._return_since, out)

    def _close(self, end: float, out: list[BeamBreak]) -> None:
        self._open = False
        if end - self._start < self.params.min_duration_s:
            self.stats["short"] += 1
            return
        self.stats["intervals"] += 1
        out.append(
            BeamBreak(
                event_id=f"b-{self.sensor.id}-{round(self._start * 1000.0)}",
                shelf_id=self.sensor.shelf_id,
                sensor_id=self.sensor.id,
                start=self._start,
                end=end,
                min_range=self._min,
                baseline_range=self._base_at_start,
            )
        )

    def _track_baseline(self, t: float, r: float, ref: float, margin: float) -> None:
        p = self.params
        if r > ref + margin and math.isfinite(self.baseline):  # persistently above: too short
            if self._above_since is None:
                self._above_since = t
                self._above = []
            self._above.append(r)
            # a finite reading beyond the baseline is the empty front's; "no return" is only
            # believed as the baseline when it lasts (it also happens on a reflective arm)
            hold = p.raise_s if math.isfinite(r) else p.rebaseline_s
            if t - self._above_since >= hold:
                vals = sorted(self._above)
                self.baseline = vals[len(vals) // 2]
                self._above_since = None
            return
        self._above_since = None
        if not math.isfinite(self.baseline) or not math.isfinite(r):
            return
        dt = min(t - self._t_last, 1.0)
        dev = r - self.baseline
        clip = 2.5 * self.noise
        self.baseline += min(1.0, dt / p.baseline_tau_s) * max(-clip, min(clip, dev))
        a = min(1.0, dt / p.noise_tau_s)
        self._var += a * (min(dev * dev, 16.0 * self.noise**2) - self._var)
        self.noise = max(p.min_noise_m, math.sqrt(self._var))


class ShelfBeamDetectors:
    """One ``BeamBreakDetector`` per shelf distance sensor, keyed by sensor id (the frame_id of
    the sensor's Range messages). Unknown sensor ids are counted and ignored."""

    def __init__(self, cfg: StoreConfig, params: BeamParams | None = None) -> None:
        self.detectors: dict[str, BeamBreakDetector] = {}
        for shelf in cfg.shelves:
            if shelf.distance_sensor is not None:
                self.detectors[shelf.distance_sensor.id] = BeamBreakDetector(
                    shelf.distance_sensor, shelf.width, params
                )
        self._unknown = 0

    @property
    def stats(self) -> dict[str, int]:
        """Counters summed over sensors, plus ``unknown_sensor``."""
        total: dict[str, int] = {"unknown_sensor": self._unknown}
        for det in self.detectors.values():
            for key, value in det.stats.items():
                total[key] = total.get(key, 0) + value
        return total

    def on_range(self, t: float, sensor_id: str, range_m: float) -> list[BeamBreak]:
        """Feed one reading of sensor ``sensor_id``; returns the intervals it finished."""
        det = self.detectors.get(sensor_id)
        if det is None:
            self._unknown += 1
            return []
        return det.update(t, range_m)
