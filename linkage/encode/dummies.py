"""Dummy records: fake payload rows that blur every token's row count.

The matcher sees, for each deterministic column (``mk_*``, ``mk_f_*``,
``bk_*``, and each CLK, which is deterministic too), how many rows share
each record's token. A keyed hash does not change those counts, and anyone
holding a public voter file can compute the same counts on it, so a
record's vector of counts is a fingerprint (issue 12: 57% of the demo's
campaign records re-identified without a key). Dummy rows add non-negative
noise to those counts, in the manner of He, Machanavajjhala, Flynn and
Srivastava, "Composing Differential Privacy and Secure Computation: A Case
Study on Scaling Private Record Linkage" (CCS 2017), whose DP blocking pads
every block with dummy records.

**Mechanism.** A dummy is a made-up *record*, not a row of made-up tokens:
each *field group* of the schema is copied from an independently chosen
real record, and the result goes through the same encoder as real records
(:func:`linkage.encode.encode_side`). Tokens derived from one group
(an address, a given name) therefore gain dummies, and tokens spanning
groups (name + address) gain new, mostly unique, values. Because every
token of a dummy is computed from its fields, every functional dependency
among a real row's tokens holds for a dummy too (``mk_addr`` determines
``bk_house_zip``; ``mk_phone`` and ``bk_phone`` are one class): a dummy
built from independently copied *tokens* would break them, and a matcher
could strip such dummies and recover the exact counts.

The source of each group is a uniformly chosen *distinct value* of that
group, not a uniformly chosen row, so the noise a value receives does not
grow with its count: with ``n`` dummies and ``D`` distinct values it is
``Binomial(n, 1/D)`` per value, about ``Poisson(n / D)``. Groups:

* campaign (side ``a``, the "many" side of voters to households, in a
  many-to-one schema): the
  *household* (every place field, with phone and e-mail) is one group, so a
  dummy looks like a new member of a real household; every other field
  (given name, surname, birth date, identifier) is a group of its own.
  A campaign dummy can link, like a real housemate, to its household's
  subscriber; that link displaces nothing (each campaign record is resolved
  on its own, and its household vote agrees with its housemates'), and the
  campaign never sends a segment row for a dummy rid, so the link is
  dropped where segments and links meet.
* provider (side ``b``, households): every raw column is its own group, and
  a dummy's exact-stage keys (``mk_*``) are fresh random tokens that agree
  with nothing. A provider dummy therefore never scores in the exact stage
  and cannot tie with, or beat, a real household there; in the fuzzy stage
  it shares at most about one feature with any real record.

**Privacy, honestly.** Per-token count privacy in the (epsilon, delta) sense
needs, for every token, noise whose mean grows as ``log(1/delta)/epsilon``
(a shifted, truncated geometric with shift ``t`` gives delta near
``exp(-epsilon t)``), and a token column holds up to one token per record:
meaningful parameters cost many dummies per *record*. Under the cap of
:data:`MAX_DUMMY_RATE` (at most one dummy per real row) the per-value noise is
about ``Poisson(rate * rows / distinct values)``, for which delta is
``exp(-mean)``, far from meaningful: this module gives **no formal DP
guarantee**. What it is worth is measured: the count-signature attack
(:func:`linkage.audit.count_signature_attack`) against payloads with and
without dummies (``tests/encode/test_dummies.py``, and the audit).

**Randomness.** Sampling and ids use the operating system's CSPRNG
(``os.urandom``) unless a seeded :class:`numpy.random.Generator` is passed
(tests). The sender keeps which ids are dummies (they are exactly the ids
absent from its own id map); they are never sent.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from linkage.encode.matchkeys import TOKEN_BYTES
from linkage.encode.parallel import encode_side_parallel
from linkage.encode.schema import LinkageSchema, Side
from linkage.errors import InputError
from linkage.types import SubkeySource

__all__ = [
    "DEFAULT_DUMMY_RATE",
    "MAX_DUMMY_RATE",
    "DummyRows",
    "dummy_count",
    "dummy_records",
    "dummy_rows",
    "field_groups",
]

DEFAULT_DUMMY_RATE: Final = 0.5
"""Dummies per real row unless told otherwise (payload rows grow by half)."""

MAX_DUMMY_RATE: Final = 1.0
"""The cap on dummies per real row (issue 12: a payload grows by at most 1x)."""

PLACE_TYPES: Final = frozenset(
    {
        "street_address",
        "house_number",
        "unit",
        "city",
        "state",
        "postcode",
        "text",
        "phone",
        "email",
    }
)
"""Field types copied together, as one household, into a campaign dummy."""

_NULL: Final = "\x00"
_SEP: Final = "\x1f"
_HP_HEX: Final = 32
"""Hex digits of a household pseudonym (``linkage.protocol.pseudonymize``)."""


def dummy_count(rows: int, rate: float = DEFAULT_DUMMY_RATE) -> int:
    """How many dummies ``rows`` real rows get at ``rate``.

    Raises:
        InputError: ``rate`` is outside ``[0, MAX_DUMMY_RATE]``.
    """
    if not 0.0 <= rate <= MAX_DUMMY_RATE:
        raise InputError(f"dummy rate must be between 0 and {MAX_DUMMY_RATE}")
    return round(rows * rate)


def field_groups(schema: LinkageSchema, side: Side) -> tuple[tuple[str, ...], ...]:
    """The raw columns of ``side``, grouped as a dummy copies them (module docstring).

    The household group exists only for a many-to-one schema; under
    one-to-one resolution every column is its own group on both sides.

    Returns:
        One tuple of raw column names per group, in field order; each column once.
    """
    groups: list[tuple[str, ...]] = []
    household: list[str] = []
    seen: set[str] = set()
    # A shared household is harmless only where many records may link to one
    # household; under one-to-one resolution a dummy that copied a real
    # record's address would take that record's partner from it.
    many_to_one = schema.resolution.mode == "many_to_one"
    for spec in schema.fields:
        column = spec.column(side)
        if column is None or column in seen:
            continue
        seen.add(column)
        if side == "a" and many_to_one and spec.type in PLACE_TYPES:
            household.append(column)
        else:
            groups.append((column,))
    return (tuple(household), *groups) if household else tuple(groups)


def _uniform(n: int, high: int, rng: np.random.Generator | None) -> npt.NDArray[np.int64]:
    """``n`` integers uniform in ``[0, high)``: seeded, or from the OS's CSPRNG."""
    if rng is not None:
        return rng.integers(0, high, n, dtype=np.int64)
    raw = np.frombuffer(os.urandom(8 * n), dtype=np.uint64)
    # Modulo bias is at most high / 2**64: negligible for any table.
    return (raw % np.uint64(high)).astype(np.int64)


