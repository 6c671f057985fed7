"""BillingLogic end to end on a real SQLite file: receipts once, on time, after any restart."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from billing_helpers import Person, Script, make_cart, run_script, shop_then_crash

from smart_store.billing.billing import BillingLogic
from smart_store.billing.model import (
    Receipt,
    ReviewItem,
    ReviewKind,
    Session,
    SessionState,
    snapshot_cart,
)
from smart_store.billing.store import BillingStore
from smart_store.config import StoreConfig


def shop(cfg: StoreConfig) -> Script:
    """A family of two (scan e1), a friend scanning separately (e2) and an unscanned shopper."""
    people = [
        Person(1, born=0.5, leave=20.0),  # parent
        Person(2, born=1.0, leave=25.0),  # child
        Person(3, born=1.5, leave=15.0),  # friend of the family, own scan
        Person(4, born=10.0, leave=30.0),  # nobody scanned for this one
    ]
    scans = [(0.0, 0.0, "e1", "tok-parent", 1), (1.5, 1.5, "e2", "tok-friend", 0)]
    carts = [
        (6.0, make_cart(cfg, "s-e1", 1, {"COLA-330": 1})),
        (8.0, make_cart(cfg, "s-e2", 1, {"SAND-HAM": 1})),
        (9.0, make_cart(cfg, "s-e1", 2, {"COLA-330": 1, "CHOC-MILK-100": 2})),
        (14.0, make_cart(cfg, "s-anon-4", 1, {"GUM-MINT": 1})),
        (18.0, make_cart(cfg, "s-e1", 3, {"COLA-330": 1, "CHOC-MILK-100": 2, "BATT-AA4": 1})),
    ]
    return Script(people, scans, carts, t_end=40.0)


def test_family_friend_and_anonymous_receipts(tmp_path: Path, cfg: StoreConfig) -> None:
    run = run_script(cfg, tmp_path / "store.db", shop(cfg))
    issued = {r.session_id: (t, r) for t, r in run.receipts}
    assert set(issued) == {"s-e1", "s-e2", "s-anon-4"}
    # the friend leaves first and is billed first, alone
    t_friend, friend = issued["s-e2"]
    assert t_friend == 15.0 and friend.exit_time == 15.0
    assert [(ln.sku, ln.quantity) for ln in friend.lines] == [("SAND-HAM", 1)]
    assert friend.total == 279 and friend.account_token == "tok-friend"
    assert not friend.needs_review
    # the family is billed once, when the last member (the child) leaves
    t_family, family = issued["s-e1"]
    assert t_family == 25.0 and family.exit_time == 25.0
    assert family.track_ids == (1, 2) and family.account_token == "tok-parent"
    assert [(ln.sku, ln.quantity) for ln in family.lines] == [
        ("BATT-AA4", 1), ("CHOC-MILK-100", 2), ("COLA-330", 1)]
    assert family.total == 499 + 2 * 149 + 129
    assert family.entry_time == 0.0
    # the unscanned shopper: anonymous session, billed to review
    _, anon = issued["s-anon-4"]
    assert anon.account_token == "" and anon.needs_review
    assert "rv-anon-4" in anon.review_ids
    assert run.store.count("receipts") == 3
    assert run.logic.open_sessions() == []
    assert run.store.open_sessions() == []


def test_repeated_exit_and_rerun_never_bill_twice(tmp_path: Path, cfg: StoreConfig) -> None:
    db = tmp_path / "store.db"
    script = shop(cfg)
    # every exit is reported on three frames
    script.people = [Person(p.track_id, p.born, p.leave, exit_frames=3) for p in script.people]
    first = run_script(cfg, db, script)
    assert len(first.receipts) == 3
    receipts = sorted(first.store.receipts(None), key=lambda r: r.session_id)
    # the same inputs again (a replayed bag) on the same database
    first.store.close()
    second = run_script(cfg, db, script)
    assert second.receipts == []
    assert sorted(second.store.receipts(None), key=lambda r: r.session_id) == receipts
    assert second.store.count("receipts") == 3
    # a fresh BillingLogic on the existing database has nothing to bill
    logic = BillingLogic(cfg, second.store)
    assert logic.tick(100.0) == [] and logic.open_sessions() == []
    # a repeated CLOSING snapshot of a billed session is refused
    late = Session("s-e2", "tok-friend", False, (3,), SessionState.CLOSING, 1.5, 15.0, 15.0)
    assert logic.on_session(late) is False
    assert logic.tick(101.0) == []
    assert second.store.count("receipts") == 3


def test_crash_recovery_gives_the_undisturbed_receipts(tmp_path: Path, cfg: StoreConfig) -> None:
    calm = run_script(cfg, tmp_path / "calm.db", shop(cfg))
    # the process dies (only the database survives) while everyone shops, while the unscanned
    # shopper waits for a late scan (12.0), after the friend left, between the parent's and
    # the child's exit, and right at the last exit
    crashy = run_script(cfg, tmp_path / "crashy.db", shop(cfg),
                        crash_at=(5.0, 12.0, 17.0, 22.5, 30.0))
    assert crashy.receipts == calm.receipts
    assert len(calm.receipts) == 3


def test_crash_between_scan_and_entry(tmp_path: Path, cfg: StoreConfig) -> None:
    script = Script([Person(1, born=3.0, leave=12.0)], [(0.0, 0.0, "e1", "tok", 0)],
                    [(8.0, make_cart(cfg, "s-e1", 1, {"GUM-MINT": 1}))], t_end=20.0)
    calm = run_script(cfg, tmp_path / "calm.db", script)
    crashy = run_script(cfg, tmp_path / "crashy.db", script, crash_at=(1.0,))
    assert crashy.receipts == calm.receipts
    ((_, receipt),) = crashy.receipts
    assert receipt.session_id == "s-e1" and receipt.total == 99 and not receipt.needs_review


def test_waits_for_pending_shelf_events(tmp_path: Path, cfg: StoreConfig) -> None:
    store = BillingStore(tmp_path / "store.db")
    logic = BillingLogic(cfg, store, settle_timeout=2.0)
    logic.on_entry(0.0, "e1", "tok", 0, "entry")
    logic.on_tracks(0.5, [(1, 1.1, 0.5, "confirmed")])
    logic.on_cart(make_cart(cfg, "s-e1", 1, {"COLA-330": 1}))
    logic.on_tracks(10.0, [(1, 4.9, 0.5, "exited")])
    assert [s.session_id for s in logic.due_sessions()] == ["s-e1"]
    assert logic.tick(10.5, lambda sid: True) == []  # a weight event is still settling
    logic.on_cart(make_cart(cfg, "s-e1", 2, {"COLA-330": 1, "GUM-MINT": 1}))  # it lands
    (receipt,) = logic.tick(11.0, lambda sid: False)
    assert receipt.total == 129 + 99 and not receipt.needs_review
    assert logic.tick(11.5) == []
    # a cart revision after the receipt cannot change it: it goes to review
    assert logic.on_cart(make_cart(cfg, "s-e1", 3, {"COLA-330": 2})) is False
    assert [r.review_id for r in store.reviews("s-e1")] == ["rv-late-s-e1-3"]
    assert store.receipt("s-e1") == receipt
    updates = logic.drain_session_updates()
    assert updates[-1].state == SessionState.CLOSED and updates[-1].session_id == "s-e1"


def test_bounded_wait_then_review(tmp_path: Path, cfg: StoreConfig) -> None:
    store = BillingStore(tmp_path / "store.db")
    logic = BillingLogic(cfg, store, settle_timeout=2.0)
    logic.on_entry(0.0, "e1", "tok", 0, "entry")
    logic.on_tracks(0.5, [(1, 1.1, 0.5, "confirmed")])
    logic.on_tracks(10.0, [(1, 4.9, 0.5, "exited")])
    assert logic.tick(11.9, lambda sid: True) == []
    (receipt,) = logic.tick(12.0, lambda sid: True)
    assert receipt.needs_review and receipt.review_ids == ("rv-unsettled-s-e1",)
    assert receipt.lines == () and receipt.exit_time == 10.0
    assert logic.tick(20.0, lambda sid: True) == []


def test_external_sessions_and_reviews(tmp_path: Path, cfg: StoreConfig) -> None:
    """Sessions may come from another binder (e.g. a separate node) and reviews from the
    arbiter; any object with the msg field names works."""
    store = BillingStore(tmp_path / "store.db")
    logic = BillingLogic(cfg, store)
    s = Session("s-x1", "tok", False, (9,), SessionState.OPEN, 1.0, None, 1.0)
    assert logic.on_session(s)
    logic.on_cart(make_cart(cfg, "s-x1", 1, [("PEANUT-200", 1, ["we-42"])]))
    assert logic.on_cart_update({"update_id": "cu-1", "session_id": "s-x1", "sku": "PEANUT-200",
                                 "quantity_delta": 1, "unit_price": 219,
                                 "event_ids": ["we-42"]})

    class ArbiterReview:  # shaped like msg/ReviewItem.msg
        review_id = "rv-amb-1"
        kind = 0
        session_id = ""
        shelf_id = "shelf_c"
        lane_id = "C2b"
        sku = "PEANUT-200"
        event_ids = ("we-42",)
        confidence = 0.51
        detail = "two reaches nearly tied"

    assert logic.on_review(ArbiterReview()) and not logic.on_review(ArbiterReview())
    assert logic.tick(5.0) == []  # still open
    logic.on_session(Session("s-x1", "tok", False, (9,), SessionState.CLOSING, 1.0, 6.0, 6.0))
    (receipt,) = logic.tick(6.5)
    assert receipt.needs_review and receipt.review_ids == ("rv-amb-1",)
    assert receipt.total == 219


def test_accepts_the_arbiters_dataclasses(tmp_path: Path, cfg: StoreConfig) -> None:
    """Billing reads the arbiter's Cart / CartUpdate / ReviewItem structurally."""
    import smart_store.arbiter.model as arb
    store = BillingStore(tmp_path / "store.db")
    logic = BillingLogic(cfg, store)
    logic.on_entry(0.0, "e1", "tok", 0, "entry")
    logic.on_tracks(0.5, [(1, 1.1, 0.5, "confirmed")])
    line = arb.CartLine(sku="COLA-330", name="Cola 330 ml can", quantity=2, unit_price=129,
                        line_total=258, event_ids=("we-1", "re-1"), confidence=0.8)
    cart = arb.Cart(session_id="s-e1", revision=1, lines=(line,), total=258, currency="EUR",
                    stamp=5.0)
    update = arb.CartUpdate(update_id="cu-1", session_id="s-e1", track_id=1, sku="COLA-330",
                            quantity_delta=2, unit_price=129, reason=arb.Reason.PICK,
                            confidence=0.8, event_ids=("we-1", "re-1"), stamp=5.0)
    review = arb.ReviewItem(review_id="rv-1", kind=arb.ReviewKind.STALE_SENSOR,
                            session_id="s-e1", shelf_id="shelf_a", lane_id="A2a",
                            sku="COLA-330", event_ids=("we-1",), confidence=0.7,
                            detail="stale", stamp=5.0)
    assert logic.on_cart(cart) and logic.on_cart_update(update) and logic.on_review(review)
    assert store.cart_updates("s-e1")[0]["reason"] == 0
    logic.on_tracks(9.0, [(1, 4.9, 0.5, "exited")])
    (receipt,) = logic.tick(9.0)
    assert receipt.total == 258 and receipt.lines[0].event_ids == ("we-1", "re-1")
    assert receipt.needs_review and receipt.review_ids == ("rv-1",)


