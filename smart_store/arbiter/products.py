"""Explain a lane's weight change as a multiset of catalog products.

A weight delta ``d`` (g) is explained by items ``{sku_i: q_i}`` with expected weight
``W = sum(q_i * w_i)`` and spread ``sigma = sqrt(sum(q_i * sd_i**2) + noise**2)`` (the item-to-item
weight sd adds per unit, the load cell's noise once). A candidate FITS when
``|abs(d) - W| <= weight_k * sigma`` (k = 3 by default). Its score is the Gaussian log-likelihood
of the residual plus the log prior odds of the explanation:

    score = -0.5 * (r / sigma)**2 - ln(sigma) + ln(prior)

The prior encodes the evidence beyond weight, in the order the arbiter trusts it:

* Pick (``d < 0``) - items come off the lane:
    1. the lane's planogram sku: odds 1 (never limited by its count: restocks are unseen);
    2. a FOREIGN sku the ledger has on the lane (misplaced earlier): odds ``count / n_planned``
       (at most 1), limited by its count;
    3. any other catalog product: ``catalog_prior`` (1e-3).
* Put-back (``d > 0``) - items come out of the reaching session's hand:
    1. a sku the session holds (enough units): odds 1 if the lane is its planogram lane, else
       ``misplace_prior`` (0.3, a misplaced put-back);
    2. the lane's planogram sku or a foreign sku on the lane that the session does not hold:
       ``unheld_prior`` (0.02);
    3. any other catalog product: ``catalog_prior``.

Two-sku explanations draw only from tiers 1-2 and cost ``mixed_prior`` (0.1); every unit beyond
the first costs ``extra_unit_prior`` (0.8). So near-identical weights (COLA 350 g / COLA ZERO
348 g) are told apart by the evidence - the lane's planogram for a pick, the session's cart for a
put-back - and only when candidates stay within ``product_tie_nats`` (1 nat) of each other is the
match AMBIGUOUS (the arbiter applies the best and asks for review). ``confidence`` is the
posterior of the best among the fitting candidates, capped at ``unexpected_confidence`` when
the best is something neither the lane nor the session accounts for.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from smart_store.arbiter.policy import ArbiterPolicy
from smart_store.config.model import Product

__all__ = ["Basis", "Explanation", "ProductMatch", "explain_weight"]

#: Why an item is plausible: on the lane by plan, foreign on the lane, held by the session,
#: on the lane but not held by the putting session, or merely in the catalog.
Basis = Literal["planogram", "lane", "session", "unheld", "catalog"]
_EXPECTED: frozenset[str] = frozenset({"planogram", "lane", "session"})


@dataclass(frozen=True)
class Explanation:
    """One multiset of products that may explain a weight change."""

    items: tuple[tuple[str, int], ...]  # (sku, quantity > 0), sorted by sku
    basis: tuple[Basis, ...]  # per item
    expected_g: float  # g, sum of unit weights (positive)
    residual_g: float  # g, abs(delta) - expected
    sigma_g: float  # g
    log_likelihood: float
    log_prior: float

    @property
    def score(self) -> float:
        """Log-likelihood plus log prior odds (higher is better)."""
        return self.log_likelihood + self.log_prior

    @property
    def quantity(self) -> int:
        """Total units."""
        return sum(q for _, q in self.items)

    @property
    def expected(self) -> bool:
        """Whether the lane or the session accounts for every item (no catalog/unheld guess)."""
        return all(b in _EXPECTED for b in self.basis)

    def label(self) -> str:
        """Human text, e.g. ``2 x COLA-330 + 1 x COLAZ-330``."""
        return " + ".join(f"{q} x {sku}" for sku, q in self.items)


@dataclass(frozen=True)
class ProductMatch:
    """The fitting explanations of one weight change, best first."""

    delta_g: float
    candidates: tuple[Explanation, ...]
    confidence: float  # [0, 1], posterior of the best (0 when nothing fits)
    ambiguous: bool  # the runner-up is within product_tie_nats of the best

    @property
    def best(self) -> Explanation | None:
        """The highest-scoring fit, or ``None`` (an unknown weight)."""
        return self.candidates[0] if self.candidates else None

    @property
    def runner_up(self) -> Explanation | None:
        """The second-best fit, if any."""
        return self.candidates[1] if len(self.candidates) > 1 else None


def explain_weight(
    delta_g: float,
    noise_g: float,
    *,
    lane_sku: str | None,
    lane_items: Mapping[str, int],
    session_items: Mapping[str, int] | None,
    catalog: Mapping[str, Product],
    policy: ArbiterPolicy,
) -> ProductMatch:
    """All fitting explanations of ``delta_g`` on a lane, best first.

    ``lane_items`` is the ledger's ``{sku: count}`` for the lane (``LaneContents.items``);
    ``session_items`` the reaching session's cart quantities (``None`` when no session is known:
    a put-back is then judged like one by a session that holds nothing).
    """
    pick = delta_g < 0
    amount = abs(delta_g)
    noise = max(float(noise_g), policy.min_noise_g)
    held = dict(session_items or {})
    n_planned = lane_items.get(lane_sku, 0) if lane_sku is not None else 0

    def sku_prior(sku: str, q: int) -> tuple[float, Basis]:
        if pick:
            if sku == lane_sku:
                return 0.0, "planogram"
            c = lane_items.get(sku, 0)
            if c >= q:
                share = max(c / max(n_planned, 1), policy.foreign_front_prior)
                return min(0.0, math.log(share)), "lane"
            return math.log(policy.catalog_prior), "catalog"
        if held.get(sku, 0) >= q:
            return (0.0 if sku == lane_sku else math.log(policy.misplace_prior)), "session"
        if sku == lane_sku or lane_items.get(sku, 0) > 0 or held.get(sku, 0) > 0:
            return math.log(policy.unheld_prior), "unheld"
        return math.log(policy.catalog_prior), "catalog"

    pool: list[str] = []
    if lane_sku is not None and lane_sku in catalog:
        pool.append(lane_sku)
    extra = set(lane_items) | (set() if pick else set(held))
    pool.extend(s for s in sorted(extra) if s in catalog and s not in pool)
    if pick:  # a foreign sku with no unit on record cannot come off the lane as "lane"
        pool = [s for s in pool if s == lane_sku or lane_items.get(s, 0) > 0]

    combos: list[dict[str, int]] = []
    max_q = policy.max_quantity
    for sku in catalog:
        combos.extend({sku: q} for q in range(1, max_q + 1))
    for a, b in itertools.combinations(pool, 2):
        for qa in range(1, max_q):
            combos.extend({a: qa, b: qb} for qb in range(1, max_q - qa + 1))

    fits: list[Explanation] = []
    for combo in combos:
        expected = sum(q * catalog[s].unit_weight_g for s, q in combo.items())
        var = sum(q * catalog[s].weight_sd_g ** 2 for s, q in combo.items()) + noise**2
        sigma = math.sqrt(var)
        residual = amount - expected
        if abs(residual) > policy.weight_k * sigma:
            continue
        items = tuple(sorted(combo.items()))
        priors = [sku_prior(s, q) for s, q in items]
        log_prior = sum(p for p, _ in priors)
        log_prior += (len(items) - 1) * math.log(policy.mixed_prior)
        log_prior += (sum(combo.values()) - 1) * math.log(policy.extra_unit_prior)
        fits.append(
            Explanation(
                items=items,
                basis=tuple(b for _, b in priors),
                expected_g=expected,
                residual_g=residual,
                sigma_g=sigma,
                log_likelihood=-0.5 * (residual / sigma) ** 2 - math.log(sigma),
                log_prior=log_prior,
            )
        )
    fits.sort(key=lambda e: (-e.score, e.items))
    if not fits:
        return ProductMatch(delta_g=delta_g, candidates=(), confidence=0.0, ambiguous=False)
    best = fits[0]
    norm = sum(math.exp(f.score - best.score) for f in fits)
    confidence = 1.0 / norm
    if not best.expected:
        confidence = min(confidence, policy.unexpected_confidence)
    ambiguous = len(fits) > 1 and best.score - fits[1].score < policy.product_tie_nats
    return ProductMatch(
        delta_g=delta_g, candidates=tuple(fits), confidence=confidence, ambiguous=ambiguous
    )
