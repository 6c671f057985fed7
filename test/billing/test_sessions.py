"""SessionBinder: entry scans + tracks -> sessions (single, family, friends, anonymous, ...)."""

from __future__ import annotations

import numpy as np
import pytest
from billing_helpers import DT, EXIT_XY, Person, frame

from smart_store.billing.model import ReviewKind, Session, SessionState
from smart_store.billing.sessions import BinderChanges, SessionBinder
from smart_store.config import StoreConfig


def play(binder: SessionBinder, people: list[Person], t_end: float,
         scans: list[tuple[float, float, str, str, int]] = (), t0: float = 0.0
         ) -> list[BinderChanges]:
    """Feed scans ``(arrive, stamp, event_id, token, companions)`` and frames t0..t_end."""
    out = []
    for k in range(round(t0 / DT), round(t_end / DT) + 1):
        t = k * DT
        for arrive, stamp, event_id, token, companions in scans:
            if t - DT < arrive <= t + 1e-9:
                out.append(binder.on_entry(stamp, event_id, token, companions, "entry"))
        out.append(binder.on_tracks(t, frame(people, t)))
    return out


def reviews(changes: list[BinderChanges]) -> list:
    return [r for c in changes for r in c.reviews]


def by_id(binder: SessionBinder) -> dict[str, Session]:
    return {s.session_id: s for s in binder.sessions()}


def test_single_shopper(cfg: StoreConfig) -> None:
    b = SessionBinder(cfg)
    changes = play(b, [Person(1, born=0.5)], 5.0, [(0.0, 0.0, "e1", "tok-a", 0)])
    s = by_id(b)["s-e1"]
    assert s.track_ids == (1,)
    assert s.account_token == "tok-a" and not s.anonymous
    assert s.state == SessionState.OPEN and s.exit_time is None
    assert s.entry_time == 0.0 and s.entry_event_id == "e1" and s.gate_id == "entry"
    assert b.session_of_track(1) == "s-e1"
    assert not reviews(changes)
    assert b.due_sessions() == []
    # leaves through the exit zone
    b.on_tracks(20.0, [(1, *EXIT_XY, "exited")])
    due = b.due_sessions()
    assert [d.session_id for d in due] == ["s-e1"]
    assert due[0].state == SessionState.CLOSING and due[0].exit_time == 20.0
    closed = b.mark_closed("s-e1")
    assert closed is not None and closed.state == SessionState.CLOSED
    assert b.sessions() == []


def test_family_one_scan_binds_all_members(cfg: StoreConfig) -> None:
    b = SessionBinder(cfg)
    people = [Person(1, born=0.5, leave=20.0), Person(2, born=1.5, leave=30.0)]
    play(b, people, 25.0, [(0.0, 0.0, "e1", "tok-parent", 1)])
    assert list(by_id(b)) == ["s-e1"]
    assert by_id(b)["s-e1"].track_ids == (1, 2)
    assert b.due_sessions() == []  # the child is still inside
    assert by_id(b)["s-e1"].exited_track_ids == (1,)
    play(b, people, 31.0, t0=25.5)
    (due,) = b.due_sessions()
    assert due.session_id == "s-e1" and due.exit_time == 30.0


def test_friends_scanning_separately_are_separate_sessions(cfg: StoreConfig) -> None:
    b = SessionBinder(cfg)
    people = [Person(1, born=0.5, leave=20.0), Person(2, born=1.0, leave=40.0)]
    play(b, people, 25.0, [(0.0, 0.0, "e1", "tok-a", 0), (0.5, 0.5, "e2", "tok-b", 0)])
    sessions = by_id(b)
    assert sessions["s-e1"].track_ids == (1,) and sessions["s-e1"].account_token == "tok-a"
    assert sessions["s-e2"].track_ids == (2,) and sessions["s-e2"].account_token == "tok-b"
    assert [d.session_id for d in b.due_sessions()] == ["s-e1"]
    b.mark_closed("s-e1")
    play(b, people, 41.0, t0=25.5)
    assert [(d.session_id, d.exit_time) for d in b.due_sessions()] == [("s-e2", 40.0)]