def test_a_restarted_billing_waits_for_the_recovered_sessions_carts(tmp_path: Path,
                                                                   cfg: StoreConfig) -> None:
    db = tmp_path / "store.db"
    store = BillingStore(db)
    logic = BillingLogic(cfg, store, restart_grace=1.0)
    logic.on_entry(0.0, "e1", "tok", 0, "entry")
    logic.on_entry(0.2, "e2", "tok2", 0, "entry")
    for t in (0.5, 1.0, 1.5, 2.0):  # both are bound to their scans, then go shopping
        xy = (1.1, 0.5) if t < 1.5 else (1.5, 4.0)
        logic.on_tracks(t, [(1, *xy, "confirmed"), (2, *xy, "confirmed")])
    assert [s.session_id for s in logic.open_sessions()] == ["s-e1", "s-e2"]
    logic.on_cart(make_cart(cfg, "s-e1", 1, {"COLA-330": 1}))
    store.close()  # billing dies; meanwhile the arbiter adds gum and both shoppers leave
    store = BillingStore(db)
    logic = BillingLogic(cfg, store, restart_grace=1.0)
    logic.on_tracks(10.0, [(1, 4.9, 0.5, "exited"), (2, 4.9, 0.5, "exited")])
    assert logic.tick(10.0) == []                    # the carts' history is not in yet
    assert logic.awaiting_cart("s-e1") and logic.awaiting_cart("s-e2")
    # the history comes oldest first: revision 1 (stored before the crash), then revision 2
    logic.on_cart(make_cart(cfg, "s-e1", 1, {"COLA-330": 1}))
    assert logic.awaiting_cart("s-e1") and logic.tick(10.05) == []  # more may be coming
    logic.on_cart(make_cart(cfg, "s-e1", 2, {"COLA-330": 1, "GUM-MINT": 1}))
    logic.cart_history_in()                          # the node saw the history go quiet
    assert not logic.awaiting_cart("s-e1")
    (receipt,) = logic.tick(10.1)                    # heard: billed with the cart of now
    assert receipt.session_id == "s-e1" and not receipt.needs_review
    assert [(ln.sku, ln.quantity) for ln in receipt.lines] == [("COLA-330", 1), ("GUM-MINT", 1)]
    assert logic.tick(10.9) == []                    # s-e2 has no cart: waits out the grace
    (empty,) = logic.tick(11.0)
    assert empty.session_id == "s-e2" and empty.lines == () and not empty.needs_review
    # a new session (scanned after the restart) is never held
    logic.on_entry(12.0, "e3", "tok3", 0, "entry")
    for t in (12.5, 13.0, 13.5):
        logic.on_tracks(t, [(3, 1.1, 0.5, "confirmed")])
    logic.on_tracks(20.0, [(3, 4.9, 0.5, "exited")])
    (third,) = logic.tick(20.0)
    assert third.session_id == "s-e3"


