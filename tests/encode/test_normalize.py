"""Tests for linkage.encode.normalize: per-field rules, the distinct-value fast path, invariants."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nicknames import NickNamer

from linkage.encode import (
    INPUT_COLUMNS,
    OUTPUT_COLUMNS,
    canonical_given_name,
    normalize_birth_date,
    normalize_city,
    normalize_email,
    normalize_name,
    normalize_phone,
    normalize_postcode,
    normalize_records,
    normalize_row,
    normalize_state,
    zip5,
)
from linkage.errors import InputError

# ---------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("O'Brien", "obrien"),
        ("O’Brien", "obrien"),
        ("Smith-Jones", "smithjones"),
        ("  José   GARCÍA ", "jose garcia"),
        ("Zoë", "zoe"),
        ("Dr. John Smith Jr.", "john smith"),
        ("Mrs Mary Smith", "mary smith"),
        ("Smith III", "smith"),
        ("Smith, Sr.", "smith"),
        ("Jr", "jr"),  # a title/suffix alone is kept rather than emptied
        ("Øster", "oster"),
        ("Straße", "strasse"),
        ("", None),
        ("  ", None),
        ("---", None),
        (None, None),
    ],
)
def test_normalize_name(raw: str | None, expected: str | None) -> None:
    assert normalize_name(raw) == expected


@pytest.mark.parametrize(
    ("canonical", "variants"),
    [
        ("william", ["William", "Bill", "Billy", "Will", "Willie", "Willy", "WM"]),
        ("robert", ["Robert", "Bob", "Bobby", "Rob", "Robbie"]),
        ("elizabeth", ["Elizabeth", "Liz", "Beth", "Betty", "Lizzie"]),
        ("james", ["James", "Jim", "Jimmy"]),
        ("katherine", ["Katherine", "Kate", "Katie", "Kathy", "Catherine", "Kathryn"]),
        ("michael", ["Michael", "Mike", "Mickey"]),
        ("richard", ["Richard", "Dick", "Rick", "Rich"]),
        ("margaret", ["Margaret", "Peggy", "Maggie"]),
        ("charles", ["Charles", "Chuck", "Charlie"]),
    ],
)
def test_canonical_given_name_folds_nicknames(canonical: str, variants: list[str]) -> None:
    assert {canonical_given_name(v) for v in variants} == {canonical}


@pytest.mark.parametrize(
    "name",
    ["Amy", "Felix", "Heidi", "Erica", "Wilma", "Pat", "Al", "Kathleen", "Jack", "Liam"],
)
def test_canonical_given_name_keeps_formal_and_ambiguous_names(name: str) -> None:
    assert canonical_given_name(name) == normalize_name(name)


def test_canonical_given_name_uses_package_for_unambiguous_long_tail() -> None:
    assert canonical_given_name("Archie") == "archibald"
    assert canonical_given_name("Dickie") == "richard"


def test_canonical_given_name_takes_first_word_and_nulls() -> None:
    assert canonical_given_name("Bill Henry") == "william"
    assert canonical_given_name(None) is None
    assert canonical_given_name(" . ") is None


def test_canonical_given_name_is_idempotent_over_the_whole_nickname_table() -> None:
    namer = NickNamer()
    names = set(namer.nickname_lookup) | set(namer.canonical_lookup)
    for name in names:
        once = canonical_given_name(name)
        assert canonical_given_name(once) == once, name


# ---------------------------------------------------------------- places and contact


@pytest.mark.parametrize(
    "raw", ["(614) 362-0123", "614.362.0123", "+1 614 362 0123", "1-614-362-0123", "6143620123"]
)
def test_phone_formats(raw: str) -> None:
    assert normalize_phone(raw) == "+16143620123"


def test_phone_drops_extension() -> None:
    assert normalize_phone("614-362-0123 ext. 45") == "+16143620123"
    assert normalize_phone("614-362-0123x45") == "+16143620123"


@pytest.mark.parametrize(
    "raw",
    [
        "555-0123",  # 7 digits
        "114-555-0123",  # area code starts with 1
        "014-555-0123",
        "614-055-0123",  # exchange starts with 0
        "614-155-0123",
        "911-555-0123",  # N11 area code
        "614-411-0123",  # N11 exchange
        "2-614-555-0123",  # 11 digits not starting with 1
        "+44 20 7946 0958",
        "not a phone",
        "",
        None,
    ],
)
def test_invalid_phones_are_null(raw: str | None) -> None:
    assert normalize_phone(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" John.Doe@Example.COM ", "john.doe@example.com"),
        ("a@b.co", "a@b.co"),
        ("a@b", None),
        ("a@@b.com", None),
        ("a@b@c.com", None),
        ("@b.com", None),
        ("a@.com", None),
        ("a@b.", None),
        ("a b@c.com", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_email(raw: str | None, expected: str | None) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("43215", "43215"),
        ("43215-1234", "43215"),
        ("432151234", "43215"),
        (" 02134 ", "02134"),
        ("4321", None),
        ("432155", None),
        ("abcde", None),
        (None, None),
    ],
)
def test_zip5(raw: str | None, expected: str | None) -> None:
    assert zip5(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("oh", "OH"),
        ("OH", "OH"),
        ("Ohio", "OH"),
        ("O.H.", "OH"),
        ("new york", "NY"),
        ("District of Columbia", "DC"),
        ("Puerto Rico", "PR"),
        ("XX", None),
        ("Ohioo", None),
        (None, None),
    ],
)
def test_normalize_state(raw: str | None, expected: str | None) -> None:
    assert normalize_state(raw) == expected


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("St. Louis", "Saint Louis"),
        ("Winston-Salem", "WINSTON SALEM"),
        ("N Canton", "North Canton"),
        ("Mt. Vernon", "Mount Vernon"),
        ("Coeur d'Alene", "coeur dalene"),
    ],
)
def test_city_variants_agree(left: str, right: str) -> None:
    assert normalize_city(left) == normalize_city(right)
    assert normalize_city(left) is not None


# ---------------------------------------------------------------- table fast path


def _random_raw_table(seed: int, rows: int) -> pa.Table:
    rng = random.Random(seed)
    pools = {
        "first_name": ["Bill", "William", "Bob", "Kate", "José", "Pat", " ", None],
        "last_name": ["O'Brien", "Smith-Jones", "García", "Lee Jr", None],
        "address": [
            "123 N Main St Apt 4",
            "123 North Main Street #4",
            "9 Elm Blvd SE",
            "PO Box 5",
            "",
            None,
        ],
        "city": ["Columbus", "St. Louis", None],
        "state": ["OH", "Ohio", "zz", None],
        "zip": ["43215", "43215-1234", "123", None],
        "phone": ["(614) 362-0123", "555-0123", None],
        "email": ["A@B.com", "bad", None],
    }
    return pa.table(
        {c: pa.array([rng.choice(v) for _ in range(rows)], pa.string()) for c, v in pools.items()}
    )


def test_normalize_records_matches_row_by_row_reference() -> None:
    raw = _random_raw_table(seed=7, rows=500)
    fast = normalize_records(raw).to_pylist()
    slow = [normalize_row(row) for row in raw.to_pylist()]
    assert fast == slow


def test_normalize_records_shape_and_order() -> None:
    raw = _random_raw_table(seed=3, rows=50)
    out = normalize_records(raw)
    assert out.column_names == list(OUTPUT_COLUMNS)
    assert all(out.schema.field(c).type == pa.string() for c in OUTPUT_COLUMNS)
    assert out.num_rows == raw.num_rows
    for i, row in enumerate(raw.to_pylist()):
        assert out.slice(i, 1).to_pylist()[0]["zip5"] == zip5(row["zip"])


def test_normalize_records_example_rows() -> None:
    raw = pa.table(
        {
            "first_name": ["Bill", "William"],
            "last_name": ["O'Brien", "OBRIEN"],
            "address": ["123 N Main St Apt 4", "123 North Main Street #4"],
            "zip": ["43215-1234", "43215"],
            "phone": ["(614) 362-0123", "1-614-362-0123"],
        }
    )
    first, second = normalize_records(raw).to_pylist()
    assert first["given_raw"] == "bill" and second["given_raw"] == "william"
    first.pop("given_raw")
    second.pop("given_raw")
    assert first == second
    assert first["street"] == "n main st" and first["unit"] == "4"
    assert first["city"] is None and first["email"] is None


def test_missing_columns_are_null_and_extra_columns_ignored() -> None:
    out = normalize_records(pa.table({"voter_id": ["a", "b"], "last_name": ["Smith", None]}))
    assert out.column("surname").to_pylist() == ["smith", None]
    for column in OUTPUT_COLUMNS:
        if column != "surname":
            assert out.column(column).null_count == 2


def test_empty_table() -> None:
    out = normalize_records(pa.table({c: pa.array([], pa.string()) for c in INPUT_COLUMNS}))
    assert out.num_rows == 0
    assert out.column_names == list(OUTPUT_COLUMNS)


def test_non_string_and_chunked_columns() -> None:
    zips = pa.chunked_array([pa.array([43215, None], pa.int64()), pa.array([2134], pa.int64())])
    big = pa.chunked_array(
        [pa.array(["Bill"], pa.large_string()), pa.array(["Bob", None], pa.large_string())]
    )
    out = normalize_records(pa.table({"zip": zips, "first_name": big}))
    assert out.column("zip5").to_pylist() == ["43215", None, None]
    assert out.column("given").to_pylist() == ["william", "robert", None]


def test_uncastable_column_raises_input_error_without_values() -> None:
    column = pa.array([[1, 2]], pa.list_(pa.int64()))
    with pytest.raises(InputError) as info:
        normalize_records(pa.table({"phone": column}))
    assert info.value.column == "phone"


# ---------------------------------------------------------------- dates and codes


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


# ---------------------------------------------------------------- invariants

_FIELD_FUNCTIONS = [
    normalize_name,
    canonical_given_name,
    normalize_city,
    normalize_state,
    normalize_phone,
    normalize_email,
    zip5,
]


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_field_functions_are_idempotent_and_total(text: str) -> None:
    for function in _FIELD_FUNCTIONS:
        once = function(text)
        assert once is None or isinstance(once, str)
        assert once != ""
        if once is not None:
            assert function(once) == once, function.__name__


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=12)), max_size=30))
def test_distinct_value_cache_equals_row_by_row(values: list[str | None]) -> None:
    raw = pa.table({c: pa.array(values, pa.string()) for c in INPUT_COLUMNS})
    fast = normalize_records(raw).to_pylist()
    slow = [normalize_row(row) for row in raw.to_pylist()]
    assert fast == slow
