"""The match model: finds a planted match class, keeps missing neutral, checks itself."""

from __future__ import annotations

import numpy as np
import pytest

from linkage.match import (
    Feature,
    choose_threshold,
    distinct_rows,
    fit_model,
)
from linkage.match.ecm import MISSING_LEVELS


def test_ecm_separates_a_planted_match_class() -> None:
    rng = np.random.default_rng(7)
    n_match, n_non = 300, 3000
    features = (Feature("clk_a", "dice"), Feature("clk_b", "dice"), Feature("mk_f_c", "exact"))
    match = np.column_stack(
        [
            rng.choice([6, 5, 4], n_match),
            rng.choice([6, 5, 3], n_match),
            rng.choice([3, 0], n_match),
        ]
    )
    non = np.column_stack(
        [rng.choice([2, 3, 4], n_non, p=[0.8, 0.15, 0.05]), rng.choice([2, 3], n_non),
         rng.choice([2, 0, 3], n_non, p=[0.6, 0.39, 0.01])]
    )  # fmt: skip
    levels = np.vstack([match, non]).astype(np.int64)
    seed = match[:30].astype(np.int64)
    model = fit_model(levels, features, seed=seed)
    posterior = model.posterior(levels)
    assert 0.05 < model.prior < 0.15
    assert model.warnings == ()
    predicted = posterior >= choose_threshold(posterior)
    truth = np.r_[np.ones(n_match, bool), np.zeros(n_non, bool)]
    tp = int((predicted & truth).sum())
    f1 = 2 * tp / (predicted.sum() + truth.sum())
    assert f1 > 0.95
    # Deterministic: the same data gives the same model.
    assert fit_model(levels, features, seed=seed) == model


def test_choose_threshold_maximises_expected_f1() -> None:
    assert choose_threshold(np.array([0.99, 0.98, 0.6, 0.1, 0.01])) == pytest.approx(0.6)
    assert choose_threshold(np.array([])) == 0.5


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


def _world(rng: np.random.Generator, n_match: int, n_non: int) -> tuple[np.ndarray, np.ndarray]:
    """A name filter and a birth-date key; many non-match pairs miss the date on both sides."""
    match = np.column_stack([rng.choice([6, 5, 4], n_match), rng.choice([3, 3, 3, 1], n_match)])
    dob_non = rng.choice([0, 2, 3], n_non, p=[0.5, 0.49, 0.01])
    non = np.column_stack([rng.choice([2, 3, 4], n_non, p=[0.7, 0.2, 0.1]), dob_non])
    return match.astype(np.int64), non.astype(np.int64)


def test_missing_is_neutral_evidence() -> None:
    rng = np.random.default_rng(3)
    features = (Feature("clk_name", "dice"), Feature("mk_f_dob", "exact"))
    match, non = _world(rng, 400, 4000)
    model = fit_model(np.vstack([match, non]), features, seed=match[:40])
    for m, u in zip(model.m, model.u, strict=True):
        assert m[:MISSING_LEVELS] == u[:MISSING_LEVELS]
    # Missing on both or on one side moves nothing; a disagreeing date does.
    bf = model.log_bayes_factor(np.array([[6, 0], [6, 1], [6, 2], [6, 3]]))
    assert bf[0] == bf[1] and bf[2] < bf[0] < bf[3]
    # The crowd of "both missing" non-matches cannot become the match class.
    posterior = model.posterior(np.vstack([match, non]))
    assert posterior[: len(match)].mean() > 0.9 and posterior[len(match) :].mean() < 0.05


def test_a_fit_that_breaks_its_constraints_says_so() -> None:
    rng = np.random.default_rng(5)
    features = (Feature("clk_name", "dice"), Feature("mk_f_odd", "exact"))
    # Agreement on mk_f_odd is commoner among non-matches: no honest model has m > u there.
    match = np.column_stack([rng.choice([6, 5], 300), rng.choice([2, 3], 300, p=[0.9, 0.1])])
    non = np.column_stack([rng.choice([2, 3], 3000), rng.choice([2, 3], 3000)])
    model = fit_model(np.vstack([match, non]).astype(np.int64), features, seed=match[:30])
    assert any("constraints" in w and "mk_f_odd" in w for w in model.warnings)


def test_a_fit_without_a_seed_says_so() -> None:
    rng = np.random.default_rng(9)
    features = (Feature("clk_name", "dice"), Feature("mk_f_dob", "exact"))
    match, non = _world(rng, 200, 2000)
    model = fit_model(np.vstack([match, non]), features)
    assert any("no labelled seed" in w for w in model.warnings)


def test_more_agreement_never_means_less_evidence() -> None:
    rng = np.random.default_rng(11)
    features = (Feature("clk_name", "dice"), Feature("clk_street", "dice"))
    # Two kinds of non-match (found by two blocking passes): one shares names,
    # the other streets. An unconstrained fit can make "names under 0.5 alike"
    # count for a match; the fitted factors must rise with each level.
    match = np.column_stack([rng.choice([6, 5, 4], 300), rng.choice([6, 5, 4, 3], 300)])
    by_name = np.column_stack([rng.choice([4, 5], 1500), rng.choice([2, 3], 1500)])
    by_street = np.column_stack([rng.choice([2, 3], 1500), rng.choice([5, 6], 1500)])
    levels = np.vstack([match, by_name, by_street]).astype(np.int64)
    model = fit_model(levels, features, seed=match[:30])
    for i in range(len(features)):
        grid = np.full((5, 2), 6)
        grid[:, i] = np.arange(2, 7)
        bf = model.log_bayes_factor(grid)
        assert np.all(np.diff(bf) >= -1e-9)


def test_comparisons_of_the_same_fields_are_one_variable() -> None:
    rng = np.random.default_rng(12)
    features = (
        Feature("clk_name", "dice"),
        Feature("clk_address", "dice"),
        Feature("mk_addr", "exact"),
    )
    # The key agrees exactly when the address filter is identical, in both classes.
    n_match, n_non = 400, 4000
    addr_m = rng.choice([6, 5, 4], n_match, p=[0.7, 0.2, 0.1])
    addr_n = rng.choice([6, 4, 2], n_non, p=[0.3, 0.2, 0.5])
    match = np.column_stack([rng.choice([6, 5], n_match), addr_m, np.where(addr_m == 6, 3, 2)])
    non = np.column_stack([rng.choice([2, 3], n_non), addr_n, np.where(addr_n == 6, 3, 2)])
    levels = np.vstack([match, non]).astype(np.int64)
    model = fit_model(levels, features, seed=match[:40], joint=[("clk_address", "mk_addr")])
    assert model.groups == ((0,), (1, 2))
    assert len(model.m) == 2
    posterior = model.posterior(levels)
    truth = np.r_[np.ones(n_match, bool), np.zeros(n_non, bool)]
    predicted = posterior >= choose_threshold(posterior)
    assert 2 * int((predicted & truth).sum()) / (predicted.sum() + truth.sum()) > 0.95
    # A typo in the street (filter 0.85-1.0, key disagrees) does not sink a match.
    assert model.posterior(np.array([[6, 5, 2]]))[0] > 0.5
