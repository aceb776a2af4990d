"""Tests for linkage.encode.reuse: normalised fields cached per raw row, reused week to week."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from linkage.encode import (
    encode_normalized_chunks,
    encode_side,
    normalize_reusing,
    normalize_side,
    row_digests,
    shipped_schema,
)
from linkage.encode.reuse import DIGEST_COLUMN, NORMALIZATION_TAG
from linkage.io import PartyHome, read_private_cache, write_private_cache

FIRST = ["Bill", "William", "Mary", "Jose", "Ana", "Li", "Robert", "Bob", None]
LAST = ["O'Brien", "Smith-Jones", "Lee", "Garcia", "Nguyen", "Walker"]
STREETS = ["North Main Street", "Elm St", "Oak Ave", "W 5th St", "Rural Route 2", "PO Box"]
CITIES = ["Columbus", "Dayton", "Akron", "Toledo"]


class FixedKeys:
    def __init__(self, seed: bytes) -> None:
        self.seed = seed

    def subkey(self, purpose: str) -> bytes:
        return hashlib.sha256(self.seed + purpose.encode()).digest()


def voters(n: int, seed: int = 7) -> pa.Table:
    """A seeded, messy voter table (duplicate rows included: the cache keys on content)."""
    rng = np.random.default_rng(seed)

    def pick(values: Sequence[str | None]) -> list[str | None]:
        return [values[i] for i in rng.integers(0, len(values), n)]

    numbers = rng.integers(1, 999, n)
    units = rng.integers(0, 6, n)
    return pa.table(
        {
            "voter_id": [f"OH{i:09d}" for i in range(n)],
            "first_name": pick(FIRST),
            "last_name": pick(LAST),
            "address": [
                f"{num} {street}" + (f" Apt {u}" if u else "")
                for num, street, u in zip(numbers, pick(STREETS), units, strict=True)
            ],
            "city": pick(CITIES),
            "state": pick(["OH", "Ohio", "oh"]),
            "zip": [f"43{z:03d}" for z in rng.integers(0, 999, n)],
            "phone": [
                None if p % 3 == 0 else f"(614) 555-{p:04d}" for p in rng.integers(0, 9999, n)
            ],
            "email": pick(["a@example.com", None, "B@Example.org"]),
        }
    )


def refresh(table: pa.Table, rows: list[int]) -> pa.Table:
    """The week-2 file: ``rows`` moved to a new address, everything else as before."""
    address = table["address"].to_pylist()
    for i in rows:
        address[i] = f"{1000 + i} Moved Blvd"
    return table.set_column(table.column_names.index("address"), "address", pa.array(address))


def test_first_run_misses_and_second_run_hits_every_row() -> None:
    schema = shipped_schema()
    week1 = voters(300)
    first = normalize_reusing(week1, schema, "a", None)
    assert (first.hits, first.misses) == (0, 300)
    assert first.normalized.equals(normalize_side(week1, schema, "a"))
    again = normalize_reusing(week1, schema, "a", first.cache)
    assert (again.hits, again.misses) == (300, 0)
    assert again.normalized.equals(first.normalized)


def test_changed_rows_are_normalised_again_and_the_rest_reused() -> None:
    schema = shipped_schema()
    week1 = voters(300)
    cache = normalize_reusing(week1, schema, "a", None).cache
    changed = [3, 50, 299]
    week2 = refresh(week1, changed)
    reused = normalize_reusing(week2, schema, "a", cache)
    assert (reused.hits, reused.misses) == (300 - len(changed), len(changed))
    assert reused.normalized.equals(normalize_side(week2, schema, "a"))
    street = reused.normalized["street"].to_pylist()
    assert all(street[i] == "moved blvd" for i in changed), [street[i] for i in changed]


def test_tokens_are_identical_with_and_without_the_cache() -> None:
    schema = shipped_schema()
    week1 = voters(400)
    cache = normalize_reusing(week1, schema, "a", None).cache
    week2 = refresh(week1, list(range(0, 400, 37))).slice(5)  # moved rows, removed voters
    keys = FixedKeys(b"week-2")
    reused = normalize_reusing(week2, schema, "a", cache)
    chunks = list(
        encode_normalized_chunks(reused.normalized, schema, keys, workers=1, chunk_rows=97)
    )
    assert len(chunks) > 1
    assert pa.concat_tables(chunks).equals(encode_side(week2, schema, "a", keys))


def test_a_cache_of_another_schema_is_ignored() -> None:
    schema = shipped_schema()
    week1 = voters(120)
    cache = normalize_reusing(week1, schema, "a", None).cache
    # The other side reads other columns: its digests share nothing with side a's.
    assert not set(row_digests(week1, schema, "b").to_pylist()) & set(
        cache[DIGEST_COLUMN].to_pylist()
    )
    forged = cache.replace_schema_metadata({NORMALIZATION_TAG: b"00" * 32})
    assert normalize_reusing(week1, schema, "a", forged).hits == 0


def test_a_stale_cached_value_under_a_valid_digest_would_be_used() -> None:
    # The cache is trusted for what it says: this is why it lives in the
    # campaign's private home, 0600, and why its key covers the normaliser.
    schema = shipped_schema()
    week1 = voters(50)
    cache = normalize_reusing(week1, schema, "a", None).cache
    surnames = cache["surname"].to_pylist()
    surnames[0] = "TAMPERED"
    tampered = cache.set_column(cache.column_names.index("surname"), "surname", pa.array(surnames))
    out = normalize_reusing(week1, schema, "a", tampered).normalized
    first = row_digests(week1, schema, "a").to_pylist().index(cache[DIGEST_COLUMN][0].as_py())
    assert out["surname"][first].as_py() == "TAMPERED"


def test_the_cache_round_trips_through_the_home_privately(tmp_path: Path) -> None:
    schema = shipped_schema()
    home = PartyHome(tmp_path / "campaign")
    assert read_private_cache(home.normalized_cache_path) is None
    week1 = voters(80)
    write_private_cache(
        home.normalized_cache_path, normalize_reusing(week1, schema, "a", None).cache
    )
    assert home.normalized_cache_path.stat().st_mode & 0o777 == 0o600
    loaded = read_private_cache(home.normalized_cache_path)
    assert normalize_reusing(week1, schema, "a", loaded).misses == 0
    home.normalized_cache_path.write_bytes(b"not parquet")
    assert read_private_cache(home.normalized_cache_path) is None


@pytest.mark.parametrize("rows", [0, 1])
def test_tiny_tables(rows: int) -> None:
    schema = shipped_schema()
    table = voters(rows)
    first = normalize_reusing(table, schema, "a", None)
    second = normalize_reusing(table, schema, "a", first.cache)
    assert second.normalized.equals(normalize_side(table, schema, "a"))
    assert second.hits == rows
