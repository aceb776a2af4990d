"""Tests for linkage.bloom: golden vectors, the fast path against the reference, invariants."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.encode import (
    DEFAULT_BLOOM_SCHEMA,
    BloomSchema,
    FieldEncoding,
    Hardening,
    encode_record_reference,
    encode_records,
    from_arrow,
    qgrams,
    to_arrow,
)
from linkage.errors import InputError, KeyMaterialError, SchemaError
from linkage.match import dice_reference

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "bloom.json"
Record = dict[str, str | None]


class DictKeys:
    """Fixed sub-keys by purpose (golden vectors)."""

    def __init__(self, keys: dict[str, bytes]) -> None:
        self.keys = keys

    def subkey(self, purpose: str) -> bytes:
        return self.keys[purpose]


class MasterKeys:
    """Sub-keys derived from a master secret; remembers which purposes were asked for."""

    def __init__(self, master: bytes) -> None:
        self.master = master
        self.asked: set[str] = set()

    def subkey(self, purpose: str) -> bytes:
        self.asked.add(purpose)
        return hmac.digest(self.master, purpose.encode(), hashlib.sha256)


KEYS = MasterKeys(b"\x01" * 32)
NAME_SCHEMA = BloomSchema(
    (FieldEncoding("given", bits=15), FieldEncoding("surname", bits=20)), length=1024
)


def table_of(records: list[Record], columns: list[str]) -> Any:
    return pa.table({c: pa.array([r.get(c) for r in records], pa.string()) for c in columns})


def encode(records: list[Record], schema: BloomSchema, keys: Any = KEYS) -> np.ndarray:
    return encode_records(table_of(records, [f.name for f in schema.fields]), schema, keys)


def one(record: Record, schema: BloomSchema = NAME_SCHEMA, keys: Any = KEYS) -> bytes:
    return bytes(encode([record], schema, keys)[0])


# --- q-grams -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "q", "positional", "expected"),
    [
        ("smith", 2, False, ("_s", "sm", "mi", "it", "th", "h_")),
        ("ab", 3, False, ("__a", "_ab", "ab_", "b__")),
        ("aaa", 1, False, ("a",)),
        ("anna", 2, False, ("_a", "an", "nn", "na", "a_")),
        ("1980", 2, True, ("0:19", "1:98", "2:80")),
        ("7", 2, True, ("0:7",)),
        ("", 2, False, ()),
        ("", 2, True, ()),
    ],
)
def test_qgrams(value: str, q: int, positional: bool, expected: tuple[str, ...]) -> None:
    assert qgrams(value, q, positional=positional) == expected


# --- golden vectors and the hash construction ----------------------------------


def test_golden_vectors() -> None:
    doc = json.loads(VECTORS.read_text(encoding="utf-8"))
    keys = DictKeys({k: bytes.fromhex(v) for k, v in doc["subkeys"].items()})
    fields = tuple(FieldEncoding(**f) for f in doc["fields"])
    assert len(doc["cases"]) >= 3
    for case in doc["cases"]:
        schema = BloomSchema(fields, length=case["length"], hardening=case["hardening"])
        clks = encode(doc["records"], schema, keys)
        assert [bytes(row).hex() for row in clks] == case["clks"], case["hardening"]
        for record, expected in zip(doc["records"], case["clks"], strict=True):
            assert encode_record_reference(record, schema, keys).hex() == expected


def test_positions_are_hmac_chunks() -> None:
    """Spell out the construction independently: 32-bit big-endian chunks of HMAC mod length."""
    key = bytes(range(32))
    schema = BloomSchema((FieldEncoding("code", q=1, bits=11),), length=256)
    expected = np.zeros(256, dtype=bool)
    for block in (0, 1):
        digest = hmac.digest(key, block.to_bytes(4, "big") + b"x", hashlib.sha256)
        chunks = [int.from_bytes(digest[i : i + 4], "big") % 256 for i in range(0, 32, 4)]
        expected[chunks[: 11 - 8 * block]] = True
    clk = encode([{"code": "x"}], schema, DictKeys({"bloom:code": key}))[0]
    assert np.array_equal(np.unpackbits(clk).astype(bool), expected)


# --- fast path == reference ----------------------------------------------------

# NUL, non-Latin and astral characters exercise the UTF-32 path of the fast encoder.
ALPHABET = st.sampled_from([*"ABCDEFGHIJ _-'0123456789", "É", "ß", "李", "\U0001f600", "\x00"])
HARDENINGS: list[Hardening] = ["none", "xor_fold", "balance"]
VALUE = st.one_of(st.none(), st.text(ALPHABET, max_size=12))
FIELD_NAMES = ("given", "surname", "zip5")


@st.composite
def schemas(draw: st.DrawFn) -> BloomSchema:
    fields = tuple(
        FieldEncoding(
            name,
            q=draw(st.integers(1, 4)),
            bits=draw(st.integers(1, 20)),
            positional=draw(st.booleans()),
        )
        for name in FIELD_NAMES
    )
    hardening = draw(st.sampled_from(HARDENINGS))
    return BloomSchema(fields, length=draw(st.sampled_from([128, 256, 512])), hardening=hardening)


RECORDS = st.lists(st.fixed_dictionaries({n: VALUE for n in FIELD_NAMES}), max_size=12)


@settings(max_examples=60, deadline=None)
@given(schema=schemas(), records=RECORDS)
def test_fast_matches_reference(schema: BloomSchema, records: list[Record]) -> None:
    clks = encode(records, schema)
    assert clks.shape == (len(records), schema.output_bytes)
    assert clks.dtype == np.uint8
    for row, record in zip(clks, records, strict=True):
        assert bytes(row) == encode_record_reference(record, schema, KEYS)


@settings(max_examples=30, deadline=None)
@given(schema=schemas(), records=RECORDS)
def test_row_encoding_does_not_depend_on_batch(schema: BloomSchema, records: list[Record]) -> None:
    whole = encode(records, schema)
    again = encode(records, schema)
    singles = [encode([r], schema)[0] for r in reversed(records)][::-1]
    assert np.array_equal(whole, again)
    assert all(np.array_equal(a, b) for a, b in zip(whole, singles, strict=True))


def test_many_distinct_values_cross_internal_chunks() -> None:
    rng = np.random.default_rng(7)
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))[rng.integers(0, 26, (20_000, 8))]
    names = ["".join(row[: rng.integers(1, 9)]) for row in letters.tolist()]
    schema = BloomSchema((FieldEncoding("surname", bits=20),), length=1024)
    records: list[Record] = [{"surname": n} for n in names]
    clks = encode(records, schema)
    for i in rng.choice(len(names), size=25, replace=False):
        assert bytes(clks[i]) == encode_record_reference(records[i], schema, KEYS)


# --- semantics -------------------------------------------------------------------


def test_nulls_and_empty_strings_contribute_nothing() -> None:
    with_null = one({"given": "ANN", "surname": None})
    with_empty = one({"given": "ANN", "surname": ""})
    given_only = bytes(
        encode([{"given": "ANN"}], BloomSchema((FieldEncoding("given", bits=15),)))[0]
    )
    assert with_null == with_empty == given_only
    assert one({"given": None, "surname": None}) == bytes(128)


def test_fields_combine_by_or() -> None:
    both = np.frombuffer(one({"given": "ANN", "surname": "LEE"}), np.uint8)
    first = np.frombuffer(one({"given": "ANN", "surname": None}), np.uint8)
    second = np.frombuffer(one({"given": None, "surname": "LEE"}), np.uint8)
    assert np.array_equal(both, first | second)


def test_per_field_subkeys_are_requested() -> None:
    keys = MasterKeys(b"\x02" * 32)
    encode([{"given": "A", "surname": "B"}], BloomSchema(NAME_SCHEMA.fields, length=256), keys)
    assert keys.asked == {"bloom:given", "bloom:surname"}
    keys.asked.clear()
    encode([{"given": "A"}], BloomSchema(NAME_SCHEMA.fields, length=256, hardening="balance"), keys)
    assert keys.asked == {"bloom:given", "bloom:surname", "bloom:balance"}


def test_short_subkeys_are_refused_without_showing_them() -> None:
    keys = DictKeys({"bloom:given": b"hunter2", "bloom:surname": b"\x05" * 32})
    with pytest.raises(KeyMaterialError) as info:
        encode([{"given": "ANN"}], NAME_SCHEMA, keys)
    assert "hunter2" not in str(info.value)


def test_same_value_in_two_fields_sets_unrelated_bits() -> None:
    in_given = one({"given": "LEE", "surname": None})
    in_surname = one({"given": None, "surname": "LEE"})
    assert dice_reference(in_given, in_surname) < 0.4


@settings(max_examples=25, deadline=None)
@given(
    name=st.text(st.sampled_from("ABCDEFGHIJKLMNOP"), min_size=2, max_size=12),
    master_a=st.binary(min_size=32, max_size=32),
    master_b=st.binary(min_size=32, max_size=32),
)
def test_different_keys_give_unrelated_encodings(
    name: str, master_a: bytes, master_b: bytes
) -> None:
    clk_a = one({"surname": name}, keys=MasterKeys(master_a))
    clk_b = one({"surname": name}, keys=MasterKeys(master_b))
    assert one({"surname": name}, keys=MasterKeys(master_a)) == clk_a  # deterministic
    if master_a != master_b:
        assert clk_a != clk_b
        # Unrelated patterns overlap only by chance (~ the fill, here ~10%).
        assert dice_reference(clk_a, clk_b) < 0.4


@settings(max_examples=25, deadline=None)
@given(master=st.binary(min_size=32, max_size=32))
def test_similar_strings_score_higher(master: bytes) -> None:
    keys = MasterKeys(master)
    smith, smyth, jones = (one({"surname": s}, keys=keys) for s in ("SMITH", "SMYTH", "JONES"))
    assert dice_reference(smith, smyth) > dice_reference(smith, jones)
    assert dice_reference(smith, smith) == 1.0


@pytest.mark.parametrize(
    ("hardening", "nbytes"), [("none", 128), ("xor_fold", 64), ("balance", 256)]
)
def test_hardening_lengths(hardening: Any, nbytes: int) -> None:
    schema = BloomSchema(NAME_SCHEMA.fields, length=1024, hardening=hardening)
    assert schema.output_bytes == nbytes == schema.output_length // 8
    clks = encode([{"given": "ANN", "surname": "LEE"}, {}], schema)
    assert clks.shape == (2, nbytes)


def test_xor_fold_is_the_fold_of_the_plain_filter() -> None:
    records: list[Record] = [{"given": "ANN", "surname": "LEE"}, {"given": "BO", "surname": None}]
    plain = encode(records, NAME_SCHEMA)
    folded = encode(records, dataclasses.replace(NAME_SCHEMA, hardening="xor_fold"))
    assert np.array_equal(folded, plain[:, :64] ^ plain[:, 64:])


def test_balanced_filters_have_constant_weight() -> None:
    schema = dataclasses.replace(NAME_SCHEMA, hardening="balance")
    records: list[Record] = [{"given": "ANN", "surname": "LEE"}, {"given": "MAXIMILIANO"}, {}]
    clks = encode(records, schema)
    assert (np.unpackbits(clks, axis=1).sum(axis=1) == 1024).all()
    plain_weights = np.unpackbits(encode(records, NAME_SCHEMA), axis=1).sum(axis=1)
    assert len(set(plain_weights.tolist())) == 3  # the weight it hides did differ


# --- input handling --------------------------------------------------------------


def test_column_types_and_chunking_do_not_change_bits() -> None:
    names = ["ANN", None, "LEE", "ANN", "BO"]
    expected = encode([{"given": n, "surname": n} for n in names], NAME_SCHEMA)
    chunked = pa.chunked_array([pa.array(names[:2]), pa.array(names[2:])])
    table = pa.table(
        {
            "surname": pa.array(names, pa.large_string()),
            "extra": pa.array(range(5)),
            "given": chunked.dictionary_encode(),
        }
    )
    assert np.array_equal(encode_records(table, NAME_SCHEMA, KEYS), expected)


def test_date_columns_encode_as_iso_text() -> None:
    schema = BloomSchema((FieldEncoding("dob", q=2, bits=10, positional=True),), length=256)
    dates = pa.table({"dob": pa.array([dt.date(1980, 5, 17), None], pa.date32())})
    as_text = encode([{"dob": "1980-05-17"}, {"dob": None}], schema)
    assert np.array_equal(encode_records(dates, schema, KEYS), as_text)


def test_empty_table() -> None:
    assert encode([], NAME_SCHEMA).shape == (0, 128)


def test_missing_and_non_text_columns_are_rejected_without_values() -> None:
    with pytest.raises(InputError, match="surname"):
        encode_records(pa.table({"given": ["SECRETNAME"]}), NAME_SCHEMA, KEYS)
    bad = pa.table({"given": pa.array([424242]), "surname": ["SECRETNAME"]})
    with pytest.raises(InputError) as info:
        encode_records(bad, NAME_SCHEMA, KEYS)
    assert info.value.column == "given"
    assert "424242" not in str(info.value)
    assert "SECRETNAME" not in str(info.value)


# --- schema validation -------------------------------------------------------------


def test_schema_reports_every_problem_at_once() -> None:
    with pytest.raises(SchemaError) as info:
        BloomSchema(
            (
                FieldEncoding("given", q=0, bits=0),
                FieldEncoding("given"),
                FieldEncoding("bad name"),
            ),
            length=100,
            hardening="rot13",  # type: ignore[arg-type]
        )
    problems = info.value.problems
    assert len(problems) == 6
    joined = " ".join(problems)
    for part in ("q must", "bits", "more than once", "identifier", "hardening", "length"):
        assert part in joined


@pytest.mark.parametrize(
    ("fields", "length", "hardening"),
    [
        ((), 1024, "none"),
        ((FieldEncoding("a"),), 192, "xor_fold"),
        ((FieldEncoding("a"),), 32, "none"),
        ((FieldEncoding("a", q=9),), 1024, "none"),
        ((FieldEncoding("a", bits=257),), 1024, "none"),
        ((FieldEncoding("a", q="2"),), 1024, "none"),  # type: ignore[arg-type]
        ((FieldEncoding("a", bits=True),), 1024, "none"),
    ],
)
def test_schema_rejects(fields: tuple[FieldEncoding, ...], length: int, hardening: Any) -> None:
    with pytest.raises(SchemaError):
        BloomSchema(fields, length=length, hardening=hardening)


def test_schemas_are_frozen_and_default_is_valid() -> None:
    assert DEFAULT_BLOOM_SCHEMA.problems() == []
    assert BloomSchema((FieldEncoding("a"),), length=192).output_bytes == 24
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_BLOOM_SCHEMA.length = 64  # type: ignore[misc]


# --- Arrow round trip --------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(rows=st.integers(0, 20), width=st.sampled_from([8, 16, 128]), seed=st.integers(0, 99))
def test_arrow_round_trip(rows: int, width: int, seed: int) -> None:
    clks = np.random.default_rng(seed).integers(0, 256, (rows, width), dtype=np.uint8)
    array = to_arrow(clks)
    assert array.type == pa.binary(width)
    assert array.to_pylist() == [bytes(r) for r in clks]
    assert np.array_equal(from_arrow(array), clks)
    assert np.array_equal(
        from_arrow(pa.chunked_array([array[: rows // 2], array[rows // 2 :]])), clks
    )
    if rows > 2:
        assert np.array_equal(from_arrow(array.slice(1, rows - 2)), clks[1:-1])


def test_arrow_nulls_and_types() -> None:
    array = pa.array([b"\xff" * 8, None], pa.binary(8))
    assert from_arrow(array).tolist() == [[255] * 8, [0] * 8]
    with pytest.raises(InputError):
        from_arrow(pa.array([b"\xff"]))
    with pytest.raises(InputError):
        to_arrow(np.zeros((2, 8), dtype=np.uint64))
