"""The twin's world simulation: bodies, walking, reaches, items, truth and billing."""

from __future__ import annotations

import itertools
import math
import time
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from smart_store.config import StoreConfig, load_store_config
from smart_store.geometry.polygon import point_in_polygon
from smart_store.twin.model import LEFT_WRIST, RIGHT_WRIST, TruthEvent
from smart_store.twin.scenario import library_names, load_scenario
from smart_store.twin.world import POSE_RATE, BodyDims, World

ROOT = Path(__file__).resolve().parents[2]
LIMBS = ((11, 13, "thigh"), (12, 14, "thigh"), (13, 15, "shank"), (14, 16, "shank"),
         (5, 7, "upper_arm"), (6, 8, "upper_arm"), (7, 9, "forearm"), (8, 10, "forearm"))


@cache
def _cfg() -> StoreConfig:
    return load_store_config(ROOT / "config" / "demo_store.yaml")


@cache
def world(name: str) -> World:
    cfg = _cfg()
    return World(cfg, load_scenario(name, cfg))


@pytest.fixture(scope="module")
def cfg() -> StoreConfig:
    return _cfg()


def events(w: World, kind: str, shopper: str | None = None) -> list[TruthEvent]:
    return [e for e in w.truth if e.kind == kind and (shopper is None or e.shopper == shopper)]


def wrist(e: TruthEvent) -> int:
    return LEFT_WRIST if e.hand == "left" else RIGHT_WRIST


def hips_at(w: World, t: float) -> dict[str, np.ndarray]:
    return {p.shopper: p.joints[11:13, :2].mean(axis=0) for p in w.people_at(t)}


# --------------------------------------------------------------------------- every scenario
@pytest.mark.parametrize("name", library_names())
def test_library_scenario_plays_cleanly(name: str, cfg: StoreConfig) -> None:
    w = world(name)
    sc = w.scenario
    assert w.skipped == []
    assert w.anomalies == []
    assert w.overrun == 0.0 and w.duration == sc.duration
    ids = {s.id for s in sc.shoppers}
    assert {e.shopper for e in events(w, "enter")} == ids
    exits = events(w, "exit")
    assert {e.shopper for e in exits} == ids
    assert all(e.t_end < sc.duration - 0.5 for e in exits)
    # everybody appears at the entry door and vanishes through the exit door
    entry, exit_zone = cfg.zone("entry"), cfg.zone("exit")
    for tr in w.tracks:
        first = tr.joints[0, 11:13, :2].mean(axis=0)
        last = tr.joints[-1, 11:13, :2].mean(axis=0)
        assert entry.contains(first)[0] and first[1] < 0.15, tr.shopper
        assert exit_zone.contains(last)[0] and last[1] < 0.1, tr.shopper
    # each session has one receipt; the payer is its scanner
    members = [m for r in w.receipts for m in r.members]
    assert sorted(members) == sorted(ids)
    assert len(w.entries) == len(w.receipts)
    for t, payer, token, companions in w.entries:
        spec = next(s for s in sc.shoppers if s.id == payer)
        assert token == spec.token and companions == spec.companions
        assert t == pytest.approx(events(w, "enter", payer)[0].t_start)


@pytest.mark.parametrize("name", library_names())
def test_bodies_are_plausible(name: str, cfg: StoreConfig) -> None:
    w = world(name)
    for tr in w.tracks:
        j = tr.joints.astype(np.float64)
        d = BodyDims.from_body(tr.body)
        ankles = j[:, 15:17, 2]
        assert ankles.min() >= 0.5 * d.ankle_h and ankles.max() <= 0.1 * d.height + 0.03
        assert j[:, :, 2].min() > 0.0
        standing = j[:, 0, 2].max()                 # nose when upright
        assert 0.88 * d.height <= standing <= 0.95 * d.height
        for a, b, seg in LIMBS:
            length = np.linalg.norm(j[:, a] - j[:, b], axis=1)
            assert np.abs(length - getattr(d, seg)).max() < 1e-4, (tr.shopper, seg)
        # nobody leaves the floor or walks through a shelf (head and reaching arms may lean in)
        hips = j[:, 11:13, :2].mean(axis=1)
        assert point_in_polygon(hips, cfg.floor).all()
        legs = j[:, [11, 12, 13, 14, 15, 16]].reshape(-1, 3)
        for shelf in cfg.shelves:
            loc = shelf.to_local(legs)
            inside = ((np.abs(loc[:, 0]) < 0.5 * shelf.width)
                      & (np.abs(loc[:, 1]) < 0.5 * shelf.depth))
            assert not inside.any(), (tr.shopper, shelf.id)


