"""Tests for linkage.encode.schema: every problem at once, shipped schemas, drop_fields."""

from __future__ import annotations

import pytest

from linkage.encode import drop_fields, load_schema, shipped_schema
from linkage.errors import SchemaError
from tests.encode.minimal_schema import MINIMAL


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


def test_drop_fields_removes_dependent_entries() -> None:
    schema = shipped_schema("febrl")
    without = drop_fields(schema, {"ssn"})
    assert "ssn" not in without.columns
    assert all("ssn" not in k.recipe.fields for k in without.match_keys)
    assert all(c.column != "ssn" for c in without.compare)
    assert all("ssn" not in {e.name for e in c.encodings} for c in without.compare)
    assert all("ssn" not in [c for c, _ in b.parts] for b in without.blocking)


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
