"""Tests for linkage.synth.corruption: each corruption does what it says, reproducibly."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from linkage.synth.corruption import apply_typos, noisy_case, swap_nicknames, typo
from linkage.synth.reference import load_reference


@pytest.mark.parametrize(("op", "delta"), [(0, 0), (1, 0), (2, -1), (3, 1)])
def test_typo_keeps_the_first_letter(op: int, delta: int) -> None:
    for u in (0.0, 0.3, 0.6):  # a swap at the last letter would double it instead
        out = typo("Brandon", op, u, 0.5)
        assert out[0] == "B"
        assert out != "Brandon"
        assert len(out) == len("Brandon") + delta


def test_typo_keeps_case_and_spares_short_names() -> None:
    assert typo("Al", 0, 0.5, 0.5) == "Al"
    out = typo("SMITH", 0, 0.5, 0.5)
    assert out.isupper() and out != "SMITH"


def test_apply_typos_rate_and_determinism() -> None:
    values = pa.array(["Johnson"] * 4000)
    assert apply_typos(np.random.default_rng(1), values, 0.0) is values
    a = apply_typos(np.random.default_rng(1), values, 0.1)
    b = apply_typos(np.random.default_rng(1), values, 0.1)
    assert a.equals(b)
    changed = np.mean([v != "Johnson" for v in a.to_pylist()])
    assert 0.07 < changed < 0.13


def test_noisy_case() -> None:
    values = pa.array(["Main St", None, "Elm Ave"])
    assert noisy_case(np.random.default_rng(0), values, 0.0).equals(values)
    assert noisy_case(np.random.default_rng(0), values, 1.0).to_pylist() == [
        "MAIN ST",
        None,
        "ELM AVE",
    ]


def test_swap_nicknames_uses_each_names_nicknames() -> None:
    ref = load_reference()
    rows = np.flatnonzero(ref.given_has_nick)[:50].astype(np.int64)
    given_idx = np.concatenate([rows, np.full(10, -1, dtype=np.int64)])
    names = pa.array([*ref.given_names.take(pa.array(rows)).to_pylist(), *["Zorvak"] * 10])
    out = swap_nicknames(np.random.default_rng(0), given_idx, names, ref, 1.0).to_pylist()
    for g, new in zip(rows, out[: len(rows)], strict=True):
        assert new in ref.given_nicks[int(g)]
    assert out[-10:] == ["Zorvak"] * 10  # synthesised names have no nicknames
    assert swap_nicknames(np.random.default_rng(0), given_idx, names, ref, 0.0) is names
