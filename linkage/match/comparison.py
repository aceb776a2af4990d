"""The matcher's fuzzy stage: comparison vectors, an unsupervised ECM model, resolution.

For each candidate pair (from :mod:`linkage.blocking`) the comparison vector
has one entry per keyed comparison column present on both sides:

* ``clk_<col>``: the Dice coefficient of the two column Bloom filters
  (:func:`linkage.similarity.dice_pairs`), discretised into
  :data:`DICE_EDGES` levels, plus "missing on both" / "missing on one";
* ``mk_f_<col>``: exact agreement of keyed tokens (both missing, one
  missing, disagree, agree).

Vectors are computed directly on row numbers, a chunk of pairs at a time,
by compiled Dice (:mod:`linkage.similarity`) and integer token ids. (They
went through recordlinkage's ``Compare`` until state scale: its pandas
``MultiIndex`` and frames cost 65 of the 75 s that 95M pairs took at 8M
voters, for no change in the vectors.) The model is recordlinkage's
``ECMClassifier``, an
unsupervised Fellegi-Sunter latent-class model fitted by EM. Its ``jaro``
start only accepts binary features, so :class:`_LevelECM` starts multi-level
features from their agreement order instead (match class tilted towards the
agreeing levels); the EM itself is recordlinkage's, and multi-level features
enter it one-hot, i.e. as proper categorical likelihoods.

The decision threshold is chosen from the fitted model: the posterior cut
that maximises the model's own expected F1 over the proposed links
(:func:`choose_threshold`); callers may override it. The same posteriors give
the aggregate precision and recall estimates of the match-report. They assume
the model's conditional independence, so they are optimistic when features
are correlated; they never leave the matcher per record.

The EM runs on distinct comparison vectors with their counts
(:meth:`_LevelECM.fit_counts`), not on every pair.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from recordlinkage.algorithms.nb_sklearn import ECM

from linkage.encode import from_arrow
from linkage.errors import InputError
from linkage.match.similarity import dice_pairs, popcounts

__all__ = [
    "DICE_EDGES",
    "Feature",
    "FittedModel",
    "choose_threshold",
    "comparison_features",
    "comparison_vectors",
    "fit_model",
    "resolve_many_to_one",
    "resolve_one_to_one",
]

Kind = Literal["dice", "exact"]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
LevelArray = npt.NDArray[np.int8]
"""Comparison levels: one byte per pair and feature (levels are 0..6)."""

DICE_EDGES: Final = (0.5, 0.7, 0.85, 1.0)
"""Dice level edges: below 0.5, [0.5, 0.7), [0.7, 0.85), [0.85, 1.0), exactly 1.0."""

# Starting agreement score per level (higher = more typical of a match).
_DICE_START: Final = (0.0, 0.0, -2.0, -1.0, 0.0, 1.5, 2.5)
_EXACT_START: Final = (0.0, 0.0, -2.0, 2.5)
_PROB_FLOOR: Final = 1e-6


@dataclass(frozen=True)
class Feature:
    """One comparison-vector entry: a keyed payload column and how to compare it."""

    column: str
    kind: Kind

    @property
    def levels(self) -> int:
        """Number of levels."""
        return len(_DICE_START) if self.kind == "dice" else len(_EXACT_START)


def comparison_features(a: pa.Schema, b: pa.Schema) -> tuple[Feature, ...]:
    """Every ``clk_*`` / ``mk_f_*`` column present on both sides, in side-a order."""
    found = []
    for name in a.names:
        if name not in b.names:
            continue
        if name.startswith("clk_"):
            found.append(Feature(name, "dice"))
        elif name.startswith("mk_f_"):
            found.append(Feature(name, "exact"))
    return tuple(found)


def default_threads() -> int:
    """Threads for the Dice kernel: every CPU this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _dice_levels(
    clk_a: npt.NDArray[np.uint8],
    clk_b: npt.NDArray[np.uint8],
    empty_a: npt.NDArray[np.bool_],
    empty_b: npt.NDArray[np.bool_],
    ia: IntArray,
    ib: IntArray,
) -> tuple[LevelArray, FloatArray]:
    no_a, no_b = empty_a[ia], empty_b[ib]
    scores = dice_pairs(clk_a, clk_b, ia, ib, threads=default_threads())
    levels = 2 + np.searchsorted(np.asarray(DICE_EDGES), scores, side="right")
    levels = np.where(no_a | no_b, np.where(no_a & no_b, 0, 1), levels)
    return levels.astype(np.int8), np.where(no_a | no_b, 0.0, scores)


def _token_codes(tok_a: pa.Array, tok_b: pa.Array) -> tuple[IntArray, IntArray]:
    """Dense ids of the token values, shared across sides; -1 = missing."""
    both = pa.concat_arrays([tok_a, tok_b]).cast(pa.binary())
    codes = both.dictionary_encode().indices.fill_null(-1).to_numpy(zero_copy_only=False)
    codes = codes.astype(np.int64)
    return codes[: len(tok_a)], codes[len(tok_a) :]


