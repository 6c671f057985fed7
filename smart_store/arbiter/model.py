"""What the cart arbiter emits, as plain typed values.

Mirrors msg/CartUpdate.msg, msg/CartLine.msg, msg/Cart.msg and msg/ReviewItem.msg field by field,
with ``header.stamp`` as ``stamp`` (float seconds of the ROS clock; ``header.frame_id`` is the
store frame and left to the node). Money is always an ``int`` in minor units of the store
currency (cents); quantities are ``int`` units. ``reason`` and ``kind`` are ``IntEnum`` members
whose values are the msg constants, so ``int(update.reason)`` is what goes on the wire and
``update.reason.label`` (``"pick"``, ``"put_back"``, ...) is what humans read.

Every class has ``to_dict()`` (JSON-ready) and ``from_dict()`` (its inverse).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

__all__ = [
    "PROVISIONAL_PREFIX",
    "Cart",
    "CartLine",
    "CartUpdate",
    "Reason",
    "ReviewItem",
    "ReviewKind",
    "provisional_session",
    "provisional_track",
]

#: Session id prefix of a provisional cart: ``track-<id>`` holds what a track no session has
#: (yet) claimed took; the lines move to the session that binds the track.
PROVISIONAL_PREFIX = "track-"


def provisional_session(track_id: int) -> str:
    """The provisional cart id of a track (``track-<id>``)."""
    return f"{PROVISIONAL_PREFIX}{int(track_id)}"


def provisional_track(session_id: str) -> int | None:
    """The track of a provisional cart id, or None for a session's id."""
    suffix = session_id[len(PROVISIONAL_PREFIX):]
    if session_id.startswith(PROVISIONAL_PREFIX) and suffix.isdigit():
        return int(suffix)
    return None


class Reason(IntEnum):
    """``CartUpdate.REASON_*``: why a cart changed."""

    PICK = 0  # an item left a shelf in the hand of a session's track
    PUT_BACK = 1  # an item the session held went back onto a shelf
    HANDOFF = 2  # reserved: carts are per session, so hand-offs never move items (see arbiter)
    CORRECTION = 3  # bookkeeping: a late track -> session binding moved items between carts

    @property
    def label(self) -> str:
        """Lower-case name: ``pick``, ``put_back``, ``handoff`` or ``correction``."""
        return self.name.lower()


class ReviewKind(IntEnum):
    """``ReviewItem.KIND_*``: why a human should look."""

    AMBIGUOUS_ASSIGNMENT = 0  # two candidate reaches nearly tied
    UNKNOWN_WEIGHT = 1  # a weight change that matches no product
    REACHLESS_CHANGE = 2  # a weight change with no reach
    MISPLACED_ITEM = 3  # an item put on a lane it does not belong to / that nobody held
    ANONYMOUS_SESSION = 4  # a person who entered without scanning took something
    STALE_SENSOR = 5  # a lane whose sensor was stale around an event
    IDENTITY_SWAP = 6  # two sessions' tracks the tracker could have swapped (billing)
    UNTRACKED_HAND = 7  # a hand (beam break) with no tracked person near it changed a lane
    OTHER = 255  # ambiguous product, unexpected product, ...

    @property
    def label(self) -> str:
        """Lower-case name, e.g. ``ambiguous_assignment``."""
        return self.name.lower()


