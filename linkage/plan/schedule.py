"""The as-run schedule: the spots that actually aired, as the campaign sends them for post-buy.

A plan buys spots per (market, channel, daypart); a station's post-log (the
"as-run" log) says when each one aired: ``market, channel, date, time`` (ISO
date, ``HH:MM:SS`` naive local time, the spot's start) and optionally
``spot_seconds`` (30 by default), one row per spot. :func:`parse_aired`
checks such a log and gives it the ``aired-schedule`` payload's shape
(:data:`~linkage.tables.AIRED_SCHEMA`); its errors name the row and the
column, never a value.

``market`` is a market code, or :data:`~linkage.tables.ALL_MARKETS` for a
spot aired in every market at once (a statewide cable or interconnect buy).
A plan without a ``market`` column is statewide, so its spots are ``*``
spots: refusing it would leave every plan made before markets without a
post-buy, and a statewide spot has a clear meaning (every household tuned to
the channel at that time saw it).

:func:`as_run` stands in for the post-log in the demo: it places each planned
spot on a day of the period and a minute inside its daypart, spread evenly
(stratified: spot ``i`` of ``n`` falls in the ``i``-th of ``n`` equal stretches of
the daypart's minutes over the period, at a seeded whole-minute offset inside it), so the
same plan, period and seed give the same log.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import date, time
from typing import Final

import pyarrow as pa

from linkage.errors import InputError
from linkage.measure import DAYPARTS, QUARTER_HOUR_SECONDS
from linkage.tables import AIRED_SCHEMA, ALL_MARKETS

__all__ = [
    "AIRED_COLUMNS",
    "AIRED_OPTIONAL",
    "DEFAULT_SPOT_SECONDS",
    "MAX_SPOT_SECONDS",
    "aired_log",
    "as_run",
    "parse_aired",
]

AIRED_COLUMNS: Final = ("market", "channel", "date", "time")
"""The as-run log's required columns."""

AIRED_OPTIONAL: Final = ("spot_seconds",)
"""The as-run log's optional columns."""

DEFAULT_SPOT_SECONDS: Final = 30
MAX_SPOT_SECONDS: Final = 600
_MINUTES_PER_DAY: Final = 1440


def _text(value: object) -> str | None:
    """A cell as text (typed Parquet dates and times in ISO form); None when empty."""
    if value is None:
        return None
    if isinstance(value, date | time):
        return value.isoformat()
    text = str(value).strip()
    return text or None


def _bad(message: str, *, file: str | None, column: str, row: int) -> InputError:
    return InputError(message, file=file, column=column, row=row)


def _parse_time(text: str) -> time:
    parts = text.split(":")
    if len(parts) != 3 or not all(len(p) == 2 and p.isdigit() for p in parts):
        raise ValueError("not HH:MM:SS")
    hour, minute, second = (int(p) for p in parts)
    return time(hour, minute, second)


def parse_aired(table: pa.Table, *, file: str | None = None) -> pa.Table:
    """Check an as-run log and return it as the ``aired-schedule`` payload.

    Rows are numbered from 1 (the first data row). Rows come back sorted by
    market, channel, date and time.

    Args:
        table: The log: :data:`AIRED_COLUMNS`, optionally ``spot_seconds``;
            dates and times as text (or typed, from Parquet).
        file: The log's path, for errors.

    Returns:
        :data:`~linkage.tables.AIRED_SCHEMA` rows, one per spot.

    Raises:
        InputError: An unknown or missing column, an empty log, an empty
            cell, a date that is not ``YYYY-MM-DD``, a time that is not
            ``HH:MM:SS``, a spot length outside 1..600 seconds, or a spot
            listed twice (same market, channel, date and time).
    """
    names = table.column_names
    for name in names:
        if name not in (*AIRED_COLUMNS, *AIRED_OPTIONAL):
            raise InputError(
                "unknown column in the aired schedule",
                file=file,
                column=name,
                hint=f"columns: {', '.join((*AIRED_COLUMNS, *AIRED_OPTIONAL))}",
            )
    for name in AIRED_COLUMNS:
        if name not in names:
            raise InputError(
                "required column missing from the aired schedule", file=file, column=name
            )
    if table.num_rows == 0:
        raise InputError("the aired schedule lists no spot", file=file)
    cells = {name: table[name].to_pylist() for name in names}
    rows: list[tuple[str, str, date, time, int]] = []
    seen: dict[tuple[str, str, date, time], int] = {}
    for i in range(table.num_rows):
        row = i + 1
        text = {name: _text(cells[name][i]) for name in names}
        for name in AIRED_COLUMNS:
            if text[name] is None:
                raise _bad("empty cell in the aired schedule", file=file, column=name, row=row)
        market, channel = str(text["market"]), str(text["channel"])
        try:
            day = date.fromisoformat(str(text["date"]))
            if len(str(text["date"])) != 10:
                raise ValueError("not YYYY-MM-DD")
        except ValueError:
            raise _bad("not a date (YYYY-MM-DD)", file=file, column="date", row=row) from None
        try:
            at = _parse_time(str(text["time"]))
        except ValueError:
            raise _bad(
                "not a time of day (HH:MM:SS, 00:00:00 to 23:59:59)",
                file=file,
                column="time",
                row=row,
            ) from None
        seconds = DEFAULT_SPOT_SECONDS
        raw = text.get("spot_seconds")
        if raw is not None:
            try:
                seconds = int(raw)
            except ValueError:
                seconds = 0
            if not 1 <= seconds <= MAX_SPOT_SECONDS:
                raise _bad(
                    f"spot length must be a whole number of seconds from 1 to {MAX_SPOT_SECONDS}",
                    file=file,
                    column="spot_seconds",
                    row=row,
                )
        key = (market, channel, day, at)
        first = seen.get(key)
        if first is not None:
            raise InputError(
                f"spot listed twice in the aired schedule (first at row {first})",
                file=file,
                row=row,
                hint="one row per spot: same market, channel, date and time means the same spot",
            )
        seen[key] = row
        rows.append((*key, seconds))
    rows.sort()
    return pa.table(
        {
            "market": pa.array([r[0] for r in rows], pa.string()),
            "channel": pa.array([r[1] for r in rows], pa.string()),
            "date": pa.array([r[2] for r in rows], pa.date32()),
            "time": pa.array([r[3] for r in rows], pa.time32("ms")),
            "spot_seconds": pa.array([r[4] for r in rows], pa.int64()),
        },
        schema=AIRED_SCHEMA,
    )