def test_a_restarted_billing_that_never_hears_a_stored_cart_bills_it_for_review(
        tmp_path: Path, cfg: StoreConfig) -> None:
    # Billing had stored a cart, so the arbiter has one: the short grace (meant for sessions the
    # arbiter may have no cart for) does not release it; restart_timeout does, with a review.
    db = tmp_path / "store.db"
    shop_then_crash(cfg, db, cart={"COLA-330": 1})
    logic = BillingLogic(cfg, BillingStore(db), restart_grace=1.0, restart_timeout=5.0)
    logic.on_tracks(10.0, [(1, 4.9, 0.5, "exited")])
    assert logic.tick(10.0) == [] and logic.tick(11.5) == [] and logic.tick(14.9) == []
    (receipt,) = logic.tick(15.0)
    assert [(ln.sku, ln.quantity) for ln in receipt.lines] == [("COLA-330", 1)]
    assert receipt.needs_review and receipt.review_ids == ("rv-restart-s-e1",)


def test_a_restarted_billing_releases_a_heard_session_at_the_timeout_without_the_quiet_signal(
        tmp_path: Path, cfg: StoreConfig) -> None:
    db = tmp_path / "store.db"
    shop_then_crash(cfg, db)
    logic = BillingLogic(cfg, BillingStore(db), restart_grace=1.0, restart_timeout=3.0)
    logic.on_tracks(10.0, [(1, 4.9, 0.5, "exited")])
    assert logic.tick(10.0) == []
    logic.on_cart(make_cart(cfg, "s-e1", 1, {"GUM-MINT": 1}))
    assert logic.tick(11.5) == []                    # heard, but the history may go on
    (receipt,) = logic.tick(13.0)
    assert [(ln.sku, ln.quantity) for ln in receipt.lines] == [("GUM-MINT", 1)]
    assert not receipt.needs_review                  # its cart was heard


