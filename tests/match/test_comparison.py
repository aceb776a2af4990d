"""Fuzzy stage: comparison levels via recordlinkage, the ECM model, threshold, resolution."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkage.encode import BloomSchema, FieldEncoding, encode_records, to_arrow
from linkage.errors import InputError
from linkage.match import (
    Feature,
    choose_threshold,
    comparison_vectors,
    distinct_rows,
    fit_model,
    resolve_many_to_one,
    resolve_one_to_one,
)
from linkage.match.fuzzy import _DICE_START, _EXACT_START, _LevelECM


class FixedKeys:
    def subkey(self, purpose: str) -> bytes:
        return hashlib.sha256(b"fuzzy" + purpose.encode()).digest()


def clk(values: list[str | None]) -> pa.Array:
    schema = BloomSchema(fields=(FieldEncoding("v", q=2, bits=10),), length=256)
    return to_arrow(
        encode_records(pa.table({"v": pa.array(values, pa.string())}), schema, FixedKeys())
    )


def tok(values: list[str | None]) -> pa.Array:
    return pa.array(
        [None if v is None else hashlib.sha256(v.encode()).digest() for v in values], pa.binary(32)
    )


def test_levels_distinguish_missing_disagree_and_agree() -> None:
    a = pa.table({"clk_n": clk(["smith", "smith", None]), "mk_f_u": tok(["4", None, None])})
    b = pa.table({"clk_n": clk(["smith", "smyth", "jones"]), "mk_f_u": tok(["4", "5", None])})
    ia = np.array([0, 1, 2, 0], dtype=np.int64)
    ib = np.array([0, 1, 2, 1], dtype=np.int64)
    features = (Feature("clk_n", "dice"), Feature("mk_f_u", "exact"))
    levels, dice = comparison_vectors(a, b, ia, ib, features)
    assert levels[:, 0].tolist()[0] == 6  # identical -> top Dice level
    assert 2 <= levels[1, 0] < 6  # a typo -> a middle level
    assert levels[2, 0] == 1  # missing on one side
    assert levels[:, 1].tolist() == [3, 1, 0, 2]  # agree, one missing, both missing, disagree
    assert dice[0] == pytest.approx(1.0)
    # Chunk by chunk (one pair at a time) gives the same vectors.
    small, small_dice = comparison_vectors(a, b, ia, ib, features, chunk_pairs=1)
    np.testing.assert_array_equal(small, levels)
    np.testing.assert_array_equal(small_dice, dice)


def test_comparison_needs_features() -> None:
    table = pa.table({"clk_n": clk(["a"])})
    with pytest.raises(InputError):
        comparison_vectors(table, table, np.zeros(1, np.int64), np.zeros(1, np.int64), ())


def test_ecm_separates_a_planted_match_class() -> None:
    rng = np.random.default_rng(7)
    n_match, n_non = 300, 3000
    features = (Feature("clk_a", "dice"), Feature("clk_b", "dice"), Feature("mk_f_c", "exact"))
    match = np.column_stack(
        [
            rng.choice([6, 5, 4], n_match),
            rng.choice([6, 5, 2], n_match),
            rng.choice([3, 0], n_match),
        ]
    )
    non = np.column_stack(
        [rng.choice([2, 3, 6], n_non, p=[0.8, 0.15, 0.05]), rng.choice([2, 3], n_non),
         rng.choice([2, 0, 3], n_non, p=[0.6, 0.39, 0.01])]
    )  # fmt: skip
    levels = np.vstack([match, non]).astype(np.int64)
    model = fit_model(levels, features)
    posterior = model.posterior(levels)
    assert 0.05 < model.prior < 0.15
    predicted = posterior >= choose_threshold(posterior)
    truth = np.r_[np.ones(n_match, bool), np.zeros(n_non, bool)]
    tp = int((predicted & truth).sum())
    f1 = 2 * tp / (predicted.sum() + truth.sum())
    assert f1 > 0.95
    # Deterministic: the same data gives the same model.
    assert fit_model(levels, features) == model


def test_choose_threshold_maximises_expected_f1() -> None:
    assert choose_threshold(np.array([0.99, 0.98, 0.6, 0.1, 0.01])) == pytest.approx(0.6)
    assert choose_threshold(np.array([])) == 0.5


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


def _recordlinkage_fit(levels: np.ndarray, features: tuple[Feature, ...]) -> np.ndarray:
    """The model as recordlinkage's own ECM.fit gives it on every row (the oracle)."""
    starts = [_DICE_START if f.kind == "dice" else _EXACT_START for f in features]
    kernel = _LevelECM(starts, max_iter=100)
    with np.errstate(divide="ignore", invalid="ignore"):
        kernel.fit(levels)
        return np.nan_to_num(np.exp(kernel.feature_log_prob_), nan=0.0)


def test_fit_on_distinct_rows_equals_recordlinkage_fit_on_all_rows() -> None:
    rng = np.random.default_rng(11)
    features = (Feature("clk_a", "dice"), Feature("clk_b", "dice"), Feature("mk_f_c", "exact"))
    matches = rng.random(20_000) < 0.1
    levels = np.stack(
        [
            np.where(
                matches, rng.integers(3, len(_DICE_START), 20_000), rng.integers(0, 3, 20_000)
            ),
            np.where(
                matches, rng.integers(2, len(_DICE_START), 20_000), rng.integers(0, 4, 20_000)
            ),
            np.where(matches, rng.random(20_000) < 0.9, rng.random(20_000) < 0.05).astype(int),
        ],
        axis=1,
    ).astype(np.int64)
    model = fit_model(levels, features)
    expected = _recordlinkage_fit(levels, features)
    ours = np.array([*(u for row in model.u for u in row if u > 0)])
    theirs = expected[0][expected[0] > 0]
    np.testing.assert_allclose(np.sort(ours), np.sort(theirs), rtol=1e-9, atol=1e-12)
    ours_m = np.array([*(m for row in model.m for m in row if m > 0)])
    np.testing.assert_allclose(np.sort(ours_m), np.sort(expected[1][expected[1] > 0]), rtol=1e-9)


def test_distinct_rows_matches_numpy_unique() -> None:
    rng = np.random.default_rng(4)
    levels = rng.integers(-2, 5, size=(5_000, 4)).astype(np.int64)
    rows, counts = distinct_rows(levels)
    want_rows, want_counts = np.unique(levels, axis=0, return_counts=True)
    order = np.lexsort(want_rows.T[::-1])
    np.testing.assert_array_equal(rows, want_rows[order])
    np.testing.assert_array_equal(counts, want_counts[order])
    empty_rows, empty_counts = distinct_rows(np.zeros((0, 3), np.int64))
    assert empty_rows.shape == (0, 3) and empty_counts.size == 0


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
