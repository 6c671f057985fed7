"""Global assignment of concurrent weight events to the reaches that caused them.

A weight event on lane L can be explained by a reach of the same shelf whose hand was in L (its
``lane_ids`` contain L) around the time the weight changed. Each (event, reach) pair gets

    score = 1 + quality,   quality = 0.4 * temporal + 0.3 * lane + 0.2 * confidence + 0.1 * evidence

(weights from :class:`ArbiterPolicy`), where

* ``temporal`` = mean of (a) the share of the event window ``[start, end]`` covered by the
  widened reach window ``[reach.start - m, reach.end + m]`` (m = ``reach_margin_s``, 0.5 s: the
  load cell lags the wrist and settles after the hand has left) and (b) ``exp(-d / m)`` with d
  the time the weight started changing outside the hand-in interval (a pick's weight drops
  while the hand is still in the lane or just leaving it). No coverage = not a candidate.
* ``lane`` = 1 for the reach's primary lane (most dwell), ``dwell_L / max dwell`` for a
  secondary lane (``secondary_lane_score`` without dwell data).
* ``confidence`` = the reach's confidence; ``evidence`` = 1 for pose + beam break, 0.75 for one
  of them, 0.5 for neither.
* minus ``reuse_penalty`` when the (reach, lane) slot already explained an earlier decided event,
  plus an optional caller bonus (the arbiter adds ``holder_bonus`` to put-back pairs whose
  session holds a matching item).

The constant 1 makes explaining an event always worth more than leaving it unexplained, so the
solver first explains as many events as it can and then maximises total quality.

Events are solved in WINDOWS (:func:`assignment_windows`): events of one shelf whose windows
overlap (within ``window_gap_s``) or that share a candidate reach. Within a window the problem is
bipartite - rows are events, columns are (reach, lane) SLOTS plus one "no reach" column per
event (score 0) - and is solved exactly with ``scipy.optimize.linear_sum_assignment`` (maximum
total score), never greedily event by event. A slot takes at most one event, so one reach
explains at most one weight event per lane, while a reach spanning two lanes may explain one
event on each. A reach that explains nothing is a reach without a take.

Near-ties: for every assigned event the window is re-solved with that pair forbidden; ``gap`` is
how much total score is lost. ``gap < tie_margin`` (0.05) marks the assignment AMBIGUOUS, with the
reach the alternative solution gives the event as runner-up. Assignment confidence is
``reach.confidence * sigmoid(gap / tie_temperature)`` (0.5 * reach confidence for an exact tie).
Exact ties go to the earlier reach (start time, then id), so the outcome never depends on input
order.

Merged events (:func:`concurrent_group`): the shelf-event detector merges changes of one lane
less than ~0.3 s apart, so two shoppers taking one unit each at the same moment yield ONE event of
two units, which the solver can only give to one slot. After solving, the hands that share such an
event are collected: candidates of the event whose (reach, lane) slot no other event claims (in
this window or decided earlier), of a known track (track 0 is a beam break nobody was matched to,
possibly one of the other hands), seen in the lane by the pose (a beam-only reach names a place on
the shelf front and the nearest track, not a hand in this lane: it may be the solver's choice but
takes no share of another's), whose hand-in interval widened by ``split_concurrency_s`` (0.3 s)
overlaps the event window, and whose quality is within ``split_quality_margin`` (0.15) of the best
such hand's - one reach per track. For this comparison a hand that came in while the weight was
changing is not marked down for coming in after the event's start: the merged event starts with
its first unit, the second hand's unit moves later. The arbiter splits the units over them
(arbiter.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from smart_store.arbiter.policy import ArbiterPolicy
from smart_store.events.model import WeightEvent
from smart_store.reach.model import EVIDENCE_BEAM, EVIDENCE_POSE, Reach

__all__ = [
    "Assignment",
    "PairScore",
    "assign_window",
    "assignment_windows",
    "candidate_reaches",
    "concurrent_group",
    "pair_score",
]

_FORBIDDEN = -1.0e6
_MIN_EVENT_S = 0.05  # floor of an event's duration when computing coverage
_TIE_EPS = 1e-9  # per slot column: exact ties go to the earlier reach (start, then id)

#: Extra score for a pair, e.g. the arbiter's holder bonus: ``bonus(event, reach) -> float``.
BonusFn = Callable[[WeightEvent, Reach], float]


@dataclass(frozen=True)
class PairScore:
    """How well one reach explains one weight event."""

    event_id: str
    reach_id: str
    lane_id: str
    temporal: float  # [0, 1]
    lane: float  # [0, 1]
    confidence: float  # [0, 1]
    evidence: float  # [0, 1]
    quality: float  # weighted sum of the four terms, [0, 1]
    score: float  # 1 + quality - reuse penalty + bonus


@dataclass(frozen=True)
class Assignment:
    """The decision for one weight event of a window."""

    event_id: str
    reach_id: str | None  # None: no reach explains it (reachless)
    pair: PairScore | None
    confidence: float  # [0, 1]
    gap: float  # total score lost by the best solution without this pair (inf if unassigned)
    runner_up: str | None  # reach the best alternative solution gives this event
    ambiguous: bool
    candidates: tuple[PairScore, ...]  # every candidate pair of the event, best first


def _evidence_score(evidence: int, policy: ArbiterPolicy) -> float:
    both = EVIDENCE_POSE | EVIDENCE_BEAM
    if evidence & both == both:
        return policy.evidence_both
    if evidence & both:
        return policy.evidence_single
    return policy.evidence_none


def _lane_score(reach: Reach, lane_id: str, policy: ArbiterPolicy) -> float:
    idx = reach.lane_ids.index(lane_id)
    if idx == 0:
        return 1.0
    dwell = reach.lane_dwell
    if len(dwell) == len(reach.lane_ids) and max(dwell) > 0:
        return max(0.0, min(1.0, dwell[idx] / max(dwell)))
    return policy.secondary_lane_score


def _onset_term(event: WeightEvent, reach: Reach, m: float) -> float:
    """``exp(-d / m)``, d the time the weight started changing outside the hand-in interval."""
    outside = max(0.0, reach.start - event.start, event.start - reach.end)
    return math.exp(-outside / m) if m > 0 else float(outside == 0.0)


def _sharing_quality(ps: PairScore, reach: Reach, event: WeightEvent,
                     policy: ArbiterPolicy) -> float:
    """``ps.quality`` for the question "did this hand move one of the merged units?".

    A merged event starts when its FIRST unit starts moving; a second hand's unit moves later,
    so a hand that came into the lane while the weight was changing is not marked down for
    coming in after the event's start (the onset term counts as 1 for it)."""
    if not (reach.start < event.end and reach.end > event.start):
        return ps.quality
    onset = _onset_term(event, reach, policy.reach_margin_s)
    return ps.quality + policy.w_temporal * 0.5 * (1.0 - onset)


