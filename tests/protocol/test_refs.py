"""Tests for linkage.refs: random per-exchange references."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from linkage.protocol import random_refs
from linkage.protocol.refs import _distinct


def test_refs_are_prefix_and_hex_of_the_random_bytes() -> None:
    source = bytes(range(36))
    refs = random_refs(3, token_bytes=lambda n: source[:n])
    assert refs.type == pa.string()
    assert refs.to_pylist() == ["r" + source[i * 12 : (i + 1) * 12].hex() for i in range(3)]
    assert random_refs(1, prefix="hh", token_bytes=lambda n: bytes(n)).to_pylist()[0] == (
        "hh" + "00" * 12
    )
    assert random_refs(0).to_pylist() == []


def test_refs_from_the_os_are_distinct() -> None:
    refs = random_refs(10_000).to_pylist()
    assert len(set(refs)) == 10_000
    assert all(len(r) == 25 and r.startswith("r") for r in refs)


def test_a_repeating_source_is_caught() -> None:
    with pytest.raises(ValueError, match="collision"):
        random_refs(3, token_bytes=lambda n: bytes(12) * (n // 12))


def test_distinct_looks_past_a_shared_prefix() -> None:
    rows = np.zeros((4, 12), np.uint8)
    rows[1, 11], rows[2, 10], rows[3, 0] = 1, 1, 1
    assert _distinct(rows)
    rows[2] = rows[0]
    assert not _distinct(rows)
