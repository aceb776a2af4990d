"""Tests for linkage.similarity: fast Dice paths against the by-definition reference."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.errors import InputError
from linkage.match import dice_all_pairs, dice_pairs, dice_reference, popcounts, similarity


def random_clks(seed: int, rows: int, nbytes: int, density: float = 0.3) -> np.ndarray:
    """Sparse-ish random filters, with some all-zero and duplicate rows mixed in."""
    rng = np.random.default_rng(seed)
    bits = rng.random((rows, nbytes * 8)) < rng.uniform(0.0, density, (rows, 1))
    clks = np.packbits(bits, axis=1)
    if rows > 3:
        clks[0] = 0
        clks[1] = clks[2]
    return clks


@pytest.fixture(params=[False, True], ids=["default-chunks", "tiny-chunks"])
def chunking(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.param:
        # Force many kernel calls so their seams are exercised.
        monkeypatch.setattr(similarity, "_PAIR_CHUNK", 7)
        monkeypatch.setattr(similarity, "_OUT_PAIRS", 1)


def test_reference_by_hand() -> None:
    assert dice_reference(b"\xff", b"\x0f") == pytest.approx(8 / 12)
    assert dice_reference(b"\xf0\x00", b"\x0f\x00") == 0.0
    assert dice_reference(b"\x00\x00", b"\x00\x00") == 0.0
    assert dice_reference(b"\x00", b"\x01") == 0.0
    assert dice_reference(b"\x81", b"\x81") == 1.0
    with pytest.raises(InputError):
        dice_reference(b"\x00", b"\x00\x00")


@pytest.mark.usefixtures("chunking")
@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    rows_a=st.integers(1, 30),
    rows_b=st.integers(1, 30),
    words=st.integers(1, 4),
    n_pairs=st.integers(0, 200),
)
def test_dice_pairs_equals_reference(
    seed: int, rows_a: int, rows_b: int, words: int, n_pairs: int
) -> None:
    a = random_clks(seed, rows_a, words * 8)
    b = random_clks(seed + 1, rows_b, words * 8)
    rng = np.random.default_rng(seed)
    ia = rng.integers(0, rows_a, n_pairs, dtype=np.int32)
    ib = rng.integers(0, rows_b, n_pairs)
    scores = dice_pairs(a, b, ia, ib)
    expected = [dice_reference(bytes(a[i]), bytes(b[j])) for i, j in zip(ia, ib, strict=True)]
    assert scores.dtype == np.float64
    assert scores.tolist() == expected  # exact: both divide the same two integers
    assert ((scores >= 0.0) & (scores <= 1.0)).all()
    # Symmetric, and the same on uint64 words as on bytes.
    assert np.array_equal(dice_pairs(b, a, ib, ia), scores)
    assert np.array_equal(dice_pairs(a.view(np.uint64), b.view(np.uint64), ia, ib), scores)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), rows=st.integers(1, 20))
def test_identical_non_empty_filters_score_one(seed: int, rows: int) -> None:
    clks = random_clks(seed, rows, 16)
    index = np.arange(rows)
    scores = dice_pairs(clks, clks, index, index)
    non_empty = popcounts(clks) > 0
    assert (scores[non_empty] == 1.0).all()
    assert (scores[~non_empty] == 0.0).all()  # empty vs empty is defined as 0.0


def test_both_popcount_strategies_agree() -> None:
    a, b = random_clks(3, 50, 128), random_clks(4, 60, 128)
    rng = np.random.default_rng(5)
    many_a, many_b = rng.integers(0, 50, 500), rng.integers(0, 60, 500)
    few = dice_pairs(a, b, many_a[:20], many_b[:20])  # fewer pairs than rows
    many = dice_pairs(a, b, many_a, many_b)  # more pairs than rows
    assert np.array_equal(many[:20], few)


@pytest.mark.usefixtures("chunking")
@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    rows_a=st.integers(0, 25),
    rows_b=st.integers(0, 25),
    threshold=st.sampled_from([0.0, 0.2, 0.5, 1.0]),
)
def test_dice_all_pairs_equals_brute_force(
    seed: int, rows_a: int, rows_b: int, threshold: float
) -> None:
    a = random_clks(seed, rows_a, 16, density=0.6)
    b = np.concatenate([random_clks(seed + 1, rows_b, 16, density=0.6), a[:3]])
    ia, ib, scores = dice_all_pairs(a, b, threshold)
    expected = [
        (i, j, dice_reference(bytes(a[i]), bytes(b[j])))
        for i in range(len(a))
        for j in range(len(b))
        if dice_reference(bytes(a[i]), bytes(b[j])) >= threshold
    ]
    assert list(zip(ia.tolist(), ib.tolist(), scores.tolist(), strict=True)) == expected


def near_copies(seed: int, clks: np.ndarray, flips: int) -> np.ndarray:
    """``clks`` with ``flips`` random bits toggled per row (scores near 1, not all 1)."""
    rng = np.random.default_rng(seed)
    bits = np.unpackbits(clks, axis=1)
    for row in bits:
        row[rng.integers(0, row.size, flips)] ^= 1
    return np.packbits(bits, axis=1)


@pytest.mark.parametrize(
    ("out_pairs", "threads", "threshold"),
    [
        (1 << 18, 1, 0.8),  # one kernel call for all rows
        (1 << 18, 2, 0.8),  # row chunks on two threads
        (1, 1, 0.8),  # output buffer of one row of b: many calls per chunk
        (1, 3, 0.3),  # most pairs survive the bound; more threads than needed
        (1, 2, 0.0),  # every pair, empty-vs-empty included
    ],
)
def test_dice_all_pairs_full_width_equals_brute_force(
    monkeypatch: pytest.MonkeyPatch, out_pairs: int, threads: int, threshold: float
) -> None:
    # Full-size 1024-bit filters, so pruning after 8 of 16 words is really
    # taken, with near-duplicates scattered across b's popcount order.
    monkeypatch.setattr(similarity, "_OUT_PAIRS", out_pairs)
    a = random_clks(11, 41, 128, density=0.5)
    rng = np.random.default_rng(12)
    b = np.concatenate([random_clks(13, 20, 128, density=0.5), near_copies(14, a, 40)])
    b = b[rng.permutation(len(b))]
    ia, ib, scores = dice_all_pairs(a, b, threshold, threads=threads)
    expected = brute_force(a, b, threshold)
    assert list(zip(ia.tolist(), ib.tolist(), scores.tolist(), strict=True)) == expected
    # Enough true near-matches that a wrong prune or a lost seam would show.
    assert threshold < 0.8 or len(expected) >= 30


def brute_force(a: np.ndarray, b: np.ndarray, threshold: float) -> list[tuple[int, int, float]]:
    return [
        (i, j, score)
        for i in range(len(a))
        for j in range(len(b))
        if (score := dice_reference(bytes(a[i]), bytes(b[j]))) >= threshold
    ]


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    rows_a=st.integers(0, 12),
    rows_b=st.integers(0, 45),
    words=st.sampled_from([1, 2, 3, 5, 16]),
    density=st.sampled_from([0.05, 0.3, 0.9]),
)
def test_dice_all_pairs_widths_densities_thresholds(
    seed: int, rows_a: int, rows_b: int, words: int, density: float
) -> None:
    # Near copies of a's rows in b, besides empty and duplicate rows, so
    # high thresholds find pairs; rows of b may be sorted or swept.
    a = random_clks(seed, rows_a, words * 8, density=density)
    b = np.concatenate(
        [random_clks(seed + 1, rows_b, words * 8, density=density), a, near_copies(seed, a, 2)]
    )
    for threshold in (0.0, 0.5, 0.8, 1.0):
        found = dice_all_pairs(a, b, threshold)
        expected = brute_force(a, b, threshold)
        assert list(zip(*(f.tolist() for f in found), strict=True)) == expected
        threaded = dice_all_pairs(a.view(np.uint64), b.view(np.uint64), threshold, threads=2)
        for ours, theirs in zip(found, threaded, strict=True):
            assert ours.dtype == theirs.dtype
            assert np.array_equal(ours, theirs)


def test_low_threshold_rows_sorted_by_b() -> None:
    # At 0.0 every row of a has every row of b as a hit, found in popcount
    # order: the long-run sort must restore b's order.
    a = random_clks(21, 3, 16)
    b = random_clks(22, 200, 16)
    ia, ib, scores = dice_all_pairs(a, b, 0.0)
    assert ia.tolist() == np.repeat(np.arange(3), 200).tolist()
    assert ib.tolist() == np.tile(np.arange(200), 3).tolist()
    assert scores.tolist() == [s for _, _, s in brute_force(a, b, 0.0)]


def test_mid_length_rows_sorted_by_b() -> None:
    # 40 copies of each row of a among 1,000 empty rows: long runs to sort
    # (several shell-sort gaps), too few for a pass over b.
    a = random_clks(23, 6, 16)[3:]
    b = np.concatenate([np.repeat(a, 40, axis=0), np.zeros((1000, 16), np.uint8)])
    b = b[np.random.default_rng(24).permutation(len(b))]
    found = dice_all_pairs(a, b, 1.0)
    assert found[0].size == 120
    assert list(zip(*(f.tolist() for f in found), strict=True)) == brute_force(a, b, 1.0)


def test_dice_pairs_threads_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(similarity, "_PAIR_CHUNK", 13)
    a, b = random_clks(31, 40, 24), random_clks(32, 30, 24)
    rng = np.random.default_rng(33)
    for n_pairs in (10, 500):  # rows counted in the kernel, then counted ahead
        ia, ib = rng.integers(0, 40, n_pairs), rng.integers(0, 30, n_pairs)
        one = dice_pairs(a, b, ia, ib)
        two = dice_pairs(a, b, ia, ib, threads=2)
        expected = [dice_reference(bytes(a[i]), bytes(b[j])) for i, j in zip(ia, ib, strict=True)]
        assert one.tolist() == expected
        assert np.array_equal(one, two)


def test_unwritable_cache_still_compiles() -> None:
    # numba raises at decoration when no cache dir is writable (read-only
    # install and home); the module must fall back to per-process compiling.
    code = (
        "import numba.core.caching as c\n"
        "def refuse(self):\n"
        "    raise PermissionError('read-only')\n"
        "c._CacheLocator.ensure_cache_path = refuse\n"
        "import numpy as np\n"
        "from linkage.match.similarity import popcounts\n"
        "print(popcounts(np.full((2, 8), 3, dtype=np.uint8)).tolist())\n"
    )
    root = Path(similarity.__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.strip() == "[16, 16]"


def test_warm_up_leaves_results_unchanged() -> None:
    similarity.warm_up()
    a = random_clks(41, 6, 16)
    found = dice_all_pairs(a, a, 1.0)
    assert list(zip(*(f.tolist() for f in found), strict=True)) == brute_force(a, a, 1.0)
    # Row 0 is empty (0.0 with itself); rows 1 and 2 are duplicates.
    assert (1, 2) in zip(found[0].tolist(), found[1].tolist(), strict=True)
    assert 0 not in found[0].tolist()


def test_dice_all_pairs_pruning_bound_is_tight() -> None:
    # Pairs sitting exactly on the threshold must survive pruning: equal
    # counts c and intersection t*c give Dice == t exactly.
    base = np.zeros((1, 128), dtype=np.uint8)
    base[0, :50] = 0xFF  # 400 bits set, all in the first words
    other = base.copy()
    other[0, 40:50] = 0  # drop 80 bits ...
    other[0, 100:110] = 0xFF  # ... and set 80 elsewhere, after the pruning split
    # |A| = |B| = 400, |A & B| = 320: Dice = 640 / 800 = 0.8 exactly.
    assert dice_reference(bytes(base[0]), bytes(other[0])) == 0.8
    ia, ib, scores = dice_all_pairs(base, other, 0.8)
    assert (ia.tolist(), ib.tolist(), scores.tolist()) == ([0], [0], [0.8])
    assert dice_all_pairs(base, other, np.nextafter(0.8, 1.0))[0].size == 0


def test_empty_inputs() -> None:
    a = random_clks(1, 5, 16)
    none = np.zeros(0, dtype=np.int64)
    assert dice_pairs(a, a, none, none).shape == (0,)
    ia, ib, scores = dice_all_pairs(a[:0], a, 0.5)
    assert ia.shape == ib.shape == scores.shape == (0,)
    assert popcounts(a[:0]).shape == (0,)


def test_popcounts() -> None:
    clks = np.array([[0xFF] * 8, [0] * 8, [1, 2, 4, 8, 0, 0, 0, 0x80]], dtype=np.uint8)
    assert popcounts(clks).tolist() == [64, 0, 5]


@pytest.mark.parametrize(
    "call",
    [
        lambda a, b: dice_pairs(a, b[:, :8], [0], [0]),  # widths differ
        lambda a, b: dice_pairs(a, b, [0, 1], [0]),  # pair lists differ
        lambda a, b: dice_pairs(a, b, [0], [5]),  # out of range
        lambda a, b: dice_pairs(a, b, [-1], [0]),  # negative
        lambda a, b: dice_pairs(a, b, [0.7], [0]),  # not an index
        lambda a, b: dice_pairs(a[:, :12], b[:, :12], [0], [0]),  # not whole words
        lambda a, b: dice_pairs(a[0], b[0], [0], [0]),  # not 2-D
        lambda a, b: dice_all_pairs(a, b, 1.5),  # threshold
        lambda a, b: dice_all_pairs(a, b[:, :8], 0.5),  # widths differ
        lambda a, b: dice_all_pairs(a, b, 0.5, threads=0),  # no thread
        lambda a, b: dice_pairs(a, b, [0], [0], threads=0),  # no thread
    ],
)
def test_misuse_is_rejected(call: object) -> None:
    a, b = random_clks(1, 5, 16), random_clks(2, 5, 16)
    with pytest.raises(InputError):
        call(a, b)  # type: ignore[operator]
