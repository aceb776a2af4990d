"""Segment membership: compiled rules applied to a voter table, then coded per exchange.

:func:`evaluate` runs each compiled rule of a :class:`SegmentSet` over the
voter table with ``pyarrow.compute`` and SQL null semantics (a voter whose
rule is unknown because of a missing value is *not* in the segment). Before
the voter-to-segment assignments leave the campaign, :func:`assign_codes`
replaces each segment name by a random per-exchange code and
:func:`membership_lists` builds the ``segments`` column of the ``segments``
payload (campaign -> provider; the matcher never sees a code), so the
provider sees codes, never the campaign's segment names or their order in
the file.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from linkage.encode.segments import (
    Always,
    ColumnRef,
    Condition,
    ConstSet,
    Logical,
    Negation,
    Scalar,
    SegmentSet,
    value_kind,
)
from linkage.errors import InputError, StateError

__all__ = ["assign_codes", "evaluate", "membership_lists"]


def evaluate(segments: SegmentSet, voters: pa.Table) -> dict[str, npt.NDArray[np.bool_]]:
    """Which voters are in which segment.

    Vectorised with ``pyarrow.compute``; a voter whose rule is unknown because
    of a missing value is not in the segment.

    Args:
        segments: Compiled segments.
        voters: Voter table holding every column the rules read.

    Returns:
        Segment name -> boolean mask over the voter rows, in file order.

    Raises:
        InputError: A column a rule reads is missing or has the wrong kind.
    """
    declared = dict(segments.column_kinds)
    arrays: dict[str, Any] = {}
    for name in segments.columns:
        if name not in voters.column_names:
            raise InputError(
                "column used by the segment rules is missing from the voter table",
                column=name,
            )
        column = voters.column(name)
        kind = value_kind(column.type)
        if kind != declared.get(name):
            raise InputError(
                f"column type does not match the segment rules (expected {declared.get(name)})",
                column=name,
            )
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if pa.types.is_decimal(column.type):
            column = column.cast(pa.float64())
        arrays[name] = column

    rows = voters.num_rows
    masks: dict[str, npt.NDArray[np.bool_]] = {}
    for segment in segments:
        result = _evaluate(segment.condition, arrays, rows)
        filled = pc.fill_null(result, False)
        if isinstance(filled, pa.ChunkedArray):
            filled = filled.combine_chunks()
        masks[segment.name] = np.asarray(filled.to_numpy(zero_copy_only=False), dtype=np.bool_)
    return masks


def _evaluate(condition: Condition, arrays: Mapping[str, Any], rows: int) -> Any:
    if isinstance(condition, Always):
        return pa.array(np.full(rows, condition.value, dtype=np.bool_))
    if isinstance(condition, Negation):
        return pc.invert(_evaluate(condition.operand, arrays, rows))
    if isinstance(condition, Logical):
        combine = pc.and_kleene if condition.op == "and" else pc.or_kleene
        result = _evaluate(condition.operands[0], arrays, rows)
        for operand in condition.operands[1:]:
            result = combine(result, _evaluate(operand, arrays, rows))
        return result
    column = arrays[condition.column]
    other = condition.other
    if isinstance(other, ConstSet):
        return _is_in(column, other.values, negate=condition.op == "not in")
    right = arrays[other.name] if isinstance(other, ColumnRef) else other.value
    compare = {
        "==": pc.equal,
        "!=": pc.not_equal,
        "<": pc.less,
        "<=": pc.less_equal,
        ">": pc.greater,
        ">=": pc.greater_equal,
    }[condition.op]
    return compare(column, right)


def _is_in(column: Any, values: tuple[Scalar, ...], *, negate: bool) -> Any:
    if pa.types.is_integer(column.type) and all(isinstance(v, int) for v in values):
        column, value_set = column.cast(pa.int64()), pa.array(values, pa.int64())
    elif pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        column, value_set = column.cast(pa.float64()), pa.array(values, pa.float64())
    else:
        value_set = pa.array(values, column.type)
    found = pc.is_in(column, value_set=value_set, skip_nulls=True)
    if negate:
        found = pc.invert(found)
    # is_in answers false for a null; keep it unknown so `not in` excludes it too.
    return pc.if_else(pc.is_null(column), pa.scalar(None, pa.bool_()), found)


def assign_codes(segments: SegmentSet, rng: random.Random | None = None) -> dict[str, str]:
    """Random per-exchange codes that stand for the segment names outside the campaign.

    A code is ``"s"`` followed by 16 hex digits (64 random bits). Codes are
    drawn in shuffled segment order, so neither the codes nor the order of the
    returned mapping follow the file.

    Args:
        segments: Compiled segments.
        rng: Source of randomness; defaults to the OS CSPRNG
            (:class:`secrets.SystemRandom`). Pass a seeded ``random.Random``
            only in tests: its codes are predictable.

    Returns:
        Segment name -> code, in shuffled order.
    """
    source = rng if rng is not None else secrets.SystemRandom()
    names = list(segments.names)
    source.shuffle(names)
    codes: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        code = f"s{source.getrandbits(64):016x}"
        while code in taken:
            code = f"s{source.getrandbits(64):016x}"
        taken.add(code)
        codes[name] = code
    return codes


def membership_lists(
    masks: Mapping[str, npt.NDArray[np.bool_]], codes: Mapping[str, str]
) -> pa.Array:
    """The ``segments`` column of the ``segments`` payload (campaign -> provider).

    Each voter's list holds the codes of the segments they belong to, sorted by
    code so the position in the list says nothing about the segment.

    Args:
        masks: Segment name -> boolean mask over voter rows (from :func:`evaluate`).
        codes: Segment name -> code (from :func:`assign_codes`).

    Returns:
        A ``list<string>`` array with one entry per voter row.

    Raises:
        StateError: ``masks`` and ``codes`` name different segments.
        ValueError: ``masks`` is empty or the masks differ in length.
    """
    if set(masks) != set(codes):
        raise StateError(
            "segment codes do not cover exactly the evaluated segments",
            hint="assign codes for the same segment set that was evaluated",
        )
    if not masks:
        raise ValueError("membership_lists needs at least one segment mask")
    ordered = sorted(masks, key=lambda name: codes[name])
    lengths = {len(masks[name]) for name in ordered}
    if len(lengths) != 1:
        raise ValueError("segment masks differ in length")
    matrix = np.column_stack([np.asarray(masks[name], dtype=np.bool_) for name in ordered])
    _, positions = np.nonzero(matrix)  # row-major: each voter's codes in code order
    offsets = np.zeros(matrix.shape[0] + 1, dtype=np.int32)
    np.cumsum(matrix.sum(axis=1), out=offsets[1:])
    values = pa.array([codes[name] for name in ordered], pa.string()).take(
        pa.array(positions.astype(np.int64))
    )
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)
