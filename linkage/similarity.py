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

from typing import Any

import numpy as np
import numpy.typing as npt

from linkage.errors import InputError

__all__ = ["dice_all_pairs", "dice_pairs", "dice_reference", "popcounts"]

# Bytes of gathered words per chunk: small enough to stay in cache.
_CHUNK_BYTES = 1 << 17
# Pairs per all-pairs tile: its uint64 scratch (256 KiB) stays in L2.
_TILE_PAIRS = 1 << 15
# Finish a tile by gathering survivors only while at most 1/16 of it survives
# pruning; a gathered word costs several times a word in the dense pass.
_DENSE_SHARE = 16
# Tiles whose survivors are finished and scored together.
_BATCH_TILES = 16

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
    :func:`dice_pairs` for real files. Work goes tile by tile (a few rows of
    ``a`` against a slice of ``b``, sized to stay in cache), so memory is
    bounded by one tile plus the pairs found.

    Each tile sums ``popcount(a_word & b_word)`` one word at a time, with
    ``b`` transposed so every step is one vectorised pass over the whole
    tile (elementwise ufuncs, one thread). After 7 of every 16 words, a pair
    whose partial intersection plus the most its other words could add
    cannot reach the threshold is dropped (at 0.8 on 1024-bit CLKs, all but
    about 0.5%), and the survivors are finished by gathering their remaining
    words; when too many survive (low thresholds) the tile is finished
    densely instead. Kept pairs are scored by the same division as
    :func:`dice_pairs`, so the result is exactly the brute-force one.

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
    if wa.shape[0] == 0 or wb.shape[0] == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
    tiles = _Tiles(wa, wb, threshold)
    found = [
        tiles.batch(r0, r0 + tiles.batch_rows) for r0 in range(0, wa.shape[0], tiles.batch_rows)
    ]
    return (
        np.concatenate([f[0] for f in found]),
        np.concatenate([f[1] for f in found]),
        np.concatenate([f[2] for f in found]),
    )


def _lower_halves(counts: npt.NDArray[np.int64], threshold: float) -> npt.NDArray[np.int64]:
    """Per row, an integer ``low`` with ``low_a + low_b`` <= any qualifying intersection.

    A pair scoring at least ``threshold`` has ``|A & B| >= t (|A| + |B|) / 2``
    up to rounding; each side's share is floored and lowered by one more so
    that float rounding can never drop a qualifying pair.
    """
    lows: npt.NDArray[np.int64] = (np.floor(threshold * counts / 2.0) - 1).astype(np.int64)
    return lows


def _flat_nonzero(mask: npt.NDArray[np.bool_], r0: int, c0: int) -> tuple[_Index, _Index]:
    """Row and column (offset by ``r0``, ``c0``) of each true entry, row-major.

    ``np.nonzero`` on a 2-D mask is an order of magnitude slower than on a
    flat one, and tiles are mostly false.
    """
    rows, cols = np.divmod(np.flatnonzero(mask), mask.shape[1])
    return rows + r0, cols + c0


_Small = npt.NDArray[np.signedinteger[Any]]
_Index = npt.NDArray[np.intp]


