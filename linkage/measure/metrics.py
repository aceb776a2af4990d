"""Audience metrics a media buyer expects, computed on the campaign's decoded viewership.

Everything here is pure and works on the decoded ``viewership`` payload
(:func:`linkage.report.decode_viewership`: segment *names*, ``all_matched``
for every matched household). The provider has already credited households
(the usual AQH rule: at least five minutes on a channel within a
quarter-hour); this module turns the released cells into the figures a
measurement firm would hand over, with the industry's definitions:

* **AQH households** — average number of households credited to the channel
  per quarter-hour of the cell. **Rating** = AQH / universe x 100.
  **Share** = AQH / HUT AQH x 100 (both released by the provider).
* **HUT** (households using TV) — here the sum of AQH across the published
  channels over the universe, x 100 (:func:`hut`). The provider's share
  implies the true HUT (which counts a household on two sets once and
  includes unpublished channels); :func:`hut` returns that too.
* **Reach** over the period — percent of the universe credited at least once
  (released per channel); **average frequency** = gross credited
  quarter-hours / reach households (:func:`channel_reach_frequency`).
* **GRP / TRP** of a schedule — sum over spots of the spot's rating among all
  matched households (GRP) or a target segment (TRP) (:func:`schedule_points`).
* **Index** — a segment's figure over the ``all_matched`` figure of the same
  cell, x 100 (:func:`index_vs_all`).
* **Standard dayparts** are :data:`linkage.measure.calendar.DAYPARTS`;
  **weekday/weekend** is the released ``day_type``.
* **Viewing-intensity tiers** (light < 2 h/day, medium, heavy) crossed with
  segments are made on the provider's side
  (:func:`linkage.measure.intensity.cross_with_intensity`); they come back as
  segments named ``<segment>:<tier>`` (:func:`split_tier`, :func:`tier_codes`).
* **Projections** to the full segment (matched or not) use the match rate and
  are labelled as such (:func:`project_to_voters`): they assume unmatched
  voters view like matched ones.

Suppressed cells carry null figures; nothing here invents a value for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from linkage.errors import InputError
from linkage.measure.calendar import DAYPART_NAMES, QUARTER_HOURS_PER_DAY, TIER_NAMES, WEEK_DAYS
from linkage.tables import ALL_HOUSEHOLDS, ALL_MATCHED, TIER_SEPARATOR, WHOLE_WEEK

__all__ = [
    "PROJECTION_NOTE",
    "channel_reach_frequency",
    "hut",
    "index_vs_all",
    "project_to_voters",
    "schedule_points",
    "split_tier",
    "spot_ratings",
    "tier_codes",
]

PROJECTION_NOTE = (
    "projection: matched-household figures scaled to every voter in the segment, "
    "assuming unmatched voters view like matched ones"
)

_CELL_KEYS = ("grain", "channel", "day_type", "daypart", "quarter_hour")


def _require(table: pa.Table, columns: Sequence[str], what: str) -> None:
    for column in columns:
        if column not in table.column_names:
            raise InputError(f"{what} has no such column", column=column)


def split_tier(segment: str) -> tuple[str, str | None]:
    """``"persuadable:light"`` -> ``("persuadable", "light")``; no tier -> ``(segment, None)``."""
    base, sep, tier = segment.partition(TIER_SEPARATOR)
    return (base, tier) if sep and tier in TIER_NAMES else (segment, None)


def tier_codes(codes: Mapping[str, str]) -> dict[str, str]:
    """Extend a name -> code map with the intensity-tier segments the provider adds.

    :func:`linkage.report.decode_viewership` takes name -> code; passing this
    map lets it decode ``<code>:<tier>`` rows (and ``*:<tier>``, which decodes
    to ``all_matched:<tier>``) as well as plain ones.

    Args:
        codes: Segment name -> code from the campaign's state.

    Returns:
        ``codes`` plus ``<name>:<tier>`` -> ``<code>:<tier>`` for every tier,
        and ``all_matched:<tier>`` -> ``*:<tier>``.
    """
    extended = dict(codes)
    for tier in TIER_NAMES:
        extended[f"{ALL_MATCHED}{TIER_SEPARATOR}{tier}"] = f"{ALL_HOUSEHOLDS}{TIER_SEPARATOR}{tier}"
        for name, code in codes.items():
            extended[f"{name}{TIER_SEPARATOR}{tier}"] = f"{code}{TIER_SEPARATOR}{tier}"
    return extended


@dataclass
class _Acc:
    """Running figures of one output cell."""

    universe: int
    rating: float = 0.0
    aqh: float = 0.0
    known: int = 0
    hidden: int = 0
    implied: list[float] = field(default_factory=list)


_SPOT_SCHEMA = pa.schema(
    [
        ("segment", pa.string()),
        ("channel", pa.string()),
        ("daypart", pa.string()),
        ("universe", pa.int64()),
        ("rating", pa.float64()),
        ("aqh_households", pa.float64()),
        ("suppressed", pa.bool_()),
        ("partial", pa.bool_()),
    ]
)

_HUT_SCHEMA = pa.schema(
    [
        ("grain", pa.string()),
        ("segment", pa.string()),
        ("day_type", pa.string()),
        ("daypart", pa.string()),
        ("quarter_hour", pa.int16()),
        ("universe", pa.int64()),
        ("hut_households", pa.float64()),
        ("hut_rating", pa.float64()),
        ("hut_from_share", pa.float64()),
        ("complete", pa.bool_()),
    ]
)


def _is_hidden(row: Mapping[str, object], column: str) -> bool:
    return bool(row.get("suppressed")) or row[column] is None


def spot_ratings(
    decoded: pa.Table, *, day_weights: Mapping[str, int] = WEEK_DAYS, conservative: bool = False
) -> pa.Table:
    """Expected rating of one spot per (segment, channel, daypart).

    A rate-card unit is a spot that airs on some day of the week, so its
    expected rating is the day-type-weighted mean of the daypart-grain ratings
    (five weekdays, two weekend days by default; only day types present in the
    release count). A daypart row of day type ``all`` (a market's rows measure
    the whole week in one cell) is that mean already and is taken as it is.
    A suppressed day type contributes zero, so ``rating`` is
    then a lower bound and ``partial`` is true; when every day type is
    suppressed, ``rating`` is null and ``suppressed`` true.

    Args:
        decoded: Decoded ``viewership`` (daypart-grain rows are used).
        day_weights: Weight of each day type.
        conservative: Take each DP rating at the low end of its 95% interval
            (``rating - rating_ci``, at least 0). An optimizer that picks the
            highest of many noisy ratings picks their noise too (the winner's
            curse): in a small market a cell's noise can be ten times its
            rating, and valued at the point estimate it would be bought on noise.

    Returns:
        ``segment, channel, daypart, universe, rating, aqh_households,
        suppressed, partial``, sorted by segment, channel, daypart order.
    """
    needed = ["segment", "channel", "day_type", "daypart", "universe", "rating", "aqh_households"]
    _require(decoded, ("grain", *needed), "viewership")
    rows = decoded.filter(pc.equal(decoded["grain"], "daypart"))
    types = {str(d) for d in pc.unique(rows["day_type"]).to_pylist()}
    if WHOLE_WEEK in types:
        # Whole-week dayparts (a market's rows) are already the week's mean.
        rows = rows.filter(pc.equal(rows["day_type"], WHOLE_WEEK))
        day_weights = {WHOLE_WEEK: 1}
    present = types & set(day_weights)
    total = sum(day_weights[d] for d in present)
    extra = ["suppressed"] if "suppressed" in rows.column_names else []
    if conservative and "rating_ci" in rows.column_names:
        extra.append("rating_ci")
    acc: dict[tuple[str, str, str], _Acc] = {}
    for r in rows.select(needed + extra).to_pylist():
        if r["day_type"] not in present:
            continue
        key = (str(r["segment"]), str(r["channel"]), str(r["daypart"]))
        cell = acc.setdefault(key, _Acc(universe=int(r["universe"])))
        if _is_hidden(r, "rating"):
            cell.hidden += 1
            continue
        weight = day_weights[r["day_type"]] / total
        cell.known += 1
        rating = float(r["rating"])
        aqh = float(r["aqh_households"] or 0.0)
        if r.get("rating_ci") is not None and rating > 0:
            low = max(0.0, rating - float(r["rating_ci"]))
            rating, aqh = low, aqh * low / rating
        cell.rating += weight * rating
        cell.aqh += weight * aqh
    order = {name: i for i, name in enumerate(DAYPART_NAMES)}
    keys = sorted(acc, key=lambda k: (k[0], k[1], order.get(k[2], len(order)), k[2]))
    cells = [acc[k] for k in keys]
    columns: dict[str, list[object]] = {
        "segment": [k[0] for k in keys],
        "channel": [k[1] for k in keys],
        "daypart": [k[2] for k in keys],
        "universe": [c.universe for c in cells],
        "rating": [c.rating if c.known else None for c in cells],
        "aqh_households": [c.aqh if c.known else None for c in cells],
        "suppressed": [c.known == 0 for c in cells],
        "partial": [c.known > 0 and c.hidden > 0 for c in cells],
    }
    return pa.table(
        {f.name: pa.array(columns[f.name], f.type) for f in _SPOT_SCHEMA}, schema=_SPOT_SCHEMA
    )


def hut(decoded: pa.Table) -> pa.Table:
    """Households using TV per segment and cell (quarter-hour and daypart grains).

    ``hut_households`` is the sum of AQH households across the published
    channels (a household on two sets in one quarter-hour counts twice);
    ``hut_rating`` = that / universe x 100. ``hut_from_share`` is the HUT the
    provider divided by for share (AQH x 100 / share, median over the
    channels with a positive share): it counts each household once and
    includes viewing of unpublished channels. ``complete`` is false when a
    suppressed channel cell left the sum short.

    Returns:
        ``grain, segment, day_type, daypart, quarter_hour, universe,
        hut_households, hut_rating, hut_from_share, complete``, sorted by the keys.
    """
    keys = ["grain", "segment", "day_type", "daypart", "quarter_hour"]
    needed = [*keys, "universe", "aqh_households", "share", "suppressed"]
    _require(decoded, needed, "viewership")
    rows = decoded.filter(pc.is_in(decoded["grain"], pa.array(["quarter_hour", "daypart"])))
    acc: dict[tuple[object, ...], _Acc] = {}
    for r in rows.select(needed).to_pylist():
        key = tuple(r[k] for k in keys)
        cell = acc.setdefault(key, _Acc(universe=int(r["universe"])))
        if _is_hidden(r, "aqh_households"):
            cell.hidden += 1
            continue
        aqh = float(r["aqh_households"])
        cell.aqh += aqh
        if r["share"] is not None and r["share"] > 0:
            cell.implied.append(aqh * 100.0 / float(r["share"]))
    ordered = sorted(acc, key=lambda k: tuple("" if v is None else f"{v}".zfill(3) for v in k))
    cells = [acc[k] for k in ordered]
    columns: dict[str, list[object]] = {k: [key[i] for key in ordered] for i, k in enumerate(keys)}
    columns["universe"] = [c.universe for c in cells]
    columns["hut_households"] = [c.aqh for c in cells]
    columns["hut_rating"] = [c.aqh * 100.0 / c.universe if c.universe else None for c in cells]
    columns["hut_from_share"] = [_median(sorted(c.implied)) for c in cells]
    columns["complete"] = [c.hidden == 0 for c in cells]
    return pa.table(
        {f.name: pa.array(columns[f.name], f.type) for f in _HUT_SCHEMA}, schema=_HUT_SCHEMA
    )


def _median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2.0


def channel_reach_frequency(decoded: pa.Table, *, days: int) -> pa.Table:
    """Reach and average frequency of each channel over the period, per segment.

    Average frequency = gross credited quarter-hours / reach households, where
    gross quarter-hours = period AQH x quarter-hours in the period (the
    provider's period AQH averages over every quarter-hour of ``days`` days).

    Args:
        decoded: Decoded ``viewership`` (period-grain rows are used).
        days: Days in the reporting period (the campaign agreed it with the provider).

    Returns:
        ``segment, channel, universe, reach_households, reach,
        gross_quarter_hours, avg_frequency`` (null when suppressed or no reach).

    Raises:
        ValueError: ``days`` is not positive.
    """
    if days <= 0:
        raise ValueError("days must be positive")
    _require(
        decoded,
        ("grain", "segment", "channel", "universe", "aqh_households", "reach_households", "reach"),
        "viewership",
    )
    rows = decoded.filter(pc.equal(decoded["grain"], "period")).sort_by(
        [("segment", "ascending"), ("channel", "ascending")]
    )
    slots = days * QUARTER_HOURS_PER_DAY
    gross: list[float | None] = []
    freq: list[float | None] = []
    for aqh, reach_hh in zip(
        rows["aqh_households"].to_pylist(), rows["reach_households"].to_pylist(), strict=True
    ):
        g = None if aqh is None else float(aqh) * slots
        gross.append(g)
        freq.append(g / reach_hh if g is not None and reach_hh else None)
    return pa.table(
        {
            "segment": rows["segment"],
            "channel": rows["channel"],
            "universe": rows["universe"],
            "reach_households": rows["reach_households"],
            "reach": rows["reach"],
            "gross_quarter_hours": pa.array(gross, pa.float64()),
            "avg_frequency": pa.array(freq, pa.float64()),
        }
    )


def index_vs_all(decoded: pa.Table, *, value: str = "rating") -> pa.Table:
    """Add ``index``: the row's ``value`` over the ``all_matched`` row of the same cell, x 100.

    Works at any grain (the cell is grain, channel, day type, daypart and
    quarter-hour). Tier segments (``persuadable:light``) are indexed against
    ``all_matched`` too, so the index says how the tier compares with the
    whole matched population. Null when either side is suppressed or the
    base is zero.

    Returns:
        The non-``all_matched`` rows of ``decoded`` with ``base_<value>`` and
        ``index`` appended.
    """
    _require(decoded, ("segment", *_CELL_KEYS, value), "viewership")
    hidden = (
        decoded["suppressed"].to_pylist()
        if "suppressed" in decoded.column_names
        else [False] * decoded.num_rows
    )
    keys = list(zip(*(decoded[k].to_pylist() for k in _CELL_KEYS), strict=True))
    values = decoded[value].to_pylist()
    segments = decoded["segment"].to_pylist()
    base: dict[tuple[object, ...], float | None] = {}
    for key, segment, v, h in zip(keys, segments, values, hidden, strict=True):
        if segment == ALL_MATCHED:
            base[key] = None if h or v is None else float(v)
    keep: list[int] = []
    bases: list[float | None] = []
    index: list[float | None] = []
    for i, (key, segment, v, h) in enumerate(zip(keys, segments, values, hidden, strict=True)):
        if segment == ALL_MATCHED:
            continue
        keep.append(i)
        b = base.get(key)
        bases.append(b)
        index.append(None if h or v is None or not b else float(v) / b * 100.0)
    rows = decoded.take(pa.array(keep, pa.int64()))
    return rows.append_column(f"base_{value}", pa.array(bases, pa.float64())).append_column(
        "index", pa.array(index, pa.float64())
    )


def schedule_points(schedule: pa.Table, ratings: pa.Table, segment: str) -> float:
    """GRPs (segment ``all_matched``) or TRPs (a target segment) of a schedule.

    The sum over rate-card cells of spots x the spot's expected rating among
    ``segment`` (:func:`spot_ratings`); suppressed or unknown cells count zero.

    Args:
        schedule: ``channel, daypart, spots``.
        ratings: Output of :func:`spot_ratings`.
        segment: Segment name.

    Returns:
        Rating points (percent of the segment universe, summed over spots).
    """
    _require(schedule, ("channel", "daypart", "spots"), "schedule")
    _require(ratings, ("segment", "channel", "daypart", "rating"), "spot ratings")
    mine = ratings.filter(pc.equal(ratings["segment"], segment))
    rating = {
        (c, d): float(r)
        for c, d, r in zip(
            mine["channel"].to_pylist(),
            mine["daypart"].to_pylist(),
            mine["rating"].to_pylist(),
            strict=True,
        )
        if r is not None
    }
    return float(
        sum(
            int(n) * rating.get((c, d), 0.0)
            for c, d, n in zip(
                schedule["channel"].to_pylist(),
                schedule["daypart"].to_pylist(),
                schedule["spots"].to_pylist(),
                strict=True,
            )
        )
    )


def project_to_voters(
    table: pa.Table, match_rates: pa.Table, *, columns: Sequence[str] = ("reach",)
) -> pa.Table:
    """Scale percent figures of matched households to every voter of the segment.

    ``projected_<column>_voters = column / 100 x segment voters`` (matched or
    not), from the decoded match report. This is a projection, not a
    measurement: it assumes unmatched voters (not subscribers, or not found)
    view like matched ones; the column ``projection`` says so on every row.
    Tier segments (``persuadable:light``) have no voter count and project to null.

    Args:
        table: Rows with ``segment`` and the percent ``columns``.
        match_rates: :func:`linkage.report.match_rate_table` output
            (``segment, voters, match_rate, suppressed``).
        columns: Percent-of-universe columns to project.

    Returns:
        ``table`` plus ``segment_voters``, ``match_rate``, one
        ``projected_<column>_voters`` per column and ``projection``.
    """
    _require(table, ("segment", *columns), "table")
    _require(match_rates, ("segment", "voters", "match_rate"), "match report")
    suppressed = (
        match_rates["suppressed"].to_pylist()
        if "suppressed" in match_rates.column_names
        else [False] * match_rates.num_rows
    )
    voters: dict[str, tuple[int, float]] = {}
    for segment, n, rate, hidden in zip(
        match_rates["segment"].to_pylist(),
        match_rates["voters"].to_pylist(),
        match_rates["match_rate"].to_pylist(),
        suppressed,
        strict=True,
    ):
        if not hidden and n is not None and rate is not None:
            voters[str(segment)] = (int(n), float(rate))
    segments = table["segment"].to_pylist()
    known = [voters.get(str(s)) for s in segments]
    result = table.append_column(
        "segment_voters", pa.array([k[0] if k else None for k in known], pa.int64())
    ).append_column("match_rate", pa.array([k[1] if k else None for k in known], pa.float64()))
    for column in columns:
        projected = [
            None if k is None or v is None else float(v) / 100.0 * k[0]
            for k, v in zip(known, table[column].to_pylist(), strict=True)
        ]
        result = result.append_column(
            f"projected_{column}_voters", pa.array(projected, pa.float64())
        )
    return result.append_column("projection", pa.array([PROJECTION_NOTE] * table.num_rows))
