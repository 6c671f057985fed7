"""Builders for hand-written arbiter replays: weight events, reaches and a small driver.

Times are seconds on a made-up clock; every scenario feeds inputs in the order a live system
would receive them (a reach when it ends, a weight event when it settles) and flushes at chosen
times, then asserts the exact carts and review items.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from smart_store.arbiter import (
    ArbiterPolicy,
    Cart,
    CartArbiter,
    CartUpdate,
    ReviewItem,
    ReviewKind,
)
from smart_store.arbiter.arbiter import ArbiterOutput
from smart_store.config import StoreConfig, load_store_config
from smart_store.events.model import WeightEvent
from smart_store.reach.model import EVIDENCE_BEAM, EVIDENCE_POSE, Reach

DEMO = Path(__file__).resolve().parents[2] / "config" / "demo_store.yaml"
BOTH = EVIDENCE_POSE | EVIDENCE_BEAM

_CFG: StoreConfig | None = None


def demo_cfg() -> StoreConfig:
    global _CFG  # noqa: PLW0603 - one parse per test run, shared by every builder
    if _CFG is None:
        _CFG = load_store_config(DEMO)
    return _CFG


def weight(
    event_id: str,
    lane: str,
    delta: float,
    start: float,
    end: float,
    *,
    noise: float = 1.5,
    stale: bool = False,
) -> WeightEvent:
    """A settled weight change on ``lane`` (shelf taken from the config)."""
    cfg = demo_cfg()
    product = cfg.product_in_lane(lane)
    hint = delta / product.unit_weight_g if product else 0.0
    return WeightEvent(
        event_id=event_id,
        shelf_id=cfg.lane(lane).shelf_id,
        lane_id=lane,
        delta_grams=delta,
        start=start,
        end=end,
        weight_before=5000.0,
        weight_after=5000.0 + delta,
        stability=0.95,
        quantity_hint=hint,
        quantity_residual=abs(hint - round(hint)),
        noise_grams=noise,
        stale=stale,
    )


def reach(
    event_id: str,
    track: int,
    lanes: str | tuple[str, ...],
    start: float,
    end: float,
    *,
    dwell: tuple[float, ...] | None = None,
    conf: float = 0.9,
    evidence: int = BOTH,
) -> Reach:
    """A hand of ``track`` in ``lanes`` (most dwell first) from ``start`` to ``end``."""
    lane_ids = (lanes,) if isinstance(lanes, str) else tuple(lanes)
    if dwell is None:
        dwell = (end - start, *(0.5 * (end - start) for _ in lane_ids[1:]))
    return Reach(
        event_id=event_id,
        track_id=track,
        hand="right",
        shelf_id=demo_cfg().lane(lane_ids[0]).shelf_id,
        lane_ids=lane_ids,
        lane_dwell=dwell,
        start=start,
        end=end,
        confidence=conf,
        evidence=evidence,
    )


#: The hand-written sequences are timed for a 1.0 s decision delay (each ``flush(now)`` sits
#: just before or after ``event.end + 1.0``); the default delay (1.5 s, long enough for a
#: beam-only reach) has its own tests in test_state.py.
SEQUENCE_POLICY = ArbiterPolicy(decision_delay_s=1.0)


class Shop:
    """Drives one :class:`CartArbiter` and keeps everything it emitted."""

    def __init__(self, policy: ArbiterPolicy | None = None) -> None:
        self.cfg = demo_cfg()
        self.arb = CartArbiter(self.cfg, policy or SEQUENCE_POLICY)
        self.out: list[ArbiterOutput] = []

    def session(self, sid: str, *tracks: int, anonymous: bool = False) -> None:
        self.arb.on_session(sid, tracks, "" if anonymous else f"tok-{sid}", anonymous)

    def feed(self, *items: Reach | WeightEvent) -> None:
        for item in items:
            if isinstance(item, Reach):
                self.arb.on_reach(item)
            else:
                self.arb.on_weight(item)

    def flush(self, now: float) -> list[ArbiterOutput]:
        got = self.arb.flush(now)
        self.out.extend(got)
        return got

    def finish(self) -> list[ArbiterOutput]:
        return self.flush(1.0e6)

    # ---------------------------------------------------------------- views
    def cart(self, sid: str) -> dict[str, int]:
        cart = self.arb.cart(sid)
        return {} if cart is None else cart.quantities()

    def carts(self) -> dict[str, dict[str, int]]:
        return {sid: c.quantities() for sid, c in self.arb.carts().items()}

    def updates(self) -> list[CartUpdate]:
        return [o for o in self.out if isinstance(o, CartUpdate)]

    def reviews(self, kind: ReviewKind | None = None) -> list[ReviewItem]:
        return [o for o in self.out if isinstance(o, ReviewItem) and kind in (None, o.kind)]

    def review_kinds(self) -> list[tuple[str, str, str, str]]:
        """(kind label, session, lane, sku) of every review, in emission order."""
        return [(r.kind.label, r.session_id, r.lane_id, r.sku) for r in self.reviews()]

    def cart_msgs(self) -> list[Cart]:
        return [o for o in self.out if isinstance(o, Cart)]

    def update_rows(self) -> list[tuple[str, int, str, int, str]]:
        """(session, track, sku, quantity delta, reason label) of every update."""
        return [
            (u.session_id, u.track_id, u.sku, u.quantity_delta, u.reason.label)
            for u in self.updates()
        ]


@pytest.fixture
def shop() -> Shop:
    return Shop()


class Builders:
    """What the ``mk`` fixture hands to tests (conftest modules are not importable)."""

    weight = staticmethod(weight)
    reach = staticmethod(reach)
    BOTH = BOTH
    POSE = EVIDENCE_POSE
    BEAM = EVIDENCE_BEAM

    @staticmethod
    def shop(policy: ArbiterPolicy | None = None) -> Shop:
        return Shop(policy)

    @staticmethod
    def cfg() -> StoreConfig:
        return demo_cfg()


@pytest.fixture
def mk() -> type[Builders]:
    return Builders