@pytest.mark.parametrize("name", ["demo", "crowded", "friends_separate", "crossed_arms",
                                  "simultaneous_three", "handoff"])
def test_people_keep_apart_except_in_handoffs(name: str) -> None:
    w = world(name)
    handoffs = [(e.t_start - 0.5, e.t_end + 0.5, {e.shopper, e.other})
                for e in events(w, "handoff")]
    closest = math.inf
    for t in np.arange(0.0, w.duration, 0.1):
        hips = hips_at(w, float(t))
        for (a, pa), (b, pb) in itertools.combinations(hips.items(), 2):
            if any(t0 <= t <= t1 and {a, b} == pair for t0, t1, pair in handoffs):
                continue
            closest = min(closest, float(np.linalg.norm(pa - pb)))
    assert closest >= 0.3


def test_crowded_is_crowded() -> None:
    w = world("crowded")
    peak = max(len(w.people_at(float(t))) for t in np.arange(0.0, w.duration, 0.5))
    assert peak >= 15


def test_world_is_deterministic(cfg: StoreConfig) -> None:
    a = world("demo")
    b = World(cfg, load_scenario("demo", cfg))
    assert a.truth == b.truth
    assert a.receipts == b.receipts
    assert a.lane_changes == b.lane_changes
    assert a.entries == b.entries
    for t in (3.0, 17.25, 24.8, 40.0):
        pa, pb = a.people_at(t), b.people_at(t)
        assert [p.shopper for p in pa] == [p.shopper for p in pb]
        for x, y in zip(pa, pb, strict=True):
            np.testing.assert_array_equal(x.joints, y.joints)


def test_different_seed_changes_the_details(cfg: StoreConfig) -> None:
    sc = load_scenario("single_shopper", cfg)
    from dataclasses import replace
    a, b = world("single_shopper"), World(cfg, replace(sc, seed=sc.seed + 1))
    assert [e.grams for e in events(a, "pick")] != [e.grams for e in events(b, "pick")]


# --------------------------------------------------------------------------- reaches and items
@pytest.mark.parametrize("name", ["single_shopper", "multi_quantity", "similar_weights",
                                  "crossed_arms", "demo"])
def test_pick_wrist_is_in_the_lane_and_weight_drops(name: str, cfg: StoreConfig) -> None:
    w = world(name)
    picks = events(w, "pick")
    assert picks
    for e in picks:
        lane = cfg.lane(e.lane or "")
        assert e.t_end - e.t_start > 0.2
        for t in np.linspace(e.t_start, e.t_end, 9):
            person = next(p for p in w.people_at(float(t)) if p.shopper == e.shopper)
            assert lane.contains_store(person.joints[wrist(e)])[0], (e, t)
            assert w.hands_in_lanes_at(float(t))[e.lane] >= 1
        before = w.lane_weights_at(e.t_start - 1e-3)[e.lane]
        after = w.lane_weights_at(e.t_end + 1e-3)[e.lane]
        assert after - before == pytest.approx(e.grams, abs=1e-6)
        prod = cfg.catalog[e.sku or ""]
        assert abs(-e.grams - e.qty * prod.unit_weight_g) < 4 * prod.weight_sd_g * e.qty + 1
        steps = [c for c in w.lane_changes if c[1] == e.lane and e.t_start <= c[0] <= e.t_end]
        assert steps and steps[0][2] == pytest.approx(e.grams)