def _random_bytes(n: int, rng: np.random.Generator | None) -> bytes:
    return rng.bytes(n) if rng is not None else os.urandom(n)


def _distinct_rows(table: pa.Table, columns: Sequence[str]) -> npt.NDArray[np.int64]:
    """One row per distinct combination of ``columns`` (its first), nulls included."""
    parts = []
    for name in columns:
        text = table.column(name).combine_chunks()
        if not pa.types.is_string(text.type):
            text = pc.cast(text, pa.string())
        parts.append(pc.fill_null(text, _NULL))
    joined = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, _SEP)
    codes = pc.dictionary_encode(joined).indices.to_numpy(zero_copy_only=False)
    _, first = np.unique(codes, return_index=True)
    return np.asarray(first, dtype=np.int64)


def dummy_records(
    table: pa.Table,
    schema: LinkageSchema,
    side: Side,
    n: int,
    *,
    rng: np.random.Generator | None = None,
) -> pa.Table:
    """``n`` made-up records: each field group copied from a random distinct real value.

    The sharp step under :func:`dummy_rows`: its output is *plaintext* built
    from real records. It must never leave the party; only its keyed
    encoding may.

    Args:
        table: The side's real records (the schema's raw columns for ``side``).
        schema: The linkage schema.
        side: ``"a"`` (campaign) or ``"b"`` (provider).
        n: Dummies to make.
        rng: Seeded generator for tests; None draws from ``os.urandom``.

    Returns:
        ``n`` rows with ``table``'s schema: the schema's raw columns filled,
        every other column null.

    Raises:
        InputError: ``table`` is empty while ``n > 0``.
    """
    if n > 0 and table.num_rows == 0:
        raise InputError("no real records to build dummy records from")
    arrays: dict[str, pa.Array] = {}
    for group in field_groups(schema, side):
        present = [c for c in group if c in table.column_names]
        if not present:
            continue
        distinct = _distinct_rows(table, present)
        source = pa.array(distinct[_uniform(n, distinct.size, rng)])
        for name in present:
            arrays[name] = table.column(name).take(source).combine_chunks()
    columns = [arrays.get(f.name, pa.nulls(n, f.type)) for f in table.schema]
    return pa.Table.from_arrays(columns, schema=table.schema)


