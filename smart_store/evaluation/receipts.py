"""Receipts against the twin's true receipts: exact-receipt rate, line-item P/R/F1, review rate,
latency after exit.

Matching: a scanned visit is matched by its opaque account token (one scan, one session); an
unscanned (anonymous) visit is matched to an anonymous receipt by exit time, by global
assignment within ``max_exit_gap`` seconds. A visit without a receipt counts all of its items as
missed; a receipt without a visit counts all of its items as false.

Line items are counted per unit: for each sku, min(true, billed) are correct, the excess billed
are false positives, the shortfall false negatives. A receipt is *exact* when every sku's
quantity matches. The review rate is the share of visits whose receipt went to review.
Pure Python; no ROS.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from smart_store.evaluation.prf import Prf


@dataclass(frozen=True)
class Visit:
    """A true receipt (what the session should pay)."""

    payer: str
    token: str | None
    lines: dict[str, int]
    exit_time: float                 # s of sim time
    scenario: str = ''


@dataclass(frozen=True)
class Billed:
    """An issued receipt."""

    session_id: str
    token: str                       # '' for anonymous
    lines: dict[str, int]
    exit_time: float                 # s of sim time
    issued_time: float               # s of sim time (node clock when it was issued)
    needs_review: bool
    scenario: str = ''


@dataclass
class ReceiptScore(Prf):
    """Receipt-level counts; ``tp``/``fp``/``fn`` (from Prf) count receipt line units."""

    visits: int = 0
    receipts: int = 0
    exact: int = 0
    reviewed: int = 0
    silent: int = 0  # wrong and NOT sent to review: the errors a shopper finds on the receipt
    unmatched_visits: int = 0
    unmatched_receipts: int = 0
    latencies: list[float] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)

    def add(self, other: ReceiptScore) -> None:  # type: ignore[override]
        super().add(other)
        for name in ('visits', 'receipts', 'exact', 'reviewed', 'silent', 'unmatched_visits',
                     'unmatched_receipts'):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.latencies += other.latencies
        self.mismatches += other.mismatches

    @property
    def exact_rate(self) -> float:
        return self.exact / self.visits if self.visits else 1.0

    @property
    def review_rate(self) -> float:
        return self.reviewed / self.visits if self.visits else 0.0

    @property
    def silent_rate(self) -> float:
        """Share of visits billed wrongly without a review flag."""
        return self.silent / self.visits if self.visits else 0.0

    def latency(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) if self.latencies else math.nan

    def as_dict(self) -> dict[str, float | int]:
        return {'visits': self.visits, 'receipts': self.receipts,
                'exact_rate': round(self.exact_rate, 4), 'precision': round(self.precision, 4),
                'recall': round(self.recall, 4), 'f1': round(self.f1, 4),
                'review_rate': round(self.review_rate, 4),
                'silent_rate': round(self.silent_rate, 4),
                'latency_p50_s': round(self.latency(50), 3),
                'latency_p99_s': round(self.latency(99), 3),
                'unmatched_visits': self.unmatched_visits,
                'unmatched_receipts': self.unmatched_receipts,
                'exact': self.exact, 'reviewed': self.reviewed, 'silent': self.silent,
                'tp': self.tp, 'fp': self.fp,
                'fn': self.fn}


def match(visits: Sequence[Visit], billed: Sequence[Billed], max_exit_gap: float = 10.0
          ) -> list[tuple[Visit | None, Billed | None]]:
    """Pairs (visit, receipt); None on the side that has no partner."""
    pairs: list[tuple[Visit | None, Billed | None]] = []
    by_token = {b.token: b for b in billed if b.token}
    used: set[str] = set()
    anon_visits = []
    for v in visits:
        if v.token:
            b = by_token.get(v.token)
            pairs.append((v, b))
            if b is not None:
                used.add(b.session_id)
        else:
            anon_visits.append(v)
    anon_billed = [b for b in billed if not b.token]
    if anon_visits and anon_billed:
        cost = np.array([[abs(v.exit_time - b.exit_time) for b in anon_billed]
                         for v in anon_visits])
        rows, cols = linear_sum_assignment(cost)
        matched_v = set()
        for r, c in zip(rows, cols, strict=True):
            if cost[r, c] <= max_exit_gap:
                pairs.append((anon_visits[r], anon_billed[c]))
                used.add(anon_billed[c].session_id)
                matched_v.add(r)
        pairs += [(v, None) for i, v in enumerate(anon_visits) if i not in matched_v]
    else:
        pairs += [(v, None) for v in anon_visits]
    pairs += [(None, b) for b in billed if b.session_id not in used]
    return pairs


def score(pairs: Iterable[tuple[Visit | None, Billed | None]]) -> ReceiptScore:
    s = ReceiptScore()
    for visit, receipt in pairs:
        true_lines = visit.lines if visit else {}
        billed_lines = receipt.lines if receipt else {}
        if visit is not None:
            s.visits += 1
        if receipt is not None:
            s.receipts += 1
        if visit is not None and receipt is None:
            s.unmatched_visits += 1
        if receipt is not None and visit is None:
            s.unmatched_receipts += 1
        for sku in set(true_lines) | set(billed_lines):
            t, b = true_lines.get(sku, 0), billed_lines.get(sku, 0)
            s.tp += min(t, b)
            s.fp += max(0, b - t)
            s.fn += max(0, t - b)
        if visit is not None and receipt is not None:
            if true_lines == {k: v for k, v in billed_lines.items() if v}:
                s.exact += 1
            else:
                s.silent += int(not receipt.needs_review)
                s.mismatches.append(f'{visit.scenario}:{visit.payer}: true {true_lines} '
                                    f'billed {billed_lines}')
            if receipt.needs_review:
                s.reviewed += 1
            s.latencies.append(receipt.issued_time - visit.exit_time)  # after the true exit
        elif visit is not None:
            s.mismatches.append(f'{visit.scenario}:{visit.payer}: no receipt (true '
                                f'{true_lines})')
    return s
