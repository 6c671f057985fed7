"""Billing data as plain, typed values: sessions, review items, carts and receipts.

Mirrors msg/Session.msg, msg/ReviewItem.msg, msg/CartLine.msg, msg/Cart.msg and msg/Receipt.msg
field by field, with times as float seconds of the ROS clock (the billing node converts to and
from ``builtin_interfaces/Time``) and money as integers in minor units of the store currency
(cents): no float ever touches a price.

Carts come from the arbiter (``smart_store.arbiter``), which is written separately: billing
reads them *structurally* through :class:`CartLike` / :class:`CartLineLike` (any object with the
msg's field names works, the arbiter's dataclasses included) and keeps its own immutable copy,
:class:`CartSnapshot`. Review items and cart updates from other stages are read the same way and
normalised with :func:`review_from` / :func:`cart_update_record`.

Nothing here stores personal data: ``account_token`` is the opaque app token scanned at the gate
and track ids are anonymous integers.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Protocol

__all__ = [
    "CartLike",
    "CartLineLike",
    "CartSnapshot",
    "EntryScan",
    "Receipt",
    "ReceiptLine",
    "ReviewItem",
    "ReviewKind",
    "Session",
    "SessionState",
    "SwapContact",
    "cart_from_json",
    "cart_to_json",
    "cart_update_record",
    "receipt_from_json",
    "receipt_to_json",
    "review_from",
    "snapshot_cart",
]


class SessionState(IntEnum):
    """``Session.STATE_*``."""

    OPEN = 0  # someone of the session is in the store
    CLOSING = 1  # every track has left (or is lost); waiting for shelf events to settle
    CLOSED = 2  # the receipt is final


class ReviewKind(IntEnum):
    """``ReviewItem.KIND_*``."""

    AMBIGUOUS_ASSIGNMENT = 0
    UNKNOWN_WEIGHT = 1
    REACHLESS_CHANGE = 2
    MISPLACED_ITEM = 3
    ANONYMOUS_SESSION = 4
    STALE_SENSOR = 5
    IDENTITY_SWAP = 6
    UNTRACKED_HAND = 7
    OTHER = 255


#: A possible identity swap between two sessions' tracks, as the binder reports and the store
#: keeps it: ``(session_a, session_b, t, track_a, track_b, flagged)``, ``session_a <
#: session_b``, ``flagged`` once both sessions were sent to review.
SwapContact = tuple[str, str, float, int, int, bool]


@dataclass(frozen=True)
class EntryScan:
    """One scan at an entry gate (msg/EntryEvent.msg): ``companions + 1`` people follow it."""

    event_id: str
    t: float  # s, scan time (header.stamp)
    token: str  # opaque app token; "" = no scan
    companions: int
    gate_id: str = ""  # entry zone id; "" = any entry zone


@dataclass(frozen=True)
class Session:
    """A shopping session: one payer (or none, if anonymous) and the tracks bound to it.

    ``exited_track_ids`` and ``lost_track_ids`` (not in the msg) let a restarted billing stage
    pick up where it stopped; ``expected_tracks`` is ``companions + 1`` of the scan.
    """

    session_id: str
    account_token: str  # opaque; "" for an anonymous session
    anonymous: bool
    track_ids: tuple[int, ...]
    state: SessionState
    entry_time: float  # s
    exit_time: float | None  # s, None until the last track has left
    stamp: float  # s, time of the latest change
    gate_id: str = ""
    entry_event_id: str = ""  # "" for an anonymous (unscanned) session
    expected_tracks: int = 1
    exited_track_ids: tuple[int, ...] = ()
    lost_track_ids: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``state`` as its int value)."""
        d = dataclasses.asdict(self)
        d["state"] = int(self.state)
        return d

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Session:
        """Inverse of :meth:`to_dict`."""
        return Session(
            session_id=str(d["session_id"]),
            account_token=str(d.get("account_token", "")),
            anonymous=bool(d.get("anonymous", False)),
            track_ids=tuple(int(x) for x in d.get("track_ids", ())),
            state=SessionState(int(d.get("state", 0))),
            entry_time=float(d["entry_time"]),
            exit_time=None if d.get("exit_time") is None else float(d["exit_time"]),
            stamp=float(d.get("stamp", 0.0)),
            gate_id=str(d.get("gate_id", "")),
            entry_event_id=str(d.get("entry_event_id", "")),
            expected_tracks=int(d.get("expected_tracks", 1)),
            exited_track_ids=tuple(int(x) for x in d.get("exited_track_ids", ())),
            lost_track_ids=tuple(int(x) for x in d.get("lost_track_ids", ())),
        )


