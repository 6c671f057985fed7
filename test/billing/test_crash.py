"""Issue 7: billing and the cart arbiter killed with SIGKILL at random moments of a short twin run,
respawned by the supervisor, bill exactly what an undisturbed run of the same recording bills.

The whole graph runs as OS processes (smart_store/pipeline.py, as `./smart-store demo` runs it)
on single_shopper recorded at 160x120, with the ground-truth tracks ablation: the subject is
crash recovery, not perception. The billing database is real SQLite in pytest's temporary
directory. Each of the two nodes is killed twice, at seeded random moments while the shopper is in
the store (smart_store/drills.py, ``kill_nodes`` in ``staggered`` mode). What makes this work:
every input is persisted before it is acted on (billing: SQLite; arbiter: its state file), the
receipt is issued at most once per session (UNIQUE + INSERT OR IGNORE), and events published
while a node was down reach it when it is back (the ``events`` QoS keeps the last 100 for late
joiners; the consumers take them idempotently).
"""

from __future__ import annotations

import pytest

from smart_store.drills import Drills, ci_config

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def _report(result) -> str:
    lines = [f'{"ok" if c.ok else "FAILED"}: {c.name}: {c.detail}' for c in result.checks]
    lines += [f'note: {n}' for n in result.notes]
    if result.error:
        lines.append(f'error: {result.error}')
    return '\n'.join(lines)


def test_killed_billing_and_arbiter_bill_like_an_undisturbed_run(tmp_path_factory, ros_env):
    # The workdir is shared with test/test_drills.py: one reference run per test session.
    config = ci_config(tmp_path_factory.getbasetemp() / 'drills', seed=202,
                       kill_mode='staggered', kill_nodes=('cart_arbiter', 'billing'),
                       kills_per_node=2)
    result = Drills(config).kill_nodes()
    assert result.ok, _report(result)
    kills = result.figures['kills']
    assert sorted(k['node'] for k in kills) == ['billing', 'billing', 'cart_arbiter',
                                                'cart_arbiter'], kills
    # Not just "went to review": the same items and totals as the undisturbed run.
    assert result.figures['differing'] == {'kill-staggered-s202': []}, _report(result)
    receipts = result.figures['receipts']
    assert receipts['reference']
    assert _items(receipts['kill-staggered-s202']) == _items(receipts['reference'])


def _items(receipts: dict[str, str]) -> dict[str, str]:
    """Session -> items and total (the review flag aside)."""
    return {sid: text.removesuffix(' (review)') for sid, text in receipts.items()}
