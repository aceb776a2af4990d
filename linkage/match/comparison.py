"""Comparison vectors: how alike two records are, one level per keyed column.

For each candidate pair (from :mod:`linkage.match.blocking`) the comparison
vector has one entry per keyed comparison column present on both sides:

* ``clk_<col>``: the Dice coefficient of the two column Bloom filters
  (:func:`linkage.match.similarity.dice_pairs`), discretised into
  :data:`DICE_EDGES` levels, plus "missing on both" / "missing on one";
* ``mk_f_<col>``: exact agreement of keyed tokens (both missing, one
  missing, disagree, agree).

Vectors are computed directly on row numbers, a chunk of pairs at a time,
by compiled Dice (:mod:`linkage.match.similarity`) and integer token ids.
(They went through recordlinkage's ``Compare`` until state scale: its pandas
``MultiIndex`` and frames cost 65 of the 75 s that 95M pairs took at 8M
voters, for no change in the vectors.) The model that reads them is
:mod:`linkage.match.ecm`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from linkage.encode import from_arrow
from linkage.errors import InputError
from linkage.match.similarity import dice_pairs, popcounts
from linkage.match.term_frequency import log_frequency_sums, term_frequency_adjustment

__all__ = [
    "DICE_EDGES",
    "DICE_LEVELS",
    "EXACT_LEVELS",
    "Comparison",
    "Feature",
    "comparison_features",
    "comparison_vectors",
    "default_threads",
    "token_codes",
]

Kind = Literal["dice", "exact"]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
LevelArray = npt.NDArray[np.int8]
"""Comparison levels: one byte per pair and feature (levels are 0..6)."""

DICE_EDGES: Final = (0.5, 0.7, 0.85, 1.0)
"""Dice level edges: below 0.5, [0.5, 0.7), [0.7, 0.85), [0.85, 1.0), exactly 1.0."""

DICE_LEVELS: Final = 2 + len(DICE_EDGES) + 1
"""Levels of a Dice feature: missing on both, missing on one, then one per Dice bin."""

EXACT_LEVELS: Final = 4
"""Levels of an exact feature: missing on both, missing on one, disagree, agree."""


@dataclass(frozen=True)
class Feature:
    """One comparison-vector entry: a keyed payload column and how to compare it."""

    column: str
    kind: Kind

    @property
    def levels(self) -> int:
        """Number of levels."""
        return DICE_LEVELS if self.kind == "dice" else EXACT_LEVELS


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


def token_codes(tok_a: pa.Array, tok_b: pa.Array) -> tuple[IntArray, IntArray]:
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


def _value_frequencies(column_a: pa.Array, column_b: pa.Array) -> tuple[FloatArray, FloatArray]:
    """Per record, the share of all records (both sides) holding its exact value; NaN if none.

    For a Bloom filter the value is the whole filter: two records with one
    filter hold one normalised value. The matcher counts what it already
    holds; nothing new is learned by it or sent.
    """
    code_a, code_b = token_codes(column_a, column_b)
    both = np.concatenate([code_a, code_b])
    seen = both[both >= 0]
    if seen.size == 0:
        nan = np.full(code_a.size, np.nan)
        return nan, np.full(code_b.size, np.nan)
    counts = np.bincount(seen).astype(np.float64) / float(seen.size)
    share = np.where(both >= 0, counts[np.maximum(both, 0)], np.nan)
    return share[: code_a.size], share[code_a.size :]


class _Comparator:
    """One comparison feature, with its per-record work (bit counts, token ids) done once."""

    def __init__(
        self, feature: Feature, a: pa.Table, b: pa.Table, *, frequencies: bool = False
    ) -> None:
        self.feature = feature
        column_a, column_b = a.column(feature.column), b.column(feature.column)
        self.freq_a: FloatArray | None = None
        self.freq_b: FloatArray | None = None
        if frequencies:
            self.freq_a, self.freq_b = _value_frequencies(
                column_a.combine_chunks(), column_b.combine_chunks()
            )
        if feature.kind == "dice":
            self.clk_a, self.clk_b = from_arrow(column_a), from_arrow(column_b)
            self.empty_a = popcounts(self.clk_a) == 0
            self.empty_b = popcounts(self.clk_b) == 0
        else:
            self.code_a, self.code_b = token_codes(
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
        *,
        frequencies: Sequence[str] = (),
    ) -> None:
        if not features:
            raise InputError("no comparison columns (clk_*/mk_f_*) shared by both token files")
        self.features = tuple(features)
        self._comparators = [
            _Comparator(
                f, read_a([f.column]), read_b([f.column]), frequencies=f.column in frequencies
            )
            for f in features
        ]

    def value_frequencies(self, ia: IntArray, ib: IntArray, levels: LevelArray) -> FloatArray:
        """``(pairs, features)``: where a pair agrees exactly, how common its value is; else NaN.

        Only for the features named in ``frequencies``; the frequency is the
        larger of the two records' (they hold one value when they agree, up
        to a Dice of exactly 1 between two filters that differ in a bit
        neither sets).
        """
        out = np.full((ia.size, len(self.features)), np.nan)
        for j, comparator in enumerate(self._comparators):
            if comparator.freq_a is None or comparator.freq_b is None:
                continue
            top = levels[:, j] == comparator.feature.levels - 1
            if not top.any():
                continue
            out[top, j] = np.fmax(comparator.freq_a[ia[top]], comparator.freq_b[ib[top]])
        return out

    def frequency_adjustment(
        self,
        ia: IntArray,
        ib: IntArray,
        levels: LevelArray,
        groups: Sequence[Sequence[int]] = (),
        *,
        chunk_pairs: int = 1 << 21,
    ) -> FloatArray:
        """Per pair, the term-frequency change of its log Bayes factor (two chunked passes).

        See :mod:`linkage.match.term_frequency`: the first pass finds each
        feature's typical frequency over the agreeing pairs, the second
        scales each pair's agreement by its own; scratch memory is one chunk.
        """
        n = int(ia.size)
        sums = np.zeros(len(self.features))
        counts = np.zeros(len(self.features))
        step = max(1, chunk_pairs)
        for start in range(0, n, step):
            part = slice(start, min(n, start + step))
            s, c = log_frequency_sums(self.value_frequencies(ia[part], ib[part], levels[part]))
            sums, counts = sums + s, counts + c
        typical = np.where(counts > 0, np.exp(sums / np.maximum(counts, 1.0)), np.nan)
        out = np.zeros(n, dtype=np.float64)
        for start in range(0, n, step):
            part = slice(start, min(n, start + step))
            freq = self.value_frequencies(ia[part], ib[part], levels[part])
            out[part] = term_frequency_adjustment(freq, groups, typical=typical)
        return out

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
