"""Vectorised draws and string builders shared by the synthetic-world modules.

Every table of the world is built column-wise: numpy draws indices, Arrow
compute turns them into strings. These helpers are the few operations the
population, subscriber, viewing and rate-card builders all need, defined once
so that each one consumes its random stream the same way wherever it is used
(the world is reproducible only while the order of draws is fixed).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "BoolArray",
    "FloatArray",
    "IntArray",
    "choose",
    "constant",
    "digit_strings",
    "draw",
    "draw_by_group",
    "int_strings",
    "join",
    "take",
    "unique_ints",
    "where",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def draw(rng: np.random.Generator, weights: FloatArray, n: int) -> IntArray:
    """Inverse-CDF draws of ``n`` indices with probability proportional to ``weights``."""
    cdf = np.cumsum(weights, dtype=np.float64)
    idx = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
    out: IntArray = np.minimum(idx, len(weights) - 1).astype(np.int64)
    return out


def draw_by_group(
    rng: np.random.Generator, weights: FloatArray, groups: IntArray, base: int = 0
) -> IntArray:
    """One draw per element from ``weights[base + group]`` (a 2-D table), grouped."""
    out = np.zeros(len(groups), dtype=np.int64)
    for g in np.unique(groups):
        sel = np.flatnonzero(groups == g)
        out[sel] = draw(rng, weights[base + int(g)], len(sel))
    return out


def digit_strings(values: IntArray, width: int, base: int = 10) -> pa.Array:
    """Fixed-width zero-padded decimal or lowercase hex strings, without a Python loop."""
    alphabet = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    powers = base ** np.arange(width - 1, -1, -1, dtype=np.int64)
    codes = alphabet[(values[:, None] // powers) % base]
    raw = np.ascontiguousarray(codes).view(f"S{width}").ravel()
    return pa.array(raw, pa.binary(width)).cast(pa.string())


def unique_ints(
    rng: np.random.Generator, n: int, high: int, part: tuple[int, int] = (0, 1)
) -> IntArray:
    """``n`` distinct random integers in ``[0, high)``, in random order.

    ``part = (i, k)`` draws from the ``i``-th of ``k`` equal slices of the range, so
    chunks of a streamed world never share an identifier; ``(0, 1)`` is the whole range.
    """
    index, parts = part
    width = high // parts
    out = rng.integers(0, width, size=n, dtype=np.int64)
    while True:
        _, first = np.unique(out, return_index=True)
        if len(first) == n:
            return out + index * width
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        out[dup] = rng.integers(0, width, size=int(dup.sum()), dtype=np.int64)


def constant(text: str, n: int) -> pa.Array:
    """``n`` copies of ``text`` (far faster than converting a numpy array of them)."""
    return pa.repeat(pa.scalar(text, pa.string()), n)


def take(values: pa.Array, idx: IntArray) -> pa.Array:
    """``values[idx]`` for a numpy index."""
    return values.take(pa.array(idx, pa.int64()))


def int_strings(values: IntArray) -> pa.Array:
    """Decimal strings of integers, unpadded."""
    return pc.cast(pa.array(values, pa.int64()), pa.string())


def where(mask: BoolArray, yes: pa.Array, no: pa.Array | None) -> pa.Array:
    """Arrow ``if_else`` with a numpy mask; ``no=None`` means null."""
    if no is None:
        no = pa.nulls(len(mask), pa.string())
    return pc.if_else(pa.array(mask, pa.bool_()), yes, no)


def join(parts: list[pa.Array], sep: str = "") -> pa.Array:
    """Element-wise join that skips null parts (so optional pieces just vanish).

    Built from ``emit_null`` joins and ``coalesce`` because Arrow's ``skip`` mode drops
    rows whose parts are all null instead of returning null for them.
    """
    result = parts[0]
    for part in parts[1:]:
        both = pc.binary_join_element_wise(result, part, sep)
        result = pc.coalesce(both, result, part)
    return result


def choose(which: IntArray, options: list[pa.Array]) -> pa.Array:
    """Per row, the value of ``options[which]``."""
    return pc.choose(pa.array(which.astype(np.int8), pa.int8()), *options)
