"""Keyed match keys: HMAC-SHA256 over combinations of normalised fields.

The safe call is :func:`tokenize_records`: it takes the output of
:func:`linkage.normalize.normalize_records` and a :class:`SubkeySource` (the
exchange's linkage key) and returns one ``binary(32)`` column per recipe.
:func:`linkage.hazmat.hmac_sha256_many` is the primitive underneath; use it directly only
with a key from a :class:`SubkeySource`.

Message encoding (fixed by ``tests/vectors/matchkeys.json``)::

    b"narwhal/v1/matchkey" || lp(recipe.name) || lp(value_1) || ... || lp(value_n)

where ``lp(x)`` is the UTF-8 bytes of ``x`` prefixed by their length as a
4-byte big-endian integer. Length prefixes make the encoding injective (no
separator can be smuggled inside a value), and the recipe name separates
domains on top of the per-recipe sub-key (``purpose = "match:<recipe.name>"``).
A recipe's token is null when any of its fields is null, except the fields in
:data:`EMPTY_WHEN_MISSING` (``unit``): a missing unit is the empty string, so
"123 Main St" on both sides still matches on ``mk_addr``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from linkage.errors import InputError, KeyMaterialError, SchemaError
from linkage.hazmat import hmac_sha256_many, length_prefixed
from linkage.types import SubkeySource

TOKEN_BYTES: Final = 32
EMPTY_WHEN_MISSING: Final = frozenset({"unit"})
"""Fields encoded as ``""`` instead of nulling the key when missing."""

_DOMAIN: Final = b"narwhal/v1/matchkey"
_RECIPE_NAME: Final = re.compile(r"mk_[a-z0-9_]{1,60}")


@dataclass(frozen=True, slots=True)
class MatchKeyRecipe:
    """One match key: a name (also the output column) and the fields it hashes.

    Attributes:
        name: ``mk_<something>``; the output column and the sub-key purpose
            ``"match:<name>"``.
        fields: Columns of the normalised table, hashed in this order.
    """

    name: str
    fields: tuple[str, ...]

    def __post_init__(self) -> None:
        problems = []
        if _RECIPE_NAME.fullmatch(self.name) is None:
            problems.append("recipe name must look like mk_<lower_snake_case>")
        if not self.fields:
            problems.append(f"recipe {self.name!r} has no fields")
        if len(set(self.fields)) != len(self.fields):
            problems.append(f"recipe {self.name!r} repeats a field")
        if problems:
            raise SchemaError(problems)

    @property
    def purpose(self) -> str:
        """The sub-key purpose string for this recipe."""
        return f"match:{self.name}"


DEFAULT_RECIPES: Final[tuple[MatchKeyRecipe, ...]] = (
    MatchKeyRecipe("mk_name_addr", ("given", "surname", "house_number", "street", "unit", "zip5")),
    MatchKeyRecipe("mk_surname_addr", ("surname", "house_number", "street", "unit", "zip5")),
    MatchKeyRecipe("mk_addr", ("house_number", "street", "unit", "zip5")),
    MatchKeyRecipe("mk_addr_nounit", ("house_number", "street", "zip5")),
    MatchKeyRecipe("mk_phone", ("phone",)),
    MatchKeyRecipe("mk_email", ("email",)),
)
"""The recipes both parties use unless configured otherwise (ARCHITECTURE.md, "Match keys")."""


def encode_message(recipe: MatchKeyRecipe, values: Mapping[str, str | None]) -> bytes | None:
    """The HMAC message for one record: the slow, obviously-correct reference.

    Args:
        recipe: The recipe.
        values: Normalised field values keyed by field name (missing = None).

    Returns:
        The encoded message, or None when a required field is missing.
    """
    parts = [_DOMAIN, length_prefixed(recipe.name.encode())]
    for field in recipe.fields:
        value = values.get(field)
        if value is None:
            if field not in EMPTY_WHEN_MISSING:
                return None
            value = ""
        parts.append(length_prefixed(value.encode("utf-8")))
    return b"".join(parts)


@dataclass(frozen=True, slots=True)
class _EncodedField:
    """One field's distinct ``lp(value)`` and each row's index into them (-1: missing)."""

    distinct: list[bytes]
    index: npt.NDArray[np.int64]


def _encoded_column(
    table: pa.Table, field: str, empty_when_missing: frozenset[str] = EMPTY_WHEN_MISSING
) -> _EncodedField:
    """``lp(value)`` once per distinct value of ``field``, and where each row points.

    A missing value points at ``lp("")`` for a field in ``empty_when_missing``,
    else at -1 (the token is null).
    """
    column = table.column(field)
    try:
        text = column.cast(pa.string()).combine_chunks()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        # from None: Arrow's message can quote the offending value.
        raise InputError("match-key field is not text", column=field) from None
    encoded = pc.dictionary_encode(text)
    distinct = [length_prefixed(v.encode("utf-8")) for v in encoded.dictionary.to_pylist()]
    missing = -1
    if field in empty_when_missing:
        distinct.append(length_prefixed(b""))
        missing = len(distinct) - 1
    index = pc.fill_null(encoded.indices.cast(pa.int64()), missing).to_numpy(zero_copy_only=False)
    return _EncodedField(distinct, index)


def _dense(values: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], int]:
    """Dense ranks (0..card-1) of non-negative ints, and the cardinality."""
    distinct, rank = np.unique(values, return_inverse=True)
    return rank.ravel().astype(np.int64), len(distinct)


def _messages(
    prefix: bytes, parts: Sequence[_EncodedField]
) -> tuple[list[bytes], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """The distinct messages of a recipe, each row's message id, and which rows have one.

    Rows are grouped by their tuple of field indices (mixed-radix ids,
    re-ranked before they could overflow), so each distinct message is
    built, and later hashed, once: housemates share their address keys.
    """
    rows = len(parts[0].index) if parts else 0
    present = np.ones(rows, dtype=bool)
    ids = np.zeros(rows, dtype=np.int64)
    cardinality = 1
    for part in parts:
        present &= part.index >= 0
        count = len(part.distinct) + 1
        if cardinality * count >= 1 << 62:
            ids, cardinality = _dense(ids)
        ids = ids * count + (part.index + 1)
        cardinality *= count
    ids, cardinality = _dense(np.where(present, ids, -1))
    first = np.full(cardinality, -1, dtype=np.int64)
    first[ids[::-1]] = np.arange(rows - 1, -1, -1, dtype=np.int64)
    rows_of = first[present[first]]
    columns = [[part.distinct[i] for i in part.index[rows_of].tolist()] for part in parts]
    messages = [prefix + b"".join(values) for values in zip(*columns, strict=True)]
    if not present.all():
        # The missing rows took id 0 (-1 ranks first); real messages start at 1.
        ids = ids - 1
    return messages, ids, present


def _validate_recipes(recipes: Sequence[MatchKeyRecipe], columns: Sequence[str]) -> None:
    problems = []
    names = [r.name for r in recipes]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"recipe {name!r} appears more than once")
    if problems:
        raise SchemaError(problems)
    missing = sorted({f for r in recipes for f in r.fields} - set(columns))
    if missing:
        raise InputError(
            "normalised table lacks a match-key field",
            column=missing[0],
            hint="pass the output of linkage.normalize.normalize_records",
        )


def _subkey(keys: SubkeySource, recipe: MatchKeyRecipe) -> bytes:
    key = keys.subkey(recipe.purpose)
    if len(key) != TOKEN_BYTES:
        raise KeyMaterialError(
            f"sub-key for {recipe.purpose} is not {TOKEN_BYTES} bytes",
            hint="the key source must return HKDF-derived 32-byte sub-keys",
        )
    return key


def tokenize_records(
    normalized: pa.Table,
    keys: SubkeySource,
    recipes: Sequence[MatchKeyRecipe] = DEFAULT_RECIPES,
    *,
    empty_when_missing: frozenset[str] = EMPTY_WHEN_MISSING,
) -> pa.Table:
    """Compute the keyed match keys of every record.

    Args:
        normalized: Output of :func:`linkage.normalize.normalize_records` (any
            table with the recipes' fields as string columns).
        keys: Source of per-purpose sub-keys (the exchange's linkage key).
        recipes: Which match keys to compute.
        empty_when_missing: Fields encoded as ``""`` instead of nulling the
            key when missing (default :data:`EMPTY_WHEN_MISSING`; pass an
            empty set for per-field comparison tokens, where "missing" must
            stay distinguishable from "disagrees").

    Returns:
        One ``binary(32)`` column per recipe, named ``recipe.name``, in input
        row order; null where a required field is null. No other column.

    Raises:
        SchemaError: Two recipes share a name.
        InputError: A recipe field is not a column of ``normalized``.
        KeyMaterialError: The key source returned a sub-key of the wrong size.
    """
    _validate_recipes(recipes, normalized.column_names)
    fields = {f for r in recipes for f in r.fields}
    encoded = {field: _encoded_column(normalized, field, empty_when_missing) for field in fields}
    columns: dict[str, pa.Array] = {}
    for recipe in recipes:
        prefix = _DOMAIN + length_prefixed(recipe.name.encode())
        messages, ids, present = _messages(prefix, [encoded[f] for f in recipe.fields])
        macs = hmac_sha256_many(_subkey(keys, recipe), cast("list[bytes | None]", messages))
        tokens = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(TOKEN_BYTES),
            len(messages),
            [None, pa.py_buffer(b"".join(cast("list[bytes]", macs)))],
        )
        mask = None if present.all() else ~present
        columns[recipe.name] = tokens.take(pa.array(np.maximum(ids, 0), mask=mask))
    if not columns:
        return pa.table({})
    return pa.table(columns)
