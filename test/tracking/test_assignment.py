"""Gated assignment: the padded (tracking) and maximum-matching (re-acquisition) flavours."""

from __future__ import annotations

import numpy as np

from smart_store.tracking.assignment import gated_assignment

INF = np.inf


def pairs(rows, cols) -> list[tuple[int, int]]:
    return sorted(zip(rows.tolist(), cols.tolist(), strict=True))


def test_gate_and_infeasible_entries() -> None:
    cost = np.array([[0.2, INF], [INF, 1.5]])
    assert pairs(*gated_assignment(cost, 1.0)) == [(0, 0)]
    assert pairs(*gated_assignment(np.full((2, 3), INF), 1.0)) == []
    assert pairs(*gated_assignment(np.empty((0, 3)), 1.0)) == []


def test_global_not_greedy() -> None:
    # Greedy best-first takes (1, 0) = 0.1 and then must pair 0 with 1 (0.9): total 1.0;
    # the optimum is (0, 0) + (1, 1) = 0.3 + 0.3.
    cost = np.array([[0.3, 0.9], [0.1, 0.3]])
    assert pairs(*gated_assignment(cost, 1.0)) == [(0, 0), (1, 1)]


def test_padded_prefers_one_good_match_over_two_poor_ones() -> None:
    # Two pairs at 0.9 + 0.95 cost more than one pair at 0.1 plus leaving one row and one column
    # unmatched (0.5 + 0.5 with gate 1): tracking should not force poor matches.
    cost = np.array([[0.1, 0.9], [0.95, INF]])
    assert pairs(*gated_assignment(cost, 1.0)) == [(0, 0)]
    # Re-acquisition wants everybody matched if at all possible.
    assert pairs(*gated_assignment(cost, 1.0, "max_matches")) == [(0, 1), (1, 0)]


def test_uncontested_shortcut_matches_solver() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        cost = rng.uniform(0.0, 2.0, (5, 6))
        cost[cost > 1.2] = INF
        r, c = gated_assignment(cost, 1.0)
        assert len(set(r.tolist())) == len(r) and len(set(c.tolist())) == len(c)
        assert np.all(cost[r, c] < 1.0)
