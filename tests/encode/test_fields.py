"""Tests for linkage.encode.fields: a schema's field types normalise each side alike."""

from __future__ import annotations

import pyarrow as pa

from linkage.encode import load_schema, normalize_side
from tests.encode.minimal_schema import MINIMAL


def test_per_side_columns_and_missing_side() -> None:
    schema = load_schema(MINIMAL)
    assert schema.side_columns("a") == ("last",)
    assert schema.side_columns("b") == ("family_name",)
    left = normalize_side(pa.table({"last": ["Lee"]}), schema, "a")
    right = normalize_side(pa.table({"family_name": ["LEE"]}), schema, "b")
    assert left["surname"].to_pylist() == right["surname"].to_pylist() == ["lee"]


def test_street_address_field_writes_its_three_columns() -> None:
    schema = load_schema(
        MINIMAL.replace(
            "[compare.surname]",
            '[fields.street]\ntype = "street_address"\ncolumn = "address"\n'
            'unit = "apt"\n\n[compare.surname]',
        )
    )
    table = pa.table({"last": ["Lee"], "address": ["123 North Main Street #4"]})
    out = normalize_side(table, schema, "a")
    assert out.column_names == ["surname", "street", "house_number", "apt"]
    assert out.to_pylist() == [
        {"surname": "lee", "street": "n main st", "house_number": "123", "apt": "4"}
    ]
