"""Dice similarity of CLKs (keyed Bloom-filter encodings from :mod:`linkage.bloom`).

``Dice(A, B) = 2 |A ∩ B| / (|A| + |B|)`` over set bits. The fast paths view
each CLK row as ``uint64`` words and run compiled kernels (numba, LLVM's
``ctpop`` so each word is one ``POPCNT``, or a vector popcount where the CPU
has one). :func:`dice_reference` is the slow, obviously-correct definition
the fast paths are tested against.

Convention: two empty filters (every field null on both sides) score 0.0, not
1.0 — agreeing on "nothing known" is no evidence of a match (clkhash/anonlink
do the same).

Kernels are compiled on first use and cached next to this file (or in
numba's user-wide cache when that is read-only); with no writable cache at
all they are compiled once per process instead. :func:`warm_up` compiles
them ahead of a timed call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, cast

import numba
import numba.extending
import numpy as np
import numpy.typing as npt

from linkage.errors import InputError

__all__ = ["dice_all_pairs", "dice_pairs", "dice_reference", "popcounts", "warm_up"]

# Output slots per all-pairs kernel call (at least one row of b, so every
# call makes progress): bounds memory to this plus the pairs found.
_OUT_PAIRS = 1 << 18
# Pairs per dice_pairs kernel call when split across threads.
_PAIR_CHUNK = 1 << 16
# Row chunks per thread in dice_all_pairs: rows differ in how much of b they
# scan, so a few chunks each even the threads out.
_CHUNKS_PER_THREAD = 4
# A row whose hits are at least 1/_SWEEP_SHARE of b is put back in b's
# order by one pass over b rather than by sorting.
_SWEEP_SHARE = 16

Clks = npt.NDArray[np.uint8] | npt.NDArray[np.uint64]
_Words = npt.NDArray[np.uint64]
_Ints = npt.NDArray[np.int64]
_Floats = npt.NDArray[np.float64]

_F = TypeVar("_F", bound=Callable[..., Any])

# numba's decorators carry no annotations; typed aliases keep mypy strict.
_njit: Callable[..., Callable[[Callable[..., Any]], Any]] = numba.njit
_intrinsic: Callable[[Callable[..., Any]], Any] = numba.extending.intrinsic


def _compiled(fn: _F) -> _F:
    """Compile ``fn`` with numba: no GIL, cached on disk when a cache dir is writable."""
    try:
        return cast(_F, _njit(cache=True, nogil=True)(fn))
    except RuntimeError:
        # numba raises when no cache location is writable (read-only
        # install, read-only home); compiling per process still works.
        return cast(_F, _njit(nogil=True)(fn))


def _ctpop_typing(typingctx: object, word: object) -> tuple[Any, Callable[..., Any]]:
    """Typing and lowering of a 64-bit popcount through LLVM's ``ctpop`` intrinsic."""
    # int64 result: numba would widen int64 + uint64 sums to float64.
    signature = numba.types.int64(numba.types.uint64)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        word_type = context.get_value_type(numba.types.uint64)
        ctpop = builder.module.declare_intrinsic("llvm.ctpop", [word_type])
        return builder.call(ctpop, args)

    return signature, codegen


_popcount64: Callable[[np.uint64], int] = _intrinsic(_ctpop_typing)


@_compiled
def _popcount_rows(words: _Words, first: int, stop: int, out: _Ints) -> None:
    """``out[i]`` = set bits in words ``first:stop`` of row ``i``."""
    for i in range(words.shape[0]):
        bits = 0
        for k in range(first, stop):
            bits += _popcount64(words[i, k])
        out[i] = bits


@_compiled
def _pair_scores(
    wa: _Words,
    wb: _Words,
    ia: _Ints,
    ib: _Ints,
    count_a: _Ints,
    count_b: _Ints,
    counted: bool,
    first: int,
    stop: int,
    out: _Floats,
) -> None:
    """Dice of pairs ``first:stop`` into ``out``; rows counted here unless ``counted``."""
    width = wa.shape[1]
    for q in range(first, stop):
        i, j = ia[q], ib[q]
        inter = 0
        if counted:
            total = count_a[i] + count_b[j]
            for k in range(width):
                inter += _popcount64(wa[i, k] & wb[j, k])
        else:
            total = 0
            for k in range(width):
                x, y = wa[i, k], wb[j, k]
                inter += _popcount64(x & y)
                total += _popcount64(x) + _popcount64(y)
        out[q] = 2.0 * inter / total if total > 0 else 0.0


