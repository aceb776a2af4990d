"""Tests for the field types for real files, default blocking and docs/SCHEMA.md's schemas."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest

from linkage.encode import load_schema, normalize_side
from linkage.encode.normalize import (
    normalize_birth_date,
    normalize_category,
    normalize_date_parts,
    normalize_free_text,
    normalize_place,
    postcode_district,
)
from linkage.errors import SchemaError

SCHEMA_MD = Path(__file__).resolve().parents[2] / "docs" / "SCHEMA.md"


@pytest.mark.parametrize(
    ("raw", "value", "parts"),
    [
        ("1861-03-14", "1861-03-14", ("1861", "03", "14")),
        ("1861-03-86", "1861-03", ("1861", "03", None)),
        ("abt 1861", "1861", ("1861", None, None)),
        ("1861", "1861", ("1861", None, None)),
        ("03/14/1861", "1861-03-14", ("1861", "03", "14")),
        ("18610314", "1861-03-14", ("1861", "03", "14")),
        ("1861-13-05", "1861", ("1861", None, "05")),
        ("unknown", None, (None, None, None)),
    ],
)
def test_date_parts_keep_what_parses(
    raw: str, value: str | None, parts: tuple[str | None, ...]
) -> None:
    got = normalize_date_parts(raw)
    assert got.value == value
    assert (got.year, got.month, got.day) == parts


def test_birth_date_is_unchanged_by_the_date_type() -> None:
    assert normalize_birth_date("1861-03-86") is None
    assert normalize_birth_date("03/14/1861") == "1861-03-14"


@pytest.mark.parametrize(
    ("raw", "code", "district"),
    [
        ("SW1A 1AA", "sw1a1aa", "sw1a"),
        ("m1 1ae", "m11ae", "m1"),
        ("K1A 0B1", "k1a0b1", "k1a"),
        ("1012 AB", "1012ab", "1012"),
        ("43215-1234", "43215", "432"),
        ("2000", "2000", "20"),
        ("x", None, None),
    ],
)
def test_postcode_district(raw: str, code: str | None, district: str | None) -> None:
    assert postcode_district(raw) == (code, district)


def test_category_place_and_free_text_rules() -> None:
    assert normalize_category("  Dr ") == "dr"  # no title stripping
    assert normalize_category("M") == "m"
    assert normalize_category("  ") is None
    assert normalize_place("Co. Kilkenny, Ireland") == normalize_place("kilkenny") == "kilkenny"
    assert normalize_place("Saint-Malo") == "st malo"
    assert normalize_place("Dr Wells") == "dr wells"  # not a personal name
    assert normalize_free_text("Labourer, farm") == normalize_free_text("farm  LABOURER")
    assert normalize_free_text("the of and") is None


SIDE_SCHEMA = """
[fields.given]
type = "given_name"
column = "given"

[fields.surname]
type = "surname"
column = "surname"

[fields.born]
type = "date"
column = "born"

[fields.postcode]
type = "intl_postcode"
column = "postcode"

[fields.job]
type = "free_text"
column = "job"

[fields.sex]
type = "category"
column = "sex"

[fields.birthplace]
type = "place"
column = "birthplace"

[compare.name]
columns = { given = { q = 2 }, surname = { q = 2 }, born_year = { q = 1, positional = true } }

[compare.sex]
method = "exact"
"""


def test_new_types_through_normalize_side_and_default_blocking() -> None:
    schema = load_schema(SIDE_SCHEMA)
    table = pa.table(
        {
            "given": ["Mary", None],
            "surname": ["O'Neill", "Smith"],
            "born": ["1861-03-86", "c. 1870"],
            "postcode": ["SW1A 1AA", None],
            "job": ["Farm labourer", None],
            "sex": [" F", "m"],
            "birthplace": ["Cork, Ireland", "Saint Helier"],
        }
    )
    out = normalize_side(table, schema, "a")
    assert out.column("born").to_pylist() == ["1861-03", "1870"]
    assert out.column("born_year").to_pylist() == ["1861", "1870"]
    assert out.column("born_month").to_pylist() == ["03", None]
    assert out.column("born_day").to_pylist() == [None, None]
    assert out.column("postcode_district").to_pylist() == ["sw1a", None]
    assert out.column("sex").to_pylist() == ["f", "m"]
    assert out.column("birthplace").to_pylist() == ["cork", "st helier"]
    names = [b.name for b in schema.blocking]
    assert names == [
        "bk_surname_postcode",
        "bk_given_postcode",
        "bk_given_year",
        "bk_surname_year",
        "bk_date",
        "bk_names",
    ]
    year_pass = schema.blocking[2]
    assert year_pass.parts == (("given", "soundex"), ("born_year", "value"))


def test_no_default_blocking_for_unblockable_fields_is_an_error() -> None:
    text = '[fields.job]\ntype = "free_text"\ncolumn = "job"\n\n[compare.job]\nq = 2\n'
    with pytest.raises(SchemaError, match="no default pass fits"):
        load_schema(text)


def test_every_worked_schema_in_the_guide_parses() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", SCHEMA_MD.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 3
    kinds = set()
    for block in blocks:
        schema = load_schema(block, file="SCHEMA.md")
        assert schema.blocking
        kinds |= {f.type for f in schema.fields}
    assert {"date", "place", "category", "free_text", "intl_postcode"} <= kinds


def test_a_full_name_blocks_on_its_words_in_any_order() -> None:
    from linkage.encode.blocking_defaults import default_blocking
    from linkage.encode.blocking_keys import _transform

    assert _transform("john smith", "minsoundex") == _transform("smith john", "minsoundex")
    assert _transform("john smith", "maxsoundex") == _transform("smith john", "maxsoundex")
    assert _transform("john smith", "minsoundex") != _transform("john smith", "maxsoundex")
    assert _transform("--", "minsoundex") is None
    passes = dict(
        default_blocking(
            [("full_name", ("name",)), ("postcode", ("pc",)), ("date", ("dob", "dob_year"))]
        )
    )
    assert passes["bk_name_words"] == (("name", "minsoundex"), ("name", "maxsoundex"))
    assert passes["bk_name_low_postcode"] == (("name", "minsoundex"), ("pc", "value"))
    assert "bk_surname_postcode" not in passes


def test_a_schema_without_compare_gets_comparisons_from_its_types() -> None:
    from linkage.encode import load_schema

    schema = load_schema(
        "[schema]\nname = 'x'\n"
        "[fields.given]\ntype = 'given_name'\ncolumn = 'g'\n"
        "[fields.surname]\ntype = 'surname'\ncolumn = 's'\n"
        "[fields.born]\ntype = 'date'\ncolumn = 'd'\n"
        "[fields.sex]\ntype = 'category'\ncolumn = 'x'\n"
    )
    specs = {c.column: c for c in schema.compare}
    assert set(specs) == {"name", "born", "sex"}
    assert [e.name for e in specs["name"].encodings] == ["given", "surname", "born_year"]
    assert specs["sex"].method == "exact"
    # No low-entropy column alone: the name filter is salted with the year.
    assert specs["name"].encodings[-1].bits == 2
