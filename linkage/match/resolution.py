"""Resolution: from scored candidate pairs to links, one record to one household.

Several candidate pairs can share a record; resolution keeps, greedily in
posterior order (ties broken by the summed Dice, then by row numbers, so the
result is deterministic), the best pairs under the schema's constraint:
one-to-one (each side used at most once) or many-to-one (each campaign
record links to at most one household; a household may take several
voters).

The pairwise model scores each pair on its own, at one prior for all pairs;
but a record has at most one match, so its candidates compete.
:func:`constrained_posteriors` turns pairwise Bayes factors into posteriors
under that constraint: a record with candidates ``j`` has a match among them
with probability ``lambda`` (estimated from the data), each equally likely a
priori, so ``P(j) = (lambda / n) BF_j / ((1 - lambda) + (lambda / n) sum_k BF_k)``.
A lone strong candidate gets a higher posterior than the pairwise model
gives it, two strong ones share theirs; the threshold and the precision and
recall estimates are computed on these.
"""

from __future__ import annotations

import numpy as np

from linkage.match.comparison import FloatArray, IntArray

__all__ = ["constrained_posteriors", "resolve_many_to_one", "resolve_one_to_one"]

_LAMBDA_ITER = 100


def _one_side(groups: IntArray, log_bf: FloatArray) -> tuple[FloatArray, FloatArray, float]:
    """Per-pair posteriors with each ``groups`` value matched at most once.

    Returns:
        ``(posterior, has_match, lam)``: the posterior of each pair, per
        distinct group (in sorted order) the probability that one of its
        candidates is its match, and the estimated share ``lambda``.
    """
    order = np.argsort(groups, kind="stable")
    g, bf = groups[order], log_bf[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    sizes = np.diff(np.r_[starts, g.size]).astype(np.float64)
    log_mean = np.logaddexp.reduceat(bf, starts) - np.log(sizes)
    lam = 0.5
    for _ in range(_LAMBDA_ITER):
        # EM for the share of records with a match among their candidates.
        logit = np.log(lam) - np.log1p(-lam)
        has = 1.0 / (1.0 + np.exp(-np.clip(logit + log_mean, -700.0, 700.0)))
        new = min(max(float(has.mean()), 1e-6), 1.0 - 1e-6)
        if abs(new - lam) < 1e-9:
            lam = new
            break
        lam = new
    logit = np.log(lam) - np.log1p(-lam)
    has = 1.0 / (1.0 + np.exp(-np.clip(logit + log_mean, -700.0, 700.0)))
    log_den = np.logaddexp(np.log1p(-lam), np.log(lam) + log_mean)
    per_pair = np.log(lam) - np.log(np.repeat(sizes, sizes.astype(np.int64))) + bf
    per_pair -= np.repeat(log_den, sizes.astype(np.int64))
    posterior = np.empty(groups.size, dtype=np.float64)
    posterior[order] = np.exp(np.minimum(per_pair, 0.0))
    return posterior, has, lam


def constrained_posteriors(
    ia: IntArray, ib: IntArray, log_bf: FloatArray, *, one_to_one: bool
) -> tuple[FloatArray, float, float]:
    """Posteriors of candidate pairs under the resolution constraint.

    Args:
        ia: Side-a row of each pair.
        ib: Side-b row of each pair.
        log_bf: The model's log Bayes factor of each pair.
        one_to_one: Each side-b record matched at most once too (else
            many-to-one: only side a is constrained).

    Returns:
        ``(posterior, expected, lam)``: per pair its posterior (one-to-one:
        the smaller of the two sides'), the expected number of side-a
        records with a match among their candidates, and the estimated share
        of side-a records that have one (``lambda``).
    """
    if ia.size == 0:
        return np.zeros(0, np.float64), 0.0, 0.0
    posterior, has, lam = _one_side(ia, log_bf)
    if one_to_one:
        posterior = np.minimum(posterior, _one_side(ib, log_bf)[0])
    return posterior, float(has.sum()), lam


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
