"""``python -m smart_store.config FILE``: validate a store config and print a summary.

Exit status 0 with a one-line summary on stdout when the file is valid; exit status 2 with the
single ``"<file>: <key>: <problem>"`` line on stderr when it is not (never a traceback - the
person running this wants to fix their YAML, not read Python internals). Usage errors also exit 2.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from smart_store.config.errors import ConfigError
from smart_store.config.loader import load_store_config
from smart_store.config.model import StoreConfig

USAGE = "usage: python -m smart_store.config STORE_CONFIG.yaml"


def summary(cfg: StoreConfig) -> str:
    """One line describing what a config contains, for humans and CI logs."""
    levels = sum(len(shelf.levels) for shelf in cfg.shelves)
    sensors = sum(1 for shelf in cfg.shelves if shelf.distance_sensor is not None)
    return (
        f"{cfg.path}: OK: store '{cfg.name}' (frame {cfg.frame_id}, {cfg.currency}): "
        f"{len(cfg.zones)} zones, {len(cfg.cameras)} cameras, {len(cfg.hubs)} hubs, "
        f"{len(cfg.shelves)} shelves, {levels} levels, {len(cfg.lanes())} lanes, "
        f"{sensors} distance sensors, {len(cfg.catalog)} products, "
        f"{len(cfg.planogram)} planogram entries"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0] in ("-h", "--help"):
        stream = sys.stdout if args[:1] in (["-h"], ["--help"]) else sys.stderr
        print(USAGE, file=stream)
        return 0 if stream is sys.stdout else 2
    try:
        cfg = load_store_config(args[0])
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except OSError as exc:  # defensive: the loader maps I/O errors, but never show a traceback
        print(f"{args[0]}: <file>: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(summary(cfg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
