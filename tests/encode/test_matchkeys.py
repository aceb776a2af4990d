"""Tests for linkage.matchkeys: golden vectors, reference vs fast path, key handling.

Regenerate the golden vectors (only after a deliberate encoding or
normalisation change, which breaks every exchange in flight) with::

    PYTHONPATH=. .venv/bin/python tests/test_matchkeys.py
"""

from __future__ import annotations

import hashlib
import hmac as std_hmac
import json
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.encode import (
    DEFAULT_RECIPES,
    OUTPUT_COLUMNS,
    MatchKeyRecipe,
    encode_message,
    normalize_records,
    tokenize_records,
)
from linkage.errors import InputError, KeyMaterialError, SchemaError
from linkage.hazmat import hmac_sha256_many
from tests.encode.golden_records import Record, string_table, voter_records

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "matchkeys.json"

GOLDEN_RECORDS: list[Record] = voter_records(
    {
        "first_name": "Kate",
        "last_name": "Smith Jr.",
        "address": "9 Elm Boulevard",
        "city": None,
        "state": None,
        "zip": "0213",
        "phone": "614.362.0199",
        "email": None,
    }
)


class FixedKeys:
    """A SubkeySource with explicit sub-keys; records which purposes were asked for."""

    def __init__(self, subkeys: dict[str, bytes]) -> None:
        self.subkeys = subkeys
        self.asked: list[str] = []

    def subkey(self, purpose: str) -> bytes:
        self.asked.append(purpose)
        return self.subkeys[purpose]


def _derived_keys(seed: bytes) -> FixedKeys:
    return FixedKeys(
        {r.purpose: hashlib.sha256(seed + r.purpose.encode()).digest() for r in DEFAULT_RECIPES}
    )


def _compute_vectors() -> dict[str, object]:
    keys = _derived_keys(b"narwhal golden vector ")
    raw = string_table(GOLDEN_RECORDS)
    normalized = normalize_records(raw)
    tokens = tokenize_records(normalized, keys)
    return {
        "description": "linkage.matchkeys golden vectors: raw record -> normalised -> HMAC tokens",
        "subkeys": {purpose: key.hex() for purpose, key in keys.subkeys.items()},
        "cases": [
            {
                "raw": record,
                "normalized": norm,
                "tokens": {k: (v.hex() if v is not None else None) for k, v in tok.items()},
            }
            for record, norm, tok in zip(
                GOLDEN_RECORDS, normalized.to_pylist(), tokens.to_pylist(), strict=True
            )
        ],
    }


# ---------------------------------------------------------------- golden vectors


def test_golden_vectors() -> None:
    stored = json.loads(VECTORS.read_text())
    keys = FixedKeys({p: bytes.fromhex(k) for p, k in stored["subkeys"].items()})
    raw_rows = [case["raw"] for case in stored["cases"]]
    raw = string_table(raw_rows)
    normalized = normalize_records(raw)
    assert normalized.to_pylist() == [case["normalized"] for case in stored["cases"]]
    tokens = tokenize_records(normalized, keys).to_pylist()
    expected = [
        {k: (bytes.fromhex(v) if v is not None else None) for k, v in case["tokens"].items()}
        for case in stored["cases"]
    ]
    assert tokens == expected


def test_golden_vectors_show_nickname_and_address_variants_match() -> None:
    cases = json.loads(VECTORS.read_text())["cases"]
    bill, william = cases[0]["tokens"], cases[1]["tokens"]
    assert bill == william
    assert all(v is not None for v in bill.values())
    assert set(cases[4]["tokens"].values()) == {None}


# ---------------------------------------------------------------- reference vs fast path


def _normalized_sample() -> pa.Table:
    raw = string_table(GOLDEN_RECORDS)
    return normalize_records(raw)


def test_tokenize_matches_reference_encoding() -> None:
    keys = _derived_keys(b"reference ")
    normalized = _normalized_sample()
    tokens = tokenize_records(normalized, keys)
    for recipe in DEFAULT_RECIPES:
        key = keys.subkeys[recipe.purpose]
        column = tokens.column(recipe.name).to_pylist()
        for row, token in zip(normalized.to_pylist(), column, strict=True):
            message = encode_message(recipe, row)
            want = None if message is None else std_hmac.new(key, message, "sha256").digest()
            assert token == want


