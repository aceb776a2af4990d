"""Audience measurement per segment: AQH crediting, ratings, shares and reach.

Runs on the provider's side after assignment pseudonyms have been mapped back
to household IDs. The heavy work is SQL handed to an :class:`~linkage.engine.Engine`;
the output still holds a ``contributors`` count per cell and is unsuppressed —
:mod:`linkage.privacy` decides what may be released.

Crediting (the usual AQH convention): each tuning event is split across
quarter-hours (slot = floor(epoch seconds / 900), naive local time). A household
is credited to (channel, date, quarter-hour) when it was tuned to that channel
for at least ``credit_minutes`` within that quarter-hour. Overlapping events of
one household on one channel (two set-top boxes on the same programme) are
merged first so the same minute is never counted twice; separate events in one
quarter-hour add up. A household counts towards HUT (households using TV) in a
slot when it is credited to any channel there, including channels outside the
published list.

Calendar dates are used throughout: quarter-hour 0 is midnight and belongs to
the date it falls on (no 6 a.m. broadcast day).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from linkage.engine import Engine, SqlDialect
from linkage.errors import InputError

__all__ = [
    "ALL_SEGMENT",
    "CELLS_SCHEMA",
    "DAYPARTS",
    "INTENSITY_TIERS",
    "VIEWERSHIP_SCHEMA",
    "Daypart",
    "compute_viewership",
    "daypart_of",
    "household_intensity",
    "reference_viewership",
    "resolve_period",
    "segment_members",
    "segment_universes",
]

QUARTER_HOUR_SECONDS = 900
QUARTER_HOURS_PER_DAY = 96
DAY_SECONDS = 86_400
ALL_SEGMENT = "*"
"""Pseudo-segment: every assigned household (the base for index computation)."""

_EPOCH = datetime(1970, 1, 1)
_EPOCH_DATE = _EPOCH.date()


@dataclass(frozen=True)
class Daypart:
    """A named run of quarter-hours; ``end_qh < start_qh`` when it wraps midnight.

    Attributes:
        name: Daypart name as released.
        start_qh: First quarter-hour (0 = 00:00), inclusive.
        end_qh: Quarter-hour after the last one, exclusive (96 = midnight).
    """

    name: str
    start_qh: int
    end_qh: int

    @property
    def wraps_midnight(self) -> bool:
        """True when the daypart runs past midnight."""
        return self.end_qh < self.start_qh

    def quarter_hours(self) -> tuple[int, ...]:
        """The daypart's quarter-hours in broadcast order."""
        if self.wraps_midnight:
            return (*range(self.start_qh, QUARTER_HOURS_PER_DAY), *range(0, self.end_qh))
        return tuple(range(self.start_qh, self.end_qh))


DAYPARTS: tuple[Daypart, ...] = (
    Daypart("early_morning", 24, 36),  # 06:00-09:00
    Daypart("daytime", 36, 64),  # 09:00-16:00
    Daypart("early_fringe", 64, 72),  # 16:00-18:00
    Daypart("prime_access", 72, 80),  # 18:00-20:00
    Daypart("prime", 80, 92),  # 20:00-23:00
    Daypart("late_news", 92, 94),  # 23:00-23:30
    Daypart("late_fringe", 94, 4),  # 23:30-01:00
    Daypart("overnight", 4, 24),  # 01:00-06:00
)
"""Standard US dayparts; together they cover each of the 96 quarter-hours once."""

_QH_DAYPART: dict[int, str] = {qh: dp.name for dp in DAYPARTS for qh in dp.quarter_hours()}
assert sorted(_QH_DAYPART) == list(range(QUARTER_HOURS_PER_DAY))

INTENSITY_TIERS: tuple[tuple[str, float | None], ...] = (
    ("light", 120.0),
    ("medium", 300.0),
    ("heavy", None),
)
"""Viewing-intensity tiers: (name, exclusive upper bound in minutes per day)."""