def test_multi_quantity_is_one_step() -> None:
    w = world("multi_quantity")
    three = next(e for e in events(w, "pick") if e.lane == "A2c")
    assert three.qty == 3 and three.sku == "LEMON-330"
    assert len([c for c in w.lane_changes if c[1] == "A2c"]) == 1


def test_reach_only_changes_no_weight() -> None:
    w = world("reach_no_take")
    reaches = events(w, "reach_only")
    assert {e.lane for e in reaches} == {"A1c", "B1b"}
    for e in reaches:
        assert e.grams == 0.0 and e.qty == 0
        assert w.lane_weights_at(e.t_end + 1.0)[e.lane] == w.lane_weights_at(0.0)[e.lane]
        assert w.hands_in_lanes_at(0.5 * (e.t_start + e.t_end))[e.lane] == 1
    slow = events(w, "pick", "tia")[0]
    assert slow.t_end - slow.t_start > 1.5            # the hand lingers half in


def test_put_back_same_lane_is_net_zero() -> None:
    w = world("putback_same_lane")
    pick = next(e for e in events(w, "pick") if e.lane == "A3b")
    back = events(w, "put_back")[0]
    assert back.lane == "A3b" and back.grams == pytest.approx(-pick.grams)
    receipt = w.receipts[0]
    assert [ln.sku for ln in receipt.lines] == ["ENERGY-250"]


def test_misplaced_put_back_changes_the_other_lane() -> None:
    w = world("putback_misplaced")
    back = events(w, "put_back")[0]
    assert back.lane == "C2b" and back.sku == "TORTILLA-200" and back.grams > 200
    assert w.lane_weights_at(back.t_end + 0.01)["C2b"] == pytest.approx(
        w.lane_weights_at(back.t_start - 0.01)["C2b"] + back.grams)
    # the next picker at the peanut lane takes the misplaced tortilla chips, same item
    later = next(e for e in events(w, "pick", "ivy") if e.lane == "C2b")
    assert later.sku == "TORTILLA-200" and later.grams == pytest.approx(-back.grams)
    ivy = next(r for r in w.receipts if r.payer == "ivy")
    assert {ln.sku for ln in ivy.lines} == {"TISSUE-10", "TORTILLA-200"}
    hal = next(r for r in w.receipts if r.payer == "hal")
    assert {ln.sku for ln in hal.lines} == {"GUM-MINT"}


def test_lane_weights_start_at_the_planogram(cfg: StoreConfig) -> None:
    w = world("single_shopper")
    start = w.lane_weights_at(0.0)
    assert set(start) == {lane.id for lane in cfg.lanes()}
    for lane_id, entry in cfg.planogram.items():
        prod = cfg.catalog[entry.sku]
        assert abs(start[lane_id] - entry.facings * prod.unit_weight_g) < (
            5 * prod.weight_sd_g * math.sqrt(entry.facings))


# --------------------------------------------------------------------------- held items, stock
@pytest.mark.parametrize("name", library_names())
def test_held_items_and_stock_follow_the_truth(name: str, cfg: StoreConfig) -> None:
    """Lane counts step with every pick and put-back (by the truth's qty); what people hold
    grows by their picks and hand-ons received and shrinks by put-backs and hand-ons given."""
    w = world(name)
    start, end = w.lane_stock_at(0.0), w.lane_stock_at(w.duration)
    assert start == {lane.id: (cfg.planogram[lane.id].facings if lane.id in cfg.planogram
                               else 0) for lane in cfg.lanes()}
    moved = dict.fromkeys(start, 0)
    for e in w.truth:
        if e.kind in ("pick", "put_back"):
            assert e.lane is not None
            moved[e.lane] += e.qty if e.kind == "put_back" else -e.qty
    assert end == {lane: start[lane] + moved[lane] for lane in start}
    for t, lane, grams in w.lane_changes:          # counts step with the weights
        step = w.lane_stock_at(t)[lane] - w.lane_stock_at(t - 1e-6)[lane]
        assert step != 0 and (step > 0) == (grams > 0), (t, lane)
    for e in events(w, "pick"):
        assert (e.sku, e.hand) in {(h.sku, h.hand) for h in w.held_at(e.t_end)[e.shopper]}, e
    for e in events(w, "handoff"):
        before = w.held_at(e.t_start)
        after = w.held_at(e.t_end)
        assert sum(h.sku == e.sku for h in after[e.other]) == (
            sum(h.sku == e.sku for h in before[e.other]) + e.qty)
        assert any(h.sku == e.sku and h.hand == "right" for h in after[e.other])
    # people_at carries the same holdings; nobody holds anything on entering
    for t in np.arange(0.0, w.duration, 0.5):
        held = w.held_at(float(t))
        for p in w.people_at(float(t)):
            assert p.held == held[p.shopper]
    for e in events(w, "enter"):
        assert w.held_at(e.t_start)[e.shopper] == ()