def test_shared_values_all_null_columns_and_chunks_match_the_reference() -> None:
    # Tokens are hashed once per distinct message and taken back by row: rows
    # sharing a message (housemates), a column with no value and a chunked
    # input must still give each row its own reference token.
    keys = _derived_keys(b"distinct ")
    rows = [
        {"house_number": "12", "street": "MAIN ST", "unit": None, "zip5": "43215", "phone": None},
        {"house_number": "12", "street": "MAIN ST", "unit": None, "zip5": "43215", "phone": None},
        {"house_number": "12", "street": "MAIN ST", "unit": "4", "zip5": "43215", "phone": None},
        {"house_number": None, "street": "MAIN ST", "unit": None, "zip5": "43215", "phone": None},
    ]
    columns = {name: pa.array([r[name] for r in rows], pa.string()) for name in rows[0]}
    whole = pa.table(columns)
    chunked = pa.Table.from_batches(whole.to_batches(max_chunksize=3))
    recipes = [r for r in DEFAULT_RECIPES if r.name in ("mk_addr", "mk_addr_nounit", "mk_phone")]
    tokens = tokenize_records(chunked, keys, recipes)
    assert tokens.equals(tokenize_records(whole, keys, recipes))
    for recipe in recipes:
        key = keys.subkeys[recipe.purpose]
        for row, token in zip(rows, tokens.column(recipe.name).to_pylist(), strict=True):
            message = encode_message(recipe, row)
            want = None if message is None else std_hmac.new(key, message, "sha256").digest()
            assert token == want
    assert tokens.column("mk_addr")[0] == tokens.column("mk_addr")[1]
    assert tokens.column("mk_phone").null_count == len(rows)


def test_output_shape_and_purposes() -> None:
    keys = _derived_keys(b"shape ")
    out = tokenize_records(_normalized_sample(), keys)
    assert out.column_names == [r.name for r in DEFAULT_RECIPES]
    assert all(out.schema.field(c).type == pa.binary(32) for c in out.column_names)
    assert out.num_rows == len(GOLDEN_RECORDS)
    assert keys.asked == [f"match:{r.name}" for r in DEFAULT_RECIPES]


def test_default_recipes_follow_architecture() -> None:
    assert {r.name: r.fields for r in DEFAULT_RECIPES} == {
        "mk_name_addr": ("given", "surname", "house_number", "street", "unit", "zip5"),
        "mk_surname_addr": ("surname", "house_number", "street", "unit", "zip5"),
        "mk_addr": ("house_number", "street", "unit", "zip5"),
        "mk_addr_nounit": ("house_number", "street", "zip5"),
        "mk_phone": ("phone",),
        "mk_email": ("email",),
    }


def test_missing_unit_is_empty_string_but_other_nulls_null_the_key() -> None:
    keys = _derived_keys(b"nulls ")
    base = {c: "x" for c in OUTPUT_COLUMNS}
    rows = [
        {**base, "unit": None},
        {**base, "unit": ""},
        {**base, "unit": "4"},
        {**base, "zip5": None},
    ]
    out = tokenize_records(pa.Table.from_pylist(rows), keys).to_pylist()
    assert out[0]["mk_addr"] == out[1]["mk_addr"] != out[2]["mk_addr"]
    assert out[0]["mk_addr"] is not None
    assert out[2]["mk_addr_nounit"] == out[0]["mk_addr_nounit"]
    assert out[3]["mk_addr"] is None and out[3]["mk_name_addr"] is None
    assert out[3]["mk_phone"] == out[0]["mk_phone"]


def test_encoding_is_unambiguous_across_field_boundaries() -> None:
    recipe = MatchKeyRecipe("mk_test", ("a", "b"))
    assert encode_message(recipe, {"a": "ab", "b": "c"}) != encode_message(
        recipe, {"a": "a", "b": "bc"}
    )
    other = MatchKeyRecipe("mk_other", ("a", "b"))
    assert encode_message(recipe, {"a": "x", "b": "y"}) != encode_message(
        other, {"a": "x", "b": "y"}
    )


# ---------------------------------------------------------------- primitive and errors


