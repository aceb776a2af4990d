"""Dice similarity of CLKs (keyed Bloom-filter encodings from :mod:`linkage.bloom`).

``Dice(A, B) = 2 |A ∩ B| / (|A| + |B|)`` over set bits. The fast paths view
each CLK row as ``uint64`` words and count bits with ``np.bitwise_count``
(numpy >= 2.0), in chunks so memory stays bounded whatever the number of
pairs. :func:`dice_reference` is the slow, obviously-correct definition the
fast paths are tested against.

Convention: two empty filters (every field null on both sides) score 0.0, not
1.0 — agreeing on "nothing known" is no evidence of a match (clkhash/anonlink
do the same).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from linkage.errors import InputError

__all__ = ["dice_all_pairs", "dice_pairs", "dice_reference", "popcounts"]

# Bytes of gathered words per chunk: small enough to stay in cache.
_CHUNK_BYTES = 1 << 17

Clks = npt.NDArray[np.uint8] | npt.NDArray[np.uint64]


def _words(clks: Clks, name: str) -> npt.NDArray[np.uint64]:
    """View a CLK matrix (uint8 bytes or uint64 words) as C-contiguous uint64 words."""
    if clks.ndim != 2:
        raise InputError(f"{name}: a CLK matrix must be 2-D (rows x bytes)")
    if clks.dtype == np.uint64:
        return np.ascontiguousarray(clks, dtype=np.uint64)
    if clks.dtype != np.uint8 or clks.shape[1] % 8:
        raise InputError(
            f"{name}: a CLK matrix must be uint8 with a multiple of 8 bytes per row",
            hint="encode with linkage.bloom.encode_records",
        )
    return np.ascontiguousarray(clks).view(np.uint64)


def _same_width(wa: npt.NDArray[np.uint64], wb: npt.NDArray[np.uint64]) -> None:
    if wa.shape[1] != wb.shape[1]:
        raise InputError(
            "CLKs of different lengths cannot be compared",
            hint="both parties must encode with the same BloomSchema",
        )


def _is_int(pairs: npt.ArrayLike) -> bool:
    return np.issubdtype(np.asarray(pairs).dtype, np.integer)


def _dice(
    inter: npt.NDArray[np.int64], count_a: npt.NDArray[np.int64], count_b: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    denominator = count_a + count_b
    out = np.zeros(np.broadcast_shapes(inter.shape, denominator.shape), dtype=np.float64)
    np.divide(2.0 * inter, denominator, out=out, where=denominator > 0)
    return out


def _row_sums(counts: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    """Sum per-word bit counts along rows.

    A float32 mat-vec product is several times faster than an integer
    reduction over a short axis and exact here (sums stay far below 2**24).
    """
    ones = np.ones(counts.shape[-1], dtype=np.float32)
    return (counts.astype(np.float32) @ ones).astype(np.int64)


def popcounts(clks: Clks) -> npt.NDArray[np.int64]:
    """Number of set bits per CLK row.

    Args:
        clks: ``uint8`` matrix ``(n, bytes)`` or ``uint64`` matrix ``(n, words)``.

    Returns:
        ``int64`` vector of length ``n``.
    """
    return _row_sums(np.bitwise_count(_words(clks, "clks")))


def dice_pairs(
    a: Clks,
    b: Clks,
    pairs_a: npt.ArrayLike,
    pairs_b: npt.ArrayLike,
) -> npt.NDArray[np.float64]:
    """Dice coefficient of each candidate pair ``(a[pairs_a[i]], b[pairs_b[i]])``.

    Args:
        a: CLKs of one side, ``uint8`` ``(n_a, bytes)`` or ``uint64`` words.
        b: CLKs of the other side, same width.
        pairs_a: Row indices into ``a`` (an integer array; lists are accepted).
        pairs_b: Row indices into ``b``, same length as ``pairs_a``.

    Returns:
        ``float64`` scores in ``[0, 1]``, one per pair (0.0 when both are empty).

    Raises:
        InputError: Widths differ, index vectors differ in length or an index
            is out of range.
    """
    wa, wb = _words(a, "a"), _words(b, "b")
    _same_width(wa, wb)
    ia = np.asarray(pairs_a).astype(np.int64, copy=False).ravel()
    ib = np.asarray(pairs_b).astype(np.int64, copy=False).ravel()
    if ia.shape != ib.shape:
        raise InputError("pairs_a and pairs_b must have the same length")
    if ia.size and not (_is_int(pairs_a) and _is_int(pairs_b)):
        raise InputError("candidate pair indices must be integers")
    scores = np.empty(ia.shape[0], dtype=np.float64)
    if ia.size == 0:
        return scores
    if ia.min() < 0 or ia.max() >= wa.shape[0] or ib.min() < 0 or ib.max() >= wb.shape[0]:
        raise InputError("a candidate pair index is out of range")
    # Per-row counts pay off once there are more pairs than rows; otherwise
    # count only the gathered rows.
    whole = ia.size >= wa.shape[0] + wb.shape[0]
    count_a = popcounts(wa) if whole else None
    count_b = popcounts(wb) if whole else None
    width = wa.shape[1]
    # Small reused buffers stay in cache; the row gathers are what costs.
    step = max(1, _CHUNK_BYTES // (8 * max(1, width)))
    buf_a = np.empty((min(step, ia.size), width), dtype=np.uint64)
    buf_b = np.empty_like(buf_a)
    for start in range(0, ia.size, step):
        ca, cb = ia[start : start + step], ib[start : start + step]
        ga, gb = buf_a[: ca.size], buf_b[: cb.size]
        np.take(wa, ca, axis=0, out=ga)
        np.take(wb, cb, axis=0, out=gb)
        na = count_a[ca] if count_a is not None else _row_sums(np.bitwise_count(ga))
        nb = count_b[cb] if count_b is not None else _row_sums(np.bitwise_count(gb))
        np.bitwise_and(ga, gb, out=ga)
        scores[start : start + step] = _dice(_row_sums(np.bitwise_count(ga)), na, nb)
    return scores


def dice_all_pairs(
    a: Clks, b: Clks, threshold: float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Every pair with Dice >= ``threshold`` (all-to-all, for small inputs).

    Cost is ``len(a) * len(b)`` comparisons; use blocking plus
    :func:`dice_pairs` for real files. Memory is bounded by chunking ``a``.

    Args:
        a: CLKs of one side.
        b: CLKs of the other side, same width.
        threshold: Minimum score kept, in ``[0, 1]``. With 0.0 every pair is
            returned (including empty-vs-empty pairs, which score 0.0).

    Returns:
        ``(ia, ib, scores)`` sorted by ``ia`` then ``ib``.

    Raises:
        InputError: Widths differ or the threshold is outside ``[0, 1]``.
    """
    if not 0.0 <= threshold <= 1.0:
        raise InputError("threshold must be between 0 and 1")
    wa, wb = _words(a, "a"), _words(b, "b")
    _same_width(wa, wb)
    count_a, count_b = popcounts(wa), popcounts(wb)
    found_a: list[npt.NDArray[np.int64]] = []
    found_b: list[npt.NDArray[np.int64]] = []
    found_s: list[npt.NDArray[np.float64]] = []
    step = max(1, (_CHUNK_BYTES * 8) // (8 * max(1, wa.shape[1] * wb.shape[0])))
    for start in range(0, wa.shape[0], step):
        block = wa[start : start + step]
        inter = _row_sums(np.bitwise_count(block[:, None, :] & wb[None, :, :]))
        scores = _dice(inter, count_a[start : start + step, None], count_b[None, :])
        rows, cols = np.nonzero(scores >= threshold)
        found_a.append(rows.astype(np.int64) + start)
        found_b.append(cols.astype(np.int64))
        found_s.append(scores[rows, cols])
    if not found_a:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
    return np.concatenate(found_a), np.concatenate(found_b), np.concatenate(found_s)


def dice_reference(x: bytes, y: bytes) -> float:
    """Dice coefficient of two CLKs, by definition (slow; the fast paths' oracle).

    Args:
        x: One CLK.
        y: Another CLK of the same length.

    Returns:
        ``2 |x & y| / (|x| + |y|)``, or 0.0 when both are empty.

    Raises:
        InputError: The lengths differ.
    """
    if len(x) != len(y):
        raise InputError("CLKs of different lengths cannot be compared")
    ix, iy = int.from_bytes(x, "big"), int.from_bytes(y, "big")
    total = ix.bit_count() + iy.bit_count()
    return 0.0 if total == 0 else 2 * (ix & iy).bit_count() / total
