"""Pose-based reach detection, confirmed by the shelf-front distance sensors.

A reach starts when a wrist of a tracked person enters the *shelf-front volume* of a lane and
ends when it leaves. The volume of a lane is its opening in shelf-local coordinates:
x within the lane's span, z from the board to the board plus clearance, and y from
``depth_in`` behind the front face (hands go into the shelf) to ``depth_out`` in front of it
(3D wrist estimates are noisy, and a hand grasping an item at the front edge counts).
Hysteresis: a wrist enters when inside the volume and leaves only when it has been outside the
volume grown by ``margin`` for ``exit_hold`` seconds, so joint noise does not split one reach
into several.

Fusion with the distance sensors (beam breaks, from events/beam.py): a beam break on the same
shelf that overlaps the reach in time, at a position along the front edge within the reach's
lane span (+- ``beam_tolerance``), confirms it: evidence POSE|BEAM, higher confidence, and the
beam's timing (sensor rate, not camera rate) replaces the pose timing where the beam is
sharper. A pose reach with no beam, or a beam break that no pose reach explains, still goes
out, with lower confidence and its evidence recorded; a beam-only reach is attributed to the
track whose hand (within ``beam_only_radius``) or torso (within ``beam_only_body_radius``,
counted ``body_penalty`` farther: a weak pose model often places a track well while its
wrists are too unsure to use) is nearest to where the beam was broken: confidence 0.35,
0.25 when a runner-up is within ``beam_only_margin``, and track 0 (unknown, 0.15) when nobody
is near. Lanes are listed with the time spent in each, most first, so a reach that spans two
lanes names both.

Shadowed reaches: the sensor reports the NEAREST crossing of the front face only, so while one
arm breaks the beam a second shopper's arm farther along the shelf is invisible to it. When a
beam break is retired, every other track that was farther along the beam than the break during
it - a hand within ``shadow_hand_front`` in front of the face or, when neither of its hands is
known, its torso within ``shadow_body_front`` and at least ``shadow_body_clear`` beyond the
break - and that has no pose reach of its own on that shelf then, gets a reach on the lanes at
its own position (a torso: within ``shadow_body_span`` either side), confidence
``shadow_confidence`` (below any beam-only reach), evidence BEAM, id ``rs-<beam>-<track>``.
A shadowed reach that explains no weight change is a reach without a take; the arbiter's
assignment prefers any better-evidenced hand.

Pure Python + numpy; no ROS.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from smart_store.config import StoreConfig
from smart_store.config.model import Lane, Shelf
from smart_store.events.model import BeamBreak
from smart_store.reach.model import EVIDENCE_BEAM, EVIDENCE_POSE, Reach

# COCO indices
L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = 5, 6, 7, 8, 9, 10
HANDS = (('left', L_WRIST, L_ELBOW, L_SHOULDER), ('right', R_WRIST, R_ELBOW, R_SHOULDER))


@dataclass(frozen=True)
class ReachParams:
    depth_in: float = 0.30          # m behind the front face that still counts as "in"
    depth_out: float = 0.06         # m in front of the face
    margin: float = 0.05            # m hysteresis around the volume for leaving
    exit_hold: float = 0.35         # s outside before a reach ends (> one frame at 5 Hz)
    enter_depth: float = 0.0        # m behind the face the wrist must be to START a reach
    min_duration: float = 0.12      # s; shorter is joint noise
    min_wrist_conf: float = 0.3     # below: try the forearm extrapolation
    forearm_len: float = 0.26       # m, elbow to wrist, for the extrapolation
    min_lane_dwell: float = 0.08    # s in a lane for it to be listed
    beam_tolerance: float = 0.12    # m along the front edge
    beam_time_slack: float = 0.3    # s of allowed offset between pose and beam intervals
    settle_wait: float = 0.4        # s after a reach or beam ends before deciding on it
    beam_only_radius: float = 0.9   # m: how far a track's hand may be from a beam-only break
    beam_only_body_radius: float = 0.9  # m: ... or its torso (shoulders, hips) on the floor
    body_penalty: float = 0.3       # m added to a torso distance (a seen hand is better evidence)
    beam_only_margin: float = 0.25  # m: a runner-up this close lowers the confidence
    max_gap: float = 0.6            # s without the track before an open reach is closed
    shadow_hand_front: float = 0.25  # m: a hand this close in front of the face may reach ...
    shadow_body_front: float = 0.75  # m: ... or a torso this close (the arm's length)
    shadow_body_span: float = 0.45   # m along the shelf either side of a torso it may reach
    shadow_body_clear: float = 0.25  # m a torso must be beyond the break (nearer: it may be
                                     # the arm that broke it, the beam-only runner-up case)
    shadow_confidence: float = 0.2   # of a reach inferred from a shadowed beam


@dataclass
class _Open:
    track: int
    hand: str
    shelf: str
    start: float
    last_inside: float
    dwell: dict[str, float] = field(default_factory=dict)
    last_t: float = 0.0
    conf_sum: float = 0.0
    samples: int = 0
    extrapolated: int = 0


@dataclass
class _Closed:
    reach: _Open
    end: float


@dataclass(frozen=True)
class _LaneVolume:
    lane: Lane
    shelf: Shelf
    lo: np.ndarray
    hi: np.ndarray
    front_x0: float     # distance along the front edge from the sensor end (x = -w/2)
    front_x1: float


def _level_miss(z: float, vol: _LaneVolume) -> float:
    """How far (m) a height is outside a lane's opening, 0.1 m of slack (0 = at that level)."""
    return max(0.0, vol.lo[2] - 0.1 - z, z - vol.hi[2] - 0.1)