def test_hmac_sha256_many_matches_stdlib() -> None:
    key = bytes(range(32))
    messages: list[bytes | None] = [b"", b"abc", None, b"x" * 1000]
    out = hmac_sha256_many(key, messages)
    assert out[2] is None
    for message, tag in zip(messages, out, strict=True):
        if message is not None:
            assert tag == std_hmac.new(key, message, "sha256").digest()


def test_short_keys_are_rejected_without_echoing_them() -> None:
    with pytest.raises(KeyMaterialError) as info:
        hmac_sha256_many(b"secret-but-short", [b"m"])
    assert "secret" not in str(info.value)

    short = FixedKeys({r.purpose: b"\x01" * 16 for r in DEFAULT_RECIPES})
    with pytest.raises(KeyMaterialError):
        tokenize_records(_normalized_sample(), short)


def test_missing_field_column_raises_input_error() -> None:
    table = _normalized_sample().drop_columns(["zip5"])
    with pytest.raises(InputError) as info:
        tokenize_records(table, _derived_keys(b"k"))
    assert info.value.column == "zip5"


def test_recipe_validation() -> None:
    with pytest.raises(SchemaError):
        MatchKeyRecipe("addr", ("street",))
    with pytest.raises(SchemaError):
        MatchKeyRecipe("mk_empty", ())
    with pytest.raises(SchemaError):
        MatchKeyRecipe("mk_twice", ("street", "street"))
    recipe = MatchKeyRecipe("mk_phone", ("phone",))
    with pytest.raises(SchemaError):
        tokenize_records(_normalized_sample(), _derived_keys(b"k"), [recipe, recipe])


def test_empty_table() -> None:
    empty = pa.table({c: pa.array([], pa.string()) for c in OUTPUT_COLUMNS})
    out = tokenize_records(empty, _derived_keys(b"k"))
    assert out.num_rows == 0
    assert out.column_names == [r.name for r in DEFAULT_RECIPES]


# ---------------------------------------------------------------- invariants

_VALUE = st.one_of(st.none(), st.text(min_size=1, max_size=10))
_ROWS = st.lists(st.fixed_dictionaries({c: _VALUE for c in OUTPUT_COLUMNS}), max_size=20)


@settings(max_examples=40, deadline=None)
@given(rows=_ROWS, seed=st.binary(min_size=1, max_size=8))
def test_tokenize_is_deterministic_and_null_propagates(
    rows: list[dict[str, str | None]], seed: bytes
) -> None:
    table = pa.Table.from_pylist(rows, schema=pa.schema([(c, pa.string()) for c in OUTPUT_COLUMNS]))
    first = tokenize_records(table, _derived_keys(seed))
    second = tokenize_records(table, _derived_keys(seed))
    assert first.equals(second)
    for recipe in DEFAULT_RECIPES:
        tokens = first.column(recipe.name).to_pylist()
        for row, token in zip(rows, tokens, strict=True):
            required = [f for f in recipe.fields if f != "unit"]
            assert (token is None) == any(row[f] is None for f in required)


@settings(max_examples=40, deadline=None)
@given(rows=_ROWS.filter(lambda r: len(r) > 0), a=st.binary(min_size=1), b=st.binary(min_size=1))
def test_different_keys_give_different_tokens(
    rows: list[dict[str, str | None]], a: bytes, b: bytes
) -> None:
    if a == b:
        return
    table = pa.Table.from_pylist(rows, schema=pa.schema([(c, pa.string()) for c in OUTPUT_COLUMNS]))
    first = tokenize_records(table, _derived_keys(a)).to_pylist()
    second = tokenize_records(table, _derived_keys(b)).to_pylist()
    for x, y in zip(first, second, strict=True):
        for name, token in x.items():
            if token is not None:
                assert token != y[name]


def test_different_recipes_never_share_tokens_even_under_one_key() -> None:
    same = FixedKeys({r.purpose: b"\x07" * 32 for r in DEFAULT_RECIPES})
    row = {c: "v" for c in OUTPUT_COLUMNS}
    tokens = tokenize_records(pa.Table.from_pylist([row]), same).to_pylist()[0]
    assert len(set(tokens.values())) == len(DEFAULT_RECIPES)


if __name__ == "__main__":
    VECTORS.parent.mkdir(parents=True, exist_ok=True)
    VECTORS.write_text(json.dumps(_compute_vectors(), indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {VECTORS}")
