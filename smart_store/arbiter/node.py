"""cart_arbiter node: reaches + weight events -> per-session carts, updates and reviews.

A thin shell around arbiter/arbiter.py (CartArbiter). Sessions (which tracks shop together)
come from the billing node on /sessions. Decisions are made on the node clock (sim time under
replay) once their assignment window has closed. Carts are published RELIABLE +
TRANSIENT_LOCAL with a ``pending`` flag that billing waits on before closing a receipt. The
arbiter's whole state is written to ``state_file`` after every decision and restored on start,
so a respawned arbiter continues where it stopped. Malformed input is dropped and counted with a
throttled warning (smart_store/ros/guard.py) before it reaches the arbiter: oversized messages,
empty ids, unknown shelves or lanes, non-finite numbers, intervals ending before they start,
sessions with an invalid state or more tracks than a scan can bring.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from rclpy.node import Node
from visualization_msgs.msg import Marker, MarkerArray

from smart_store.arbiter.arbiter import CartArbiter
from smart_store.arbiter.model import Cart as CartData
from smart_store.arbiter.model import CartUpdate as UpdateData
from smart_store.arbiter.model import ReviewItem as ReviewData
from smart_store.config import load_store_config
from smart_store.graph.table import (
    CART_MARKERS,
    CART_UPDATES,
    CARTS,
    REACHES,
    REVIEW,
    SESSIONS,
    TRACKS,
    WEIGHT_EVENTS,
)
from smart_store.jsonfile import write_json_atomic
from smart_store.msg import (
    Cart,
    CartLine,
    CartUpdate,
    ReachEvent,
    ReviewItem,
    Session,
    TrackArray,
    WeightEvent,
)
from smart_store.resources import default_store_config
from smart_store.ros.convert import reach_from_msg, review_msg, to_sec, to_time, weight_from_msg
from smart_store.ros.guard import InputGuard, Malformed, finite
from smart_store.ros.params import declare_float, declare_str
from smart_store.ros.qos import profile
from smart_store.ros.runner import run_node

#: Serialised size limits (a track is ~600 bytes; the others are a few hundred bytes).
MAX_TRACKS_BYTES = 1 << 20
MAX_EVENT_BYTES = 64 * 1024
#: A session is one scan plus at most 255 companions (EntryEvent.companions is a uint8).
MAX_SESSION_TRACKS = 256
SESSION_STATES = (Session.STATE_OPEN, Session.STATE_CLOSING, Session.STATE_CLOSED)


def cart_msg(c: CartData, frame_id: str, pending: bool) -> Cart:
    msg = Cart()
    msg.header.stamp, msg.header.frame_id = to_time(c.stamp), frame_id
    msg.session_id, msg.revision = c.session_id, int(c.revision)
    msg.lines = [CartLine(sku=line.sku, name=line.name, quantity=int(line.quantity),
                          unit_price=int(line.unit_price), line_total=int(line.line_total),
                          event_ids=list(line.event_ids), confidence=float(line.confidence))
                 for line in c.lines]
    msg.total, msg.currency, msg.pending = int(c.total), c.currency, pending
    return msg


def update_msg(u: UpdateData, frame_id: str) -> CartUpdate:
    msg = CartUpdate()
    msg.header.stamp, msg.header.frame_id = to_time(u.stamp), frame_id
    msg.update_id, msg.session_id, msg.track_id = u.update_id, u.session_id, int(u.track_id)
    msg.sku, msg.quantity_delta, msg.unit_price = u.sku, int(u.quantity_delta), int(u.unit_price)
    msg.reason, msg.confidence = int(u.reason), float(u.confidence)
    msg.event_ids = list(u.event_ids)
    return msg


class CartArbiterNode(Node):
    def __init__(self) -> None:
        super().__init__('cart_arbiter')
        path = declare_str(self, 'store_config', '', 'store config YAML; empty = demo store')
        state = declare_str(self, 'state_file', 'out/arbiter_state.json',
                            'where the arbiter persists its state (empty = nowhere)')
        period = declare_float(self, 'flush_period', 0.1, 's between decisions', low=0.01,
                               high=5.0)
        self.cfg = load_store_config(path or default_store_config())
        self.arbiter = CartArbiter(self.cfg)
        self.state_file = Path(state) if state else None
        if self.state_file is not None and self.state_file.exists():
            try:
                self.arbiter.restore(json.loads(self.state_file.read_text(encoding='utf-8')))
                self.get_logger().info(f'restored state from {self.state_file}: '
                                       f'{len(self.arbiter.carts())} cart(s)')
            except (OSError, ValueError, KeyError, TypeError) as err:
                self.get_logger().error(f'{self.state_file}: cannot restore ({err}); '
                                        'starting empty')
        self.cart_pub = self.create_publisher(Cart, CARTS.name, profile(CARTS.qos))
        self.update_pub = self.create_publisher(CartUpdate, CART_UPDATES.name,
                                                profile(CART_UPDATES.qos))
        self.review_pub = self.create_publisher(ReviewItem, REVIEW.name, profile(REVIEW.qos))
        self.marker_pub = self.create_publisher(MarkerArray, CART_MARKERS.name,
                                                profile(CART_MARKERS.qos))
        self.guard = InputGuard(self)
        self.lane_shelf = {lane.id: lane.shelf_id for lane in self.cfg.lanes()}
        self.last_tracks = -math.inf
        self.guard.subscribe(Session, SESSIONS.name, self.on_session, profile(SESSIONS.qos),
                             max_bytes=MAX_EVENT_BYTES)
        self.guard.subscribe(ReachEvent, REACHES.name, self.on_reach, profile(REACHES.qos),
                             max_bytes=MAX_EVENT_BYTES)
        self.guard.subscribe(WeightEvent, WEIGHT_EVENTS.name, self.on_weight,
                             profile(WEIGHT_EVENTS.qos), max_bytes=MAX_EVENT_BYTES)
        self.guard.subscribe(TrackArray, TRACKS.name, self.on_tracks, profile(TRACKS.qos),
                             max_bytes=MAX_TRACKS_BYTES)
        self.timer = self.create_timer(period, self.tick)
        self.positions: dict[int, tuple[float, float]] = {}
        self.pending_sent: dict[str, bool] = {}
        self.dropped = 0
        # Carts restored from the state file are published again for late joiners.
        for cart in self.arbiter.carts().values():
            self._publish_cart(cart)
        self.get_logger().info(f'arbitrating {len(self.cfg.lanes())} lanes, '
                               f'{len(self.cfg.catalog)} products')

    def on_session(self, msg: Session) -> None:
        if not msg.session_id:
            raise Malformed('empty session id')
        if msg.state not in SESSION_STATES:
            raise Malformed('invalid session state', f'{msg.session_id}: {msg.state}')
        if len(msg.track_ids) > MAX_SESSION_TRACKS:
            raise Malformed('too many tracks', f'{msg.session_id}: {len(msg.track_ids)}')
        self.arbiter.on_session(msg.session_id, [int(t) for t in msg.track_ids],
                                msg.account_token, bool(msg.anonymous))
        self._save()  # a binding must survive a restart even if no decision follows it

    def on_reach(self, msg: ReachEvent) -> None:
        self._check_reach(msg)
        try:
            self.arbiter.on_reach(reach_from_msg(msg))
        except (ValueError, KeyError) as err:
            self.dropped += 1
            raise Malformed('rejected reach', f'{msg.event_id}: {err}') from err

    def _check_reach(self, msg: ReachEvent) -> None:
        lanes = list(msg.lane_ids)
        if not msg.event_id:
            raise Malformed('empty reach id')
        if not lanes or any(self.lane_shelf.get(lane) != msg.shelf_id for lane in lanes):
            raise Malformed('unknown lanes', f'{msg.event_id}: {len(lanes)} lane(s) of shelf '
                            f'{msg.shelf_id!r} not all known there')
        if len(set(lanes)) != len(lanes) or len(msg.lane_dwell) != len(lanes):
            raise Malformed('inconsistent lanes', f'{msg.event_id}: {len(lanes)} lanes, '
                            f'{len(msg.lane_dwell)} dwell times')
        if not (finite(msg.confidence, msg.wrist_confidence, *msg.lane_dwell)
                and 0.0 <= msg.confidence <= 1.0 and 0.0 <= msg.wrist_confidence <= 1.0
                and min(msg.lane_dwell) >= 0.0):
            raise Malformed('invalid numbers', f'{msg.event_id}: confidence {msg.confidence}, '
                            f'dwell {list(msg.lane_dwell)[:3]}')
        if to_sec(msg.end) < to_sec(msg.start):
            raise Malformed('ends before it starts', msg.event_id)

    def on_weight(self, msg: WeightEvent) -> None:
        if not msg.event_id:
            raise Malformed('empty weight event id')
        if msg.lane_id not in self.lane_shelf:
            raise Malformed('unknown lane', f'{msg.event_id}: {msg.lane_id!r}')
        if not finite(msg.delta_grams, msg.noise_grams) or msg.noise_grams < 0.0:
            raise Malformed('invalid numbers', f'{msg.event_id}: delta {msg.delta_grams}, '
                            f'noise {msg.noise_grams}')
        if to_sec(msg.end) < to_sec(msg.start):
            raise Malformed('ends before it starts', msg.event_id)
        try:
            self.arbiter.on_weight(weight_from_msg(msg))
        except (ValueError, KeyError) as err:
            self.dropped += 1
            raise Malformed('rejected weight event', f'{msg.event_id}: {err}') from err

    def on_tracks(self, msg: TrackArray) -> None:
        t = to_sec(msg.header.stamp)
        if t < self.last_tracks:
            raise Malformed('out-of-order stamp', f'{t:.3f} s after {self.last_tracks:.3f} s')
        self.last_tracks = t
        self.positions = {int(track.id): (track.position.x, track.position.y)
                          for track in self.guard.usable_tracks(msg, TRACKS.name)}

    def _publish_cart(self, cart: CartData) -> None:
        pending = self.arbiter.pending(cart.session_id)
        self.pending_sent[cart.session_id] = pending
        self.cart_pub.publish(cart_msg(cart, self.cfg.frame_id, pending))

    def tick(self) -> None:
        now = self.get_clock().now().nanoseconds / 1e9
        if now <= 0.0:
            return
        outputs = self.arbiter.flush(now)
        for out in outputs:
            if isinstance(out, UpdateData):
                self.update_pub.publish(update_msg(out, self.cfg.frame_id))
            elif isinstance(out, ReviewData):
                self.review_pub.publish(review_msg(out, self.cfg.frame_id))
            elif isinstance(out, CartData):
                self._publish_cart(out)
        # Billing waits on `pending`: tell it when a cart settles without changing.
        for sid, cart in self.arbiter.carts().items():
            if self.arbiter.pending(sid) != self.pending_sent.get(sid):
                self._publish_cart(cart)
        if outputs:
            self._save()
            self._markers()

    def _save(self) -> None:
        if self.state_file is None:
            return
        write_json_atomic(self.state_file, self.arbiter.snapshot())

    def _markers(self) -> None:
        out = MarkerArray()
        for i, (sid, cart) in enumerate(sorted(self.arbiter.carts().items())):
            tracks = [t for t, s in ((t, self.arbiter.session_of(t)) for t in self.positions)
                      if s == sid]
            if not tracks:
                continue
            x, y = self.positions[tracks[0]]
            m = Marker()
            m.header.frame_id = self.cfg.frame_id
            m.header.stamp = to_time(cart.stamp)
            m.ns, m.id, m.type, m.action = 'carts', i, Marker.TEXT_VIEW_FACING, Marker.ADD
            m.pose.position.x, m.pose.position.y, m.pose.position.z = x, y, 2.1
            m.pose.orientation.w = 1.0
            m.scale.z = 0.15
            m.color.r = m.color.g = m.color.b = m.color.a = 1.0
            m.text = f'{sid}: ' + (', '.join(f'{line.quantity}x {line.sku}'
                                            for line in cart.lines) or 'empty')
            m.lifetime.sec = 5
            out.markers.append(m)
        self.marker_pub.publish(out)


def main(args: list[str] | None = None) -> int:
    return run_node(CartArbiterNode, args if args is not None else sys.argv)


if __name__ == '__main__':
    raise SystemExit(main())