def test_unscanned_shopper_becomes_anonymous_with_review(cfg: StoreConfig) -> None:
    b = SessionBinder(cfg, scan_grace=3.0)
    changes = play(b, [Person(7, born=30.0)], 32.0)
    assert b.sessions() == []  # still waiting for a late scan
    changes += play(b, [Person(7, born=30.0)], 34.0, t0=32.5)
    s = by_id(b)["s-anon-7"]
    assert s.anonymous and s.account_token == "" and s.track_ids == (7,)
    assert s.entry_time == 30.0
    (review,) = reviews(changes)
    assert review.kind == ReviewKind.ANONYMOUS_SESSION and review.session_id == "s-anon-7"
    assert review.review_id == "rv-anon-7"
    assert b.stats.anonymous_sessions == 1


def test_two_groups_back_to_back_fifo(cfg: StoreConfig) -> None:
    b = SessionBinder(cfg)
    # group A: a family of two scanned at 0.0; group B: one shopper scanned at 2.0 whose track
    # is seen (1.5) before the scan arrives
    people = [Person(1, born=0.5), Person(2, born=1.0), Person(3, born=1.5), Person(4, born=2.5)]
    scans = [(0.0, 0.0, "eA", "tok-a", 1), (2.0, 2.0, "eB", "tok-b", 1)]
    play(b, people, 8.0, scans)
    sessions = by_id(b)
    assert sessions["s-eA"].track_ids == (1, 2)
    assert sessions["s-eB"].track_ids == (3, 4)
    assert sessions["s-eB"].entry_time == 1.5  # seen before the scan
    assert b.stats.anonymous_sessions == 0


def test_scan_arriving_after_the_birth(cfg: StoreConfig) -> None:
    b = SessionBinder(cfg)
    # the track is born at 1.0 and confirmed at 1.5; the scan (stamp 1.8) arrives at 2.5
    changes = play(b, [Person(5, born=1.0)], 6.0, [(2.5, 1.8, "e9", "tok-late", 0)])
    s = by_id(b)["s-e9"]
    assert s.track_ids == (5,) and s.entry_time == 1.0
    assert not reviews(changes) and b.stats.anonymous_sessions == 0
    # a scan stamped long after the birth (more than pre_window) does not claim it
    b2 = SessionBinder(cfg)
    changes = play(b2, [Person(5, born=1.0)], 6.0, [(2.5, 2.8, "e9", "tok-late", 0)])
    assert "s-anon-5" in by_id(b2)
    assert {r.review_id for r in reviews(changes)} == {"rv-anon-5"}


def test_track_born_outside_the_entry_zone_is_ignored(cfg: StoreConfig) -> None:
    b = SessionBinder(cfg)
    play(b, [Person(1, born=0.5), Person(99, born=3.0, start=(1.5, 4.0))], 10.0,
         [(0.0, 0.0, "e1", "tok", 1)])  # a family of two, but the second "track" is a swap
    assert by_id(b)["s-e1"].track_ids == (1,)
    assert b.stats.ignored_tracks == 1
    assert b.session_of_track(99) is None


def test_tentative_track_does_not_take_a_slot(cfg: StoreConfig) -> None:
    b = SessionBinder(cfg)
    ghost = [(8, 1.0, 0.4, "tentative")]
    b.on_entry(0.0, "e1", "tok", 0, "entry")
    b.on_tracks(0.2, ghost)  # a false detection, never confirmed
    play(b, [Person(1, born=0.5)], 3.0)
    assert by_id(b)["s-e1"].track_ids == (1,)


def test_lost_track_closes_the_session_with_review(cfg: StoreConfig) -> None:
    # The frame sets stop (the tracker is down): the track is lost after lost_timeout.
    b = SessionBinder(cfg, lost_timeout=10.0)
    people = [Person(1, born=0.5)]
    changes = play(b, people, 11.5, [(0.0, 0.0, "e1", "tok", 0)])  # last seen 11.5
    changes.append(b.advance(21.4))
    assert b.due_sessions() == []
    changes.append(b.advance(21.6))
    (due,) = b.due_sessions()
    assert due.session_id == "s-e1" and due.lost_track_ids == (1,)
    assert due.exit_time == 11.5  # last sighting
    assert "rv-lost-s-e1" in {r.review_id for r in reviews(changes)}
    assert b.stats.vanished_tracks == 0


