"""The cart arbiter: turns shelf weight events and reaches into per-session carts.

Inputs are plain values (``WeightEvent``, ``Reach``, track -> session bindings from the sessions
module); outputs are ``CartUpdate``, ``ReviewItem`` and ``Cart`` (smart_store/arbiter/model.py).
Pure Python + numpy / scipy; the ROS shell is node.py. Every threshold is an
:class:`ArbiterPolicy` field; defaults are given in brackets.

When events are decided
    A weight event waits until ``now >= event.end + decision_delay_s`` [1.5 s], so a reach
    published after the weight settled still counts (a beam-only reach comes ~1.1 s after
    its beam: 2 x the detector's settle_wait, the next track frame, the tracker's lag).
    A PICK decided with no reach is kept for ``reach_memory_s`` [60 s]: a reach of a known
    track that arrives later and explains it (a respawned reach detector catching up, a
    lagging stage) is then applied like a timely one, plus an ``other`` review ("late reach")
    for its session, instead of the item going unbilled.
    Events are decided in WINDOWS - events of one shelf whose time windows
    overlap (within ``window_gap_s`` [0.25 s]) or that share a candidate reach - a window only
    once all its events are ripe, and windows strictly in order of their first start: a later
    window waits for an earlier unripe one, so a pick is always booked before the put-back of
    the same item. ``flush(now)`` returns the outputs in decision order, then the new ``Cart``
    of every session that changed.

Who took it (assign.py)
    Each window is one bipartite problem - events x (reach, lane) slots plus a "no reach"
    option - solved exactly with ``scipy.optimize.linear_sum_assignment``, never greedily. A pair
    scores ``1 + 0.4 temporal + 0.3 lane + 0.2 reach confidence + 0.1 evidence``: temporal =
    coverage of the event by the reach widened by ``reach_margin_s`` [0.5 s] and whether the
    weight started changing while the hand was in; lane = 1 for the primary lane, dwell share for
    a secondary one; evidence = 1 pose + beam, 0.75 one of them. Put-back pairs whose session
    holds a matching item get ``holder_bonus`` [+0.1]. One reach explains at most one event per
    lane (one on each lane of a two-lane reach); a second take within one continuous reach
    therefore becomes a ``reachless_change`` review. A reach that explains nothing is a reach
    without a take (no output). A NEAR-TIE - the best solution without the pair scores less than
    ``tie_margin`` [0.05] lower - is APPLIED with its low confidence (reach confidence x
    sigmoid(gap / 0.05): 0.5 x for an exact tie) AND reported as an ``ambiguous_assignment``
    review naming the runner-up: receipts are never blocked, staff fix the rare mistakes.
    Exact ties go to the earlier reach.

Several hands, one weight event (issue #6)
    The shelf-event detector merges changes of one lane less than ~0.3 s apart, so shoppers
    taking at the same moment produce ONE event of q units. After solving, the event's other
    CONCURRENT hands are collected (assign.concurrent_group: free slot, known track, seen in the
    lane by the pose, hand-in interval within ``split_concurrency_s`` [0.3 s] of the event
    window, quality within ``split_quality_margin`` [0.15] of the best, a hand that came in
    during the change not marked down for its later onset; one reach per track). With k >= 2
    such hands and q >= k units the event is SPLIT: a hand in the lane during a confirmed change
    of >= k units is evidence that each hand moved something, so each gets one unit (for a
    put-back matched, by an exact assignment, to what each session holds; the event is explained
    against their joint holdings, and a hand whose session never held its unit gets the
    misplaced-item rule). The q - k units nobody can attribute go to the solver's hand (the best
    by the usual scores) with confidence x its softmax share of the scores (``tie_temperature``;
    1/k for an exact tie) AND an ``ambiguous_assignment`` review listing every hand, for every
    session of the group (any of their receipts may be the wrong one). Lines split between
    sessions have confidence x ``split_confidence_factor`` [0.85]: below a clean pick, above a
    near tie, so an exact one-each split needs no review. Hands of one session (a family) land
    on the one cart anyway: the split then only records per-track evidence, with no discount and
    no review. Fewer units than hands (one unit, two hands) keeps the rule above.

What was taken (products.py)
    The delta is explained as a multiset of products: Gaussian log-likelihood of the residual
    (fit if within 3 sigma, ``sigma = sqrt(q * weight_sd_g**2 + noise**2)``) plus log prior odds
    from the evidence - for a pick the lane's planogram sku (1), foreign items the ledger has on
    the lane (count / planned count), any other product (1e-3); for a put-back items the session
    holds (1 on their own lane, 0.3 elsewhere), items it does not hold (0.02 for the lane's own,
    1e-3 otherwise). No fit -> ``unknown_weight`` review, no change. Two explanations within 1
    nat -> the best is applied + an ``other`` review ("ambiguous product"). A pick of something
    the lane is not known to hold -> applied with confidence <= 0.3 + an ``other`` review.

Cart rules
    * Negative delta = PICK: the items go into the cart of the session of the reaching track and
      come off the lane ledger (lanes.py).
    * Positive delta = PUT-BACK: every unit the session holds is removed from its cart (the item
      is back in the store, wherever it was put) and goes onto the lane ledger. On a lane that is
      not its planogram lane the item is FOREIGN there - a later pick from that lane may be it -
      and a ``misplaced_item`` review asks staff to re-shelve it.
    * Units the session never held change no cart: they are recorded on the ledger and reported
      as ``misplaced_item`` (the detail lists the sessions that do hold that sku, for staff).
    * No reach explains the change -> ``reachless_change`` review (bump, restock, missed hand);
      no cart or ledger change. A reach of track 0 (a beam break with no tracked person near
      it) takes no part in the assignment: it names nobody to bill, so its change books no cart
      either and goes to an ``untracked_hand`` review (evidence: the event and those reaches;
      billing sends every session then in the store to review); a later reach of a known track
      may still explain it (late reach).
    * Stale channel -> ``stale_sensor`` review; the event is still decided, with its confidence
      multiplied by ``stale_confidence_factor`` [0.5].
    * Changes below ``ignore_below_g`` [8 g] are ignored (hand pressure, drift).
    * The first pick into an anonymous session raises one ``anonymous_session`` review.

Hand-offs
    Carts belong to SESSIONS, not tracks. Inside a family (several tracks, one session) every
    pick and put-back lands on the one cart, whoever's hand it was. Between unrelated shoppers
    the item stays with the picker (Zippin's rule): a hand-off is invisible to the shelves and
    needs no transfer, so ``Reason.HANDOFF`` is never emitted. If the receiver puts the item
    back, that is a put-back of an item the receiver never held (above): no charge changes and
    the review names the holder.

Tracks without a session
    A reach by a track with no session binding (yet) is booked on a provisional cart
    ``track-<id>``. When ``on_session`` binds that track, the provisional lines move to the
    session with ``Reason.CORRECTION`` updates (returned by the next ``flush``). A track that
    can never be bound leaves its provisional cart to billing, which sends it to review
    (``BillingLogic``: no receipt would include it).

Billing hand-shake
    ``pending(session_id)`` is true while an undecided event may still involve the session (a
    candidate reach of its tracks, or no candidate yet) or one of its reaches ended less than
    ``settle_wait_s`` [1.5 s] ago; billing waits on it before closing a receipt. Every emitted
    ``Cart`` carries the same flag as ``pending``.

Identities and audit
    Every update carries its confidence (assignment confidence x product posterior) and the ids
    of the weight event and reach behind it; cart lines accumulate those ids and keep the lowest
    confidence. Update and review ids derive from the evidence ids (``<event>:<sku>``,
    ``<event>:<kind>[:<sku>]``; a split event's shares append ``:<reach>``, its remainder review
    ``:split``), so a replay yields the same ids. A split share's update carries the weight
    event and that hand's reach; the remainder review carries the event and every hand. Same
    input -> same output; inputs are sorted by (time, id), so arrival order within the decision
    delay does not matter.
    Prices are integer minor units from the catalog.

Crash recovery
    ``snapshot()`` returns the whole state as a JSON-ready dict; ``restore(snapshot)`` on a fresh
    arbiter with the same config and policy continues exactly where it stopped.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from smart_store.arbiter.assign import (
    Assignment,
    PairScore,
    assign_window,
    assignment_windows,
    candidate_reaches,
    concurrent_group,
)
from smart_store.arbiter.lanes import LaneContents
from smart_store.arbiter.model import (
    Cart,
    CartLine,
    CartUpdate,
    Reason,
    ReviewItem,
    ReviewKind,
    provisional_session,
    provisional_track,
)
from smart_store.arbiter.policy import ArbiterPolicy
from smart_store.arbiter.products import Explanation, ProductMatch, explain_weight
from smart_store.config.model import StoreConfig
from smart_store.events.model import WeightEvent
from smart_store.reach.model import Reach

__all__ = ["ArbiterOutput", "CartArbiter"]

ArbiterOutput = CartUpdate | ReviewItem | Cart

SNAPSHOT_VERSION = 1


# ------------------------------------------------------------------------------ internal state
@dataclass
class _Line:
    sku: str
    quantity: int
    event_ids: list[str]
    confidence: float


@dataclass
class _CartState:
    session_id: str
    revision: int = 0
    stamp: float = 0.0
    lines: dict[str, _Line] = field(default_factory=dict)

    def quantities(self) -> dict[str, int]:
        return {sku: line.quantity for sku, line in self.lines.items() if line.quantity > 0}

    def add(self, sku: str, q: int, event_ids: Sequence[str], conf: float, stamp: float) -> None:
        line = self.lines.get(sku)
        if line is None:
            self.lines[sku] = _Line(sku, q, list(event_ids), conf)
        else:
            line.quantity += q
            line.event_ids.extend(e for e in event_ids if e not in line.event_ids)
            line.confidence = min(line.confidence, conf)
        self._touch(stamp)

    def remove(self, sku: str, q: int, event_ids: Sequence[str], conf: float, stamp: float) -> int:
        line = self.lines.get(sku)
        if line is None or q <= 0:
            return 0
        taken = min(q, line.quantity)
        line.quantity -= taken
        line.event_ids.extend(e for e in event_ids if e not in line.event_ids)
        line.confidence = min(line.confidence, conf)
        if line.quantity == 0:
            del self.lines[sku]
        self._touch(stamp)
        return taken

    def _touch(self, stamp: float) -> None:
        self.revision += 1
        self.stamp = max(self.stamp, stamp)

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "revision": self.revision,
            "stamp": self.stamp,
            "lines": [dataclasses.asdict(line) for line in self.lines.values()],
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> _CartState:
        cart = _CartState(str(d["session_id"]), int(d["revision"]), float(d["stamp"]))
        for x in d["lines"]:
            cart.lines[str(x["sku"])] = _Line(
                str(x["sku"]), int(x["quantity"]), [str(e) for e in x["event_ids"]],
                float(x["confidence"]),
            )
        return cart


@dataclass
class _Session:
    session_id: str
    track_ids: list[int]
    payer_token: str
    anonymous: bool
    anonymous_reviewed: bool = False


def _reach_from_dict(d: Mapping[str, Any]) -> Reach:
    return Reach(
        event_id=str(d["event_id"]),
        track_id=int(d["track_id"]),
        hand=d["hand"],
        shelf_id=str(d["shelf_id"]),
        lane_ids=tuple(str(x) for x in d["lane_ids"]),
        lane_dwell=tuple(float(x) for x in d["lane_dwell"]),
        start=float(d["start"]),
        end=float(d["end"]),
        confidence=float(d["confidence"]),
        evidence=int(d["evidence"]),
        beam_break_ids=tuple(str(x) for x in d["beam_break_ids"]),
        wrist_confidence=float(d["wrist_confidence"]),
    )


def _event_from_dict(d: Mapping[str, Any]) -> WeightEvent:
    return WeightEvent(**{f.name: d[f.name] for f in dataclasses.fields(WeightEvent)})


def _output_from_dict(d: Mapping[str, Any]) -> ArbiterOutput:
    kind, body = d["type"], d["value"]
    if kind == "update":
        return CartUpdate.from_dict(body)
    if kind == "review":
        return ReviewItem.from_dict(body)
    return Cart.from_dict(body)


def _output_to_dict(o: ArbiterOutput) -> dict[str, Any]:
    if isinstance(o, CartUpdate):
        return {"type": "update", "value": o.to_dict()}
    if isinstance(o, ReviewItem):
        return {"type": "review", "value": o.to_dict()}
    return {"type": "cart", "value": o.to_dict()}


# ------------------------------------------------------------------------------ the arbiter
class CartArbiter:
    """Decides who took what; see the module docstring for the rules."""

    def __init__(self, cfg: StoreConfig, policy: ArbiterPolicy | None = None) -> None:
        self.cfg = cfg
        self.policy = policy or ArbiterPolicy()
        self.lanes = LaneContents.from_config(cfg)
        self._now = float("-inf")
        self._pending: dict[str, WeightEvent] = {}
        self._reaches: dict[str, Reach] = {}
        self._used_slots: dict[tuple[str, str], str] = {}
        self._decided: dict[str, float] = {}  # event id -> end, for duplicate suppression
        self._reachless: dict[str, WeightEvent] = {}  # picks decided with no reach (late ones)
        self._sessions: dict[str, _Session] = {}
        self._track_session: dict[int, str] = {}
        self._carts: dict[str, _CartState] = {}
        self._outbox: list[ArbiterOutput] = []
        self._changed: dict[str, None] = {}  # sessions whose cart changed since the last flush

    # ---------------------------------------------------------------------------- inputs
    def on_reach(self, reach: Reach) -> None:
        """A reach ended. Duplicates (same ``event_id``) are ignored."""
        self._reaches.setdefault(reach.event_id, reach)

    def on_weight(self, event: WeightEvent) -> None:
        """A weight event settled; it is decided by a later :meth:`flush`. Duplicates ignored."""
        if event.event_id in self._decided or event.event_id in self._pending:
            return
        self._pending[event.event_id] = event

    def on_session(
        self,
        session_id: str,
        track_ids: Iterable[int],
        payer_token: str = "",
        anonymous: bool = False,
    ) -> None:
        """Bind tracks to a session (the sessions module's decision; the latest call wins).

        Tracks that booked items on a provisional ``track-<id>`` cart have those lines moved to
        the session; the correction updates come out of the next :meth:`flush`.
        """
        tracks = sorted({int(t) for t in track_ids})
        old = self._sessions.get(session_id)
        session = _Session(session_id, tracks, payer_token, bool(anonymous))
        if old is not None:
            session.anonymous_reviewed = old.anonymous_reviewed
            for t in old.track_ids:
                if t not in tracks and self._track_session.get(t) == session_id:
                    del self._track_session[t]
        self._sessions[session_id] = session
        self._carts.setdefault(session_id, _CartState(session_id))
        for t in tracks:
            previous = self._track_session.get(t)
            if previous is not None and previous != session_id:
                other = self._sessions[previous]
                other.track_ids = [x for x in other.track_ids if x != t]
            self._track_session[t] = session_id
            self._merge_provisional(t, session_id)

    # ---------------------------------------------------------------------------- queries
    def carts(self) -> dict[str, Cart]:
        """Every cart (bound sessions and provisional ``track-<id>`` carts), by session id."""
        return {sid: self._cart(sid) for sid in sorted(self._carts)}

    def cart(self, session_id: str) -> Cart | None:
        """One session's cart, or ``None`` if the arbiter has never heard of it."""
        return self._cart(session_id) if session_id in self._carts else None

    def session_of(self, track_id: int) -> str | None:
        """The session a track is bound to, if any."""
        return self._track_session.get(track_id)

    def pending(self, session_id: str, now: float | None = None) -> bool:
        """Whether a decision that may change this session's cart is still open.

        True while an undecided weight event has a candidate reach by one of the session's
        tracks or no candidate at all yet (a late reach may be theirs), or while a reach of the
        session ended less than ``settle_wait_s`` ago (its weight event may still be settling).
        ``now`` defaults to the latest ``flush`` time. Billing waits on this before closing a
        receipt; it turns false within ``decision_delay_s`` of the last event.
        """
        t = self._now if now is None else now
        session = self._sessions.get(session_id)
        tracks = set(session.track_ids) if session is not None else set()
        provisional = provisional_track(session_id)
        if provisional is not None:
            tracks.add(provisional)
        reaches = list(self._reaches.values())
        for ev in self._pending.values():
            # an event only untracked hands (track 0) explain may be anybody's, like one with
            # no candidate yet
            cands = [r for r in candidate_reaches(ev, reaches, self.policy) if r.tracked]
            if not cands or any(r.track_id in tracks for r in cands):
                return True
        return any(
            r.track_id in tracks
            and r.end + self.policy.settle_wait_s > t
            and not any(k[0] == r.event_id for k in self._used_slots)
            for r in reaches
        )

    # ---------------------------------------------------------------------------- decisions
    def flush(self, now: float) -> list[ArbiterOutput]:
        """Decide every ripe window (in order of first start); returns the outputs."""
        self._now = max(self._now, float(now))
        out: list[ArbiterOutput] = list(self._outbox)
        self._outbox.clear()
        reaches = list(self._reaches.values())
        out.extend(self._late_reaches(reaches))
        windows = assignment_windows(list(self._pending.values()), reaches, self.policy)
        delay = self.policy.decision_delay_s
        for window in windows:
            if any(self._now < ev.end + delay for ev in window):
                break  # decisions stay in time order: later windows wait for this one
            shelf = window[0].shelf_id
            # A reach of track 0 is a hand the beam saw with no tracked person near it: it
            # proves a hand was there but names nobody to bill, so it explains no cart change
            # (the change goes to review as reachless, and a later reach of a known track may
            # still explain it).
            shelf_reaches = [r for r in reaches if r.shelf_id == shelf and r.tracked]
            cands = {
                r.event_id: r
                for ev in window
                for r in candidate_reaches(ev, shelf_reaches, self.policy)
            }
            assignments = assign_window(
                window,
                list(cands.values()),
                self.policy,
                used_slots=self._used_slots,
                bonus=self._holder_bonus,
            )
            # slots the solver gave to each event: a hand sharing a merged event must be free
            claims = {
                (a.reach_id, ev.lane_id): ev.event_id
                for ev in window
                if (a := assignments[ev.event_id]).reach_id is not None
            }
            for ev in window:
                out.extend(self._decide(ev, assignments[ev.event_id], claims))
                del self._pending[ev.event_id]
                self._decided[ev.event_id] = ev.end
        out.extend(self._cart(sid) for sid in self._changed if sid in self._carts)
        self._changed.clear()
        self._prune()
        return out

    def _late_reaches(self, reaches: list[Reach]) -> list[ArbiterOutput]:
        """Picks decided with no reach that a reach which arrived since then explains."""
        out: list[ArbiterOutput] = []
        for eid, ev in sorted(self._reachless.items(), key=lambda kv: (kv[1].start, kv[0])):
            cands = [r for r in candidate_reaches(
                ev, [r for r in reaches if r.shelf_id == ev.shelf_id and r.tracked],
                self.policy) if (r.event_id, ev.lane_id) not in self._used_slots]
            if not cands:
                continue
            a = assign_window([ev], cands, self.policy, used_slots=self._used_slots,
                              bonus=self._holder_bonus)[ev.event_id]
            reach = self._reaches.get(a.reach_id) if a.reach_id is not None else None
            if reach is None:
                continue
            del self._reachless[eid]
            decided = self._decide(ev, a)
            sid = self._session_for_track(reach.track_id)
            out.extend(decided)
            # every hand the decision used (several when late reaches split a merged pick)
            hands = sorted(
                (r for r in cands if self._used_slots.get((r.event_id, ev.lane_id)) == eid),
                key=lambda r: r.event_id != reach.event_id,
            )
            out.append(ReviewItem(
                review_id=f"{ev.event_id}:late_reach", kind=ReviewKind.OTHER, session_id=sid,
                shelf_id=ev.shelf_id, lane_id=ev.lane_id, sku="",
                event_ids=(ev.event_id, *(r.event_id for r in hands)),
                confidence=_clamp(a.confidence),
                detail=f"{ev.delta_grams:+.1f} g on lane {ev.lane_id} was decided with no reach; "
                f"reach {reach.event_id} of track {reach.track_id} arrived later and explains it "
                f"(a stage restarted or lagged): applied to session {sid}",
                stamp=ev.end,
            ))
        return out

    def _holder_bonus(self, event: WeightEvent, reach: Reach) -> float:
        """``holder_bonus`` for a put-back pair whose session holds an item explaining it."""
        if event.delta_grams <= 0:
            return 0.0
        cart = self._carts.get(self._sid_of(reach))
        if cart is None or not cart.lines:
            return 0.0
        match = self._explain(event, cart.quantities())
        best = match.best
        if best is not None and any(b == "session" for b in best.basis):
            return self.policy.holder_bonus
        return 0.0

    def _explain(self, ev: WeightEvent, session_items: Mapping[str, int] | None) -> ProductMatch:
        return explain_weight(
            ev.delta_grams,
            ev.noise_grams,
            lane_sku=self.lanes.planned_sku(ev.lane_id),
            lane_items=self.lanes.items(ev.lane_id),
            session_items=session_items,
            catalog=self.cfg.catalog,
            policy=self.policy,
        )

    def _decide(
        self, ev: WeightEvent, a: Assignment, claims: Mapping[tuple[str, str], str] | None = None,
    ) -> list[ArbiterOutput]:
        p = self.policy
        out: list[ArbiterOutput] = []
        if abs(ev.delta_grams) < p.ignore_below_g:
            return out
        split = self._split(ev, a, claims or {})
        if split is not None:
            return self._decide_split(ev, a, *split)
        reach = self._reaches.get(a.reach_id) if a.reach_id is not None else None
        sid = self._session_for_track(reach.track_id) if reach is not None else ""
        cart = self._carts.get(sid) if reach is not None else None
        match = self._explain(ev, cart.quantities() if cart is not None else None)
        best = match.best
        evidence = (ev.event_id,) + ((reach.event_id,) if reach is not None else ())
        best_text = best.label() if best is not None else "no product"
        conf = match.confidence * (a.confidence if reach is not None else 1.0)
        if ev.stale:
            conf *= p.stale_confidence_factor
            out.append(self._review(
                ReviewKind.STALE_SENSOR, ev, sid, "", evidence=evidence, conf=conf,
                detail=f"load cell of lane {ev.lane_id} was stale around a {ev.delta_grams:+.1f} g "
                f"change (best match: {best_text}); decided with reduced confidence",
            ))
        if reach is None:
            untracked = self._untracked_hands(ev)
            hand = (f"a hand in it that no tracked person was near "
                    f"({', '.join(r.event_id for r in untracked)})" if untracked
                    else "no hand in it")
            out.append(self._review(
                ReviewKind.UNTRACKED_HAND if untracked else ReviewKind.REACHLESS_CHANGE,
                ev, "", best.items[0][0] if best else "",
                evidence=evidence + tuple(r.event_id for r in untracked), conf=match.confidence,
                detail=f"{ev.delta_grams:+.1f} g on lane {ev.lane_id} with {hand} "
                f"(best match: {best_text}); no cart changed",
            ))
            if ev.delta_grams < 0 and best is not None:
                self._reachless[ev.event_id] = ev  # a late reach may still explain it
            return out
        self._used_slots[(reach.event_id, ev.lane_id)] = ev.event_id
        if a.ambiguous:
            out.append(self._tie_review(ev, a, reach, sid=sid, best=best, evidence=evidence,
                                               conf=conf))
        if best is None:
            out.append(self._review(
                ReviewKind.UNKNOWN_WEIGHT, ev, sid, "", evidence=evidence, conf=0.0,
                detail=f"{ev.delta_grams:+.1f} g on lane {ev.lane_id} by track {reach.track_id} "
                "matches no product; no cart changed",
            ))
            return out
        if match.ambiguous and match.runner_up is not None:
            out.append(self._review(
                ReviewKind.OTHER, ev, sid, best.items[0][0], evidence=evidence, conf=conf,
                detail=f"ambiguous product: {ev.delta_grams:+.1f} g on lane {ev.lane_id} is "
                f"{best_text} or {match.runner_up.label()}; applied {best_text}",
            ))
        if ev.delta_grams < 0:
            out.extend(self._apply_pick(ev, reach, sid, items=best.items, basis=best.basis,
                                        evidence=evidence, conf=conf))
        else:
            out.extend(self._apply_put_back(ev, reach, sid, items=best.items, evidence=evidence,
                                            conf=conf))
        return out

    def _untracked_hands(self, ev: WeightEvent) -> list[Reach]:
        """Reaches of track 0 (a hand nobody tracked) that could explain ``ev``."""
        return candidate_reaches(
            ev, [r for r in self._reaches.values()
                 if r.shelf_id == ev.shelf_id and not r.tracked], self.policy)

    def _tie_review(
        self, ev: WeightEvent, a: Assignment, reach: Reach, *, sid: str,
        best: Explanation | None, evidence: tuple[str, ...], conf: float,
    ) -> ReviewItem:
        """``ambiguous_assignment``: the solver's pick for ``ev`` nearly tied with its runner-up."""
        alt = self._reaches.get(a.runner_up) if a.runner_up is not None else None
        alt_text = (
            f"track {alt.track_id} (session {self._track_session.get(alt.track_id, '?')}, "
            f"reach {alt.event_id})" if alt is not None else "no reach"
        )
        return self._review(
            ReviewKind.AMBIGUOUS_ASSIGNMENT, ev, sid, best.items[0][0] if best else "",
            evidence=evidence + ((alt.event_id,) if alt is not None else ()), conf=conf,
            detail=f"{ev.delta_grams:+.1f} g on lane {ev.lane_id}: track {reach.track_id} "
            f"(reach {reach.event_id}) nearly tied with {alt_text} "
            f"(score gap {a.gap:.3f}); applied to session {sid}",
        )

    # ------------------------------------------------------------------ merged events (split)
    def _split(
        self, ev: WeightEvent, a: Assignment, claims: Mapping[tuple[str, str], str],
    ) -> tuple[tuple[PairScore, ...], ProductMatch] | None:
        """The hands sharing a merged event and its product match, when the units are split.

        Split only when the event holds at least one unit per hand (quantity >= k >= 2): a
        hand in the lane during a confirmed change of >= k units is evidence that each hand
        moved something. With fewer units than hands (one unit, two hands) the weight cannot
        say whose it was, and the global assignment (near tie -> review) stands.
        """
        if a.pair is None:
            return None
        busy = {**self._used_slots, **claims}
        group = concurrent_group(ev, a, self._reaches, self.policy, busy)
        if len(group) < 2:
            return None
        # a merged put-back returns what the hands' sessions hold between them, so it is
        # explained against their joint holdings (each session's own cart would call the
        # second unit "unheld"); a pick does not depend on the holdings
        held: dict[str, int] = {}
        for sid in dict.fromkeys(self._sid_of(self._reaches[ps.reach_id]) for ps in group):
            cart = self._carts.get(sid)
            for sku, q in (cart.quantities() if cart is not None else {}).items():
                held[sku] = held.get(sku, 0) + q
        match = self._explain(ev, held)
        if match.best is None or match.best.quantity < len(group):
            return None
        return group, match

    def _decide_split(
        self, ev: WeightEvent, a: Assignment, group: tuple[PairScore, ...], match: ProductMatch,
    ) -> list[ArbiterOutput]:
        """Split a merged event of ``q`` units over its ``k <= q`` hands (``group[0]`` is the
        solver's choice): one unit each, matched to what each session holds for a put-back;
        the ``q - k`` remaining units go to ``group[0]`` and, when other sessions' hands could
        have moved them, to review."""
        p = self.policy
        out: list[ArbiterOutput] = []
        best = match.best
        if best is None:  # _split only returns explained events; for the type checker
            return out
        reaches = [self._reaches[ps.reach_id] for ps in group]
        sids = [self._session_for_track(r.track_id) for r in reaches]
        evidence = (ev.event_id, *(r.event_id for r in reaches))
        for r in reaches:
            self._used_slots[(r.event_id, ev.lane_id)] = ev.event_id
        # one unit per hand: a one-to-one matching of hands to units, solved exactly; a
        # put-back unit scores 1 for a hand whose session holds its sku (a pick's units are
        # interchangeable: all zero, the solver's order decides)
        units = [sku for sku, q in best.items for _ in range(q)]
        fit = np.zeros((len(reaches), len(units)))
        if ev.delta_grams > 0:
            for i, sid in enumerate(sids):
                held = self._carts[sid].quantities()
                fit[i] = [float(held.get(sku, 0) > 0) for sku in units]
        rows, cols = linear_sum_assignment(fit, maximize=True)
        shares: list[dict[str, int]] = [{} for _ in reaches]
        for i, u in zip(rows, cols, strict=True):
            shares[int(i)][units[int(u)]] = shares[int(i)].get(units[int(u)], 0) + 1
        matched = {int(u) for u in cols}
        rest = [sku for u, sku in enumerate(units) if u not in matched]
        for sku in rest:
            shares[0][sku] = shares[0].get(sku, 0) + 1
        # confidence is about the CART: hands of one session (a family) put every unit on the
        # same cart whoever moved what, so only a split between sessions is discounted. The
        # remaining units are given by the existing scores: their posterior over the hands is
        # the softmax of the pair scores at tie_temperature (the same law as the solver's
        # sigmoid(gap / t); 1/k for an exact k-way tie), summed over the hands of group[0]'s
        # session.
        between = len(set(sids)) > 1
        factor = p.split_confidence_factor if between else 1.0
        t = p.tie_temperature
        top = group[0].score
        weights = [
            math.exp((ps.score - top) / t) if t > 0 else float(ps.score >= top) for ps in group
        ]
        rest_share = sum(w for w, sid in zip(weights, sids, strict=True) if sid == sids[0])
        rest_share /= sum(weights)
        stale = p.stale_confidence_factor if ev.stale else 1.0
        confs = [
            _clamp(r.confidence) * factor * match.confidence * stale for r in reaches
        ]
        rest_conf = _clamp(reaches[0].confidence) * rest_share * match.confidence * stale
        if rest:
            confs[0] = min(confs[0], rest_conf)
        hands = ", ".join(
            f"track {r.track_id} (session {sid}, reach {r.event_id})"
            for r, sid in zip(reaches, sids, strict=True)
        )
        if ev.stale:
            out.append(self._review(
                ReviewKind.STALE_SENSOR, ev, sids[0], "", evidence=evidence, conf=min(confs),
                detail=f"load cell of lane {ev.lane_id} was stale around a {ev.delta_grams:+.1f} g "
                f"change ({best.label()}, split over {hands}); decided with reduced confidence",
            ))
        if a.ambiguous and a.runner_up not in {r.event_id for r in reaches}:
            # the solver's near tie is with a hand outside the group: not settled by the split
            out.append(self._tie_review(ev, a, reaches[0], sid=sids[0], best=best,
                                        evidence=evidence[:2], conf=confs[0]))
        if match.ambiguous and match.runner_up is not None:
            out.append(self._review(
                ReviewKind.OTHER, ev, sids[0], best.items[0][0], evidence=evidence,
                conf=min(confs),
                detail=f"ambiguous product: {ev.delta_grams:+.1f} g on lane {ev.lane_id} is "
                f"{best.label()} or {match.runner_up.label()}; applied {best.label()}",
            ))
        basis = dict(zip((sku for sku, _ in best.items), best.basis, strict=True))
        for r, sid, share, conf in zip(reaches, sids, shares, confs, strict=True):
            items = sorted(share.items())
            own = (ev.event_id, r.event_id)  # each update carries its own hand's evidence
            if ev.delta_grams < 0:
                out.extend(self._apply_pick(
                    ev, r, sid, items=items, basis=[basis[sku] for sku, _ in items],
                    evidence=own, conf=conf, tag=r.event_id,
                ))
            else:
                out.extend(self._apply_put_back(ev, r, sid, items=items, evidence=own,
                                                conf=conf, tag=r.event_id))
        if rest and between:
            # nothing tells which hand moved the units beyond one each: applied to the best
            # hand by the existing scores, and staff are told on every receipt it may
            # concern: whichever session did not get the units may be the one that took them
            rest_items = " + ".join(f"{q} x {sku}" for sku, q in sorted(Counter(rest).items()))
            for i, sid in enumerate(dict.fromkeys(sids)):
                out.append(self._review(
                    ReviewKind.AMBIGUOUS_ASSIGNMENT, ev, sid, rest[0], evidence=evidence,
                    conf=rest_conf, tag="split" if i == 0 else f"split:{sid}",
                    detail=f"{ev.delta_grams:+.1f} g on lane {ev.lane_id} is {best.label()} "
                    f"moved by {len(reaches)} hands at once: {hands}; one unit each, the other "
                    f"{rest_items} could be any of theirs; applied to session {sids[0]}",
                ))
        return out

    def _apply_pick(
        self,
        ev: WeightEvent,
        reach: Reach,
        sid: str,
        *,
        items: Sequence[tuple[str, int]],
        basis: Sequence[str],
        evidence: tuple[str, ...],
        conf: float,
        tag: str = "",
    ) -> list[ArbiterOutput]:
        out: list[ArbiterOutput] = []
        cart = self._carts[sid]
        for (sku, q), why in zip(items, basis, strict=True):
            self.lanes.remove(ev.lane_id, sku, q)
            cart.add(sku, q, evidence, conf, ev.end)
            out.append(self._update(ev, reach, sid, sku=sku, q=q, reason=Reason.PICK,
                                    evidence=evidence, conf=conf, tag=tag))
            if why == "catalog":
                out.append(self._review(
                    ReviewKind.OTHER, ev, sid, sku, evidence=evidence, conf=conf, tag=tag,
                    detail=f"unexpected product: {q} x {sku} taken from lane {ev.lane_id}, "
                    "which is not known to hold it; charged with low confidence",
                ))
        self._changed[sid] = None
        session = self._sessions.get(sid)
        if session is not None and session.anonymous and not session.anonymous_reviewed:
            session.anonymous_reviewed = True
            out.append(ReviewItem(
                review_id=f"{sid}:anonymous", kind=ReviewKind.ANONYMOUS_SESSION,
                session_id=sid, shelf_id=ev.shelf_id, lane_id=ev.lane_id, sku=items[0][0],
                event_ids=evidence, confidence=conf,
                detail=f"anonymous session {sid} (no payer) took {items[0][1]} x {items[0][0]}",
                stamp=ev.end,
            ))
        return out

    def _apply_put_back(
        self,
        ev: WeightEvent,
        reach: Reach,
        sid: str,
        *,
        items: Sequence[tuple[str, int]],
        evidence: tuple[str, ...],
        conf: float,
        tag: str = "",
    ) -> list[ArbiterOutput]:
        out: list[ArbiterOutput] = []
        cart = self._carts[sid]
        planned = self.lanes.planned_sku(ev.lane_id)
        for sku, q in items:
            removed = cart.remove(sku, q, evidence, conf, ev.end)
            if removed:
                self._changed[sid] = None
                out.append(self._update(ev, reach, sid, sku=sku, q=-removed,
                                        reason=Reason.PUT_BACK, evidence=evidence, conf=conf,
                                        tag=tag))
            self.lanes.add(ev.lane_id, sku, q)
            unowned = q - removed
            foreign = sku != planned
            if not (unowned or foreign):
                continue
            notes: list[str] = []
            if foreign:
                notes.append(
                    f"{q} x {sku} put on lane {ev.lane_id} (planned: {planned or 'nothing'}); "
                    "please re-shelve"
                )
            if unowned:
                holders = [
                    s for s in sorted(self._carts)
                    if s != sid and self._carts[s].quantities().get(sku, 0) > 0
                ]
                notes.append(
                    f"session {sid} (track {reach.track_id}) never held {unowned} of them: no "
                    f"charge changed; sessions holding {sku}: {', '.join(holders) or 'none'}"
                )
            out.append(self._review(ReviewKind.MISPLACED_ITEM, ev, sid, sku, evidence=evidence,
                                    conf=conf, detail="; ".join(notes), tag=tag))
        return out

    # ---------------------------------------------------------------------------- helpers
    def _sid_of(self, reach: Reach) -> str:
        """The cart a reach's picks would land on, without creating a provisional one."""
        return self._track_session.get(reach.track_id, provisional_session(reach.track_id))

    def _session_for_track(self, track_id: int) -> str:
        sid = self._track_session.get(track_id)
        if sid is None:
            sid = provisional_session(track_id)
            self._carts.setdefault(sid, _CartState(sid))
        return sid

    def _merge_provisional(self, track_id: int, session_id: str) -> None:
        orphan = self._carts.get(provisional_session(track_id))
        if orphan is None or orphan.session_id == session_id:
            return
        target = self._carts[session_id]
        for line in list(orphan.lines.values()):
            ids, qty = tuple(line.event_ids), line.quantity
            price = self.cfg.catalog[line.sku].price
            orphan.remove(line.sku, qty, (), line.confidence, orphan.stamp)
            target.add(line.sku, qty, ids, line.confidence, orphan.stamp)
            for sid, q in ((orphan.session_id, -qty), (session_id, qty)):
                self._outbox.append(CartUpdate(
                    update_id=f"{orphan.session_id}>{session_id}:{line.sku}:{sid}",
                    session_id=sid, track_id=track_id, sku=line.sku, quantity_delta=q,
                    unit_price=price, reason=Reason.CORRECTION, confidence=line.confidence,
                    event_ids=ids, stamp=orphan.stamp,
                ))
            self._changed[orphan.session_id] = None
            self._changed[session_id] = None
        if not orphan.lines:
            self._outbox.append(self._cart(orphan.session_id))
            self._changed.pop(orphan.session_id, None)
            del self._carts[orphan.session_id]

    def _update(
        self, ev: WeightEvent, reach: Reach, sid: str, *, sku: str, q: int, reason: Reason,
        evidence: tuple[str, ...], conf: float, tag: str = "",
    ) -> CartUpdate:
        # ``tag`` (the reach id of a split event's share) keeps one event's ids unique
        return CartUpdate(
            update_id=f"{ev.event_id}:{sku}" + (f":{tag}" if tag else ""),
            session_id=sid,
            track_id=reach.track_id,
            sku=sku,
            quantity_delta=q,
            unit_price=self.cfg.catalog[sku].price,
            reason=reason,
            confidence=_clamp(conf),
            event_ids=evidence,
            stamp=ev.end,
        )

    def _review(
        self, kind: ReviewKind, ev: WeightEvent, sid: str, sku: str, *,
        evidence: tuple[str, ...], conf: float, detail: str, tag: str = "",
    ) -> ReviewItem:
        suffix = f":{sku}" if kind in (ReviewKind.MISPLACED_ITEM, ReviewKind.OTHER) and sku else ""
        suffix += f":{tag}" if tag else ""
        return ReviewItem(
            review_id=f"{ev.event_id}:{kind.label}{suffix}",
            kind=kind,
            session_id=sid,
            shelf_id=ev.shelf_id,
            lane_id=ev.lane_id,
            sku=sku,
            event_ids=evidence,
            confidence=_clamp(conf),
            detail=detail,
            stamp=ev.end,
        )

    def _cart(self, sid: str) -> Cart:
        state = self._carts[sid]
        lines = []
        for line in state.lines.values():
            product = self.cfg.catalog[line.sku]
            lines.append(CartLine(
                sku=line.sku,
                name=product.name,
                quantity=line.quantity,
                unit_price=product.price,
                line_total=line.quantity * product.price,
                event_ids=tuple(line.event_ids),
                confidence=_clamp(line.confidence),
            ))
        return Cart(
            session_id=sid,
            revision=state.revision,
            lines=tuple(lines),
            total=sum(x.line_total for x in lines),
            currency=self.cfg.currency,
            pending=self.pending(sid),
            stamp=state.stamp,
        )

    def _prune(self) -> None:
        reach_horizon = self._now - self.policy.reach_memory_s
        horizon = self._now - self.policy.memory_s
        old = {rid for rid, r in self._reaches.items() if r.end < reach_horizon}
        for rid in old:
            del self._reaches[rid]
        self._used_slots = {k: v for k, v in self._used_slots.items() if k[0] not in old}
        self._decided = {k: t for k, t in self._decided.items() if t >= horizon}
        self._reachless = {k: e for k, e in self._reachless.items() if e.end >= reach_horizon}

    # ---------------------------------------------------------------------------- persistence
    def snapshot(self) -> dict[str, Any]:
        """The whole state as a JSON-ready dict (see :meth:`restore`)."""
        return {
            "version": SNAPSHOT_VERSION,
            "now": self._now if self._now != float("-inf") else None,
            "lanes": self.lanes.snapshot(),
            "pending": [_plain(dataclasses.asdict(e)) for e in
                        sorted(self._pending.values(), key=lambda e: (e.start, e.event_id))],
            "reaches": [_plain(dataclasses.asdict(r)) for r in
                        sorted(self._reaches.values(), key=lambda r: (r.start, r.event_id))],
            "used_slots": [[r, lane, e] for (r, lane), e in sorted(self._used_slots.items())],
            "decided": dict(sorted(self._decided.items())),
            "reachless": [_plain(dataclasses.asdict(e)) for e in
                          sorted(self._reachless.values(), key=lambda e: (e.start, e.event_id))],
            "sessions": [dataclasses.asdict(s) for _, s in sorted(self._sessions.items())],
            "carts": [c.to_dict() for _, c in sorted(self._carts.items())],
            "outbox": [_output_to_dict(o) for o in self._outbox],
            "changed": list(self._changed),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Replace this arbiter's state with a :meth:`snapshot` (e.g. after a crash)."""
        if int(state.get("version", 0)) != SNAPSHOT_VERSION:
            raise ValueError(f"unsupported arbiter snapshot version {state.get('version')!r}")
        now = state.get("now")
        self._now = float("-inf") if now is None else float(now)
        self.lanes.restore(state["lanes"])
        self._pending = {e.event_id: e for e in map(_event_from_dict, state["pending"])}
        self._reaches = {r.event_id: r for r in map(_reach_from_dict, state["reaches"])}
        self._used_slots = {(str(r), str(lane)): str(e) for r, lane, e in state["used_slots"]}
        self._decided = {str(k): float(v) for k, v in state["decided"].items()}
        self._reachless = {e.event_id: e for e in
                           map(_event_from_dict, state.get("reachless", []))}
        self._sessions = {}
        self._track_session = {}
        for s in state["sessions"]:
            session = _Session(
                str(s["session_id"]), [int(t) for t in s["track_ids"]],
                str(s["payer_token"]), bool(s["anonymous"]), bool(s["anonymous_reviewed"]),
            )
            self._sessions[session.session_id] = session
            for t in session.track_ids:
                self._track_session[t] = session.session_id
        self._carts = {c["session_id"]: _CartState.from_dict(c) for c in state["carts"]}
        self._outbox = [_output_from_dict(o) for o in state["outbox"]]
        self._changed = dict.fromkeys(str(s) for s in state["changed"])


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    """Tuples -> lists, so a snapshot equals its own JSON round trip."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def _clamp(x: float) -> float:
    return max(0.0, min(1.0, float(x)))