def _random_tokens(column: pa.Array, rng: np.random.Generator | None) -> pa.Array:
    """Fresh random tokens where ``column`` is not null (null stays null)."""
    width = column.type.byte_width if pa.types.is_fixed_size_binary(column.type) else TOKEN_BYTES
    raw = _random_bytes(width * len(column), rng)
    tokens = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(width), len(column), [None, pa.py_buffer(raw)]
    )
    return pc.if_else(pc.is_null(column), pa.nulls(len(column), column.type), tokens)


def _ids(name: str, n: int, rng: np.random.Generator | None) -> pa.Array:
    """``n`` ids in the format of the real ``name`` column (``rid`` / ``hp``)."""
    if name == "hp":
        width = _HP_HEX // 2
    elif name == "rid":
        width = 12  # linkage.protocol.random_refs: "r" + 96 random bits in hex
    else:
        raise InputError("no dummy id format for this column", column=name)
    raw = np.frombuffer(_random_bytes(width * n, rng), dtype=np.uint8).reshape(n, width)
    prefix = "r" if name == "rid" else ""
    return pa.array([prefix + row.tobytes().hex() for row in raw], pa.string())


@dataclass(frozen=True)
class DummyRows:
    """Dummy payload rows and their ids.

    Attributes:
        payload: Rows shaped like the real payload (``columns``' columns, then
            the keyed token columns); safe to send.
        ids: The dummies' ids (``rid`` / ``hp``), for the sender's private state.
    """

    payload: pa.Table
    ids: pa.Array


def dummy_rows(
    table: pa.Table,
    columns: pa.Table,
    schema: LinkageSchema,
    side: Side,
    keys: SubkeySource,
    *,
    rate: float = DEFAULT_DUMMY_RATE,
    rng: np.random.Generator | None = None,
    workers: int | None = 1,
    make_ids: Callable[[int], Sequence[str]] | None = None,
) -> DummyRows:
    """The safe recipe: keyed dummy rows to append to one side's payload.

    Args:
        table: The side's real records.
        columns: The real rows' up-front columns; its first column is the id
            (``rid`` or ``hp``). A dummy gets a fresh random id in the same
            format, an empty list in list columns and null elsewhere.
        schema: The linkage schema both sides use.
        side: ``"a"`` (campaign) or ``"b"`` (provider).
        keys: The exchange's linkage key.
        rate: Dummies per real row, at most :data:`MAX_DUMMY_RATE`.
        rng: Seeded generator for tests; None draws from ``os.urandom``.
        workers: Encoding processes (None: one per CPU).
        make_ids: Makes ``n`` dummy ids in the real format (the provider's
            are tagged with its secret, :func:`linkage.protocol.dummy_pseudonyms`,
            so its measurement side can drop them); default: random ids.

    Returns:
        ``round(rate * rows)`` rows: on side ``b``, and on both sides of a
        one-to-one schema, every exact-stage key (``mk_*``) is a fresh random
        token, so such a dummy never links in the exact stage.

    Raises:
        InputError: Bad rate, unknown id column, or real ids that collide with
            a dummy's (a broken randomness source).
    """
    n = dummy_count(table.num_rows, rate)
    records = dummy_records(table, schema, side, n, rng=rng)
    tokens = encode_side_parallel(records, schema, side, keys, workers=workers)
    # Provider dummies, and any dummy under one-to-one resolution, never link
    # in the exact stage: a tie there could take a real record's partner.
    if side == "b" or schema.resolution.mode == "one_to_one":
        for name in tokens.column_names:
            if name.startswith("mk_") and not name.startswith("mk_f_"):
                index = tokens.column_names.index(name)
                fresh = _random_tokens(tokens.column(name).combine_chunks(), rng)
                tokens = tokens.set_column(index, name, fresh)
    id_name = columns.column_names[0]
    ids = _ids(id_name, n, rng) if make_ids is None else pa.array(list(make_ids(n)), pa.string())
    if pc.any(pc.is_in(ids, value_set=columns.column(id_name).combine_chunks())).as_py():
        raise InputError("a dummy id collides with a real one: the randomness source is broken")
    known: list[pa.Array] = [ids.cast(columns.schema.field(id_name).type)]
    for field in columns.schema:
        if field.name == id_name:
            continue
        if pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
            known.append(pa.array([[] for _ in range(n)], field.type))
        else:
            known.append(pa.nulls(n, field.type))
    payload = pa.Table.from_arrays(known, schema=columns.schema)
    for name in tokens.column_names:
        payload = payload.append_column(name, tokens.column(name))
    return DummyRows(payload=payload, ids=ids)