def test_a_track_the_tracker_stops_listing_is_lost_without_the_timeout(cfg: StoreConfig
                                                                      ) -> None:
    # The tracker lists coasting tracks until it gives them up and never reuses an id: a
    # track left out of the frame sets that keep coming is gone (vanish_after, 2 s).
    b = SessionBinder(cfg, lost_timeout=30.0)
    people = [Person(1, born=0.5, vanish=12.0), Person(2, born=0.5)]
    changes = play(b, people, 13.5, [(0.0, 0.0, "e1", "tok", 0), (0.0, 0.0, "e2", "tok2", 0)])
    assert b.due_sessions() == []          # 1.5 s left out: maybe a glitch
    changes += play(b, people, 14.5, t0=14.0)
    (due,) = b.due_sessions()
    assert due.lost_track_ids == (1,) and due.exit_time == 11.5
    assert b.stats.vanished_tracks == 1
    assert [r.review_id for r in reviews(changes)] == [f"rv-lost-{due.session_id}"]


def test_a_duplicate_birth_joins_the_session_of_its_twin(cfg: StoreConfig) -> None:
    # A weak detector starts two tracks on one shopper at the gate; the scan binds one (here
    # the ghost, which then stays behind and is given up). The other must not become an
    # anonymous session holding everything this shopper takes.
    b = SessionBinder(cfg)
    b.on_entry(0.0, "e1", "tok", 0, "entry")
    changes = []
    for k in range(120):
        t = 0.5 + 0.2 * k
        tracks = [(2, 1.1, 0.4 + min(3.0, 0.1 * k), "confirmed" if k else "tentative")]
        if t <= 3.0:
            tracks.append((1, 1.5, 0.9, "confirmed"))
        changes.append(b.on_tracks(t, tracks))
    sessions = by_id(b)
    assert list(sessions) == ["s-e1"] and set(sessions["s-e1"].track_ids) == {1, 2}
    assert b.stats.anonymous_sessions == 0 and b.stats.joined_twins == 1
    assert [r.review_id for r in reviews(changes)] == ["rv-twin-2"]
    assert b.due_sessions() == []          # the shopper is still inside
    changes.append(b.on_tracks(25.0, [(2, *EXIT_XY, "exited")]))
    (due,) = b.due_sessions()
    assert due.exit_time == 25.0 and due.lost_track_ids == (1,) and due.exited_track_ids == (2,)
    # the ghost vanishing beside a shopper who walked out is no lost shopper
    assert "rv-lost-s-e1" not in {r.review_id for r in reviews(changes)}


def test_a_tailgater_is_not_taken_for_a_duplicate(cfg: StoreConfig) -> None:
    # Someone slipping in 1.5 s behind a scanned shopper, at the same spot of the gate
    b = SessionBinder(cfg)
    b.on_entry(0.0, "e1", "tok", 0, "entry")
    for k in range(40):
        t = 0.5 + 0.2 * k
        tracks = [(1, 1.1, 0.4 + 0.18 * k, "confirmed")]
        if t >= 2.0:
            tracks.append((2, 1.1, 0.4 + 0.18 * (k - 8), "confirmed"))
        b.on_tracks(t, tracks)
    sessions = by_id(b)
    assert sessions["s-e1"].track_ids == (1,) and sessions["s-anon-2"].anonymous
    assert b.stats.joined_twins == 0


def test_lost_track_seen_again_reopens(cfg: StoreConfig) -> None:
    b = SessionBinder(cfg, lost_timeout=5.0)
    b.on_entry(0.0, "e1", "tok", 0, "entry")
    b.on_tracks(0.5, [(1, 1.1, 0.5, "confirmed")])
    b.advance(10.0)
    assert [d.session_id for d in b.due_sessions()] == ["s-e1"]
    b.on_tracks(10.5, [(1, 2.0, 3.0, "coasting")])
    assert b.due_sessions() == []
    assert by_id(b)["s-e1"].state == SessionState.OPEN


def test_no_show_and_short_family_go_to_review(cfg: StoreConfig) -> None:
    b = SessionBinder(cfg, window=10.0)
    b.on_entry(0.0, "e1", "tok-a", 0, "entry")
    b.on_entry(1.0, "e2", "tok-b", 2, "entry")
    b.on_tracks(1.5, [(1, 1.1, 0.5, "confirmed")])  # FIFO: the first scan's person
    b.on_tracks(2.0, [(1, 1.5, 2.0, "confirmed"), (2, 1.1, 0.5, "confirmed")])
    changes = b.advance(12.0)
    ids = {r.review_id for r in changes.reviews}
    assert ids == {"rv-short-e2"}
    assert set(changes.finished_scans) == {"e2"}
    assert by_id(b)["s-e2"].track_ids == (2,)
    b3 = SessionBinder(cfg, window=10.0)
    b3.on_entry(0.0, "e3", "tok", 0, "entry")
    changes = b3.advance(11.0)
    assert [r.review_id for r in changes.reviews] == ["rv-noshow-e3"]
    assert b3.stats.no_show_scans == 1 and b3.sessions() == []