def test_put_back_moves_the_item_to_the_reaching_hand() -> None:
    """In putback_misplaced hal picks with the right hand and puts back; the item is in the
    reaching hand during the reach and gone after it."""
    w = world("putback_misplaced")
    back = events(w, "put_back")[0]
    during = w.held_at(back.t_start)[back.shopper]
    assert [(h.sku, h.hand) for h in during] == [(back.sku, back.hand)]
    assert all(h.sku != back.sku for h in w.held_at(back.t_end)[back.shopper])


# --------------------------------------------------------------------------- sessions and bills
def test_family_child_pick_is_on_the_parent_receipt() -> None:
    w = world("family_child_picks")
    assert len(w.receipts) == 1
    r = w.receipts[0]
    assert r.payer == "parent" and r.token == "acct-family-0202"
    assert r.members == ("parent", "kid")
    assert {ln.sku for ln in r.lines} == {"MILK-1000", "SAND-HAM", "COOKIE-CHOC-200"}
    kid_exit = events(w, "exit", "kid")[0].t_end
    parent_exit = events(w, "exit", "parent")[0].t_end
    assert r.exit_time == pytest.approx(max(kid_exit, parent_exit))
    assert w.entries == [(1.0, "parent", "acct-family-0202", ("kid",))]


def test_handoff_between_strangers_stays_with_the_picker() -> None:
    w = world("handoff")
    h = events(w, "handoff")[0]
    assert (h.shopper, h.other, h.sku, h.qty) == ("max", "nia", "CHOC-DARK-100", 1)
    # arms reach towards each other during the exchange
    mid = 0.5 * (h.t_start + h.t_end)
    people = {p.shopper: p.joints for p in w.people_at(mid)}
    gap = np.linalg.norm(people["max"][RIGHT_WRIST] - people["nia"][RIGHT_WRIST])
    body_gap = np.linalg.norm(people["max"][11:13].mean(0) - people["nia"][11:13].mean(0))
    assert gap < 0.2 and body_gap < 1.0
    bills = {r.payer: {ln.sku: ln.qty for ln in r.lines} for r in w.receipts}
    assert bills["max"] == {"CHOC-DARK-100": 1}
    assert "CHOC-DARK-100" not in bills["nia"]
    # nia carries it out after max has left
    assert events(w, "exit", "nia")[0].t_end > events(w, "exit", "max")[0].t_end


def test_family_handoff_changes_nothing_and_unscanned_is_anonymous() -> None:
    demo = world("demo")
    lena = next(r for r in demo.receipts if r.payer == "lena")
    assert "GUMMY-200" in {ln.sku for ln in lena.lines}
    assert events(demo, "handoff", "tom")[0].other == "lena"
    w = world("unscanned_shopper")
    anon = next(r for r in w.receipts if r.payer == "sly")
    assert anon.token is None and anon.members == ("sly",)
    assert {ln.sku for ln in anon.lines} == {"ENERGY-250"}
    assert (events(w, "enter", "sly")[0].t_start, "sly", None, ()) in w.entries


