"""Comparison vectors: levels for missing, disagreeing and agreeing values."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pytest

from linkage.encode import BloomSchema, FieldEncoding, encode_records, to_arrow
from linkage.errors import InputError
from linkage.match import (
    Feature,
    comparison_vectors,
)


class FixedKeys:
    def subkey(self, purpose: str) -> bytes:
        return hashlib.sha256(b"fuzzy" + purpose.encode()).digest()


def clk(values: list[str | None]) -> pa.Array:
    schema = BloomSchema(fields=(FieldEncoding("v", q=2, bits=10),), length=256)
    return to_arrow(
        encode_records(pa.table({"v": pa.array(values, pa.string())}), schema, FixedKeys())
    )


def tok(values: list[str | None]) -> pa.Array:
    return pa.array(
        [None if v is None else hashlib.sha256(v.encode()).digest() for v in values], pa.binary(32)
    )


def test_levels_distinguish_missing_disagree_and_agree() -> None:
    a = pa.table({"clk_n": clk(["smith", "smith", None]), "mk_f_u": tok(["4", None, None])})
    b = pa.table({"clk_n": clk(["smith", "smyth", "jones"]), "mk_f_u": tok(["4", "5", None])})
    ia = np.array([0, 1, 2, 0], dtype=np.int64)
    ib = np.array([0, 1, 2, 1], dtype=np.int64)
    features = (Feature("clk_n", "dice"), Feature("mk_f_u", "exact"))
    levels, dice = comparison_vectors(a, b, ia, ib, features)
    assert levels[:, 0].tolist()[0] == 6  # identical -> top Dice level
    assert 2 <= levels[1, 0] < 6  # a typo -> a middle level
    assert levels[2, 0] == 1  # missing on one side
    assert levels[:, 1].tolist() == [3, 1, 0, 2]  # agree, one missing, both missing, disagree
    assert dice[0] == pytest.approx(1.0)
    # Chunk by chunk (one pair at a time) gives the same vectors.
    small, small_dice = comparison_vectors(a, b, ia, ib, features, chunk_pairs=1)
    np.testing.assert_array_equal(small, levels)
    np.testing.assert_array_equal(small_dice, dice)


def test_comparison_needs_features() -> None:
    table = pa.table({"clk_n": clk(["a"])})
    with pytest.raises(InputError):
        comparison_vectors(table, table, np.zeros(1, np.int64), np.zeros(1, np.int64), ())