@_compiled
def _restore_b_order(out_b: _Ints, out_s: _Floats, first: int, stop: int, slots: _Floats) -> None:
    """Sort one row's hits (found in popcount order) by their index into ``b``.

    ``slots`` holds one ``-1.0`` per row of ``b`` and is left that way.
    """
    hits = stop - first
    if hits * _SWEEP_SHARE >= slots.size:
        # Most of b is a hit (low thresholds): a pass over b beats sorting.
        for q in range(first, stop):
            slots[out_b[q]] = out_s[q]
        q = first
        for j in range(slots.size):
            if slots[j] >= 0.0:
                out_b[q], out_s[q] = j, slots[j]
                slots[j] = -1.0
                q += 1
        return
    # Shell sort (Knuth's gaps), not np.argsort: numba's argsort adds
    # seconds to the first compile, and runs here are short.
    gap = 1
    while gap < hits // 3:
        gap = 3 * gap + 1
    while gap > 0:
        for q in range(first + gap, stop):
            key, score = out_b[q], out_s[q]
            r = q - gap
            while r >= first and out_b[r] > key:
                out_b[r + gap], out_s[r + gap] = out_b[r], out_s[r]
                r -= gap
            out_b[r + gap], out_s[r + gap] = key, score
        gap //= 3


@_compiled
def _all_pairs_rows(
    wa: _Words,
    count_a: _Ints,
    low_a: _Ints,
    rest_a: _Ints,
    scan_first: _Ints,
    scan_stop: _Ints,
    wb: _Words,
    count_b: _Ints,
    low_b: _Ints,
    rest_b: _Ints,
    order_b: _Ints,
    threshold: float,
    split: int,
    r0: int,
    r1: int,
    out_a: _Ints,
    out_b: _Ints,
    out_s: _Floats,
) -> tuple[int, int]:
    """Pairs reaching ``threshold`` for rows ``r0:r1`` of ``a``, until ``out_*`` is full.

    ``wb`` and its per-row arrays are in popcount order (``order_b`` maps
    back); row ``i`` scans ``wb[scan_first[i]:scan_stop[i]]`` only. Returns
    ``(pairs written, next row)``: a row is started only if all of its scan
    range fits in what is left of the output.
    """
    width = wa.shape[1]
    slots = np.full(wb.shape[0], -1.0)
    found = 0
    i = r0
    while i < r1 and found + scan_stop[i] - scan_first[i] <= out_a.shape[0]:
        row_start = found
        ca, la, ra = count_a[i], low_a[i], rest_a[i]
        for j in range(scan_first[i], scan_stop[i]):
            need = la + low_b[j]
            inter = 0
            for k in range(split):
                inter += _popcount64(wa[i, k] & wb[j, k])
            rb = rest_b[j]
            # The other words can add at most the fewer bits either side has
            # left; most pairs are out of reach after half the words.
            if inter + (ra if ra < rb else rb) < need:
                continue
            # Recounting every word is faster than counting the rest: LLVM
            # vectorises this loop well and a loop from ``split`` badly
            # (about 4x slower per pair in the 0.5-threshold bench).
            inter = 0
            for k in range(width):
                inter += _popcount64(wa[i, k] & wb[j, k])
            if inter < need:
                continue
            total = ca + count_b[j]
            score = 2.0 * inter / total if total > 0 else 0.0
            if score >= threshold:
                out_a[found], out_b[found], out_s[found] = i, order_b[j], score
                found += 1
        if found - row_start > 1:
            _restore_b_order(out_b, out_s, row_start, found, slots)
        i += 1
    return found, i


def _words(clks: Clks, name: str) -> _Words:
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


def _same_width(wa: _Words, wb: _Words) -> None:
    if wa.shape[1] != wb.shape[1]:
        raise InputError(
            "CLKs of different lengths cannot be compared",
            hint="both parties must encode with the same BloomSchema",
        )


def _is_int(pairs: npt.ArrayLike) -> bool:
    return np.issubdtype(np.asarray(pairs).dtype, np.integer)


def _check_threads(threads: int) -> None:
    if threads < 1:
        raise InputError("threads must be at least 1")


def _bits(words: _Words, first: int, stop: int) -> _Ints:
    out = np.empty(words.shape[0], dtype=np.int64)
    _popcount_rows(words, first, stop, out)
    return out


def popcounts(clks: Clks) -> _Ints:
    """Number of set bits per CLK row.

    Args:
        clks: ``uint8`` matrix ``(n, bytes)`` or ``uint64`` matrix ``(n, words)``.

    Returns:
        ``int64`` vector of length ``n``.
    """
    words = _words(clks, "clks")
    return _bits(words, 0, words.shape[1])


