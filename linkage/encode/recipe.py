"""The safe tokenize recipe: one side's raw table in, only keyed columns out.

:func:`encode_side` normalises one side's table (once per distinct value,
:mod:`linkage.encode.fields`) and returns only keyed columns: ``mk_*``
(``binary(32)``, HMAC-SHA256), ``clk_<col>`` (keyed per-column Bloom
filters), ``mk_f_<col>`` (``binary(32)`` exact per-column tokens for
``method = "exact"``) and ``bk_*`` (``binary(16)``, truncated HMAC-SHA256 of
blocking values, :mod:`linkage.encode.blocking_keys`). Every family uses its
own HKDF sub-key per name (``match:``, ``bloom:``, ``block:``), so no token
of one family or name can be compared with another's.

Privacy cost of the per-column choices: a per-column Bloom filter of a
low-entropy column (state, ZIP) is as linkable by the matcher as an exact
token, and the frequency of its bit patterns follows the value frequencies;
keep such columns ``exact`` (or out of ``compare``) and the filters long.
"""

from __future__ import annotations

import pyarrow as pa

from linkage.encode.blocking_keys import blocking_key_column
from linkage.encode.bloom import encode_records, to_arrow
from linkage.encode.fields import normalize_side
from linkage.encode.matchkeys import MatchKeyRecipe, tokenize_records
from linkage.encode.schema import LinkageSchema, Side
from linkage.hazmat import checked_subkey
from linkage.types import SubkeySource

__all__ = ["encode_chunk", "encode_normalized", "encode_side"]


def encode_normalized(normalized: pa.Table, schema: LinkageSchema, keys: SubkeySource) -> pa.Table:
    """Keyed columns of an already normalised table (see :func:`encode_side`)."""
    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    recipes = [k.recipe for k in schema.match_keys]
    if recipes:
        tokens = tokenize_records(normalized, keys, recipes)
        for name in tokens.column_names:
            columns[name] = tokens[name]
    exact = [MatchKeyRecipe(s.output, (s.column,)) for s in schema.compare if s.method == "exact"]
    if exact:
        tokens = tokenize_records(normalized, keys, exact, empty_when_missing=frozenset())
        for name in tokens.column_names:
            columns[name] = tokens[name]
    for spec in schema.compare:
        if spec.method == "dice":
            clks = encode_records(normalized, schema.bloom_schema(spec), keys)
            columns[spec.output] = to_arrow(clks)
    for block in schema.blocking:
        columns[block.name] = blocking_key_column(
            normalized, block, checked_subkey(keys, block.purpose)
        )
    return pa.table(columns)


def encode_side(table: pa.Table, schema: LinkageSchema, side: Side, keys: SubkeySource) -> pa.Table:
    """The safe recipe: normalise one side and return only keyed columns.

    Args:
        table: The side's raw records (the columns the schema names for ``side``).
        schema: The shared linkage schema (both sides must use the same one).
        side: ``"a"`` (campaign / left file) or ``"b"`` (provider / right file).
        keys: The exchange's linkage key (per-purpose HKDF sub-keys).

    Returns:
        Same row order: ``mk_*`` (``binary(32)``), ``mk_f_*`` (``binary(32)``),
        ``clk_*`` (``binary(bloom_length / 8)``) and ``bk_*`` (``binary(16)``).
        Never a readable value.

    Raises:
        InputError: A named column is unreadable (absent ones are all-null).
        KeyMaterialError: The key source returned a short sub-key.
    """
    return encode_normalized(normalize_side(table, schema, side), schema, keys)


def encode_chunk(
    schema: LinkageSchema, side: Side, keys: SubkeySource, table: pa.Table
) -> pa.Table:
    """:func:`encode_side` with the table last: a picklable chunk function for worker pools.

    ``functools.partial(encode_chunk, schema, side, keys)`` is what
    :func:`linkage.encode.encode_side_parallel` ships to each worker process.
    """
    return encode_side(table, schema, side, keys)
