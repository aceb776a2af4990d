"""Resolution: cardinality constraints, tie handling, NaN posteriors, linear-time runs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkage.match import (
    constrained_posteriors,
    resolve_many_to_one,
    resolve_one_to_one,
)


def test_one_to_one_uses_each_record_once() -> None:
    ia = np.array([0, 0, 1, 1], dtype=np.int64)
    ib = np.array([0, 1, 0, 1], dtype=np.int64)
    post = np.array([0.9, 0.8, 0.95, 0.2])
    chosen = resolve_one_to_one(ia, ib, post, np.zeros(4))
    assert sorted(zip(ia[chosen].tolist(), ib[chosen].tolist(), strict=True)) == [(0, 1), (1, 0)]


def test_many_to_one_leaves_ties_unlinked() -> None:
    ia = np.array([0, 0, 1, 1, 2], dtype=np.int64)
    ib = np.array([0, 1, 0, 1, 0], dtype=np.int64)
    post = np.array([0.9, 0.9, 0.3, 0.8, 0.7])
    chosen, tied = resolve_many_to_one(ia, ib, post, np.zeros(5))
    assert tied == 1
    assert sorted(zip(ia[chosen].tolist(), ib[chosen].tolist(), strict=True)) == [(1, 1), (2, 0)]


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.floats(0, 1)), max_size=40))
def test_resolutions_respect_their_cardinality(pairs: list[tuple[int, int, float]]) -> None:
    ia = np.array([p[0] for p in pairs], dtype=np.int64)
    ib = np.array([p[1] for p in pairs], dtype=np.int64)
    post = np.array([p[2] for p in pairs], dtype=np.float64)
    one = resolve_one_to_one(ia, ib, post, np.zeros(len(pairs)))
    assert len(set(ia[one].tolist())) == len(one) == len(set(ib[one].tolist()))
    many, _ = resolve_many_to_one(ia, ib, post, np.zeros(len(pairs)))
    assert len(set(ia[many].tolist())) == len(many)
    for k in many.tolist():
        assert post[k] == post[ia == ia[k]].max()


@pytest.mark.parametrize("seed", range(6))
def test_many_to_one_by_runs_equals_sorting_every_pair(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 400
    ia = rng.integers(0, 60, n).astype(np.int64)
    ib = rng.integers(0, 30, n).astype(np.int64)
    if seed % 2 == 0:  # the matcher's order: sorted by (ia, ib)
        order = np.lexsort((ib, ia))
        ia, ib = ia[order], ib[order]
    # Few distinct values, so ties on posterior and on the tie-breaker happen.
    posterior = rng.choice([0.2, 0.5, 0.9], n)
    tie = rng.choice([0.0, 1.0], n)
    got, ambiguous = resolve_many_to_one(ia, ib, posterior, tie)
    want, want_ambiguous = _many_to_one_by_sorting(ia, ib, posterior, tie)
    assert got.tolist() == want
    assert ambiguous == want_ambiguous > 0


def test_many_to_one_ranks_nan_posteriors_last() -> None:
    ia = np.array([0, 0, 1, 1, 2], dtype=np.int64)
    ib = np.array([0, 1, 0, 1, 0], dtype=np.int64)
    posterior = np.array([np.nan, 0.4, np.nan, np.nan, 0.9])
    tie = np.array([1.0, 0.5, 0.5, 0.2, 1.0])
    chosen, ambiguous = resolve_many_to_one(ia, ib, posterior, tie)
    # Record 0 takes its one real score; record 1 (all NaN) falls back on the
    # tie-breaker; nothing crashes and nothing is called a tie.
    assert chosen.tolist() == [1, 2, 4]
    assert ambiguous == 0


def _many_to_one_by_sorting(
    ia: np.ndarray, ib: np.ndarray, posterior: np.ndarray, tie: np.ndarray
) -> tuple[list[int], int]:
    """The definition: sort every pair, best first per record; equal top two = tie."""
    best: dict[int, list[tuple[float, float, int, int]]] = {}
    for k, (a, b, p, t) in enumerate(zip(ia, ib, posterior, tie, strict=True)):
        best.setdefault(int(a), []).append((-float(p), -float(t), int(b), k))
    chosen, tied = [], 0
    for a in sorted(best):
        ranked = sorted(best[a])
        if len(ranked) > 1 and ranked[0][:2] == ranked[1][:2]:
            tied += 1
        else:
            chosen.append(ranked[0][3])
    return chosen, tied


def test_constrained_posteriors_let_candidates_compete() -> None:
    # Record 0: one strong candidate and a weak one; record 1: two equally
    # strong; records 2-9: a lone strong candidate (most records have a match).
    ia = np.array([0, 0, 1, 1, *range(2, 10)], dtype=np.int64)
    ib = np.arange(ia.size, dtype=np.int64)
    log_bf = np.array([12.0, -6.0, 12.0, 12.0, *([12.0] * 8)])
    post, expected, lam = constrained_posteriors(ia, ib, log_bf, one_to_one=False)
    pairwise = 1.0 / (1.0 + np.exp(-(log_bf + np.log(10 / 12 / (1 - 10 / 12)))))
    assert post[0] > pairwise[0] and post[0] > 0.999
    assert post[1] < 1e-6
    assert post[2] == pytest.approx(0.5, abs=1e-3) and post[2] == pytest.approx(post[3])
    per_record = np.bincount(ia, weights=post)
    assert np.all(per_record <= 1.0 + 1e-12)
    assert expected == pytest.approx(per_record.sum()) and 0.9 < lam < 1.0


def test_constrained_posteriors_one_to_one_constrains_both_sides() -> None:
    # Two side-a records both claim side-b record 0 with equal strength.
    ia = np.array([0, 1], dtype=np.int64)
    ib = np.array([0, 0], dtype=np.int64)
    log_bf = np.array([10.0, 10.0])
    many, _, _ = constrained_posteriors(ia, ib, log_bf, one_to_one=False)
    one, _, _ = constrained_posteriors(ia, ib, log_bf, one_to_one=True)
    assert np.all(many > 0.99) and np.allclose(one, 0.5, atol=1e-3)
    empty, total, _ = constrained_posteriors(ia[:0], ib[:0], log_bf[:0], one_to_one=True)
    assert empty.size == 0 and total == 0.0
