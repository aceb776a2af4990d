"""Viewing intensity: each household's average minutes of TV a day, its tier, and tier segments.

The provider may release each segment split by how much its households watch
(light < 2 h/day <= medium < 5 h/day <= heavy). The tiers are computed here
from the viewing log alone, then crossed with the campaign's segments into
provider-derived segments ``<segment>:<tier>``; those go through the same
release rules as any other (and :func:`linkage.release.rules.prune_derived_segments`
drops thin ones rather than refusing the release). Tier bounds are
:data:`linkage.measure.calendar.INTENSITY_TIERS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from linkage.engine import Engine, SqlDialect
from linkage.errors import InputError
from linkage.measure.aggregation import check_columns
from linkage.measure.calendar import (
    DAY_SECONDS,
    INTENSITY_TIERS,
    QUARTER_HOUR_SECONDS,
    QUARTER_HOURS_PER_DAY,
    TIER_NAMES,
    day_index,
    offsets_table,
    period_table,
    resolve_period,
)
from linkage.tables import ALL_HOUSEHOLDS, TIER_SEPARATOR

__all__ = ["cross_with_intensity", "household_intensity", "tier_code"]


def _require(table: pa.Table, columns: Sequence[str], what: str) -> None:
    for column in columns:
        if column not in table.column_names:
            raise InputError(f"{what} has no such column", column=column)


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
    check_columns(viewing, "viewing", ("household_id", "start", "end"), engine)
    days = resolve_period(viewing, engine, period)
    d = engine.dialect
    lo_s = day_index(days[0]) * DAY_SECONDS
    hi_s = (day_index(days[-1]) + 1) * DAY_SECONDS
    qpd = QUARTER_HOURS_PER_DAY
    tiers = " ".join(
        f"WHEN minutes < {bound} THEN '{name}'" for name, bound in INTENSITY_TIERS if bound
    )
    top = INTENSITY_TIERS[-1][0]
    indices = [day_index(day) for day in days]
    if indices == list(range(indices[0], indices[0] + len(indices))):
        # Consecutive days: every second of the clipped events is in the period,
        # so no interval needs cutting into quarter-hours, nor merging: in start
        # order each event adds what reaches past the latest end before it.
        in_period = """in_period AS (
        SELECT household_id,
               CASE WHEN prev_end IS NULL OR s >= prev_end THEN e - s
                    WHEN e > prev_end THEN e - prev_end ELSE 0 END AS secs
        FROM ordered
    )"""
    else:
        in_period = f"""in_period AS (
        SELECT s.household_id, s.secs FROM slot_secs s
        JOIN period p ON p.day_index = CAST(FLOOR(s.slot / {qpd}.0) AS BIGINT)
    )"""
    sql = f"""
    WITH events AS (
        SELECT household_id, {d.ident("start")}, {d.ident("end")} FROM viewing
    ),
    {_tuned_seconds_sql(d, ["household_id"], lo_s, hi_s)},
    {in_period},
    per_hh AS (
        SELECT household_id, CAST(SUM(secs) AS DOUBLE) / 60.0 / {len(days)} AS minutes
        FROM in_period GROUP BY household_id
    )
    SELECT household_id, minutes AS avg_minutes_per_day,
           CASE {tiers} ELSE '{top}' END AS tier
    FROM per_hh ORDER BY household_id
    """
    tables = {"viewing": viewing, "period": period_table(days), "offsets": offsets_table(days)}
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


def tier_code(segment: str, tier: str) -> str:
    """The code of ``segment``'s viewing-intensity ``tier``: ``<segment>:<tier>``."""
    return f"{segment}{TIER_SEPARATOR}{tier}"


def cross_with_intensity(
    assignments: pa.Table, intensity: pa.Table, *, include_all: bool = True
) -> pa.Table:
    """Add ``<segment>:<tier>`` rows so segments can be reported per viewing-intensity tier.

    Runs on the provider's side, between mapping pseudonyms back to household
    IDs and :func:`linkage.measure.aggregation.compute_viewership`. The new segments
    go through the same release rules as any other (k, minimum universe,
    differencing), so a thin tier is refused or suppressed, not leaked.

    Args:
        assignments: ``household_id``, ``segment`` (segment codes; ``*`` rows
            only mark matched households in no segment).
        intensity: Output of :func:`household_intensity`
            (``household_id``, ``avg_minutes_per_day``, ``tier``). Households
            absent from it watched nothing in the period and count as ``light``.
        include_all: Also add ``*:<tier>`` for every assigned household, the
            base for a tier's index.

    Returns:
        The input rows followed by the tier rows, columns ``household_id``
        and ``segment`` (strings), duplicates removed, input order kept.

    Raises:
        InputError: A column is missing or holds nulls, or a tier is unknown.
    """
    _require(assignments, ("household_id", "segment"), "assignments")
    _require(intensity, ("household_id", "tier"), "intensity")
    for column in ("household_id", "segment"):
        if assignments[column].null_count:
            raise InputError("assignments column holds nulls", column=column)
    listed, tiers = (intensity[c].cast(pa.string()) for c in ("household_id", "tier"))
    known = pc.is_in(tiers, value_set=pa.array(TIER_NAMES, pa.string()))
    bad = pc.or_(pc.is_null(listed), pc.invert(pc.fill_null(known, False)))
    if pc.any(bad).as_py():
        raise InputError(
            "intensity row has no household or an unknown tier",
            column="tier",
            row=pc.index(bad, True).as_py(),
        )
    base = assignments.select(["household_id", "segment"]).cast(
        pa.schema([("household_id", pa.string()), ("segment", pa.string())])
    )
    # A household listed twice takes its last tier; one absent watched nothing (light).
    last_first = pa.array(range(intensity.num_rows - 1, -1, -1), pa.int64())
    at = pc.index_in(base["household_id"], value_set=listed.take(last_first))
    tier = pc.fill_null(tiers.take(last_first).take(at), TIER_NAMES[0])
    # Input rows first, then each row's own tier row and its "*" tier row, first copies kept.
    n = base.num_rows
    households = base["household_id"]
    parts = [base.append_column("position", pa.array(range(n), pa.int64()))]
    own = pc.not_equal(base["segment"], ALL_HOUSEHOLDS)
    parts.append(
        pa.table(
            {
                "household_id": households,
                "segment": pc.binary_join_element_wise(base["segment"], tier, TIER_SEPARATOR),
                "position": pa.array(range(n, 3 * n, 2), pa.int64()),
            }
        ).filter(own)
    )
    if include_all:
        every = pc.binary_join_element_wise(ALL_HOUSEHOLDS, tier, TIER_SEPARATOR)
        positions = pa.array(range(n + 1, 3 * n + 1, 2), pa.int64())
        parts.append(
            pa.table({"household_id": households, "segment": every, "position": positions})
        )
    first = (
        pa.concat_tables(parts)
        .group_by(["household_id", "segment"])
        .aggregate([("position", "min")])
        .sort_by("position_min")
    )
    return first.select(["household_id", "segment"])
