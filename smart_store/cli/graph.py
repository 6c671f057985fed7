"""``./smart-store graph``: print the node graph (topic table or mermaid diagram)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from smart_store.graph.docs import documented_graph, mermaid, topic_table, update_markdown


def add_parser(sub: Any, name: str) -> None:
    p = sub.add_parser(name, help='print the node graph as a markdown table or mermaid diagram')
    p.add_argument('--format', choices=('table', 'mermaid'), default='table')
    p.add_argument('--update', metavar='MARKDOWN', type=Path,
                   help='rewrite the generated graph blocks of this file (e.g. README.md)')
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.update:
        args.update.write_text(update_markdown(args.update.read_text(encoding='utf-8')),
                               encoding='utf-8')
        return 0
    graph = documented_graph()
    print(topic_table(graph) if args.format == 'table' else mermaid(graph))
    return 0