class ReachDetector:
    """Feed it tracks frame by frame and beam breaks as they come; collect reaches."""

    def __init__(self, cfg: StoreConfig, params: ReachParams | None = None) -> None:
        self.cfg = cfg
        self.p = params or ReachParams()
        self.volumes: dict[str, list[_LaneVolume]] = {}
        for shelf in cfg.shelves:
            vols = []
            for lane in shelf.lanes():
                lo, hi = (np.array(v, dtype=float) for v in lane.box_local)
                front = shelf.depth / 2.0
                vlo = np.array([lo[0], front - self.p.depth_in, lo[2]])
                vhi = np.array([hi[0], front + self.p.depth_out, hi[2]])
                vols.append(_LaneVolume(lane, shelf, vlo, vhi, lo[0] + shelf.width / 2.0,
                                        hi[0] + shelf.width / 2.0))
            self.volumes[shelf.id] = vols
        self._open: dict[tuple[int, str], _Open] = {}
        self._closed: list[_Closed] = []
        self._beams: list[BeamBreak] = []
        self._last_positions: list[tuple[float, dict[int, np.ndarray]]] = []
        self._used_beams: set[str] = set()
        self._emitted: list[Reach] = []
        self.stats = {'frames': 0, 'dropped_nonfinite': 0, 'dropped_old': 0, 'reaches': 0,
                      'beam_only': 0, 'pose_only': 0, 'confirmed': 0, 'late_beams': 0,
                      'shadowed': 0}
        self._last_t = -np.inf

    # ------------------------------------------------------------------ geometry
    def _locate(self, point: np.ndarray, grow: float, front_cut: float | None = None
                ) -> tuple[str, str] | None:
        """(shelf id, lane id) whose front volume (grown by ``grow``) holds the point;
        with ``front_cut`` the volume ends that far behind the face instead (to start a reach,
        a hand passing in front of a lane must not count)."""
        best: tuple[float, str, str] | None = None
        for shelf in self.cfg.shelves:
            local = shelf.to_local(point.reshape(1, 3))[0]
            if abs(local[0]) > shelf.width / 2 + grow + 0.05:
                continue
            for vol in self.volumes[shelf.id]:
                hi = vol.hi + grow
                if front_cut is not None:
                    hi = hi.copy()
                    hi[1] = shelf.depth / 2.0 - front_cut
                if np.all(local >= vol.lo - grow) and np.all(local <= hi):
                    # Prefer the lane whose centre is nearest (overlap only with grow > 0).
                    centre = 0.5 * (vol.lo + vol.hi)
                    d = float(np.sum((local - centre) ** 2))
                    if best is None or d < best[0]:
                        best = (d, shelf.id, vol.lane.id)
        return None if best is None else (best[1], best[2])

    def _hand_point(self, kp: np.ndarray, wrist: int, elbow: int, shoulder: int
                    ) -> tuple[np.ndarray | None, float, bool]:
        """The wrist position and confidence; extrapolated from the forearm when the wrist
        itself is unsure (it is often the joint hidden inside the shelf)."""
        if kp[wrist, 3] >= self.p.min_wrist_conf and np.all(np.isfinite(kp[wrist, :3])):
            return kp[wrist, :3], float(kp[wrist, 3]), False
        if (kp[elbow, 3] >= self.p.min_wrist_conf and kp[shoulder, 3] >= self.p.min_wrist_conf
                and np.all(np.isfinite(kp[[elbow, shoulder], :3]))):
            direction = kp[elbow, :3] - kp[shoulder, :3]
            norm = float(np.linalg.norm(direction))
            if norm > 1e-6:
                point = kp[elbow, :3] + direction / norm * self.p.forearm_len
                return point, 0.5 * float(min(kp[elbow, 3], kp[shoulder, 3])), True
        return None, 0.0, False

    # ------------------------------------------------------------------ input
    def on_tracks(self, t: float, tracks: dict[int, np.ndarray]) -> list[Reach]:
        """One frame: track id -> keypoints (17, 4) (x, y, z, confidence), store frame."""
        if not np.isfinite(t) or t < self._last_t:
            self.stats['dropped_old'] += 1
            return self.poll(self._last_t)
        self._last_t = t
        self.stats['frames'] += 1
        positions: dict[int, np.ndarray] = {}
        for track_id, kp in tracks.items():
            arr = np.asarray(kp, dtype=float)
            if arr.shape != (17, 4):
                self.stats['dropped_nonfinite'] += 1
                continue
            positions[track_id] = arr
            for hand, *joints in HANDS:
                self._update_hand(t, track_id, hand, arr, joints)
        self._last_positions.append((t, positions))
        horizon = t - 10.0
        while self._last_positions and self._last_positions[0][0] < horizon:
            self._last_positions.pop(0)
        # Hands of tracks that vanished end their reach after max_gap.
        for key, open_ in list(self._open.items()):
            if t - open_.last_t > self.p.max_gap:
                self._finish(key, open_.last_inside)
        return self.poll(t)

    def _update_hand(self, t: float, track_id: int, hand: str, kp: np.ndarray,
                     joints: list[int]) -> None:
        key = (track_id, hand)
        point, conf, extrapolated = self._hand_point(kp, *joints)
        open_ = self._open.get(key)
        where = None if point is None else self._locate(point, 0.0)
        if open_ is None:
            where = None if point is None else self._locate(point, 0.0, self.p.enter_depth)
            if where is not None:
                self._open[key] = _Open(track_id, hand, where[0], t, t, {where[1]: 0.0}, t,
                                        conf, 1, int(extrapolated))
            return
        dt = max(0.0, t - open_.last_t)
        open_.last_t = t
        inside = None if point is None else self._locate(point, self.p.margin)
        if inside is not None and inside[0] == open_.shelf:
            open_.last_inside = t
            lane = where[1] if where is not None and where[0] == open_.shelf else inside[1]
            open_.dwell[lane] = open_.dwell.get(lane, 0.0) + dt
            open_.conf_sum += conf
            open_.samples += 1
            open_.extrapolated += int(extrapolated)
        elif t - open_.last_inside >= self.p.exit_hold:
            self._finish(key, open_.last_inside)

    def _finish(self, key: tuple[int, str], end: float) -> None:
        open_ = self._open.pop(key)
        if end - open_.start >= self.p.min_duration:
            self._closed.append(_Closed(open_, end))

    def on_beam(self, beam: BeamBreak) -> None:
        if np.isfinite(beam.start) and np.isfinite(beam.end) and beam.end >= beam.start:
            self._beams.append(beam)
        else:
            self.stats['dropped_nonfinite'] += 1

    # ------------------------------------------------------------------ output
    def _beam_lanes(self, beam: BeamBreak) -> list[_LaneVolume]:
        tol = self.p.beam_tolerance
        return [v for v in self.volumes.get(beam.shelf_id, [])
                if v.front_x0 - tol <= beam.min_range <= v.front_x1 + tol]

    def _match_beam(self, closed: _Closed) -> BeamBreak | None:
        r = closed.reach
        lanes = set(r.dwell)
        best: tuple[float, BeamBreak] | None = None
        for beam in self._beams:
            if beam.shelf_id != r.shelf or beam.event_id in self._used_beams:
                continue
            overlap = min(beam.end, closed.end) - max(beam.start, r.start)
            if overlap < -self.p.beam_time_slack:
                continue
            if not lanes & {v.lane.id for v in self._beam_lanes(beam)}:
                continue
            if best is None or overlap > best[0]:
                best = (overlap, beam)
        return None if best is None else best[1]

    @staticmethod
    def _next_id(start: float, track: int, hand: str) -> str:
        return f'r-{track}-{hand[0]}-{round(start * 1000)}'

    def poll(self, now: float) -> list[Reach]:
        """Reaches (and beam-only reaches) whose decision time has come."""
        out: list[Reach] = []
        ready = [c for c in self._closed if now - c.end >= self.p.settle_wait]
        self._closed = [c for c in self._closed if now - c.end < self.p.settle_wait]
        for closed in sorted(ready, key=lambda c: (c.reach.start, c.reach.track, c.reach.hand)):
            out.append(self._emit(closed))
        self._emitted = [r for r in self._emitted + [r for r in out if r.evidence & EVIDENCE_POSE]
                         if now - r.end < 30.0]
        for beam in [b for b in self._beams if now - b.end >= self.p.settle_wait * 2]:
            self._beams.remove(beam)
            # the tracks credited with the break are not hidden behind it (the pose reaches
            # of this poll are in _emitted already)
            credited = {r.track_id for r in self._emitted if beam.event_id in r.beam_break_ids}
            if beam.event_id not in self._used_beams:
                reach = self._beam_only(beam)
                if reach is not None:
                    out.append(reach)
                    credited.add(reach.track_id)
            self._used_beams.discard(beam.event_id)
            out.extend(self._shadowed(beam, credited))
        self.stats['reaches'] += len(out)
        return out

    def _emit(self, closed: _Closed) -> Reach:
        r = closed.reach
        lanes = sorted(((d, lane) for lane, d in r.dwell.items()
                        if d >= self.p.min_lane_dwell or len(r.dwell) == 1), reverse=True)
        if not lanes:
            lanes = [max((d, lane) for lane, d in r.dwell.items())]
        wrist_conf = r.conf_sum / max(1, r.samples)
        beam = self._match_beam(closed)
        start, end = r.start, closed.end
        evidence = EVIDENCE_POSE
        beam_ids: tuple[str, ...] = ()
        # Confidence: wrist evidence, shortened if the hand was mostly extrapolated.
        confidence = 0.55 + 0.3 * wrist_conf - 0.2 * (r.extrapolated / max(1, r.samples))
        if beam is not None:
            self._used_beams.add(beam.event_id)
            evidence |= EVIDENCE_BEAM
            beam_ids = (beam.event_id,)
            # The beam samples at 50 Hz: its edges are sharper than the camera's.
            start, end = min(start, beam.start), max(end, beam.end)
            confidence = min(0.99, confidence + 0.3)
            self.stats['confirmed'] += 1
        else:
            self.stats['pose_only'] += 1
        return Reach(event_id=self._next_id(r.start, r.track, r.hand), track_id=r.track,
                     hand=r.hand,  # type: ignore[arg-type]
                     shelf_id=r.shelf, lane_ids=tuple(lane for _, lane in lanes),
                     lane_dwell=tuple(round(d, 3) for d, _ in lanes), start=start, end=end,
                     confidence=float(np.clip(confidence, 0.05, 0.99)), evidence=evidence,
                     beam_break_ids=beam_ids, wrist_confidence=float(wrist_conf))

    def _beam_only(self, beam: BeamBreak) -> Reach | None:
        """A beam break no pose reach explains: attribute it to the nearest hand."""
        lanes = self._beam_lanes(beam)
        if not lanes:
            return None
        # A break that outlasted the pose reach it belongs to arrives after that reach was
        # already decided: it confirms it late rather than being a reach of its own.
        lane_ids = {v.lane.id for v in lanes}
        for r in self._emitted:
            overlap = min(beam.end, r.end) - max(beam.start, r.start)
            if (r.shelf_id == beam.shelf_id and lane_ids & set(r.lane_ids)
                    and overlap > -self.p.beam_time_slack):
                self.stats['late_beams'] += 1
                return None
        shelf = lanes[0].shelf
        local_x = beam.min_range - shelf.width / 2.0
        point = shelf.to_store(np.array([[local_x, shelf.depth / 2.0, 1.0]]))[0]
        frames = [p for t, p in self._last_positions if beam.start - 0.2 <= t <= beam.end + 0.2]
        # Per track: the nearest sure hand, else its body (a weak pose model often has a track
        # in the right place while its wrists are too unsure to use). A body counts
        # ``body_penalty`` farther than a hand would, so a hand seen at the spot wins.
        near: dict[int, tuple[float, str, float | None]] = {}
        for positions in frames:
            for track_id, kp in positions.items():
                cands: list[tuple[float, str, float | None]] = []
                for hand, wrist, elbow, shoulder in HANDS:
                    hp, _, _ = self._hand_point(kp, wrist, elbow, shoulder)
                    if hp is not None:
                        d = float(np.linalg.norm(hp[:2] - point[:2]))
                        if d <= self.p.beam_only_radius:
                            cands.append((d, hand, float(hp[2])))
                centre = self._body_point(kp)
                if centre is not None:
                    d = float(np.linalg.norm(centre - point[:2]))
                    if d <= self.p.beam_only_body_radius:
                        cands.append((d + self.p.body_penalty, 'right', None))
                if cands:
                    best_here = min(cands, key=lambda c: c[0])
                    if track_id not in near or best_here[0] < near[track_id][0]:
                        near[track_id] = best_here
        track_id, hand = 0, 'right'
        level_lanes = lanes
        confidence = 0.15
        ranked = sorted((c[0], tid) for tid, c in near.items())
        if ranked:
            track_id = ranked[0][1]
            _d, hand, z = near[track_id]
            confidence = 0.35
            if len(ranked) > 1 and ranked[1][0] - ranked[0][0] < self.p.beam_only_margin:
                confidence = 0.25    # another shopper almost as near: the arbiter may review
            if z is not None:
                # The hand's height ranks the levels (the beam alone cannot tell them apart):
                # the level it is at first, the others after it, none dropped. A weak pose
                # model's wrist height is often a level off (a top-board pick seen at the
                # middle board), and the weight event's lane then still finds this reach.
                level_lanes = sorted(lanes, key=lambda v: _level_miss(z, v))
        self.stats['beam_only'] += 1
        return Reach(event_id=f'rb-{beam.event_id}', track_id=track_id,
                     hand=hand,  # type: ignore[arg-type]
                     shelf_id=beam.shelf_id, lane_ids=tuple(v.lane.id for v in level_lanes),
                     lane_dwell=tuple(0.0 for _ in level_lanes), start=beam.start, end=beam.end,
                     confidence=confidence, evidence=EVIDENCE_BEAM,
                     beam_break_ids=(beam.event_id,), wrist_confidence=0.0)

    def _shadowed(self, beam: BeamBreak, credited: set[int]) -> list[Reach]:
        """Reaches of tracks whose arm the nearer crossing of ``beam`` hid (module docstring)."""
        vols = self.volumes.get(beam.shelf_id, [])
        if not vols:
            return []
        shelf = vols[0].shelf
        # Tracks with a pose reach of their own on this shelf during the break are seen.
        seen = {r.track_id for r in self._emitted if r.shelf_id == beam.shelf_id
                and min(beam.end, r.end) - max(beam.start, r.start) > -self.p.beam_time_slack}
        seen |= {o.track for o in self._open.values() if o.shelf == beam.shelf_id}
        seen |= {c.reach.track for c in self._closed if c.reach.shelf == beam.shelf_id}
        beyond = beam.min_range + self.p.beam_tolerance   # along the front, from the sensor end
        front = shelf.depth / 2.0
        spots: dict[int, tuple[float, float, float | None]] = {}  # track -> (lo, hi, hand z)
        for t, positions in self._last_positions:
            if not beam.start - 0.2 <= t <= beam.end + 0.2:
                continue
            for track_id, kp in positions.items():
                if track_id in credited or track_id in seen or track_id == 0:
                    continue
                spot: tuple[float, float, float | None] | None = None
                hands_known = False
                for _hand, wrist, elbow, shoulder in HANDS:
                    hp, _, _ = self._hand_point(kp, wrist, elbow, shoulder)
                    if hp is None:
                        continue
                    hands_known = True
                    local = shelf.to_local(hp.reshape(1, 3))[0]
                    along = float(local[0]) + shelf.width / 2.0
                    if (0.0 <= local[1] - front <= self.p.shadow_hand_front
                            and beyond < along <= shelf.width):
                        spot = (along, along, float(hp[2]))
                        break
                if spot is None and not hands_known:
                    # only when the pose says nothing about the hands: a known hand away
                    # from the shelf is a shopper standing there, not reaching
                    centre = self._body_point(kp)
                    if centre is None:
                        continue
                    local = shelf.to_local(np.array([[centre[0], centre[1], 0.0]]))[0]
                    along = float(local[0]) + shelf.width / 2.0
                    if (0.0 <= local[1] - front <= self.p.shadow_body_front
                            and beyond + self.p.shadow_body_clear < along
                            <= shelf.width + self.p.shadow_body_span):
                        spot = (max(beyond, along - self.p.shadow_body_span),
                                along + self.p.shadow_body_span, None)
                if spot is not None and (track_id not in spots or spots[track_id][2] is None):
                    spots[track_id] = spot
        out = []
        tol = self.p.beam_tolerance
        for track_id, (lo, hi, z) in sorted(spots.items()):
            lanes = [v for v in vols if v.front_x0 - tol <= hi and lo <= v.front_x1 + tol]
            if not lanes:
                continue
            if z is not None:
                lanes.sort(key=lambda v: _level_miss(z, v))
            self.stats['shadowed'] += 1
            out.append(Reach(event_id=f'rs-{beam.event_id}-{track_id}', track_id=track_id,
                             hand='right', shelf_id=beam.shelf_id,
                             lane_ids=tuple(v.lane.id for v in lanes),
                             lane_dwell=tuple(0.0 for _ in lanes), start=beam.start,
                             end=beam.end, confidence=self.p.shadow_confidence,
                             evidence=EVIDENCE_BEAM, beam_break_ids=(beam.event_id,),
                             wrist_confidence=0.0))
        return out

    @staticmethod
    def _body_point(kp: np.ndarray) -> np.ndarray | None:
        """Floor position of a track's torso: the confidence-weighted mean of its shoulders and
        hips (all joints when those are unsure)."""
        for joints in ((5, 6, 11, 12), tuple(range(17))):
            sub = kp[list(joints)]
            ok = np.all(np.isfinite(sub[:, :3]), axis=1) & (sub[:, 3] > 0.05)
            if np.any(ok):
                w = sub[ok, 3]
                return np.asarray((sub[ok, :2] * w[:, None]).sum(axis=0) / w.sum())
        return None

    def open_reaches(self) -> int:
        return len(self._open) + len(self._closed)
