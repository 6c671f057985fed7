"""billing node: sessions from entry scans and tracks, exactly-once receipts at the exit.

A thin shell around billing/billing.py (BillingLogic + SQLite BillingStore): it converts
EntryEvent, TrackArray, Cart, CartUpdate and ReviewItem messages, ticks the logic on the node
clock (sim time under replay), and publishes Session, Receipt and its own ReviewItems. Everything
is written to SQLite (WAL) before it is acted on, so a respawned billing node resumes the open
sessions and never issues a receipt twice.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rclpy.node import Node

from smart_store.billing.billing import BillingLogic
from smart_store.billing.model import Receipt as ReceiptData
from smart_store.billing.model import ReviewItem as ReviewData
from smart_store.billing.model import Session as SessionData
from smart_store.billing.sessions import BinderChanges
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
from smart_store.ros.convert import to_sec, to_time
from smart_store.ros.params import declare_float, declare_str
from smart_store.ros.qos import profile
from smart_store.ros.runner import run_node


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


def review_msg(r: ReviewData, frame_id: str) -> ReviewItem:
    msg = ReviewItem()
    msg.header.stamp, msg.header.frame_id = to_time(r.stamp), frame_id
    msg.review_id, msg.kind, msg.session_id = r.review_id, int(r.kind), r.session_id
    msg.shelf_id, msg.lane_id, msg.sku = r.shelf_id, r.lane_id, r.sku
    msg.event_ids, msg.confidence, msg.detail = list(r.event_ids), float(r.confidence), r.detail
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
        self.cfg = load_store_config(path or default_store_config())
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        self.store = BillingStore(Path(database))
        self.logic = BillingLogic(self.cfg, self.store, settle, tax_rate=tax)
        self.pending: dict[str, bool] = {}
        self.sessions_pub = self.create_publisher(Session, SESSIONS.name, profile(SESSIONS.qos))
        self.receipts_pub = self.create_publisher(Receipt, RECEIPTS.name, profile(RECEIPTS.qos))
        self.review_pub = self.create_publisher(ReviewItem, REVIEW.name, profile(REVIEW.qos))
        self.create_subscription(EntryEvent, ENTRY.name, self.on_entry, profile(ENTRY.qos))
        self.create_subscription(TrackArray, TRACKS.name, self.on_tracks, profile(TRACKS.qos))
        self.create_subscription(Cart, CARTS.name, self.on_cart, profile(CARTS.qos))
        self.create_subscription(CartUpdate, CART_UPDATES.name, self.on_update,
                                 profile(CART_UPDATES.qos))
        self.create_subscription(ReviewItem, REVIEW.name, self.on_review, profile(REVIEW.qos))
        self.timer = self.create_timer(period, self.tick)
        self.issued = 0
        recovered = self.logic.open_sessions()
        self.get_logger().info(f'billing on {database}: {len(recovered)} open session(s) '
                               'recovered')
        self._publish_sessions()

    def _changes(self, changes: BinderChanges) -> None:
        for review in changes.reviews:
            self.review_pub.publish(review_msg(review, self.cfg.frame_id))
        self._publish_sessions()

    def _publish_sessions(self) -> None:
        for session in self.logic.drain_session_updates():
            self.sessions_pub.publish(session_msg(session, self.cfg.frame_id))

    def on_entry(self, msg: EntryEvent) -> None:
        self._changes(self.logic.on_entry(to_sec(msg.header.stamp), msg.event_id,
                                          msg.account_token, int(msg.companions), msg.gate_id))

    def on_tracks(self, msg: TrackArray) -> None:
        observations = [(int(t.id), float(t.position.x), float(t.position.y), int(t.state))
                        for t in msg.tracks]
        self._changes(self.logic.on_tracks(to_sec(msg.header.stamp), observations))

    def on_cart(self, msg: Cart) -> None:
        self.pending[msg.session_id] = bool(msg.pending)
        self.logic.on_cart(_Stamped(msg))  # type: ignore[arg-type]

    def on_update(self, msg: CartUpdate) -> None:
        self.logic.on_cart_update(_Stamped(msg))

    def on_review(self, msg: ReviewItem) -> None:
        self.logic.on_review(_Stamped(msg))

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
