"""The node graph as documentation: a markdown topic table and a mermaid diagram.

The README embeds both (between ``<!-- graph:... -->`` markers) and a test checks that they match
what this module generates from the table, so the documented graph is the real one.
"""

from __future__ import annotations

from collections.abc import Sequence

from smart_store.graph.table import EXTERNAL_TOPICS, NodeSpec, build_graph

CAMERA_PLACEHOLDER = '/cameras/<id>/image_raw'


def documented_graph() -> tuple[NodeSpec, ...]:
    """The graph with one symbolic camera, as the README shows it."""
    return build_graph([CAMERA_PLACEHOLDER])


def topic_table(graph: Sequence[NodeSpec]) -> str:
    """Markdown: topic, type, publishers, subscribers, QoS, meaning."""
    rows: dict[str, dict[str, object]] = {}
    for topic in EXTERNAL_TOPICS:
        rows[topic.name] = {'topic': topic, 'pub': ['(outside: twin, bag, gate app)'], 'sub': []}
    for spec in graph:
        for topic in spec.publishes:
            rows.setdefault(topic.name, {'topic': topic, 'pub': [], 'sub': []})
            rows[topic.name]['pub'].append(spec.name)  # type: ignore[union-attr]
    for spec in graph:
        for topic in spec.subscribes:
            rows[topic.name]['sub'].append(spec.name)  # type: ignore[union-attr]
    lines = ['| topic | type | published by | subscribed by | QoS | what |',
             '|---|---|---|---|---|---|']
    for name, row in rows.items():
        topic = row['topic']
        pubs = ', '.join(row['pub']) or '-'  # type: ignore[arg-type]
        subs = ', '.join(row['sub']) or 'RViz / tools'  # type: ignore[arg-type]
        lines.append(f'| `{name}` | `{topic.type}` | {pubs} | {subs} | '  # type: ignore[union-attr]
                     f'{topic.qos} | {topic.description} |')  # type: ignore[union-attr]
    return '\n'.join(lines)


def mermaid(graph: Sequence[NodeSpec]) -> str:
    """A mermaid flowchart: nodes as boxes, topics as labelled edges."""
    lines = ['```mermaid', 'flowchart LR']
    producers: dict[str, list[str]] = {t.name: ['outside'] for t in EXTERNAL_TOPICS}
    for spec in graph:
        for topic in spec.publishes:
            producers.setdefault(topic.name, []).append(spec.name)
    lines.append('  outside([twin / bag / gate app])')
    for spec in graph:
        suffix = '' if spec.implemented else f' - issue {spec.issue}'
        lines.append(f'  {spec.name}["{spec.name}{suffix}"]')
    seen: set[tuple[str, str, str]] = set()
    for spec in graph:
        for topic in spec.subscribes:
            for src in producers.get(topic.name, []):
                label = topic.name.replace(CAMERA_PLACEHOLDER, '/cameras/*')
                label = label.replace('/cameras/<id>/camera_info', '/cameras/*')
                key = (src, spec.name, label)
                if key not in seen and src != spec.name:
                    seen.add(key)
                    lines.append(f'  {src} -- "{label}" --> {spec.name}')
    lines.append('```')
    return '\n'.join(lines)


def update_markdown(text: str) -> str:
    """Replace the generated graph blocks between their markers in a markdown document."""
    graph = documented_graph()
    for name, body in (('diagram', mermaid(graph)), ('table', topic_table(graph))):
        start, end = f'<!-- graph:{name}:start -->', f'<!-- graph:{name}:end -->'
        head, _, rest = text.partition(start)
        _, _, tail = rest.partition(end)
        text = f'{head}{start}\n{body}\n{end}{tail}'
    return text
