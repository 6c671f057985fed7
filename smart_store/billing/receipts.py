"""Final receipts: a session's last cart priced into a :class:`Receipt`.

Arithmetic is integer minor units throughout (cents): ``line_total = quantity * unit_price``,
``subtotal = sum(line_total)``. Prices are VAT-inclusive, so ``total = subtotal`` and the tax
contained in it is ``round_half_even(total * rate / (1 + rate))``, computed exactly with
fractions (a float rate such as 0.2 is read as the decimal it prints as). The store config has
no tax rate yet: it is a parameter, 0 by default.

Line rules: one line per (sku, unit price), sorted by sku, so a receipt is deterministic;
lines with zero quantity are dropped; a negative quantity (more put back than picked) is
dropped and flags the receipt for review; the unit price is the cart's (the price the shopper
saw when picking), the name comes from the catalog; an sku missing from the catalog or a cart in
another currency flags the receipt for review. The event ids behind each line are kept for
audit.

Group rules are those of ``smart_store.billing.sessions``: one receipt per session, i.e. one per
payer scan (a family shares one), one per anonymous shopper; carts are per session, and an item
handed between unrelated shoppers stays on the picker's receipt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from fractions import Fraction

from smart_store.billing.model import (
    CartLike,
    Receipt,
    ReceiptLine,
    ReviewItem,
    Session,
    snapshot_cart,
)
from smart_store.config.model import Product

__all__ = ["TaxRate", "build_receipt", "receipt_id_for", "tax_included"]

TaxRate = float | int | str | Decimal | Fraction


def receipt_id_for(session_id: str) -> str:
    """Receipt id derived from the session id: the same session never gets two receipts."""
    return f"r-{session_id}"


def _rate(rate: TaxRate) -> Fraction:
    if isinstance(rate, Fraction):
        value = rate
    elif isinstance(rate, float):
        value = Fraction(Decimal(repr(rate)))
    else:
        value = Fraction(Decimal(str(rate)))
    if value < 0:
        raise ValueError(f"tax rate must be >= 0, got {rate}")
    return value


def tax_included(total: int, rate: TaxRate) -> int:
    """Tax contained in a VAT-inclusive ``total`` (minor units), rounded half to even.

    >>> tax_included(1000, 0.2)   # 1000 * 0.2 / 1.2 = 166.67
    167
    >>> tax_included(105, "0.05")  # 5.0 exactly
    5
    """
    r = _rate(rate)
    if r == 0:
        return 0
    return round(Fraction(int(total)) * r / (1 + r))


def build_receipt(session: Session, cart: CartLike | None, catalog: Mapping[str, Product], *,
                  currency: str, tax_rate: TaxRate = 0, reviews: Iterable[ReviewItem] = (),
                  notes: Iterable[str] = ()) -> Receipt:
    """The receipt of ``session`` from its latest ``cart`` (None: it took nothing).

    ``reviews`` are the open review items of the session (or of events behind its lines);
    ``notes`` are extra reasons for review found by the caller (e.g. unsettled shelf events).
    The receipt needs review if any of those exist, if the session is anonymous, or if a line
    rule above flags it.
    """
    if session.exit_time is None:
        raise ValueError(f"session {session.session_id} has not left yet")
    all_notes = list(notes)
    merged: dict[tuple[str, int], list[ReceiptLine]] = {}
    snap = None if cart is None else snapshot_cart(cart)
    if snap is not None:
        if snap.session_id != session.session_id:
            raise ValueError(f"cart of {snap.session_id} given for session {session.session_id}")
        if snap.currency and snap.currency != currency:
            all_notes.append(f"cart currency {snap.currency} differs from store currency "
                             f"{currency}")
        for line in snap.lines:
            merged.setdefault((line.sku, line.unit_price), []).append(line)
    lines: list[ReceiptLine] = []
    for (sku, unit_price), parts in sorted(merged.items()):
        quantity = sum(p.quantity for p in parts)
        if quantity == 0:
            continue
        if quantity < 0:
            all_notes.append(f"{sku}: net quantity {quantity} (more put back than picked)")
            continue
        product = catalog.get(sku)
        if product is None:
            all_notes.append(f"{sku}: not in the catalog")
        name = product.name if product is not None else (parts[0].name or sku)
        event_ids = tuple(dict.fromkeys(e for p in parts for e in p.event_ids))
        lines.append(ReceiptLine(sku=sku, name=name, quantity=quantity, unit_price=unit_price,
                                 line_total=quantity * unit_price, event_ids=event_ids,
                                 confidence=min(p.confidence for p in parts)))
    subtotal = sum(line.line_total for line in lines)
    line_events = {e for line in lines for e in line.event_ids}
    review_ids = sorted({r.review_id for r in reviews
                         if r.session_id == session.session_id
                         or (not r.session_id and line_events.intersection(r.event_ids))})
    if session.anonymous and not review_ids:
        all_notes.append("anonymous session")
    return Receipt(
        receipt_id=receipt_id_for(session.session_id),
        session_id=session.session_id,
        account_token=session.account_token,
        lines=tuple(lines),
        subtotal=subtotal,
        tax=tax_included(subtotal, tax_rate),
        total=subtotal,
        currency=currency,
        entry_time=session.entry_time,
        exit_time=session.exit_time,
        track_ids=tuple(sorted(session.track_ids)),
        needs_review=bool(review_ids or all_notes),
        review_ids=tuple(review_ids),
        notes=tuple(all_notes),
    )