def test_family_waits_for_its_scan_window_before_closing(cfg: StoreConfig) -> None:
    b = SessionBinder(cfg, window=10.0)
    b.on_entry(0.0, "e1", "tok", 1, "entry")  # announced two people
    b.on_tracks(0.5, [(1, 1.1, 0.5, "confirmed")])
    b.on_tracks(4.0, [(1, *EXIT_XY, "exited")])  # a very short visit
    assert b.due_sessions() == []  # the companion may still come in
    b.advance(10.5)
    assert [d.session_id for d in b.due_sessions()] == ["s-e1"]


def test_duplicate_scan_and_restore(cfg: StoreConfig) -> None:
    b = SessionBinder(cfg)
    b.on_entry(0.0, "e1", "tok", 1, "entry")
    assert not b.on_entry(0.0, "e1", "tok", 1, "entry")
    assert b.stats.duplicate_scans == 1
    b.on_tracks(0.5, [(1, 1.1, 0.5, "confirmed")])
    b.on_tracks(5.0, [(1, *EXIT_XY, "exited")])
    # restart: a new binder from the session snapshot and the unfinished scan
    b2 = SessionBinder(cfg)
    b2.restore(b.sessions(), b.pending_scans())
    b2.on_tracks(6.0, [(2, 1.1, 0.5, "confirmed")])  # the companion
    assert by_id(b2)["s-e1"].track_ids == (1, 2)
    assert by_id(b2)["s-e1"].exited_track_ids == (1,)
    b2.on_tracks(30.0, [(2, *EXIT_XY, "exited")])
    (due,) = b2.due_sessions()
    assert due.exit_time == 30.0


def test_replayed_old_frames_after_a_restore_do_not_make_a_track_lost(cfg: StoreConfig) -> None:
    """A respawned billing node is first sent the track frames kept for late joiners, seconds
    old. Their stamps must not count as the track's last sighting: the shopper is still in the
    store, and closing the session then would bill an unfinished cart."""
    b = SessionBinder(cfg, lost_timeout=15.0)
    b.on_entry(0.0, "e1", "tok", 0, "entry")
    for t in np.arange(0.5, 17.0, 0.5):
        b.on_tracks(float(t), [(1, 1.1, 0.5, "confirmed")])
    b.advance(17.0)
    b2 = SessionBinder(cfg, lost_timeout=15.0)  # restart at 17.5 s
    b2.restore(b.sessions(), b.pending_scans())
    b2.on_tracks(1.0, [(1, 1.1, 0.5, "confirmed")])  # the oldest replayed frame comes first
    b2.advance(17.5)
    b2.on_tracks(1.5, [(1, 1.1, 0.5, "confirmed")])
    b2.advance(18.0)
    assert b2.due_sessions() == [] and b2.stats.lost_tracks == 0
    # ...but a track that really vanished during the outage is lost lost_timeout after it
    b2.advance(32.4)
    assert b2.due_sessions() == []
    b2.advance(32.6)
    (due,) = b2.due_sessions()
    assert due.session_id == "s-e1" and due.lost_track_ids == (1,)


def test_a_track_that_left_during_a_billing_restart_is_lost_once_new_frames_omit_it(
        cfg: StoreConfig) -> None:
    # The shopper walked out while billing was down: its 'exited' frame set is gone, and the
    # frame sets after the restart no longer list the track. The visit is billed (with a
    # review) ~2 s later, not lost_timeout later (a short run ended before that, once).
    b = SessionBinder(cfg, lost_timeout=15.0)
    b.on_entry(0.0, "e1", "tok", 0, "entry")
    for t in np.arange(0.5, 17.0, 0.5):
        b.on_tracks(float(t), [(1, 1.1, 0.5, "confirmed"), (2, 3.0, 3.0, "confirmed")])
    b2 = SessionBinder(cfg, lost_timeout=15.0)  # restart at 20 s
    b2.restore(b.sessions(), b.pending_scans())
    b2.on_tracks(16.5, [(1, 1.1, 0.5, "confirmed"), (2, 3.0, 3.0, "confirmed")])  # history
    b2.advance(20.0)
    for t in np.arange(20.2, 22.0, 0.2):
        b2.on_tracks(float(t), [(2, 3.0, 3.0, "confirmed")])
    assert b2.due_sessions() == []
    for t in np.arange(22.0, 22.6, 0.2):
        b2.on_tracks(float(t), [(2, 3.0, 3.0, "confirmed")])
    due = [d for d in b2.due_sessions() if 1 in d.track_ids]
    assert len(due) == 1 and due[0].lost_track_ids == (1,)


