"""Multi-person tracker on the store floor: stable anonymous ids from fused 3-D people.

A swapped id bills the wrong shopper, so every rule here prefers *losing* a track (its cart is
then reconciled elsewhere) over *moving* an id to another person:

* **Motion model.** Per track a constant-velocity Kalman filter on the floor, state
  ``(x, y, vx, vy)``, white-acceleration process noise. While a track coasts its velocity is
  damped (people stop behind shelves; an undamped prediction would run off).
* **Assignment cascade** (scipy ``linear_sum_assignment``, never greedy):
  1. confirmed tracks (also coasting ones) seen within ``recent_window``, Mahalanobis-gated
     (chi-square, 2 dof);
  2. tentative tracks, same gate, on what is left;
  3. **re-acquisition**: coasting tracks vs. the people still unmatched. A person matches if it
     is within ``reacq_radius + walk_speed * coast_time`` (capped) of the track's predicted *or*
     last-seen position - the gate grows with the time hidden, bounded by walking speed.
     A single-view person (no triangulation: its floor point is a ray meeting the floor)
     re-acquires only within ``reacq_single_radius``, however long the track was hidden.
     Several competing coasting tracks are resolved by a maximum-cardinality minimum-cost
     assignment. In an entry zone (where new people appear) a person may only re-acquire a
     track that was last seen in that entry zone.
* **Births only in an entry zone.** An unmatched person outside every entry zone never starts
  a track (it is counted in ``stats["orphans"]``); inside, it starts a tentative track unless
  it is within ``birth_min_separation`` of a live track (a duplicate of a tracked person).
  Tentative -> confirmed after ``confirm_hits`` associations; a tentative track that misses
  for ``tentative_timeout`` is dropped.
* **Coasting** up to ``max_coast`` seconds; after that the track is lost (reported in
  ``lost``; its id is retired).
* **Exit.** A confirmed track last seen inside an exit zone that is then not seen for
  ``exit_grace`` seconds, or that is measured outside the store floor, becomes ``EXITED``: it
  is reported once with that state and removed; its id never comes back.
* **Keypoints** are smoothed per joint, confidence-aware: ``alpha = base * min(1, c / c_full)``
  with a faster base for wrists and elbows (reach detection needs them responsive); unseen
  joints follow the body and their confidence decays.

* **Identity ambiguity.** Position is all the tracker has to tell people apart (ids come from
  body pose only), so when two people are close it may hand one's id to the other. It says
  when that could have happened: after the assignment, a measurement given to track ``a`` that
  another live track ``b`` would have taken nearly as cheaply (squared Mahalanobis distance to
  ``b`` inside the gate and less than ``confusion_margin`` above the one to ``a``; a
  re-acquired track's cost is its re-acquisition, so any track gating that person counts)
  makes ``a`` and ``b`` *confusable* in that frame set (``TrackState.confusable``). Billing
  sends the receipts of two sessions whose tracks were confusable before a later cart change
  to review rather than guessing who is who. Two people in well-separated measurements never
  are.

Ids are positive integers from a counter: never reused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from smart_store.config.model import StoreConfig
from smart_store.tracking.assignment import gated_assignment
from smart_store.tracking.associate import Anchor
from smart_store.tracking.model import (
    ELBOWS,
    NUM_KEYPOINTS,
    WRISTS,
    Person3D,
    TrackState,
    TrackStatus,
)

__all__ = ["Tracker", "TrackerParams"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class TrackerParams:
    """Tuning of the tracker (SI units: m, s).

    Attributes:
        confirm_hits: Associations that confirm a tentative track.
        tentative_timeout: A tentative track unseen this long is dropped.
        max_coast: A confirmed track unseen this long is lost.
        recent_window: Tracks seen within this take part in the Mahalanobis stages; older
            coasting tracks only in re-acquisition.
        accel_noise: White-acceleration spectral density of the motion model (m^2/s^3).
        init_velocity_sigma: Initial velocity uncertainty of a new track (m/s).
        gate_chi2: Mahalanobis gate (squared), 2 dof; 13.8 = 99.9 %.
        reacq_radius: Re-acquisition radius at zero coast time (m).
        walk_speed: Growth of the re-acquisition radius per second hidden (m/s).
        reacq_max_radius: Cap of the re-acquisition radius (m).
        coast_damping: Time constant (s) with which velocity decays while coasting.
        max_speed: Velocity estimates are clamped to this (m/s).
        exit_grace: Unseen time (s) after which a track last seen in an exit zone has exited.
        birth_min_separation: No birth this close (m) to a live track.
        reacq_single_radius: A single-view person (its floor point is a ray meeting the floor
            plane, often half a metre off) re-acquires a coasting track only this close (m),
            however long the track was hidden: a weak detection must not pull a lost id across
            the store.
        confusion_margin: Two tracks are confusable when a person assigned to one is within
            this much squared Mahalanobis distance (chi-square units, 2 dof) of the other's
            cost as well (module docstring: identity ambiguity).
        keypoint_alpha: Smoothing gain of ordinary joints at full confidence.
        keypoint_alpha_limbs: Smoothing gain of wrists and elbows at full confidence.
        keypoint_full_confidence: Measurement confidence giving the full gain.
        keypoint_decay: Time constant (s) of the confidence decay of unseen joints.
    """

    confirm_hits: int = 5
    tentative_timeout: float = 0.4
    max_coast: float = 5.0
    recent_window: float = 0.5
    accel_noise: float = 4.0
    init_velocity_sigma: float = 1.0
    gate_chi2: float = 13.8
    reacq_radius: float = 0.6
    walk_speed: float = 1.2
    reacq_max_radius: float = 3.0
    coast_damping: float = 1.0
    max_speed: float = 3.0
    exit_grace: float = 0.5
    birth_min_separation: float = 0.4
    reacq_single_radius: float = 0.4
    confusion_margin: float = 4.0
    keypoint_alpha: float = 0.5
    keypoint_alpha_limbs: float = 0.8
    keypoint_full_confidence: float = 0.5
    keypoint_decay: float = 0.5


_LIMB_MASK = np.zeros(NUM_KEYPOINTS, dtype=bool)
_LIMB_MASK[list(WRISTS + ELBOWS)] = True


class _Zones:
    """Fast vectorised "which polygon contains each point" for a fixed set of polygons
    (even-odd rule, like ``geometry.point_in_polygon``; non-finite points are in none)."""

    def __init__(self, polygons: Sequence[FloatArray]) -> None:
        self.n = len(polygons)
        x0, y0, x1, y1, owner = [], [], [], [], []
        for k, poly in enumerate(polygons):
            p = np.asarray(poly, dtype=np.float64)
            q = np.roll(p, -1, axis=0)
            x0.append(p[:, 0])
            y0.append(p[:, 1])
            x1.append(q[:, 0])
            y1.append(q[:, 1])
            owner.append(np.full(len(p), k))
        if self.n:
            self.x0, self.y0 = np.concatenate(x0)[None], np.concatenate(y0)[None]
            self.x1, self.y1 = np.concatenate(x1)[None], np.concatenate(y1)[None]
            dy = self.y1 - self.y0
            self.slope = np.where(dy != 0.0, (self.x1 - self.x0) / np.where(dy != 0.0, dy, 1.0),
                                  0.0)
            self.onehot = (np.concatenate(owner)[:, None] == np.arange(self.n)[None]).astype(int)

    def index(self, points: FloatArray) -> NDArray[np.intp]:
        """``(N,)`` index of the first polygon containing each point, -1 for none."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        out = np.full(pts.shape[0], -1, dtype=np.intp)
        if self.n == 0 or pts.shape[0] == 0:
            return out
        x, y = pts[:, 0:1], pts[:, 1:2]
        with np.errstate(invalid="ignore"):
            straddles = (self.y0 > y) != (self.y1 > y)
            crossing = straddles & (x < self.x0 + (y - self.y0) * self.slope)
        inside = (crossing.astype(int) @ self.onehot) % 2 == 1  # (N, n)
        inside &= np.all(np.isfinite(pts), axis=1)[:, None]
        has = inside.any(axis=1)
        out[has] = np.argmax(inside[has], axis=1)
        return out