def test_disturbed_lanes_lose_nothing() -> None:
    w = world("loadcell_bump")
    assert not [e for e in w.truth if e.lane in ("B2a", "B2b")]
    pick = next(e for e in events(w, "pick") if e.lane == "B2c")
    assert 9.5 <= pick.t_start <= 11.5                 # during the disturbance


# --------------------------------------------------------------------------- simultaneity
def _overlap(a: TruthEvent, b: TruthEvent) -> float:
    return min(a.t_end, b.t_end) - max(a.t_start, b.t_start)


@pytest.mark.parametrize(("name", "n"), [("simultaneous_two", 2), ("simultaneous_three", 3),
                                         ("crossed_arms", 2)])
def test_simultaneous_reaches_overlap_at_one_shelf(name: str, n: int, cfg: StoreConfig) -> None:
    w = world(name)
    picks = events(w, "pick")
    assert len(picks) == n
    assert len({cfg.lane(e.lane or "").shelf_id for e in picks}) == 1
    assert len({e.lane for e in picks}) == n
    for a, b in itertools.combinations(picks, 2):
        assert _overlap(a, b) > 0.2, (a, b)
    t = max(e.t_start for e in picks) + 0.05
    hands = w.hands_in_lanes_at(t)
    assert all(hands[e.lane] == 1 for e in picks)
    shelf_id = cfg.lane(picks[0].lane or "").shelf_id
    assert len(w.shelf_intrusions_at(t)[shelf_id]) >= n


def test_crossed_arms_reach_into_the_other_side(cfg: StoreConfig) -> None:
    w = world("crossed_arms")
    picks = {e.shopper: e for e in events(w, "pick")}
    assert picks["uma"].lane == "C3b" and picks["vic"].lane == "C3a"
    t = max(e.t_start for e in picks.values()) + 0.05
    hips = hips_at(w, t)
    for e in picks.values():
        front = cfg.lane(e.lane or "").front_center_store()[:2]
        nearest = min(hips, key=lambda who: np.linalg.norm(hips[who] - front))
        assert nearest != e.shopper                      # the wrong body is nearest the lane
    # the two forearms cross: along the shelf, each wrist is past the other's
    shelf = cfg.shelf("shelf_c")
    people = {p.shopper: p.joints for p in w.people_at(t)}
    x = {who: shelf.to_local(people[who][wrist(picks[who])][None])[0, 0] for who in picks}
    body = {who: shelf.to_local(people[who][11:13].mean(0)[None])[0, 0] for who in picks}
    assert (x["uma"] - x["vic"]) * (body["uma"] - body["vic"]) < 0


def test_shelf_intrusions_follow_the_hand(cfg: StoreConfig) -> None:
    w = world("single_shopper")
    assert all(not v for v in w.shelf_intrusions_at(0.5).values())
    for e in events(w, "pick"):
        lane = cfg.lane(e.lane or "")
        shelf = cfg.shelf(lane.shelf_id)
        lo, hi = lane.box_local
        t = 0.5 * (e.t_start + e.t_end)
        hits = w.shelf_intrusions_at(t)[shelf.id]
        assert hits
        span = (lo[0] + 0.5 * shelf.width - 0.12, hi[0] + 0.5 * shelf.width + 0.12)
        assert any(span[0] <= d <= span[1] for d in hits), (e, hits, span)
        others = [s.id for s in cfg.shelves if s.id != shelf.id]
        assert all(not w.shelf_intrusions_at(t)[s] for s in others)
    # between reaches, standing at the shelf, nothing crosses the face
    first = events(w, "pick")[0]
    assert not any(w.shelf_intrusions_at(first.t_start - 1.0).values())


# --------------------------------------------------------------------------- speed
def test_people_at_is_cheap() -> None:
    w = world("demo")
    ts = np.arange(0.0, w.duration, 1.0 / 60.0)
    t0 = time.perf_counter()
    for t in ts:
        w.people_at(float(t))
    per_call = (time.perf_counter() - t0) / len(ts)
    assert per_call < 2e-3
    tr = w.tracks[0]
    assert tr.joints.shape[0] == pytest.approx((tr.t1 - tr.t0) * POSE_RATE + 1)