class _Tiles:
    """Scratch buffers and per-row bounds shared by every tile of one all-pairs run.

    Args:
        wa: Words of one side.
        wb: Words of the other side, same width.
        threshold: Minimum score kept.
    """

    def __init__(
        self, wa: npt.NDArray[np.uint64], wb: npt.NDArray[np.uint64], threshold: float
    ) -> None:
        self.wa, self.wb, self.threshold = wa, wb, threshold
        self.width = wa.shape[1]
        # Words summed before pruning (7 of 16 for 1024-bit CLKs); the bound
        # needs at least one word after. Fewer leave too many survivors at
        # usual thresholds, more add dense work that pruning would have saved.
        self.split = max(1, self.width * 7 // 16) if self.width > 1 else self.width
        self.count_a, self.count_b = popcounts(wa), popcounts(wb)
        # Small signed integers throughout: counts, bounds and sums lie within
        # +-(bits + 2), so int16 serves up to 16,383-bit filters.
        kind = np.int16 if self.width * 64 < 1 << 14 else np.int32
        self.low_a: _Small = _lower_halves(self.count_a, threshold).astype(kind)
        self.low_b: _Small = _lower_halves(self.count_b, threshold).astype(kind)
        self.rest_a: _Small = popcounts(wa[:, self.split :]).astype(kind)
        self.rest_b: _Small = popcounts(wb[:, self.split :]).astype(kind)
        # One row of words per column of b: a tile step is then a broadcast
        # of one word of a over a contiguous run of b's words.
        self.b_words = np.ascontiguousarray(wb.T)
        self.cols = min(wb.shape[0], _TILE_PAIRS)
        self.rows = max(1, _TILE_PAIRS // self.cols)
        # Survivors are finished and scored a batch of tiles at a time, which
        # keeps per-call overhead off the tiles and memory bounded by a batch.
        self.batch_rows = self.rows * max(1, _BATCH_TILES // -(-wb.shape[0] // self.cols))
        self.acc: _Small = np.empty((self.rows, self.cols), dtype=kind)
        self.and_words = np.empty((self.rows, self.cols), dtype=np.uint64)
        self.group = np.empty((self.rows, self.cols), dtype=np.uint8)
        self.bits = np.empty((self.rows, self.cols), dtype=np.uint8)

    def batch(
        self, r0: int, r1: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Pairs reaching the threshold among rows ``r0:r1`` of ``a``, sorted."""
        r1 = min(r1, self.wa.shape[0])
        # Per tile: complete intersections, or partial ones still to finish.
        parts: list[tuple[_Index, _Index, npt.NDArray[np.int64], bool]] = []
        for t0 in range(r0, r1, self.rows):
            for c0 in range(0, self.wb.shape[0], self.cols):
                parts.append(self._tile(t0, min(t0 + self.rows, r1), c0))
        ia = np.concatenate([p[0] for p in parts])
        ib = np.concatenate([p[1] for p in parts])
        inter = np.concatenate([p[2] for p in parts])
        partial = np.concatenate([np.full(p[0].size, p[3]) for p in parts])
        if partial.any():
            ja, jb = ia[partial], ib[partial]
            tail = np.bitwise_and(self.wa[ja, self.split :], self.wb[jb, self.split :])
            inter[partial] += _row_sums(np.bitwise_count(tail))
        scores = _dice(inter, self.count_a[ia], self.count_b[ib])
        hit = scores >= self.threshold
        ia, ib, scores = ia[hit].astype(np.int64), ib[hit].astype(np.int64), scores[hit]
        if self.cols < self.wb.shape[0]:
            # Column tiles come out one after another; a stable sort on the
            # row restores (ia, ib) order.
            order = np.argsort(ia, kind="stable")
            ia, ib, scores = ia[order], ib[order], scores[order]
        return ia, ib, scores

    def _tile(
        self, r0: int, r1: int, c0: int
    ) -> tuple[_Index, _Index, npt.NDArray[np.int64], bool]:
        """Candidates of one tile: ``(ia, ib, intersections, partial)``."""
        c1 = min(c0 + self.cols, self.wb.shape[0])
        acc = self.acc[: r1 - r0, : c1 - c0]
        acc.fill(0)
        self._add_words(acc, r0, r1, c0, c1, 0, self.split)
        # Every pair reaching the threshold has an intersection >= low (a
        # conservative integer bound; the exact test comes after).
        low = self.low_a[r0:r1, None] + self.low_b[None, c0:c1]
        if self.split < self.width:
            room = np.minimum(self.rest_a[r0:r1, None], self.rest_b[None, c0:c1])
            low -= room
            ia, ib = _flat_nonzero(acc >= low, r0, c0)
            if ia.size * _DENSE_SHARE <= acc.size:
                return ia, ib, acc[ia - r0, ib - c0].astype(np.int64), True
            self._add_words(acc, r0, r1, c0, c1, self.split, self.width)
            low += room
        ia, ib = _flat_nonzero(acc >= low, r0, c0)
        return ia, ib, acc[ia - r0, ib - c0].astype(np.int64), False

    def _add_words(
        self, acc: _Small, r0: int, r1: int, c0: int, c1: int, first: int, stop: int
    ) -> None:
        """Add ``popcount(a & b)`` of words ``first:stop`` to the tile's sums."""
        words = self.and_words[: r1 - r0, : c1 - c0]
        group = self.group[: r1 - r0, : c1 - c0]
        bits = self.bits[: r1 - r0, : c1 - c0]
        # Up to three words' counts (<= 192) are summed in uint8 first: a
        # same-type add is several times cheaper than widening each word's.
        for start in range(first, stop, 3):
            for w in range(start, min(start + 3, stop)):
                np.bitwise_and(self.wa[r0:r1, w, None], self.b_words[w, None, c0:c1], out=words)
                np.bitwise_count(words, out=group if w == start else bits)
                if w != start:
                    np.add(group, bits, out=group)
            np.add(acc, group, out=acc)


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
