"""Keyed blocking: passes are unioned, oversize blocks dropped, completeness measured."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pytest

from linkage.engine import DuckDBEngine
from linkage.errors import InputError
from linkage.match import candidate_pairs, pair_completeness, reduction_ratio


def key(label: str | None) -> bytes | None:
    return None if label is None else hashlib.sha256(label.encode()).digest()[:16]


def side(**columns: Sequence[str | None]) -> pa.Table:
    return pa.table({n: pa.array([key(v) for v in vs], pa.binary(16)) for n, vs in columns.items()})


@pytest.fixture(scope="module")
def engine() -> DuckDBEngine:
    return DuckDBEngine()


def test_union_of_passes_is_distinct_and_sorted(engine: DuckDBEngine) -> None:
    a = side(bk_x=["p", "q", None], bk_y=["u", None, "w"])
    b = side(bk_x=["p", "p", "z"], bk_y=["u", "w", None])
    got = candidate_pairs(a, b, engine=engine)
    pairs = list(zip(got.ia.tolist(), got.ib.tolist(), strict=True))
    # (0,0) agrees on both passes but appears once.
    assert pairs == [(0, 0), (0, 1), (2, 1)]
    assert got.count == 3
    assert got.reduction_ratio == pytest.approx(1 - 3 / 9)


def test_oversize_blocks_are_dropped_and_counted(engine: DuckDBEngine) -> None:
    a = side(bk_x=["big"] * 4 + ["s"])
    b = side(bk_x=["big"] * 3 + ["s"])
    got = candidate_pairs(a, b, engine=engine, max_block=11)
    assert list(zip(got.ia.tolist(), got.ib.tolist(), strict=True)) == [(4, 3)]
    assert got.dropped_blocks == 1 and got.dropped_pairs == 12
    assert candidate_pairs(a, b, engine=engine, max_block=12).count == 13


def test_pair_completeness(engine: DuckDBEngine) -> None:
    a = side(bk_x=["p", "q"])
    b = side(bk_x=["p", "r"])
    got = candidate_pairs(a, b, engine=engine)
    assert pair_completeness(got, np.array([0, 1]), np.array([0, 1])) == 0.5
    assert pair_completeness(got, np.array([], np.int64), np.array([], np.int64)) == 1.0
    assert reduction_ratio(0, 0, 0) == 1.0


def test_unknown_pass_is_rejected(engine: DuckDBEngine) -> None:
    with pytest.raises(InputError):
        candidate_pairs(side(bk_x=["p"]), side(bk_y=["p"]), engine=engine, passes=["bk_x"])


def test_max_block_advice_names_the_cap_the_seed_pairs_ask_for() -> None:
    from linkage.match.blocking import max_block_advice

    # One pass: 40 records on each side share a common value (a 1,600-pair
    # block), 20 more have values of their own; every record's twin is a seed.
    values = [b"common"] * 40 + [f"v{i}".encode() for i in range(20)]
    a = pa.table({"bk_x": pa.array(values, pa.binary())})
    b = pa.table({"bk_x": pa.array(values, pa.binary())})
    seed = np.arange(60, dtype=np.int64)
    tight = max_block_advice(a, b, seed, seed, max_block=100)
    assert tight is not None and tight.kept == pytest.approx(20 / 60)
    assert tight.suggested == 1_600 and tight.suggested_pairs == 1_600 + 20
    assert tight.message() is not None and "1,600" in (tight.message() or "")
    loose = max_block_advice(a, b, seed, seed, max_block=2_000)
    assert loose is not None and loose.suggested is None and loose.message() is None
    assert max_block_advice(a, b, seed[:0], seed[:0], max_block=100) is None


def test_coarse_passes_are_strict_subsets_of_another_pass() -> None:
    from linkage.match import coarse_passes

    parts = {
        "bk_sz": [("surname", "soundex"), ("zip5", "value")],
        "bk_sz_house": [("surname", "soundex"), ("zip5", "value"), ("house_number", "value")],
        "bk_sz3": [("surname", "soundex"), ("zip5", "first3")],  # another transform: no subset
        "bk_twin": [("zip5", "value"), ("surname", "soundex")],  # the same parts: no subset
        "bk_phone": [("phone", "value")],
    }
    assert coarse_passes(parts) == ("bk_sz", "bk_twin")
    assert coarse_passes({}) == ()


def test_a_coarse_pass_keeps_its_smallest_blocks_within_the_budget(engine: DuckDBEngine) -> None:
    # Coarse blocks of 1, 4 and 9 pairs (1x1, 2x2, 3x3); the fine pass splits
    # the big one. Budget 0.5 per record of the larger side (6 rows): 3 pairs,
    # so only the 1-pair block is kept; the 3x3 block's twins come back
    # through the fine pass.
    a = side(bk_c=["s", "m", "m", "b", "b", "b"], bk_f=["s1", "m1", "m2", "b1", "b2", "b3"])
    b = side(bk_c=["s", "m", "m", "b", "b", "b"], bk_f=["s1", "m9", "m8", "b1", "b2", "b3"])
    got = candidate_pairs(a, b, engine=engine, coarse=["bk_c"], coarse_budget=0.5)
    assert got.caps == (1, 2_000)
    assert list(zip(got.ia.tolist(), got.ib.tolist(), strict=True)) == [
        (0, 0),
        (3, 3),
        (4, 4),
        (5, 5),
    ]
    assert got.dropped_blocks == 2 and got.dropped_pairs == 4 + 9
    # Blocks of one size go together: a budget of 5 keeps 1 + 4, not a part of 9.
    five = candidate_pairs(a, b, engine=engine, coarse=["bk_c"], coarse_budget=5 / 6)
    assert five.caps[0] == 4 and five.count == 1 + 4 + 3
    # Within budget (or not coarse) the pass is capped by max_block only.
    loose = candidate_pairs(a, b, engine=engine, coarse=["bk_c"], coarse_budget=3.0)
    assert loose.caps == (2_000, 2_000) and loose.count == 1 + 4 + 9
    assert candidate_pairs(a, b, engine=engine).count == loose.count
    with pytest.raises(InputError):
        candidate_pairs(a, b, engine=engine, coarse=["bk_c"], coarse_budget=-1.0)


def test_coarse_budget_keeps_pairs_linear_as_blocks_grow(engine: DuckDBEngine) -> None:
    # Fixed values, growing files: a plain pass grows with the square of the
    # file, a coarse pass with a finer one stays within its budget.
    rng = np.random.default_rng(7)

    def sides(n: int) -> tuple[pa.Table, pa.Table]:
        coarse = [f"z{v}" for v in rng.integers(0, 20, n)]
        fine = [f"{c}-{i}" for i, c in enumerate(coarse)]
        return side(bk_c=coarse, bk_f=fine), side(bk_c=coarse, bk_f=fine)

    small, large = sides(200), sides(2_000)
    plain = [candidate_pairs(*s, engine=engine, max_block=10**9).count for s in (small, large)]
    capped = [
        candidate_pairs(*s, engine=engine, max_block=10**9, coarse=["bk_c"]).count
        for s in (small, large)
    ]
    assert plain[1] > 50 * plain[0]
    assert capped[1] <= 2_000 * (1 + 0.25) and capped[0] <= 200 * (1 + 0.25)
