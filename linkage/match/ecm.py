"""The fuzzy stage's model: an unsupervised Fellegi-Sunter fit, and the threshold.

The model is recordlinkage's ``ECMClassifier``, a latent-class model fitted
by EM. Its ``jaro`` start only accepts binary features, so
:class:`_LevelECM` starts multi-level features from their agreement order
instead (match class tilted towards the agreeing levels); the EM itself is
recordlinkage's, and multi-level features enter it one-hot, i.e. as proper
categorical likelihoods. The EM runs on distinct comparison vectors with
their counts (:meth:`_LevelECM.fit_counts`), not on every pair.

The decision threshold is chosen from the fitted model: the posterior cut
that maximises the model's own expected F1 over the proposed links
(:func:`choose_threshold`); callers may override it. The same posteriors give
the aggregate precision and recall estimates of the match report. They assume
the model's conditional independence, so they are optimistic when features
are correlated; they never leave the matcher per record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from recordlinkage.algorithms.nb_sklearn import ECM

from linkage.errors import InputError
from linkage.match.comparison import (
    DICE_LEVELS,
    EXACT_LEVELS,
    Feature,
    FloatArray,
    IntArray,
    LevelArray,
)

# Starting agreement score per level (higher = more typical of a match).
_DICE_START: Final = (0.0, 0.0, -2.0, -1.0, 0.0, 1.5, 2.5)
_EXACT_START: Final = (0.0, 0.0, -2.0, 2.5)
assert len(_DICE_START) == DICE_LEVELS and len(_EXACT_START) == EXACT_LEVELS
_PROB_FLOOR: Final = 1e-6

__all__ = ["FittedModel", "choose_threshold", "distinct_rows", "fit_model"]


class _LevelECM(ECM):  # type: ignore[misc]
    """recordlinkage's ECM with a start that accepts multi-level features.

    ``starts[i][level]`` is the agreement score of level ``level`` of feature
    ``i``; the match class starts proportional to ``exp(score)``, the
    non-match class to ``exp(-score)``, and the prior at 10 % matches (as
    recordlinkage's ``jaro`` start). Deterministic: no random start.
    """

    def __init__(self, starts: Sequence[Sequence[float]], max_iter: int = 100) -> None:
        super().__init__(init="jaro", max_iter=max_iter, binarize=None, atol=1e-5)
        self.starts = [tuple(s) for s in starts]

    def _init_parameters_jaro(self, x_bin: npt.NDArray[np.int64]) -> tuple[FloatArray, FloatArray]:
        rows: list[list[float]] = [[], []]
        for start, binarizer in zip(self.starts, self._binarizers, strict=True):
            scores = np.array([start[int(c)] for c in binarizer.classes_], dtype=np.float64)
            for cls, sign in ((0, -1.0), (1, 1.0)):
                weights = np.exp(sign * scores)
                rows[cls].extend((weights / weights.sum()).tolist())
        return np.log(np.array([0.9, 0.1])), np.log(np.array(rows))

    def fit_counts(self, patterns: npt.NDArray[np.int64], counts: npt.NDArray[np.int64]) -> None:
        """recordlinkage's ``ECM.fit`` on distinct comparison vectors and their counts.

        ``ECM.fit`` first reduces its input to distinct rows with
        ``np.unique(X, axis=0)``, a lexicographic sort of every pair that took
        23 of the matcher's 65 s at 1M voters. The caller reduces much faster
        (one integer key per row); the EM loop below is recordlinkage's own
        (same start, updates and stopping rule) run on the reduced data, so
        the fitted model is the same.
        """
        freq = np.atleast_2d(counts.astype(np.float64))
        total = float(counts.sum())
        x_bin = self._fit_data(patterns)
        self.classes_ = np.array([0, 1])
        self.class_log_prior_, self.feature_log_prob_ = self._init_parameters_jaro(x_bin)
        for _ in range(self.max_iter):
            g_freq = self.predict_proba(patterns) * freq.T
            g_freq_sum = g_freq.sum(axis=0)
            class_log_prior = np.log(g_freq_sum) - np.log(total)
            feature_log_prob = np.log(g_freq.T @ x_bin)
            feature_log_prob -= np.log(np.atleast_2d(g_freq_sum).T)
            converged = np.allclose(
                np.exp(class_log_prior), np.exp(self.class_log_prior_), atol=self.atol
            ) and np.allclose(
                np.exp(feature_log_prob), np.exp(self.feature_log_prob_), atol=self.atol
            )
            if np.all(np.isnan(feature_log_prob)):
                break
            self.class_log_prior_, self.feature_log_prob_ = class_log_prior, feature_log_prob
            if converged:
                break


def distinct_rows(levels: LevelArray | IntArray) -> tuple[IntArray, IntArray]:
    """Distinct rows of a small-integer matrix, sorted lexicographically, with their counts.

    Equal to ``np.unique(levels, axis=0, return_counts=True)``, through one
    mixed-radix integer per row (a 1-D sort, an order of magnitude faster).
    """
    if levels.shape[0] == 0:
        return levels.astype(np.int64), np.zeros(0, np.int64)
    low = levels.min(axis=0).astype(np.int64)
    radix = levels.max(axis=0).astype(np.int64) - low + 1
    if float(np.prod(radix.astype(np.float64))) >= 2.0**62:
        rows, counts = np.unique(levels, axis=0, return_counts=True)
        return rows.astype(np.int64), counts.astype(np.int64)
    key = np.zeros(levels.shape[0], np.int64)
    for column in range(levels.shape[1]):
        key = key * radix[column] + (levels[:, column].astype(np.int64) - low[column])
    size = int(np.prod(radix))
    if size <= 1 << 22:
        # Few possible vectors (7^5 for the shipped schema): count them
        # directly, linear in the pairs, and decode the keys that occur.
        tally = np.bincount(key, minlength=size)
        present = np.flatnonzero(tally)
        decoded: IntArray = np.empty((present.size, levels.shape[1]), dtype=np.int64)
        rest = present.astype(np.int64)
        for column in range(levels.shape[1] - 1, -1, -1):
            decoded[:, column] = rest % radix[column] + low[column]
            rest = rest // radix[column]
        return decoded, tally[present].astype(np.int64)
    keys, first, counts = np.unique(key, return_index=True, return_counts=True)
    del keys
    return levels[first].astype(np.int64), counts.astype(np.int64)


@dataclass(frozen=True)
class FittedModel:
    """A fitted Fellegi-Sunter model: per-feature level probabilities and the prior.

    Attributes:
        features: The comparison features, in vector order.
        m: Per feature, P(level | match) for each level (0 where never seen).
        u: Per feature, P(level | non-match).
        prior: Estimated share of matches among the candidate pairs.
    """

    features: tuple[Feature, ...]
    m: tuple[tuple[float, ...], ...]
    u: tuple[tuple[float, ...], ...]
    prior: float

    def log_odds(self, levels: LevelArray | IntArray) -> FloatArray:
        """Posterior log-odds of a match for each row of ``levels``."""
        total = np.full(levels.shape[0], np.log(self.prior / (1.0 - self.prior)))
        for i in range(len(self.features)):
            m = np.maximum(np.asarray(self.m[i]), _PROB_FLOOR)
            u = np.maximum(np.asarray(self.u[i]), _PROB_FLOOR)
            total += np.log(m / u)[levels[:, i]]
        return total

    def posterior(self, levels: LevelArray | IntArray) -> FloatArray:
        """P(match | comparison vector) for each row of ``levels``.

        Computed a block of rows at a time, so the temporaries stay small
        whatever the number of pairs.
        """
        out = np.empty(levels.shape[0], dtype=np.float64)
        step = 1 << 22
        for start in range(0, levels.shape[0], step):
            odds = np.clip(self.log_odds(levels[start : start + step]), -700.0, 700.0)
            out[start : start + step] = 1.0 / (1.0 + np.exp(-odds))
        return out


def fit_model(
    levels: LevelArray | IntArray, features: Sequence[Feature], *, max_iter: int = 100
) -> FittedModel:
    """Fit recordlinkage's ECM (unsupervised) to comparison levels.

    Args:
        levels: ``(pairs, features)`` levels from :func:`comparison_vectors`.
        features: The features, in column order.
        max_iter: EM iteration cap.

    Returns:
        The fitted model (level probabilities floored at 1e-6 when used).

    Raises:
        InputError: Too few pairs to fit.
    """
    if levels.shape[0] < 2:
        raise InputError("too few candidate pairs to fit a linkage model")
    starts = [_DICE_START if f.kind == "dice" else _EXACT_START for f in features]
    kernel = _LevelECM(starts, max_iter=max_iter)
    patterns, counts = distinct_rows(levels)
    # A level no pair of one class shows has probability 0; EM's log of it is
    # -inf by design (that level then rules the class out).
    with np.errstate(divide="ignore", invalid="ignore"):
        kernel.fit_counts(patterns, counts)
    with np.errstate(invalid="ignore"):
        probs = np.nan_to_num(np.exp(kernel.feature_log_prob_), nan=0.0)
        prior = float(np.nan_to_num(np.exp(kernel.class_log_prior_[1]), nan=0.5))
    m_rows: list[tuple[float, ...]] = []
    u_rows: list[tuple[float, ...]] = []
    offset = 0
    for feature, binarizer in zip(features, kernel._binarizers, strict=True):
        m = [0.0] * feature.levels
        u = [0.0] * feature.levels
        for j, cls in enumerate(binarizer.classes_):
            u[int(cls)] = float(probs[0, offset + j])
            m[int(cls)] = float(probs[1, offset + j])
        offset += len(binarizer.classes_)
        m_rows.append(tuple(m))
        u_rows.append(tuple(u))
    prior = min(max(prior, _PROB_FLOOR), 1.0 - _PROB_FLOOR)
    return FittedModel(tuple(features), tuple(m_rows), tuple(u_rows), prior)


def choose_threshold(posteriors: FloatArray, *, missed: float = 0.0) -> float:
    """The posterior cut that maximises the model's expected F1 over proposed links.

    With links sorted by posterior, accepting those ``>= t`` has expected true
    positives ``sum(p)`` over the accepted, false positives ``sum(1 - p)``
    over the accepted and false negatives ``sum(p)`` over the rejected (plus
    ``missed``, expected matches outside the proposals).

    Args:
        posteriors: Posterior of each proposed link (one per record after resolution).
        missed: Expected matches that no proposal covers.

    Returns:
        The threshold (0.5 when there is nothing to decide).
    """
    if posteriors.size == 0:
        return 0.5
    p = np.sort(posteriors)[::-1]
    tp = np.cumsum(p)
    fp = np.cumsum(1.0 - p)
    fn = tp[-1] - tp + missed
    f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1e-12)
    best = int(np.argmax(f1))
    return float(min(max(p[best], _PROB_FLOOR), 1.0))
