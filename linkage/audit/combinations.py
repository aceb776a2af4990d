"""The combination search: which small Boolean regions of released segments hold under k households.

A campaign that receives figures for segments A, B, C and ``*`` can subtract
and add them. For every figure that is a sum over households (AQH, reach,
universe), ``f(A) + f(B) - f(*)`` is ``f(A ∩ B)`` whenever ``A ∪ B = *``:
the complement attack of issue 11 (``zip < X`` and ``zip >= X or voter ==
T``) isolates the target's household that way, and no pairwise differencing
rule can see it. This module searches every **region of the Venn diagram of
up to three released segments** inside ``*`` (A ∩ B ∖ C, ``*`` ∖ (A ∪ B), ...)
and reports those that hold 1 to ``k - 1`` households.

A region is a conservative stand-in for "a signed combination": a
{-1, 0, +1} combination of the segments' and ``*``'s figures measures the
households where its coefficients do not cancel, which is always a union of
regions, so a combination that isolates fewer than ``k`` households contains
a region that does. Each reported region says whether it is itself such a
combination (:attr:`Region.linear`: computable exactly from the released
figures of its segments and ``*``); the others need more than subtraction
(e.g. further segments or suppression patterns) but are reported all the same.

Fast by construction: households with the same memberships are collapsed
into one weighted pattern, the sizes of every single, pairwise and triple
intersection come from three matrix products over the patterns, and every
region's size follows by inclusion-exclusion over those arrays at once.
Only segment codes leave this module, never a household id.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Collection, Hashable, Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_COMBINED",
    "MAX_SEARCHED_SEGMENTS",
    "CombinationSearch",
    "Region",
    "isolating_regions",
]

MAX_COMBINED: Final = 3
"""Most segments (besides ``*``) one searched region combines."""

MAX_SEARCHED_SEGMENTS: Final = 128
"""Most segments one search takes: the triple-intersection array is this cubed."""

_CHUNK_ROWS: Final = 4096
"""Membership patterns per matrix product when counting triple intersections (bounds memory)."""

_IntArray = npt.NDArray[np.int64]
_BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Region:
    """One Boolean region of released segments, inside the universe ``*``.

    Attributes:
        inside: Segment codes the region's households all belong to.
        outside: Segment codes none of them belongs to.
        households: Households in the region (1 to k - 1 when reported).
        linear: The region's indicator is a {-1, 0, +1} combination of its
            segments' and ``*``'s indicators over the households that exist,
            so sums of released figures reproduce its figures exactly.
    """

    inside: tuple[str, ...]
    outside: tuple[str, ...]
    households: int
    linear: bool

    @property
    def formula(self) -> str:
        """The region in set notation, e.g. ``A ∩ B ∖ C`` or ``* ∖ (A ∪ B)``."""
        head = " ∩ ".join(self.inside) if self.inside else "*"
        if not self.outside:
            return head
        tail = self.outside[0] if len(self.outside) == 1 else f"({' ∪ '.join(self.outside)})"
        return f"{head} ∖ {tail}"


@dataclass(frozen=True)
class CombinationSearch:
    """What one search examined and found.

    Attributes:
        segments: Segments searched (those equal to the universe left out).
        households: Households in the universe (every searched segment's union).
        k: The threshold: regions of 1 to ``k - 1`` households are reported.
        examined: Non-empty regions examined.
        isolating: The regions found, most dangerous first: linear ones,
            then by size, then by the number of segments they combine
            (several formulas may name the same few households).
    """

    segments: int
    households: int
    k: int
    examined: int
    isolating: tuple[Region, ...]

    @property
    def linear(self) -> int:
        """How many isolating regions are plain sums and differences of released figures."""
        return sum(r.linear for r in self.isolating)

    def describe(self, shown: int = 3) -> str:
        """One line: the counts and the first ``shown`` formulas (segment codes only)."""
        head = (
            f"{self.segments} segments, {self.households:,} households, "
            f"{self.examined:,} regions of up to {MAX_COMBINED} segments: "
            f"{len(self.isolating)} hold 1..{self.k - 1} households "
            f"({self.linear} by plain addition of released figures)"
        )
        if not self.isolating:
            return head
        first = "; ".join(f"{r.formula} = {r.households}" for r in self.isolating[:shown])
        return f"{head}; first: {first}"


def _patterns(
    members: Mapping[str, Collection[Hashable]], codes: list[str]
) -> tuple[_BoolArray, _IntArray]:
    """Distinct membership patterns (rows) over ``codes`` (columns) and their household counts."""
    index: dict[Hashable, int] = {}
    for code in codes:
        for household in members[code]:
            index.setdefault(household, len(index))
    matrix = np.zeros((len(index), len(codes)), dtype=np.bool_)
    for j, code in enumerate(codes):
        rows = np.fromiter((index[h] for h in members[code]), dtype=np.int64)
        matrix[rows, j] = True
    # One byte string per household, so the collapse is a 1-D unique (fast), not a row sort.
    packed = np.packbits(matrix, axis=1)
    keys = np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    return matrix[first], counts.astype(np.int64)


def _intersections(
    patterns: _BoolArray, weights: _IntArray, order: int
) -> list[npt.NDArray[np.float64]]:
    """``[|A|, |A ∩ B|, |A ∩ B ∩ C|]`` as arrays over segment indices, up to ``order``."""
    x = patterns.astype(np.float64)
    w = weights.astype(np.float64)
    single = w @ x
    out = [single]
    if order >= 2:
        out.append((x * w[:, None]).T @ x)
    if order >= 3:
        n = x.shape[1]
        triple = np.zeros((n, n * n), dtype=np.float64)
        # |A ∩ B ∩ C| = sum over patterns of w x_a (x_b x_c): one product per chunk of rows.
        for lo in range(0, x.shape[0], _CHUNK_ROWS):
            part = x[lo : lo + _CHUNK_ROWS]
            pairs = (part[:, :, None] * part[:, None, :]).reshape(part.shape[0], n * n)
            triple += (part * w[lo : lo + _CHUNK_ROWS, None]).T @ pairs
        out.append(triple.reshape(n, n, n))
    return out


def _broadcast(
    inter: list[npt.NDArray[np.float64]], axes: tuple[int, ...], m: int, total: int
) -> npt.NDArray[np.float64] | float:
    """``|∩ of the segments on axes|`` as an array over an ``m``-axis grid (``total`` if none)."""
    if not axes:
        return float(total)
    array = inter[len(axes) - 1]
    n = array.shape[0]
    # ``axes`` is sorted, so inserting unit axes keeps the array's own axis order.
    return array.reshape([n if a in axes else 1 for a in range(m)])


def _region_sizes(
    inter: list[npt.NDArray[np.float64]], inside: tuple[int, ...], m: int, total: int
) -> npt.NDArray[np.float64]:
    """Size of the region (inside the axes in ``inside``, outside the rest) for every m-tuple."""
    outside = [a for a in range(m) if a not in inside]
    size: npt.NDArray[np.float64] | float = 0.0
    for r in range(len(outside) + 1):
        for extra in itertools.combinations(outside, r):
            term = _broadcast(inter, tuple(sorted(inside + extra)), m, total)
            size = size + term if r % 2 == 0 else size - term
    n = inter[0].shape[0]
    return np.broadcast_to(np.asarray(size, dtype=np.float64), (n,) * m)


@functools.cache
def _linear(nonempty: tuple[bool, ...], inside: tuple[int, ...], m: int) -> bool:
    """Whether some c in {-1,0,1}^(m+1) gives c_* + sum c_i x_i = [x in the region] where x exists.

    ``nonempty`` says, for each cell x of {0,1}^m in ``itertools.product``
    order, whether any household has that membership.
    """
    cells = [
        cell
        for cell, present in zip(itertools.product((0, 1), repeat=m), nonempty, strict=True)
        if present
    ]
    target = [all(cell[a] == (a in inside) for a in range(m)) for cell in cells]
    return any(
        all(
            coef[m] + sum(coef[a] * cell[a] for a in range(m)) == int(want)
            for cell, want in zip(cells, target, strict=True)
        )
        for coef in itertools.product((-1, 0, 1), repeat=m + 1)
    )


def isolating_regions(
    members: Mapping[str, Collection[Hashable]], k: int, *, max_combined: int = MAX_COMBINED
) -> CombinationSearch:
    """Every region of up to ``max_combined`` released segments holding 1 to ``k - 1`` households.

    The universe is the union of all segments (``*`` when it is among them); a
    segment equal to the universe adds no region and is left out, so passing
    ``*`` is harmless. Regions "outside" segments are taken inside the universe.

    Args:
        members: Segment code -> its households (any hashable ids; only their
            equality is used and none is returned).
        k: The release's minimum cell size (>= 1).
        max_combined: Most segments one region combines (1 to 3).

    Returns:
        The search's counts and regions (segment codes only).

    Raises:
        ValueError: ``k`` or ``max_combined`` is out of range, or there are more
            than :data:`MAX_SEARCHED_SEGMENTS` segments.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    if not 1 <= max_combined <= MAX_COMBINED:
        raise ValueError(f"max_combined must be between 1 and {MAX_COMBINED}")
    universe: set[Hashable] = set().union(*members.values()) if members else set()
    total = len(universe)
    codes = sorted(c for c, hs in members.items() if len(set(hs)) != total)
    if len(codes) > MAX_SEARCHED_SEGMENTS:
        raise ValueError(f"at most {MAX_SEARCHED_SEGMENTS} segments can be searched at once")
    patterns, weights = _patterns(members, codes)
    n = len(codes)
    order = min(max_combined, n)
    found: list[Region] = []
    examined = 0
    inter = _intersections(patterns, weights, order) if n else []
    for m in range(1, order + 1):
        sizes = {
            inside: _region_sizes(inter, inside, m, total)
            for r in range(m + 1)
            for inside in itertools.combinations(range(m), r)
        }
        # Each set of segments once: strictly increasing index tuples.
        tuples = np.array(list(itertools.combinations(range(n), m)), dtype=np.int64)
        flat = {inside: s[tuple(tuples.T)] for inside, s in sizes.items()}
        examined += int(sum(np.count_nonzero(v > 0.5) for v in flat.values()))
        for inside, values in flat.items():
            for row in np.flatnonzero((values > 0.5) & (values < k - 0.5)):
                combo = tuple(int(i) for i in tuples[row])
                nonempty = tuple(
                    bool(flat[tuple(a for a in range(m) if cell[a])][row] > 0.5)
                    for cell in itertools.product((0, 1), repeat=m)
                )
                in_codes = tuple(codes[combo[a]] for a in inside)
                out_codes = tuple(codes[combo[a]] for a in range(m) if a not in inside)
                found.append(
                    Region(in_codes, out_codes, round(values[row]), _linear(nonempty, inside, m))
                )
    found.sort(
        key=lambda r: (not r.linear, r.households, len(r.inside) + len(r.outside), r.formula)
    )
    return CombinationSearch(
        segments=n,
        households=total,
        k=k,
        examined=examined,
        isolating=tuple(found),
    )