def test_restart_waits_run_on_the_wall_clock_when_one_is_given(
        tmp_path: Path, cfg: StoreConfig) -> None:
    # The node measures the waits for the middleware on a steady clock: sim time racing ahead
    # (a replay at 4x) must not release a held session, wall time passing does.
    db = tmp_path / "store.db"
    shop_then_crash(cfg, db, cart={"COLA-330": 1})
    wall = [100.0]
    logic = BillingLogic(cfg, BillingStore(db), restart_grace=1.0, restart_timeout=5.0,
                         wall_clock=lambda: wall[0])
    logic.on_tracks(10.0, [(1, 4.9, 0.5, "exited")])
    assert logic.tick(10.0) == [] and logic.tick(40.0) == []   # 30 s of sim time, no wall time
    assert logic.awaiting_cart("s-e1")
    wall[0] = 105.0
    (receipt,) = logic.tick(41.0)
    assert receipt.review_ids == ("rv-restart-s-e1",)


def _track_2_picks_at_6_s_then_both_leave(logic: BillingLogic, cfg: StoreConfig
                                           ) -> dict[str, Receipt]:
    """Track 2 (session s-e2) picks a PEANUT-200 at 6 s; both tracks exit at 9 s."""
    logic.on_cart(make_cart(cfg, "s-e2", 1, [("PEANUT-200", 1, ["we-7"])]))
    logic.on_cart_update({"update_id": "cu-7", "session_id": "s-e2", "track_id": 2,
                          "sku": "PEANUT-200", "quantity_delta": 1, "unit_price": 219,
                          "event_ids": ["we-7"], "stamp": 6.0})
    logic.on_tracks(9.0, [(1, 4.9, 0.5, "exited"), (2, 4.9, 0.5, "exited")])
    return {r.session_id: r for r in logic.tick(9.0)}


