"""Resolution: from scored candidate pairs to links, one record to one household.

Several candidate pairs can share a record; resolution keeps, greedily in
posterior order (ties broken by the summed Dice, then by row numbers, so the
result is deterministic), the best pairs under the schema's constraint:
one-to-one (each side used at most once) or many-to-one (each campaign
record links to at most one household; a household may take several
voters).
"""

from __future__ import annotations

import numpy as np

from linkage.match.comparison import FloatArray, IntArray

__all__ = ["resolve_many_to_one", "resolve_one_to_one"]


def _order(posterior: FloatArray, tie: FloatArray, ia: IntArray, ib: IntArray) -> IntArray:
    return np.lexsort((ib, ia, -tie, -posterior)).astype(np.int64)


def resolve_one_to_one(
    ia: IntArray, ib: IntArray, posterior: FloatArray, tie: FloatArray
) -> IntArray:
    """Greedy one-to-one assignment: best pairs first, each record used once.

    Args:
        ia: Side-a row of each pair.
        ib: Side-b row of each pair.
        posterior: Match posterior of each pair.
        tie: Secondary score (summed Dice) to order equal posteriors.

    Returns:
        Indices (into the pair arrays) of the proposed links, best first.
    """
    used_a: set[int] = set()
    used_b: set[int] = set()
    chosen: list[int] = []
    for k in _order(posterior, tie, ia, ib).tolist():
        x, y = int(ia[k]), int(ib[k])
        if x in used_a or y in used_b:
            continue
        used_a.add(x)
        used_b.add(y)
        chosen.append(k)
    return np.asarray(chosen, dtype=np.int64)


def resolve_many_to_one(
    ia: IntArray, ib: IntArray, posterior: FloatArray, tie: FloatArray
) -> tuple[IntArray, int]:
    """Each side-a record's best side-b record; a tie between two is left out.

    Returns:
        ``(indices, ambiguous)``: indices (into the pair arrays) of the proposed
        links and how many records had two equally good side-b records.
    """
    if ia.size == 0:
        return np.zeros(0, np.int64), 0
    order: IntArray | None = None
    if np.any(ia[1:] < ia[:-1]):
        order = np.argsort(ia, kind="stable").astype(np.int64)
        ia, ib, posterior, tie = ia[order], ib[order], posterior[order], tie[order]
    # Pairs now come in runs, one per record: the best of a run is found by
    # segment maxima (linear), not by sorting every pair (95M at 8M voters).
    # An unfitted model can leave NaN posteriors: they rank below everything.
    # (Copied only then: each is 760 MB at 8M voters.)
    if np.isnan(posterior).any():
        posterior = np.nan_to_num(posterior, nan=-np.inf)
    if np.isnan(tie).any():
        tie = np.nan_to_num(tie, nan=-np.inf)
    starts = np.flatnonzero(np.r_[True, ia[1:] != ia[:-1]])
    sizes = np.diff(np.r_[starts, ia.size])
    top_p = posterior == np.repeat(np.maximum.reduceat(posterior, starts), sizes)
    best_tie = np.maximum.reduceat(np.where(top_p, tie, -np.inf), starts)
    top = top_p & (tie == np.repeat(best_tie, sizes))
    del top_p, best_tie
    n_top = np.add.reduceat(top.astype(np.int64), starts)
    # Among equal best pairs the one with the smallest side-b row comes first
    # (runs are sorted by ib); two or more equal best pairs mean a tie.
    first_top = np.flatnonzero(top)[np.r_[0, np.cumsum(n_top)[:-1]]]
    chosen = first_top[n_top == 1].astype(np.int64)
    if order is not None:
        chosen = order[chosen]
    return chosen, int(np.count_nonzero(n_top > 1))
