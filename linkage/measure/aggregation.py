"""Audience measurement per segment: AQH crediting, ratings, shares and reach.

Runs on the provider's side after assignment pseudonyms have been mapped back
to household IDs. The heavy work is SQL handed to an :class:`~linkage.engine.Engine`;
the output still holds a ``contributors`` count per cell and is unsuppressed —
:mod:`linkage.release.rules` decides what may be released.

Crediting (the usual AQH convention): each tuning event is split across
quarter-hours (slot = floor(epoch seconds / 900), naive local time). A household
is credited to (channel, date, quarter-hour) when it was tuned to that channel
for at least ``credit_minutes`` within that quarter-hour. Overlapping events of
one household on one channel (two set-top boxes on the same programme) are
merged first so the same minute is never counted twice; separate events in one
quarter-hour add up. A household counts towards HUT (households using TV) in a
slot when it is credited to any channel there, including channels outside the
published list.

With markets (:func:`viewership_by_market`) a household's membership pattern
also carries its TV market, so each market's cells are the same pass's counts
grouped again by (market, segment): the viewing log is read once for both.

The grid (quarter-hours, dayparts, day types, the period) is
:mod:`linkage.measure.calendar`; the slow reference this SQL is tested against
is :mod:`linkage.measure.reference`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from linkage.engine import Engine, SqlDialect
from linkage.errors import InputError
from linkage.measure.calendar import (
    DAY_SECONDS,
    DAYPARTS,
    QUARTER_HOUR_SECONDS,
    QUARTER_HOURS_PER_DAY,
    day_index,
    day_types_table,
    daypart_table,
    offsets_table,
    period_table,
    resolve_period,
)
from linkage.tables import ALL_HOUSEHOLDS, CELLS_SCHEMA, TIER_SEPARATOR

__all__ = [
    "CELL_ORDER",
    "check_columns",
    "compute_viewership",
    "distinct_values",
    "segment_members",
    "segment_universes",
    "unique_channels",
    "viewership_by_market",
    "viewership_of_members",
]

CELL_ORDER: list[tuple[str, str]] = [
    ("grain", "ascending"),
    ("segment", "ascending"),
    ("channel", "ascending"),
    ("day_type", "ascending"),
    ("daypart", "ascending"),
    ("quarter_hour", "ascending"),
]
"""Sort keys of a cells table: both the SQL and the reference emit rows in this order."""


# --------------------------------------------------------------------------- inputs


def _column_names(source: pa.Table | Path, name: str, engine: Engine) -> list[str]:
    if isinstance(source, Path):
        return list(engine.query(f"SELECT * FROM {name} LIMIT 0", {name: source}).column_names)
    return list(source.column_names)


def check_columns(
    source: pa.Table | Path, name: str, required: Sequence[str], engine: Engine
) -> None:
    """Refuse an input table (or Parquet path) that lacks a ``required`` column.

    Raises:
        InputError: Naming the first missing column and every required one.
    """
    present = set(_column_names(source, name, engine))
    for column in required:
        if column not in present:
            raise InputError(
                f"{name} table has no such column",
                file=str(source) if isinstance(source, Path) else None,
                column=column,
                hint=f"{name} needs columns {', '.join(required)}",
            )


def distinct_values(source: pa.Table | Path, column: str, engine: Engine) -> list[str]:
    """Sorted distinct non-null values of a text column, scanned by the engine.

    Works on a Parquet path without loading the file (a state's viewing log).

    Raises:
        InputError: No such column.
    """
    check_columns(source, "source", (column,), engine)
    col = engine.dialect.ident(column)
    found = engine.query(
        f"SELECT DISTINCT {col} AS v FROM source WHERE {col} IS NOT NULL", {"source": source}
    )
    return sorted(str(v) for v in found["v"].to_pylist())


def _checked_assignments(assignments: pa.Table) -> pa.Table:
    for column in ("household_id", "segment"):
        if column not in assignments.column_names:
            raise InputError(
                "assignments table has no such column",
                column=column,
                hint="map pseudonyms back to household_id before aggregating",
            )
        if assignments[column].null_count:
            raise InputError("assignments column holds nulls", column=column)
    if assignments.num_rows == 0:
        raise InputError(
            "assignments table is empty", hint="nothing was matched; nothing to report"
        )
    table = assignments.select(["household_id", "segment"]).cast(
        pa.schema([("household_id", pa.string()), ("segment", pa.string())])
    )
    return table


def unique_channels(values: Iterable[str]) -> list[str]:
    """The channel list without repeats, first occurrence kept: the release order."""
    return list(dict.fromkeys(values))


# --------------------------------------------------------------------------- SQL


_KEY_LIMIT = 2**50
"""Packed integer keys stay below this: both engines divide integers as doubles,
and FLOOR(key / m) is exact for keys this small."""


@dataclass(frozen=True)
class _PackedKeyLayout:
    """Sizes of the integer surrogates, for packing several into one BIGINT.

    The big groupings key on one packed integer (e.g. ``(hid * C + cid) * S +
    slot``) instead of several columns: DuckDB then hashes and compares one
    value per row, which roughly halves their cost. Keys are unpacked with
    ``%`` and ``FLOOR(key / m)`` before anything leaves the query.

    Attributes:
        lo_s: Epoch second of midnight starting the period's first date.
        hi_s: Epoch second of midnight ending the period's last date.
        n_households: ``H``, household surrogates ``hid`` 0..H-1.
        n_patterns: ``P``, membership patterns; ``hid % P`` is the
            household's pattern ``pid`` (see :func:`_patterns`), so no
            query joins to find it and every grouping keys on one integer.
        n_channels: ``C``, channel surrogates ``cid`` 0..C-1.
        n_published: Channels 0..n_published-1 are reported; the rest only
            count towards HUT.
    """

    lo_s: int
    hi_s: int
    n_households: int
    n_patterns: int
    n_channels: int
    n_published: int

    @property
    def n_slots(self) -> int:
        """``S``: quarter-hours from ``lo_s`` to ``hi_s``."""
        return (self.hi_s - self.lo_s) // QUARTER_HOUR_SECONDS

    @property
    def first_day(self) -> int:
        """Day index (days since 1970-01-01) of the period's first date."""
        return self.lo_s // DAY_SECONDS

    @classmethod
    def of(
        cls,
        days: Sequence[date],
        n_households: int,
        n_patterns: int,
        n_channels: int,
        n_published: int,
    ) -> _PackedKeyLayout:
        """The layout for a period, checking that every packed key fits.

        Raises:
            ValueError: The product of the sizes is too large for one run.
        """
        lo_s = day_index(days[0]) * DAY_SECONDS
        hi_s = (day_index(days[-1]) + 1) * DAY_SECONDS
        layout = cls(lo_s, hi_s, n_households, n_patterns, n_channels, n_published)
        widest = max(layout.n_slots, 2 * QUARTER_HOURS_PER_DAY)
        if n_households * n_channels * widest >= _KEY_LIMIT:
            raise ValueError(
                "households x channels x quarter-hours (x segment combinations) is too "
                "large for one run; split the reporting period or the segments"
            )
        return layout


def _materialized(d: SqlDialect) -> str:
    """CTE modifier that computes a CTE once for all its readers, where the engine has one.

    Without it DuckDB may inline a CTE into each reader and redo the work;
    Spark has no such syntax (its optimizer reuses identical exchanges).
    """
    return "MATERIALIZED " if d.name == "duckdb" else ""


def _credited_ctes(
    d: SqlDialect, layout: _PackedKeyLayout, credit_seconds: int, credits_per_day: int | None
) -> str:
    """CTEs ending in ``credited(key)``: every credited household, channel and slot, packed.

    ``key = (hid * C + cid) * S + slot``, ``slot`` counting quarter-hours
    from ``lo_s``. With ``credits_per_day``, a household's credits in one day
    beyond that many (channel, quarter-hour) pairs are dropped, latest first:
    the public contribution cap differential privacy relies on
    (:mod:`linkage.release.dp`).

    Reads ``viewing``, ``households(household_id, hid)``, ``channel_ids(channel,
    cid)`` and ``offsets(k)``.

    Each event is clipped to the period and cut into per-quarter-hour pieces
    (a join with the ``offsets`` numbers table: plain SQL everywhere, and on
    DuckDB faster than a lateral ``UNNEST``). Nearly every piece is the only
    one of its household, channel and slot, and then its length is the tuned
    time: no grouping needed. One window over the events (not the pieces)
    finds the few events that share a slot with another event of the same
    household and channel (an earlier one ending in or after this one's first
    slot, or the next one starting in or before its last slot); only their
    pieces are summed per key, and only keys with several pieces whose sum
    reaches the threshold go through the sort-based sweep that measures the
    union, so overlapping events (two boxes on one programme) never count a
    minute twice.
    """
    start, end = d.epoch_seconds(d.ident("start")), d.epoch_seconds(d.ident("end"))
    qs, c, s = QUARTER_HOUR_SECONDS, layout.n_channels, layout.n_slots
    qpd = QUARTER_HOURS_PER_DAY
    unpacked = "credited" if credits_per_day is None else "credited_all"
    # A household-day's credits are ranked only where there are more than the
    # cap (rarely): the rest pass through an anti-join, with no window.
    cap = int(credits_per_day or 0)
    household_day = (
        f"CAST(FLOOR(key / {c * s}.0) AS BIGINT) * {s // qpd} "
        f"+ CAST(FLOOR((key % {s}) / {qpd}.0) AS BIGINT)"
    )
    capped = (
        ""
        if credits_per_day is None
        else f""",
    busy_days AS (
        SELECT {household_day} AS hd FROM credited_all
        GROUP BY {household_day} HAVING COUNT(*) > {cap}
    ),
    credited AS (
        SELECT a.key FROM credited_all a
        LEFT JOIN busy_days b ON b.hd = {household_day.replace("key", "a.key")}
        WHERE b.hd IS NULL
        UNION ALL
        SELECT key FROM (
            SELECT a.key,
                   ROW_NUMBER() OVER (
                       PARTITION BY b.hd
                       ORDER BY a.key % {s}, CAST(FLOOR(a.key / {s}.0) AS BIGINT) % {c}) AS rn
            FROM credited_all a
            JOIN busy_days b ON b.hd = {household_day.replace("key", "a.key")}
        ) t
        WHERE rn <= {cap}
    )"""
    )
    lo, hi = layout.lo_s, layout.hi_s
    piece = f"""GREATEST(m.s, (m.first_slot + o.k) * {qs}) AS ps,
               LEAST(m.e, (m.first_slot + o.k + 1) * {qs}) AS pe"""
    return f"""
    ev AS (
        SELECT h.hid * {c} + ch.cid AS hc,
               CASE WHEN {start} < {lo} THEN 0 ELSE {start} - {lo} END AS s,
               CASE WHEN {end} > {hi} THEN {hi - lo} ELSE {end} - {lo} END AS e
        FROM viewing v
        JOIN households h ON h.household_id = v.household_id
        JOIN channel_ids ch ON ch.channel = v.channel
        WHERE {end} > {lo} AND {start} < {hi} AND {end} > {start}
    ),
    spans AS (
        SELECT hc, s, e,
               CAST(FLOOR(s / {qs}.0) AS BIGINT) AS first_slot,
               CAST(FLOOR((e - 1) / {qs}.0) AS BIGINT) AS last_slot
        FROM ev
    ),
    marked AS (
        SELECT hc, s, e, first_slot, last_slot,
               CASE WHEN MAX(last_slot) OVER (PARTITION BY hc ORDER BY s, e
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) >= first_slot
                      OR LEAD(first_slot) OVER (PARTITION BY hc ORDER BY s, e) <= last_slot
                    THEN 1 ELSE 0 END AS shares
        FROM spans
    ),
    alone_keys AS (
        SELECT key FROM (
            SELECT m.hc * {s} + m.first_slot + o.k AS key, {piece}
            FROM marked m JOIN offsets o ON o.k <= m.last_slot - m.first_slot
            WHERE m.shares = 0
        ) t
        WHERE pe - ps >= {credit_seconds}
    ),
    pieces AS (
        SELECT m.hc * {s} + m.first_slot + o.k AS key, {piece}
        FROM marked m JOIN offsets o ON o.k <= m.last_slot - m.first_slot
        WHERE m.shares = 1
    ),
    summed AS (
        SELECT key, COUNT(*) AS n_pieces FROM pieces
        GROUP BY key HAVING SUM(pe - ps) >= {credit_seconds}
    ),
    swept AS (
        SELECT p.key, p.ps, p.pe,
               MAX(p.pe) OVER (PARTITION BY p.key ORDER BY p.ps, p.pe
                               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end
        FROM pieces p JOIN summed t ON t.key = p.key
        WHERE t.n_pieces > 1
    ),
    merged AS (
        SELECT key FROM swept GROUP BY key
        HAVING SUM(CASE WHEN prev_end IS NULL OR ps >= prev_end THEN pe - ps
                        WHEN pe > prev_end THEN pe - prev_end ELSE 0 END) >= {credit_seconds}
    ),
    {unpacked} AS (
        SELECT key FROM alone_keys
        UNION ALL
        SELECT key FROM summed WHERE n_pieces = 1
        UNION ALL
        SELECT key FROM merged
    ){capped}"""


# Day masks: bit b of block j stands for the period's day 62 * j + b (a
# BIGINT holds 62 such bits with room to spare), so one row per household,
# channel and quarter-hour says on which days it was credited.
_MASK_DAYS = 62


@dataclass(frozen=True)
class _DayMasks:
    """The period's days as bit masks, for counting credited days with ``bit_count``.

    Attributes:
        blocks: ``B``, mask columns ``m0 .. m{B-1}`` (62 days each).
        by_type: Per day type index present in the period, one mask per block.
        every: One mask per block with every reporting date set (days in the
            date range but outside the period stay clear).
    """

    blocks: int
    by_type: dict[int, tuple[int, ...]]
    every: tuple[int, ...]

    @classmethod
    def of(cls, days: Sequence[date], first_day: int) -> _DayMasks:
        """Masks for ``days``, offsets counted from ``first_day``."""
        span = day_index(days[-1]) - first_day + 1
        blocks = -(-span // _MASK_DAYS)
        types = period_table(days)
        by_type: dict[int, list[int]] = {}
        every = [0] * blocks
        for index, dti in zip(
            types["day_index"].to_pylist(), types["dti"].to_pylist(), strict=True
        ):
            block, bit = divmod(index - first_day, _MASK_DAYS)
            by_type.setdefault(dti, [0] * blocks)[block] |= 1 << bit
            every[block] |= 1 << bit
        return cls(blocks, {t: tuple(m) for t, m in sorted(by_type.items())}, tuple(every))

    @property
    def columns(self) -> list[str]:
        """``m0 .. m{B-1}``."""
        return [f"m{j}" for j in range(self.blocks)]

    def count(self, masks: Sequence[int]) -> str:
        """SQL for how many days of ``masks`` a row's mask columns hold."""
        return (
            " + ".join(
                f"CAST(bit_count({col} & {m}) AS BIGINT)"
                for col, m in zip(self.columns, masks, strict=True)
                if m
            )
            or "0"
        )

    def flag(self, masks: Sequence[int]) -> str:
        """SQL 1 when a row's mask columns hold any day of ``masks``, else 0."""
        held = (
            " OR ".join(
                f"({col} & {m}) <> 0" for col, m in zip(self.columns, masks, strict=True) if m
            )
            or "FALSE"
        )
        return f"CASE WHEN {held} THEN 1 ELSE 0 END"

    def ors(self, prefix: str = "") -> str:
        """Select-list SQL OR-ing every mask column over a group."""
        return ", ".join(f"BIT_OR({prefix}{col}) AS {col}" for col in self.columns)


def _pattern_cells_sql(
    d: SqlDialect,
    layout: _PackedKeyLayout,
    days: Sequence[date],
    credit_seconds: int,
    credits_per_day: int | None,
) -> str:
    """Credited counts per membership pattern: every grain and HUT, one query.

    Reads what :func:`_credited_ctes` reads plus ``dayparts(dpi, daypart, qh)``.
    Returns ``(part, pid, cid, dti, bucket, n, hh)``: part 0 = quarter-hour
    (bucket = qh), 1 = daypart (bucket = dpi), 2 = period, 3 = HUT per
    quarter-hour (cid -1). ``n`` counts credited household-slots (for HUT: on
    any channel, each household-slot once), ``hh`` distinct households.

    Households with the same segment memberships share a pattern ``pid``, and
    patterns partition households, so distinct-household counts per pattern
    add up to distinct counts per segment: the big tables are grouped once,
    without multiplying their rows by a segment join. ``pid`` is ``hid % P``.

    The credited slots are folded once into ``qhm``: one row per household,
    channel and quarter-hour of the day, with a bit mask of the days it was
    credited on (:class:`_DayMasks`). A cell's count is then a sum of
    ``bit_count`` over the masks and its distinct households a count of rows
    with any day of the cell's day type, so the quarter-hour grain needs no
    further grouping of household rows. Dayparts and the period OR the masks
    (per household, channel and daypart; then per household and channel),
    HUT ORs them across channels (per household and quarter-hour), each a
    grouping of fewer rows than the last; counts per daypart and period are
    sums of the quarter-hour counts.
    """
    qpd, ndp = QUARTER_HOURS_PER_DAY, len(DAYPARTS)
    c, s, n_p = layout.n_channels, layout.n_slots, layout.n_patterns
    n_pub = layout.n_published
    masks = _DayMasks.of(days, layout.first_day)
    types = list(masks.by_type)
    day = f"CAST(FLOOR((key % {s}) / {qpd}.0) AS BIGINT)"
    if masks.blocks == 1:
        bits = f"SUM(CAST(POWER(2, {day}) AS BIGINT)) AS m0"
    else:
        bits = ", ".join(
            f"SUM(CASE WHEN {day} >= {_MASK_DAYS * j} AND {day} < {_MASK_DAYS * (j + 1)} "
            f"THEN CAST(POWER(2, {day} - {_MASK_DAYS * j}) AS BIGINT) ELSE 0 END) AS m{j}"
            for j in range(masks.blocks)
        )
    cols = ", ".join(masks.columns)
    hh_type = ", ".join(f"SUM({masks.flag(masks.by_type[t])}) AS hh{t}" for t in types)
    hut_type = ", ".join(f"SUM({masks.count(masks.by_type[t])}) AS n{t}" for t in types)
    per_type = f"{hut_type}, {hh_type}"
    n_sum = ", ".join(f"SUM(q.n{t}) AS n{t}" for t in types)
    qh_parts = "\n    UNION ALL\n    ".join(
        f"SELECT 0 AS part, pid, cid, {t} AS dti, qh AS bucket, n{t} AS n, hh{t} AS hh "
        f"FROM qh_cells WHERE n{t} > 0"
        for t in types
    )
    dp_parts = "\n    UNION ALL\n    ".join(
        f"SELECT 1 AS part, a.pid, a.cid, {t} AS dti, a.dpi AS bucket, a.n{t} AS n, "
        f"COALESCE(b.hh{t}, 0) AS hh "
        f"FROM dp_n a LEFT JOIN dp_cells b ON b.pid = a.pid AND b.cid = a.cid AND b.dpi = a.dpi "
        f"WHERE a.n{t} > 0"
        for t in types
    )
    hut_parts = "\n    UNION ALL\n    ".join(
        f"SELECT 3 AS part, pid, -1 AS cid, {t} AS dti, qh AS bucket, n{t} AS n, 0 AS hh "
        f"FROM hut WHERE n{t} > 0"
        for t in types
    )
    period_n = " + ".join(f"SUM(n{t})" for t in types)
    return f"""
    WITH {_credited_ctes(d, layout, credit_seconds, credits_per_day)},
    qhm AS {_materialized(d)}(
        SELECT CAST(FLOOR(key / {s}.0) AS BIGINT) * {qpd} + key % {qpd} AS k, {bits}
        FROM credited
        GROUP BY CAST(FLOOR(key / {s}.0) AS BIGINT) * {qpd} + key % {qpd}
    ),
    qh_cells AS (
        SELECT CAST(FLOOR(cell / {c * qpd}.0) AS BIGINT) AS pid,
               CAST(FLOOR(cell / {qpd}.0) AS BIGINT) % {c} AS cid, cell % {qpd} AS qh, {per_type}
        FROM (
            SELECT (CAST(FLOOR(k / {c * qpd}.0) AS BIGINT) % {n_p}) * {c * qpd} + k % {c * qpd}
                   AS cell, {cols}
            FROM qhm WHERE CAST(FLOOR(k / {qpd}.0) AS BIGINT) % {c} < {n_pub}
        ) t
        GROUP BY cell
    ),
    dp_hh AS (
        SELECT CAST(FLOOR(q.k / {qpd}.0) AS BIGINT) * {ndp} + dp.dpi AS k, {masks.ors("q.")}
        FROM qhm q JOIN dayparts dp ON dp.qh = q.k % {qpd}
        WHERE CAST(FLOOR(q.k / {qpd}.0) AS BIGINT) % {c} < {n_pub}
        GROUP BY CAST(FLOOR(q.k / {qpd}.0) AS BIGINT) * {ndp} + dp.dpi
    ),
    dp_cells AS (
        SELECT CAST(FLOOR(cell / {c * ndp}.0) AS BIGINT) AS pid,
               CAST(FLOOR(cell / {ndp}.0) AS BIGINT) % {c} AS cid, cell % {ndp} AS dpi, {hh_type}
        FROM (
            SELECT (CAST(FLOOR(k / {c * ndp}.0) AS BIGINT) % {n_p}) * {c * ndp} + k % {c * ndp}
                   AS cell, {cols}
            FROM dp_hh
        ) t
        GROUP BY cell
    ),
    dp_n AS (
        SELECT q.pid, q.cid, dp.dpi, {n_sum}
        FROM qh_cells q JOIN dayparts dp ON dp.qh = q.qh
        GROUP BY q.pid, q.cid, dp.dpi
    ),
    period_hh AS (
        SELECT CAST(FLOOR(k / {ndp}.0) AS BIGINT) AS k, {masks.ors()}
        FROM dp_hh GROUP BY CAST(FLOOR(k / {ndp}.0) AS BIGINT)
    ),
    period_cells AS (
        SELECT CAST(FLOOR(cell / {c}.0) AS BIGINT) AS pid, cell % {c} AS cid,
               SUM({masks.flag(masks.every)}) AS hh
        FROM (
            SELECT (CAST(FLOOR(k / {c}.0) AS BIGINT) % {n_p}) * {c} + k % {c} AS cell, {cols}
            FROM period_hh
        ) t
        GROUP BY cell
    ),
    period_n AS (
        SELECT pid, cid, {period_n} AS n FROM qh_cells GROUP BY pid, cid
    ),
    hut_hh AS (
        SELECT CAST(FLOOR(k / {c * qpd}.0) AS BIGINT) * {qpd} + k % {qpd} AS k, {masks.ors()}
        FROM qhm GROUP BY CAST(FLOOR(k / {c * qpd}.0) AS BIGINT) * {qpd} + k % {qpd}
    ),
    hut AS (
        SELECT CAST(FLOOR(cell / {qpd}.0) AS BIGINT) AS pid, cell % {qpd} AS qh, {hut_type}
        FROM (
            SELECT (CAST(FLOOR(k / {qpd}.0) AS BIGINT) % {n_p}) * {qpd} + k % {qpd} AS cell, {cols}
            FROM hut_hh
        ) t
        GROUP BY cell
    )
    SELECT part, pid, cid, dti, bucket, CAST(n AS BIGINT) AS n, CAST(hh AS BIGINT) AS hh FROM (
    {qh_parts}
    UNION ALL
    {dp_parts}
    UNION ALL
    SELECT 2 AS part, a.pid, a.cid, -1 AS dti, -1 AS bucket, a.n, COALESCE(b.hh, 0) AS hh
    FROM period_n a LEFT JOIN period_cells b ON b.pid = a.pid AND b.cid = a.cid
    WHERE a.n > 0
    UNION ALL
    {hut_parts}
    ) t"""


_SEGMENT_CELLS_SQL = """
    SELECT ps.sid, c.part, c.cid, c.dti, c.bucket, SUM(c.n) AS n, SUM(c.hh) AS hh
    FROM pattern_cells c JOIN patterns ps ON ps.pid = c.pid
    GROUP BY ps.sid, c.part, c.cid, c.dti, c.bucket
"""

# Bitmask patterns need one bit per segment in a BIGINT; beyond that every
# household is its own pattern (correct, just without the saving).
_MAX_MASK_SEGMENTS = 62

_MASK_PATTERNS_SQL = """
    WITH masks AS (
        SELECT hid, SUM(CAST(POWER(2, sid - 1) AS BIGINT)) AS mask FROM members GROUP BY hid
    )
    SELECT hid, DENSE_RANK() OVER (ORDER BY mask) - 1 AS pid FROM masks
"""

# With markets a pattern is (segment mask, market): the market is one more part
# of the key, not one more bit per segment and market.
_MASK_MARKET_PATTERNS_SQL = """
    WITH masks AS (
        SELECT hid, SUM(CAST(POWER(2, sid - 1) AS BIGINT)) AS mask FROM members GROUP BY hid
    )
    SELECT m.hid, DENSE_RANK() OVER (ORDER BY m.mask, COALESCE(k.mid, 0)) - 1 AS pid
    FROM masks m LEFT JOIN placed k ON k.hid = m.hid
"""


@dataclass(frozen=True)
class _Patterns:
    """Households grouped by the exact set of segments they belong to (and their market).

    Attributes:
        households: ``(household_id, hid)`` with ``hid = rank * P + pid``
            (``rank`` numbers the households of one pattern), so ``hid % P``
            is the pattern and ``hid`` stays below ``P * largest pattern``.
        patterns: ``(pid, sid)``: the segments of each pattern.
        markets: ``(pid, mid)``: the market of each pattern whose households
            have one (None when measured without markets).
        n_patterns: ``P``.
        n_households: ``H``, a multiple of ``P`` above every ``hid``.
    """

    households: pa.Table
    patterns: pa.Table
    markets: pa.Table | None
    n_patterns: int
    n_households: int


def _patterns(
    households: pa.Table,
    members: pa.Table,
    n_segments: int,
    engine: Engine,
    placed: pa.Table | None = None,
) -> _Patterns:
    """Membership patterns from ``households(household_id, hid)`` and ``members(sid, hid)``.

    Every household in ``households`` must appear in ``members``. With
    ``placed(hid, mid)`` (at most one market per household), households of
    one pattern also share their market (or have none).
    """
    if n_segments > _MAX_MASK_SEGMENTS:
        pids = engine.query("SELECT DISTINCT hid, hid AS pid FROM members", {"members": members})
    elif placed is None:
        pids = engine.query(_MASK_PATTERNS_SQL, {"members": members})
    else:
        pids = engine.query(_MASK_MARKET_PATTERNS_SQL, {"members": members, "placed": placed})
    n_patterns = int(pc.max(pids["pid"]).as_py()) + 1
    coded = engine.query(
        f"SELECT h.household_id, (ROW_NUMBER() OVER (PARTITION BY p.pid ORDER BY h.hid) - 1) "
        f"* {n_patterns} + p.pid AS hid FROM households h JOIN pids p ON p.hid = h.hid",
        {"households": households, "pids": pids},
    )
    patterns = engine.query(
        "SELECT DISTINCT p.pid, m.sid FROM members m JOIN pids p ON p.hid = m.hid",
        {"members": members, "pids": pids},
    )
    markets = (
        None
        if placed is None
        else engine.query(
            "SELECT DISTINCT p.pid, k.mid FROM pids p JOIN placed k ON k.hid = p.hid",
            {"pids": pids, "placed": placed},
        )
    )
    largest = int(pc.max(coded["hid"]).as_py()) // n_patterns + 1
    return _Patterns(coded, patterns, markets, n_patterns, n_patterns * largest)


def _placed(households: pa.Table, markets: pa.Table, engine: Engine) -> pa.Table:
    """``(hid, mid, market)``: the market of each measured household that has one.

    Raises:
        InputError: ``markets`` lacks a column, or gives a household two markets.
    """
    check_columns(markets, "markets", ("household_id", "market"), engine)
    placed = engine.query(
        """
        SELECT h.hid, DENSE_RANK() OVER (ORDER BY k.market) AS mid, k.market
        FROM households h
        JOIN (SELECT DISTINCT household_id, market FROM markets WHERE market IS NOT NULL) k
            ON k.household_id = h.household_id
        """,
        {"households": households, "markets": markets},
    )
    if len(pc.unique(placed["hid"])) != placed.num_rows:
        raise InputError(
            "a household has more than one market",
            column="market",
            hint="each household belongs to exactly one market",
        )
    return placed


_MARKET_SEGMENTS_SQL = f"""
    SELECT ROW_NUMBER() OVER (ORDER BY g.segment, k.market) AS sid, g.segment, k.market,
           COUNT(DISTINCT m.hid) AS universe, g.sid AS plain_sid, k.mid
    FROM members m
    JOIN segments g ON g.sid = m.sid
    JOIN placed k ON k.hid = m.hid
    WHERE POSITION('{TIER_SEPARATOR}' IN g.segment) = 0
    GROUP BY g.sid, g.segment, k.mid, k.market
"""
"""Each (segment, market) with a household: tiers stay statewide."""

_MARKET_PATTERNS_SQL = """
    SELECT p.pid, x.sid
    FROM patterns p
    JOIN pattern_markets pm ON pm.pid = p.pid
    JOIN market_segments x ON x.plain_sid = p.sid AND x.mid = pm.mid
"""
"""Which (segment, market) cells each pattern's counts add to."""


def _figures_sql(num: str, den: str, hut: str, universe: str) -> str:
    """aqh_households, rating, share from credited counts (numerator over ``den`` slots)."""
    aqh = f"CAST(COALESCE({num}, 0) AS DOUBLE) / {den}"
    share = (
        f"CASE WHEN COALESCE({hut}, 0) > 0 "
        f"THEN CAST(COALESCE({num}, 0) AS DOUBLE) * 100.0 / {hut} ELSE 0.0 END"
    )
    return f"{aqh} AS aqh_households, {aqh} * 100.0 / {universe} AS rating, {share} AS share"


# The public grid is a cross join of the small dimension tables, left-joined
# to the per-segment counts (``cells``, see _pattern_cells_sql for ``part``);
# cells nobody watched come out as zeros. ``{market}`` is where a market grid
# adds its ``market`` column (see _grid_sql).

_QH_SQL = f"""
    SELECT 'quarter_hour' AS grain, g.segment, ch.channel, dt.day_type, dp.daypart,
           CAST(dp.qh AS SMALLINT) AS quarter_hour, g.universe,
           {_figures_sql("c.n", "dt.n_days", "h.n", "g.universe")},
           CAST(NULL AS BIGINT) AS reach_households, CAST(NULL AS DOUBLE) AS reach,
           FALSE AS suppressed, COALESCE(c.hh, 0) AS contributors{{market}}
    FROM segments g CROSS JOIN channels ch CROSS JOIN day_types dt CROSS JOIN dayparts dp
    LEFT JOIN (SELECT * FROM cells WHERE part = 0) c
        ON c.sid = g.sid AND c.cid = ch.cid AND c.dti = dt.dti AND c.bucket = dp.qh
    LEFT JOIN (SELECT * FROM cells WHERE part = 3) h
        ON h.sid = g.sid AND h.dti = dt.dti AND h.bucket = dp.qh
"""

_DAYPART_SQL = f"""
    WITH dp_sizes AS (SELECT dpi, daypart, COUNT(*) AS n_qh FROM dayparts GROUP BY dpi, daypart),
    hut AS (
        SELECT h.sid, h.dti, dp.dpi, SUM(h.n) AS n
        FROM cells h JOIN dayparts dp ON dp.qh = h.bucket
        WHERE h.part = 3
        GROUP BY h.sid, h.dti, dp.dpi
    )
    SELECT 'daypart' AS grain, g.segment, ch.channel, dt.day_type, z.daypart,
           CAST(NULL AS SMALLINT) AS quarter_hour, g.universe,
           {_figures_sql("c.n", "(dt.n_days * z.n_qh)", "h.n", "g.universe")},
           CAST(NULL AS BIGINT) AS reach_households, CAST(NULL AS DOUBLE) AS reach,
           FALSE AS suppressed, COALESCE(c.hh, 0) AS contributors{{market}}
    FROM segments g CROSS JOIN channels ch CROSS JOIN day_types dt CROSS JOIN dp_sizes z
    LEFT JOIN (SELECT * FROM cells WHERE part = 1) c
        ON c.sid = g.sid AND c.cid = ch.cid AND c.dti = dt.dti AND c.bucket = z.dpi
    LEFT JOIN hut h ON h.sid = g.sid AND h.dti = dt.dti AND h.dpi = z.dpi
"""

_PERIOD_SQL = f"""
    WITH total AS (SELECT SUM(n_days) * {QUARTER_HOURS_PER_DAY} AS n_slots FROM day_types),
    hut AS (SELECT sid, SUM(n) AS n FROM cells WHERE part = 3 GROUP BY sid)
    SELECT 'period' AS grain, g.segment, ch.channel, 'all' AS day_type, 'all' AS daypart,
           CAST(NULL AS SMALLINT) AS quarter_hour, g.universe,
           {_figures_sql("c.n", "t.n_slots", "h.n", "g.universe")},
           COALESCE(c.hh, 0) AS reach_households,
           CAST(COALESCE(c.hh, 0) AS DOUBLE) * 100.0 / g.universe AS reach,
           FALSE AS suppressed, COALESCE(c.hh, 0) AS contributors{{market}}
    FROM segments g CROSS JOIN channels ch CROSS JOIN total t
    LEFT JOIN (SELECT * FROM cells WHERE part = 2) c ON c.sid = g.sid AND c.cid = ch.cid
    LEFT JOIN hut h ON h.sid = g.sid
"""


_GRIDS = (_QH_SQL, _DAYPART_SQL, _PERIOD_SQL)


def _grid_sql(sql: str, *, market: bool) -> str:
    """One grid query, with ``segments.market`` as a last column for a market grid."""
    return sql.replace("{market}", ", g.market" if market else "")


_MEMBERS_SQL = f"""
    SELECT DISTINCT segment, household_id FROM assignments WHERE segment <> '{ALL_HOUSEHOLDS}'
    UNION ALL
    SELECT DISTINCT '{ALL_HOUSEHOLDS}' AS segment, household_id FROM assignments
"""


def segment_members(assignments: pa.Table, engine: Engine) -> pa.Table:
    """Distinct ``(segment, household_id)`` pairs, plus every household under ``*``.

    ``*`` always means every household in ``assignments``; rows that already
    carry ``*`` (e.g. matched households in no segment) only add to that set.

    Raises:
        InputError: Columns are missing or null, or the table is empty.
    """
    table = _checked_assignments(assignments)
    return engine.query(_MEMBERS_SQL, {"assignments": table})


def segment_universes(members: pa.Table, engine: Engine) -> pa.Table:
    """``(segment, universe)``: distinct households per segment of ``members``."""
    return engine.query(
        "SELECT segment, COUNT(DISTINCT household_id) AS universe FROM members GROUP BY segment",
        {"members": members},
    )


def compute_viewership(
    assignments: pa.Table,
    viewing: pa.Table | Path,
    *,
    channels: Sequence[str],
    engine: Engine,
    period: Sequence[date] | None = None,
    credit_minutes: int = 5,
    credits_per_day: int | None = None,
) -> pa.Table:
    """All viewership cells for every segment and ``*``, unsuppressed.

    Emits the full public grid — every segment x channel x day type present in
    the period x quarter-hour (and daypart, and the period roll-up) — so the
    presence of a row says nothing; cells nobody watched hold zeros.

    Grains:
        ``quarter_hour``: aqh_households = credited segment households summed
        over the day type's days / number of such days; rating = aqh /
        universe * 100; share = aqh / segment HUT AQH * 100 (0 when HUT is 0);
        contributors = distinct households credited in the cell.
        ``daypart``: the same averaged over the daypart's quarter-hours;
        contributors = distinct households credited in any of them.
        ``period`` (day_type and daypart ``all``): total-day AQH over the
        whole period, reach_households = distinct households credited at
        least once to the channel, reach = reach_households / universe * 100.

    Args:
        assignments: ``household_id``, ``segment`` (one row per pair).
        viewing: Tuning events ``household_id, channel, start, end`` (naive
            local timestamps), as Arrow or a Parquet path.
        channels: Channels to report (the public channel list).
        engine: Engine running the SQL.
        period: Reporting dates; default: every date the viewing spans.
            Viewing outside the period is ignored.
        credit_minutes: Minutes of tuning in a quarter-hour needed for credit.
        credits_per_day: When given, at most this many (channel,
            quarter-hour) credits per household and day count (the earliest);
            HUT counts the kept credits only.

    Returns:
        A table with :data:`CELLS_SCHEMA` (includes ``contributors``, which
        must never be released).

    Raises:
        InputError: An input table is missing a column or is unusable.
        ValueError: ``channels`` is empty or ``credit_minutes`` is not 1-15.
    """
    channel_list = _checked_arguments(viewing, channels, engine, credit_minutes)
    members = segment_members(assignments, engine)
    cells, _ = _viewership(
        members, viewing, channel_list, engine, period, credit_minutes, credits_per_day
    )
    return cells


def viewership_of_members(
    members: pa.Table,
    viewing: pa.Table | Path,
    *,
    channels: Sequence[str],
    engine: Engine,
    period: Sequence[date] | None = None,
    credit_minutes: int = 5,
    credits_per_day: int | None = None,
) -> pa.Table:
    """:func:`compute_viewership` for segment members already found.

    The release checks its segments' universes and differences on the same
    members it measures, so it finds them once and passes them here.

    Args:
        members: :func:`segment_members` output (``*`` included); the other
            arguments are those of :func:`compute_viewership`.

    Raises:
        InputError: ``viewing`` is missing a column or is unusable.
        ValueError: ``channels`` is empty or ``credit_minutes`` is not 1-15.
    """
    channel_list = _checked_arguments(viewing, channels, engine, credit_minutes)
    cells, _ = _viewership(
        members, viewing, channel_list, engine, period, credit_minutes, credits_per_day
    )
    return cells


def viewership_by_market(
    members: pa.Table,
    viewing: pa.Table | Path,
    markets: pa.Table,
    *,
    channels: Sequence[str],
    engine: Engine,
    period: Sequence[date] | None = None,
    credit_minutes: int = 5,
    credits_per_day: int | None = None,
) -> tuple[pa.Table, pa.Table]:
    """:func:`viewership_of_members`, and each market's cells from the same pass.

    A household's membership pattern carries its market, so the one pass over
    the viewing log that counts credits per pattern also counts them per
    (market, segment): the market cells are the same counts grouped again.
    A market's cells are exactly those of :func:`viewership_of_members` run
    on the market's own households alone.

    Args:
        members: :func:`segment_members` output (``*`` included).
        markets: ``household_id, market``, at most one market per household.
            Households without one count statewide only.
        channels, engine, period, credit_minutes, credits_per_day: As for
            :func:`compute_viewership`.

    Returns:
        ``(cells, market_cells)``: ``cells`` as :func:`viewership_of_members`
        returns them; ``market_cells`` has :data:`CELLS_SCHEMA` plus ``market``,
        the full grid of every (segment, market) with a household in it, for
        every segment but the intensity tiers (statewide only), in no
        particular order (its readers index it; sorting it costs as much as
        grouping it).

    Raises:
        InputError: ``viewing`` or ``markets`` is missing a column, or a
            household has two markets.
        ValueError: ``channels`` is empty or ``credit_minutes`` is not 1-15.
    """
    channel_list = _checked_arguments(viewing, channels, engine, credit_minutes)
    cells, by_market = _viewership(
        members, viewing, channel_list, engine, period, credit_minutes, credits_per_day, markets
    )
    assert by_market is not None  # markets were given
    return cells, by_market


def _checked_arguments(
    viewing: pa.Table | Path, channels: Sequence[str], engine: Engine, credit_minutes: int
) -> list[str]:
    """The channel list without repeats, after refusing unusable arguments."""
    if not 1 <= credit_minutes <= QUARTER_HOUR_SECONDS // 60:
        raise ValueError("credit_minutes must be between 1 and 15")
    channel_list = unique_channels(channels)
    if not channel_list:
        raise ValueError("channels must name at least one channel")
    check_columns(viewing, "viewing", ("household_id", "channel", "start", "end"), engine)
    return channel_list


def _viewership(
    members: pa.Table,
    viewing: pa.Table | Path,
    channel_list: list[str],
    engine: Engine,
    period: Sequence[date] | None,
    credit_minutes: int,
    credits_per_day: int | None = None,
    markets: pa.Table | None = None,
) -> tuple[pa.Table, pa.Table | None]:
    """The statewide cells, and with ``markets`` the market cells (else None)."""
    if credits_per_day is not None and credits_per_day < 1:
        raise ValueError("credits_per_day must be at least 1")
    universes = segment_universes(members, engine)
    days = resolve_period(viewing, engine, period)
    ids = pc.unique(members["household_id"])
    households = pa.table({"household_id": ids, "hid": pa.array(range(len(ids)), pa.int64())})
    placed = None if markets is None else _placed(households, markets, engine)
    # Published channels get ids 0..n-1; other channels still count towards HUT.
    seen = engine.query(
        "SELECT DISTINCT channel FROM viewing WHERE channel IS NOT NULL", {"viewing": viewing}
    )
    everything = channel_list + sorted(set(seen["channel"].to_pylist()) - set(channel_list))
    channel_ids = pa.table(
        {
            "channel": pa.array(everything, pa.string()),
            "cid": pa.array(range(len(everything)), pa.int64()),
        }
    )
    segments = engine.query(
        "SELECT ROW_NUMBER() OVER (ORDER BY segment) AS sid, segment, universe FROM universes",
        {"universes": universes},
    )
    members_ids = engine.query(
        "SELECT g.sid, h.hid FROM members m "
        "JOIN households h ON h.household_id = m.household_id "
        "JOIN segments g ON g.segment = m.segment",
        {"members": members, "households": households, "segments": segments},
    )
    grouped = _patterns(households, members_ids, segments.num_rows, engine, placed)
    layout = _PackedKeyLayout.of(
        days,
        grouped.n_households,
        grouped.n_patterns,
        channel_ids.num_rows,
        len(channel_list),
    )
    dayparts = daypart_table()
    # One query from the viewing rows to per-pattern counts: the credited
    # table is built once (materialised where the engine can) and feeds every
    # grain, and the viewing rows are read once.
    pattern_cells = engine.query(
        _pattern_cells_sql(engine.dialect, layout, days, credit_minutes * 60, credits_per_day),
        {
            "viewing": viewing,
            "households": grouped.households,
            "channel_ids": channel_ids,
            "offsets": offsets_table(days),
            "dayparts": dayparts,
        },
    )
    dimensions = {
        "channels": channel_ids.slice(0, len(channel_list)),
        "day_types": day_types_table(days),
        "dayparts": dayparts,
    }
    cells = _grid_cells(pattern_cells, grouped.patterns, segments, dimensions, engine)
    if placed is None or grouped.markets is None:
        return cells, None
    market_segments = engine.query(
        _MARKET_SEGMENTS_SQL, {"members": members_ids, "segments": segments, "placed": placed}
    )
    market_patterns = engine.query(
        _MARKET_PATTERNS_SQL,
        {
            "patterns": grouped.patterns,
            "pattern_markets": grouped.markets,
            "market_segments": market_segments,
        },
    )
    by_market = _grid_cells(
        pattern_cells, market_patterns, market_segments, dimensions, engine, market=True
    )
    return cells, by_market


def _grid_cells(
    pattern_cells: pa.Table,
    patterns: pa.Table,
    segments: pa.Table,
    dimensions: dict[str, pa.Table],
    engine: Engine,
    *,
    market: bool = False,
) -> pa.Table:
    """Per-pattern counts summed to ``segments(sid, segment, universe[, market])``, on the grid."""
    cells = engine.query(_SEGMENT_CELLS_SQL, {"pattern_cells": pattern_cells, "patterns": patterns})
    schema = CELLS_SCHEMA.append(pa.field("market", pa.string())) if market else CELLS_SCHEMA
    tables = {"cells": cells, "segments": segments, **dimensions}
    parts = [engine.query(_grid_sql(sql, market=market), tables).cast(schema) for sql in _GRIDS]
    cells = pa.concat_tables(parts)
    return cells if market else cells.sort_by(CELL_ORDER)