def pair_score(
    event: WeightEvent,
    reach: Reach,
    policy: ArbiterPolicy,
    *,
    reused: bool = False,
    bonus: float = 0.0,
) -> PairScore | None:
    """Score of ``reach`` explaining ``event``; ``None`` if it cannot (other shelf, lane not
    reached, or no temporal coverage)."""
    if reach.shelf_id != event.shelf_id or event.lane_id not in reach.lane_ids:
        return None
    m = policy.reach_margin_s
    lo, hi = reach.start - m, reach.end + m
    duration = max(event.end - event.start, _MIN_EVENT_S)
    covered = min(hi, max(event.end, event.start + _MIN_EVENT_S)) - max(lo, event.start)
    if covered <= 0.0:
        return None
    coverage = min(1.0, covered / duration)
    start_term = _onset_term(event, reach, m)
    temporal = 0.5 * coverage + 0.5 * start_term
    lane = _lane_score(reach, event.lane_id, policy)
    confidence = max(0.0, min(1.0, float(reach.confidence)))
    evidence = _evidence_score(reach.evidence, policy)
    quality = (
        policy.w_temporal * temporal
        + policy.w_lane * lane
        + policy.w_confidence * confidence
        + policy.w_evidence * evidence
    )
    score = 1.0 + quality + bonus - (policy.reuse_penalty if reused else 0.0)
    return PairScore(
        event_id=event.event_id,
        reach_id=reach.event_id,
        lane_id=event.lane_id,
        temporal=temporal,
        lane=lane,
        confidence=confidence,
        evidence=evidence,
        quality=quality,
        score=score,
    )


