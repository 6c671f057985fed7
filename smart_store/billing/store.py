"""Durable billing state in one SQLite file (via sqlite-utils): the source of truth for receipts.

Guarantees:

* **Exactly one receipt per session.** ``receipts.session_id`` is UNIQUE and
  :meth:`BillingStore.issue_receipt` writes the receipt and its lines in one ``BEGIN IMMEDIATE``
  transaction with ``INSERT OR IGNORE``: a restart, a replayed bag or a repeated exit returns
  ``False`` and changes nothing.
* **Idempotent inputs.** Cart updates (by ``update_id``), review items (by ``review_id``) and
  entry scans (by ``event_id``) are recorded once; a cart is only replaced by a higher revision;
  a session row never leaves ``CLOSED``.
* **Crash recovery.** :meth:`open_sessions`, :meth:`open_carts`, :meth:`open_reviews`,
  :meth:`open_entry_scans` and :meth:`open_newborns` return what a restarted billing stage
  needs to carry on.
* **Privacy and durability.** The file is created owner-only (mode 0600, before SQLite opens
  it) and its mode is checked and fixed on every open (SQLite gives its ``-wal``/``-shm`` files
  the same mode); the journal is WAL (readers such as ``./smart-store receipts`` never block the
  writer) with ``synchronous=FULL``; foreign keys are enforced. Tokens are opaque: no personal
  data is stored.

Tables (schema version 2; ``schema_version`` records applied migrations; a version-1 file
is upgraded in place on open):

* ``sessions``      session_id PK, account_token, anonymous, state, entry/exit time, stamp,
  gate_id, entry_event_id, expected_tracks, track_ids / exited_track_ids / lost_track_ids (JSON)
* ``entry_scans``   event_id PK, t, account_token, companions, gate_id, finished
* ``newborn_tracks`` track_id PK, born, zone, placed: tracks born in an entry zone that wait
  for a late scan (a few seconds), so a restart does not lose them
* ``swap_contacts`` (session_a, session_b) PK, t, track_a, track_b, flagged (version 2):
  possible identity swaps between two sessions' tracks (``sessions.SessionBinder``), the
  earliest per pair; ``flagged`` once both went to review
* ``cart_updates``  update_id PK, session_id, track_id, sku, quantity_delta, unit_price, reason,
  confidence, event_ids (JSON), stamp
* ``carts``         session_id PK, revision, total, currency, stamp, cart (JSON of the latest)
* ``review_items``  review_id PK, kind, session_id, shelf/lane/sku, event_ids (JSON), confidence,
  detail, stamp, status (open | resolved)
* ``receipts``      receipt_id PK, session_id UNIQUE -> sessions, token, subtotal, tax, total,
  currency, entry/exit time, track_ids, needs_review, review_ids, notes, issued_at (wall
  clock) and issued_stamp (the node clock, i.e. sim time under replay: receipt latency)
* ``receipt_lines`` (receipt_id -> receipts, line_no) PK, sku, name, quantity, unit_price,
  line_total (CHECK = quantity * unit_price), event_ids, confidence

``cart_updates``, ``carts`` and ``review_items`` reference sessions by id without a foreign key:
they arrive on other topics and may legitimately precede the session (or, for reviews, have
none). Money columns are INTEGER minor units.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from smart_store.billing.model import (
    CartLike,
    CartSnapshot,
    EntryScan,
    Receipt,
    ReceiptLine,
    ReviewItem,
    Session,
    SessionState,
    SwapContact,
    cart_from_json,
    cart_to_json,
    cart_update_record,
    review_from,
    snapshot_cart,
)

__all__ = ["DB_MODE", "SCHEMA_VERSION", "BillingStore", "StoreError"]

#: Permission bits of the database file (and its -wal / -shm companions): owner only.
DB_MODE = 0o600

_CLOSED = int(SessionState.CLOSED)

_MIGRATIONS: tuple[tuple[int, str], ...] = (
    (1, """
