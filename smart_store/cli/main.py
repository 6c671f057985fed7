"""Entry point of ``./smart-store``: parses the subcommand and hands over to its module.

Every subcommand turns expected failures (a bad config file, a missing bag) into one line on
stderr and a non-zero exit code; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from smart_store.cli import (
    bench,
    demo,
    doctor,
    drill,
    evaluate,
    graph,
    loadcell,
    pose,
    receipts,
    record,
    render,
    replay,
    sim,
    up,
    validate,
)
from smart_store.config import ConfigError

COMMANDS = {
    'up': up,
    'config': validate,
    'doctor': doctor,
    'graph': graph,
    'sim': sim,
    'replay': replay,
    'record': record,
    'render': render,
    'loadcell': loadcell,
    'receipts': receipts,
    'eval': evaluate,
    'demo': demo,
    'pose': pose,
    'bench': bench,
    'drill': drill,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='smart-store',
        description='Cashier-less store on ROS 2. `./smart-store setup` installs, '
                    '`./smart-store test` runs the test suite.')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND', required=True)
    for name, module in COMMANDS.items():
        module.add_parser(sub, name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except ConfigError as err:
        print(f'smart-store: {err}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
