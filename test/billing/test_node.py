"""The billing node shell, in-process rclpy, on a database left by a previous billing process
(one open session, revision 1 of its cart stored) and a stand-in peer for the other nodes.

* After a restart the carts topic's history (oldest revision first) must not bill the recovered
  session with the first, stale revision it hears: the receipt carries revision 2.
* Review items billing raises itself (here: an untracked hand fanned out to the session inside)
  go out on the review topic, not only into the database.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rclpy
from billing_helpers import EXIT_XY, make_cart, shop_then_crash
from rclpy.executors import SingleThreadedExecutor

from smart_store.billing.model import SessionState
from smart_store.billing.store import BillingStore
from smart_store.config import StoreConfig, load_store_config
from smart_store.resources import default_store_config

pytestmark = pytest.mark.ros


def _cart_msg(cart: Any, stamp: float) -> Any:
    from smart_store.msg import Cart, CartLine

    from smart_store.ros.convert import to_time

    msg = Cart(session_id=cart.session_id, revision=cart.revision, total=cart.total,
               currency=cart.currency, pending=False)
    msg.header.stamp = to_time(stamp)
    msg.lines = [CartLine(sku=ln.sku, name=ln.name, quantity=ln.quantity,
                          unit_price=ln.unit_price, line_total=ln.line_total,
                          event_ids=list(ln.event_ids), confidence=ln.confidence)
                 for ln in cart.lines]
    return msg


def _crashed_database(tmp_path: Path, cfg: StoreConfig) -> Path:
    """Session s-e1 (track 1) shopping, revision 1 of its cart stored; stamps just before now
    (the node runs on the system clock here: no /clock)."""
    db = tmp_path / 'store.db'
    shop_then_crash(cfg, db, t0=time.time() - 3.0, cart={'COLA-330': 1})
    return db


def _spin_until(executor: SingleThreadedExecutor, done: Callable[[], object],
                timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    return bool(done())


def test_a_restarted_billing_node_bills_the_latest_cart_of_the_history(tmp_path: Path) -> None:
    from smart_store.msg import Receipt, Track, TrackArray

    from smart_store.billing.node import BillingNode
    from smart_store.graph.table import CARTS, RECEIPTS, TRACKS
    from smart_store.ros.convert import to_time
    from smart_store.ros.qos import profile

    cfg = load_store_config(default_store_config())
    db = _crashed_database(tmp_path, cfg)
    rclpy.init(args=['--ros-args', '-p', f'database:={db}', '-p', 'restart_grace:=1.0'])
    try:
        billing = BillingNode()
        peer = rclpy.create_node('billing_restart_peer')
        carts = peer.create_publisher(type(_cart_msg(make_cart(cfg, 's-e1', 1, {}), 0.0)),
                                      CARTS.name, profile(CARTS.qos))
        tracks = peer.create_publisher(TrackArray, TRACKS.name, profile(TRACKS.qos))
        receipts: list[Receipt] = []
        peer.create_subscription(Receipt, RECEIPTS.name, receipts.append,
                                 profile(RECEIPTS.qos))
        executor = SingleThreadedExecutor()
        executor.add_node(billing)
        executor.add_node(peer)

        def spin_until(done: Callable[[], object], timeout: float) -> bool:
            return _spin_until(executor, done, timeout)

        assert billing.logic.awaiting_cart('s-e1')
        # The shopper has walked out while billing was down...
        exit_msg = TrackArray()
        exit_msg.header.stamp = to_time(time.time())
        exit_msg.tracks = [Track(id=1, state=Track.STATE_EXITED, confidence=1.0)]
        exit_msg.tracks[0].position.x, exit_msg.tracks[0].position.y = EXIT_XY
        tracks.publish(exit_msg)
        session = billing.logic.session
        assert spin_until(lambda: session('s-e1').state == SessionState.CLOSING, 20.0)
        # ...and the carts' history arrives, oldest revision first.
        now = time.time()
        carts.publish(_cart_msg(make_cart(cfg, 's-e1', 1, {'COLA-330': 1}), now - 2.0))
        carts.publish(_cart_msg(make_cart(cfg, 's-e1', 2, {'COLA-330': 1, 'GUM-MINT': 1}),
                                now - 1.0))
        assert spin_until(lambda: receipts, 20.0), 'no receipt'
        spin_until(lambda: False, 0.3)  # a second receipt would show up here
        executor.shutdown()
        billing.destroy_node()
        peer.destroy_node()
    finally:
        rclpy.try_shutdown()
    (receipt,) = receipts
    assert receipt.session_id == 's-e1' and not receipt.needs_review
    assert sorted((ln.sku, ln.quantity) for ln in receipt.lines) == [('COLA-330', 1),
                                                                     ('GUM-MINT', 1)]


def test_review_items_billing_raises_go_out_on_the_review_topic(tmp_path: Path) -> None:
    from smart_store.msg import ReviewItem

    from smart_store.billing.node import BillingNode
    from smart_store.graph.table import REVIEW
    from smart_store.ros.convert import to_time
    from smart_store.ros.qos import profile

    cfg = load_store_config(default_store_config())
    db = _crashed_database(tmp_path, cfg)
    rclpy.init(args=['--ros-args', '-p', f'database:={db}'])
    try:
        billing = BillingNode()
        peer = rclpy.create_node('billing_review_peer')
        reviews = peer.create_publisher(ReviewItem, REVIEW.name, profile(REVIEW.qos))
        heard: list[str] = []
        peer.create_subscription(ReviewItem, REVIEW.name, lambda m: heard.append(m.review_id),
                                 profile(REVIEW.qos))
        executor = SingleThreadedExecutor()
        executor.add_node(billing)
        executor.add_node(peer)
        hand = ReviewItem(review_id='rv-hand-1', kind=ReviewItem.KIND_UNTRACKED_HAND,
                          lane_id='B2c', detail='a beam break no tracked person explains')
        hand.header.stamp = to_time(time.time())
        reviews.publish(hand)
        fanned = 'rv-untracked-s-e1-rv-hand-1'
        assert _spin_until(executor, lambda: fanned in heard, 20.0), heard
        _spin_until(executor, lambda: False, 0.5)  # hearing its own item back is a no-op
        executor.shutdown()
        billing.destroy_node()
        peer.destroy_node()
    finally:
        rclpy.try_shutdown()
    assert heard.count(fanned) == 1 and heard.count('rv-hand-1') == 1
    assert [r.review_id for r in BillingStore(db).open_reviews()
            if r.session_id == 's-e1'] == [fanned]
