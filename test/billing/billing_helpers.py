"""Billing test helpers: arbiter-shaped carts and a scripted walk-through.

The scripts drive the real SessionBinder / BillingLogic / BillingStore (SQLite in tmp_path)
frame by frame, the way the billing node would: scans, track frame sets, carts, then a tick.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smart_store.billing.billing import BillingLogic
from smart_store.billing.model import Receipt
from smart_store.billing.store import BillingStore
from smart_store.config import StoreConfig

ENTRY_XY = (1.1, 0.5)  # inside the demo store's entry zone
AISLE_XY = (1.5, 4.0)  # aisle 1
EXIT_XY = (4.9, 0.5)  # inside the exit zone
DT = 0.5


@dataclass(frozen=True)
class CartLine:
    """Shaped like the arbiter's CartLine (msg/CartLine.msg)."""

    sku: str
    name: str
    quantity: int
    unit_price: int
    line_total: int
    event_ids: list[str] = field(default_factory=list)
    confidence: float = 1.0


@dataclass(frozen=True)
class Cart:
    """Shaped like the arbiter's Cart (per-session dataclass)."""

    session_id: str
    revision: int
    lines: list[CartLine]
    total: int
    currency: str = "EUR"


def make_cart(cfg: StoreConfig, session_id: str, revision: int,
              items: dict[str, int] | list[tuple[str, int, list[str]]]) -> Cart:
    """A cart priced from the catalog: ``{sku: qty}`` or ``[(sku, qty, event_ids)]``."""
    entries = [(s, q, [f"we-{s}-{revision}"]) for s, q in items.items()] \
        if isinstance(items, dict) else items
    lines = []
    for sku, qty, events in entries:
        p = cfg.catalog[sku]
        lines.append(CartLine(sku, p.name, qty, p.price, qty * p.price, list(events), 0.9))
    return Cart(session_id, revision, lines, sum(ln.line_total for ln in lines))


@dataclass(frozen=True)
class Person:
    """One track: first seen at ``born`` (tentative for one frame, in the entry zone unless
    ``start`` says otherwise), walks into the aisle, and at ``leave`` shows up once in the exit
    zone with state ``exited`` (``exit_frames`` times, to test repeated exits). ``vanish``:
    never seen again from then on (lost)."""

    track_id: int
    born: float
    leave: float | None = None
    start: tuple[float, float] = ENTRY_XY
    exit_frames: int = 1
    vanish: float | None = None


def frame(people: list[Person], t: float) -> list[tuple[int, float, float, str]]:
    """The track frame set at time ``t``."""
    out = []
    for p in people:
        if t < p.born - 1e-9 or (p.vanish is not None and t >= p.vanish - 1e-9):
            continue
        if p.leave is not None and t >= p.leave - 1e-9:
            if t < p.leave + p.exit_frames * DT - 1e-9:
                out.append((p.track_id, *EXIT_XY, "exited"))
            continue
        age = t - p.born
        if age < DT - 1e-9:
            out.append((p.track_id, *p.start, "tentative"))
        elif age < 1.0:
            out.append((p.track_id, *p.start, "confirmed"))
        else:
            out.append((p.track_id, *AISLE_XY, "confirmed"))
    return out


@dataclass
class Script:
    """A run: scans ``(arrive_t, stamp, event_id, token, companions)``, carts ``(t, cart)``,
    people; ``crash_at`` times rebuild store and logic from the database file."""

    people: list[Person]
    scans: list[tuple[float, float, str, str, int]] = field(default_factory=list)
    carts: list[tuple[float, Any]] = field(default_factory=list)
    t_end: float = 60.0
    pending: Callable[[str, float], bool] | None = None


@dataclass
class Run:
    receipts: list[tuple[float, Receipt]]
    logic: BillingLogic
    store: BillingStore


def _pending(fn: Callable[[str, float], bool] | None, t: float, session_id: str) -> bool:
    return bool(fn and fn(session_id, t))


def run_script(cfg: StoreConfig, db: Path, script: Script, *, crash_at: tuple[float, ...] = (),
               settle_timeout: float = 2.0) -> Run:
    """Play ``script`` against a BillingLogic on ``db``; returns (issue time, receipt) pairs."""
    store = BillingStore(db)
    logic = BillingLogic(cfg, store, settle_timeout=settle_timeout)
    issued: list[tuple[float, Receipt]] = []
    crashes = sorted(crash_at)
    steps = round(script.t_end / DT)
    for k in range(steps + 1):
        t = k * DT
        if crashes and t >= crashes[0] - 1e-9:
            crashes.pop(0)
            store.close()  # the process dies: only the database survives
            store = BillingStore(db)
            logic = BillingLogic(cfg, store, settle_timeout=settle_timeout)
        for arrive, stamp, event_id, token, companions in script.scans:
            if t - DT < arrive <= t + 1e-9:
                logic.on_entry(stamp, event_id, token, companions, "entry")
        logic.on_tracks(t, frame(script.people, t))
        for when, cart in script.carts:
            if t - DT < when <= t + 1e-9:
                logic.on_cart(cart)
        receipts = logic.tick(t, functools.partial(_pending, script.pending, t))
        issued.extend((t, r) for r in receipts)
    return Run(issued, logic, store)


def shop_then_crash(cfg: StoreConfig, db: Path, t0: float = 0.0,
                    cart: dict[str, int] | None = None) -> None:
    """A billing process on ``db`` that crashes while session s-e1 shops: scan at ``t0``,
    track 1 at the gate (``t0`` + 0.5, 1.0 s) then in the aisle (1.5, 2.0 s); revision 1 of
    its cart (``cart``, if given) stored."""
    before = BillingLogic(cfg, BillingStore(db))
    before.on_entry(t0, "e1", "tok", 0, "entry")
    for i, xy in enumerate((ENTRY_XY, ENTRY_XY, AISLE_XY, AISLE_XY)):
        before.on_tracks(t0 + 0.5 * (i + 1), [(1, *xy, "confirmed")])
    if cart is not None:
        before.on_cart(make_cart(cfg, "s-e1", 1, cart))
    before.store.close()