def test_a_pick_after_a_possible_identity_swap_sends_both_receipts_to_review(
        tmp_path: Path, cfg: StoreConfig) -> None:
    """The tracker said tracks 1 and 2 (two scanned friends) were confusable at 4 s; track 2
    then picked: both receipts go to review, the picker's and the other's."""
    store = BillingStore(tmp_path / "store.db")
    logic = BillingLogic(cfg, store)
    logic.on_entry(0.0, "e1", "tok-a", 0, "entry")
    logic.on_entry(0.5, "e2", "tok-b", 0, "entry")
    for k in range(17):
        t = 0.5 * k
        near = 4.0 <= t <= 4.5
        logic.on_tracks(t, [(1, 1.1, 0.5 + min(3.0, t), "confirmed", (2,) if near else ()),
                            (2, 1.4, 0.5 + min(3.0, t), "confirmed", (1,) if near else ())])
        logic.tick(t)
    receipts = _track_2_picks_at_6_s_then_both_leave(logic, cfg)
    assert set(receipts) == {"s-e1", "s-e2"}
    assert receipts["s-e1"].needs_review and receipts["s-e2"].needs_review
    assert receipts["s-e1"].review_ids == ("rv-swap-s-e1-s-e2",)
    assert receipts["s-e2"].review_ids == ("rv-swap-s-e2-s-e1",)
    assert receipts["s-e2"].total == 219 and receipts["s-e1"].total == 0