@dataclass(frozen=True)
class ReviewItem:
    """A decision the system will not guess, sent to staff (msg/ReviewItem.msg)."""

    review_id: str
    kind: int  # ReviewKind value (kept an int: other stages may send kinds billing ignores)
    session_id: str = ""
    shelf_id: str = ""
    lane_id: str = ""
    sku: str = ""
    event_ids: tuple[str, ...] = ()
    confidence: float = 0.0
    detail: str = ""
    stamp: float = 0.0  # s, sensor time of the evidence


class CartLineLike(Protocol):
    """What billing reads from a cart line (msg/CartLine.msg field names)."""

    @property
    def sku(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def quantity(self) -> int: ...
    @property
    def unit_price(self) -> int: ...
    @property
    def line_total(self) -> int: ...
    @property
    def event_ids(self) -> Sequence[str]: ...
    @property
    def confidence(self) -> float: ...


class CartLike(Protocol):
    """What billing reads from a cart (msg/Cart.msg field names); the arbiter's ``Cart``."""

    @property
    def session_id(self) -> str: ...
    @property
    def revision(self) -> int: ...
    @property
    def lines(self) -> Sequence[CartLineLike]: ...
    @property
    def total(self) -> int: ...
    @property
    def currency(self) -> str: ...


@dataclass(frozen=True)
class ReceiptLine:
    """One product line of a cart or receipt (msg/CartLine.msg); money in minor units."""

    sku: str
    name: str
    quantity: int
    unit_price: int
    line_total: int
    event_ids: tuple[str, ...] = ()
    confidence: float = 1.0


@dataclass(frozen=True)
class CartSnapshot:
    """Billing's immutable copy of one revision of a session's cart."""

    session_id: str
    revision: int
    lines: tuple[ReceiptLine, ...]
    total: int
    currency: str
    stamp: float = 0.0


@dataclass(frozen=True)
class Receipt:
    """The final receipt of a session (msg/Receipt.msg).

    ``review_ids`` are the review items behind ``needs_review`` and ``notes`` the reasons billing
    itself found (unsettled shelf events, an unknown sku, ...); neither is in the msg.
    """

    receipt_id: str
    session_id: str
    account_token: str
    lines: tuple[ReceiptLine, ...]
    subtotal: int
    tax: int  # included in total (VAT-inclusive prices)
    total: int
    currency: str
    entry_time: float
    exit_time: float
    track_ids: tuple[int, ...]
    needs_review: bool
    review_ids: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def stamp(self) -> float:
        """``header.stamp``: the exit time of the session's last track."""
        return self.exit_time

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)


# ------------------------------------------------------------------------------ conversions
def _line_from(line: CartLineLike) -> ReceiptLine:
    return ReceiptLine(
        sku=str(line.sku),
        name=str(line.name),
        quantity=int(line.quantity),
        unit_price=int(line.unit_price),
        line_total=int(line.line_total),
        event_ids=tuple(str(e) for e in line.event_ids),
        confidence=float(line.confidence),
    )


def snapshot_cart(cart: CartLike) -> CartSnapshot:
    """Immutable copy of any cart-shaped object (``stamp`` read if it has one)."""
    if isinstance(cart, CartSnapshot):
        return cart
    return CartSnapshot(
        session_id=str(cart.session_id),
        revision=int(cart.revision),
        lines=tuple(_line_from(line) for line in cart.lines),
        total=int(cart.total),
        currency=str(cart.currency),
        stamp=float(getattr(cart, "stamp", 0.0) or 0.0),
    )


def _line_from_dict(d: dict[str, Any]) -> ReceiptLine:
    return ReceiptLine(
        sku=str(d["sku"]),
        name=str(d.get("name", "")),
        quantity=int(d["quantity"]),
        unit_price=int(d["unit_price"]),
        line_total=int(d["line_total"]),
        event_ids=tuple(str(e) for e in d.get("event_ids", ())),
        confidence=float(d.get("confidence", 1.0)),
    )


