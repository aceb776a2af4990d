"""Input sense for viewing logs: the public period, and events that cannot be real.

A viewing log is the provider's raw input, and a few bad rows did real harm
before this module existed: negative durations vanished without a word,
overlapping events on one channel inflated that channel's AQH, and one
ten-year event stretched a data-derived reporting period until most segments
fell below the minimum universe. So the period is now public (a ``--period``
the provider states, parsed by :func:`parse_period`), and
:func:`sanitize_viewing` drops each kind of impossible event, merges
same-channel overlaps into their union, and counts what it did in a
:class:`ViewingCheck` (counts only, never a value).
:func:`sanitize_viewing_file` does the same to a Parquet log in bounded
memory and writes the surviving events to a Parquet file: a state's week of
tuning (tens of millions of events) never fits in memory as one table.

What is deliberately *not* done here: events of one household on different
channels at the same time are left alone (the differential-privacy step
clips a household to one channel at a time), and events that only partly
cover the period are kept whole (crediting clips them to the period).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from linkage.engine import Engine, SqlDialect
from linkage.errors import InputError
from linkage.io import PRIVATE_MODE, ParquetSink, private_scratch
from linkage.measure.aggregation import check_columns
from linkage.measure.calendar import DAY_SECONDS, day_index

__all__ = [
    "MAX_EVENT_HOURS",
    "MAX_PERIOD_DAYS",
    "SANITIZE_PARTITION_ROWS",
    "VIEWING_COLUMNS",
    "ViewingCheck",
    "parse_period",
    "sanitize_viewing",
    "sanitize_viewing_file",
]

MAX_EVENT_HOURS: Final = 24
"""Longest tuning event kept, in hours: a public constant, never taken from the data.

A tuning event is one unbroken stretch on one channel. Set-top boxes end an
event at a channel change or power-down, and audience panels commonly stop
crediting a set left on with no interaction after a few hours, so a real
event is minutes to hours long. A full day is a generous bound that still
keeps a box left on one news channel all day, while a longer event (the
ten-year one that once stretched the reporting period) is a logging fault:
crediting it would put one household in every quarter-hour of the period.
Being public and fixed, the bound reveals nothing about any household.
"""

MAX_PERIOD_DAYS: Final = 366
"""Longest reporting period :func:`parse_period` accepts: one (leap) year."""

VIEWING_COLUMNS: Final = ("household_id", "channel", "start", "end")
"""The columns of a viewing log, in output order."""

SANITIZE_PARTITION_ROWS: Final = 1_000_000
"""Input rows per household partition in :func:`sanitize_viewing_file`.

