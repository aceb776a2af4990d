"""The ECM model: finds a planted match class, fits on distinct rows, picks the F1 cut."""

from __future__ import annotations

import numpy as np
import pytest

from linkage.match import (
    Feature,
    choose_threshold,
    distinct_rows,
    fit_model,
)
from linkage.match.ecm import _DICE_START, _EXACT_START, _LevelECM


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


def _recordlinkage_fit(levels: np.ndarray, features: tuple[Feature, ...]) -> np.ndarray:
    """The model as recordlinkage's own ECM.fit gives it on every row (the oracle)."""
    starts = [_DICE_START if f.kind == "dice" else _EXACT_START for f in features]
    kernel = _LevelECM(starts, max_iter=100)
    with np.errstate(divide="ignore", invalid="ignore"):
        kernel.fit(levels)
        return np.nan_to_num(np.exp(kernel.feature_log_prob_), nan=0.0)
