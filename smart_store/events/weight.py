"""Weight-change detection: a lane's load-cell stream -> ``WeightEvent`` (stable -> stable).

An event is a transition of one lane between two STABLE states. The detector is a small state
machine fed one sample at a time (10-80 Hz, irregular, possibly with gaps); everything is
incremental, pure Python, ~5 microseconds per sample. Thresholds are relative to the lane's
measured noise ``sigma`` and to the smallest plausible change ``min_delta_g`` (default
``max(8 g, 0.4 x unit weight)``, 20 g for a lane without a planogram product).

Noise and baseline (state STABLE)
    ``sigma`` starts from a robust estimate on the first second (at least 20 samples; the larger
    of the scale of the first differences and of the median quarter-MAD). While STABLE it is a
    running mean, then (after ``noise_tau_s`` = 10 s worth of samples) a clipped (4 sigma)
    exponential average of ``(y - base)**2``; a sample is learnt only 0.5 s later if no trigger
    came in between (the first samples of a change are not noise), and not in the 1.5 s after an
    episode (settling tail). Each confirmed window is pooled in as well. It never learns from
    the rest of an episode, so bursts and hands do not inflate it. ``base`` follows the lane
    with a clipped exponential average (``base_tau_s`` = 1 s, pull clipped to 2.5 sigma): drift
    (~1 g/min) is tracked and never becomes an event. A sample further than
    ``trigger = max(5 sigma, 2 g)`` from ``base`` opens an *episode*. Its onset (the event
    ``start``) is not the detection time: a two-sided CUSUM with slack 1.5 sigma runs while
    stable, and the onset is the first sample of the run that crossed, moved half a sample period
    back (the true change happened between two samples). ``before`` is ``base`` frozen when that
    CUSUM run began, before the change could pull it.

Plateaus (state UNSTABLE)
    The detector keeps a *stable suffix* of the episode's samples: its range (max - min, kept
    with monotone deques) is at most ``band_k`` = 8 sigma and its fitted linear trend at most
    ``slope_k`` = 4 standard errors (head samples are dropped while the trend is too steep: they
    are the end of the transition). Mean and trend come from prefix sums, so all of this is O(1)
    per sample. A silence longer than 4 sample periods restarts the suffix (a plateau must be
    seen, not assumed). A suffix of >= ``split_s`` (0.3 s) and >= 3 samples is a *plateau* and
    is recorded with its start, end and mean. The settling transient (4-8 Hz, 10-20 % overshoot)
    is not a plateau while its range exceeds the band. Between two reaches into one lane the
    lane may rest for well under a second while a heavy item's transient still wobbles by many
    sigma, so neither the band nor the tests below can pass. Such a stretch is recorded as an
    INTERNAL *tail plateau* when the ``tail_avg_s`` (0.25 s, one or two periods of the 4-8 Hz
    oscillation) moving average of its last ``split_s`` stays within ``max(3 sigma, 2 % of a
    unit)`` at a level a plausible non-zero whole number of units away from ``L0``: a put-back
    followed 0.7 s later by another pick is two events, not a silent net zero. The confirmed end
    plateau always needs the strict tests below.
    The current plateau *confirms* the episode once it has lasted ``confirm_s`` (0.45 s) and its
    last ``confirm_s`` pass two fine tests: the standard deviation is at most
    ``sigma (1 + 2.5 / sqrt n)`` (a chi test: catches the tail of the oscillation inside the band
    and a resting hand's sway) and the means of 0.1 s blocks are all within 4 standard errors of
    the window mean (slow wobble, curvature). The episode then closes and its events leave:
    ~0.45 s after the lane truly settled, inside the 0.6 s target.

Segmentation (what one episode means)
    The plateau levels are ``L0`` (the state left; hand-free), ``L1 .. Lk-1`` (internal
    plateaus) and ``Lk`` (the confirmed level; hand-free). A hand resting in a lane presses it by
    tens of grams that vanish when it leaves, and only ever ADDS weight. The plateaus are split
    (dynamic program) into the fewest runs of consecutive plateaus that can each be one true
    weight ``T`` plus a hand: every level of a run lies in ``[T - min_delta / 2,
    T + hand_max_g + max(3 sigma, 5 g)]`` (``hand_max_g`` = 80 g), ``T`` being ``L0`` for the first
    run, ``Lk`` for the last and the lowest level otherwise. Consecutive runs whose ``T`` differ
    by >= ``min_delta`` are the events (``delta = T_next - T_prev``; a sub-threshold step is
    folded into the next event). Hence: a reach that takes nothing (``L0, L0 + h, L0``) is no
    event however long the hand rested; hand pressure around a pick (``L0, L0 + h, L0 + h - w,
    L0 - w``) is one event of ``-w``; two changes with a plateau of >= 0.3 s between them
    (``L0, L0 - w, L0 - 2w``) are two events, without it (multi-item picks, quick successive
    picks) one event with the full delta; a bump or a noise burst that returns to its level is
    no event. Known limits: a light item (<= ``hand_max_g``) put down and taken back within a
    second looks exactly like a hand (no event); a hand resting through most of a short internal
    plateau biases both events around it by its pressure (stability < 0.6); two changes while
    two hands are in the lane together have no state between them and are one event with the
    summed delta (the arbiter splits it); pressure above ``hand_max_g`` resting stably for
    >= 0.3 s (two hands pressing one light lane) can give a +h / -h pair of events.

Hand guard (when to believe the confirmed level)
    The confirmed level may still carry a resting hand. The episode then needs
    ``hand_confirm_s`` (1.2 s, most of a hand's sway period) of passing window instead of
    ``confirm_s`` when (a) the level sits ``hand_min_g .. hand_max_g`` (10-80 g) above an earlier
    level of the episode, or (b) the net change or an event it would emit is not a plausible
    whole number of units: ``|q - round(q)| > max(0.06, (2.5 item_sd sqrt(k) + 2 sigma) / unit)``
    (e.g. ``(h - w) / w`` with a hand still on the lane after a lift). Light put-backs (<= 80 g)
    and hand-loaded candidates thus leave ~1.2 s after settling, ordinary picks after ~0.45 s.
    A hand that rests motionless for longer than that is believed (its event is biased by h).

Never settling (``max_unstable_s``, 8 s)
    Choice: the event is emitted WHEN the lane finally settles, never guessed mid-episode. After
    ``max_unstable_s`` of instability the detector assumes the noise floor changed: it
    re-estimates sigma from the last second of samples (and again every second while it stays
    unstable), drops the hand guard and settles under that relaxed test. Events from such an
    episode carry ``stability <= 0.25`` and the relaxed ``noise_grams``; sigma then decays back
    while STABLE if the noise goes away.

Output fields
    ``start`` = onset estimate (the end of the last hand-free plateau of the previous run: the
    CUSUM onset for ``L0``), ``end`` = when the signal came within noise of the new level for
    good (after the last sample beyond 4.5 sigma or two consecutive beyond 3 sigma; the start of
    the plateau for an internal one), ``weight_before/after`` = the run levels (the frozen
    baseline for ``L0``, plateau means otherwise), ``noise_grams`` = sigma, ``quantity_hint =
    delta / unit weight`` and ``quantity_residual = |hint - round(hint)|`` (0.0 and 1.0 without a
    unit weight; a residual of 1 cannot happen otherwise), ``stability`` in [0, 1] (1 = settled
    window as quiet as sigma, short transition; lowered by a noisier window, a long transition,
    an internal (unconfirmed) end plateau, an expired hand guard; <= 0.25 in relaxed mode),
    ``stale`` = a sample of the episode was flagged stale or a silence longer than ``max_gap_s``
    (1 s) fell inside it. ``event_id = "w-<lane>-<round(start * 1000)>"``: a replay of the same
    samples yields the same ids. Duplicate, out-of-order and non-finite samples are dropped and
    counted in ``stats``. The first second (>= 20 samples) of a lane is spent learning.

No ROS here: ``node.py`` feeds these classes from the lane-weight topic.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass
from itertools import pairwise
from typing import Final

from smart_store.config.model import StoreConfig
from smart_store.events.model import WeightEvent

__all__ = [
    "ShelfEventDetector",
    "WeightChangeDetector",
    "WeightDetectorParams",
    "default_min_delta",
]

_MAD_TO_SIGMA: Final = 1.4826
_MAX_PLATEAUS: Final = 24        # internal plateaus kept per episode (shortest dropped beyond)
_INIT_S: Final = 1.0             # s of samples used for the first noise estimate
_INIT_MIN_SAMPLES: Final = 20
_MIN_PLATEAU_SAMPLES: Final = 3
_CHECK_EVERY_S: Final = 0.05     # s between two (O(n)) confirmation checks of one plateau
_KEEP_S: Final = 1.2             # s of samples kept before the stable suffix (relaxed sigma)
_NOISE_HOLDOFF_S: Final = 1.5    # s after settling before sigma learns again (decaying tail)
_TAIL: Final = -2                # start_idx of a plateau found on a settling tail
_NOISE_DELAY_S: Final = 0.5      # s a stable sample waits before sigma learns from it


@dataclass(frozen=True)
class WeightDetectorParams:
    """Tuning of ``WeightChangeDetector``; the defaults suit 10-80 Hz load cells, 1-2 g noise."""

    min_delta_g: float | None = None  # None: default_min_delta(unit weight)
    hand_min_g: float = 10.0          # smallest hand pressure the hand guard considers, g
    hand_max_g: float = 80.0          # largest resting hand pressure, g
    split_s: float = 0.3              # a plateau this long separates two events, s
    confirm_s: float = 0.45           # settled this long -> emit, s
    hand_confirm_s: float = 1.2       # ... when the settled level may carry a hand, s
    max_unstable_s: float = 8.0       # then relax (see the module docstring), s
    trigger_k: float = 5.0            # leave STABLE beyond trigger_k sigma ...
    trigger_floor_g: float = 2.0      # ... and at least this many grams
    band_k: float = 8.0               # a plateau's range is at most band_k sigma
    slope_k: float = 4.0              # its fitted trend at most slope_k standard errors
    block_s: float = 0.1              # block length of the confirmation test, s
    block_k: float = 4.0              # block means within block_k standard errors
    curve_k: float = 4.0              # fitted curvature within curve_k standard errors
    quiet_k: float = 2.5              # settled window sd <= sigma (1 + quiet_k / sqrt n)
    tail_avg_s: float = 0.25          # settling-tail plateaus on this moving average (0: off)
    cusum_k: float = 1.5              # CUSUM slack for the onset estimate, in sigma
    noise_init_g: float | None = None  # None: estimate from the first second (>= 20 samples)
    min_noise_g: float = 0.3          # sigma floor, g
    noise_tau_s: float = 10.0         # sigma averaging time while STABLE, s
    base_tau_s: float = 1.0           # baseline averaging time while STABLE, s
    max_gap_s: float = 1.0            # a longer silence marks the episode stale, s
    plausible_k: float = 2.5          # k units are plausible within plausible_k item sd sqrt(k)
    plausible_floor: float = 0.06     # + 2 sigma, as a quantity and at least this


def default_min_delta(unit_weight_g: float | None) -> float:
    """Smallest change worth an event: 0.4 unit weights but >= 8 g; 20 g without a product."""
    if unit_weight_g is None or not unit_weight_g > 0.0:
        return 20.0
    return max(8.0, 0.4 * float(unit_weight_g))


@dataclass
class _Plateau:
    """A stable stretch of an episode (``L0`` is the stable state the episode left)."""

    first_start: float   # earliest start while it was the current suffix (settle time)
    end: float           # last sample time inside it
    level: float         # mean over its latest extent
    start_idx: int = -1  # sample indices of the latest extent (-1 for L0)
    end_idx: int = -1

    @property
    def duration(self) -> float:
        return self.end - self.first_start


@dataclass
class _Run:
    """Consecutive plateaus explained by one true weight ``level`` (plus a hand)."""

    first: int
    last: int
    level: float


def _robust_sigma(ys: list[float]) -> float:
    """Noise rms of a short stretch: the larger of the scale of the first differences
    (immune to steps; mean of the absolute differences below 5 x their median) and the
    middle two MADs of four quarters (sees slow wander, ignores one step)."""
    if len(ys) < 8:
        return 0.0
    diffs = sorted(abs(b - a) for a, b in pairwise(ys))
    clip = 5.0 * diffs[len(diffs) // 2]
    kept = [d for d in diffs if d <= clip] or diffs
    d_sig = sum(kept) / len(kept) * math.sqrt(math.pi) / 2.0  # E|d| = 2 sigma / sqrt(pi)
    if len(ys) < 24:
        return d_sig
    mads = []
    for k in range(4):  # MAD about the median in quarters: a step spoils one quarter at most
        part = ys[k * len(ys) // 4:(k + 1) * len(ys) // 4]
        med = sorted(part)[len(part) // 2]
        mads.append(sorted(abs(v - med) for v in part)[len(part) // 2] * _MAD_TO_SIGMA)
    mads.sort()
    return max(d_sig, 0.5 * (mads[1] + mads[2]))


class WeightChangeDetector:
    """Stable-to-stable transitions of ONE lane's weight (see the module docstring).

    ``update(t, grams, stale)`` takes samples in time order and returns the events completed by
    this sample (usually none).
    """

    def __init__(
        self,
        lane_id: str,
        shelf_id: str = "",
        *,
        unit_weight_g: float | None = None,
        unit_sd_g: float | None = None,
        params: WeightDetectorParams | None = None,
    ) -> None:
        self.lane_id = lane_id
        self.shelf_id = shelf_id
        self.params = params or WeightDetectorParams()
        p = self.params
        self.unit_weight_g = unit_weight_g if unit_weight_g and unit_weight_g > 0 else None
        self.unit_sd_g = (
            unit_sd_g if unit_sd_g is not None else 0.01 * (self.unit_weight_g or 0.0)
        )
        self.min_delta_g = p.min_delta_g if p.min_delta_g else default_min_delta(unit_weight_g)
        self.stats: dict[str, int] = {
            "samples": 0, "out_of_order": 0, "non_finite": 0, "episodes": 0, "events": 0,
            "relaxed": 0,
        }
        self._mode = "init"              # init -> seek -> stable <-> unstable
        self._t_last = -math.inf
        self._dt = 0.0                   # typical sample period (EMA)
        self._init: list[tuple[float, float]] = []
        # STABLE state
        self.sigma = p.noise_init_g or 1.0
        self._var = self.sigma**2
        self._n_stable = 0               # samples behind the noise estimate (running mean first)
        self._noise_from = 0.0           # no noise update before (settling tail)
        self._pending: deque[tuple[float, float]] = deque()  # (t, dev^2) not yet learnt
        self.base = 0.0
        self._stable_since = 0.0
        self._cus_p = self._cus_n = 0.0
        self._cus_p_t = self._cus_n_t = 0.0      # onset candidates
        self._cus_p_b = self._cus_n_b = 0.0      # base when the run began
        # episode state
        self._plateaus: list[_Plateau] = []
        self._open: _Plateau | None = None
        self._onset = 0.0
        self._stale = False
        self._relaxed = False
        self._sig_eff = self.sigma
        self._next_relax = math.inf
        self._hold_expired = False
        self._next_check = -math.inf
        self._next_tail = -math.inf
        # sample buffer with prefix sums (index = absolute sample number)
        self._t0 = 0.0
        self._y0 = 0.0
        self._ts: list[float] = []
        self._ys: list[float] = []
        self._cum: list[tuple[float, float, float, float, float]] = []  # before each sample
        self._tot = (0.0, 0.0, 0.0, 0.0, 0.0)   # sum y, y^2, t, t^2, t*y (relative)
        self._off = 0                     # absolute index of _ts[0]
        self._sfx = 0                     # absolute index where the stable suffix starts
        self._floor = 0                   # the suffix never reaches back before this (gaps)
        self._maxq: deque[tuple[int, float]] = deque()
        self._minq: deque[tuple[int, float]] = deque()

    # ------------------------------------------------------------------------------ public
    @property
    def stable(self) -> bool:
        """True while the lane rests in a stable state."""
        return self._mode == "stable"

    def update(self, t: float, grams: float, stale: bool = False) -> list[WeightEvent]:
        """Feed one sample (time s, weight g); returns the events it completed."""
        if not (math.isfinite(t) and math.isfinite(grams)):
            self.stats["non_finite"] += 1
            return []
        if t <= self._t_last:
            self.stats["out_of_order"] += 1
            return []
        self.stats["samples"] += 1
        gap = t - self._t_last
        short_gap = False
        if math.isfinite(gap):
            short_gap = self._dt > 0.0 and gap > max(4.0 * self._dt, 0.1)
            self._dt = gap if self._dt == 0.0 else self._dt + 0.05 * (
                min(gap, 2.0 * self._dt) - self._dt)
        long_gap = gap > self.params.max_gap_s and math.isfinite(gap)
        y = float(grams)
        out: list[WeightEvent] = []
        if self._mode == "init":
            self._feed_init(t, y)
        elif self._mode == "stable":
            out = self._feed_stable(t, y, stale, long_gap)
        else:
            out = self._feed_unstable(t, y, stale, long_gap, short_gap)
        self._t_last = t
        return out

    # ------------------------------------------------------------------------- init / seek
    def _feed_init(self, t: float, y: float) -> None:
        self._init.append((t, y))
        if len(self._init) < _INIT_MIN_SAMPLES or t - self._init[0][0] < _INIT_S:
            return
        if self.params.noise_init_g is None:
            self.sigma = max(self.params.min_noise_g, _robust_sigma([s[1] for s in self._init]))
        self._var = self.sigma**2
        self._n_stable = len(self._init)
        self._sig_eff = self.sigma
        # seek: an episode without a before state; it closes (silently) once stable
        self._mode = "seek"
        self._begin_buffer(self._init[0][0], self._init[0][1])
        for ti, yi in self._init:
            self._push(ti, yi)
        self._init = []
        self._onset = t
        self._next_relax = t + self.params.max_unstable_s
        self._track_plateau(t)

    # ------------------------------------------------------------------------------ stable
    def _feed_stable(self, t: float, y: float, stale: bool, long_gap: bool) -> list[WeightEvent]:
        p = self.params
        sig = self.sigma
        if long_gap:
            self._cus_p = self._cus_n = 0.0
        dev = y - self.base
        slack = p.cusum_k * sig
        half = 0.5 * min(t - self._t_last, self._dt or 0.0) if math.isfinite(self._t_last) else 0.0
        if self._cus_p == 0.0 and dev > slack:
            self._cus_p_t, self._cus_p_b = t - half, self.base
        if self._cus_n == 0.0 and -dev > slack:
            self._cus_n_t, self._cus_n_b = t - half, self.base
        self._cus_p = max(0.0, self._cus_p + dev - slack)
        self._cus_n = max(0.0, self._cus_n - dev - slack)
        if abs(dev) > max(p.trigger_k * sig, p.trigger_floor_g):
            onset, before = (
                (self._cus_p_t, self._cus_p_b) if dev > 0 else (self._cus_n_t, self._cus_n_b)
            )
            if long_gap:  # it left somewhere inside the silence: the last sample is the bound
                onset = self._t_last
            return self._start_episode(t, y, stale or long_gap, onset, before)
        dt = t - self._t_last
        a_base = min(1.0, dt / p.base_tau_s)
        self.base += a_base * max(-2.5 * sig, min(2.5 * sig, dev))
        if t >= self._noise_from:  # not on the tail of a settling oscillation
            # learn from a sample only once it is _NOISE_DELAY_S old without a trigger since:
            # the first samples of a change (before the trigger) are not noise
            pend = self._pending
            pend.append((t, min(dev * dev, 16.0 * sig * sig)))
            while pend and pend[0][0] <= t - _NOISE_DELAY_S:
                _t, d2 = pend.popleft()
                self._n_stable += 1
                a_var = min(1.0, max(dt / p.noise_tau_s, 1.0 / self._n_stable))
                self._var += a_var * (d2 - self._var)
            self.sigma = max(p.min_noise_g, math.sqrt(self._var))
        return []

    def _start_episode(
        self, t: float, y: float, stale: bool, onset: float, before: float
    ) -> list[WeightEvent]:
        self.stats["episodes"] += 1
        self._pending.clear()
        self._mode = "unstable"
        self._onset = min(onset, t)
        self._plateaus = [_Plateau(self._stable_since, self._onset, before)]
        self._open = None
        self._stale = stale
        self._relaxed = False
        self._hold_expired = False
        self._sig_eff = self.sigma
        self._next_relax = self._onset + self.params.max_unstable_s
        self._next_check = -math.inf
        self._begin_buffer(t, before)
        self._push(t, y)
        return []

    # ---------------------------------------------------------------------------- unstable
    def _feed_unstable(
        self, t: float, y: float, stale: bool, long_gap: bool, short_gap: bool
    ) -> list[WeightEvent]:
        self._stale = self._stale or stale or (long_gap and self._mode == "unstable")
        if long_gap or short_gap:  # a plateau must be seen, never assumed across a silence
            self._finalize_open()
            self._sfx = self._floor = self._off + len(self._ts)
            self._maxq.clear()
            self._minq.clear()
        self._push(t, y)
        if t >= self._next_relax:
            self._relax(t)
        return self._track_plateau(t)

    def _relax(self, t: float) -> None:
        """Unstable for too long: accept a new noise floor from the last second of samples."""
        if not self._relaxed:
            self.stats["relaxed"] += 1
        self._relaxed = True
        self._next_relax = t + 1.0
        i0 = self._index_at(t - 1.0)
        ys = self._ys[i0 - self._off:]
        if len(ys) >= 8:
            self._sig_eff = max(self._sig_eff, _robust_sigma(ys))
        self._rebuild_suffix()

    def _track_plateau(self, t: float) -> list[WeightEvent]:
        """Record plateaus and close the episode once the current one is confirmed."""
        p = self.params
        n, mean, _sd, trend_z = self._suffix_stats()
        while trend_z > p.slope_k and n > _MIN_PLATEAU_SAMPLES:
            # a trend: the head still holds the end of the transition; drop it sample by sample
            self._advance_suffix(self._sfx + 1)
            n, mean, _sd, trend_z = self._suffix_stats()
        t_sfx = self._ts[self._sfx - self._off]
        dur = t - t_sfx
        newest = self._off + len(self._ts) - 1
        op = self._open
        if op is not None and self._sfx > op.end_idx:  # the open plateau was broken
            self._finalize_open()
            op = None
        if dur < p.split_s or n < _MIN_PLATEAU_SAMPLES or trend_z > p.slope_k:
            if op is None:
                self._tail_plateau(t)
            return []
        if op is None:
            # its last split_s must also look settled (no curvature: the bottom of a bump or
            # a hand's sway is not a state); rate-limited, the test is O(n)
            if t < self._next_check:
                return []
            if not self._window_ok(t, p.split_s):
                self._tail_plateau(t)
                self._next_check = t + _CHECK_EVERY_S
                return []
            op = _Plateau(t_sfx, t, mean, self._sfx, newest)
            self._open = op
            self._next_check = -math.inf
        else:
            op.first_start = min(op.first_start, t_sfx)
            op.end, op.level, op.start_idx, op.end_idx = t, mean, self._sfx, newest
        if dur < p.confirm_s or t < self._next_check:
            return []
        self._next_check = t + _CHECK_EVERY_S
        if self._mode == "seek":
            if self._window_ok(t, p.confirm_s):
                self._to_stable(t, mean)
            return []
        levels = [pl.level for pl in self._plateaus] + [op.level]
        runs = self._segment(levels)
        need = p.confirm_s
        ambiguous = not self._relaxed and self._hand_ambiguous(levels, runs)
        if ambiguous:
            need = p.hand_confirm_s
        if dur < need or not self._window_ok(t, need):
            return []
        self._hold_expired = ambiguous
        return self._close(t, runs)

    # ------------------------------------------------------------------------ segmentation
    def _segment(self, levels: list[float]) -> list[_Run]:
        """Fewest runs of consecutive plateaus, each one true weight plus a hand (see above)."""
        k = len(levels) - 1
        tol = 0.5 * self.min_delta_g   # below T by less than this: the same weight
        hmax = self.params.hand_max_g + max(3.0 * self._sig_eff, 5.0)   # above T: a hand

        def run_level(i: int, j: int) -> float | None:
            seg = levels[i:j + 1]
            lo, hi = min(seg), max(seg)
            if i == 0 and j == k:
                if abs(levels[k] - levels[0]) >= self.min_delta_g:
                    return None
                ref = levels[0]
                ok = all(-tol <= v - levels[0] <= hmax and -tol <= v - levels[k] <= hmax
                         for v in seg)
                return ref if ok else None
            ref = levels[0] if i == 0 else levels[k] if j == k else lo
            return ref if (lo >= ref - tol and hi <= ref + hmax) else None

        best: list[int] = [0] + [10**9] * (k + 1)   # best[j + 1]: fewest runs covering 0..j
        prev: list[int] = [0] * (k + 2)
        for j in range(k + 1):
            for i in range(j + 1):
                if best[i] + 1 < best[j + 1] and run_level(i, j) is not None:
                    best[j + 1] = best[i] + 1
                    prev[j + 1] = i
        runs: list[_Run] = []
        j = k
        while j >= 0:
            i = prev[j + 1]
            level = run_level(i, j)
            runs.append(_Run(i, j, levels[i] if level is None else level))
            j = i - 1
        runs.reverse()
        return runs

    def _transitions(self, runs: list[_Run]) -> list[tuple[_Run, _Run]]:
        """(previous, next) run pairs that are events (levels differ by >= min_delta)."""
        pairs: list[tuple[_Run, _Run]] = []
        prev = runs[0]
        for run in runs[1:]:
            if abs(run.level - prev.level) >= self.min_delta_g:
                pairs.append((prev, run))
                prev = run
        return pairs

    def _hand_ambiguous(self, levels: list[float], runs: list[_Run]) -> bool:
        p = self.params
        last = levels[-1]
        if any(p.hand_min_g <= last - v <= p.hand_max_g for v in levels[:-1]):
            return True
        if self.unit_weight_g is None:
            return False
        changes = [last - levels[0]]  # the net change too: a hand-loaded level after a lift
        changes += [b.level - a.level for a, b in self._transitions(runs)]
        return not all(self._plausible(change) for change in changes)

    def _plausible(self, change: float) -> bool:
        """Is ``change`` a whole number of units, within item spread and noise?"""
        unit = self.unit_weight_g
        assert unit is not None
        q = change / unit
        k = max(1, abs(round(q)))
        spread = self.params.plausible_k * self.unit_sd_g * math.sqrt(k) + 2.0 * self._sig_eff
        return abs(q - round(q)) <= max(self.params.plausible_floor, spread / unit)

    # ------------------------------------------------------------------------------ output
    def _close(self, t: float, runs: list[_Run]) -> list[WeightEvent]:
        assert self._open is not None
        final = self._open
        plats = [*self._plateaus, final]
        n, mean, _sd, _z = self._suffix_stats()
        sd = self._recent_sd(t - self.params.confirm_s)
        sig = self._sig_eff
        tol = max(3.0 * sig, 0.5 * self.params.hand_min_g)   # "no hand on it"
        events: list[WeightEvent] = []
        span = final.first_start - self._onset
        for a, b in self._transitions(runs):
            src = [i for i in range(a.first, a.last + 1) if abs(plats[i].level - a.level) <= tol]
            dst = [i for i in range(b.first, b.last + 1) if abs(plats[i].level - b.level) <= tol
                   and not (b is runs[-1] and plats[i].start_idx == _TAIL)]
            start = plats[src[-1] if src else a.last].end
            if b is runs[-1] and (not dst or dst[0] == len(plats) - 1):
                end = self._settled_at(final.level, final.first_start)
            else:
                end = plats[dst[0] if dst else b.first].first_start
            end = max(end, start)
            flat = min(1.0, 1.25 * sig / max(sd, 1e-9)) if n > 2 else 0.5
            stability = flat * (1.0 - 0.5 * min(1.0, span / self.params.max_unstable_s))
            if b is not runs[-1]:
                stability *= 0.8          # settled on an internal (unconfirmed) plateau
            if self._hold_expired:
                stability *= 0.7          # a hand may still have rested on the new level
            if self._relaxed:
                stability = min(stability, 0.25)
            delta = b.level - a.level
            if self.unit_weight_g is not None:
                q = delta / self.unit_weight_g
                resid = abs(q - round(q))
            else:
                q, resid = 0.0, 1.0
            events.append(
                WeightEvent(
                    event_id=f"w-{self.lane_id}-{round(start * 1000.0)}",
                    shelf_id=self.shelf_id,
                    lane_id=self.lane_id,
                    delta_grams=delta,
                    start=start,
                    end=end,
                    weight_before=a.level,
                    weight_after=b.level,
                    stability=max(0.0, min(1.0, stability)),
                    quantity_hint=q,
                    quantity_residual=resid,
                    noise_grams=sig,
                    stale=self._stale,
                )
            )
        self.stats["events"] += len(events)
        if self._relaxed:
            self.sigma = max(self.params.min_noise_g, self._sig_eff)
            self._var = self.sigma**2
        self._to_stable(t, mean)
        return events

    def _to_stable(self, t: float, level: float) -> None:
        assert self._open is not None
        if not self._relaxed:  # let a wrong sigma recover: the settled window is clean noise
            i = max(self._sfx, self._off + bisect_left(self._ts, t - self.params.confirm_s))
            n = self._off + len(self._ts) - i
            sd = self._recent_sd(t - self.params.confirm_s)
            if n >= _MIN_PLATEAU_SAMPLES:  # pool it like n more samples of the running mean
                n0 = min(self._n_stable, self.params.noise_tau_s / max(self._dt, 1e-3))
                self._var += n / (n0 + n) * (sd * sd - self._var)
                self._n_stable += n
            self.sigma = max(self.params.min_noise_g, math.sqrt(self._var))
        self._mode = "stable"
        self._noise_from = t + _NOISE_HOLDOFF_S
        self.base = level
        self._stable_since = self._open.first_start
        self._cus_p = self._cus_n = 0.0
        self._plateaus = []
        self._open = None
        self._ts, self._ys, self._cum = [], [], []
        self._maxq.clear()
        self._minq.clear()

    # ------------------------------------------------------------------ suffix machinery
    def _begin_buffer(self, t: float, y: float) -> None:
        self._t0, self._y0 = t, y
        self._ts, self._ys, self._cum = [], [], []
        self._tot = (0.0, 0.0, 0.0, 0.0, 0.0)
        self._off = 0
        self._sfx = 0
        self._floor = 0
        self._maxq.clear()
        self._minq.clear()

    def _band(self) -> float:
        return max(self.params.band_k * self._sig_eff, 2.0 * self.params.trigger_floor_g)

    def _push(self, t: float, y: float) -> None:
        idx = self._off + len(self._ts)
        self._ts.append(t)
        self._ys.append(y)
        self._cum.append(self._tot)
        u, v = t - self._t0, y - self._y0
        s1, s2, st, stt, sty = self._tot
        self._tot = (s1 + v, s2 + v * v, st + u, stt + u * u, sty + u * v)
        while self._maxq and self._maxq[-1][1] <= y:
            self._maxq.pop()
        self._maxq.append((idx, y))
        while self._minq and self._minq[-1][1] >= y:
            self._minq.pop()
        self._minq.append((idx, y))
        self._shrink()
        self._trim(t)

    def _advance_suffix(self, start: int) -> None:
        self._sfx = start
        while self._maxq[0][0] < start:
            self._maxq.popleft()
        while self._minq[0][0] < start:
            self._minq.popleft()

    def _shrink(self) -> None:
        band = self._band()
        maxq, minq = self._maxq, self._minq
        while maxq[0][1] - minq[0][1] > band:
            if maxq[0][0] < minq[0][0]:
                self._sfx = maxq.popleft()[0] + 1
            else:
                self._sfx = minq.popleft()[0] + 1
            while maxq[0][0] < self._sfx:
                maxq.popleft()
            while minq[0][0] < self._sfx:
                minq.popleft()

    def _rebuild_suffix(self) -> None:
        """Recompute the stable suffix from scratch (after the band changed)."""
        last = self._off + len(self._ts) - 1
        lo = hi = self._ys[-1]
        band = self._band()
        i = last
        while i - 1 >= max(self._off, self._floor):
            v = self._ys[i - 1 - self._off]
            if max(hi, v) - min(lo, v) > band:
                break
            lo, hi = min(lo, v), max(hi, v)
            i -= 1
        self._sfx = i
        self._maxq.clear()
        self._minq.clear()
        for j in range(i, last + 1):
            y = self._ys[j - self._off]
            while self._maxq and self._maxq[-1][1] <= y:
                self._maxq.pop()
            self._maxq.append((j, y))
            while self._minq and self._minq[-1][1] >= y:
                self._minq.pop()
            self._minq.append((j, y))

    def _trim(self, t: float) -> None:
        """Forget samples older than the suffix and the relaxed-noise window (now and then)."""
        if len(self._ts) < 1024:
            return
        keep_from = self._sfx
        while keep_from > self._off and self._ts[keep_from - 1 - self._off] >= t - _KEEP_S:
            keep_from -= 1
        dead = keep_from - self._off
        if dead > 256:
            del self._ts[:dead], self._ys[:dead], self._cum[:dead]
            self._off = keep_from

    def _index_at(self, t: float) -> int:
        """Absolute index of the first buffered sample at or after ``t``."""
        return self._off + min(bisect_left(self._ts, t), len(self._ts) - 1)

    def _suffix_stats(self) -> tuple[int, float, float, float]:
        """(n, mean, sd about the mean, |trend| in standard errors) of the stable suffix."""
        c = self._cum[self._sfx - self._off]
        s1, s2, st, stt, sty = (a - b for a, b in zip(self._tot, c, strict=True))
        n = self._off + len(self._ts) - self._sfx
        mean_v = s1 / n
        var = max(0.0, s2 / n - mean_v * mean_v)
        trend_z = 0.0
        den = n * stt - st * st
        if n >= 3 and den > 0.0:
            slope = (n * sty - st * s1) / den
            dur = self._ts[-1] - self._ts[self._sfx - self._off]
            se = self._sig_eff * math.sqrt(12.0 / n)
            trend_z = abs(slope * dur) / se
        return n, mean_v + self._y0, math.sqrt(var), trend_z

    def _quiet(self, t: float, length: float) -> bool:
        """The last ``length`` seconds of the suffix are no noisier than sigma allows (a chi
        test): catches the tail of a settling oscillation inside the band, and a resting hand's
        sway even at 10 Hz where the block test has one sample per block."""
        i = max(self._sfx, self._off + bisect_left(self._ts, t - length))
        n = self._off + len(self._ts) - i
        sd = self._recent_sd(t - length)
        return sd <= self._sig_eff * (1.0 + self.params.quiet_k / math.sqrt(max(n, 1)))

    def _settled_at(self, level: float, not_before: float) -> float:
        """When the signal last came within noise of ``level`` for good: after the last sample
        beyond 4.5 sigma or the last two consecutive samples beyond 3 sigma."""
        sig = self._sig_eff
        ts, ys, off = self._ts, self._ys, self._off
        i_lo = max(self._sfx, off + bisect_left(ts, not_before))
        prev_out = False
        for i in range(off + len(ts) - 1, i_lo - 1, -1):
            d = abs(ys[i - off] - level)
            if d > 4.5 * sig or (d > 3.0 * sig and prev_out):
                j = i + 1 if d > 4.5 * sig else i + 2
                return ts[min(j, off + len(ts) - 1) - off]
            prev_out = d > 3.0 * sig
        return not_before

    def _recent_sd(self, t_from: float) -> float:
        """Standard deviation of the suffix samples at or after ``t_from``."""
        i = max(self._sfx, self._off + bisect_left(self._ts, t_from))
        c = self._cum[i - self._off]
        n = self._off + len(self._ts) - i
        if n < 2:
            return 0.0
        s1 = self._tot[0] - c[0]
        s2 = self._tot[1] - c[1]
        return math.sqrt(max(0.0, s2 / n - (s1 / n) ** 2))

    def _window_ok(self, t: float, length: float) -> bool:
        """Fine test of the last ``length`` seconds of the suffix: no noisier than sigma allows,
        no curvature (a fitted quadratic term within ``curve_k`` standard errors: the bottom of
        a bump, the crest of a hand's sway, a decaying tail) and the means of ``block_s`` blocks
        all within ``block_k`` standard errors of the window mean (slow wobble)."""
        if not self._quiet(t, length):
            return False
        p = self.params
        off = self._off
        i0 = max(self._sfx, off + bisect_left(self._ts, t - length))
        i1 = off + len(self._ts) - 1
        n = i1 - i0 + 1
        ts = self._ts[i0 - off:i1 - off + 1]
        ys = self._ys[i0 - off:i1 - off + 1]
        mean = sum(ys) / n
        sig = self._sig_eff
        # blocks
        t_block = ts[0] + p.block_s
        acc, cnt = 0.0, 0
        lim = p.block_k * sig
        for ti, yi in zip(ts, ys, strict=True):
            if ti >= t_block and cnt:
                if abs(acc / cnt - mean) * math.sqrt(cnt) > lim:
                    return False
                acc, cnt = 0.0, 0
                t_block = ti + p.block_s
            acc += yi
            cnt += 1
        if cnt and abs(acc / cnt - mean) * math.sqrt(cnt) > lim:
            return False
        if n < 6:
            return True
        # curvature: project on the quadratic orthogonal to constant and linear (Gram-Schmidt)
        half = 0.5 * (ts[-1] - ts[0]) or 1.0
        mid = 0.5 * (ts[-1] + ts[0])
        us = [(ti - mid) / half for ti in ts]
        u_mean = sum(us) / n
        p1 = [u - u_mean for u in us]
        s11 = sum(v * v for v in p1) or 1.0
        q = [u * u for u in us]
        q_mean = sum(q) / n
        beta = sum(qi * v for qi, v in zip(q, p1, strict=True)) / s11
        p2 = [qi - q_mean - beta * v for qi, v in zip(q, p1, strict=True)]
        s22 = sum(v * v for v in p2)
        if s22 <= 0.0:
            return True
        c = sum(v * (yi - mean) for v, yi in zip(p2, ys, strict=True)) / s22
        return abs(c) * math.sqrt(s22) <= p.curve_k * sig

    def _tail_plateau(self, t: float) -> None:
        """Record an internal plateau on the tail of a settling oscillation (module docstring).

        The ``tail_avg_s`` moving average of the last ``split_s`` must stay within
        ``max(3 sigma, 2 % of a unit)`` at a level a plausible non-zero whole number of units
        from ``L0``; consecutive hits at one level extend one plateau. Rate-limited, O(n)."""
        p = self.params
        if (p.tail_avg_s <= 0.0 or self.unit_weight_g is None or self._mode != "unstable"
                or not self._plateaus or t < self._next_tail):
            return
        self._next_tail = t + _CHECK_EVERY_S
        t_from = t - p.split_s - p.tail_avg_s
        i0 = self._index_at(t_from)
        if i0 < max(self._floor, self._off) or self._ts[i0 - self._off] > t_from + 0.05:
            return  # not enough contiguous samples (a gap restarted the buffer)
        ts = self._ts[i0 - self._off:]
        ys = self._ys[i0 - self._off:]
        cum = [0.0]
        for y in ys:
            cum.append(cum[-1] + y)
        ma: list[float] = []
        for j, tj in enumerate(ts):
            if tj < t - p.split_s:
                continue
            k = bisect_left(ts, tj - p.tail_avg_s + 1e-9)
            ma.append((cum[j + 1] - cum[k]) / (j + 1 - k))
        if len(ma) < _MIN_PLATEAU_SAMPLES:
            return
        if max(ma) - min(ma) > max(3.0 * self._sig_eff, 0.02 * self.unit_weight_g):
            return
        level = sum(ma) / len(ma)
        change = level - self._plateaus[0].level
        if abs(change) < self.min_delta_g or not self._plausible(change):
            return
        start = t - p.split_s
        last = self._plateaus[-1]
        if (len(self._plateaus) > 1 and last.start_idx == _TAIL
                and abs(last.level - level) <= 3.0 * self._sig_eff and last.end >= start):
            last.end, last.level = t, 0.5 * (last.level + level)
            return
        self._plateaus.append(_Plateau(start, t, level, _TAIL, _TAIL))

    def _finalize_open(self) -> None:
        op = self._open
        if op is None:
            return
        self._open = None
        if self._mode == "seek":
            return
        self._plateaus.append(op)
        if len(self._plateaus) > _MAX_PLATEAUS + 1:
            # keep L0; drop the shortest internal plateau
            k = min(range(1, len(self._plateaus)), key=lambda i: self._plateaus[i].duration)
            del self._plateaus[k]


class ShelfEventDetector:
    """One ``WeightChangeDetector`` per lane of a store config.

    ``on_weights(t, lane_id, grams, stale)`` routes a sample; unknown lanes, out-of-order or
    duplicate timestamps and non-finite values are dropped and counted in ``stats``. Lanes are
    independent: simultaneous changes on several lanes of one shelf each give their own event.
    """

    def __init__(self, cfg: StoreConfig, params: WeightDetectorParams | None = None) -> None:
        self.cfg = cfg
        self.detectors: dict[str, WeightChangeDetector] = {}
        for lane in cfg.lanes():
            product = cfg.product_in_lane(lane.id)
            self.detectors[lane.id] = WeightChangeDetector(
                lane.id,
                lane.shelf_id,
                unit_weight_g=None if product is None else product.unit_weight_g,
                unit_sd_g=None if product is None else product.weight_sd_g,
                params=params,
            )
        self._unknown = 0

    @property
    def stats(self) -> dict[str, int]:
        """Counters summed over lanes, plus ``unknown_lane``."""
        total: dict[str, int] = {"unknown_lane": self._unknown}
        for det in self.detectors.values():
            for key, value in det.stats.items():
                total[key] = total.get(key, 0) + value
        return total

    def on_weights(
        self, t: float, lane_id: str, grams: float, stale: bool = False
    ) -> list[WeightEvent]:
        """Feed one lane sample; returns the events it completed."""
        det = self.detectors.get(lane_id)
        if det is None:
            self._unknown += 1
            return []
        return det.update(t, grams, stale)
