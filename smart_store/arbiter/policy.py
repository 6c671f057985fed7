"""Tunable thresholds of the cart arbiter, in one frozen dataclass.

Every number the arbiter decides with lives here, with its unit, so the node can expose them as
parameters and the README can quote them. Defaults are chosen for the demo store's load cells
(~1.5 g rms noise, settle in < 0.5 s) and a pose-based reach detector at 15 fps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["ArbiterPolicy"]


@dataclass(frozen=True)
class ArbiterPolicy:
    """Thresholds and weights of the arbiter (times in s, weights in g, scores unitless)."""

    # ---- when to decide ------------------------------------------------------------------
    #: A weight event is decided once ``now >= event.end + decision_delay_s`` (and every
    #: pending event it is coupled with is too): reaches published late still count. 1.0 s
    #: missed beam-only reaches (the reach detector decides them 0.8 s after their beam, on
    #: its next 5 Hz track frame, after the tracker's lag) by tens of milliseconds.
    decision_delay_s: float = 1.5
    #: A reach's hand-in interval is widened by this much on both sides when matching weight
    #: events (the load cell lags the wrist, and a pick settles after the hand has left).
    reach_margin_s: float = 0.5
    #: Weight events on one shelf whose windows are within this gap are solved together.
    window_gap_s: float = 0.25
    #: ``pending()`` stays true this long after a reach of the session ended (its weight event
    #: may still be settling).
    settle_wait_s: float = 1.5
    #: Reaches (and the slots they used) are forgotten this long after they end.
    reach_memory_s: float = 60.0
    #: Decided event ids (duplicate suppression) are forgotten this long after they end.
    memory_s: float = 600.0

    # ---- assignment (weight event <-> reach) ------------------------------------------------
    #: Weights of the pair quality terms; they sum to 1 so quality is in [0, 1].
    w_temporal: float = 0.4
    w_lane: float = 0.3
    w_confidence: float = 0.2
    w_evidence: float = 0.1
    #: Lane term of a secondary lane of a multi-lane reach when ``lane_dwell`` is missing.
    secondary_lane_score: float = 0.5
    #: Evidence term: pose and beam break together / only one of them / neither.
    evidence_both: float = 1.0
    evidence_single: float = 0.75
    evidence_none: float = 0.5
    #: Bonus for a put-back pair whose reaching session holds an item that explains the weight.
    holder_bonus: float = 0.1
    #: Penalty for a (reach, lane) slot that already explained an earlier decided event.
    reuse_penalty: float = 0.3
    #: Near-tie: the best assignment without this pair scores within this margin -> review.
    tie_margin: float = 0.05
    #: Temperature of the assignment confidence ``sigmoid(gap / tie_temperature)``.
    tie_temperature: float = 0.05

    # ---- merged events (several hands, one weight change) -----------------------------------
    #: The shelf-event detector merges changes of one lane less than ~0.3 s apart into ONE event.
    #: A hand is CONCURRENT with such an event if its hand-in interval, widened by this much on
    #: both sides, overlaps the event's window (its own take lies inside the merged window).
    split_concurrency_s: float = 0.3
    #: ... and SIMILARLY PLAUSIBLE if its pair quality (assign.py) is within this of the best
    #: concurrent hand's. 0.15 exceeds ``holder_bonus`` (the solver's pick always qualifies) but
    #: excludes a hand seen only on a secondary lane or one that left before the change began.
    split_quality_margin: float = 0.15
    #: Assignment confidence factor of a unit split off a merged event onto one of several
    #: sessions' hands: each hand took something, but "one each" is inferred, not seen. Between
    #: a clean pick (~1) and a near tie (``sigmoid(tie_margin / tie_temperature)`` = 0.73 at the
    #: review margin), so an exact one-unit-per-hand split is applied without review.
    split_confidence_factor: float = 0.85

    # ---- products (weight delta -> items) ---------------------------------------------------
    #: A candidate fits if ``|residual| <= weight_k * sigma``,
    #: ``sigma = sqrt(sum(q * weight_sd_g**2) + noise**2)``.
    weight_k: float = 3.0
    #: Floor of the delta noise (g) when the event reports a smaller one.
    min_noise_g: float = 1.5
    #: Most units one weight event may explain.
    max_quantity: int = 6
    #: Weight changes smaller than this (g) are ignored (no output): hand pressure, drift.
    ignore_below_g: float = 8.0
    #: Prior odds of a product that neither the lane nor the reaching session accounts for.
    catalog_prior: float = 1e-3
    #: Prior of a foreign (misplaced) item being the one picked from its lane: it was put back
    #: in front, so it is as likely a next take as the planned product (the weight decides).
    foreign_front_prior: float = 1.0
    #: Prior odds that a held item goes back onto a lane that is not its planogram lane.
    misplace_prior: float = 0.3
    #: Prior odds that a put-back is an item the session does not hold (lane / foreign sku).
    unheld_prior: float = 0.02
    #: Prior odds of a two-sku explanation (vs a single sku).
    mixed_prior: float = 0.1
    #: Prior odds per extra unit in one event.
    extra_unit_prior: float = 0.8
    #: Two explanations whose log-scores are within this many nats are a tie -> review.
    product_tie_nats: float = 1.0
    #: Confidence cap of an explanation the lane / session does not account for.
    unexpected_confidence: float = 0.3
    #: Confidence factor for an event whose channel was stale.
    stale_confidence_factor: float = 0.5

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"ArbiterPolicy.{f.name} must be finite and >= 0, got {value}")
        if self.max_quantity < 1:
            raise ValueError("ArbiterPolicy.max_quantity must be >= 1")
        if self.split_confidence_factor > 1:
            raise ValueError("ArbiterPolicy.split_confidence_factor must be <= 1")

    @staticmethod
    def from_dict(d: dict[str, Any]) -> ArbiterPolicy:
        """Policy from a (parameter) dict; unknown keys raise ``ValueError``."""
        known = {f.name: f for f in fields(ArbiterPolicy)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ValueError(f"unknown arbiter policy keys: {', '.join(unknown)}")
        kwargs: dict[str, Any] = {}
        for key, value in d.items():
            kwargs[key] = int(value) if key == "max_quantity" else float(value)
        return ArbiterPolicy(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