VIEWERSHIP_SCHEMA = pa.schema(
    [
        ("grain", pa.string()),
        ("segment", pa.string()),
        ("channel", pa.string()),
        ("day_type", pa.string()),
        ("daypart", pa.string()),
        ("quarter_hour", pa.int16()),
        ("universe", pa.int64()),
        ("aqh_households", pa.float64()),
        ("rating", pa.float64()),
        ("share", pa.float64()),
        ("reach_households", pa.int64()),
        ("reach", pa.float64()),
        ("suppressed", pa.bool_()),
    ]
)
"""Columns of the released ``viewership`` payload (ARCHITECTURE.md)."""

CELLS_SCHEMA = VIEWERSHIP_SCHEMA.append(pa.field("contributors", pa.int64()))
"""Unreleased cells: the payload plus the distinct-household count behind each cell."""

_SORT_KEYS = [
    ("grain", "ascending"),
    ("segment", "ascending"),
    ("channel", "ascending"),
    ("day_type", "ascending"),
    ("daypart", "ascending"),
    ("quarter_hour", "ascending"),
]


def daypart_of(quarter_hour: int) -> str:
    """Name of the standard daypart containing ``quarter_hour`` (0-95)."""
    return _QH_DAYPART[quarter_hour]


def _day_type(day: date) -> str:
    return "weekend" if day.weekday() >= 5 else "weekday"


def _day_index(day: date) -> int:
    return (day - _EPOCH_DATE).days


# --------------------------------------------------------------------------- inputs


def _column_names(source: pa.Table | Path, name: str, engine: Engine) -> list[str]:
    if isinstance(source, Path):
        return list(engine.query(f"SELECT * FROM {name} LIMIT 0", {name: source}).column_names)
    return list(source.column_names)


def _check_columns(
    source: pa.Table | Path, name: str, required: Sequence[str], engine: Engine
) -> None:
    present = set(_column_names(source, name, engine))
    for column in required:
        if column not in present:
            raise InputError(
                f"{name} table has no such column",
                file=str(source) if isinstance(source, Path) else None,
                column=column,
                hint=f"{name} needs columns {', '.join(required)}",
            )


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