def test_a_hand_nobody_tracked_sends_every_session_then_in_the_store_to_review(
        tmp_path: Path, cfg: StoreConfig) -> None:
    """The arbiter's UNTRACKED_HAND item (a beam break with no tracked person near it changed a
    lane, no cart changed) concerns whoever was in the store: the two shoppers inside at 6 s
    get review items, the one who entered after it does not."""
    store = BillingStore(tmp_path / "store.db")
    logic = BillingLogic(cfg, store)
    logic.on_entry(0.0, "e1", "tok-a", 0, "entry")
    logic.on_entry(2.0, "e2", "tok-b", 0, "entry")
    logic.on_entry(7.0, "e3", "tok-c", 0, "entry")
    for k in range(21):
        t = 0.5 * k
        obs = [(1, 1.1, 0.5 + min(3.0, t), "confirmed")]
        if t >= 2.0:
            obs.append((2, 1.1, 0.5 + min(3.0, t - 2.0), "confirmed"))
        if t >= 7.0:
            obs.append((3, 1.1, 0.5 + min(3.0, t - 7.0), "confirmed"))
        logic.on_tracks(t, obs)
        logic.tick(t)
        if t == 8.0:
            assert logic.on_review(ReviewItem(
                review_id="we-9:untracked_hand", kind=int(ReviewKind.UNTRACKED_HAND),
                sku="COLA-330", event_ids=("we-9", "rb-b-9"), stamp=6.0,
                detail="-347.0 g on lane A2a with a hand in it that no tracked person was "
                       "near (rb-b-9)"))
    logic.on_tracks(11.0, [(1, 4.9, 0.5, "exited"), (2, 4.9, 0.5, "exited"),
                           (3, 4.9, 0.5, "exited")])
    receipts = {r.session_id: r for r in logic.tick(11.0)}
    assert set(receipts) == {"s-e1", "s-e2", "s-e3"}
    assert receipts["s-e1"].review_ids == ("rv-untracked-s-e1-we-9:untracked_hand",)
    assert receipts["s-e2"].review_ids == ("rv-untracked-s-e2-we-9:untracked_hand",)
    assert not receipts["s-e3"].needs_review
    # persisted: the items are in the review table for staff, the original one too
    assert store.count("review_items") == 3


def test_a_possible_identity_swap_before_a_billing_restart_still_counts_after_it(
        tmp_path: Path, cfg: StoreConfig) -> None:
    """Tracks 1 and 2 were confusable at 4 s; billing restarts at 5.5 s; track 2 picks at 6 s:
    the restored contact sends both receipts to review (the contact is in the database)."""
    db = tmp_path / "store.db"
    store = BillingStore(db)
    logic = BillingLogic(cfg, store)
    logic.on_entry(0.0, "e1", "tok-a", 0, "entry")
    logic.on_entry(0.5, "e2", "tok-b", 0, "entry")

    def frame(t: float) -> list[tuple[int, float, float, str, tuple[int, ...]]]:
        near = 4.0 <= t <= 4.5
        return [(1, 1.1, 0.5 + min(3.0, t), "confirmed", (2,) if near else ()),
                (2, 1.4, 0.5 + min(3.0, t), "confirmed", (1,) if near else ())]

    for k in range(12):  # up to 5.5 s
        logic.on_tracks(0.5 * k, frame(0.5 * k))
        logic.tick(0.5 * k)
    assert store.swap_contacts(["s-e1"]) == [("s-e1", "s-e2", 4.0, 1, 2, False)]
    store.close()
    store = BillingStore(db)  # the respawned billing node
    logic = BillingLogic(cfg, store)
    for k in range(12, 17):
        logic.on_tracks(0.5 * k, frame(0.5 * k))
        logic.tick(0.5 * k)
    receipts = _track_2_picks_at_6_s_then_both_leave(logic, cfg)
    assert receipts["s-e1"].review_ids == ("rv-swap-s-e1-s-e2",)
    assert receipts["s-e2"].review_ids == ("rv-swap-s-e2-s-e1",)
    assert store.swap_contacts(["s-e1"]) == [("s-e1", "s-e2", 4.0, 1, 2, True)]


def test_a_shopper_billed_while_a_possibly_swapped_one_is_still_inside_goes_to_review(
        tmp_path: Path, cfg: StoreConfig) -> None:
    """Tracks 1 and 2 were confusable at 4 s and nobody picked since. Track 1 walks out at
    9 s while track 2 is still inside: if the ids were swapped, the one still inside is the
    shopper of s-e1, whose later picks would land on s-e2 after s-e1 is final, so s-e1 goes to
    review. s-e2 leaves at 12 s without a cart change since the contact: no review."""
    store = BillingStore(tmp_path / "store.db")
    logic = BillingLogic(cfg, store)
    logic.on_entry(0.0, "e1", "tok-a", 0, "entry")
    logic.on_entry(0.5, "e2", "tok-b", 0, "entry")
    receipts = {}
    for k in range(25):
        t = 0.5 * k
        near = 4.0 <= t <= 4.5
        obs = [(2, 1.4, 0.5 + min(3.0, t), "confirmed", (1,) if near else ())]
        if t < 9.0:
            obs.append((1, 1.1, 0.5 + min(3.0, t), "confirmed", (2,) if near else ()))
        elif t == 9.0:
            obs.append((1, 4.9, 0.5, "exited"))
        if t == 12.0:
            obs = [(2, 4.9, 0.5, "exited")]
        logic.on_tracks(t, obs)
        receipts.update({r.session_id: (t, r) for r in logic.tick(t)})
    assert set(receipts) == {"s-e1", "s-e2"}
    t1, first = receipts["s-e1"]
    assert t1 == 9.0 and first.review_ids == ("rv-swap-s-e1-s-e2",)
    t2, second = receipts["s-e2"]
    assert t2 == 12.0 and not second.needs_review