@dataclass(eq=False)
class _Tracks:
    """All live tracks as parallel arrays (struct of arrays, row = track)."""

    ids: NDArray[np.int64]
    status: NDArray[np.int64]
    x: FloatArray  # (T, 4) x, y, vx, vy
    P: FloatArray  # (T, 4, 4)
    kp: FloatArray  # (T, 17, 3) smoothed joints (NaN = never seen)
    kpc: FloatArray  # (T, 17) joint confidence
    first_seen: FloatArray
    last_seen: FloatArray
    last_pos: FloatArray  # (T, 2) last measured position
    hits: NDArray[np.int64]
    ever_confirmed: NDArray[np.bool_]
    in_exit: NDArray[np.bool_]  # last measurement inside an exit zone
    entry_zone: NDArray[np.int64]  # entry zone of the last measurement, -1 = none
    crossed_out: NDArray[np.bool_]  # measured off the floor right after an exit zone
    cameras: list[tuple[str, ...]]

    @classmethod
    def empty(cls) -> _Tracks:
        J = NUM_KEYPOINTS
        return cls(
            np.empty(0, np.int64), np.empty(0, np.int64), np.empty((0, 4)), np.empty((0, 4, 4)),
            np.empty((0, J, 3)), np.empty((0, J)), np.empty(0), np.empty(0), np.empty((0, 2)),
            np.empty(0, np.int64), np.empty(0, bool), np.empty(0, bool), np.empty(0, np.int64),
            np.empty(0, bool), [],
        )

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def select(self, keep: NDArray[np.bool_]) -> _Tracks:
        idx = np.flatnonzero(keep)
        return _Tracks(
            self.ids[idx], self.status[idx], self.x[idx], self.P[idx], self.kp[idx],
            self.kpc[idx], self.first_seen[idx], self.last_seen[idx], self.last_pos[idx],
            self.hits[idx], self.ever_confirmed[idx], self.in_exit[idx], self.entry_zone[idx],
            self.crossed_out[idx], [self.cameras[i] for i in idx.tolist()],
        )

    def extend(self, other: _Tracks) -> _Tracks:
        if len(other) == 0:
            return self
        cat = np.concatenate
        return _Tracks(
            cat([self.ids, other.ids]), cat([self.status, other.status]),
            cat([self.x, other.x]), cat([self.P, other.P]), cat([self.kp, other.kp]),
            cat([self.kpc, other.kpc]), cat([self.first_seen, other.first_seen]),
            cat([self.last_seen, other.last_seen]), cat([self.last_pos, other.last_pos]),
            cat([self.hits, other.hits]), cat([self.ever_confirmed, other.ever_confirmed]),
            cat([self.in_exit, other.in_exit]), cat([self.entry_zone, other.entry_zone]),
            cat([self.crossed_out, other.crossed_out]), self.cameras + other.cameras,
        )


