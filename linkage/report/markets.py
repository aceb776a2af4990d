"""The markets (DMAs) of a release and of a plan, as the report's Markets section shows them.

A release by market carries, besides the statewide rows, each market's own
daypart and period figures measured on that market's households. The k rule
applies per released cell, so a small market, whose segments hold few
households, loses more of its cells to suppression: a buyer must see that
before trusting a cheap market's numbers. :func:`market_release_table` counts,
per market and segment, the released universe and the share of cells
suppressed; :func:`market_plan_table` takes each market's spend, points and
reach from the plan's comparison; :func:`market_summary` puts both together
with one sentence on small markets.

Pure: decoded release (all markets) and ``plan_comparison.csv`` in, tables out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from linkage.plan import release_markets
from linkage.report.decode import require_columns
from linkage.tables import ALL_MARKETS, ALL_MATCHED

__all__ = [
    "MARKET_PLAN_COLUMNS",
    "MARKET_RELEASE_COLUMNS",
    "MarketSummary",
    "market_plan_table",
    "market_release_table",
    "market_summary",
]

MARKET_RELEASE_COLUMNS = ("market", "segment", "universe", "cells", "suppressed_share")
"""Columns of :func:`market_release_table`."""
MARKET_PLAN_COLUMNS = ("market", "segment", "spots", "cost", "trps", "reach", "cost_per_trp")
"""Columns of :func:`market_plan_table`."""

_RELEASE_SCHEMA = pa.schema(
    [
        ("market", pa.string()),
        ("segment", pa.string()),
        ("universe", pa.int64()),
        ("cells", pa.int64()),
        ("suppressed_share", pa.float64()),
    ]
)
_PLAN_SCHEMA = pa.schema(
    [
        ("market", pa.string()),
        ("segment", pa.string()),
        ("spots", pa.int64()),
        ("cost", pa.float64()),
        ("trps", pa.float64()),
        ("reach", pa.float64()),
        ("cost_per_trp", pa.float64()),
    ]
)
# Market rows come at these grains only; the statewide row is counted on the same
# grains so that the shares compare.
_GRAINS = ("daypart", "period")


def market_release_table(decoded: pa.Table, segments: Sequence[str]) -> pa.Table:
    """Per market and segment: the released universe and the share of its cells suppressed.

    Args:
        decoded: The decoded release, every market's rows
            (:func:`linkage.report.decode_viewership`).
        segments: The segments to show (e.g. the plan's targets); ``all_matched``
            is always shown first.

    Returns:
        Columns :data:`MARKET_RELEASE_COLUMNS`: the statewide row (``*``) first,
        then markets by name; within each, ``all_matched`` then ``segments`` in
        order. Counts daypart and period cells; ``universe`` is null when the
        segment has no row in the market. Empty for a release without markets.
    """
    markets = release_markets(decoded)
    if not markets:
        return _RELEASE_SCHEMA.empty_table()
    require_columns(decoded, ("grain", "market", "segment", "universe", "suppressed"), "viewership")
    rows = decoded.filter(pc.is_in(decoded["grain"], pa.array(_GRAINS)))
    universe: dict[tuple[str, str], int] = {}
    counts: dict[tuple[str, str], list[int]] = {}
    for market, segment, size, hidden in zip(
        pc.fill_null(rows["market"], ALL_MARKETS).to_pylist(),
        rows["segment"].to_pylist(),
        rows["universe"].to_pylist(),
        pc.fill_null(rows["suppressed"], True).to_pylist(),
        strict=True,
    ):
        key = (str(market), str(segment))
        if size is not None:
            universe.setdefault(key, int(size))
        tally = counts.setdefault(key, [0, 0])
        tally[0] += 1
        tally[1] += int(hidden)
    shown = [ALL_MATCHED, *(s for s in segments if s != ALL_MATCHED)]
    table: list[dict[str, object]] = []
    for market in (ALL_MARKETS, *markets):
        for segment in shown:
            cells, hidden = counts.get((market, segment), [0, 0])
            table.append(
                {
                    "market": market,
                    "segment": segment,
                    "universe": universe.get((market, segment)),
                    "cells": cells,
                    "suppressed_share": hidden / cells if cells else None,
                }
            )
    return pa.Table.from_pylist(table, schema=_RELEASE_SCHEMA)


def market_plan_table(comparison: pa.Table | None) -> pa.Table:
    """Per market: the optimized plan's spots, spend, points and reach for each target.

    A market's ``trps`` are its own rating points and ``reach`` a share of its
    own households of the segment; the statewide row (``*``) counts points
    and reach over the statewide universe.

    Args:
        comparison: ``plan_comparison.csv`` (:attr:`linkage.plan.PlanResult.comparison`),
            or None.

    Returns:
        Columns :data:`MARKET_PLAN_COLUMNS`, rows of the optimized plan for
        each target and the weighted target, statewide first; empty without a
        plan by market.
    """
    if comparison is None or not {"market", "plan", "segment", "weight"} <= set(
        comparison.column_names
    ):
        return _PLAN_SCHEMA.empty_table()
    rows = [
        r
        for r in comparison.to_pylist()
        if r["plan"] == "optimized" and r["weight"] is not None and r["market"] is not None
    ]
    if not any(r["market"] != ALL_MARKETS for r in rows):
        return _PLAN_SCHEMA.empty_table()
    rows.sort(key=lambda r: (r["market"] != ALL_MARKETS, str(r["market"])))
    return pa.Table.from_pylist(
        [
            {
                "market": r["market"],
                "segment": r["segment"],
                "spots": r.get("spots"),
                "cost": r.get("cost"),
                "trps": r.get("trps"),
                "reach": r.get("reach"),
                "cost_per_trp": r.get("cost_per_trp"),
            }
            for r in rows
        ],
        schema=_PLAN_SCHEMA,
    )


@dataclass(frozen=True, slots=True)
class MarketSummary:
    """The Markets section's content.

    Attributes:
        release: :func:`market_release_table` output (empty: no market rows).
        plan: :func:`market_plan_table` output (empty: no plan by market).
        sentence: One sentence comparing the smallest market's suppression
            with the largest's, or None when there are fewer than two markets.
    """

    release: pa.Table
    plan: pa.Table
    sentence: str | None


def market_summary(
    decoded: pa.Table, segments: Sequence[str], comparison: pa.Table | None = None
) -> MarketSummary:
    """The Markets section: release by market, plan by market, and the small-market sentence.

    The sentence compares the markets with the smallest and the largest
    all-matched universe on the share of their cells suppressed (over the
    segments shown), so "small markets are suppressed more" is a figure.
    """
    release = market_release_table(decoded, segments)
    return MarketSummary(release, market_plan_table(comparison), _sentence(release))


def _sentence(release: pa.Table) -> str | None:
    size: dict[str, int] = {}
    cells: dict[str, list[float]] = {}
    for r in release.to_pylist():
        if r["market"] == ALL_MARKETS:
            continue
        if r["segment"] == ALL_MATCHED and r["universe"] is not None:
            size[r["market"]] = int(r["universe"])
        if r["suppressed_share"] is not None:
            tally = cells.setdefault(r["market"], [0.0, 0.0])
            tally[0] += r["cells"]
            tally[1] += r["suppressed_share"] * r["cells"]
    ranked = sorted((m for m in size if cells.get(m, [0.0])[0]), key=lambda m: (size[m], m))
    if len(ranked) < 2:
        return None
    small, large = ranked[0], ranked[-1]

    def share(market: str) -> float:
        total, hidden = cells[market]
        return hidden / total

    more = "more" if share(small) > share(large) else "no more"
    return (
        f"The k rule applies per released cell, so small markets lose {more} of their cells: "
        f"{small} ({size[small]:,} matched households) had {share(small):.0%} of its cells "
        f"suppressed, {large} ({size[large]:,}) {share(large):.0%}."
    )