def dice_pairs(
    a: Clks,
    b: Clks,
    pairs_a: npt.ArrayLike,
    pairs_b: npt.ArrayLike,
    *,
    threads: int = 1,
) -> _Floats:
    """Dice coefficient of each candidate pair ``(a[pairs_a[i]], b[pairs_b[i]])``.

    Args:
        a: CLKs of one side, ``uint8`` ``(n_a, bytes)`` or ``uint64`` words.
        b: CLKs of the other side, same width.
        pairs_a: Row indices into ``a`` (an integer array; lists are accepted).
        pairs_b: Row indices into ``b``, same length as ``pairs_a``.
        threads: Threads sharing the pairs (the kernel releases the GIL);
            the result does not depend on it.

    Returns:
        ``float64`` scores in ``[0, 1]``, one per pair (0.0 when both are empty).

    Raises:
        InputError: Widths differ, index vectors differ in length, an index
            is out of range or ``threads`` is below 1.
    """
    _check_threads(threads)
    wa, wb = _words(a, "a"), _words(b, "b")
    _same_width(wa, wb)
    ia = np.ascontiguousarray(np.asarray(pairs_a).astype(np.int64, copy=False).ravel())
    ib = np.ascontiguousarray(np.asarray(pairs_b).astype(np.int64, copy=False).ravel())
    if ia.shape != ib.shape:
        raise InputError("pairs_a and pairs_b must have the same length")
    if ia.size and not (_is_int(pairs_a) and _is_int(pairs_b)):
        raise InputError("candidate pair indices must be integers")
    scores = np.empty(ia.shape[0], dtype=np.float64)
    if ia.size == 0:
        return scores
    # The kernel does not check bounds: every index is checked here first.
    if ia.min() < 0 or ia.max() >= wa.shape[0] or ib.min() < 0 or ib.max() >= wb.shape[0]:
        raise InputError("a candidate pair index is out of range")
    # Per-row counts pay off once there are more pairs than rows; otherwise
    # the kernel counts the gathered rows as it goes.
    counted = ia.size >= wa.shape[0] + wb.shape[0]
    empty = np.zeros(0, dtype=np.int64)
    count_a = _bits(wa, 0, wa.shape[1]) if counted else empty
    count_b = _bits(wb, 0, wb.shape[1]) if counted else empty

    def score(first: int) -> None:
        stop = min(first + _PAIR_CHUNK, ia.size)
        _pair_scores(wa, wb, ia, ib, count_a, count_b, counted, first, stop, scores)

    starts = range(0, ia.size, _PAIR_CHUNK)
    if threads == 1 or len(starts) == 1:
        for first in starts:
            score(first)
    else:
        # Each chunk writes its own slice of scores: no ordering to restore.
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(score, starts))
    return scores


def _lower_halves(counts: _Ints, threshold: float) -> _Ints:
    """Per row, an integer ``low`` with ``low_a + low_b`` <= any qualifying intersection.

    A pair scoring at least ``threshold`` has ``|A & B| >= t (|A| + |B|) / 2``
    up to rounding; each side's share is floored and lowered by one more so
    that float rounding can never drop a qualifying pair.
    """
    lows: _Ints = (np.floor(threshold * counts / 2.0) - 1).astype(np.int64)
    return lows


def _scan_ranges(count_a: _Ints, sorted_b: _Ints, threshold: float) -> tuple[_Ints, _Ints]:
    """Per row of ``a``, the slice of popcount-sorted ``b`` that can reach ``threshold``.

    ``|A & B| <= min(|A|, |B|)``, so Dice >= t needs ``|B|`` within
    ``[|A| t / (2 - t), |A| (2 - t) / t]``; both ends are widened by one so
    float rounding cannot cut a qualifying row off.
    """
    if threshold <= 0.0:
        zeros = np.zeros(count_a.size, dtype=np.int64)
        return zeros, np.full(count_a.size, sorted_b.size, dtype=np.int64)
    low = np.floor(count_a * threshold / (2.0 - threshold)) - 1
    high = np.ceil(count_a * (2.0 - threshold) / threshold) + 1
    first = np.searchsorted(sorted_b, low, side="left").astype(np.int64)
    stop = np.searchsorted(sorted_b, high, side="right").astype(np.int64)
    return first, stop


_Found = tuple[_Ints, _Ints, _Floats]