@dataclass(frozen=True)
class CartUpdate:
    """One change to a session's cart, with the evidence behind it (msg/CartUpdate.msg)."""

    update_id: str  # stable: derived from the evidence ids, so a replay yields the same ids
    session_id: str
    track_id: int  # who reached (0 for corrections)
    sku: str
    quantity_delta: int  # units; negative for a put-back
    unit_price: int  # minor units
    reason: Reason
    confidence: float  # [0, 1]
    event_ids: tuple[str, ...]  # weight event first, then the reach event(s)
    stamp: float  # s, sensor time (end) of the weight event that caused it

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``reason`` as its int value)."""
        return {
            "update_id": self.update_id,
            "session_id": self.session_id,
            "track_id": self.track_id,
            "sku": self.sku,
            "quantity_delta": self.quantity_delta,
            "unit_price": self.unit_price,
            "reason": int(self.reason),
            "confidence": self.confidence,
            "event_ids": list(self.event_ids),
            "stamp": self.stamp,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> CartUpdate:
        """Inverse of :meth:`to_dict`."""
        return CartUpdate(
            update_id=str(d["update_id"]),
            session_id=str(d["session_id"]),
            track_id=int(d["track_id"]),
            sku=str(d["sku"]),
            quantity_delta=int(d["quantity_delta"]),
            unit_price=int(d["unit_price"]),
            reason=Reason(int(d["reason"])),
            confidence=float(d["confidence"]),
            event_ids=tuple(str(e) for e in d["event_ids"]),
            stamp=float(d["stamp"]),
        )


@dataclass(frozen=True)
class CartLine:
    """One product line of a cart (msg/CartLine.msg)."""

    sku: str
    name: str
    quantity: int  # units
    unit_price: int  # minor units
    line_total: int  # minor units, quantity * unit_price
    event_ids: tuple[str, ...]  # weight/reach ids behind this line, oldest first
    confidence: float  # [0, 1], lowest confidence of the decisions behind the line

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "sku": self.sku,
            "name": self.name,
            "quantity": self.quantity,
            "unit_price": self.unit_price,
            "line_total": self.line_total,
            "event_ids": list(self.event_ids),
            "confidence": self.confidence,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> CartLine:
        """Inverse of :meth:`to_dict`."""
        return CartLine(
            sku=str(d["sku"]),
            name=str(d["name"]),
            quantity=int(d["quantity"]),
            unit_price=int(d["unit_price"]),
            line_total=int(d["line_total"]),
            event_ids=tuple(str(e) for e in d["event_ids"]),
            confidence=float(d["confidence"]),
        )


@dataclass(frozen=True)
class Cart:
    """The live cart of one session (msg/Cart.msg)."""

    session_id: str
    revision: int  # increases with every change
    lines: tuple[CartLine, ...]  # in order of first addition
    total: int  # minor units
    currency: str  # ISO 4217
    stamp: float  # s, sensor time of the latest change
    pending: bool = False  # undecided shelf events may still change it (CartArbiter.pending)

    def quantities(self) -> dict[str, int]:
        """``{sku: quantity}`` of the cart's lines."""
        return {line.sku: line.quantity for line in self.lines}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "session_id": self.session_id,
            "revision": self.revision,
            "lines": [line.to_dict() for line in self.lines],
            "total": self.total,
            "currency": self.currency,
            "pending": self.pending,
            "stamp": self.stamp,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Cart:
        """Inverse of :meth:`to_dict`."""
        return Cart(
            session_id=str(d["session_id"]),
            revision=int(d["revision"]),
            lines=tuple(CartLine.from_dict(x) for x in d["lines"]),
            total=int(d["total"]),
            currency=str(d["currency"]),
            pending=bool(d.get("pending", False)),
            stamp=float(d["stamp"]),
        )


@dataclass(frozen=True)
class ReviewItem:
    """A decision the system will not (silently) guess: sent to staff (msg/ReviewItem.msg)."""

    review_id: str  # stable: derived from the evidence ids
    kind: ReviewKind
    session_id: str  # may be empty
    shelf_id: str  # may be empty
    lane_id: str  # may be empty
    sku: str  # may be empty
    event_ids: tuple[str, ...]
    confidence: float  # [0, 1] of the best candidate decision
    detail: str  # human-readable explanation
    stamp: float  # s, sensor time of the evidence

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``kind`` as its int value)."""
        return {
            "review_id": self.review_id,
            "kind": int(self.kind),
            "session_id": self.session_id,
            "shelf_id": self.shelf_id,
            "lane_id": self.lane_id,
            "sku": self.sku,
            "event_ids": list(self.event_ids),
            "confidence": self.confidence,
            "detail": self.detail,
            "stamp": self.stamp,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> ReviewItem:
        """Inverse of :meth:`to_dict`."""
        return ReviewItem(
            review_id=str(d["review_id"]),
            kind=ReviewKind(int(d["kind"])),
            session_id=str(d["session_id"]),
            shelf_id=str(d["shelf_id"]),
            lane_id=str(d["lane_id"]),
            sku=str(d["sku"]),
            event_ids=tuple(str(e) for e in d["event_ids"]),
            confidence=float(d["confidence"]),
            detail=str(d["detail"]),
            stamp=float(d["stamp"]),
        )