def test_picks_by_a_track_no_session_can_claim_go_to_review_for_everyone_inside(
        tmp_path: Path, cfg: StoreConfig) -> None:
    # Track 7 is first seen in the aisle (a re-acquired id: the binder never binds it). The
    # arbiter books its pick on the provisional cart track-7, which no receipt includes: every
    # session in the store then goes to review instead of the item vanishing silently.
    logic = BillingLogic(cfg, BillingStore(tmp_path / "store.db"))
    logic.on_entry(0.0, "e1", "tok", 0, "entry")
    logic.on_entry(0.1, "e2", "tok2", 0, "entry")
    for t in (0.5, 1.0, 1.5, 2.0):
        xy = (1.1, 0.5) if t < 1.5 else (1.5, 4.0)
        logic.on_tracks(t, [(1, *xy, "confirmed"), (2, *xy, "confirmed")])
    logic.on_tracks(3.0, [(1, 1.5, 4.0, "confirmed"), (2, 1.5, 4.0, "confirmed"),
                          (7, 2.5, 4.0, "confirmed")])
    orphan = snapshot_cart(make_cart(cfg, "track-7", 1, {"GUM-MINT": 1}))
    logic.on_cart(dataclasses.replace(orphan, stamp=3.5))
    assert logic.tick(3.6) == []
    logic.on_tracks(9.0, [(1, 4.9, 0.5, "exited"), (2, 1.5, 4.0, "confirmed")])
    (first,) = logic.tick(9.0)
    assert first.needs_review and first.lines == ()
    assert first.review_ids == ("rv-untracked-s-e1-rv-unclaimed-track-7-1",)
    logic.on_tracks(10.0, [(2, 4.9, 0.5, "exited")])
    (second,) = logic.tick(10.0)
    assert second.review_ids == ("rv-untracked-s-e2-rv-unclaimed-track-7-1",)
    (item,) = [r for r in logic.store.open_reviews() if r.review_id == "rv-unclaimed-track-7-1"]
    assert "GUM-MINT" in item.detail and item.event_ids == ("we-GUM-MINT-1",)


def test_a_provisional_cart_whose_track_is_then_bound_raises_nothing(
        tmp_path: Path, cfg: StoreConfig) -> None:
    # A newborn in the entry zone reaches before its scan binds it: the provisional cart is
    # the arbiter's bookkeeping until the binding moves its lines (then an empty cart).
    logic = BillingLogic(cfg, BillingStore(tmp_path / "store.db"))
    logic.on_tracks(0.5, [(1, 1.1, 0.5, "confirmed")])
    logic.on_cart(make_cart(cfg, "track-1", 1, {"GUM-MINT": 1}))
    assert logic.tick(0.6) == []
    logic.on_entry(1.0, "e1", "tok", 0, "entry")
    for t in (1.5, 2.0):
        logic.on_tracks(t, [(1, 1.5, 4.0, "confirmed")])
    assert logic.session("s-e1") is not None
    logic.on_cart(make_cart(cfg, "track-1", 2, {}))
    logic.on_cart(make_cart(cfg, "s-e1", 1, {"GUM-MINT": 1}))
    logic.on_tracks(9.0, [(1, 4.9, 0.5, "exited")])
    (receipt,) = logic.tick(9.0)
    assert not receipt.needs_review and [ln.sku for ln in receipt.lines] == ["GUM-MINT"]
