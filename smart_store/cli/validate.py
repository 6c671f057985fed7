"""``./smart-store config [FILE]``: validate a store config and summarise it."""

from __future__ import annotations

import argparse
from typing import Any

from smart_store.config import load_store_config
from smart_store.resources import default_store_config


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help='validate a store config file and print a summary')
    p.add_argument('file', nargs='?', default=None,
                   help='store config YAML (default: the packaged demo store)')
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_store_config(args.file or default_store_config())
    lanes = cfg.lanes()
    print(f'{cfg.path}: ok - store "{cfg.name}", frame "{cfg.frame_id}", '
          f'{len(cfg.cameras)} cameras, {len(cfg.shelves)} shelving units, {len(lanes)} lanes, '
          f'{len(cfg.catalog)} products, {len(cfg.zones)} zones')
    return 0