def aired_log(aired: pa.Table) -> pa.Table:
    """The schedule as an as-run log's text columns (ISO date, ``HH:MM:SS``), for a CSV file."""
    return pa.table(
        {
            "market": aired["market"],
            "channel": aired["channel"],
            "date": pa.array([d.isoformat() for d in aired["date"].to_pylist()], pa.string()),
            "time": pa.array(
                [t.strftime("%H:%M:%S") for t in aired["time"].to_pylist()], pa.string()
            ),
            "spot_seconds": aired["spot_seconds"],
        }
    )


def as_run(plan: pa.Table, period: Sequence[date], seed: int = 0) -> pa.Table:
    """The as-run log a plan would leave if every planned spot aired (the demo's post-log).

    Each plan row's spots are spread evenly over the period's days and the
    daypart's minutes (stratified, seeded offsets), starting on the minute.
    A daypart that wraps midnight keeps its after-midnight minutes on the
    same calendar date (the grid's quarter-hour 0 belongs to its own date).

    Args:
        plan: ``channel``, ``daypart``, ``spots`` (``plan.csv``), optionally
            ``market`` first; without it every spot is statewide (``*``).
        period: The reporting dates the spots air in (sorted, distinct).
        seed: Seeds the offsets.

    Returns:
        :data:`~linkage.tables.AIRED_SCHEMA` rows, sorted, 30-second spots.

    Raises:
        InputError: A plan column is missing, a daypart unknown, a spot
            count negative, or a row holds more spots than minutes.
        ValueError: ``period`` is empty or unsorted.
    """
    if not period or list(period) != sorted(set(period)):
        raise ValueError("as_run needs sorted, distinct reporting dates")
    for name in ("channel", "daypart", "spots"):
        if name not in plan.column_names:
            raise InputError("required column missing from the plan", column=name)
    dayparts = {dp.name: dp for dp in DAYPARTS}
    markets = (
        plan["market"].to_pylist()
        if "market" in plan.column_names
        else [ALL_MARKETS] * plan.num_rows
    )
    # Rows of one (market, channel, daypart) are one stretch of minutes: merged, never overlaid.
    wanted: dict[tuple[str, str, str], int] = {}
    for i, (market, channel, daypart, count) in enumerate(
        zip(
            markets,
            plan["channel"].to_pylist(),
            plan["daypart"].to_pylist(),
            plan["spots"].to_pylist(),
            strict=True,
        )
    ):
        if str(daypart) not in dayparts:
            raise InputError("unknown daypart in the plan", column="daypart", row=i + 1)
        n = int(count or 0)
        if n < 0:
            raise InputError("a negative number of spots in the plan", column="spots", row=i + 1)
        key = (str(market or ALL_MARKETS), str(channel), str(daypart))
        wanted[key] = wanted.get(key, 0) + n
    rng = random.Random(seed)
    spots: list[tuple[str, str, date, time]] = []
    for (market, channel, daypart), n in wanted.items():
        part = dayparts[daypart]
        minutes = len(part.quarter_hours()) * QUARTER_HOUR_SECONDS // 60
        total = minutes * len(period)
        if n > total:
            raise InputError("more spots than minutes in a daypart over the period", column="spots")
        start = part.start_qh * QUARTER_HOUR_SECONDS // 60
        stretch = total / n if n else 0.0
        for j in range(n):
            # A whole-minute offset inside the spot's own stretch: never two spots on one minute.
            slot = math.floor(j * stretch) + rng.randrange(max(1, math.floor(stretch)))
            day, offset = divmod(slot, minutes)
            minute = (start + offset) % _MINUTES_PER_DAY
            spots.append((market, channel, period[day], time(minute // 60, minute % 60)))
    spots.sort()
    return pa.table(
        {
            "market": pa.array([s[0] for s in spots], pa.string()),
            "channel": pa.array([s[1] for s in spots], pa.string()),
            "date": pa.array([s[2] for s in spots], pa.date32()),
            "time": pa.array([s[3] for s in spots], pa.time32("ms")),
            "spot_seconds": pa.array([DEFAULT_SPOT_SECONDS] * len(spots), pa.int64()),
        },
        schema=AIRED_SCHEMA,
    )
