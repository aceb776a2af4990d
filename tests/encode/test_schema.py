"""Linkage schemas: validation (every problem at once), normalisation, keyed encoding."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pytest

from linkage.encode import (
    BLOCK_KEY_BYTES,
    drop_fields,
    encode_side,
    load_schema,
    normalize_birth_date,
    normalize_postcode,
    normalize_records,
    normalize_side,
    shipped_schema,
    tokenize_records,
)
from linkage.errors import SchemaError


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
        "phone": ["(614) 555-0123", None, "330 555 0199"],
        "email": ["Bill@Example.com", None, "lee@example.org"],
    }
)

MINIMAL = """
[fields.surname]
type = "surname"
a = "last"
b = "family_name"

[compare.surname]
q = 2
bits = 10

[blocking]
bk_s = ["surname:soundex"]
"""


def test_shipped_schema_reproduces_todays_exact_keys() -> None:
    schema = shipped_schema()
    tokens = encode_side(VOTERS, schema, "a", FixedKeys())
    reference = tokenize_records(normalize_records(VOTERS), FixedKeys())
    for name in reference.column_names:
        assert tokens[name].equals(reference[name]), name


def test_encode_side_emits_only_keyed_binary_columns() -> None:
    schema = shipped_schema()
    tokens = encode_side(VOTERS, schema, "a", FixedKeys())
    assert tokens.num_rows == VOTERS.num_rows
    for name in tokens.column_names:
        assert name.startswith(("mk_", "clk_", "bk_")), name
        assert pa.types.is_fixed_size_binary(tokens.schema.field(name).type), name
    assert tokens.schema.field("bk_phone").type.byte_width == BLOCK_KEY_BYTES
    assert tokens.schema.field("clk_name").type.byte_width == schema.bloom_length // 8
    # A different key gives different tokens everywhere.
    other = encode_side(VOTERS, schema, "a", FixedKeys(b"other"))
    assert tokens["mk_addr"][0] != other["mk_addr"][0]
    assert tokens["bk_phone"][0] != other["bk_phone"][0]


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
            "phone": ["6145550123"],
            "email": [None],
        }
    )
    a = encode_side(VOTERS, schema, "a", FixedKeys())
    b = encode_side(subs, schema, "b", FixedKeys())
    for column in ("mk_name_addr", "mk_f_phone", "bk_surname_zip5", "bk_phone", "clk_name"):
        assert a[column][0] == b[column][0], column


def test_every_problem_is_reported_at_once() -> None:
    text = """
[schema]
bloom_length = "long"
surprise = 1

[fields.given]
type = "nickname"
column = "first"

[fields.surname]
type = "surname"

[match_keys]
mk_x = { fields = ["nowhere"], weight = -1 }

[compare.surname]
method = "fuzzy"

[blocking]
bk_s = ["surname:reverse"]

[resolution]
mode = "many_to_many"
"""
    with pytest.raises(SchemaError) as info:
        load_schema(text, file="bad.toml")
    problems = " | ".join(info.value.problems)
    for fragment in (
        "bloom_length",
        "unknown key 'surprise'",
        "type must be one of",
        "needs 'column'",
        "'nowhere' is not a normalised column",
        "method must be",
        "unknown transform",
        "mode must be",
    ):
        assert fragment in problems, fragment
    assert len(info.value.problems) >= 8
    assert "bad.toml" in str(info.value)


def test_per_side_columns_and_missing_side() -> None:
    schema = load_schema(MINIMAL)
    assert schema.side_columns("a") == ("last",)
    assert schema.side_columns("b") == ("family_name",)
    left = normalize_side(pa.table({"last": ["Lee"]}), schema, "a")
    right = normalize_side(pa.table({"family_name": ["LEE"]}), schema, "b")
    assert left["surname"].to_pylist() == right["surname"].to_pylist() == ["lee"]


def test_drop_fields_removes_dependent_entries() -> None:
    schema = shipped_schema("febrl")
    without = drop_fields(schema, {"ssn"})
    assert "ssn" not in without.columns
    assert all("ssn" not in k.recipe.fields for k in without.match_keys)
    assert all(c.column != "ssn" for c in without.compare)
    assert all("ssn" not in {e.name for e in c.encodings} for c in without.compare)
    assert all("ssn" not in [c for c, _ in b.parts] for b in without.blocking)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1956-04-09", "1956-04-09"),
        ("19560409", "1956-04-09"),
        ("4/9/1956", "1956-04-09"),
        ("19561340", None),
        ("", None),
    ],
)
def test_birth_dates(raw: str, expected: str | None) -> None:
    assert normalize_birth_date(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("43215-1234", "43215"), ("43215", "43215"), ("2600", "2600"), ("SW1A 1AA", "sw1a1aa")],
)
def test_postcodes(raw: str, expected: str | None) -> None:
    assert normalize_postcode(raw) == expected


def test_no_name_is_encoded_alone_in_shipped_schemas() -> None:
    # A one-column filter of a name is a deterministic, frequency-attackable token.
    for name in ("voters_subscribers", "febrl"):
        for spec in shipped_schema(name).compare:
            members = {e.name for e in spec.encodings}
            if members & {"given", "surname"}:
                assert len(members) > 1, (name, spec.column)


def test_record_level_filter_with_column_settings() -> None:
    text = MINIMAL.replace(
        "[compare.surname]\nq = 2\nbits = 10",
        "[compare.person]\ncolumns = { surname = { q = 2, bits = 10 }, zip = { q = 1 } }",
    ).replace("[blocking]", '[fields.zip]\ntype = "postcode"\ncolumn = "zip"\n\n[blocking]')
    schema = load_schema(text)
    (spec,) = schema.compare
    assert spec.output == "clk_person"
    assert [(e.name, e.q) for e in spec.encodings] == [("surname", 2), ("zip", 1)]