def test_numeric_track_states_and_bad_input(cfg: StoreConfig) -> None:
    b = SessionBinder(cfg)
    b.on_entry(0.0, "e1", "tok", 0, "entry")
    b.on_tracks(0.5, [(1, 1.1, 0.5, 1)])
    b.advance(1.5)  # binding is decided bind_delay after the scan
    assert b.session_of_track(1) == "s-e1"
    with pytest.raises(ValueError, match="track state"):
        b.on_tracks(1.0, [(1, 1.1, 0.5, "dancing")])


def test_unscanned_walker_just_before_a_scan_does_not_shift_bindings(cfg: StoreConfig) -> None:
    """Crowded entry: an unscanned shopper enters 0.8 s before a scanning one, who is followed
    by two more scanners 0.8 s apart. First come first served would hand the first scan the
    unscanned track and shift every later binding by one; time proximity does not."""
    b = SessionBinder(cfg)
    births = {2: 5.4, 3: 6.2, 4: 7.0, 5: 7.8}
    scans = {"e3": 6.2, "e4": 7.0, "e5": 7.8}
    events = [(t, "scan", e) for e, t in scans.items()] + \
        [(t + 0.1, "track", tid) for tid, t in births.items()]
    seen: list[int] = []
    for t, kind, what in sorted(events, key=lambda e: e[0]):
        if kind == "scan":
            b.on_entry(t, what, f"tok-{what}", 0, "entry")
        else:
            seen.append(what)
            b.on_tracks(t, [(tid, 1.1, 0.5, 1) for tid in seen])
    for t in np.arange(8.0, 12.0, 0.2):
        b.on_tracks(float(t), [(tid, 1.1, 0.5, 1) for tid in seen])
    assert b.session_of_track(3) == "s-e3"
    assert b.session_of_track(4) == "s-e4"
    assert b.session_of_track(5) == "s-e5"
    assert b.session_of_track(2) == "s-anon-2"


def _inward(t: float, born: float) -> float:
    """y of a shopper first seen in the entry zone (y 0.4) at ``born``, walking in at 1 m/s."""
    return 0.4 + min(3.0, max(0.0, t - born))


def _walk(b: SessionBinder, t0: float, t1: float, tracks, confused=lambda t: {}):
    """Frame sets every DT: ``tracks(t)`` -> [(id, x, y, state)], ``confused(t)`` -> {id: ids}."""
    out = []
    for k in range(round(t0 / DT), round(t1 / DT) + 1):
        t = k * DT
        c = confused(t)
        out.append(b.on_tracks(t, [(*obs, c.get(obs[0], ())) for obs in tracks(t)]))
    return out


def test_tracks_of_two_sessions_the_tracker_could_have_swapped_send_both_to_review(
        cfg: StoreConfig) -> None:
    # Two friends with their own scans meet in the aisle; for two frame sets the tracker
    # cannot tell their measurements apart. Both receipts go to review, once, each naming the
    # other session: a swap would have moved items between them.
    b = SessionBinder(cfg)
    changes = [b.on_entry(0.0, "e1", "tok-a", 0, "entry"), b.on_entry(1.0, "e2", "tok-b", 0,
                                                                        "entry")]

    def tracks(t):
        out = [(1, 1.1, _inward(t, 0.5), "confirmed")]
        if t >= 1.5:
            out.append((2, 1.5, _inward(t, 1.5), "confirmed"))
        return out

    changes += [b.on_cart_change(4.0, 1)]  # a pick before they met: no swap can move it
    changes += _walk(b, 0.5, 12.0, tracks,
                     lambda t: {1: (2,), 2: (1,)} if 6.0 <= t <= 6.5 else {})
    assert b.session_of_track(1) == "s-e1" and b.session_of_track(2) == "s-e2"
    assert not [r for r in reviews(changes) if r.kind == ReviewKind.IDENTITY_SWAP]
    # one of them takes something after: what was taken may be the other's
    changes += [b.on_cart_change(9.0, 2), b.on_cart_change(10.0, 1)]
    swaps = [r for r in reviews(changes) if r.kind == ReviewKind.IDENTITY_SWAP]
    assert sorted((r.review_id, r.session_id) for r in swaps) == [
        ("rv-swap-s-e1-s-e2", "s-e1"), ("rv-swap-s-e2-s-e1", "s-e2")]
    assert all(r.stamp == 6.0 for r in swaps)
    assert "track 1 of s-e1 and track 2 of s-e2" in swaps[0].detail
    assert b.stats.confusions == 1