def cart_to_json(cart: CartSnapshot) -> str:
    """Canonical JSON of a cart snapshot (sorted keys)."""
    return json.dumps(dataclasses.asdict(cart), sort_keys=True)


def cart_from_json(text: str) -> CartSnapshot:
    """Inverse of :func:`cart_to_json`."""
    d = json.loads(text)
    return CartSnapshot(
        session_id=str(d["session_id"]),
        revision=int(d["revision"]),
        lines=tuple(_line_from_dict(x) for x in d.get("lines", ())),
        total=int(d["total"]),
        currency=str(d.get("currency", "")),
        stamp=float(d.get("stamp", 0.0)),
    )


def receipt_to_json(receipt: Receipt) -> str:
    """Canonical JSON of a receipt (sorted keys)."""
    return json.dumps(receipt.to_dict(), sort_keys=True)


def receipt_from_json(text: str) -> Receipt:
    """Inverse of :func:`receipt_to_json`."""
    d = json.loads(text)
    return Receipt(
        receipt_id=str(d["receipt_id"]),
        session_id=str(d["session_id"]),
        account_token=str(d.get("account_token", "")),
        lines=tuple(_line_from_dict(x) for x in d.get("lines", ())),
        subtotal=int(d["subtotal"]),
        tax=int(d["tax"]),
        total=int(d["total"]),
        currency=str(d["currency"]),
        entry_time=float(d["entry_time"]),
        exit_time=float(d["exit_time"]),
        track_ids=tuple(int(x) for x in d.get("track_ids", ())),
        needs_review=bool(d.get("needs_review", False)),
        review_ids=tuple(str(x) for x in d.get("review_ids", ())),
        notes=tuple(str(x) for x in d.get("notes", ())),
    )


def review_from(obj: Any) -> ReviewItem:
    """A :class:`ReviewItem` from any object with the msg's field names (``stamp`` optional)."""
    if isinstance(obj, ReviewItem):
        return obj
    return ReviewItem(
        review_id=str(obj.review_id),
        kind=int(obj.kind),
        session_id=str(getattr(obj, "session_id", "") or ""),
        shelf_id=str(getattr(obj, "shelf_id", "") or ""),
        lane_id=str(getattr(obj, "lane_id", "") or ""),
        sku=str(getattr(obj, "sku", "") or ""),
        event_ids=tuple(str(e) for e in getattr(obj, "event_ids", ()) or ()),
        confidence=float(getattr(obj, "confidence", 0.0) or 0.0),
        detail=str(getattr(obj, "detail", "") or ""),
        stamp=float(getattr(obj, "stamp", 0.0) or 0.0),
    )


#: CartUpdate fields billing keeps as columns (msg/CartUpdate.msg); the rest goes to JSON.
_UPDATE_FIELDS = ("update_id", "session_id", "track_id", "sku", "quantity_delta", "unit_price",
                  "reason", "confidence", "event_ids", "stamp")


def cart_update_record(update: Any) -> dict[str, Any]:
    """Plain dict of a cart update (any object or dict with msg/CartUpdate.msg field names).

    ``update_id`` and ``session_id`` are required; missing optional fields get neutral values.
    """
    if isinstance(update, dict):
        raw = dict(update)
    elif dataclasses.is_dataclass(update) and not isinstance(update, type):
        raw = dataclasses.asdict(update)
    else:
        raw = {k: getattr(update, k) for k in _UPDATE_FIELDS if hasattr(update, k)}
    if not raw.get("update_id") or "session_id" not in raw:
        raise ValueError("a cart update needs update_id and session_id")
    raw.setdefault("stamp", raw.get("t", 0.0))
    return {
        "update_id": str(raw["update_id"]),
        "session_id": str(raw["session_id"]),
        "track_id": int(raw.get("track_id", 0) or 0),
        "sku": str(raw.get("sku", "")),
        "quantity_delta": int(raw.get("quantity_delta", 0) or 0),
        "unit_price": int(raw.get("unit_price", 0) or 0),
        "reason": int(raw.get("reason", 0) or 0),
        "confidence": float(raw.get("confidence", 0.0) or 0.0),
        "event_ids": [str(e) for e in raw.get("event_ids", ()) or ()],
        "stamp": float(raw.get("stamp", 0.0) or 0.0),
    }
