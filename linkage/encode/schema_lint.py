"""Schema lint: one party checks a linkage schema against its own file.

No party ever holds both files, so every check here reads one side only and
estimates what the other side will do from this side's value counts (the
other file is assumed to look alike). Findings name a column, a comparison or
a pass and give shares and counts, never a value: the output is meant for a
terminal and a ticket.

Checks:

* ``missing-column`` (error): the schema names a column the file lacks.
* ``mostly-null`` (warning): a normalised column is null in more than half
  the rows (absent, blank or unparseable).
* ``low-entropy-filter`` (warning): a ``dice`` comparison whose filter is a
  deterministic function of values most rows share with many others (a
  filter of one name, a category, a place): its bit patterns' frequencies
  are the values' frequencies, which frequency alignment reverses
  (``docs/THREAT_MODEL.md`` §2.2).
* ``huge-block`` (warning): a blocking pass whose blocks, from this side's
  counts, exceed ``max_block`` pairs for many rows (those rows lose the pass)
  or whose expected pairs grow far beyond the row count; the message gives
  the ``max_block`` that would keep 99% of rows.
* ``shifted-column`` (warning): a surname column whose values are mostly
  seen as given names in this file (or the reverse): names shifted a column.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

import pyarrow as pa

from linkage.encode.blocking_keys import blocking_values
from linkage.encode.fields import normalize_side
from linkage.encode.normalize import normalize_name, text_column
from linkage.encode.schema import LinkageSchema, Side

__all__ = ["Finding", "FindingLevel", "lint_schema"]

FindingLevel = Literal["warning", "error"]

MOSTLY_NULL: Final = 0.5
"""Null share above which a normalised column is reported."""
CROWD_SIZE: Final = 5
"""A filter pattern shared by at least this many rows is a crowd, not a person."""
CROWDED_SHARE: Final = 0.5
"""Share of rows in crowds above which a filter is low-entropy."""
DROPPED_SHARE: Final = 0.05
"""Share of rows in over-``max_block`` blocks above which a pass is reported."""
PAIRS_PER_ROW: Final = 1_000
"""Expected pairs per row above which a pass is reported as huge."""
SHIFTED_SHARE: Final = 0.1
"""Share of a name column's rows that look like the other name column's values."""
_MIN_ROWS: Final = 20


@dataclass(frozen=True, slots=True)
class Finding:
    """One lint result.

    Attributes:
        level: ``"warning"`` (linkage runs, but worse or less private) or ``"error"``.
        check: The check's name (``mostly-null``, ``huge-block`` ...).
        subject: What it is about: a column, ``compare.<name>`` or a pass name.
        message: What was found and what to change; never a data value.
    """

    level: FindingLevel
    check: str
    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.check}: {self.subject}: {self.message}"


def _missing(schema: LinkageSchema, table: pa.Table, side: Side) -> list[Finding]:
    return [
        Finding(
            "error",
            "missing-column",
            column,
            f"the schema reads this column on side {side} but the file has no such column",
        )
        for column in schema.side_columns(side)
        if column not in table.column_names
    ]


def _mostly_null(schema: LinkageSchema, normalized: pa.Table, side: Side) -> list[Finding]:
    findings = []
    rows = normalized.num_rows
    for field in schema.fields:
        if field.column(side) is None:
            continue
        for column in field.outputs:
            if field.type == "unit" or (field.type == "street_address" and column == field.unit):
                continue  # most addresses have no unit
            share = normalized.column(column).null_count / rows
            if share > MOSTLY_NULL:
                findings.append(
                    Finding(
                        "warning",
                        "mostly-null",
                        column,
                        f"{share:.0%} of rows are null after normalisation (raw column "
                        f"'{field.column(side)}', type {field.type}); check the column and "
                        "type, or expect this field to add little",
                    )
                )
    return findings


def _crowded_share(keys: Iterable[object]) -> tuple[float, int]:
    counts = Counter(k for k in keys if k is not None)
    total = sum(counts.values())
    if total == 0:
        return 0.0, 0
    crowded = sum(c for c in counts.values() if c >= CROWD_SIZE)
    return crowded / total, total


def _low_entropy(schema: LinkageSchema, normalized: pa.Table) -> list[Finding]:
    findings = []
    for spec in schema.compare:
        if spec.method != "dice":
            continue
        members = [normalized.column(e.name).to_pylist() for e in spec.encodings]
        patterns = (
            None if all(v is None for v in row) else row for row in zip(*members, strict=True)
        )
        share, total = _crowded_share(patterns)
        if total >= _MIN_ROWS and share > CROWDED_SHARE:
            findings.append(
                Finding(
                    "warning",
                    "low-entropy-filter",
                    f"compare.{spec.column}",
                    f"{share:.0%} of rows share their filter with {CROWD_SIZE - 1}+ others, so "
                    "frequency alignment can decode it; add a second, lightly weighted column "
                    "to the filter (e.g. a postcode or birth date, q = 1, bits = 2)",
                )
            )
    return findings


def _huge_blocks(schema: LinkageSchema, normalized: pa.Table) -> list[Finding]:
    findings = []
    max_block = schema.resolution.max_block
    rows = normalized.num_rows
    for block in schema.blocking:
        counts = Counter(v for v in blocking_values(normalized, block) if v is not None)
        if not counts:
            continue
        sizes = sorted(counts.values())
        dropped = sum(c for c in sizes if c * c > max_block)
        pairs = sum(c * c for c in sizes if c * c <= max_block)
        # The block size below which 99% of keyed rows sit, squared: data-driven max_block.
        covered, keep = 0, sizes[-1]
        for size in sizes:
            covered += size
            if covered >= 0.99 * sum(sizes):
                keep = size
                break
        advice = f"max_block >= {keep * keep} keeps 99% of rows in this pass"
        if dropped / rows > DROPPED_SHARE:
            findings.append(
                Finding(
                    "warning",
                    "huge-block",
                    block.name,
                    f"{dropped / rows:.0%} of rows sit in blocks larger than max_block "
                    f"({max_block} pairs) and lose this pass; the largest block is about "
                    f"{sizes[-1] * sizes[-1]} pairs; {advice}, or add a part to the pass",
                )
            )
        elif pairs > PAIRS_PER_ROW * rows:
            findings.append(
                Finding(
                    "warning",
                    "huge-block",
                    block.name,
                    f"about {pairs} candidate pairs expected ({pairs // rows} per row); "
                    "add a part to the pass or lower max_block",
                )
            )
    return findings


def _shifted(schema: LinkageSchema, table: pa.Table, side: Side) -> list[Finding]:
    given = next((f for f in schema.fields if f.type == "given_name"), None)
    surname = next((f for f in schema.fields if f.type == "surname"), None)
    if given is None or surname is None:
        return []
    raw = {
        f.name: [normalize_name(v) for v in text_column(table, f.column(side)).to_pylist()]
        for f in (given, surname)
    }
    counts = {name: Counter(v for v in values if v is not None) for name, values in raw.items()}
    findings = []
    for this, other in ((surname, given), (given, surname)):
        own, theirs = counts[this.name], counts[other.name]
        total = sum(own.values())
        if total < _MIN_ROWS:
            continue
        # A value seen far more often in the other column belongs there.
        foreign = sum(c for v, c in own.items() if theirs.get(v, 0) > 2 * c)
        if foreign / total > SHIFTED_SHARE:
            findings.append(
                Finding(
                    "warning",
                    "shifted-column",
                    this.name,
                    f"{foreign / total:.0%} of its values are mostly seen in '{other.name}': "
                    "names may be shifted or swapped between the columns; fix the columns or "
                    "compare both names in one filter",
                )
            )
    return findings


def lint_schema(schema: LinkageSchema, table: pa.Table, side: Side) -> list[Finding]:
    """Every finding for one side's file, errors first.

    Args:
        schema: The compiled linkage schema.
        table: This party's raw records (only this side's).
        side: ``"a"`` or ``"b"``: which of the schema's columns this file holds.

    Returns:
        The findings; value-free. Missing columns stop the data checks.

    Raises:
        InputError: A column the schema names cannot be read as text.
    """
    missing = _missing(schema, table, side)
    if missing or table.num_rows == 0:
        return missing
    normalized = normalize_side(table, schema, side)
    return [
        *_mostly_null(schema, normalized, side),
        *_low_entropy(schema, normalized),
        *_huge_blocks(schema, normalized),
        *_shifted(schema, table, side),
    ]