def test_confusable_tracks_of_one_session_or_with_a_vanished_ghost_are_no_review(
        cfg: StoreConfig) -> None:
    # A family (one scan, two people) standing together: a swap moves nothing between
    # receipts. A ghost track beside the parent that no scan claims and that is given up
    # unconfirmed is nobody's session.
    b = SessionBinder(cfg)
    changes = [b.on_entry(0.0, "e1", "tok", 1, "entry")]

    def tracks(t):
        out = [(1, 1.1, _inward(t, 0.5), "confirmed"), (2, 1.4, _inward(t, 0.5), "confirmed")]
        if 4.0 <= t <= 4.5:
            out.append((9, 1.2, 3.5, "tentative"))
        return out

    changes += _walk(b, 0.5, 12.0, tracks,
                     lambda t: {1: (2, 9), 2: (1,), 9: (1,)} if 4.0 <= t <= 4.5 else {})
    changes += [b.on_cart_change(8.0, 1), b.on_cart_change(8.5, 2)]
    assert by_id(b)["s-e1"].track_ids == (1, 2)
    assert not [r for r in reviews(changes) if r.kind == ReviewKind.IDENTITY_SWAP]
    assert b.stats.confusions == 0


def test_a_confusion_at_the_gate_is_decided_once_both_tracks_are_bound(cfg: StoreConfig
                                                                       ) -> None:
    # Two shoppers walk in one behind the other and the tracker mixes them up at the gate,
    # before either scan has been bound (binding waits bind_delay after each scan).
    b = SessionBinder(cfg)
    changes = [b.on_entry(0.0, "e1", "tok-a", 0, "entry"),
               b.on_entry(0.5, "e2", "tok-b", 0, "entry")]
    changes += _walk(b, 0.0, 8.0,
                     lambda t: [(1, 1.1, _inward(t, 0.0) + 0.1, "confirmed"),
                                (2, 1.2, _inward(t, 0.0), "confirmed")],
                     lambda t: {1: (2,), 2: (1,)} if t == 0.0 else {})
    assert not [r for r in reviews(changes) if r.kind == ReviewKind.IDENTITY_SWAP]
    changes.append(b.on_cart_change(6.0, 2))
    swaps = {r.session_id for r in reviews(changes) if r.kind == ReviewKind.IDENTITY_SWAP}
    assert swaps == {"s-e1", "s-e2"}


def test_shoppers_who_brush_past_each_other_after_their_last_pick_raise_no_review(
        cfg: StoreConfig) -> None:
    # A swap only moves what is taken after it: two shoppers who were confusable on their way
    # to the exit, both carts complete, get their receipts without review.
    b = SessionBinder(cfg)
    changes = [b.on_entry(0.0, "e1", "tok-a", 0, "entry"),
               b.on_entry(0.5, "e2", "tok-b", 0, "entry")]
    changes += [b.on_cart_change(3.0, 1), b.on_cart_change(3.5, 2)]
    changes += _walk(b, 0.0, 8.0,
                     lambda t: [(1, 1.1, _inward(t, 0.0) + 0.1, "confirmed"),
                                (2, 1.2, _inward(t, 0.0), "confirmed")],
                     lambda t: {1: (2,), 2: (1,)} if t == 7.0 else {})
    changes.append(b.on_tracks(9.0, [(1, *EXIT_XY, "exited"), (2, *EXIT_XY, "exited")]))
    assert {d.session_id for d in b.due_sessions()} == {"s-e1", "s-e2"}
    assert not [r for r in reviews(changes) if r.kind == ReviewKind.IDENTITY_SWAP]
    assert b.stats.confusions == 0