def resolve_period(
    viewing: pa.Table | Path, engine: Engine, period: Sequence[date] | None = None
) -> list[date]:
    """The sorted distinct dates of the reporting period.

    Args:
        viewing: Tuning events (``start``, ``end``).
        engine: Engine used to scan ``viewing`` when ``period`` is not given.
        period: Explicit dates; returned sorted and de-duplicated.

    Returns:
        Every calendar date from the first event's start to the last event's
        end when ``period`` is ``None`` (days without any viewing included).

    Raises:
        InputError: ``period`` is empty, or it is ``None`` and there are no events.
    """
    if period is not None:
        days = sorted(set(period))
        if not days:
            raise InputError("the reporting period has no dates")
        return days
    d = engine.dialect
    span = engine.query(
        f"SELECT MIN({d.epoch_seconds(d.ident('start'))}) AS lo, "
        f"MAX({d.epoch_seconds(d.ident('end'))}) AS hi FROM viewing",
        {"viewing": viewing},
    )
    lo, hi = span["lo"][0].as_py(), span["hi"][0].as_py()
    if lo is None or hi is None:
        raise InputError("viewing table has no events", hint="pass an explicit period to report on")
    first = _EPOCH_DATE + timedelta(days=lo // DAY_SECONDS)
    last = _EPOCH_DATE + timedelta(days=max(lo, hi - 1) // DAY_SECONDS)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


_DAY_TYPES = ("weekday", "weekend")


def _period_table(days: Sequence[date]) -> pa.Table:
    return pa.table(
        {
            "day_index": pa.array([_day_index(d) for d in days], pa.int64()),
            "dti": pa.array([_DAY_TYPES.index(_day_type(d)) for d in days], pa.int64()),
        }
    )


def _day_types_table(days: Sequence[date]) -> pa.Table:
    counts = [sum(1 for d in days if _day_type(d) == t) for t in _DAY_TYPES]
    present = [i for i, n in enumerate(counts) if n]
    return pa.table(
        {
            "dti": pa.array(present, pa.int64()),
            "day_type": pa.array([_DAY_TYPES[i] for i in present], pa.string()),
            "n_days": pa.array([counts[i] for i in present], pa.int64()),
        }
    )


def _daypart_table() -> pa.Table:
    rows = [(i, dp.name, qh) for i, dp in enumerate(DAYPARTS) for qh in dp.quarter_hours()]
    return pa.table(
        {
            "dpi": pa.array([r[0] for r in rows], pa.int64()),
            "daypart": pa.array([r[1] for r in rows], pa.string()),
            "qh": pa.array([r[2] for r in rows], pa.int64()),
        }
    )


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


# --------------------------------------------------------------------------- SQL


def _offsets_table(days: Sequence[date]) -> pa.Table:
    """``k`` = 0 .. slots in the period's date range: the rows an interval expands into."""
    span = (_day_index(days[-1]) - _day_index(days[0]) + 1) * QUARTER_HOURS_PER_DAY
    return pa.table({"k": pa.array(range(span), pa.int64())})


def _tuned_seconds_sql(d: SqlDialect, keys: Sequence[str], lo_s: int, hi_s: int) -> str:
    """CTEs ending in ``slot_secs(<keys>, slot, secs)``: seconds tuned per slot.

    Reads ``events(<keys>, start, end)`` and ``offsets(k)``. Events are clipped
    to ``[lo_s, hi_s)``; overlapping events with equal ``keys`` are merged
    (gaps-and-islands) so no second is counted twice. Intervals expand into
    slots by a join with the ``offsets`` numbers table, which is plain SQL on
    every engine (and, on DuckDB, faster than a lateral ``UNNEST``).
    """
    key_list = ", ".join(keys)
    start, end = d.epoch_seconds(d.ident("start")), d.epoch_seconds(d.ident("end"))
    qs = QUARTER_HOUR_SECONDS
    return f"""
    ev AS (
        SELECT {key_list},
               CASE WHEN {start} < {lo_s} THEN {lo_s} ELSE {start} END AS s,
               CASE WHEN {end} > {hi_s} THEN {hi_s} ELSE {end} END AS e
        FROM events
        WHERE {end} > {lo_s} AND {start} < {hi_s}
    ),
    ordered AS (
        SELECT {key_list}, s, e,
               MAX(e) OVER (PARTITION BY {key_list} ORDER BY s, e
                            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end
        FROM ev WHERE e > s
    ),
    islands AS (
        SELECT {key_list}, s, e,
               SUM(CASE WHEN prev_end IS NULL OR s > prev_end THEN 1 ELSE 0 END)
                   OVER (PARTITION BY {key_list} ORDER BY s, e
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS island
        FROM ordered
    ),
    merged AS (
        SELECT {key_list}, MIN(s) AS s, MAX(e) AS e FROM islands GROUP BY {key_list}, island
    ),
    spans AS (
        SELECT {key_list}, s, e,
               CAST(FLOOR(s / {qs}.0) AS BIGINT) AS first_slot,
               CAST(FLOOR((e - 1) / {qs}.0) AS BIGINT) AS last_slot
        FROM merged
    ),
    slot_secs AS (
        SELECT {", ".join(f"m.{k}" for k in keys)}, m.first_slot + o.k AS slot,
               LEAST(m.e, (m.first_slot + o.k + 1) * {qs})
                   - GREATEST(m.s, (m.first_slot + o.k) * {qs}) AS secs
        FROM spans m JOIN offsets o ON o.k <= m.last_slot - m.first_slot
    )"""


def _credited(
    viewing: pa.Table | Path,
    households: pa.Table,
    channel_ids: pa.Table,
    days: Sequence[date],
    credit_minutes: int,
    engine: Engine,
) -> pa.Table:
    """``(hid, cid, dti, day_index, qh)`` for every credited slot in the period.

    Households, channels and day types travel as integer surrogates (``hid``,
    ``cid``, ``dti``): grouping and joining millions of rows on integers is
    several times faster than on strings, and names are joined back only on
    the small result grid.
    """
    d = engine.dialect
    lo_s = _day_index(days[0]) * DAY_SECONDS
    hi_s = (_day_index(days[-1]) + 1) * DAY_SECONDS
    qpd = QUARTER_HOURS_PER_DAY
    sql = f"""
    WITH events AS (
        SELECT h.hid, c.cid, v.{d.ident("start")}, v.{d.ident("end")}
        FROM viewing v
        JOIN households h ON h.household_id = v.household_id
        JOIN channel_ids c ON c.channel = v.channel
    ),
    {_tuned_seconds_sql(d, ["hid", "cid"], lo_s, hi_s)},
    credited AS (
        SELECT hid, cid, slot FROM slot_secs
        GROUP BY hid, cid, slot
        HAVING SUM(secs) >= {credit_minutes * 60}
    ),
    dated AS (
        SELECT hid, cid, CAST(FLOOR(slot / {qpd}.0) AS BIGINT) AS day_index, slot FROM credited
    )
    SELECT t.hid, t.cid, p.dti, t.day_index, t.slot - {qpd} * t.day_index AS qh
    FROM dated t JOIN period p ON p.day_index = t.day_index
    """
    tables = {
        "viewing": viewing,
        "households": households,
        "channel_ids": channel_ids,
        "period": _period_table(days),
        "offsets": _offsets_table(days),
    }
    return engine.query(sql, tables)


# Each grain first aggregates per household (so the segment join multiplies
# per-household rows, and COUNT(*) after the join is a distinct-household
# count), then per segment; the public grid is a cross join, left-joined to
# the counts, with names joined back last.
_COMMON_CTES = """
    hut_slots AS (SELECT DISTINCT hid, dti, day_index, qh FROM credited),
    published AS (SELECT c.* FROM credited c JOIN channels ch ON ch.cid = c.cid)"""


def _figures_sql(num: str, den: str, hut: str, universe: str) -> str:
    """aqh_households, rating, share from credited counts (numerator over ``den`` slots)."""
    aqh = f"CAST(COALESCE({num}, 0) AS DOUBLE) / {den}"
    share = (
        f"CASE WHEN COALESCE({hut}, 0) > 0 "
        f"THEN CAST(COALESCE({num}, 0) AS DOUBLE) * 100.0 / {hut} ELSE 0.0 END"
    )
    return f"{aqh} AS aqh_households, {aqh} * 100.0 / {universe} AS rating, {share} AS share"


_QH_SQL = f"""
    WITH {_COMMON_CTES},
    per_hh AS (
        SELECT hid, cid, dti, qh, COUNT(*) AS n FROM published GROUP BY hid, cid, dti, qh
    ),
    cells AS (
        SELECT m.sid, p.cid, p.dti, p.qh, SUM(p.n) AS n, COUNT(*) AS contributors
        FROM per_hh p JOIN members m ON m.hid = p.hid
        GROUP BY m.sid, p.cid, p.dti, p.qh
    ),
    hut_hh AS (SELECT hid, dti, qh, COUNT(*) AS n FROM hut_slots GROUP BY hid, dti, qh),
    hut AS (
        SELECT m.sid, x.dti, x.qh, SUM(x.n) AS n
        FROM hut_hh x JOIN members m ON m.hid = x.hid
        GROUP BY m.sid, x.dti, x.qh
    )
    SELECT 'quarter_hour' AS grain, g.segment, ch.channel, dt.day_type, dp.daypart,
           CAST(dp.qh AS SMALLINT) AS quarter_hour, g.universe,
           {_figures_sql("c.n", "dt.n_days", "h.n", "g.universe")},
           CAST(NULL AS BIGINT) AS reach_households, CAST(NULL AS DOUBLE) AS reach,
           FALSE AS suppressed, COALESCE(c.contributors, 0) AS contributors
    FROM segments g CROSS JOIN channels ch CROSS JOIN day_types dt CROSS JOIN dayparts dp
    LEFT JOIN cells c ON c.sid = g.sid AND c.cid = ch.cid AND c.dti = dt.dti AND c.qh = dp.qh
    LEFT JOIN hut h ON h.sid = g.sid AND h.dti = dt.dti AND h.qh = dp.qh
"""

_DAYPART_SQL = f"""
    WITH {_COMMON_CTES},
    dp_sizes AS (SELECT dpi, daypart, COUNT(*) AS n_qh FROM dayparts GROUP BY dpi, daypart),
    per_hh AS (
        SELECT p.hid, p.cid, p.dti, dp.dpi, COUNT(*) AS n
        FROM published p JOIN dayparts dp ON dp.qh = p.qh
        GROUP BY p.hid, p.cid, p.dti, dp.dpi
    ),
    cells AS (
        SELECT m.sid, p.cid, p.dti, p.dpi, SUM(p.n) AS n, COUNT(*) AS contributors
        FROM per_hh p JOIN members m ON m.hid = p.hid
        GROUP BY m.sid, p.cid, p.dti, p.dpi
    ),
    hut_hh AS (
        SELECT x.hid, x.dti, dp.dpi, COUNT(*) AS n
        FROM hut_slots x JOIN dayparts dp ON dp.qh = x.qh
        GROUP BY x.hid, x.dti, dp.dpi
    ),
    hut AS (
        SELECT m.sid, x.dti, x.dpi, SUM(x.n) AS n
        FROM hut_hh x JOIN members m ON m.hid = x.hid
        GROUP BY m.sid, x.dti, x.dpi
    )
    SELECT 'daypart' AS grain, g.segment, ch.channel, dt.day_type, z.daypart,
           CAST(NULL AS SMALLINT) AS quarter_hour, g.universe,
           {_figures_sql("c.n", "(dt.n_days * z.n_qh)", "h.n", "g.universe")},
           CAST(NULL AS BIGINT) AS reach_households, CAST(NULL AS DOUBLE) AS reach,
           FALSE AS suppressed, COALESCE(c.contributors, 0) AS contributors
    FROM segments g CROSS JOIN channels ch CROSS JOIN day_types dt CROSS JOIN dp_sizes z
    LEFT JOIN cells c ON c.sid = g.sid AND c.cid = ch.cid AND c.dti = dt.dti AND c.dpi = z.dpi
    LEFT JOIN hut h ON h.sid = g.sid AND h.dti = dt.dti AND h.dpi = z.dpi
"""

_PERIOD_SQL = f"""
    WITH {_COMMON_CTES},
    total AS (SELECT SUM(n_days) * {QUARTER_HOURS_PER_DAY} AS n_slots FROM day_types),
    per_hh AS (SELECT hid, cid, COUNT(*) AS n FROM published GROUP BY hid, cid),
    cells AS (
        SELECT m.sid, p.cid, SUM(p.n) AS n, COUNT(*) AS reach_hh
        FROM per_hh p JOIN members m ON m.hid = p.hid
        GROUP BY m.sid, p.cid
    ),
    hut_hh AS (SELECT hid, COUNT(*) AS n FROM hut_slots GROUP BY hid),
    hut AS (
        SELECT m.sid, SUM(x.n) AS n FROM hut_hh x JOIN members m ON m.hid = x.hid
        GROUP BY m.sid
    )
    SELECT 'period' AS grain, g.segment, ch.channel, 'all' AS day_type, 'all' AS daypart,
           CAST(NULL AS SMALLINT) AS quarter_hour, g.universe,
           {_figures_sql("c.n", "t.n_slots", "h.n", "g.universe")},
           COALESCE(c.reach_hh, 0) AS reach_households,
           CAST(COALESCE(c.reach_hh, 0) AS DOUBLE) * 100.0 / g.universe AS reach,
           FALSE AS suppressed, COALESCE(c.reach_hh, 0) AS contributors
    FROM segments g CROSS JOIN channels ch CROSS JOIN total t
    LEFT JOIN cells c ON c.sid = g.sid AND c.cid = ch.cid
    LEFT JOIN hut h ON h.sid = g.sid
"""

_MEMBERS_SQL = f"""
    SELECT DISTINCT segment, household_id FROM assignments WHERE segment <> '{ALL_SEGMENT}'
    UNION ALL
    SELECT DISTINCT '{ALL_SEGMENT}' AS segment, household_id FROM assignments
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

    Returns:
        A table with :data:`CELLS_SCHEMA` (includes ``contributors``, which
        must never be released).

    Raises:
        InputError: An input table is missing a column or is unusable.
        ValueError: ``channels`` is empty or ``credit_minutes`` is not 1-15.
    """
    if not 1 <= credit_minutes <= QUARTER_HOUR_SECONDS // 60:
        raise ValueError("credit_minutes must be between 1 and 15")
    channel_list = _unique(channels)
    if not channel_list:
        raise ValueError("channels must name at least one channel")
    _check_columns(viewing, "viewing", ("household_id", "channel", "start", "end"), engine)
    members = segment_members(assignments, engine)
    universes = segment_universes(members, engine)
    days = resolve_period(viewing, engine, period)
    ids = pc.unique(members["household_id"])
    households = pa.table({"household_id": ids, "hid": pa.array(range(len(ids)), pa.int64())})
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
    credited = _credited(viewing, households, channel_ids, days, credit_minutes, engine)
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
    tables = {
        "credited": credited,
        "members": members_ids,
        "segments": segments,
        "channels": channel_ids.slice(0, len(channel_list)),
        "day_types": _day_types_table(days),
        "dayparts": _daypart_table(),
    }
    parts = [
        engine.query(sql, tables).cast(CELLS_SCHEMA) for sql in (_QH_SQL, _DAYPART_SQL, _PERIOD_SQL)
    ]
    return pa.concat_tables(parts).sort_by(_SORT_KEYS)


def household_intensity(
    viewing: pa.Table | Path,
    *,
    engine: Engine,
    period: Sequence[date] | None = None,
) -> pa.Table:
    """Average minutes of TV per day and intensity tier of each viewing household.

    Minutes count time with any set tuned (overlapping events merged), within
    the period, divided by the number of days in the period. Households with
    no viewing in the period are absent (treat them as ``light``).

    Returns:
        ``household_id`` (string), ``avg_minutes_per_day`` (float64), ``tier``
        (``light`` < 120 min/day <= ``medium`` < 300 <= ``heavy``), sorted by
        household_id.
    """
    _check_columns(viewing, "viewing", ("household_id", "start", "end"), engine)
    days = resolve_period(viewing, engine, period)
    d = engine.dialect
    lo_s = _day_index(days[0]) * DAY_SECONDS
    hi_s = (_day_index(days[-1]) + 1) * DAY_SECONDS
    qpd = QUARTER_HOURS_PER_DAY
    tiers = " ".join(
        f"WHEN minutes < {bound} THEN '{name}'" for name, bound in INTENSITY_TIERS if bound
    )
    top = INTENSITY_TIERS[-1][0]
    sql = f"""
    WITH events AS (
        SELECT household_id, {d.ident("start")}, {d.ident("end")} FROM viewing
    ),
    {_tuned_seconds_sql(d, ["household_id"], lo_s, hi_s)},
    in_period AS (
        SELECT s.household_id, s.secs FROM slot_secs s
        JOIN period p ON p.day_index = CAST(FLOOR(s.slot / {qpd}.0) AS BIGINT)
    ),
    per_hh AS (
        SELECT household_id, CAST(SUM(secs) AS DOUBLE) / 60.0 / {len(days)} AS minutes
        FROM in_period GROUP BY household_id
    )
    SELECT household_id, minutes AS avg_minutes_per_day,
           CASE {tiers} ELSE '{top}' END AS tier
    FROM per_hh ORDER BY household_id
    """
    tables = {"viewing": viewing, "period": _period_table(days), "offsets": _offsets_table(days)}
    result = engine.query(sql, tables)
    return result.cast(
        pa.schema(
            [
                ("household_id", pa.string()),
                ("avg_minutes_per_day", pa.float64()),
                ("tier", pa.string()),
            ]
        )
    )


# --------------------------------------------------------------------------- reference


def _seconds(ts: datetime) -> int:
    return int((ts - _EPOCH).total_seconds())


def reference_viewership(
    assignments: pa.Table,
    viewing: pa.Table,
    *,
    channels: Sequence[str],
    period: Sequence[date] | None = None,
    credit_minutes: int = 5,
) -> pa.Table:
    """Slow, obviously-correct twin of :func:`compute_viewership`, for tests only.

    Walks every tuned second of every event in plain Python; use on a few
    hundred events at most.
    """
    members: dict[str, set[str]] = defaultdict(set)
    for row in assignments.select(["household_id", "segment"]).to_pylist():
        if row["segment"] != ALL_SEGMENT:
            members[row["segment"]].add(row["household_id"])
        members[ALL_SEGMENT].add(row["household_id"])
    events = viewing.select(["household_id", "channel", "start", "end"]).to_pylist()
    if period is None:
        first = min(e["start"] for e in events).date()
        last = max(max(e["end"] - timedelta(seconds=1), e["start"]) for e in events).date()
        days = {first + timedelta(days=i) for i in range((last - first).days + 1)}
    else:
        days = set(period)
    n_days = {t: sum(1 for d in days if _day_type(d) == t) for t in ("weekday", "weekend")}

    tuned: dict[tuple[str, str, date, int], set[int]] = defaultdict(set)
    for e in events:
        for second in range(_seconds(e["start"]), _seconds(e["end"])):
            moment = _EPOCH + timedelta(seconds=second)
            if moment.date() in days:
                qh = (moment.hour * 60 + moment.minute) // 15
                tuned[(e["household_id"], e["channel"], moment.date(), qh)].add(second)
    credited = {key for key, secs in tuned.items() if len(secs) >= credit_minutes * 60}
    hut = {(hh, day, qh) for hh, _, day, qh in credited}

    rows: list[dict[str, object]] = []
    channel_list = _unique(channels)

    def figures(n: int, slots: int, hut_n: int, universe: int) -> dict[str, object]:
        aqh = n / slots
        return {
            "aqh_households": aqh,
            "rating": aqh * 100.0 / universe,
            "share": n * 100.0 / hut_n if hut_n else 0.0,
        }

    for segment, households in members.items():
        universe = len(households)
        for channel in channel_list:
            seg = {
                (hh, day, qh) for hh, ch, day, qh in credited if ch == channel and hh in households
            }
            seg_hut = {(hh, day, qh) for hh, day, qh in hut if hh in households}
            base = {"segment": segment, "channel": channel, "universe": universe}
            for day_type, nd in n_days.items():
                if not nd:
                    continue
                typed = {(hh, qh) for hh, day, qh in seg if _day_type(day) == day_type}
                typed_n = [x for x in seg if _day_type(x[1]) == day_type]
                typed_hut = [x for x in seg_hut if _day_type(x[1]) == day_type]
                for qh in range(QUARTER_HOURS_PER_DAY):
                    n = sum(1 for x in typed_n if x[2] == qh)
                    rows.append(
                        {
                            **base,
                            "grain": "quarter_hour",
                            "day_type": day_type,
                            "daypart": daypart_of(qh),
                            "quarter_hour": qh,
                            **figures(n, nd, sum(1 for x in typed_hut if x[2] == qh), universe),
                            "contributors": len({hh for hh, q in typed if q == qh}),
                        }
                    )
                for dp in DAYPARTS:
                    qhs = set(dp.quarter_hours())
                    n = sum(1 for x in typed_n if x[2] in qhs)
                    hut_n = sum(1 for x in typed_hut if x[2] in qhs)
                    rows.append(
                        {
                            **base,
                            "grain": "daypart",
                            "day_type": day_type,
                            "daypart": dp.name,
                            "quarter_hour": None,
                            **figures(n, nd * len(qhs), hut_n, universe),
                            "contributors": len({hh for hh, q in typed if q in qhs}),
                        }
                    )
            reach = len({hh for hh, _, _ in seg})
            rows.append(
                {
                    **base,
                    "grain": "period",
                    "day_type": "all",
                    "daypart": "all",
                    "quarter_hour": None,
                    **figures(len(seg), len(days) * QUARTER_HOURS_PER_DAY, len(seg_hut), universe),
                    "reach_households": reach,
                    "reach": reach * 100.0 / universe,
                    "contributors": reach,
                }
            )
    for row in rows:
        row.setdefault("reach_households", None)
        row.setdefault("reach", None)
        row["suppressed"] = False
    return pa.Table.from_pylist(rows, schema=CELLS_SCHEMA).sort_by(_SORT_KEYS)