def candidate_reaches(
    event: WeightEvent, reaches: Sequence[Reach], policy: ArbiterPolicy
) -> list[Reach]:
    """Reaches that could explain ``event`` (a pair score exists), in (start, id) order."""
    m = policy.reach_margin_s
    return [
        r
        for r in sorted(reaches, key=lambda r: (r.start, r.event_id))
        if r.start - m < event.end + _MIN_EVENT_S and r.end + m > event.start
        and pair_score(event, r, policy) is not None
    ]


def assignment_windows(
    events: Sequence[WeightEvent], reaches: Sequence[Reach], policy: ArbiterPolicy
) -> list[list[WeightEvent]]:
    """Group events that must be solved together, each group in (start, id) order and the groups
    by their first start: same shelf and either overlapping windows (within ``window_gap_s``) or
    a shared candidate reach."""
    ordered = sorted(events, key=lambda e: (e.start, e.event_id))
    parent = list(range(len(ordered)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)

    by_reach: dict[str, int] = {}
    for i, ev in enumerate(ordered):
        for r in candidate_reaches(ev, reaches, policy):
            if r.event_id in by_reach:
                union(i, by_reach[r.event_id])
            else:
                by_reach[r.event_id] = i
    for i, a in enumerate(ordered):
        for j in range(i + 1, len(ordered)):
            b = ordered[j]
            if a.shelf_id == b.shelf_id and b.start <= a.end + policy.window_gap_s:
                union(i, j)
    groups: dict[int, list[WeightEvent]] = {}
    for i, ev in enumerate(ordered):
        groups.setdefault(find(i), []).append(ev)
    return [groups[k] for k in sorted(groups)]


def _solve(scores: np.ndarray) -> tuple[float, dict[int, int]]:
    rows, cols = linear_sum_assignment(scores, maximize=True)
    solution = {int(r): int(c) for r, c in zip(rows, cols, strict=True)}
    return float(scores[rows, cols].sum()), solution


def assign_window(
    events: Sequence[WeightEvent],
    reaches: Sequence[Reach],
    policy: ArbiterPolicy,
    *,
    used_slots: Mapping[tuple[str, str], str] | None = None,
    bonus: BonusFn | None = None,
) -> dict[str, Assignment]:
    """Solve one window: ``{event_id: Assignment}`` for every event.

    ``used_slots`` maps ``(reach_id, lane_id)`` to the id of the decided event that already used
    the slot (penalised by ``reuse_penalty`` for any other event). Inputs are sorted by
    (start, id) first, so the result does not depend on their order.
    """
    used = used_slots or {}
    evs = sorted(events, key=lambda e: (e.start, e.event_id))
    rch = sorted(reaches, key=lambda r: (r.start, r.event_id))
    lanes_needed = {(e.shelf_id, e.lane_id) for e in evs}
    slots = [
        (r, lane)
        for r in rch
        for lane in dict.fromkeys(r.lane_ids)
        if (r.shelf_id, lane) in lanes_needed
    ]
    n, m = len(evs), len(slots)
    scores = np.full((n, m + n), _FORBIDDEN)
    pairs: dict[tuple[int, int], PairScore] = {}
    for i, ev in enumerate(evs):
        scores[i, m + i] = 0.0
        for j, (r, lane) in enumerate(slots):
            if lane != ev.lane_id:
                continue
            prior_user = used.get((r.event_id, lane))
            ps = pair_score(
                ev,
                r,
                policy,
                reused=prior_user is not None and prior_user != ev.event_id,
                bonus=bonus(ev, r) if bonus is not None else 0.0,
            )
            if ps is not None:
                scores[i, j] = ps.score - _TIE_EPS * j
                pairs[(i, j)] = ps
    out: dict[str, Assignment] = {}
    if n == 0:
        return out
    total, solution = _solve(scores)
    for i, ev in enumerate(evs):
        cands = sorted(
            (ps for (ii, _), ps in pairs.items() if ii == i),
            key=lambda p: (-p.score, p.reach_id),
        )
        j = solution[i]
        if j >= m:
            out[ev.event_id] = Assignment(
                event_id=ev.event_id, reach_id=None, pair=None, confidence=0.0,
                gap=math.inf, runner_up=None, ambiguous=False, candidates=tuple(cands),
            )
            continue
        alt_scores = scores.copy()
        alt_scores[i, j] = _FORBIDDEN
        alt_total, alt_solution = _solve(alt_scores)
        gap = total - alt_total
        alt_j = alt_solution[i]
        runner_up = slots[alt_j][0].event_id if alt_j < m else None
        reach = slots[j][0]
        t = policy.tie_temperature
        sig = 1.0 / (1.0 + math.exp(-gap / t)) if t > 0 else float(gap > 0) or 0.5
        out[ev.event_id] = Assignment(
            event_id=ev.event_id,
            reach_id=reach.event_id,
            pair=pairs[(i, j)],
            confidence=max(0.0, min(1.0, float(reach.confidence))) * sig,
            gap=gap,
            runner_up=runner_up,
            ambiguous=gap < policy.tie_margin,
            candidates=tuple(cands),
        )
    return out


def concurrent_group(
    event: WeightEvent,
    assignment: Assignment,
    reaches: Mapping[str, Reach],
    policy: ArbiterPolicy,
    claims: Mapping[tuple[str, str], str],
) -> tuple[PairScore, ...]:
    """The hands that may share ``event``: the solver's pair first, then the other concurrent,
    similarly plausible hands of other tracks, best score first (see the module docstring).

    ``claims`` maps ``(reach_id, lane_id)`` to the event that holds the slot (this window's
    assignments and earlier decisions); a slot claimed by another event is not a candidate, so a
    hand that explains one event never also takes a share of another on the same lane. Returns
    ``()`` when the event has no reach, ``(pair,)`` when nobody shares it.
    """
    chosen = assignment.pair
    if chosen is None:
        return ()

    def eligible(ps: PairScore, *, co_hand: bool = True) -> bool:
        reach = reaches.get(ps.reach_id)
        if reach is None or not reach.tracked:
            return False
        # A beam-only reach names a place on the shelf front and the track nearest to it,
        # not a hand seen in this lane: it cannot claim a share of somebody else's units.
        if co_hand and not reach.evidence & EVIDENCE_POSE:
            return False
        if claims.get((ps.reach_id, ps.lane_id), event.event_id) != event.event_id:
            return False
        s = policy.split_concurrency_s
        return reach.start - s < event.end and reach.end + s > event.start

    if not eligible(chosen, co_hand=False):
        return (chosen,)
    pool = [ps for ps in assignment.candidates if ps == chosen or eligible(ps)]

    def quality(ps: PairScore) -> float:
        return _sharing_quality(ps, reaches[ps.reach_id], event, policy)
    floor = max(quality(ps) for ps in pool) - policy.split_quality_margin
    group = [chosen]
    tracks = {reaches[chosen.reach_id].track_id}
    # best first; a track's second reach (its other hand, a re-entry) adds no second shopper
    for ps in sorted(pool, key=lambda p: (-p.score, reaches[p.reach_id].start, p.reach_id)):
        track = reaches[ps.reach_id].track_id
        if quality(ps) >= floor and track not in tracks:
            group.append(ps)
            tracks.add(track)
    return tuple(group)
