"""Receipt arithmetic: integer minor units, VAT-inclusive tax, line rules, review flags."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from billing_helpers import Cart, CartLine, make_cart

from smart_store.billing.model import ReviewItem, ReviewKind, Session, SessionState
from smart_store.billing.receipts import build_receipt, receipt_id_for, tax_included
from smart_store.config import StoreConfig


def session(sid: str = "s-e1", token: str = "tok", anonymous: bool = False) -> Session:
    return Session(session_id=sid, account_token=token, anonymous=anonymous, track_ids=(4, 2),
                   state=SessionState.CLOSING, entry_time=3.0, exit_time=95.5, stamp=95.5)


def test_lines_subtotal_and_order(cfg: StoreConfig) -> None:
    cart = make_cart(cfg, "s-e1", 7, [("WATER-500", 2, ["we-1", "we-2"]),
                                      ("BATT-AA4", 1, ["we-3"]),
                                      ("COLA-330", 0, ["we-4", "we-5"])])  # put back: dropped
    r = build_receipt(session(), cart, cfg.catalog, currency=cfg.currency)
    assert [ln.sku for ln in r.lines] == ["BATT-AA4", "WATER-500"]  # sorted, zero dropped
    water = r.lines[1]
    assert (water.quantity, water.unit_price, water.line_total) == (2, 89, 178)
    assert water.event_ids == ("we-1", "we-2") and water.name == "Still water 500 ml"
    assert r.subtotal == 178 + 499 == r.total
    assert r.tax == 0 and r.currency == "EUR"
    assert r.receipt_id == receipt_id_for("s-e1") == "r-s-e1"
    assert (r.entry_time, r.exit_time, r.stamp) == (3.0, 95.5, 95.5)
    assert r.track_ids == (2, 4) and r.account_token == "tok"
    assert not r.needs_review
    assert all(isinstance(v, int) for v in (r.subtotal, r.tax, r.total, water.line_total))


def test_duplicate_sku_lines_merge(cfg: StoreConfig) -> None:
    cart = Cart("s-e1", 3, [CartLine("GUM-MINT", "Gum", 1, 99, 99, ["a"], 0.9),
                            CartLine("GUM-MINT", "Gum", 2, 99, 198, ["b"], 0.6)], 297)
    r = build_receipt(session(), cart, cfg.catalog, currency="EUR")
    (line,) = r.lines
    assert (line.quantity, line.line_total, line.event_ids) == (3, 297, ("a", "b"))
    assert line.confidence == pytest.approx(0.6)


@pytest.mark.parametrize(("total", "rate", "tax"), [
    (1000, 0.2, 167),        # 166.67
    (15, 0.2, 2),            # 2.5 -> 2 (half to even)
    (9, 0.2, 2),             # 1.5 -> 2 (half to even)
    (3, "0.2", 0),           # 0.5 -> 0
    (1190, Decimal("0.19"), 190),
    (1070, Fraction(7, 100), 70),
    (0, 0.2, 0),
    (12345, 0, 0),
])
def test_vat_inclusive_tax_rounds_half_even(total: int, rate: object, tax: int) -> None:
    assert tax_included(total, rate) == tax  # type: ignore[arg-type]


def test_receipt_with_tax_rate(cfg: StoreConfig) -> None:
    cart = make_cart(cfg, "s-e1", 1, {"SAND-HAM": 3, "GUM-MINT": 2})  # 837 + 198 = 1035
    r = build_receipt(session(), cart, cfg.catalog, currency="EUR", tax_rate=0.2)
    assert r.subtotal == r.total == 1035
    assert r.tax == 172  # 1035 / 6 = 172.5 -> 172 (even)
    with pytest.raises(ValueError, match="tax rate"):
        tax_included(100, -0.1)


def test_empty_cart_gives_a_zero_receipt(cfg: StoreConfig) -> None:
    r = build_receipt(session(), None, cfg.catalog, currency="EUR")
    assert r.lines == () and r.total == 0 and not r.needs_review


def test_review_flags(cfg: StoreConfig) -> None:
    cart = Cart("s-e1", 2, [CartLine("MYSTERY", "Mystery box", 1, 500, 500, ["we-9"]),
                            CartLine("GUM-MINT", "Gum", -1, 99, -99, ["we-8"])], 401,
                currency="USD")
    r = build_receipt(session(), cart, cfg.catalog, currency="EUR")
    assert r.needs_review
    assert [ln.sku for ln in r.lines] == ["MYSTERY"] and r.lines[0].name == "Mystery box"
    assert r.total == 500
    assert any("not in the catalog" in n for n in r.notes)
    assert any("more put back" in n for n in r.notes)
    assert any("currency" in n for n in r.notes)


def test_open_reviews_flag_the_receipt(cfg: StoreConfig) -> None:
    cart = make_cart(cfg, "s-e1", 1, [("COLA-330", 1, ["we-7"])])
    unrelated = ReviewItem("rv-x", int(ReviewKind.UNKNOWN_WEIGHT), session_id="s-other")
    assert not build_receipt(session(), cart, cfg.catalog, currency="EUR",
                             reviews=[unrelated]).needs_review
    by_event = ReviewItem("rv-y", int(ReviewKind.AMBIGUOUS_ASSIGNMENT), event_ids=("we-7",))
    r = build_receipt(session(), cart, cfg.catalog, currency="EUR", reviews=[unrelated, by_event])
    assert r.needs_review and r.review_ids == ("rv-y",)
    by_session = ReviewItem("rv-z", int(ReviewKind.STALE_SENSOR), session_id="s-e1")
    r = build_receipt(session(), cart, cfg.catalog, currency="EUR", reviews=[by_session])
    assert r.review_ids == ("rv-z",)
    anon = build_receipt(session("s-anon-3", "", anonymous=True), None, cfg.catalog,
                         currency="EUR")
    assert anon.needs_review and anon.account_token == ""


def test_bad_inputs(cfg: StoreConfig) -> None:
    still_inside = Session("s-e1", "tok", False, (1,), SessionState.OPEN, 0.0, None, 1.0)
    with pytest.raises(ValueError, match="has not left"):
        build_receipt(still_inside, None, cfg.catalog, currency="EUR")
    with pytest.raises(ValueError, match="cart of s-e2"):
        build_receipt(session(), make_cart(cfg, "s-e2", 1, {}), cfg.catalog, currency="EUR")