CREATE TABLE sessions (
    session_id       TEXT PRIMARY KEY,
    account_token    TEXT NOT NULL DEFAULT '',
    anonymous        INTEGER NOT NULL DEFAULT 0,
    state            INTEGER NOT NULL DEFAULT 0 CHECK (state IN (0, 1, 2)),
    entry_time       REAL NOT NULL,
    exit_time        REAL,
    stamp            REAL NOT NULL,
    gate_id          TEXT NOT NULL DEFAULT '',
    entry_event_id   TEXT NOT NULL DEFAULT '',
    expected_tracks  INTEGER NOT NULL DEFAULT 1,
    track_ids        TEXT NOT NULL DEFAULT '[]',
    exited_track_ids TEXT NOT NULL DEFAULT '[]',
    lost_track_ids   TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX idx_sessions_state ON sessions (state);
CREATE TABLE entry_scans (
    event_id       TEXT PRIMARY KEY,
    t              REAL NOT NULL,
    account_token  TEXT NOT NULL DEFAULT '',
    companions     INTEGER NOT NULL DEFAULT 0 CHECK (companions >= 0),
    gate_id        TEXT NOT NULL DEFAULT '',
    finished       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX idx_entry_scans_finished ON entry_scans (finished);
CREATE TABLE newborn_tracks (
    track_id INTEGER PRIMARY KEY,
    born     REAL NOT NULL,
    zone     TEXT NOT NULL DEFAULT '',
    placed   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX idx_newborn_tracks_placed ON newborn_tracks (placed);
CREATE TABLE cart_updates (
    update_id      TEXT PRIMARY KEY,
    session_id     TEXT NOT NULL,
    track_id       INTEGER NOT NULL DEFAULT 0,
    sku            TEXT NOT NULL DEFAULT '',
    quantity_delta INTEGER NOT NULL DEFAULT 0,
    unit_price     INTEGER NOT NULL DEFAULT 0,
    reason         INTEGER NOT NULL DEFAULT 0,
    confidence     REAL NOT NULL DEFAULT 0,
    event_ids      TEXT NOT NULL DEFAULT '[]',
    stamp          REAL NOT NULL DEFAULT 0
);
CREATE INDEX idx_cart_updates_session ON cart_updates (session_id, stamp);
CREATE TABLE carts (
    session_id TEXT PRIMARY KEY,
    revision   INTEGER NOT NULL,
    total      INTEGER NOT NULL,
    currency   TEXT NOT NULL DEFAULT '',
    stamp      REAL NOT NULL DEFAULT 0,
    cart       TEXT NOT NULL
);
CREATE TABLE review_items (
    review_id  TEXT PRIMARY KEY,
    kind       INTEGER NOT NULL,
    session_id TEXT NOT NULL DEFAULT '',
    shelf_id   TEXT NOT NULL DEFAULT '',
    lane_id    TEXT NOT NULL DEFAULT '',
    sku        TEXT NOT NULL DEFAULT '',
    event_ids  TEXT NOT NULL DEFAULT '[]',
    confidence REAL NOT NULL DEFAULT 0,
    detail     TEXT NOT NULL DEFAULT '',
    stamp      REAL NOT NULL DEFAULT 0,
    status     TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved'))
);
CREATE INDEX idx_review_items_session ON review_items (session_id, status);
CREATE TABLE receipts (
    receipt_id    TEXT PRIMARY KEY,
    session_id    TEXT NOT NULL UNIQUE REFERENCES sessions (session_id),
    account_token TEXT NOT NULL DEFAULT '',
    subtotal      INTEGER NOT NULL CHECK (subtotal >= 0),
    tax           INTEGER NOT NULL CHECK (tax >= 0),
    total         INTEGER NOT NULL CHECK (total >= 0),
    currency      TEXT NOT NULL,
    entry_time    REAL NOT NULL,
    exit_time     REAL NOT NULL,
    track_ids     TEXT NOT NULL DEFAULT '[]',
    needs_review  INTEGER NOT NULL DEFAULT 0,
    review_ids    TEXT NOT NULL DEFAULT '[]',
    notes         TEXT NOT NULL DEFAULT '[]',
    issued_at     TEXT NOT NULL,
    issued_stamp  REAL NOT NULL DEFAULT 0
);
CREATE INDEX idx_receipts_exit_time ON receipts (exit_time);
CREATE TABLE receipt_lines (
    receipt_id TEXT NOT NULL REFERENCES receipts (receipt_id) ON DELETE CASCADE,
    line_no    INTEGER NOT NULL,
    sku        TEXT NOT NULL,
    name       TEXT NOT NULL,
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    unit_price INTEGER NOT NULL,
    line_total INTEGER NOT NULL,
    event_ids  TEXT NOT NULL DEFAULT '[]',
    confidence REAL NOT NULL DEFAULT 1,
    PRIMARY KEY (receipt_id, line_no),
    CHECK (line_total = quantity * unit_price)
);
CREATE INDEX idx_receipt_lines_sku ON receipt_lines (sku);
"""),
    (2, """
CREATE TABLE swap_contacts (
    session_a TEXT NOT NULL,
    session_b TEXT NOT NULL,
    t         REAL NOT NULL,
    track_a   INTEGER NOT NULL,
    track_b   INTEGER NOT NULL,
    flagged   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (session_a, session_b),
    CHECK (session_a < session_b)
);
"""),
)

#: The schema version this code writes.
SCHEMA_VERSION = _MIGRATIONS[-1][0]


class StoreError(Exception):
    """The billing database cannot be used (missing, or from a newer version of the code)."""


def _secure_file(path: Path) -> None:
    """Force owner-only permissions on an existing file (no-op if it does not exist)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return
    if mode != DB_MODE:
        os.chmod(path, DB_MODE)


def _prepare_file(path: Path, create: bool) -> None:
    """Create the database file owner-only *before* SQLite opens it; fix the mode of old ones."""
    if not path.exists():
        if not create:
            raise StoreError(f"{path}: no billing database here")
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # lost a race: checked below
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, DB_MODE))
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        _secure_file(p)


def _ids(text: str | None) -> list[Any]:
    return list(json.loads(text)) if text else []


class BillingStore:
    """The billing database at ``path`` (created owner-only unless ``create=False``)."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True,
                 busy_timeout_ms: int = 5000) -> None:
        self.path = Path(path)
        _prepare_file(self.path, create)
        self.db = sqlite_utils.Database(self.path)
        try:
            self.db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            self.db.enable_wal()
            self.db.execute("PRAGMA synchronous = FULL")
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as err:
            self.db.close()
            raise StoreError(f"{self.path}: not a usable billing database ({err})") from err
        except BaseException:
            self.db.close()
            raise
        for p in (Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
            _secure_file(p)

    # ---------------------------------------------------------------------------- plumbing
    def close(self) -> None:
        """Close the connection (idempotent)."""
        with contextlib.suppress(sqlite3.ProgrammingError):
            self.db.close()

    def __enter__(self) -> BillingStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def journal_mode(self) -> str:
        """SQLite journal mode (``wal``)."""
        return str(self.db.journal_mode)

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taking the write lock up front (``BEGIN IMMEDIATE``)."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()

    def _migrate(self) -> None:
        self.db.execute("CREATE TABLE IF NOT EXISTS schema_version ("
                        "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
        with self._tx() as conn:
            current = self._version(conn)
            if current > SCHEMA_VERSION:
                raise StoreError(f"{self.path}: schema version {current} is newer than this "
                                 f"code's {SCHEMA_VERSION}; upgrade smart_store")
            for version, script in _MIGRATIONS:
                if version <= current:
                    continue
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                             (version, _now_iso()))

    @staticmethod
    def _version(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def schema_version(self) -> int:
        """The highest applied migration."""
        return self._version(self.db.conn)

    # ---------------------------------------------------------------------------- sessions
    def record_session(self, session: Session) -> bool:
        """Insert or update a session; a CLOSED row is never changed. True if written."""
        row = _session_row(session)
        cols = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        updates = ", ".join(f"{k} = excluded.{k}" for k in row if k != "session_id")
        with self._tx() as conn:
            cur = conn.execute(
                f"INSERT INTO sessions ({cols}) VALUES ({marks}) ON CONFLICT (session_id) "
                f"DO UPDATE SET {updates} WHERE sessions.state != {_CLOSED}", row)
            return cur.rowcount > 0

    def session(self, session_id: str) -> Session | None:
        """A stored session by id."""
        rows = list(self.db["sessions"].rows_where("session_id = ?", [session_id]))
        return _session_from_row(rows[0]) if rows else None

    def open_sessions(self) -> list[Session]:
        """Sessions without a final receipt (OPEN or CLOSING), by entry time."""
        rows = self.db["sessions"].rows_where(f"state != {_CLOSED}",
                                              order_by="entry_time, session_id")
        return [_session_from_row(r) for r in rows]

    def closed_track_ids(self, limit: int = 1000) -> set[int]:
        """Track ids of the ``limit`` most recently closed sessions: a restarted billing stage
        may see their last frames again (events are kept for late joiners) and must not take
        them for newborn shoppers."""
        rows = self.db.execute(
            f"SELECT track_ids FROM sessions WHERE state = {_CLOSED} "
            "ORDER BY COALESCE(exit_time, stamp) DESC LIMIT ?", (int(limit),)).fetchall()
        return {int(t) for (ids,) in rows for t in json.loads(ids or '[]')}

    # ---------------------------------------------------------------------------- entry scans
    def record_entry_scan(self, scan: EntryScan) -> bool:
        """Record an entry scan once (by event id). True if new."""
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO entry_scans (event_id, t, account_token, companions, "
                "gate_id) VALUES (?, ?, ?, ?, ?)",
                (scan.event_id, scan.t, scan.token, scan.companions, scan.gate_id))
            return cur.rowcount > 0

    def finish_entry_scans(self, event_ids: Iterable[str]) -> None:
        """Scans that wait for no more tracks (full or expired)."""
        ids = [(e,) for e in event_ids]
        if ids:
            with self._tx() as conn:
                conn.executemany("UPDATE entry_scans SET finished = 1 WHERE event_id = ?", ids)

    def open_entry_scans(self) -> list[EntryScan]:
        """Scans still waiting for tracks, oldest first."""
        rows = self.db["entry_scans"].rows_where("finished = 0", order_by="t, event_id")
        return [EntryScan(event_id=r["event_id"], t=r["t"], token=r["account_token"],
                          companions=r["companions"], gate_id=r["gate_id"]) for r in rows]

    # ---------------------------------------------------------------------------- newborns
    def record_newborns(self, newborns: Iterable[tuple[int, float, str]]) -> None:
        """Tracks born in an entry zone now waiting for a scan ``(track_id, born, zone)``."""
        rows = [(int(t), float(b), z) for t, b, z in newborns]
        if rows:
            with self._tx() as conn:
                conn.executemany("INSERT OR IGNORE INTO newborn_tracks (track_id, born, zone) "
                                 "VALUES (?, ?, ?)", rows)

    def place_newborns(self, track_ids: Iterable[int]) -> None:
        """Newborn tracks that stopped waiting (bound to a scan or made anonymous)."""
        rows = [(int(t),) for t in track_ids]
        if rows:
            with self._tx() as conn:
                conn.executemany("UPDATE newborn_tracks SET placed = 1 WHERE track_id = ?", rows)

    def open_newborns(self) -> list[tuple[int, float, str]]:
        """Newborn tracks still waiting for a scan, oldest first."""
        rows = self.db["newborn_tracks"].rows_where("placed = 0", order_by="born, track_id")
        return [(int(r["track_id"]), float(r["born"]), str(r["zone"])) for r in rows]

    # ---------------------------------------------------------------------------- swaps
    def record_swap_contacts(
            self, contacts: Iterable[SwapContact]) -> None:
        """Possible identity swaps ``(session_a, session_b, t, track_a, track_b, flagged)``:
        a pair's row is replaced (an earlier contact, or the pair sent to review); a flagged
        pair stays flagged."""
        rows = [(str(a), str(b), float(t), int(ta), int(tb), int(bool(f)))
                for a, b, t, ta, tb, f in contacts]
        if rows:
            with self._tx() as conn:
                conn.executemany(
                    "INSERT INTO swap_contacts (session_a, session_b, t, track_a, track_b, "
                    "flagged) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (session_a, session_b) DO "
                    "UPDATE SET t = excluded.t, track_a = excluded.track_a, "
                    "track_b = excluded.track_b, flagged = MAX(flagged, excluded.flagged)", rows)

    def swap_contacts(self, session_ids: Iterable[str]) -> list[SwapContact]:
        """Stored contacts involving any of ``session_ids`` (the open sessions)."""
        ids = sorted(set(session_ids))
        out: list[SwapContact] = []
        for k in range(0, len(ids), 400):  # SQLite's bound-parameter limit
            chunk = ids[k:k + 400]
            marks = ", ".join("?" * len(chunk))
            for r in self.db.conn.execute(
                    f"SELECT session_a, session_b, t, track_a, track_b, flagged FROM "
                    f"swap_contacts WHERE session_a IN ({marks}) OR session_b IN ({marks})",
                    chunk + chunk):
                out.append((str(r[0]), str(r[1]), float(r[2]), int(r[3]), int(r[4]),
                            bool(r[5])))
        return sorted(set(out))

    # ---------------------------------------------------------------------------- carts
    def record_cart_update(self, update: Any) -> bool:
        """Record a cart update once (by ``update_id``). True if new."""
        rec = cart_update_record(update)
        rec["event_ids"] = json.dumps(rec["event_ids"])
        cols = ", ".join(rec)
        marks = ", ".join(f":{k}" for k in rec)
        with self._tx() as conn:
            cur = conn.execute(f"INSERT OR IGNORE INTO cart_updates ({cols}) VALUES ({marks})",
                               rec)
            return cur.rowcount > 0

    def cart_updates(self, session_id: str) -> list[dict[str, Any]]:
        """A session's cart updates in time order (``event_ids`` decoded)."""
        rows = self.db["cart_updates"].rows_where("session_id = ?", [session_id],
                                                  order_by="stamp, update_id")
        return [{**r, "event_ids": _ids(r["event_ids"])} for r in rows]

    def record_cart(self, cart: CartLike) -> bool:
        """Keep the latest revision of a session's cart. True if stored (a newer revision)."""
        snap = snapshot_cart(cart)
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT INTO carts (session_id, revision, total, currency, stamp, cart) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (session_id) DO UPDATE SET "
                "revision = excluded.revision, total = excluded.total, "
                "currency = excluded.currency, stamp = excluded.stamp, cart = excluded.cart "
                "WHERE excluded.revision > carts.revision",
                (snap.session_id, snap.revision, snap.total, snap.currency, snap.stamp,
                 cart_to_json(snap)))
            return cur.rowcount > 0

    def cart(self, session_id: str) -> CartSnapshot | None:
        """The latest stored cart of a session."""
        rows = list(self.db["carts"].rows_where("session_id = ?", [session_id]))
        return cart_from_json(rows[0]["cart"]) if rows else None

    def open_carts(self) -> dict[str, CartSnapshot]:
        """Latest carts of sessions without a receipt, by session id."""
        rows = self.db.query(
            "SELECT c.cart FROM carts c LEFT JOIN receipts r ON r.session_id = c.session_id "
            "WHERE r.receipt_id IS NULL ORDER BY c.session_id")
        carts = (cart_from_json(r["cart"]) for r in rows)
        return {c.session_id: c for c in carts}

    # ---------------------------------------------------------------------------- reviews
    def record_review(self, review: Any) -> bool:
        """Record a review item once (by ``review_id``). True if new."""
        r = review_from(review)
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO review_items (review_id, kind, session_id, shelf_id, "
                "lane_id, sku, event_ids, confidence, detail, stamp) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (r.review_id, r.kind, r.session_id, r.shelf_id, r.lane_id, r.sku,
                 json.dumps(list(r.event_ids)), r.confidence, r.detail, r.stamp))
            return cur.rowcount > 0

    def resolve_review(self, review_id: str) -> bool:
        """Staff closed a review item. True if it was open."""
        with self._tx() as conn:
            cur = conn.execute("UPDATE review_items SET status = 'resolved' "
                               "WHERE review_id = ? AND status = 'open'", (review_id,))
            return cur.rowcount > 0

    def reviews(self, session_id: str | None = None, *, open_only: bool = False
                ) -> list[ReviewItem]:
        """Review items (of one session if given), in time order."""
        where, args = [], []
        if session_id is not None:
            where.append("session_id = ?")
            args.append(session_id)
        if open_only:
            where.append("status = 'open'")
        rows = self.db["review_items"].rows_where(" AND ".join(where) or None, args,
                                                  order_by="stamp, review_id")
        return [_review_from_row(r) for r in rows]

    def open_reviews(self) -> list[ReviewItem]:
        """Open review items that can still affect a receipt: sessionless ones and those of
        sessions without a receipt."""
        rows = self.db.query(
            "SELECT v.* FROM review_items v LEFT JOIN receipts r ON r.session_id = v.session_id "
            "WHERE v.status = 'open' AND r.receipt_id IS NULL ORDER BY v.stamp, v.review_id")
        return [_review_from_row(r) for r in rows]

    # ---------------------------------------------------------------------------- receipts
    def issue_receipt(self, receipt: Receipt, issued_stamp: float = 0.0) -> bool:
        """Store a final receipt and close its session, atomically, at most once per session.

        ``issued_stamp``: the node-clock time of issue (s), from which receipt latency after
        the exit is measured.

        Returns False (and changes nothing) if the session or receipt id already has one.
        """
        with self._tx() as conn:
            dup = conn.execute("SELECT 1 FROM receipts WHERE session_id = ? OR receipt_id = ?",
                               (receipt.session_id, receipt.receipt_id)).fetchone()
            if dup is not None:
                return False
            # the foreign key needs the session row; a receipt carries what it needs
            conn.execute(
                "INSERT OR IGNORE INTO sessions (session_id, account_token, anonymous, state, "
                "entry_time, exit_time, stamp, track_ids) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (receipt.session_id, receipt.account_token, int(not receipt.account_token),
                 _CLOSED, receipt.entry_time, receipt.exit_time, receipt.exit_time,
                 json.dumps(list(receipt.track_ids))))
            cur = conn.execute(
                "INSERT OR IGNORE INTO receipts (receipt_id, session_id, account_token, subtotal, "
                "tax, total, currency, entry_time, exit_time, track_ids, needs_review, "
                "review_ids, notes, issued_at, issued_stamp) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (receipt.receipt_id, receipt.session_id, receipt.account_token,
                 receipt.subtotal, receipt.tax, receipt.total, receipt.currency,
                 receipt.entry_time, receipt.exit_time, json.dumps(list(receipt.track_ids)),
                 int(receipt.needs_review), json.dumps(list(receipt.review_ids)),
                 json.dumps(list(receipt.notes)), _now_iso(), float(issued_stamp)))
            if cur.rowcount == 0:  # pragma: no cover - excluded by the check above
                return False
            conn.executemany(
                "INSERT INTO receipt_lines (receipt_id, line_no, sku, name, quantity, "
                "unit_price, line_total, event_ids, confidence) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(receipt.receipt_id, i, ln.sku, ln.name, ln.quantity, ln.unit_price,
                  ln.line_total, json.dumps(list(ln.event_ids)), ln.confidence)
                 for i, ln in enumerate(receipt.lines)])
            conn.execute(
                "UPDATE sessions SET state = ?, exit_time = ?, stamp = MAX(stamp, ?) "
                "WHERE session_id = ?",
                (_CLOSED, receipt.exit_time, receipt.exit_time, receipt.session_id))
            return True

    def has_receipt(self, session_id: str) -> bool:
        """Whether the session was billed."""
        return self.db.execute("SELECT 1 FROM receipts WHERE session_id = ?",
                               (session_id,)).fetchone() is not None

    def receipts(self, limit: int | None = 20) -> list[Receipt]:
        """The most recently issued receipts first (all of them if ``limit`` is None)."""
        sql = "SELECT * FROM receipts ORDER BY rowid DESC"
        args: list[Any] = []
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return [self._receipt_from_row(r) for r in self.db.query(sql, args)]

    def receipt(self, key: str) -> Receipt | None:
        """A receipt by receipt id or session id."""
        rows = list(self.db.query("SELECT * FROM receipts WHERE receipt_id = ? OR session_id = ?",
                                  [key, key]))
        return self._receipt_from_row(rows[0]) if rows else None

    def count(self, table: str) -> int:
        """Rows in one of the billing tables (diagnostics, tests)."""
        return int(self.db[table].count)

    def _receipt_from_row(self, r: dict[str, Any]) -> Receipt:
        lines = self.db["receipt_lines"].rows_where("receipt_id = ?", [r["receipt_id"]],
                                                    order_by="line_no")
        return Receipt(
            receipt_id=r["receipt_id"],
            session_id=r["session_id"],
            account_token=r["account_token"],
            lines=tuple(ReceiptLine(sku=ln["sku"], name=ln["name"], quantity=ln["quantity"],
                                    unit_price=ln["unit_price"], line_total=ln["line_total"],
                                    event_ids=tuple(_ids(ln["event_ids"])),
                                    confidence=ln["confidence"]) for ln in lines),
            subtotal=r["subtotal"],
            tax=r["tax"],
            total=r["total"],
            currency=r["currency"],
            entry_time=r["entry_time"],
            exit_time=r["exit_time"],
            track_ids=tuple(int(t) for t in _ids(r["track_ids"])),
            needs_review=bool(r["needs_review"]),
            review_ids=tuple(_ids(r["review_ids"])),
            notes=tuple(_ids(r["notes"])),
        )


