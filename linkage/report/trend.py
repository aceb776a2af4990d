"""The weekly trend: week-over-week figures from several exchanges of a panel, and retention.

Each week is its own exchange under its own keys, rids and segment codes:
nothing the campaign receives links two weeks at the household level. What
ties them is the campaign's own knowledge: the segment *names* (each week's
release is decoded with that week's codes) and, privately, its week-to-week
map of rids (:func:`week_to_week_map`, written by ``campaign tokenize
--previous``; never sent, and not needed for the trend).

:func:`weekly_trend` compares each week's release with the week before it,
per plain segment (tiers are left out: a household's tier is this week's
viewing, so a tier's "change" mixes households), channel, day type and
daypart, statewide (rows with ``market == "*"`` when the release carries a
market column; every row otherwise). For rating, share (daypart and period
grains) and reach (period grain) it gives both weeks, the change and the 95%
half-width of the change: the two releases' noises are independent, so the
half-widths combine as ``sqrt(ci_a**2 + ci_b**2)``. A cell suppressed in
either week has no change. The retention table is the provider's
``retention`` release of the latest week, decoded.

Pure: decoded tables in, Arrow tables out.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from linkage.measure import split_tier
from linkage.plan import statewide_rows
from linkage.report.decode import decode_viewership, require_columns

__all__ = [
    "RETENTION_CSV",
    "TREND_CSV",
    "TREND_METRICS",
    "WeeklyTrend",
    "decode_retention",
    "week_over_week",
    "week_to_week_map",
    "weekly_trend",
]

TREND_CSV: Final = "trend.csv"
"""File name of :attr:`WeeklyTrend.changes`."""
RETENTION_CSV: Final = "retention.csv"
"""File name of :attr:`WeeklyTrend.retention`."""

TREND_METRICS: Final = ("rating", "share", "reach")
"""The figures compared week over week (reach at the period grain only)."""

_KEYS: Final = ("grain", "segment", "channel", "day_type", "daypart")
_GRAINS: Final = ("daypart", "period")


@dataclass(frozen=True)
class WeeklyTrend:
    """The trend section's tables.

    Attributes:
        weeks: The exchanges compared, oldest first.
        changes: One row per (pair of consecutive weeks, cell): both weeks'
            figures, the change and its 95% half-width (``trend.csv``).
        retention: The latest week's decoded retention release, or None.
    """

    weeks: tuple[str, ...]
    changes: pa.Table
    retention: pa.Table | None = None

    @property
    def tables(self) -> dict[str, pa.Table]:
        """File name -> CSV table."""
        out = {TREND_CSV: self.changes}
        if self.retention is not None:
            out[RETENTION_CSV] = self.retention
        return out


def _cells(decoded: pa.Table) -> pa.Table:
    """Statewide, plain-segment rows at the compared grains, keyed and with the figures."""
    require_columns(decoded, (*_KEYS, "rating", "share", "reach"), "viewership")
    rows = statewide_rows(decoded)
    rows = rows.filter(pc.is_in(rows["grain"], pa.array(_GRAINS, pa.string())))
    plain = [split_tier(str(s))[1] is None for s in rows["segment"].to_pylist()]
    rows = rows.filter(pa.array(plain, pa.bool_()))
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        key: rows[key].cast(pa.string()).fill_null("") for key in _KEYS
    }
    for metric in TREND_METRICS:
        columns[metric] = rows[metric].cast(pa.float64())
        ci = f"{metric}_ci"
        columns[ci] = (
            rows[ci].cast(pa.float64())
            if ci in rows.column_names
            else pa.nulls(rows.num_rows, pa.float64())
        )
    return pa.table(columns)


def week_over_week(
    previous: pa.Table, current: pa.Table, *, previous_exchange: str, exchange: str
) -> pa.Table:
    """One pair of weeks: both figures, the change and its 95% half-width per cell.

    Args:
        previous: The earlier week's decoded release (segment names).
        current: The later week's decoded release.
        previous_exchange: The earlier exchange id (a column of the output).
        exchange: The later exchange id.

    Returns:
        ``exchange, previous_exchange`` and the cell keys, then per metric
        ``<m>_previous, <m>, <m>_change, <m>_change_ci``; cells in both weeks only.
    """
    a, b = _cells(previous), _cells(current)
    a = a.rename_columns([c if c in _KEYS else f"{c}__a" for c in a.column_names])
    joined = b.join(a, keys=list(_KEYS), join_type="inner").sort_by(
        [(k, "ascending") for k in _KEYS]
    )
    out: dict[str, pa.Array] = {
        "exchange": pa.array([exchange] * joined.num_rows, pa.string()),
        "previous_exchange": pa.array([previous_exchange] * joined.num_rows, pa.string()),
    }
    for key in _KEYS:
        out[key] = joined[key].combine_chunks()
    for metric in TREND_METRICS:
        was = joined[f"{metric}__a"].combine_chunks()
        now = joined[metric].combine_chunks()
        change = pc.subtract(now, was)
        ci_a = _floats(joined[f"{metric}_ci__a"])
        ci_b = _floats(joined[f"{metric}_ci"])
        combined = np.sqrt(ci_a**2 + ci_b**2)
        blank = np.isnan(combined) | np.asarray(pc.is_null(change).to_numpy(zero_copy_only=False))
        out[f"{metric}_previous"] = was
        out[metric] = now
        out[f"{metric}_change"] = change
        out[f"{metric}_change_ci"] = pa.array(np.nan_to_num(combined), pa.float64(), mask=blank)
    return pa.table(out)


def _floats(column: pa.ChunkedArray) -> npt.NDArray[np.float64]:
    return np.asarray(
        column.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False), dtype=float
    )


def decode_retention(retention: pa.Table, codes: Mapping[str, str]) -> pa.Table:
    """A ``retention`` payload with segment names (``*`` -> ``all_matched``), suppressed last.

    Raises:
        InputError: A code this campaign did not issue for the exchange.
    """
    decoded = decode_viewership(retention, codes)
    keep = [
        c
        for c in (
            "segment",
            "channel",
            "earlier_first_day",
            "earlier_last_day",
            "earlier_households",
            "both_households",
            "retention",
            "retention_ci",
            "suppressed",
        )
        if c in decoded.column_names
    ]
    return decoded.select(keep).sort_by(
        [("suppressed", "ascending"), ("segment", "ascending"), ("channel", "ascending")]
    )


def weekly_trend(
    weeks: Sequence[tuple[str, pa.Table]], retention: pa.Table | None = None
) -> WeeklyTrend:
    """Week-over-week changes of consecutive weeks, and the latest week's retention.

    Args:
        weeks: ``(exchange id, decoded viewership)``, oldest first; one week
            alone gives no change rows (its retention may still be shown).
        retention: The latest week's decoded retention (:func:`decode_retention`), if any.

    Raises:
        ValueError: No week, or an exchange given twice.
    """
    ids = [x for x, _ in weeks]
    if not weeks or len(set(ids)) != len(ids):
        raise ValueError("a trend needs one or more distinct weeks")
    if len(weeks) == 1:
        ((only, table),) = weeks
        none = table.slice(0, 0)
        empty = week_over_week(none, none, previous_exchange=only, exchange=only)
        return WeeklyTrend(tuple(ids), empty.slice(0, 0), retention)
    pairs = [
        week_over_week(a, b, previous_exchange=xa, exchange=xb)
        for (xa, a), (xb, b) in itertools.pairwise(weeks)
    ]
    return WeeklyTrend(tuple(ids), pa.concat_tables(pairs), retention)


def week_to_week_map(previous: pa.Table, current: pa.Table) -> pa.Table:
    """The campaign's private ``previous_rid -> rid`` map for voters present in both weeks.

    Args:
        previous: The earlier exchange's ``rid, voter_id`` map (campaign state).
        current: This exchange's ``rid, voter_id`` map.

    Returns:
        ``previous_rid, rid``, sorted by ``rid`` (random: the order says nothing).
    """
    a = previous.select(["rid", "voter_id"]).rename_columns(["previous_rid", "voter_id"])
    joined = current.select(["rid", "voter_id"]).join(a, keys="voter_id", join_type="inner")
    return joined.select(["previous_rid", "rid"]).sort_by("rid")
