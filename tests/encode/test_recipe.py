"""Tests for linkage.encode.recipe: the safe recipe returns only keyed columns, as before."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pytest

from linkage.encode import (
    BLOCK_KEY_BYTES,
    encode_side,
    normalize_records,
    shipped_schema,
    tokenize_records,
)
from linkage.errors import KeyMaterialError


class FixedKeys:
    def __init__(self, seed: bytes = b"k") -> None:
        self.seed = seed

    def subkey(self, purpose: str) -> bytes:
        return hashlib.sha256(self.seed + purpose.encode()).digest()


VOTERS = pa.table(
    {
        "voter_id": ["v1", "v2", "v3"],
        "first_name": ["Bill", "Mary", None],
        "last_name": ["O'Brien", "Smith-Jones", "Lee"],
        "address": ["123 North Main Street Apt 4", "9 Elm St", "55 Oak Ave"],
        "city": ["Columbus", "Dayton", "Akron"],
        "state": ["OH", "Ohio", "oh"],
        "zip": ["43215-1234", "45402", "44301"],
        "phone": ["(614) 362-0123", None, "330 362 0199"],
        "email": ["Bill@Example.com", None, "lee@example.org"],
    }
)


def test_shipped_schema_reproduces_todays_exact_keys() -> None:
    schema = shipped_schema()
    tokens = encode_side(VOTERS, schema, "a", FixedKeys())
    reference = tokenize_records(normalize_records(VOTERS), FixedKeys())
    # The shipped schema keeps the match keys that earn their quality (it cut
    # mk_name_addr, a count signature that added no F1); each kept one is today's.
    shared = [name for name in reference.column_names if name in tokens.column_names]
    assert len(shared) >= 5, shared
    for name in shared:
        assert tokens[name].equals(reference[name]), name


def test_encode_side_emits_only_keyed_binary_columns() -> None:
    schema = shipped_schema()
    tokens = encode_side(VOTERS, schema, "a", FixedKeys())
    assert tokens.num_rows == VOTERS.num_rows
    for name in tokens.column_names:
        assert name.startswith(("mk_", "clk_", "bk_")), name
        assert pa.types.is_fixed_size_binary(tokens.schema.field(name).type), name
    assert tokens.schema.field("bk_surname_zip5").type.byte_width == BLOCK_KEY_BYTES
    assert tokens.schema.field("clk_name").type.byte_width == schema.bloom_length // 8
    # A different key gives different tokens everywhere.
    other = encode_side(VOTERS, schema, "a", FixedKeys(b"other"))
    assert tokens["mk_addr"][0] != other["mk_addr"][0]
    assert tokens["bk_surname_zip5"][0] != other["bk_surname_zip5"][0]


def test_same_person_written_differently_shares_blocking_and_unit_tokens() -> None:
    schema = shipped_schema()
    subs = pa.table(
        {
            "household_id": ["h1"],
            "first_name": ["WILLIAM"],
            "last_name": ["OBRIEN"],
            "address": ["123 N MAIN ST #4"],
            "city": ["COLUMBUS"],
            "state": ["OH"],
            "zip": ["43215"],
            "phone": ["6143620123"],
            "email": [None],
        }
    )
    a = encode_side(VOTERS, schema, "a", FixedKeys())
    b = encode_side(subs, schema, "b", FixedKeys())
    for column in ("mk_surname_addr", "mk_phone", "bk_surname_zip5", "bk_house_street", "clk_name"):
        assert a[column][0] == b[column][0], column


class ShortKeys:
    def subkey(self, purpose: str) -> bytes:
        return b"k" * 16


def test_short_subkey_is_refused_without_showing_it() -> None:
    with pytest.raises(KeyMaterialError) as info:
        encode_side(VOTERS, shipped_schema(), "a", ShortKeys())
    assert "kkkk" not in str(info.value)