# ------------------------------------------------------------------------------ rows
def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _session_row(s: Session) -> dict[str, Any]:
    return {
        "session_id": s.session_id,
        "account_token": s.account_token,
        "anonymous": int(s.anonymous),
        "state": int(s.state),
        "entry_time": s.entry_time,
        "exit_time": s.exit_time,
        "stamp": s.stamp,
        "gate_id": s.gate_id,
        "entry_event_id": s.entry_event_id,
        "expected_tracks": s.expected_tracks,
        "track_ids": json.dumps(list(s.track_ids)),
        "exited_track_ids": json.dumps(list(s.exited_track_ids)),
        "lost_track_ids": json.dumps(list(s.lost_track_ids)),
    }


def _session_from_row(r: dict[str, Any]) -> Session:
    return Session.from_dict({
        **r,
        "track_ids": _ids(r["track_ids"]),
        "exited_track_ids": _ids(r["exited_track_ids"]),
        "lost_track_ids": _ids(r["lost_track_ids"]),
    })


def _review_from_row(r: dict[str, Any]) -> ReviewItem:
    return ReviewItem(review_id=r["review_id"], kind=r["kind"], session_id=r["session_id"],
                      shelf_id=r["shelf_id"], lane_id=r["lane_id"], sku=r["sku"],
                      event_ids=tuple(_ids(r["event_ids"])), confidence=r["confidence"],
                      detail=r["detail"], stamp=r["stamp"])
