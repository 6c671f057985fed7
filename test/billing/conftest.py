"""Billing tests: the demo store config, loaded once."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from smart_store.config import StoreConfig, load_store_config

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # billing_helpers


@pytest.fixture(scope="session")
def cfg() -> StoreConfig:
    return load_store_config(ROOT / "config" / "demo_store.yaml")
