"""Gated one-to-one assignment on a cost matrix (scipy's Hungarian solver plus gating).

Both the per-camera anchor matching (associate.py) and the tracker (tracker.py) solve "match
rows to columns, each at most once, never beyond a gate". Two flavours are needed:

* ``"padded"`` (default): leaving a row *and* a column unmatched costs ``gate`` in total, so a
  pair is only made if its cost beats that; among the rest the total cost is minimal. This is
  the usual tracking formulation: it never forces a poor match just to match more.
* ``"max_matches"``: first as many feasible pairs as possible, then the least total cost. Used
  for re-acquisition, where every re-appearing person must belong to *some* coasting track
  (nobody is born outside an entry zone) and a greedy nearest-first choice can leave a track
  and a person unmatched that a global assignment would pair.

Infeasible entries are ``inf`` (or anything ``>= gate``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

__all__ = ["gated_assignment"]

IntArray = NDArray[np.intp]

_BIG = 1.0e9


def gated_assignment(
    cost: NDArray[np.float64],
    gate: float,
    mode: Literal["padded", "max_matches"] = "padded",
) -> tuple[IntArray, IntArray]:
    """Minimum-cost one-to-one matching of rows to columns with costs strictly below ``gate``.

    Args:
        cost: ``(R, C)`` costs; ``inf`` / NaN / ``>= gate`` mark infeasible pairs.
        gate: Largest admissible cost (exclusive).
        mode: ``"padded"`` or ``"max_matches"`` (see the module docstring).

    Returns:
        ``(rows, cols)`` index arrays of the matched pairs, sorted by row.
    """
    c = np.asarray(cost, dtype=np.float64)
    empty = (np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp))
    if c.ndim != 2 or c.size == 0:
        return empty
    with np.errstate(invalid="ignore"):
        feasible = np.isfinite(c) & (c < gate)
    if not np.any(feasible):
        return empty
    # Shortcut: if every row and every column has at most one feasible entry, the matching is
    # forced (and unique); this is the common case for well-separated people.
    row_n = feasible.sum(axis=1)
    col_n = feasible.sum(axis=0)
    if row_n.max() <= 1 and col_n.max() <= 1:
        rows, cols = np.nonzero(feasible)
        return rows.astype(np.intp), cols.astype(np.intp)
    # Solve only on rows / columns that have a feasible entry.
    ri = np.nonzero(row_n > 0)[0]
    ci = np.nonzero(col_n > 0)[0]
    sub = c[np.ix_(ri, ci)]
    sub_ok = feasible[np.ix_(ri, ci)]
    n_r, n_c = sub.shape
    if mode == "max_matches":
        work = np.where(sub_ok, sub, _BIG)
        r, k = linear_sum_assignment(work)
        keep = sub_ok[r, k]
        return ri[r[keep]].astype(np.intp), ci[k[keep]].astype(np.intp)
    # Padded: rows may pair with a dummy column (cost gate/2), columns with a dummy row (gate/2);
    # dummy-dummy pairs cost 0. Making a real pair of cost c then beats leaving both unmatched
    # exactly when c < gate.
    half = 0.5 * gate
    big = np.full((n_r + n_c, n_c + n_r), _BIG)
    big[:n_r, :n_c] = np.where(sub_ok, sub, _BIG)
    big[:n_r, n_c:][np.diag_indices(n_r)] = half
    big[n_r:, :n_c][np.diag_indices(n_c)] = half
    big[n_r:, n_c:] = 0.0
    r, k = linear_sum_assignment(big)
    real = (r < n_r) & (k < n_c)
    r, k = r[real], k[real]
    keep = sub_ok[r, k]
    return ri[r[keep]].astype(np.intp), ci[k[keep]].astype(np.intp)