def dice_all_pairs(a: Clks, b: Clks, threshold: float, *, threads: int = 1) -> _Found:
    """Every pair with Dice >= ``threshold`` (all-to-all, for small inputs).

    Cost is up to ``len(a) * len(b)`` comparisons; use blocking plus
    :func:`dice_pairs` for real files. ``b`` is sorted by popcount once, and
    each row of ``a`` scans only the rows of ``b`` whose popcount allows the
    threshold (``|A & B| <= min(|A|, |B|)``). Within a pair, after half the
    words, a pair whose partial intersection plus the most its other words
    could add cannot reach the threshold is dropped (at 0.8 on 1024-bit
    CLKs, all but about 0.1%). Kept pairs are scored by the same division as
    :func:`dice_pairs`, so the result is exactly the brute-force one.
    Memory is bounded by one output buffer per thread plus the pairs found.

    Args:
        a: CLKs of one side.
        b: CLKs of the other side, same width.
        threshold: Minimum score kept, in ``[0, 1]``. With 0.0 every pair is
            returned (including empty-vs-empty pairs, which score 0.0).
        threads: Threads sharing the rows of ``a`` (the kernel releases the
            GIL); the result does not depend on it.

    Returns:
        ``(ia, ib, scores)`` sorted by ``ia`` then ``ib``.

    Raises:
        InputError: Widths differ, the threshold is outside ``[0, 1]`` or
            ``threads`` is below 1.
    """
    if not 0.0 <= threshold <= 1.0:
        raise InputError("threshold must be between 0 and 1")
    _check_threads(threads)
    wa, wb = _words(a, "a"), _words(b, "b")
    _same_width(wa, wb)
    if wa.shape[0] == 0 or wb.shape[0] == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
    width = wa.shape[1]
    # Half the words before the bound: at 0.8 on 1024-bit CLKs fewer leave
    # most pairs alive, and 8 words are one 512-bit vector. At 0.0 nothing
    # can be pruned.
    split = width // 2 if threshold > 0.0 else 0
    count_a = _bits(wa, 0, width)
    order_b = np.argsort(_bits(wb, 0, width), kind="stable").astype(np.int64)
    sorted_b = np.ascontiguousarray(wb[order_b])
    count_b = _bits(sorted_b, 0, width)
    scan_first, scan_stop = _scan_ranges(count_a, count_b, threshold)
    # threshold as a Python float: one compiled signature whatever was passed.
    cut = float(threshold)
    low_a, rest_a = _lower_halves(count_a, cut), _bits(wa, split, width)
    low_b, rest_b = _lower_halves(count_b, cut), _bits(sorted_b, split, width)
    capacity = max(_OUT_PAIRS, wb.shape[0])

    def rows(bounds: tuple[int, int]) -> _Found:
        out_a = np.empty(capacity, dtype=np.int64)
        out_b = np.empty(capacity, dtype=np.int64)
        out_s = np.empty(capacity, dtype=np.float64)
        parts: list[_Found] = []
        r0, r1 = bounds
        while r0 < r1:
            found, r0 = _all_pairs_rows(
                wa,
                count_a,
                low_a,
                rest_a,
                scan_first,
                scan_stop,
                sorted_b,
                count_b,
                low_b,
                rest_b,
                order_b,
                cut,
                split,
                r0,
                r1,
                out_a,
                out_b,
                out_s,
            )
            parts.append((out_a[:found].copy(), out_b[:found].copy(), out_s[:found].copy()))
        return _concat(parts)

    n_chunks = 1 if threads == 1 else min(wa.shape[0], threads * _CHUNKS_PER_THREAD)
    step = math.ceil(wa.shape[0] / n_chunks)
    chunks = [(r0, min(r0 + step, wa.shape[0])) for r0 in range(0, wa.shape[0], step)]
    if len(chunks) == 1:
        return rows(chunks[0])
    with ThreadPoolExecutor(max_workers=threads) as pool:
        # map yields in submission order: row chunks come back in order.
        return _concat(list(pool.map(rows, chunks)))


def _concat(parts: list[_Found]) -> _Found:
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
    )


def warm_up() -> None:
    """Compile (or load from cache) every kernel, so a timed call excludes it.

    numba compiles a whole kernel, every branch, on its first call with
    given argument types; these calls use the types real calls use.
    """
    clks = np.zeros((2, 16), dtype=np.uint8)
    clks[0, 0] = 1
    popcounts(clks)
    dice_pairs(clks, clks, [0, 1], [1, 0])
    dice_all_pairs(clks, clks, 0.5)


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