def _exact_levels(code_a: IntArray, code_b: IntArray, ia: IntArray, ib: IntArray) -> LevelArray:
    ca, cb = code_a[ia], code_b[ib]
    missing_a, missing_b = ca < 0, cb < 0
    levels = np.where(ca == cb, 3, 2)
    levels = np.where(missing_a | missing_b, np.where(missing_a & missing_b, 0, 1), levels)
    return levels.astype(np.int8)


class _Comparator:
    """One comparison feature, with its per-record work (bit counts, token ids) done once."""

    def __init__(self, feature: Feature, a: pa.Table, b: pa.Table) -> None:
        self.feature = feature
        column_a, column_b = a.column(feature.column), b.column(feature.column)
        if feature.kind == "dice":
            self.clk_a, self.clk_b = from_arrow(column_a), from_arrow(column_b)
            self.empty_a = popcounts(self.clk_a) == 0
            self.empty_b = popcounts(self.clk_b) == 0
        else:
            self.code_a, self.code_b = _token_codes(
                column_a.combine_chunks(), column_b.combine_chunks()
            )

    def levels(self, ia: IntArray, ib: IntArray) -> tuple[LevelArray, FloatArray | None]:
        """Levels of pairs ``(ia[i], ib[i])``, and their Dice scores for a Dice feature."""
        if self.feature.kind == "dice":
            return _dice_levels(self.clk_a, self.clk_b, self.empty_a, self.empty_b, ia, ib)
        return _exact_levels(self.code_a, self.code_b, ia, ib), None


class Comparison:
    """Comparison vectors for pairs of rows of two token tables.

    Construction does the per-record work (CLK matrices, token ids) one
    feature column at a time and keeps only numpy arrays: the callers' column
    readers hand over one column per side at a time, so at 8M voters only one
    column is ever in Arrow.

    Args:
        features: What to compare (their columns must exist on both sides).
        read_a: Reads named side-a token columns (``Table.select``,
            ``Columns.read``).
        read_b: The same for side b.

    Raises:
        InputError: No feature is given.
    """

    def __init__(
        self,
        features: Sequence[Feature],
        read_a: Callable[[list[str]], pa.Table],
        read_b: Callable[[list[str]], pa.Table],
    ) -> None:
        if not features:
            raise InputError("no comparison columns (clk_*/mk_f_*) shared by both token files")
        self.features = tuple(features)
        self._comparators = [
            _Comparator(f, read_a([f.column]), read_b([f.column])) for f in features
        ]

    def vectors(
        self, ia: IntArray, ib: IntArray, *, chunk_pairs: int = 1 << 21
    ) -> tuple[LevelArray, FloatArray]:
        """Levels of pairs ``(ia[i], ib[i])`` and their summed Dice scores."""
        n = int(ia.shape[0])
        levels = np.empty((n, len(self.features)), dtype=np.int8)
        dice_sum = np.zeros(n, dtype=np.float64)
        step = max(1, chunk_pairs)
        for start in range(0, n, step):
            stop = min(n, start + step)
            for j, comparator in enumerate(self._comparators):
                column, scores = comparator.levels(ia[start:stop], ib[start:stop])
                levels[start:stop, j] = column
                if scores is not None:
                    dice_sum[start:stop] += scores
        return levels, dice_sum


def comparison_vectors(
    a: pa.Table,
    b: pa.Table,
    ia: IntArray,
    ib: IntArray,
    features: Sequence[Feature],
    *,
    chunk_pairs: int = 1 << 21,
) -> tuple[LevelArray, FloatArray]:
    """Comparison levels of each candidate pair.

    Pairs go ``chunk_pairs`` at a time, so scratch memory is bounded by a
    chunk; the result is one byte per pair and feature, plus the Dice sum.

    Args:
        a: Side-a tokens (the features' columns).
        b: Side-b tokens.
        ia: Row positions on side a.
        ib: Row positions on side b (same length).
        features: What to compare.
        chunk_pairs: Pairs per chunk.

    Returns:
        ``(levels, dice_sum)``: an ``int8`` matrix ``(pairs, features)`` of
        levels and, per pair, the summed raw Dice scores (a tie-breaker).

    Raises:
        InputError: A feature column is missing or no feature is given.
    """
    if not features:
        raise InputError("no comparison columns (clk_*/mk_f_*) shared by both token files")
    for feature in features:
        if feature.column not in a.column_names or feature.column not in b.column_names:
            raise InputError("comparison column missing on one side", column=feature.column)
    return Comparison(features, a.select, b.select).vectors(ia, ib, chunk_pairs=chunk_pairs)


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
