"""billing node: sessions from entry scans and tracks, exactly-once receipts at the exit.

A thin shell around billing/billing.py (BillingLogic + SQLite BillingStore): it converts
EntryEvent, TrackArray, Cart, CartUpdate and ReviewItem messages, ticks the logic on the node
clock (sim time under replay), and publishes Session, Receipt and its own ReviewItems. Everything
is written to SQLite (WAL) before it is acted on, so a respawned billing node resumes the open
sessions and never issues a receipt twice. Malformed input is dropped and counted with a
throttled warning (smart_store/ros/guard.py) before it reaches the logic or the database:
oversized messages, empty ids, track arrays going back in time, tracks with an invalid state or
a non-finite position, non-finite confidences.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from rclpy.clock import Clock, ClockType
from rclpy.node import Node

from smart_store.billing.billing import BillingLogic
from smart_store.billing.model import Receipt as ReceiptData
from smart_store.billing.model import ReviewItem as ReviewData
from smart_store.billing.model import ReviewKind
from smart_store.billing.model import Session as SessionData
from smart_store.billing.sessions import SessionBinder
from smart_store.billing.store import BillingStore
from smart_store.config import load_store_config
from smart_store.graph.table import CART_UPDATES, CARTS, ENTRY, RECEIPTS, REVIEW, SESSIONS, TRACKS
from smart_store.msg import (
    Cart,
    CartLine,
    CartUpdate,
    EntryEvent,
    Receipt,
    ReviewItem,
    Session,
    TrackArray,
)
from smart_store.resources import default_store_config
from smart_store.ros.convert import review_msg, to_sec, to_time
from smart_store.ros.guard import InputGuard, Malformed, finite
from smart_store.ros.params import declare_float, declare_str
from smart_store.ros.qos import EVENTS_VOLATILE, profile
from smart_store.ros.runner import run_node

#: Serialised size limits (a track is ~600 bytes, a cart line ~60).
MAX_TRACKS_BYTES = 1 << 20
MAX_CART_BYTES = 256 * 1024
MAX_EVENT_BYTES = 256 * 1024
# A track lists the few people near it as confusable; more than this is not a real frame set.
MAX_CONFUSABLE = 32


def session_msg(s: SessionData, frame_id: str) -> Session:
    msg = Session()
    msg.header.stamp, msg.header.frame_id = to_time(s.stamp), frame_id
    msg.session_id, msg.account_token, msg.anonymous = s.session_id, s.account_token, s.anonymous
    msg.track_ids = [int(t) for t in s.track_ids]
    msg.state = int(s.state)
    msg.entry_time = to_time(s.entry_time)
    msg.exit_time = to_time(s.exit_time) if s.exit_time is not None else to_time(0.0)
    return msg


def receipt_msg(r: ReceiptData, frame_id: str) -> Receipt:
    msg = Receipt()
    msg.header.stamp, msg.header.frame_id = to_time(r.stamp), frame_id
    msg.receipt_id, msg.session_id, msg.account_token = r.receipt_id, r.session_id, \
        r.account_token
    msg.lines = [CartLine(sku=line.sku, name=line.name, quantity=line.quantity,
                          unit_price=line.unit_price, line_total=line.line_total,
                          event_ids=list(line.event_ids), confidence=float(line.confidence))
                 for line in r.lines]
    msg.subtotal, msg.tax, msg.total, msg.currency = r.subtotal, r.tax, r.total, r.currency
    msg.entry_time, msg.exit_time = to_time(r.entry_time), to_time(r.exit_time)
    msg.track_ids = [int(t) for t in r.track_ids]
    msg.needs_review = bool(r.needs_review)
    return msg


class _Stamped:
    """A message seen through the field names billing reads, with ``stamp`` in seconds."""

    def __init__(self, msg: object) -> None:
        self._msg = msg
        self.stamp = to_sec(msg.header.stamp)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self._msg, name)


class BillingNode(Node):
    def __init__(self) -> None:
        super().__init__('billing')
        path = declare_str(self, 'store_config', '', 'store config YAML; empty = demo store')
        database = declare_str(self, 'database', 'out/store.db',
                               'SQLite file for sessions, carts, reviews and receipts')
        settle = declare_float(self, 'settle_timeout', 2.0, 's after an exit to wait for '
                               'pending shelf events at most', low=0.0, high=60.0)
        tax = declare_float(self, 'tax_rate', 0.0, 'VAT rate included in prices', low=0.0,
                            high=1.0)
        period = declare_float(self, 'tick_period', 0.1, 's between billing checks',
                               low=0.01, high=5.0)
        self.track_gap = declare_float(self, 'track_gap', 2.0, 's without person tracks after '
                                       'which the sessions in the store go to review (the '
                                       'tracker was down: reaches then are lost)', low=0.1,
                                       high=60.0)
        lost = declare_float(self, 'lost_timeout', 15.0, 's a track of a session may go '
                             'unseen before it stops holding the session open (the tracker '
                             'itself gives a hidden person up after 5 s); the session is then '
                             'billed with a review item', low=1.0, high=3600.0)
        grace = declare_float(self, 'restart_grace', 3.0, 'wall-clock s after a (re)start to '
                              'wait for the arbiter\'s latest cart of each recovered session '
                              'before billing it (the carts topic\'s history reaches a '
                              'restarted node once discovery matched it)', low=0.0, high=60.0)
        restart_timeout = declare_float(
            self, 'restart_timeout', 10.0, 'wall-clock s a recovered session whose cart was '
            'stored before the restart waits for the arbiter\'s cart at most (then billed with '
            'the stored cart and sent to review)', low=0.0, high=600.0)
        quiet = declare_float(self, 'history_quiet', 0.5, 'wall-clock s without a cart after '
                              'which the carts topic\'s history (oldest first) counts as '
                              'delivered to a restarted node', low=0.05, high=10.0)
        self.cfg = load_store_config(path or default_store_config())
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        self.store = BillingStore(Path(database))
        self.logic = BillingLogic(self.cfg, self.store, settle, tax_rate=tax,
                                  binder=SessionBinder(self.cfg, lost_timeout=lost),
                                  restart_grace=grace, restart_timeout=restart_timeout,
                                  wall_clock=time.monotonic)
        self.pending: dict[str, bool] = {}
        self.sessions_pub = self.create_publisher(Session, SESSIONS.name, profile(SESSIONS.qos))
        self.receipts_pub = self.create_publisher(Receipt, RECEIPTS.name, profile(RECEIPTS.qos))
        self.review_pub = self.create_publisher(ReviewItem, REVIEW.name, profile(REVIEW.qos))
        self.guard = InputGuard(self)
        self.last_tracks = -math.inf
        # volatile: the gate app (or `ros2 bag play`) publishes the scans
        self.guard.subscribe(EntryEvent, ENTRY.name, self.on_entry, EVENTS_VOLATILE,
                             max_bytes=MAX_EVENT_BYTES)
        self.guard.subscribe(TrackArray, TRACKS.name, self.on_tracks, profile(TRACKS.qos),
                             max_bytes=MAX_TRACKS_BYTES)
        self.guard.subscribe(Cart, CARTS.name, self.on_cart, profile(CARTS.qos),
                             max_bytes=MAX_CART_BYTES)
        self.guard.subscribe(CartUpdate, CART_UPDATES.name, self.on_update,
                             profile(CART_UPDATES.qos), max_bytes=MAX_EVENT_BYTES)
        self.guard.subscribe(ReviewItem, REVIEW.name, self.on_review, profile(REVIEW.qos),
                             max_bytes=MAX_EVENT_BYTES)
        self.timer = self.create_timer(period, self.tick)
        # Steady clock, not sim time: after a replay's last clock message sim time stands still.
        self.history_timer = self.create_timer(
            quiet, self.on_history_quiet, clock=Clock(clock_type=ClockType.STEADY_TIME),
            autostart=False)
        self.issued = 0
        recovered = self.logic.open_sessions()
        self.get_logger().info(f'billing on {database}: {len(recovered)} open session(s) '
                               'recovered')
        # A respawned billing node has no history on /sessions: publish what it recovered, or a
        # cart arbiter that restarts after it would not know whose tracks are whose.
        for session in recovered:
            self.sessions_pub.publish(session_msg(session, self.cfg.frame_id))
        self._publish_sessions()

    def _publish_sessions(self) -> None:
        """Sessions changed and review items billing raised (the binder's, fanned-out ones,
        restart and settle timeouts) since the last call."""
        for session in self.logic.drain_session_updates():
            self.sessions_pub.publish(session_msg(session, self.cfg.frame_id))
        for review in self.logic.drain_raised_reviews():
            self.review_pub.publish(review_msg(review, self.cfg.frame_id))

    def on_entry(self, msg: EntryEvent) -> None:
        if not msg.event_id:
            raise Malformed('empty entry event id')
        self.logic.on_entry(to_sec(msg.header.stamp), msg.event_id, msg.account_token,
                            int(msg.companions), msg.gate_id)
        self._publish_sessions()

    def on_tracks(self, msg: TrackArray) -> None:
        t = to_sec(msg.header.stamp)
        if t < self.last_tracks:
            raise Malformed('out-of-order stamp', f'{t:.3f} s after {self.last_tracks:.3f} s')
        if math.isfinite(self.last_tracks) and t - self.last_tracks > self.track_gap:
            self._tracking_gap(self.last_tracks, t)
        self.last_tracks = t
        observations = [(int(track.id), float(track.position.x), float(track.position.y),
                         int(track.state),
                         [int(i) for i in track.confusable_ids[:MAX_CONFUSABLE]])
                        for track in self.guard.usable_tracks(msg, TRACKS.name)]
        self.logic.on_tracks(t, observations)
        self._publish_sessions()

    def _tracking_gap(self, start: float, end: float) -> None:
        """No tracks from ``start`` to ``end``: whoever was in the store then may have taken
        something no reach explains, so their receipts go to review."""
        sessions = [s for s in self.logic.open_sessions() if s.entry_time <= end]
        self.get_logger().warning(f'no person tracks for {end - start:.1f} s ({start:.2f} to '
                                  f'{end:.2f}): {len(sessions)} session(s) sent to review')
        for session in sessions:
            review = ReviewData(
                review_id=f'rv-trackgap-{session.session_id}-{round(start * 1000)}',
                kind=int(ReviewKind.OTHER), session_id=session.session_id, stamp=start,
                detail=f'no person tracks for {end - start:.1f} s while this session was in the '
                       'store: a reach in that time cannot be attributed')
            self.logic.raise_review(review)
        self._publish_sessions()

    def on_cart(self, msg: Cart) -> None:
        if not msg.session_id:
            raise Malformed('empty session id')
        if not all(finite(line.confidence) and line.sku for line in msg.lines):
            raise Malformed('invalid cart line', f'{msg.session_id} revision {msg.revision}')
        self.pending[msg.session_id] = bool(msg.pending)
        held = self.logic.awaiting_cart(msg.session_id)
        self.logic.on_cart(_Stamped(msg))  # type: ignore[arg-type]
        if held:
            # The carts topic's history reaches a restarted node as a burst, oldest revision
            # first: the session is billed once the burst has gone quiet, not on this cart.
            self.history_timer.reset()
        self._publish_sessions()  # a late cart change goes to review

    def on_history_quiet(self) -> None:
        self.history_timer.cancel()
        self.logic.cart_history_in()
        # Bill now, not at the next tick (after a replay's last clock message there is none).
        self.tick()

    def on_update(self, msg: CartUpdate) -> None:
        if not msg.update_id or not msg.session_id:
            raise Malformed('empty id', f'update {msg.update_id!r} of {msg.session_id!r}')
        if not finite(msg.confidence):
            raise Malformed('non-finite confidence', msg.update_id)
        self.logic.on_cart_update(_Stamped(msg))
        self._publish_sessions()  # a possible identity swap that now matters

    def on_review(self, msg: ReviewItem) -> None:
        if not msg.review_id:
            raise Malformed('empty review id')
        if not finite(msg.confidence):
            raise Malformed('non-finite confidence', msg.review_id)
        self.logic.on_review(_Stamped(msg))
        self._publish_sessions()  # an untracked hand fans out to the sessions inside

    def tick(self) -> None:
        now = self.get_clock().now().nanoseconds / 1e9
        if now <= 0.0:
            return  # sim time not received yet
        for receipt in self.logic.tick(now, lambda sid: self.pending.get(sid, False)):
            self.receipts_pub.publish(receipt_msg(receipt, self.cfg.frame_id))
            self.issued += 1
            lines = ', '.join(f'{line.quantity}x {line.sku}' for line in receipt.lines) or '-'
            self.get_logger().info(
                f'receipt {receipt.receipt_id}: {lines}; total {receipt.total} '
                f'{receipt.currency}' + (' (review)' if receipt.needs_review else ''))
        self._publish_sessions()


def main(args: list[str] | None = None) -> int:
    return run_node(BillingNode, args if args is not None else sys.argv)


if __name__ == '__main__':
    raise SystemExit(main())