def _cv_matrices(dt: float, q: float) -> tuple[FloatArray, FloatArray]:
    F = np.eye(4)
    F[0, 2] = F[1, 3] = dt
    q3, q2 = q * dt**3 / 3.0, q * dt**2 / 2.0
    Q = np.array(
        [[q3, 0.0, q2, 0.0], [0.0, q3, 0.0, q2], [q2, 0.0, q * dt, 0.0], [0.0, q2, 0.0, q * dt]]
    )
    return F, Q


def _inv2(a: FloatArray, b: FloatArray, d: FloatArray) -> tuple[FloatArray, ...]:
    """Inverse of symmetric 2x2 matrices ``[[a, b], [b, d]]`` -> ``(ia, ib, id)``."""
    det = a * d - b * b
    return d / det, -b / det, a / det


class Tracker:
    """Floor tracker; feed it one list of ``Person3D`` per frame set, in time order.

    Args:
        cfg: Store config (entry / exit zones, floor polygon).
        params: Tuning; defaults are for shoppers at 10-30 frame sets per second.
    """

    def __init__(self, cfg: StoreConfig, params: TrackerParams | None = None) -> None:
        self.cfg = cfg
        self.params = params or TrackerParams()
        self._entry = _Zones([z.polygon for z in cfg.zones_of_kind("entry")])
        self._exit = _Zones([z.polygon for z in cfg.zones_of_kind("exit")])
        self._floor = _Zones([np.asarray(cfg.floor, dtype=np.float64)])
        self._tr = _Tracks.empty()
        self._next_id = 1
        self._t: float | None = None
        #: ``(id, time)`` of confirmed tracks that coasted past ``max_coast`` (ids retired).
        self.lost: list[tuple[int, float]] = []
        #: ``(id, time)`` of tracks that exited.
        self.exited: list[tuple[int, float]] = []
        #: Counters: births, orphans (unmatched people outside entry zones), reacquisitions,
        #: duplicates (births suppressed near a live track), out_of_order (frame sets older than
        #: the last one: ignored).
        self.stats: dict[str, int] = {
            "births": 0, "orphans": 0, "reacquisitions": 0, "duplicates": 0, "out_of_order": 0,
        }

    @property
    def time(self) -> float | None:
        """Time of the latest step."""
        return self._t

    def reset(self) -> None:
        """Forget every track and the clock (e.g. after the sensor clock jumped back). The id
        counter is kept: ids are still never reused."""
        self._tr = _Tracks.empty()
        self._t = None

    # ------------------------------------------------------------------ persistence
    _ARRAYS = ("ids", "status", "x", "P", "kp", "kpc", "first_seen", "last_seen", "last_pos",
               "hits", "ever_confirmed", "in_exit", "entry_zone", "crossed_out")

    def snapshot(self) -> dict[str, object]:
        """Everything needed to carry on after a restart, as JSON-able values (NaN kept)."""
        tr = self._tr
        state: dict[str, object] = {
            "version": 1, "t": self._t, "next_id": self._next_id,
            "cameras": [list(c) for c in tr.cameras],
        }
        for name in self._ARRAYS:
            state[name] = getattr(tr, name).tolist()
        return state

    def restore(self, state: dict[str, object], now: float | None = None) -> int:
        """Take over the tracks of ``snapshot()`` (a respawned tracker node): people inside
        the store keep their ids instead of becoming orphans (births happen only at the
        entry). With ``now`` (the first frame set after the restart) the outage does not
        count as coasting: every track is as unseen at ``now`` as it was at the snapshot
        (nobody looked), and it then coasts and is re-acquired as usual, the re-acquisition
        radius growing at walking speed. Ids stay unique. Returns the number of tracks
        restored; a snapshot that does not fit (wrong version, ragged arrays) raises
        ValueError."""
        if state.get("version") != 1:
            raise ValueError(f"tracker snapshot version {state.get('version')!r} is not 1")
        empty = _Tracks.empty()
        arrays = {}
        for name in self._ARRAYS:
            ref = getattr(empty, name)
            arr = np.asarray(state[name], dtype=ref.dtype)
            if arr.size == 0:
                arr = ref
            if arr.shape[1:] != ref.shape[1:]:
                raise ValueError(f"tracker snapshot: {name} has shape {arr.shape}")
            arrays[name] = arr
        cameras = [tuple(str(c) for c in cams) for cams in state["cameras"]]  # type: ignore[attr-defined]
        n = {len(a) for a in arrays.values()} | {len(cameras)}
        if len(n) != 1:
            raise ValueError("tracker snapshot: arrays of different lengths")
        self._tr = _Tracks(**arrays, cameras=cameras)
        t = state.get("t")
        self._t = None if t is None else float(t)  # type: ignore[arg-type]
        if now is not None and self._t is not None and now >= self._t:
            self._tr.last_seen = self._tr.last_seen + (now - self._t)
            self._tr.first_seen = np.minimum(self._tr.first_seen, self._tr.last_seen)
            self._t = now
        self._next_id = max(self._next_id, int(state["next_id"]))  # type: ignore[call-overload]
        return len(self._tr)

    def live_ids(self) -> list[int]:
        """Ids of the tracks currently held (tentative, confirmed, coasting)."""
        return self._tr.ids.tolist()

    # ------------------------------------------------------------------ prediction
    def _predict(self, dt: float) -> None:
        tr = self._tr
        if dt <= 0.0 or len(tr) == 0:
            return
        p = self.params
        F, Q = _cv_matrices(dt, p.accel_noise)
        x_new = tr.x @ F.T
        tr.P = F @ tr.P @ F.T + Q
        # Damp the velocity of tracks that were not seen in the previous frame set.
        coasting = tr.last_seen < (self._t if self._t is not None else -np.inf)
        if np.any(coasting):
            x_new[coasting, 2:] *= np.exp(-dt / p.coast_damping)
        tr.kp[:, :, :2] += (x_new[:, :2] - tr.x[:, :2])[:, None, :]
        tr.kpc *= np.exp(-dt / p.keypoint_decay)
        tr.x = x_new

    def anchors(self, t: float, window: float | None = None) -> list[Anchor]:
        """Predicted people for time ``t`` (no state change), for association anchoring.

        Only tracks seen within ``window`` (default ``recent_window``) are returned: an old
        coasting track's prediction is too vague to claim detections.
        """
        tr = self._tr
        window = self.params.recent_window if window is None else window
        rows = np.flatnonzero(t - tr.last_seen <= window)
        if rows.size == 0:
            return []
        dt = max(0.0, t - (self._t if self._t is not None else t))
        shift = tr.x[rows, 2:] * dt
        pos = tr.x[rows, :2] + shift
        kp = np.concatenate([tr.kp[rows], tr.kpc[rows][:, :, None]], axis=2)
        kp[:, :, :2] += shift[:, None, :]
        return [Anchor(int(tr.ids[r]), pos[k], kp[k]) for k, r in enumerate(rows.tolist())]

    # ------------------------------------------------------------------ costs
    def _mahalanobis(self, rows: NDArray[np.intp], Z: FloatArray, R: FloatArray) -> FloatArray:
        """Squared Mahalanobis distances ``(len(rows), N)`` of measurements to predictions."""
        tr = self._tr
        y = Z[None, :, :] - tr.x[rows, None, :2]
        Pp = tr.P[rows]
        ia, ib, idd = _inv2(Pp[:, None, 0, 0] + R[None, :], Pp[:, None, 0, 1],
                            Pp[:, None, 1, 1] + R[None, :])
        return ia * y[..., 0] ** 2 + 2.0 * ib * y[..., 0] * y[..., 1] + idd * y[..., 1] ** 2

    def _reacq_costs(
        self, rows: NDArray[np.intp], Z: FloatArray, entry_of: NDArray[np.intp], t: float,
        single: NDArray[np.bool_],
    ) -> FloatArray:
        """Normalised re-acquisition distances ``(len(rows), N)``; ``inf`` where not allowed."""
        p = self.params
        tr = self._tr
        coast = np.maximum(0.0, t - tr.last_seen[rows])
        radius = np.minimum(p.reacq_radius + p.walk_speed * coast, p.reacq_max_radius)
        radius = np.where(single[None, :], np.minimum(radius[:, None], p.reacq_single_radius),
                          radius[:, None])
        d_pred = np.linalg.norm(Z[None, :, :] - tr.x[rows, None, :2], axis=2)
        d_last = np.linalg.norm(Z[None, :, :] - tr.last_pos[rows, None, :], axis=2)
        d = np.minimum(d_pred, d_last)
        allowed = (entry_of[None, :] < 0) | (entry_of[None, :] == tr.entry_zone[rows, None])
        return np.where(allowed & (d <= radius), d / radius, np.inf)

    # ------------------------------------------------------------------ updates
    def _update(
        self,
        ti: NDArray[np.intp],
        pj: NDArray[np.intp],
        t: float,
        *,
        people: Sequence[Person3D],
        Z: FloatArray,
        R: FloatArray,
        flags: tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.bool_]],
    ) -> None:
        """Kalman update of tracks ``ti`` with people ``pj`` (batched), then bookkeeping."""
        p = self.params
        tr = self._tr
        entry_of, exit_of, on_floor = flags
        P = tr.P[ti]
        ia, ib, idd = _inv2(P[:, 0, 0] + R[pj], P[:, 0, 1], P[:, 1, 1] + R[pj])
        Sinv = np.stack([np.stack([ia, ib], -1), np.stack([ib, idd], -1)], -2)  # (M, 2, 2)
        K = P[:, :, :2] @ Sinv  # (M, 4, 2)
        y = Z[pj] - tr.x[ti, :2]
        x = tr.x[ti] + np.einsum("mab,mb->ma", K, y)
        P = P - K @ P[:, :2, :]
        P = 0.5 * (P + P.transpose(0, 2, 1))
        speed = np.hypot(x[:, 2], x[:, 3])
        fast = speed > p.max_speed
        if np.any(fast):
            x[fast, 2:] *= (p.max_speed / speed[fast])[:, None]
        tr.x[ti] = x
        tr.P[ti] = P
        tr.last_seen[ti] = t
        tr.last_pos[ti] = x[:, :2]
        tr.hits[ti] += 1
        was_in_exit = tr.in_exit[ti]
        now_in_exit = exit_of[pj] >= 0
        tr.crossed_out[ti] = ~on_floor[pj] & (was_in_exit | now_in_exit)
        tr.in_exit[ti] = now_in_exit
        tr.entry_zone[ti] = entry_of[pj]
        for a, b in zip(ti.tolist(), pj.tolist(), strict=True):
            tr.cameras[a] = people[b].cameras
        self._smooth(ti, np.stack([people[b].keypoints for b in pj.tolist()]))
        confirmed = tr.ever_confirmed[ti] | (tr.hits[ti] >= p.confirm_hits)
        tr.ever_confirmed[ti] = confirmed
        tr.status[ti] = np.where(confirmed, TrackStatus.CONFIRMED, TrackStatus.TENTATIVE)

    def _smooth(self, ti: NDArray[np.intp], meas_kp: FloatArray) -> None:
        """Confidence-aware per-joint exponential smoothing of tracks ``ti`` (batched)."""
        p = self.params
        tr = self._tr
        meas = meas_kp[:, :, :3]
        finite = np.all(np.isfinite(meas), axis=2)
        c = np.where(finite, np.nan_to_num(meas_kp[:, :, 3]), 0.0)
        seen = c > 0.0
        old = tr.kp[ti]
        oldc = tr.kpc[ti]
        fresh = ~np.all(np.isfinite(old), axis=2) | (oldc <= 1e-3)
        base = np.where(_LIMB_MASK, p.keypoint_alpha_limbs, p.keypoint_alpha)[None, :]
        alpha = base * np.minimum(1.0, c / p.keypoint_full_confidence)
        alpha = np.where(fresh, 1.0, alpha)
        alpha = np.where(seen, alpha, 0.0)
        old0 = np.where(np.isfinite(old), old, np.nan_to_num(meas))
        new = old0 + alpha[..., None] * (np.nan_to_num(meas) - old0)
        tr.kp[ti] = np.where(seen[..., None], new, old)
        tr.kpc[ti] = oldc + alpha * (c - oldc)

    def _births(self, people: Sequence[Person3D], cols: list[int], zones: list[int],
                t: float) -> None:
        p = self.params
        n = len(cols)
        J = NUM_KEYPOINTS
        Zb = np.stack([people[c].floor for c in cols])
        var = np.array([people[c].floor_sigma ** 2 for c in cols])
        x = np.column_stack([Zb, np.zeros((n, 2))])
        P = np.zeros((n, 4, 4))
        P[:, 0, 0] = P[:, 1, 1] = var
        P[:, 2, 2] = P[:, 3, 3] = p.init_velocity_sigma**2
        ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        self._next_id += n
        born = _Tracks(
            ids, np.full(n, int(TrackStatus.TENTATIVE), np.int64), x, P,
            np.full((n, J, 3), np.nan), np.zeros((n, J)), np.full(n, t), np.full(n, t),
            Zb.copy(), np.ones(n, np.int64), np.zeros(n, bool), np.zeros(n, bool),
            np.asarray(zones, np.int64), np.zeros(n, bool), [people[c].cameras for c in cols],
        )
        confirmed = born.hits >= p.confirm_hits
        born.ever_confirmed[:] = confirmed
        born.status[confirmed] = int(TrackStatus.CONFIRMED)
        start = len(self._tr)
        self._tr = self._tr.extend(born)
        self._smooth(np.arange(start, start + n), np.stack([people[c].keypoints for c in cols]))
        self.stats["births"] += n

    # ------------------------------------------------------------------ main
    def step(self, t: float, persons: Sequence[Person3D]) -> list[TrackState]:
        """Advance to frame-set time ``t`` with the people fused from it.

        Returns the states of all live tracks (tentative, confirmed, coasting) plus, once, the
        tracks that exited in this step (state ``EXITED``), sorted by id. A frame set older
        than the previous one is ignored (the current states are returned unchanged).
        """
        p = self.params
        if self._t is not None and t < self._t:
            # An older frame set than the last one: using it would move tracks back in time.
            self.stats["out_of_order"] += 1
            return self._states(np.arange(len(self._tr)), self._t)
        dt = 0.0 if self._t is None else t - self._t
        self._predict(dt)
        self._t = t
        tr = self._tr

        people = [q for q in persons if np.isfinite(q.floor[0]) and np.isfinite(q.floor[1])]
        n = len(people)
        Z = np.array([q.floor for q in people], dtype=np.float64).reshape(n, 2)
        R = np.array([q.floor_sigma**2 for q in people], dtype=np.float64)
        single = np.array([not q.triangulated for q in people], dtype=bool)
        entry_of = self._entry.index(Z)
        flags = (entry_of, self._exit.index(Z), self._floor.index(Z) >= 0)
        track_of = np.full(n, -1, dtype=np.intp)  # person -> track row
        matched = np.zeros(len(tr), dtype=bool)

        def stage(
            rows: NDArray[np.intp],
            cost_fn: Callable[[NDArray[np.intp], NDArray[np.intp]], FloatArray],
            gate: float,
            mode: Literal["padded", "max_matches"],
        ) -> int:
            free = np.flatnonzero(track_of < 0)
            if rows.size == 0 or free.size == 0:
                return 0
            r, c = gated_assignment(cost_fn(rows, free), gate, mode)
            track_of[free[c]] = rows[r]
            matched[rows[r]] = True
            return int(r.size)

        if n and len(tr):
            tentative = tr.status == TrackStatus.TENTATIVE
            recent = ~tentative & (t - tr.last_seen <= p.recent_window)
            stage(np.flatnonzero(recent),
                  lambda rows, cols: self._mahalanobis(rows, Z[cols], R[cols]),
                  p.gate_chi2, "padded")
            stage(np.flatnonzero(tentative),
                  lambda rows, cols: self._mahalanobis(rows, Z[cols], R[cols]),
                  p.gate_chi2, "padded")
            self.stats["reacquisitions"] += stage(
                np.flatnonzero(~tentative & ~matched),
                lambda rows, cols: self._reacq_costs(rows, Z[cols], entry_of[cols], t,
                                                     single[cols]),
                1.0 + 1e-9, "max_matches",
            )
        pj = np.flatnonzero(track_of >= 0)
        confusable = self._confusions(track_of, pj, Z, R)
        if pj.size:
            self._update(track_of[pj], pj, t, people=people, Z=Z, R=R, flags=flags)

        # Births (entry zones only) and orphans.
        births: list[int] = []
        zones: list[int] = []
        for col in np.flatnonzero(track_of < 0).tolist():
            if entry_of[col] < 0:
                self.stats["orphans"] += 1
                continue
            near = np.any(np.hypot(*(tr.x[:, :2] - Z[col]).T) < p.birth_min_separation) or any(
                np.hypot(*(Z[b] - Z[col])) < p.birth_min_separation for b in births
            )
            if near:
                self.stats["duplicates"] += 1
                continue
            births.append(col)
            zones.append(int(entry_of[col]))
        n_old = len(tr)
        if births:
            self._births(people, births, zones, t)
            matched = np.concatenate([matched, np.ones(len(births), dtype=bool)])
        tr = self._tr

        # State transitions of the tracks not seen in this frame set; exits; deletions.
        unseen = t - tr.last_seen
        tentative = tr.status == TrackStatus.TENTATIVE
        exit_now = (matched & tr.ever_confirmed & tr.crossed_out) | (
            ~matched & ~tentative & tr.in_exit & (unseen >= p.exit_grace)
        )
        drop_tent = ~matched & tentative & (unseen >= p.tentative_timeout)
        lost = ~matched & ~tentative & ~exit_now & (unseen > p.max_coast)
        coast = ~matched & ~tentative & ~exit_now & ~lost
        tr.status[coast] = int(TrackStatus.COASTING)
        for r in np.flatnonzero(~matched[:n_old] if n_old else np.zeros(0, bool)).tolist():
            tr.cameras[r] = ()
        tr.status[exit_now] = int(TrackStatus.EXITED)
        out = self._states(np.flatnonzero(~drop_tent & ~lost), t, confusable)
        for r in np.flatnonzero(exit_now).tolist():
            self.exited.append((int(tr.ids[r]), t))
        for r in np.flatnonzero(lost).tolist():
            self.lost.append((int(tr.ids[r]), t))
        keep = ~(exit_now | drop_tent | lost)
        if not np.all(keep):
            self._tr = tr.select(keep)
        out.sort(key=lambda s: s.id)
        return out

    def _confusions(self, track_of: NDArray[np.intp], pj: NDArray[np.intp], Z: FloatArray,
                    R: FloatArray) -> dict[int, set[int]]:
        """Track id -> ids of the tracks it is confusable with in this step (module
        docstring); from the predicted states, before the update."""
        p = self.params
        tr = self._tr
        out: dict[int, set[int]] = {}
        if pj.size == 0 or len(tr) < 2:
            return out
        live = np.arange(len(tr))
        d2 = self._mahalanobis(live, Z[pj], R[pj])  # (tracks, assigned people)
        own = track_of[pj]
        base = d2[own, np.arange(pj.size)]
        # A re-acquired track was not inside its gate: the one it took is anyone's
        base = np.where(base < p.gate_chi2, base, np.inf)
        close = (d2 < p.gate_chi2) & (d2 - base[None, :] < p.confusion_margin)
        close[own, np.arange(pj.size)] = False
        for b, k in zip(*np.nonzero(close), strict=True):
            ia, ib = int(tr.ids[own[k]]), int(tr.ids[b])
            out.setdefault(ia, set()).add(ib)
            out.setdefault(ib, set()).add(ia)
        return out

    def _states(self, rows: NDArray[np.intp], t: float,
                confusable: dict[int, set[int]] | None = None) -> list[TrackState]:
        """``TrackState``s of track rows ``rows`` (arrays built batched, then sliced)."""
        p = self.params
        tr = self._tr
        n = rows.size
        if n == 0:
            return []
        unseen = np.maximum(0.0, t - tr.last_seen[rows])
        hits = tr.hits[rows]
        conf = (1.0 - 0.5**hits) * np.maximum(0.0, 1.0 - unseen / p.max_coast)
        kp = np.concatenate([tr.kp[rows], tr.kpc[rows][..., None]], axis=2)
        pos = np.zeros((n, 3))
        pos[:, :2] = tr.x[rows, :2]
        vel = np.zeros((n, 3))
        vel[:, :2] = tr.x[rows, 2:]
        cov = tr.P[rows, :2, :2].copy()
        out = []
        for k, r in enumerate(rows.tolist()):
            out.append(
                TrackState(
                    id=int(tr.ids[r]),
                    state=TrackStatus(int(tr.status[r])),
                    position=pos[k],
                    velocity=vel[k],
                    keypoints=kp[k],
                    camera_ids=tr.cameras[r],
                    confidence=float(conf[k]),
                    first_seen=float(tr.first_seen[r]),
                    last_seen=float(tr.last_seen[r]),
                    stamp=t,
                    position_cov=cov[k],
                    hits=int(hits[k]),
                    confusable=tuple(sorted((confusable or {}).get(int(tr.ids[r]), ()))),
                )
            )
        return out
