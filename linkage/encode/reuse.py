"""Reuse across weeks: the key-independent half of tokenizing, cached per voter row.

Each week is a fresh exchange under a fresh linkage key
(:mod:`linkage.protocol.keys` binds the key to the exchange id), so no token
can be kept from one week to the next. What does not depend on a key can:
normalising names, addresses, phones and dates
(:func:`linkage.encode.normalize_side`) is most of the work of
:func:`linkage.encode.encode_side`: profiled on one core, a 200k-voter
``campaign tokenize`` spent 57% normalising (41% in the street parser, dummy
records included) and 30% on HMACs, filters and blocking keys; segment rules
took under 1%.

The cache maps a *row digest* to that row's normalised columns. The digest is
SHA-256 over the normalisation's own digest (the schema's fields for the side,
and the source of the rules and name lists that normalise them) and the raw
values the schema reads from the row (as a JSON array: injective, null
distinct from empty). So a changed row, a changed field definition or a
changed normaliser is a miss, never a stale hit; a row that did not change is
a hit, and week 2 normalises only the rows that changed. :func:`normalize_reusing` returns
exactly what ``normalize_side`` would (same values, same types, same order),
so the tokens of a cached run are the tokens of an uncached one
(``tests/encode/test_reuse.py``).

**Privacy.** The cache holds normalised PII (names, addresses, phones) and the
digests of raw rows: it is as sensitive as the voter file and belongs in the
campaign's private home only (``HOME/state/normalized.parquet``, 0600,
:attr:`linkage.io.PartyHome.normalized_cache_path`). It holds no key, token or
reference, so it links nothing the matcher sees; it keeps only the rows of the
latest run (a voter who left the file leaves the cache the next week).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import linkage.encode.address as address
import linkage.encode.fields as fields
import linkage.encode.normalize as normalize
import linkage.encode.text as text
from linkage.encode.fields import normalize_side
from linkage.encode.normalize import text_column
from linkage.encode.parallel import DEFAULT_CHUNK_ROWS, default_workers, imap_chunks, map_chunks
from linkage.encode.recipe import encode_normalized
from linkage.encode.schema import LinkageSchema, Side
from linkage.hazmat import length_prefixed
from linkage.types import StageProgress, SubkeySource, no_progress

__all__ = [
    "DIGEST_COLUMN",
    "NORMALIZATION_TAG",
    "NormalizedReuse",
    "encode_normalized_chunks",
    "normalization_digest",
    "normalize_reusing",
    "row_digests",
]

DIGEST_COLUMN: Final = "row_digest"
"""The cache's key column: :func:`row_digests` of the row its other columns normalise."""

NORMALIZATION_TAG: Final = b"narwhal-normalization-digest"
"""The cache table's schema-metadata key holding :func:`normalization_digest` (hex)."""

_DOMAIN: Final = b"narwhal/v1/normalized-row\x00"
_ROW_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

_NORMALISER_MODULES: Final = (text, normalize, address, fields)
"""The code a normalised value depends on: a change to any of them empties the cache."""


@functools.cache
def _normaliser_source_digest() -> bytes:
    digest = hashlib.sha256()
    for module in _NORMALISER_MODULES:
        try:
            source = inspect.getsource(module).encode("utf-8")
        except (OSError, TypeError):
            # No source to pin (a frozen build): a digest of this process alone,
            # so the cache never hits rather than trusting values of another version.
            source = os.urandom(32)
        digest.update(length_prefixed(source))
    data = resources.files("linkage.data")
    for entry in sorted(data.iterdir(), key=lambda e: e.name):
        if entry.is_file():
            digest.update(length_prefixed(entry.name.encode("utf-8")))
            digest.update(length_prefixed(entry.read_bytes()))
    return digest.digest()


def normalization_digest(schema: LinkageSchema, side: Side) -> bytes:
    """SHA-256 of everything a side's normalised columns depend on but the row itself.

    The schema's fields for ``side`` (name, type, raw column, outputs), in
    order, and the source of the normalising modules and their name lists.
    Match keys, comparisons and blocking are not in it: they act after
    normalisation, so changing them keeps the cache.
    """
    digest = hashlib.sha256(_DOMAIN + _normaliser_source_digest())
    digest.update(length_prefixed(side.encode()))
    for spec in schema.fields:
        for part in (spec.name, spec.type, spec.column(side) or "", *spec.outputs):
            digest.update(length_prefixed(part.encode("utf-8")))
        digest.update(b"\x1e")
    return digest.digest()


def row_digests(table: pa.Table, schema: LinkageSchema, side: Side) -> pa.Array:
    """One SHA-256 per row over :func:`normalization_digest` and the raw values the schema reads.

    Raises:
        InputError: A column the schema reads cannot be read as text.
    """
    prefix = normalization_digest(schema, side)
    columns = [text_column(table, name).to_pylist() for name in schema.side_columns(side)]
    rows = zip(*columns, strict=True) if columns else ((),) * int(table.num_rows)
    # A JSON array of strings and nulls is injective (null is not "null"), and
    # one C-encoded string per row is twice as fast as a hash update per value.
    encode = _ROW_ENCODER.encode
    out = [hashlib.sha256(prefix + encode(values).encode("utf-8")).digest() for values in rows]
    return pa.array(out, type=pa.binary(32))


