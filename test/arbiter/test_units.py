"""Unit tests of the arbiter's parts: model, policy, lane ledger, product matcher, assignment."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from smart_store.arbiter import (
    ArbiterPolicy,
    Cart,
    CartLine,
    CartUpdate,
    LaneContents,
    Reason,
    ReviewItem,
    ReviewKind,
)
from smart_store.arbiter.assign import assign_window, assignment_windows, pair_score
from smart_store.arbiter.products import explain_weight

MSG = Path(__file__).resolve().parents[2] / "msg"
POLICY = ArbiterPolicy()


# ------------------------------------------------------------------------------ model
def _msg_constants(name: str, prefix: str) -> dict[str, int]:
    text = (MSG / name).read_text(encoding="utf-8")
    return {m[1]: int(m[2]) for m in re.finditer(rf"^uint8 {prefix}(\w+)=(\d+)", text, re.M)}


def test_enums_match_the_msg_constants():
    assert {r.name: int(r) for r in Reason} == _msg_constants("CartUpdate.msg", "REASON_")
    assert {k.name: int(k) for k in ReviewKind} == _msg_constants("ReviewItem.msg", "KIND_")
    assert Reason.PUT_BACK.label == "put_back"
    assert ReviewKind.AMBIGUOUS_ASSIGNMENT.label == "ambiguous_assignment"


def _msg_fields(name: str) -> list[str]:
    out = []
    for raw in (MSG / name).read_text(encoding="utf-8").splitlines():
        line = raw.split("#")[0].strip()
        if line and "=" not in line and not line.startswith("std_msgs/Header"):
            out.append(line.split()[1])
    return out


@pytest.mark.parametrize(
    ("cls", "msg"),
    [(CartUpdate, "CartUpdate.msg"), (CartLine, "CartLine.msg"), (Cart, "Cart.msg"),
     (ReviewItem, "ReviewItem.msg")],
)
def test_dataclasses_mirror_the_msgs(cls, msg):
    names = [f for f in cls.__dataclass_fields__ if f != "stamp"]
    assert names == _msg_fields(msg)


def test_model_round_trips_through_json():
    line = CartLine("COLA-330", "Cola", 2, 129, 258, ("w1", "r1"), 0.9)
    cart = Cart("S1", 3, (line,), 258, "EUR", 11.2, pending=True)
    update = CartUpdate("w1:COLA-330", "S1", 1, "COLA-330", 2, 129, Reason.PICK, 0.9,
                        ("w1", "r1"), 11.2)
    review = ReviewItem("w1:other", ReviewKind.OTHER, "S1", "shelf_a", "A2a", "", ("w1",), 0.3,
                        "x", 11.2)
    for obj in (line, cart, update, review):
        back = type(obj).from_dict(json.loads(json.dumps(obj.to_dict())))
        assert back == obj
    assert update.to_dict()["reason"] == 0 and review.to_dict()["kind"] == 255


def test_policy_validation_and_dict():
    assert ArbiterPolicy.from_dict(POLICY.to_dict()) == POLICY
    assert ArbiterPolicy.from_dict({"decision_delay_s": 2}).decision_delay_s == 2.0
    with pytest.raises(ValueError, match="unknown"):
        ArbiterPolicy.from_dict({"decision_delay": 2})
    with pytest.raises(ValueError, match="tie_margin"):
        ArbiterPolicy(tie_margin=-1)
    w = POLICY.w_temporal + POLICY.w_lane + POLICY.w_confidence + POLICY.w_evidence
    assert w == pytest.approx(1.0)


# ------------------------------------------------------------------------------ lanes
def test_lane_contents_ledger(mk):
    lanes = LaneContents.from_config(mk.cfg())
    assert lanes.items("A2a") == {"COLA-330": 12}
    assert lanes.remove("A2a", "COLA-330", 2) == 2
    lanes.add("A2a", "OJ-1000", 1)
    lanes.add("A2a", "COLAZ-330", 2)
    assert lanes.items("A2a") == {"COLA-330": 10, "COLAZ-330": 2, "OJ-1000": 1}
    assert lanes.foreign("A2a") == {"COLAZ-330": 2, "OJ-1000": 1}
    assert lanes.misplaced() == {"A2a": {"COLAZ-330": 2, "OJ-1000": 1}}
    assert lanes.remove("A2a", "OJ-1000", 3) == 1  # clamps at what is on record
    assert lanes.foreign("A2a") == {"COLAZ-330": 2}
    assert lanes.remove("A2a", "COLA-330", 99) == 10
    assert lanes.items("A2a") == {"COLA-330": 0, "COLAZ-330": 2}  # planned sku stays listed
    copy = LaneContents.from_config(mk.cfg())
    copy.restore(json.loads(json.dumps(lanes.snapshot())))
    assert copy.snapshot() == lanes.snapshot()
    assert lanes.planned_sku("A2a") == "COLA-330"


# ------------------------------------------------------------------------------ products
def _explain(mk, delta, lane, *, session=None, lanes=None, noise=1.5):
    cfg = mk.cfg()
    ledger = lanes or LaneContents.from_config(cfg)
    return explain_weight(
        delta, noise, lane_sku=ledger.planned_sku(lane), lane_items=ledger.items(lane),
        session_items=session, catalog=cfg.catalog, policy=POLICY,
    )


def test_products_planogram_first(mk):
    m = _explain(mk, -350.8, "A2a")
    assert m.best.items == (("COLA-330", 1),) and m.best.basis == ("planogram",)
    assert not m.ambiguous and m.confidence > 0.95
    # COLA ZERO fits the weight too, but only as a catalog guess
    assert any(c.items == (("COLAZ-330", 1),) for c in m.candidates)


def test_products_quantity_uses_the_unit_sd(mk):
    assert _explain(mk, -1049.0, "A2a").best.items == (("COLA-330", 3),)
    # 16 g short of three colas is 4 sigma (sqrt(3 * 2**2 + 1.5**2) = 3.8 g): not three colas
    assert all(c.items != (("COLA-330", 3),) for c in _explain(mk, -1034.0, "A2a").candidates)
    # 6 gum packs: 192 g +- sqrt(6) * 0.8 g
    assert _explain(mk, -193.5, "D3a").best.items == (("GUM-MINT", 6),)


def test_products_foreign_item_on_the_lane(mk):
    lanes = LaneContents.from_config(mk.cfg())
    lanes.add("A2a", "OJ-1000", 1)
    m = _explain(mk, -1066.0, "A2a", lanes=lanes)
    assert m.best.items == (("OJ-1000", 1),) and m.best.basis == ("lane",)
    # a cola and the juice together
    m2 = _explain(mk, -1415.0, "A2a", lanes=lanes)
    assert m2.best.items == (("COLA-330", 1), ("OJ-1000", 1))


def test_products_put_back_the_cart_decides_near_identical(mk):
    m = _explain(mk, 349.0, "A2a", session={"COLAZ-330": 1})
    assert m.best.items == (("COLAZ-330", 1),) and m.best.basis == ("session",)
    assert not m.ambiguous
    m_home = _explain(mk, 349.0, "A2a", session={"COLA-330": 1, "COLAZ-330": 1})
    assert m_home.best.items == (("COLA-330", 1),)  # put back where it belongs wins
    m_none = _explain(mk, 349.0, "A2a", session={})
    assert m_none.best.items == (("COLA-330", 1),) and m_none.best.basis == ("unheld",)
    assert m_none.confidence <= POLICY.unexpected_confidence


def test_products_unknown_and_tie(mk):
    assert _explain(mk, -57.0, "A2a").best is None
    tie = _explain(mk, 519.5, "A1c", session={"WATER-500": 1, "WATERS-500": 1})
    assert tie.ambiguous
    assert {tie.best.items, tie.runner_up.items} == {(("WATER-500", 1),), (("WATERS-500", 1),)}


# ------------------------------------------------------------------------------ assignment
def test_pair_score_terms(mk):
    ev = mk.weight("w", "A2a", -350.0, 10.4, 11.0)
    inside = pair_score(ev, mk.reach("r", 1, "A2a", 10.0, 11.0), POLICY)
    assert inside.temporal == 1.0 and inside.lane == 1.0 and inside.evidence == 1.0
    secondary = pair_score(ev, mk.reach("r", 1, ("A2b", "A2a"), 10.0, 11.0, dwell=(0.8, 0.2)),
                           POLICY)
    assert secondary.lane == pytest.approx(0.25)
    single = pair_score(ev, mk.reach("r", 1, "A2a", 10.0, 11.0, evidence=mk.POSE), POLICY)
    assert single.evidence == POLICY.evidence_single and single.score < inside.score
    late = pair_score(ev, mk.reach("r", 1, "A2a", 11.2, 12.0), POLICY)
    assert 0 < late.temporal < inside.temporal
    assert pair_score(ev, mk.reach("r", 1, "A2a", 12.0, 13.0), POLICY) is None  # no overlap
    assert pair_score(ev, mk.reach("r", 1, "A2b", 10.0, 11.0), POLICY) is None  # other lane
    assert pair_score(ev, mk.reach("r", 1, "C1a", 10.0, 11.0), POLICY) is None  # other shelf


def test_windows_group_by_time_and_shared_reaches(mk):
    events = [
        mk.weight("a", "A2a", -350.0, 10.0, 10.5),
        mk.weight("b", "A2b", -348.0, 10.6, 11.0),  # within window_gap_s of a
        mk.weight("c", "A2c", -356.0, 20.0, 20.5),  # alone
        mk.weight("d", "C1a", -162.0, 10.0, 10.5),  # other shelf
    ]
    windows = assignment_windows(events, [], POLICY)
    assert [[e.event_id for e in w] for w in windows] == [["a", "b"], ["d"], ["c"]]
    linked = [mk.weight("x", "A2a", -350.0, 10.0, 10.3), mk.weight("y", "A2a", -350.0, 11.0, 11.3)]
    assert len(assignment_windows(linked, [], POLICY)) == 2
    one_reach = [mk.reach("r", 1, "A2a", 9.8, 11.2)]
    assert len(assignment_windows(linked, one_reach, POLICY)) == 1


def test_assignment_is_order_independent_and_reports_runner_up(mk):
    events = [mk.weight("w", "A2a", -350.0, 10.4, 11.0)]
    reaches = [mk.reach("r1", 1, "A2a", 10.0, 11.0), mk.reach("r2", 2, "A2a", 10.0, 11.0)]
    a = assign_window(events, reaches, POLICY)["w"]
    b = assign_window(events, reaches[::-1], POLICY)["w"]
    assert a == b
    assert (a.reach_id, a.runner_up, a.ambiguous) == ("r1", "r2", True)
    assert a.confidence == pytest.approx(0.5 * 0.9, abs=1e-6)
    clear = assign_window(events, reaches[:1], POLICY)["w"]
    assert not clear.ambiguous and clear.runner_up is None and clear.confidence > 0.89
    none = assign_window(events, [], POLICY)["w"]
    assert none.reach_id is None and none.candidates == ()


def test_used_slot_is_penalised(mk):
    ev = mk.weight("w2", "A2a", -350.0, 10.4, 11.0)
    reaches = [mk.reach("r1", 1, "A2a", 10.0, 11.0), mk.reach("r2", 2, "A2a", 10.0, 11.0,
                                                            conf=0.8, evidence=mk.POSE)]
    assert assign_window([ev], reaches, POLICY)["w2"].reach_id == "r1"
    used = {("r1", "A2a"): "w1"}
    assert assign_window([ev], reaches, POLICY, used_slots=used)["w2"].reach_id == "r2"
