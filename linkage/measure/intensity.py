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
        # Consecutive days: every second of the clipped, merged intervals is
        # in the period, so no interval needs cutting into quarter-hours.
        in_period = "in_period AS (SELECT household_id, e - s AS secs FROM merged)"
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
    tier_of: dict[str, str] = {}
    for row, (household, tier) in enumerate(
        zip(intensity["household_id"].to_pylist(), intensity["tier"].to_pylist(), strict=True)
    ):
        if household is None or tier not in TIER_NAMES:
            raise InputError(
                "intensity row has no household or an unknown tier", column="tier", row=row
            )
        tier_of[str(household)] = str(tier)
    light = TIER_NAMES[0]
    households = [str(h) for h in assignments["household_id"].to_pylist()]
    segments = [str(s) for s in assignments["segment"].to_pylist()]
    seen: set[tuple[str, str]] = set()
    out_households: list[str] = []
    out_segments: list[str] = []

    def add(household: str, segment: str) -> None:
        if (household, segment) not in seen:
            seen.add((household, segment))
            out_households.append(household)
            out_segments.append(segment)

    for household, segment in zip(households, segments, strict=True):
        add(household, segment)
    for household, segment in zip(households, segments, strict=True):
        tier = tier_of.get(household, light)
        if segment != ALL_HOUSEHOLDS:
            add(household, tier_code(segment, tier))
        if include_all:
            add(household, tier_code(ALL_HOUSEHOLDS, tier))
    return pa.table(
        {
            "household_id": pa.array(out_households, pa.string()),
            "segment": pa.array(out_segments, pa.string()),
        }
    )
