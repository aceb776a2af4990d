"""The headline: where each target segment is cheapest to reach, and how much the release shows.

A buyer's question is "which channels and dayparts reach my persuadable
voters cheapest?", so the page opens with its answer: per target segment, the
best buys by **cost per target rating point** (a rate-card spot's price over
the rating one spot earns among the segment), next to the plan's figures and
the share of the segment's viewing the released cells cover.

Two rules keep the list honest:

* Under differential privacy each rating carries a 95% half-width
  (``rating_ci``). Ranking on the point estimate lets lucky noise top the
  list, so buys are ranked on the **conservative rating**, ``max(rating -
  rating_ci, 0)``, and a cell whose conservative rating is zero is no buy.
* An intensity tier (``persuadable:light``) is a buy only where it watches at
  least as much as all matched households (conservative index >= 100): light
  viewers under-index almost everywhere, and a cheap cell they under-watch is
  not a way to reach them.

With a rate card by market (DMA), a spot's rating is its market's own, and
its cost per point is per **statewide** point (the market's rating x the
market's share of the segment), the plan's own unit
(:mod:`linkage.plan.markets`), so a cheap spot in a small market and a dear
one in a large market are ranked on what they deliver.

Pure: decoded release and rate card in, small frozen rows out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from linkage.measure import (
    DAYPARTS,
    QUARTER_HOURS_PER_DAY,
    WEEK_DAYS,
    split_tier,
    spot_ratings,
)
from linkage.plan import RateCell, market_rows, statewide_rows
from linkage.report.decode import require_columns
from linkage.tables import ALL_MARKETS, ALL_MATCHED

__all__ = [
    "BEST_BUYS_PER_SEGMENT",
    "BestBuy",
    "Coverage",
    "PlanFigures",
    "best_buys",
    "daypart_label",
    "plan_figures",
    "plan_targets",
    "viewing_coverage",
]

BEST_BUYS_PER_SEGMENT = 10
"""Best buys listed per target segment in the headline."""


def _clock(quarter_hour: int) -> str:
    minutes = (quarter_hour % QUARTER_HOURS_PER_DAY) * 15
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


_LABELS = {
    dp.name: f"{dp.name.replace('_', ' ').capitalize()} {_clock(dp.start_qh)}-{_clock(dp.end_qh)}"
    for dp in DAYPARTS
}


def daypart_label(daypart: str) -> str:
    """A daypart with its clock hours, e.g. ``prime`` -> ``Prime 20:00-23:00``.

    A daypart the calendar does not know is returned as written.
    """
    return _LABELS.get(daypart, daypart)


@dataclass(frozen=True, slots=True)
class BestBuy:
    """One rate-card cell ranked for a segment by cost per conservative target point.

    Attributes:
        segment: Segment name (a tier is ``<segment>:<tier>``).
        channel: Channel code.
        daypart: Daypart name (:func:`daypart_label` adds the clock hours).
        rating: One spot's expected rating among the segment (percent of its
            universe, i.e. target rating points; day-type weighted).
        conservative_rating: The same with each rating lowered by its 95%
            half-width and floored at zero: what the ranking uses.
        index: ``rating`` over all matched households' rating of the cell x 100
            (None without a usable baseline).
        cost_per_spot: The rate card's price of one spot, in dollars.
        cost_per_point: ``cost_per_spot / conservative_rating``, dollars per
            point; for a market's spot, per statewide point
            (``conservative_rating`` x the market's share of the segment).
        market: The market the spot airs in, once rate cards name markets
            (None: one market).
    """

    segment: str
    channel: str
    daypart: str
    rating: float
    conservative_rating: float
    index: float | None
    cost_per_spot: float
    cost_per_point: float
    market: str | None = None


def _conservative(decoded: pa.Table) -> pa.Table:
    """``decoded`` with ``rating`` lowered by ``rating_ci`` and floored at zero."""
    if "rating_ci" not in decoded.column_names:
        return decoded
    rating = decoded.column("rating").cast(pa.float64())
    half = pc.fill_null(decoded.column("rating_ci").cast(pa.float64()), 0.0)
    low = pc.max_element_wise(pc.subtract(rating, pc.abs(half)), 0.0)
    return decoded.set_column(decoded.column_names.index("rating"), "rating", low)


def _ratings(table: pa.Table) -> dict[tuple[str, str, str], float]:
    """(segment, channel, daypart) -> spot rating, for cells with any released day type."""
    return {
        (str(s), str(c), str(d)): float(r)
        for s, c, d, r in zip(
            *(table[k].to_pylist() for k in ("segment", "channel", "daypart", "rating")),
            strict=True,
        )
        if r is not None
    }


def _universes(table: pa.Table) -> dict[str, int]:
    """Segment -> universe of a :func:`linkage.measure.spot_ratings` table."""
    return {
        str(s): int(u)
        for s, u in zip(table["segment"].to_pylist(), table["universe"].to_pylist(), strict=True)
        if u is not None
    }


@dataclass(frozen=True, slots=True)
class _Market:
    """One market's spot ratings (point and conservative), universes, share of each segment."""

    point: dict[tuple[str, str, str], float]
    low: dict[tuple[str, str, str], float]
    universe: dict[str, int]
    scale: dict[str, float]


def _market(rows: pa.Table, statewide: Mapping[str, int] | None) -> _Market:
    if statewide is not None:
        rows = rows.filter(pc.is_valid(rows["universe"]))  # a market's withheld segment
    spots = spot_ratings(rows)
    universes = _universes(spots)
    if statewide is None:
        scale = dict.fromkeys(universes, 1.0)
    else:
        scale = {s: u / statewide[s] for s, u in universes.items() if statewide.get(s)}
    return _Market(_ratings(spots), _ratings(spot_ratings(_conservative(rows))), universes, scale)


def best_buys(
    decoded: pa.Table,
    cells: Sequence[RateCell],
    segments: Sequence[str],
    *,
    per_segment: int = BEST_BUYS_PER_SEGMENT,
) -> list[BestBuy]:
    """The cheapest rate-card cells per target point of each segment, on the conservative bound.

    A spot's rating is the day-type-weighted mean of the daypart ratings
    (:func:`linkage.measure.spot_ratings`, the plan's own value model), once
    on the point estimates and once on the conservative ones. Cells
    suppressed for the segment, or whose conservative rating is zero, are no
    buy; a tier's cell must also have a conservative index of at least 100.

    Args:
        decoded: Output of :func:`linkage.report.decode_viewership` (tiers
            decoded); a market's rows rank that market's rate-card cells.
        cells: The parsed rate card (with or without markets).
        segments: The segments to rank for, in output order.
        per_segment: How many buys to keep per segment.

    Returns:
        Per segment in ``segments`` order, up to ``per_segment`` buys by cost
        per point ascending (ties: market, channel, daypart).
    """
    require_columns(decoded, ("grain", "segment", "channel", "daypart", "rating"), "viewership")
    statewide = _market(statewide_rows(decoded), None)
    views = {
        m: statewide if m == ALL_MARKETS else _market(market_rows(decoded, m), statewide.universe)
        for m in sorted({c.market for c in cells})
    }
    buys: list[BestBuy] = []
    for segment in segments:
        tiered = split_tier(segment)[1] is not None
        ranked: list[BestBuy] = []
        for cell in cells:
            view = views[cell.market]
            key = (segment, cell.channel, cell.daypart)
            floor = view.low.get(key, 0.0)
            scale = view.scale.get(segment, 0.0)
            if floor <= 0.0 or key not in view.point or scale <= 0.0:
                continue
            base = view.point.get((ALL_MATCHED, cell.channel, cell.daypart))
            usable = base is not None and base > 0.0
            if tiered and not (usable and base is not None and floor / base * 100.0 >= 100.0):
                continue
            ranked.append(
                BestBuy(
                    segment=segment,
                    channel=cell.channel,
                    daypart=cell.daypart,
                    rating=view.point[key],
                    conservative_rating=floor,
                    index=view.point[key] / base * 100.0 if usable and base is not None else None,
                    cost_per_spot=cell.cost,
                    cost_per_point=cell.cost / (floor * scale),
                    market=None if cell.market == ALL_MARKETS else cell.market,
                )
            )
        ranked.sort(key=lambda b: (b.cost_per_point, b.market or "", b.channel, b.daypart))
        buys.extend(ranked[:per_segment])
    return buys


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of a segment's viewing the released cells show, at least.

    Attributes:
        segment: Segment name.
        quarter_hour: Released quarter-hour cells' share of the segment's
            viewing (0-1, a lower bound under noise), None without a total.
        daypart: The same for daypart cells.
    """

    segment: str
    quarter_hour: float | None
    daypart: float | None


def viewing_coverage(decoded: pa.Table) -> dict[str, Coverage]:
    """Share of each segment's viewing (household quarter-hours) inside released cells.

    The total is the segment's period-grain AQH households summed over
    channels (per average quarter-hour of the period; period cells are the
    least suppressed and least noisy). The released part is the released
    cells' AQH households, each lowered by its 95% half-width and floored at
    zero: the provider suppresses on noisy values, so the cells that survive
    are the ones whose noise came out high, and the point estimates would
    overstate what was shown (on a small DP release, past 100%). So under
    noise the figure is a lower bound; for an exact release it is exact.
    Day types are weighted by their days in a week; a daypart cell counts
    once per quarter-hour it spans.

    Args:
        decoded: Output of :func:`linkage.report.decode_viewership`.

    Returns:
        Segment name -> :class:`Coverage`, for every segment with period rows.
    """
    require_columns(
        decoded, ("grain", "segment", "day_type", "daypart", "aqh_households"), "viewership"
    )
    lengths = {dp.name: len(dp.quarter_hours()) for dp in DAYPARTS}
    has_ci = "aqh_households_ci" in decoded.column_names
    names = ["grain", "segment", "day_type", "daypart", "aqh_households"]
    columns = [decoded[k].to_pylist() for k in names]
    halves = decoded["aqh_households_ci"].to_pylist() if has_ci else [None] * decoded.num_rows
    hidden = (
        pc.fill_null(decoded["suppressed"], True).to_pylist()
        if "suppressed" in decoded.column_names
        else [False] * decoded.num_rows
    )
    totals: dict[str, float] = {}
    shown: dict[tuple[str, str], dict[str, float]] = {}
    for grain, segment, day, daypart, aqh, half, off in zip(*columns, halves, hidden, strict=True):
        if off or aqh is None:
            continue
        if grain == "period":
            totals[segment] = totals.get(segment, 0.0) + float(aqh) * QUARTER_HOURS_PER_DAY
            continue
        if grain not in ("quarter_hour", "daypart"):
            continue
        low = max(float(aqh) - abs(float(half or 0.0)), 0.0)
        span = 1 if grain == "quarter_hour" else lengths.get(str(daypart), 1)
        by_day = shown.setdefault((str(segment), str(grain)), {})
        by_day[str(day)] = by_day.get(str(day), 0.0) + low * span

    def share(segment: str, grain: str) -> float | None:
        total = totals.get(segment, 0.0)
        by_day = shown.get((segment, grain), {})
        if total <= 0:
            return None
        weights = {day: float(WEEK_DAYS.get(day, 0)) for day in by_day}
        if not any(weights.values()):
            weights = dict.fromkeys(by_day, 1.0)
        days = sum(weights.values())
        seen = sum(weights[d] / days * v for d, v in by_day.items()) if days else 0.0
        return min(max(seen / total, 0.0), 1.0)

    return {s: Coverage(s, share(s, "quarter_hour"), share(s, "daypart")) for s in sorted(totals)}


@dataclass(frozen=True, slots=True)
class PlanFigures:
    """The optimized plan measured on one target segment (a ``plan_comparison.csv`` row).

    Attributes:
        segment: Target segment name.
        trps: Target rating points the schedule earns (points).
        reach: Estimated reach among the segment's matched households (percent).
        cost: The schedule's cost (dollars).
        cost_per_point: ``cost / trps`` (dollars), None without points.
    """

    segment: str
    trps: float | None
    reach: float | None
    cost: float | None
    cost_per_point: float | None


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def plan_figures(comparison: pa.Table | None) -> dict[str, PlanFigures]:
    """Segment -> the optimized plan's figures, from ``plan_comparison.csv`` (empty without one)."""
    if comparison is None or "plan" not in comparison.column_names:
        return {}
    found: dict[str, PlanFigures] = {}
    for row in comparison.to_pylist():
        if row.get("plan") != "optimized" or row.get("segment") is None:
            continue
        if row.get("market", ALL_MARKETS) != ALL_MARKETS:
            continue  # a market's own row; the headline shows the whole plan
        trps, cost = _float(row.get("trps")), _float(row.get("cost"))
        found[str(row["segment"])] = PlanFigures(
            segment=str(row["segment"]),
            trps=trps,
            reach=_float(row.get("reach")),
            cost=cost,
            cost_per_point=cost / trps if cost is not None and trps else None,
        )
    return found


def plan_targets(comparison: pa.Table | None) -> list[str]:
    """The plan's target segments (rows with a weight), in file order; empty without a plan."""
    if comparison is None or not {"plan", "segment", "weight"} <= set(comparison.column_names):
        return []
    targets: list[str] = []
    for row in comparison.to_pylist():
        name = row["segment"]
        if (
            row["plan"] == "optimized"
            and _float(row["weight"]) is not None
            and name not in (None, "weighted_target", ALL_MATCHED)
            and name not in targets
        ):
            targets.append(str(name))
    return targets
