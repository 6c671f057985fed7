"""BillingStore on real SQLite files: permissions, WAL, schema, idempotent writes, recovery."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest
from billing_helpers import make_cart

from smart_store.billing.model import (
    EntryScan,
    ReviewItem,
    ReviewKind,
    Session,
    SessionState,
)
from smart_store.billing.receipts import build_receipt
from smart_store.billing.store import SCHEMA_VERSION, BillingStore, StoreError
from smart_store.config import StoreConfig


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def closing(sid: str = "s-e1", exit_time: float = 50.0) -> Session:
    return Session(session_id=sid, account_token="tok", anonymous=False, track_ids=(1,),
                   state=SessionState.CLOSING, entry_time=1.0, exit_time=exit_time,
                   stamp=exit_time, entry_event_id=sid[2:])


def test_file_is_owner_only_and_wal(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "store.db"
    old = os.umask(0)  # even with a permissive umask
    try:
        with BillingStore(db) as store:
            assert store.journal_mode == "wal"
            store.record_session(closing())  # writes: -wal and -shm exist now
            assert mode(db) == 0o600
            for extra in (Path(f"{db}-wal"), Path(f"{db}-shm")):
                assert extra.exists() and mode(extra) == 0o600
            assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
            assert store.schema_version() == SCHEMA_VERSION == 2
    finally:
        os.umask(old)
    # a file someone loosened is fixed on open
    os.chmod(db, 0o644)
    with BillingStore(db):
        assert mode(db) == 0o600
    # WAL is a property of the file: a plain sqlite3 connection sees it too
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_missing_file_and_newer_schema(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no billing database"):
        BillingStore(tmp_path / "nope.db", create=False)
    assert not (tmp_path / "nope.db").exists()
    db = tmp_path / "store.db"
    with BillingStore(db) as store:
        store.db.execute("INSERT INTO schema_version VALUES (99, 'future')")
    with pytest.raises(StoreError, match="newer"):
        BillingStore(db)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable"):
        BillingStore(junk)


def test_version_1_file_is_upgraded_and_swap_contacts_round_trip(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    with BillingStore(db) as store:  # make it a version-1 file, as the previous release wrote
        store.db.execute("DROP TABLE swap_contacts")
        store.db.execute("DELETE FROM schema_version WHERE version = 2")
        store.record_session(closing())
    with BillingStore(db) as store:
        assert store.schema_version() == 2 and store.count("sessions") == 1
        store.record_swap_contacts([("s-a", "s-b", 5.0, 1, 2, False),
                                    ("s-c", "s-d", 7.0, 3, 4, False)])
        # an earlier contact replaces the pair's row; flagged stays flagged
        store.record_swap_contacts([("s-a", "s-b", 4.0, 1, 2, True)])
        store.record_swap_contacts([("s-a", "s-b", 4.0, 1, 2, False)])
        assert store.swap_contacts(["s-b"]) == [("s-a", "s-b", 4.0, 1, 2, True)]
        assert store.swap_contacts(["s-c", "s-x"]) == [("s-c", "s-d", 7.0, 3, 4, False)]
        assert store.swap_contacts([]) == []


def test_issue_receipt_exactly_once(tmp_path: Path, cfg: StoreConfig) -> None:
    store = BillingStore(tmp_path / "store.db")
    session = closing()
    store.record_session(session)
    cart = make_cart(cfg, "s-e1", 3, {"COLA-330": 2, "GUM-MINT": 1})
    receipt = build_receipt(session, cart, cfg.catalog, currency="EUR")
    assert store.issue_receipt(receipt) is True
    assert store.issue_receipt(receipt) is False
    # a different receipt body for the same session changes nothing either
    other = build_receipt(closing(exit_time=70.0), None, cfg.catalog, currency="EUR")
    assert store.issue_receipt(other) is False
    assert store.count("receipts") == 1 and store.count("receipt_lines") == 2
    assert store.receipt("s-e1") == receipt == store.receipt("r-s-e1")
    assert store.receipts() == [receipt]
    assert store.session("s-e1").state == SessionState.CLOSED  # type: ignore[union-attr]
    # a closed session row is never reopened by a late snapshot
    assert store.record_session(session) is False
    assert store.open_sessions() == []
    store.close()
    # a second process on the same file
    with BillingStore(tmp_path / "store.db") as again:
        assert again.issue_receipt(receipt) is False
        assert again.count("receipts") == 1


def test_receipt_for_a_session_never_recorded(tmp_path: Path, cfg: StoreConfig) -> None:
    with BillingStore(tmp_path / "store.db") as store:
        receipt = build_receipt(closing("s-e5"), None, cfg.catalog, currency="EUR")
        assert store.issue_receipt(receipt)  # the foreign key gets its session row
        assert store.session("s-e5").state == SessionState.CLOSED  # type: ignore[union-attr]


def test_foreign_keys_and_checks_are_enforced(tmp_path: Path) -> None:
    with BillingStore(tmp_path / "store.db") as store:
        with pytest.raises(sqlite3.IntegrityError):
            store.db.execute("INSERT INTO receipt_lines (receipt_id, line_no, sku, name, "
                             "quantity, unit_price, line_total) VALUES ('r-x', 0, 'A', 'a', "
                             "1, 10, 10)")
        indexes = {r["name"] for r in store.db.query(
            "SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"idx_sessions_state", "idx_cart_updates_session", "idx_review_items_session",
                "idx_receipts_exit_time", "idx_receipt_lines_sku"} <= indexes


def test_idempotent_inputs(tmp_path: Path, cfg: StoreConfig) -> None:
    store = BillingStore(tmp_path / "store.db")
    update = {"update_id": "cu-1", "session_id": "s-e1", "track_id": 1, "sku": "COLA-330",
              "quantity_delta": 1, "unit_price": 129, "reason": 0, "confidence": 0.9,
              "event_ids": ["we-1", "re-1"], "stamp": 12.0}
    assert store.record_cart_update(update) is True
    assert store.record_cart_update(update) is False
    (row,) = store.cart_updates("s-e1")
    assert row["event_ids"] == ["we-1", "re-1"] and row["unit_price"] == 129
    review = ReviewItem("rv-1", int(ReviewKind.AMBIGUOUS_ASSIGNMENT), session_id="s-e1",
                        event_ids=("we-1",), confidence=0.4, detail="tie", stamp=12.0)
    assert store.record_review(review) is True
    assert store.record_review(review) is False
    assert store.reviews("s-e1") == [review]
    assert store.open_reviews() == [review]
    assert store.resolve_review("rv-1") and not store.resolve_review("rv-1")
    assert store.open_reviews() == []
    scan = EntryScan("e1", 0.5, "tok", 1, "entry")
    assert store.record_entry_scan(scan) and not store.record_entry_scan(scan)
    assert store.open_entry_scans() == [scan]
    store.finish_entry_scans(["e1"])
    assert store.open_entry_scans() == []
    # carts: only a newer revision replaces the stored one
    assert store.record_cart(make_cart(cfg, "s-e1", 2, {"COLA-330": 2}))
    assert not store.record_cart(make_cart(cfg, "s-e1", 1, {"COLA-330": 1}))
    assert not store.record_cart(make_cart(cfg, "s-e1", 2, {"COLA-330": 5}))
    assert store.cart("s-e1").revision == 2  # type: ignore[union-attr]
    assert store.record_cart(make_cart(cfg, "s-e1", 3, {"COLA-330": 3}))
    assert store.open_carts()["s-e1"].lines[0].quantity == 3
    store.close()


def test_recovery_queries_skip_billed_sessions(tmp_path: Path, cfg: StoreConfig) -> None:
    with BillingStore(tmp_path / "store.db") as store:
        for sid in ("s-e1", "s-e2"):
            store.record_session(closing(sid))
            store.record_cart(make_cart(cfg, sid, 1, {"GUM-MINT": 1}))
            store.record_review(ReviewItem(f"rv-{sid}", 255, session_id=sid))
        store.record_review(ReviewItem("rv-free", 1))  # no session
        store.issue_receipt(build_receipt(closing("s-e1"), store.cart("s-e1"), cfg.catalog,
                                          currency="EUR"))
        assert [s.session_id for s in store.open_sessions()] == ["s-e2"]
        assert list(store.open_carts()) == ["s-e2"]
        assert {r.review_id for r in store.open_reviews()} == {"rv-s-e2", "rv-free"}
        assert store.has_receipt("s-e1") and not store.has_receipt("s-e2")
        assert store.receipt("s-e2") is None