@dataclass(frozen=True)
class NormalizedReuse:
    """One run's normalised table, the cache to keep for the next run, and what was reused.

    Attributes:
        normalized: Exactly ``normalize_side(table, schema, side)``.
        cache: ``row_digest`` and the normalised columns, one row per distinct
            digest of this run's table, tagged with :data:`NORMALIZATION_TAG`.
        hits: Rows whose normalised values came from the previous cache.
        misses: Rows normalised in this run.
    """

    normalized: pa.Table
    cache: pa.Table
    hits: int
    misses: int


def _usable(cache: pa.Table | None, tag: bytes, columns: tuple[str, ...]) -> bool:
    if cache is None or cache.num_rows == 0:
        return False
    metadata = cache.schema.metadata or {}
    if metadata.get(NORMALIZATION_TAG) != tag.hex().encode():
        return False
    expected = (DIGEST_COLUMN, *columns)
    return tuple(cache.column_names) == expected and all(
        cache.schema.field(c).type == pa.string() for c in columns
    )


def _normalize_chunk(schema: LinkageSchema, side: Side, table: pa.Table) -> pa.Table:
    """:func:`normalize_side` with the table last: picklable for worker pools."""
    return normalize_side(table, schema, side)


def normalize_reusing(
    table: pa.Table,
    schema: LinkageSchema,
    side: Side,
    cache: pa.Table | None,
    *,
    workers: int | None = 1,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> NormalizedReuse:
    """Normalise ``table``, taking every row whose digest is in ``cache`` from it.

    A cache of another schema or normaliser version (its tag differs), or of
    the wrong shape, is ignored: every row is a miss and the returned cache
    replaces it.

    Args:
        table: The side's raw records.
        schema: The linkage schema.
        side: ``"a"`` or ``"b"``.
        cache: The previous run's :attr:`NormalizedReuse.cache`, or None.
        workers: Processes for the missed rows; None: one per CPU.
        chunk_rows: Rows per chunk of missed rows.

    Returns:
        The normalised table (as :func:`normalize_side`) and the new cache.

    Raises:
        InputError: A column the schema reads cannot be read as text.
    """
    tag = normalization_digest(schema, side)
    columns = schema.columns
    digests = row_digests(table, schema, side)
    if _usable(cache, tag, columns):
        assert cache is not None
        found = pc.index_in(digests, value_set=cache[DIGEST_COLUMN]).to_numpy(zero_copy_only=False)
        hit = ~np.isnan(found) if found.dtype.kind == "f" else np.ones(len(found), dtype=bool)
    else:
        found = np.zeros(table.num_rows)
        hit = np.zeros(table.num_rows, dtype=bool)
    missed = np.flatnonzero(~hit)
    n = default_workers() if workers is None else workers
    fresh = map_chunks(
        functools.partial(_normalize_chunk, schema, side),
        table.take(pa.array(missed, type=pa.int64())),
        chunk_rows=chunk_rows,
        workers=n,
    )
    if missed.size == table.num_rows:
        normalized = fresh
    else:
        assert cache is not None
        cached = cache.select(list(columns)).take(pa.array(found[hit].astype(np.int64)))
        # Hits first, then misses; the inverse permutation puts each row back in place.
        order = np.concatenate([np.flatnonzero(hit), missed])
        inverse = np.empty_like(order)
        inverse[order] = np.arange(order.size)
        stacked = pa.concat_tables([cached, fresh.select(list(columns))])
        normalized = stacked.take(pa.array(inverse, type=pa.int64())).combine_chunks()
    normalized = normalized.select(list(columns))
    _, first = np.unique(digests.to_numpy(zero_copy_only=False), return_index=True)
    keep = pa.array(np.sort(first), type=pa.int64())
    new_cache = normalized.take(keep).add_column(0, DIGEST_COLUMN, digests.take(keep))
    new_cache = new_cache.replace_schema_metadata({NORMALIZATION_TAG: tag.hex().encode()})
    return NormalizedReuse(
        normalized=normalized,
        cache=new_cache,
        hits=int(hit.sum()),
        misses=int(missed.size),
    )


def _encode_chunk(schema: LinkageSchema, keys: SubkeySource, normalized: pa.Table) -> pa.Table:
    """:func:`encode_normalized` with the table last: picklable for worker pools."""
    return encode_normalized(normalized, schema, keys)


def encode_normalized_chunks(
    normalized: pa.Table,
    schema: LinkageSchema,
    keys: SubkeySource,
    *,
    workers: int | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: StageProgress = no_progress,
) -> Iterator[pa.Table]:
    """The keyed columns of a normalised table, chunk by chunk in row order.

    With :func:`normalize_reusing`'s table this is exactly
    :func:`linkage.encode.encode_side_chunks` of the raw table: a drop-in for
    the token chunks a sender streams into its payload. ``progress`` is told
    ``("tokenizing", rows done, rows)`` after each chunk.

    Raises:
        ValueError: ``workers`` or ``chunk_rows`` is below 1.
    """
    n = default_workers() if workers is None else workers
    func = functools.partial(_encode_chunk, schema, keys)
    total = normalized.num_rows
    done = 0
    progress("tokenizing", done, total)
    for chunk in imap_chunks(func, normalized, chunk_rows=chunk_rows, workers=n):
        done += chunk.num_rows
        progress("tokenizing", done, total)
        yield chunk