About 40 MB of merged events per partition. Measured on a 9.8M-event log
(1M voters, 7 days) with DuckDB's default 1 GB limit: peak RSS 0.55 GiB at
this size against 1.2 GiB for the whole log in memory, and 1.0 GiB with
4M-row partitions, for the same time.
"""

# Rows read at a time; larger batches cost memory for no speed.
_BATCH_ROWS: Final = 250_000

_PERIOD_RE = re.compile(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})")
_PERIOD_HINT = "give the period as FIRST..LAST, inclusive ISO dates, e.g. 2026-10-05..2026-10-11"

# Rejection kinds in the order a row is classified: a row counts under the first that applies.
_NULL, _NON_POSITIVE, _TOO_LONG, _OUTSIDE = 1, 2, 3, 4
_KIND_NAMES: Final = {
    0: "valid",
    _NULL: "null_fields",
    _NON_POSITIVE: "non_positive",
    _TOO_LONG: "too_long",
    _OUTSIDE: "outside_period",
}


def parse_period(text: str) -> tuple[date, ...]:
    """Every date of an inclusive ``YYYY-MM-DD..YYYY-MM-DD`` period, in order.

    Args:
        text: The period as the provider states it (surrounding spaces ignored).

    Returns:
        The first date, the last date and every date between them.

    Raises:
        InputError: The text is not of that form, a date does not exist, the
            last date is before the first, or the period is longer than
            :data:`MAX_PERIOD_DAYS`.
    """
    found = _PERIOD_RE.fullmatch(text.strip())
    if found is None:
        raise InputError("the reporting period is not of the form FIRST..LAST", hint=_PERIOD_HINT)
    ends: list[date] = []
    for which, iso in zip(("first", "last"), found.groups(), strict=True):
        try:
            ends.append(date.fromisoformat(iso))
        except ValueError:
            raise InputError(
                f"the {which} date of the reporting period is not a calendar date",
                hint=_PERIOD_HINT,
            ) from None
    first, last = ends
    if last < first:
        raise InputError(
            "the reporting period ends before it starts", hint="put the earlier date first"
        )
    days = (last - first).days + 1
    if days > MAX_PERIOD_DAYS:
        raise InputError(
            f"the reporting period is {days} days long; at most {MAX_PERIOD_DAYS} are allowed",
            hint="report on a shorter period, e.g. one week",
        )
    return tuple(first + timedelta(days=i) for i in range(days))


@dataclass(frozen=True)
class ViewingCheck:
    """What :func:`sanitize_viewing` did to a viewing log: counts only, never a value.

    Each input row is counted once, under the first kind that applies, so
    ``rows_in`` is the sum of every other field.

    Attributes:
        rows_in: Rows in the input.
        rows_kept: Events in the output (after merging).
        null_fields: Rows with a null household, channel, start or end.
        non_positive: Rows whose end is not after their start (in whole seconds).
        too_long: Rows longer than the maximum event length.
        outside_period: Rows that do not overlap the reporting period at all.
        overlaps_merged: Valid rows absorbed into an overlapping event of the
            same household on the same channel.
    """

    rows_in: int
    rows_kept: int
    non_positive: int
    too_long: int
    outside_period: int
    null_fields: int
    overlaps_merged: int

    @property
    def rows_rejected(self) -> int:
        """Rows dropped as impossible or out of scope (merged rows not included)."""
        return self.null_fields + self.non_positive + self.too_long + self.outside_period

    def summary(self) -> str:
        """One line of counts for the terminal."""
        return (
            f"viewing log: {self.rows_in:,} rows in, {self.rows_kept:,} events kept; "
            f"rejected {self.null_fields:,} with a null field, {self.non_positive:,} ending "
            f"at or before their start, {self.too_long:,} too long, "
            f"{self.outside_period:,} outside the period; "
            f"{self.overlaps_merged:,} merged into an overlapping event on the same channel"
        )

    def as_dict(self) -> dict[str, int]:
        """The counts by field name (for a JSON log or a test)."""
        return asdict(self)


def sanitize_viewing(
    viewing: pa.Table | Path,
    period: Sequence[date],
    engine: Engine,
    *,
    max_event_hours: int = MAX_EVENT_HOURS,
) -> tuple[pa.Table, ViewingCheck]:
    """Drop impossible events from a viewing log and merge same-channel overlaps.

    A row is rejected when a field is null, when its end is not after its
    start, when it is longer than ``max_event_hours``, or when it does not
    overlap the period (midnight before its first date to midnight after its
    last). Of the rest, events of one household on one channel that overlap
    (two boxes on one programme, a duplicated log line) become one event
    spanning their union; events that merely touch stay apart. Everything
    runs as SQL on ``engine``, so a Parquet path is scanned, not loaded.

    Args:
        viewing: Tuning events (``household_id``, ``channel``, ``start``,
            ``end``; naive timestamps), as a table or a Parquet path.
        period: The reporting period's dates (e.g. from :func:`parse_period`).
        engine: Runs the SQL.
        max_event_hours: Longest event kept; keep the public default unless
            the log is known to split events differently.

    Returns:
        The surviving events (the four columns, their input types, ordered
        by household, channel and start) and the counts of what was done.

    Raises:
        InputError: A column is missing or a time column is not a timestamp,
            the period is empty, or no event is left (with the counts).
        ValueError: ``max_event_hours`` is not positive.
    """
    if max_event_hours < 1:
        raise ValueError("max_event_hours must be at least 1")
    if not period:
        raise InputError("the reporting period has no dates", hint=_PERIOD_HINT)
    file = str(viewing) if isinstance(viewing, Path) else None
    schema = _viewing_schema(viewing, engine, file)
    lo_s = day_index(min(period)) * DAY_SECONDS
    hi_s = (day_index(max(period)) + 1) * DAY_SECONDS
    kind = _kind_sql(engine.dialect, lo_s, hi_s, max_event_hours * 3600)

    counts = engine.query(_counts_sql(kind), {"viewing": viewing}).to_pylist()[0]
    kept = engine.query(_merge_sql(engine.dialect, kind), {"viewing": viewing})
    kept = kept.rename_columns(list(VIEWING_COLUMNS)).cast(schema)
    check = _check_of({k: int(v or 0) for k, v in counts.items()}, kept.num_rows, file)
    return kept, check


def sanitize_viewing_file(
    viewing: Path,
    target: Path,
    period: Sequence[date],
    engine: Engine,
    *,
    max_event_hours: int = MAX_EVENT_HOURS,
    partition_rows: int = SANITIZE_PARTITION_ROWS,
) -> ViewingCheck:
    """:func:`sanitize_viewing` for a Parquet log, in bounded memory, into a Parquet file.

    The same rejections, the same merging and the same counts as
    :func:`sanitize_viewing`, but no step holds more than one record batch or
    one household partition. Overlap merging needs each household's rows
    together, so one pass reads the log batch by batch, classifies every row
    on ``engine``, counts the kinds and scatters the valid rows into hash
    partitions of households (Parquet files in a private scratch directory
    beside ``target``); each partition is then merged on ``engine`` and
    appended to ``target``, which is written atomically (0600: it holds the
    provider's household ids).

    Args:
        viewing: Tuning events (``household_id``, ``channel``, ``start``,
            ``end``; naive timestamps) as a Parquet file.
        target: Where the surviving events are written (the four columns,
            their input types). Events are ordered by household, channel and
            start within each partition; partitions follow one another, so the
            file as a whole is grouped by household but not sorted.
        period: The reporting period's dates (e.g. from :func:`parse_period`).
        engine: Runs the SQL.
        max_event_hours: Longest event kept, as in :func:`sanitize_viewing`.
        partition_rows: Input rows per household partition, on average: the
            bound on what one merge holds.

    Returns:
        The counts of what was done (equal to :func:`sanitize_viewing`'s).

    Raises:
        InputError: As :func:`sanitize_viewing`; ``target`` is not written
            when no event is left.
        ValueError: ``max_event_hours`` or ``partition_rows`` is not positive.
    """
    if max_event_hours < 1:
        raise ValueError("max_event_hours must be at least 1")
    if partition_rows < 1:
        raise ValueError("partition_rows must be at least 1")
    if not period:
        raise InputError("the reporting period has no dates", hint=_PERIOD_HINT)
    file = str(viewing)
    schema = _viewing_schema(viewing, engine, file)
    lo_s = day_index(min(period)) * DAY_SECONDS
    hi_s = (day_index(max(period)) + 1) * DAY_SECONDS
    kind = _kind_sql(engine.dialect, lo_s, hi_s, max_event_hours * 3600)
    # No pre-buffering: it caches every row group read so far, so memory would
    # grow with the log.
    log = pq.ParquetFile(viewing, pre_buffer=False)
    parts = max(1, math.ceil(log.metadata.num_rows / partition_rows))
    counts = dict.fromkeys(("rows_in", *_KIND_NAMES.values()), 0)
    target.parent.mkdir(parents=True, exist_ok=True)
    with private_scratch(target.parent) as scratch:
        buckets = [scratch / f"part-{p:05d}.parquet" for p in range(parts)]
        with ExitStack() as stack:
            sinks = [
                stack.enter_context(ParquetSink(path, schema, mode=PRIVATE_MODE))
                for path in buckets
            ]
            for batch in log.iter_batches(batch_size=_BATCH_ROWS, columns=list(VIEWING_COLUMNS)):
                rows = pa.Table.from_batches([batch]).cast(schema)
                kinds, part = _classify(rows, kind, parts, engine)
                counts["rows_in"] += rows.num_rows
                for value, n in zip(*_value_counts(kinds), strict=True):
                    counts[_KIND_NAMES[value]] += n
                valid = pc.equal(kinds, 0)
                for p in _present(pc.filter(part, valid)):
                    sinks[p].write(rows.filter(pc.and_(valid, pc.equal(part, p))))
        merge = _merge_sql(engine.dialect, "0")
        with ParquetSink(target, schema, mode=PRIVATE_MODE) as out:
            for bucket in buckets:
                if pq.ParquetFile(bucket).metadata.num_rows:
                    merged = engine.query(merge, {"viewing": bucket})
                    out.write(merged.rename_columns(list(VIEWING_COLUMNS)).cast(schema))
                bucket.unlink()
            check = _check_of(counts, out.rows, file)
    return check


def _check_of(counts: dict[str, int], kept: int, file: str | None) -> ViewingCheck:
    """The check from the kind counts and the events kept; raises if none is kept."""
    check = ViewingCheck(
        rows_in=counts["rows_in"],
        rows_kept=kept,
        non_positive=counts["non_positive"],
        too_long=counts["too_long"],
        outside_period=counts["outside_period"],
        null_fields=counts["null_fields"],
        overlaps_merged=counts["valid"] - kept,
    )
    if kept == 0:
        raise InputError(
            "no viewing events are left after the input checks",
            file=file,
            hint=check.summary(),
        )
    return check


def _classify(rows: pa.Table, kind: str, parts: int, engine: Engine) -> tuple[pa.Array, pa.Array]:
    """Each row's rejection kind and household partition, in ``rows`` order.

    Only row numbers and the two codes come back from the engine, so the
    batch's strings are not copied; the row numbers restore the order, which
    an engine need not keep.
    """
    numbered = rows.append_column("_row", pa.array(np.arange(rows.num_rows, dtype=np.int64)))
    found = engine.query(_split_sql(engine.dialect, kind, parts), {"viewing": numbered})
    order = np.argsort(found["_row"].to_numpy(), kind="stable")
    kinds = found["kind"].to_numpy()[order]
    part = found["part"].to_numpy()[order]
    return pa.array(kinds), pa.array(part)


def _value_counts(column: pa.Array | pa.ChunkedArray) -> tuple[list[int], list[int]]:
    """The distinct values of an integer column and how often each occurs."""
    found = pc.value_counts(column)
    return found.field("values").to_pylist(), found.field("counts").to_pylist()


def _present(column: pa.Array | pa.ChunkedArray) -> list[int]:
    """The distinct partition numbers in a column."""
    return [int(p) for p in pc.unique(column).to_pylist() if p is not None]


def _viewing_schema(viewing: pa.Table | Path, engine: Engine, file: str | None) -> pa.Schema:
    """The four columns' types as the engine reads them; times must be timestamps."""
    check_columns(viewing, "viewing", VIEWING_COLUMNS, engine)
    d = engine.dialect
    if isinstance(viewing, Path):
        columns = ", ".join(d.ident(c) for c in VIEWING_COLUMNS)
        schema = engine.query(f"SELECT {columns} FROM viewing LIMIT 0", {"viewing": viewing}).schema
    else:
        schema = viewing.schema
    schema = pa.schema([schema.field(c) for c in VIEWING_COLUMNS])
    for column in ("start", "end"):
        if not pa.types.is_timestamp(schema.field(column).type):
            raise InputError(
                "viewing column is not a timestamp",
                file=file,
                column=column,
                hint="start and end must be naive date-times",
            )
    return schema


def _kind_sql(d: SqlDialect, lo_s: int, hi_s: int, max_seconds: int) -> str:
    """A CASE giving each row its rejection kind (0 = valid), first match wins."""
    hh, ch, start, end = (d.ident(c) for c in VIEWING_COLUMNS)
    s, e = d.epoch_seconds(start), d.epoch_seconds(end)
    return f"""CASE
        WHEN {hh} IS NULL OR {ch} IS NULL OR {start} IS NULL OR {end} IS NULL THEN {_NULL}
        WHEN {e} <= {s} THEN {_NON_POSITIVE}
        WHEN {e} - {s} > {max_seconds} THEN {_TOO_LONG}
        WHEN {e} <= {lo_s} OR {s} >= {hi_s} THEN {_OUTSIDE}
        ELSE 0 END"""


def _counts_sql(kind: str) -> str:
    """One row: rows in, rows of each rejection kind, valid rows."""

    def n(k: int) -> str:
        return f"SUM(CASE WHEN kind = {k} THEN 1 ELSE 0 END)"

    return f"""
    SELECT COUNT(*) AS rows_in, {n(_NULL)} AS null_fields, {n(_NON_POSITIVE)} AS non_positive,
           {n(_TOO_LONG)} AS too_long, {n(_OUTSIDE)} AS outside_period, {n(0)} AS valid
    FROM (SELECT {kind} AS kind FROM viewing) t"""


def _split_sql(d: SqlDialect, kind: str, parts: int) -> str:
    """Each row's number, rejection kind and household partition (``0 .. parts - 1``).

    ``hash`` is spelled alike in DuckDB and Spark (unsigned in one, signed in
    the other, hence the double modulo); which partition a household lands in
    changes nothing but the output order.
    """
    hh = d.ident(VIEWING_COLUMNS[0])
    part = f"((hash({hh}) % {parts}) + {parts}) % {parts}"
    return f"""
    SELECT _row, CAST({kind} AS INTEGER) AS kind, CAST({part} AS INTEGER) AS part
    FROM viewing"""


def _merge_sql(d: SqlDialect, kind: str) -> str:
    """Valid events with same-household, same-channel overlaps merged into their union.

    A sweep in (start, end) order per household and channel: an event opens
    a new island unless it starts before the latest end seen so far; each
    island becomes one event from its first start to its latest end.
    """
    hh, ch, start, end = (d.ident(c) for c in VIEWING_COLUMNS)
    window = "PARTITION BY hh, ch ORDER BY s, e"
    return f"""
    WITH kept AS (
        SELECT {hh} AS hh, {ch} AS ch, {start} AS s, {end} AS e FROM viewing WHERE {kind} = 0
    ),
    swept AS (
        SELECT hh, ch, s, e,
               MAX(e) OVER ({window} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end
        FROM kept
    ),
    islands AS (
        SELECT hh, ch, s, e,
               SUM(CASE WHEN prev_end IS NULL OR s >= prev_end THEN 1 ELSE 0 END)
                   OVER ({window} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS island
        FROM swept
    )
    SELECT hh, ch, MIN(s) AS s, MAX(e) AS e
    FROM islands GROUP BY hh, ch, island
    ORDER BY hh, ch, s"""
