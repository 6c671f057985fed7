"""The billing stage without ROS: sessions + carts + reviews -> exactly one receipt per session.

Flow: entry scans and tracks go through a :class:`SessionBinder` (or finished sessions arrive
from elsewhere through :meth:`BillingLogic.on_session`); the arbiter's carts, cart updates and
review items are recorded as they come. :meth:`BillingLogic.tick` bills every session that is
due (all its tracks left through the exit) once its shelf events have settled: immediately when
``pending(session_id)`` says nothing is in flight for it any more, otherwise at the latest
``settle_timeout`` seconds after its exit, then flagged ``needs_review``. A receipt is issued
exactly once per session (the store enforces it), so repeated exits, replays and restarts never
bill twice. Every input is persisted first, and a new ``BillingLogic`` on the same database
picks up the open sessions, carts, reviews and scans where the previous one stopped.

Group rules (see ``smart_store.billing.sessions``): a family scanning once shares one session and
one receipt, issued when the last member leaves; friends who scan separately get separate
receipts when each leaves; an unscanned shopper gets an anonymous session and a review item.
Carts are per session: an item handed between unrelated shoppers stays on the picker's receipt.
A provisional ``track-<id>`` cart whose track the binder will never bind goes to review for every
session then in the store (no receipt would include it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from smart_store.arbiter.model import provisional_track
from smart_store.billing.model import (
    CartLike,
    CartSnapshot,
    EntryScan,
    Receipt,
    ReviewItem,
    ReviewKind,
    Session,
    SessionState,
    cart_update_record,
    review_from,
    snapshot_cart,
)
from smart_store.billing.receipts import TaxRate, build_receipt
from smart_store.billing.sessions import BinderChanges, SessionBinder, TrackObservation
from smart_store.billing.store import BillingStore
from smart_store.config.model import StoreConfig

__all__ = ["MAX_SESSIONLESS_REVIEWS", "BillingLogic", "nothing_pending"]

#: Review items without a session kept in memory (matched to open carts by event id).
MAX_SESSIONLESS_REVIEWS = 2000


def nothing_pending(session_id: str) -> bool:
    """Default ``pending`` callback: no shelf events in flight."""
    return False


class BillingLogic:
    """Ties :class:`SessionBinder`, :func:`build_receipt` and :class:`BillingStore` together.

    ``settle_timeout``: seconds after a session's exit to wait for its pending shelf events at
    most; ``tax_rate``: VAT rate contained in the prices (0 by default). ``binder`` may be
    given to change the binder's windows; it is restored from the store either way.
    ``restart_grace``: for this many seconds after the first tick, a session recovered from
    the database is not billed until its cart has been heard again (0: bill at once); one
    whose cart was stored before the restart (so the arbiter surely has a newer or equal one)
    waits up to ``restart_timeout`` seconds, then is billed with the stored cart and sent to
    review. A heard session stays held until :meth:`cart_history_in` says the carts topic's
    history (oldest revision first) has been delivered, or the timeout passes. Both waits are
    for the middleware (discovery, the history's delivery), so they are measured on
    ``wall_clock`` when one is given (the node passes a steady clock: a replay played at 4x
    would otherwise cut them to a quarter); without one, on the ``now`` of :meth:`tick`.
    """

    def __init__(self, cfg: StoreConfig, store: BillingStore, settle_timeout: float = 2.0, *,
                 tax_rate: TaxRate = 0, binder: SessionBinder | None = None,
                 restart_grace: float = 0.0, restart_timeout: float = 10.0,
                 wall_clock: Callable[[], float] | None = None) -> None:
        if settle_timeout < 0:
            raise ValueError("settle_timeout must be >= 0")
        if restart_grace < 0 or restart_timeout < 0:
            raise ValueError("restart_grace and restart_timeout must be >= 0")
        self.cfg = cfg
        self.store = store
        self.settle_timeout = settle_timeout
        self.tax_rate = tax_rate
        self.binder = binder if binder is not None else SessionBinder(cfg)
        # --- recovery: everything not yet billed
        sessions = store.open_sessions()
        self.binder.restore(sessions, store.open_entry_scans(), store.open_newborns(),
                            store.swap_contacts(s.session_id for s in sessions))
        self.binder.restore_closed_tracks(store.closed_track_ids())
        self._sessions: dict[str, Session] = {s.session_id: s for s in sessions}
        self._carts: dict[str, CartSnapshot] = store.open_carts()
        self._reviews: dict[str, ReviewItem] = {r.review_id: r for r in store.open_reviews()}
        self._updates: dict[str, Session] = {}
        self._raised: list[ReviewItem] = []  # items billing raised, for the review topic
        # A recovered session's cart may have changed while this process was down; the
        # arbiter's latest cart (its transient-local history) arrives soon after a restart.
        # Until it has, such a session is not billed: a shopper who left meanwhile would get
        # the cart of before the crash. The history comes oldest revision first, so the first
        # cart heard is not yet the latest: a heard session waits for cart_history_in().
        self.restart_grace = restart_grace
        self.restart_timeout = max(restart_timeout, restart_grace)
        self._unheard: set[str] = set(self._sessions) if restart_grace > 0 else set()
        self._catching_up: set[str] = set()
        # Sessions the arbiter certainly has a cart for: not released by the short grace.
        self._cart_expected: set[str] = self._unheard & set(self._carts)
        self._restart_t0: float | None = None
        self._wall_clock = wall_clock

    # ---------------------------------------------------------------------------- inputs
    def on_entry(self, t: float, event_id: str, token: str, companions: int = 0,
                 gate_id: str = "") -> BinderChanges:
        """An entry scan (msg/EntryEvent.msg); persisted before it is bound."""
        self.store.record_entry_scan(EntryScan(event_id=event_id, t=float(t), token=token,
                                               companions=int(companions), gate_id=gate_id))
        return self._apply(self.binder.on_entry(t, event_id, token, companions, gate_id))

    def on_tracks(self, t: float, tracks: Iterable[TrackObservation]) -> BinderChanges:
        """One frame set of ``(track_id, x, y, state)`` tracks."""
        return self._apply(self.binder.on_tracks(t, tracks))

    def on_session(self, session: Session) -> bool:
        """A session snapshot (from the binder or another source). False if already billed."""
        if session.state == SessionState.CLOSED or self.store.has_receipt(session.session_id):
            return False
        self.store.record_session(session)
        self._sessions[session.session_id] = session
        self._updates[session.session_id] = session
        return True

    def on_cart(self, cart: CartLike) -> bool:
        """The arbiter's latest cart of a session. True if it is a newer revision.

        A cart change after the session's receipt cannot change the receipt any more: it is
        kept for audit and sent to review.
        """
        snap = snapshot_cart(cart)
        if snap.session_id in self._unheard:
            self._unheard.discard(snap.session_id)
            self._catching_up.add(snap.session_id)
        newer = self.store.record_cart(snap)
        if self.store.has_receipt(snap.session_id):
            if newer:
                self.raise_review(ReviewItem(
                    review_id=f"rv-late-{snap.session_id}-{snap.revision}",
                    kind=int(ReviewKind.OTHER), session_id=snap.session_id, stamp=snap.stamp,
                    detail=f"cart revision {snap.revision} arrived after the receipt was issued"))
            return False
        current = self._carts.get(snap.session_id)
        if current is None or snap.revision > current.revision:
            self._carts[snap.session_id] = snap
            return True
        return False

    def on_cart_update(self, update: Any) -> bool:
        """A cart update (msg/CartUpdate.msg fields), kept for audit; the reaching track's
        cart change may make a possible identity swap matter (SessionBinder). True if new."""
        new = self.store.record_cart_update(update)
        rec = cart_update_record(update)
        self._apply(self.binder.on_cart_change(float(rec["stamp"]), int(rec["track_id"])))
        return new

    def on_review(self, review: Any) -> bool:
        """A review item from any stage. True if new.

        An ``UNTRACKED_HAND`` item without a session (a hand nobody tracked changed a lane) may
        concern anybody then in the store: every open session that entered by its stamp gets
        its own item (``rv-untracked-<session>-<item>``), so their receipts go to review."""
        item = review_from(review)
        new = self.store.record_review(item)
        if item.kind == int(ReviewKind.UNTRACKED_HAND) and not item.session_id:
            for session in self.open_sessions():
                if session.entry_time <= item.stamp:
                    self.raise_review(dataclasses.replace(
                        item, review_id=f"rv-untracked-{session.session_id}-{item.review_id}",
                        session_id=session.session_id,
                        detail=f"{item.detail}: this session was in the store, it may be its"))
        if item.session_id and self.store.has_receipt(item.session_id):
            return new  # kept for audit; it cannot change a final receipt
        self._reviews.setdefault(item.review_id, item)
        if not item.session_id:  # sessionless items only matter for carts still open: bounded
            loose = [rid for rid, r in self._reviews.items() if not r.session_id]
            for rid in loose[:max(0, len(loose) - MAX_SESSIONLESS_REVIEWS)]:
                del self._reviews[rid]
        return new

    # ---------------------------------------------------------------------------- billing
    def tick(self, now: float, pending: Callable[[str], bool] = nothing_pending
             ) -> list[Receipt]:
        """Advance time to ``now`` and issue the receipts that are due, each exactly once."""
        self._apply(self.binder.advance(now))
        if self._unheard or self._catching_up:
            self._restart_wait(now)
        self._flag_unclaimed_carts()
        issued: list[Receipt] = []
        due = [s for s in self._sessions.values()
               if s.state == SessionState.CLOSING and not self.awaiting_cart(s.session_id)]
        for session in sorted(due, key=lambda s: (s.exit_time or 0.0, s.session_id)):
            exit_time = session.exit_time if session.exit_time is not None else session.stamp
            still_pending = bool(pending(session.session_id))
            if still_pending and now < exit_time + self.settle_timeout:
                continue
            if still_pending:
                self.raise_review(ReviewItem(
                    review_id=f"rv-unsettled-{session.session_id}", kind=int(ReviewKind.OTHER),
                    session_id=session.session_id, stamp=exit_time,
                    detail=f"shelf events still pending {self.settle_timeout:g} s after the "
                           "exit: billed without them"))
            for review in self.binder.leaving_reviews(session.session_id):
                self.raise_review(review)
            receipt = self.build(session)
            if self.store.issue_receipt(receipt, issued_stamp=now):
                issued.append(receipt)
            self._close(session.session_id)
        return issued

    def _flag_unclaimed_carts(self) -> None:
        """A provisional ``track-<id>`` cart (picks by a track no session held) whose track
        will never be bound: no receipt would include its items, so, like an untracked hand,
        it goes to review for every session then in the store (``rv-unclaimed-<cart>-<rev>``,
        fanned out by :meth:`on_review`). It leaves memory then (it stays in the database)."""
        for sid, cart in list(self._carts.items()):
            track_id = provisional_track(sid)
            if track_id is None:
                continue
            if not cart.lines:  # its track was bound: the lines moved to that session
                del self._carts[sid]
                continue
            if not self.binder.never_binds(track_id, cart.stamp):
                continue
            items = ", ".join(f"{ln.quantity}x {ln.sku}" for ln in cart.lines)
            self.raise_review(ReviewItem(
                review_id=f"rv-unclaimed-{sid}-{cart.revision}",
                kind=int(ReviewKind.UNTRACKED_HAND), session_id="", stamp=cart.stamp,
                event_ids=tuple(dict.fromkeys(e for ln in cart.lines for e in ln.event_ids)),
                detail=f"track {track_id}, bound to no session, took {items}: no receipt "
                       "includes them"))
            del self._carts[sid]

    def cart_history_in(self) -> None:
        """The carts topic's history has been delivered since the restart (the node saw it go
        quiet): the recovered sessions whose cart was heard hold their latest one now."""
        self._catching_up.clear()

    def _restart_wait(self, now: float) -> None:
        """Release the sessions held since the restart whose wait is over."""
        if self._wall_clock is not None:
            now = self._wall_clock()
        if self._restart_t0 is None:
            self._restart_t0 = now
        waited = now - self._restart_t0
        if waited >= self.restart_grace:  # no cart came: the arbiter has none for them
            self._unheard &= self._cart_expected
        if waited < self.restart_timeout:
            return
        for sid in sorted(self._unheard):
            self.raise_review(ReviewItem(
                review_id=f"rv-restart-{sid}", kind=int(ReviewKind.OTHER), session_id=sid,
                stamp=now, detail=f"the arbiter's cart was not heard within "
                                  f"{self.restart_timeout:g} s of a billing restart: billed "
                                  "with the cart stored before it"))
        self._unheard.clear()
        self._catching_up.clear()

    def build(self, session: Session, notes: Iterable[str] = ()) -> Receipt:
        """The receipt ``session`` would get now (nothing is stored)."""
        if session.exit_time is None:
            session = _with_exit(session, session.stamp)
        # A misplaced item is a re-shelving task for staff, not a doubt about what this
        # session owes: it does not put the receipt on review.
        reviews = [r for r in self._reviews.values()
                   if r.session_id in ("", session.session_id)
                   and r.kind != int(ReviewKind.MISPLACED_ITEM)]
        return build_receipt(session, self._carts.get(session.session_id), self.cfg.catalog,
                             currency=self.cfg.currency, tax_rate=self.tax_rate,
                             reviews=reviews, notes=notes)

    # ---------------------------------------------------------------------------- queries
    def session(self, session_id: str) -> Session | None:
        """A session not yet billed."""
        return self._sessions.get(session_id)

    def awaiting_cart(self, session_id: str) -> bool:
        """Whether a recovered session is held until its latest cart is heard (``restart_grace``,
        :meth:`cart_history_in`)."""
        return session_id in self._unheard or session_id in self._catching_up

    def open_sessions(self) -> list[Session]:
        """Sessions not yet billed, by entry time."""
        return sorted(self._sessions.values(), key=lambda s: (s.entry_time, s.session_id))

    def due_sessions(self) -> list[Session]:
        """Sessions waiting for their receipt (every track left), by exit time."""
        due = [s for s in self._sessions.values() if s.state == SessionState.CLOSING]
        return sorted(due, key=lambda s: (s.exit_time or 0.0, s.session_id))

    def cart(self, session_id: str) -> CartSnapshot | None:
        """The latest cart of a session not yet billed."""
        return self._carts.get(session_id)

    def raise_review(self, review: ReviewItem) -> bool:
        """A review item billing itself raised (binder, fan-out, restart, unsettled, late cart):
        recorded like any other and, if new, queued for :meth:`drain_raised_reviews`."""
        new = self.on_review(review)
        if new:
            self._raised.append(review)
        return new

    def drain_raised_reviews(self) -> list[ReviewItem]:
        """The review items billing raised since the last call: what the node publishes on
        the review topic (its own subscription hears them back; ids make that a no-op)."""
        out, self._raised = self._raised, []
        return out

    def drain_session_updates(self) -> list[Session]:
        """The latest snapshot of every session changed since the last call (closed ones
        included), in order of change time: what the node publishes."""
        out = sorted(self._updates.values(), key=lambda s: (s.stamp, s.session_id))
        self._updates = {}
        return out

    # ---------------------------------------------------------------------------- internals
    def _apply(self, changes: BinderChanges) -> BinderChanges:
        for review in changes.reviews:
            self.raise_review(review)
        for session in changes.sessions:
            self.on_session(session)
        if changes.finished_scans:
            self.store.finish_entry_scans(changes.finished_scans)
        if changes.newborns:
            self.store.record_newborns(changes.newborns)
        if changes.placed:
            self.store.place_newborns(changes.placed)
        if changes.contacts:
            self.store.record_swap_contacts(changes.contacts)
        return changes

    def _close(self, session_id: str) -> None:
        session = self._sessions.pop(session_id, None)
        self._carts.pop(session_id, None)
        for rid in [rid for rid, r in self._reviews.items() if r.session_id == session_id]:
            del self._reviews[rid]
        closed = self.binder.mark_closed(session_id)
        if closed is None and session is not None:
            closed = _closed(session)
        if closed is not None:
            self._updates[session_id] = closed


def _with_exit(session: Session, exit_time: float) -> Session:
    d = session.to_dict()
    d["exit_time"] = exit_time
    return Session.from_dict(d)


def _closed(session: Session) -> Session:
    d = session.to_dict()
    d["state"] = int(SessionState.CLOSED)
    return Session.from_dict(d)
