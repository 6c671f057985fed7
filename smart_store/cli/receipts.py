"""``./smart-store receipts``: show the receipts in a billing database.

    ./smart-store receipts                      latest 20 receipts as a table (out/store.db)
    ./smart-store receipts --session s-e1       one receipt with its lines (session or receipt id)
    ./smart-store receipts --json --limit 0     every receipt as a JSON list

``--json`` prints a list of receipts (newest first), or one object with ``--session``; money is
integer minor units there, formatted with the currency's decimals in the table. The database is
opened read-mostly: it is never created here (a missing file is an error, exit 2; an unknown
session exits 1).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smart_store.billing.model import Receipt
from smart_store.billing.store import BillingStore, StoreError

DEFAULT_DB = Path("out/store.db")

#: ISO 4217 currencies whose minor unit is not 1/100.
_DECIMALS = {"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
             "PYG": 0, "RWF": 0, "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
             "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3}


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help='show the receipts in a billing database')
    p.add_argument('--db', type=Path, default=DEFAULT_DB,
                   help=f'billing database (default: {DEFAULT_DB})')
    p.add_argument('--json', action='store_true', help='print JSON instead of a table')
    p.add_argument('--session', default=None, metavar='ID',
                   help='only this receipt (session id or receipt id), with its lines')
    p.add_argument('--limit', type=int, default=20, metavar='N',
                   help='newest N receipts (0 = all; default 20)')
    p.set_defaults(run=run)


def money(amount: int, currency: str) -> str:
    """``1234, 'EUR' -> '12.34 EUR'`` (minor units with the currency's decimals)."""
    decimals = _DECIMALS.get(currency, 2)
    sign = '-' if amount < 0 else ''
    whole, frac = divmod(abs(int(amount)), 10 ** decimals)
    text = f'{whole}.{frac:0{decimals}d}' if decimals else str(whole)
    return f'{sign}{text} {currency}'


def _time(t: float) -> str:
    """Wall-clock stamps as UTC, sim-time stamps (small) as seconds."""
    if t >= 1e9:
        return datetime.fromtimestamp(t, UTC).strftime('%Y-%m-%d %H:%M:%S')
    return f'{t:.1f} s'


def _table(rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        out.append('  '.join(cells).rstrip())
    return '\n'.join(out)


def _token(token: str) -> str:
    if not token:
        return '(anonymous)'
    return token if len(token) <= 12 else token[:11] + '…'


def format_receipts(receipts: list[Receipt]) -> str:
    """The summary table of several receipts."""
    rows = [['RECEIPT', 'SESSION', 'PAYER', 'ENTRY', 'EXIT', 'ITEMS', 'TOTAL', 'REVIEW']]
    for r in receipts:
        rows.append([r.receipt_id, r.session_id, _token(r.account_token), _time(r.entry_time),
                     _time(r.exit_time), str(sum(ln.quantity for ln in r.lines)),
                     money(r.total, r.currency), 'yes' if r.needs_review else ''])
    return _table(rows, right={5, 6})


def format_receipt(r: Receipt) -> str:
    """One receipt with its lines."""
    head = [
        f'receipt {r.receipt_id}  session {r.session_id}  payer {_token(r.account_token)}',
        f'entered {_time(r.entry_time)}  left {_time(r.exit_time)}  tracks '
        f'{", ".join(str(t) for t in r.track_ids) or "-"}',
        '',
    ]
    rows = [['SKU', 'NAME', 'QTY', 'UNIT', 'TOTAL', 'EVENTS']]
    for ln in r.lines:
        rows.append([ln.sku, ln.name, str(ln.quantity), money(ln.unit_price, r.currency),
                     money(ln.line_total, r.currency), ', '.join(ln.event_ids)])
    foot = [
        '',
        f'subtotal {money(r.subtotal, r.currency)}   tax incl. {money(r.tax, r.currency)}   '
        f'total {money(r.total, r.currency)}',
    ]
    if r.needs_review:
        why = list(r.review_ids) + list(r.notes)
        foot.append(f'NEEDS REVIEW: {"; ".join(why) or "yes"}')
    lines = _table(rows, right={2, 3, 4}) if r.lines else '(no items)'
    return '\n'.join([*head, lines, *foot])


def run(args: argparse.Namespace) -> int:
    try:
        store = BillingStore(args.db, create=False)
    except StoreError as err:
        print(f'smart-store receipts: {err}', file=sys.stderr)
        return 2
    with store:
        if args.session:
            receipt = store.receipt(args.session)
            if receipt is None:
                print(f'smart-store receipts: {args.db}: no receipt for {args.session!r}',
                      file=sys.stderr)
                return 1
            print(json.dumps(receipt.to_dict(), indent=2) if args.json
                  else format_receipt(receipt))
            return 0
        receipts = store.receipts(None if args.limit <= 0 else args.limit)
    if args.json:
        print(json.dumps([r.to_dict() for r in receipts], indent=2))
    elif not receipts:
        print(f'{args.db}: no receipts yet')
    else:
        print(format_receipts(receipts))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m smart_store.cli.receipts`` (until the lead registers the subcommand)."""
    parser = argparse.ArgumentParser(prog='smart-store')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND', required=True)
    add_parser(sub, 'receipts')
    args = parser.parse_args(['receipts', *(sys.argv[1:] if argv is None else argv)])
    return int(args.run(args))


if __name__ == '__main__':
    raise SystemExit(main())
