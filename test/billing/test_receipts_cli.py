"""``./smart-store receipts``: table and JSON output from a real billing database."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
from billing_helpers import make_cart

from smart_store.billing.model import Session, SessionState
from smart_store.billing.receipts import build_receipt
from smart_store.billing.store import BillingStore
from smart_store.cli import receipts as cli
from smart_store.config import StoreConfig

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(tmp_path: Path, cfg: StoreConfig) -> Path:
    path = tmp_path / "out" / "store.db"
    with BillingStore(path) as store:
        for i, (token, items) in enumerate([("tok-alice-0123456789", {"COLA-330": 2}),
                                            ("", {"BATT-AA4": 1, "GUM-MINT": 3})]):
            sid = f"s-e{i + 1}"
            session = Session(sid, token, not token, (i + 1,), SessionState.CLOSING,
                              1.0 + i, 30.0 + i, 30.0 + i)
            receipt = build_receipt(session, make_cart(cfg, sid, 1, items), cfg.catalog,
                                    currency="EUR", tax_rate=0.2)
            assert store.issue_receipt(receipt)
    return path


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    cli.add_parser(sub, "receipts")
    return parser.parse_args(["receipts", *argv])


def test_table(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(parse("--db", str(db))) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["RECEIPT", "SESSION", "PAYER", "ENTRY", "EXIT", "ITEMS", "TOTAL",
                              "REVIEW"]
    assert out[1].startswith("r-s-e2")  # newest first
    assert "(anonymous)" in out[1] and "7.96 EUR" in out[1] and out[1].endswith("yes")
    assert out[2].startswith("r-s-e1") and "2.58 EUR" in out[2]
    assert "tok-alice-0…" in out[2]  # opaque tokens are shortened
    assert cli.run(parse("--db", str(db), "--limit", "1")) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_one_receipt_with_lines(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(parse("--db", str(db), "--session", "s-e2")) == 0
    out = capsys.readouterr().out
    assert "receipt r-s-e2  session s-e2" in out
    assert "BATT-AA4" in out and "Batteries AA 4 pack" in out and "4.99 EUR" in out
    assert "GUM-MINT" in out and "2.97 EUR" in out
    assert "total 7.96 EUR" in out and "tax incl. 1.33 EUR" in out
    assert "NEEDS REVIEW: anonymous session" in out
    assert cli.run(parse("--db", str(db), "--session", "s-nope")) == 1
    assert "no receipt" in capsys.readouterr().err


def test_json_via_subprocess(db: Path) -> None:
    cmd = [sys.executable, "-m", "smart_store.cli.receipts", "--db", str(db), "--json"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [r["session_id"] for r in data] == ["s-e2", "s-e1"]
    first = data[1]
    assert first["total"] == 258 and first["tax"] == 43 and first["currency"] == "EUR"
    assert first["lines"][0] == {"sku": "COLA-330", "name": "Cola 330 ml can", "quantity": 2,
                                 "unit_price": 129, "line_total": 258,
                                 "event_ids": ["we-COLA-330-1"], "confidence": 0.9}
    proc = subprocess.run([*cmd, "--session", "r-s-e1"], cwd=ROOT, capture_output=True,
                          text=True, timeout=30)
    assert json.loads(proc.stdout)["receipt_id"] == "r-s-e1"


def test_missing_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(parse("--db", str(tmp_path / "none.db"))) == 2
    assert "no billing database" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()
    empty = tmp_path / "empty.db"
    BillingStore(empty).close()
    assert cli.run(parse("--db", str(empty))) == 0
    assert "no receipts yet" in capsys.readouterr().out
    assert cli.run(parse("--db", str(empty), "--json")) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_money_formatting() -> None:
    assert cli.money(1234, "EUR") == "12.34 EUR"
    assert cli.money(5, "EUR") == "0.05 EUR"
    assert cli.money(1234, "JPY") == "1234 JPY"
    assert cli.money(1234, "KWD") == "1.234 KWD"
    assert cli.money(-250, "EUR") == "-2.50 EUR"
