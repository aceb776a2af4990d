"""Field types: where a linkage schema's field types meet the normalisation rules.

Each :data:`~linkage.encode.schema.FIELD_TYPES` entry names one rule of
:mod:`linkage.encode.normalize` (or the street parser of
:mod:`linkage.encode.address`), and :func:`normalize_side` applies them to one
side's raw table. The dispatch lives here rather than beside the rules so
that ``normalize`` stays schema-free (a rule knows values, not files) and
``schema`` stays a description: this is the one module that knows both.

Each distinct raw value is normalised once (Arrow ``dictionary_encode``) and
the results are taken back by index, as :func:`normalize_records` does for
the fixed voter columns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from linkage.encode.address import parse_street_address
from linkage.encode.normalize import (
    canonical_given_name,
    normalize_birth_date,
    normalize_category,
    normalize_city,
    normalize_code,
    normalize_date_parts,
    normalize_email,
    normalize_free_text,
    normalize_name,
    normalize_phone,
    normalize_place,
    normalize_postcode,
    normalize_state,
    postcode_district,
    text_column,
)
from linkage.encode.schema import LinkageSchema, Side

__all__ = ["normalize_side"]

_NORMALIZERS: Final[Mapping[str, Callable[[str | None], str | None]]] = {
    "given_name": canonical_given_name,
    "surname": normalize_name,
    "full_name": normalize_name,
    "birth_date": normalize_birth_date,
    "house_number": normalize_code,
    "unit": normalize_code,
    "city": normalize_city,
    "state": normalize_state,
    "postcode": normalize_postcode,
    "phone": normalize_phone,
    "email": normalize_email,
    "text": normalize_name,
    "identifier": normalize_code,
    "category": normalize_category,
    "free_text": normalize_free_text,
    "place": normalize_place,
}
"""The one-column rule of every field type but ``street_address`` (three columns)."""


def _map_distinct(
    values: pa.Array, function: Callable[[str | None], tuple[str | None, ...]], width: int
) -> list[pa.Array]:
    encoded = pc.dictionary_encode(values)
    results = [function(v) for v in encoded.dictionary.to_pylist()]
    return [
        pa.array([r[i] for r in results], type=pa.string()).take(encoded.indices)
        for i in range(width)
    ]


def _single(
    function: Callable[[str | None], str | None],
) -> Callable[[str | None], tuple[str | None, ...]]:
    def apply(value: str | None) -> tuple[str | None, ...]:
        return (function(value),)

    return apply


def _street_parts(value: str | None) -> tuple[str | None, ...]:
    parsed = parse_street_address(value)
    return parsed.street, parsed.house_number, parsed.unit


def _date_parts(value: str | None) -> tuple[str | None, ...]:
    parts = normalize_date_parts(value)
    return parts.value, parts.year, parts.month, parts.day


_MULTI: Final[Mapping[str, Callable[[str | None], tuple[str | None, ...]]]] = {
    "street_address": _street_parts,
    "date": _date_parts,
    "intl_postcode": postcode_district,
}
"""The rule of every field type that writes several columns (``FieldSpec.outputs``)."""


def normalize_side(table: pa.Table, schema: LinkageSchema, side: Side) -> pa.Table:
    """Normalise one side's raw table into the schema's normalised columns.

    Each distinct raw value is normalised once. Row order is kept.

    Raises:
        InputError: A column the schema names for this side is not text
            (an absent one is treated as all-null).
    """
    arrays: dict[str, pa.Array] = {}
    for field in schema.fields:
        raw = text_column(table, field.column(side))
        multi = _MULTI.get(field.type)
        if multi is not None:
            width = len(field.outputs)
            for name, array in zip(field.outputs, _map_distinct(raw, multi, width), strict=True):
                arrays[name] = array
        else:
            (arrays[field.name],) = _map_distinct(raw, _single(_NORMALIZERS[field.type]), 1)
    return pa.table(arrays)
