"""Plan against delivery: what the campaign bought, next to what the aired spots delivered.

The provider's ``delivery`` payload (:mod:`linkage.release.delivery`) holds,
per market (``*`` = the state) and segment, the noisy target impressions,
TRPs, reach, average frequency and light-viewer reach of the spots that
aired, each with a 95% half-width. :func:`decode_delivery` names its
segments; :func:`plan_vs_delivery` sets it beside the plan: the optimized
plan's TRPs and reach per market and segment (``plan_comparison.csv``) and
its cost, and the **cost per delivered target point** (the plan's cost over
the delivered TRPs). A market's figures are in its own rating points (its
households of the segment), the ``*`` row's in statewide points, as the
plan's own comparison counts them. Everything here is post-processing of
noisy figures.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

from linkage.measure import split_tier, tier_codes
from linkage.report.decode import decode_viewership, require_columns
from linkage.tables import ALL_MARKETS, ALL_MATCHED, DELIVERY_SCHEMA

__all__ = [
    "DELIVERY_CSV",
    "PLAN_DELIVERY_COLUMNS",
    "PLAN_DELIVERY_CSV",
    "decode_delivery",
    "delivery_sorted",
    "plan_vs_delivery",
]

DELIVERY_CSV = "delivery.csv"
"""File name of the decoded delivery (every market, segment and tier)."""
PLAN_DELIVERY_CSV = "plan_delivery.csv"
"""File name of :func:`plan_vs_delivery`."""

PLAN_DELIVERY_COLUMNS = (
    "market",
    "segment",
    "planned_trps",
    "delivered_trps",
    "delivered_trps_ci",
    "planned_reach",
    "delivered_reach",
    "delivered_reach_ci",
    "delivered_frequency",
    "light_reach",
    "impressions",
    "cost",
    "cost_per_delivered_point",
    "suppressed",
)
"""Columns of :func:`plan_vs_delivery` (reach in percent; cost in dollars)."""

_OPTIMIZED = "optimized"


def decode_delivery(delivery: pa.Table, codes: Mapping[str, str]) -> pa.Table:
    """Replace the segment codes of a ``delivery`` payload by names (``*`` -> ``all_matched``).

    Raises:
        InputError: A column is missing, or a code this campaign did not issue.
    """
    require_columns(delivery, DELIVERY_SCHEMA.names, "delivery")
    return decode_viewership(delivery, tier_codes(codes))


def _markets(table: pa.Table) -> list[str]:
    if "market" not in table.column_names:
        return [ALL_MARKETS] * table.num_rows
    return [ALL_MARKETS if m is None else str(m) for m in table["market"].to_pylist()]


def _planned(comparison: pa.Table | None) -> dict[tuple[str, str], dict[str, float | None]]:
    """(market, segment) -> the optimized plan's TRPs, reach and cost."""
    if comparison is None or "plan" not in comparison.column_names:
        return {}
    rows = comparison.to_pylist()
    out: dict[tuple[str, str], dict[str, float | None]] = {}
    for market, row in zip(_markets(comparison), rows, strict=True):
        if row.get("plan") != _OPTIMIZED:
            continue
        out[(market, str(row["segment"]))] = {
            name: None if row.get(name) is None else float(row[name])
            for name in ("trps", "reach", "cost")
        }
    return out


def _costs(plan: pa.Table | None) -> dict[str, float]:
    """Market -> the schedule's cost (``*``: all of it), from ``plan.csv``."""
    if plan is None or "cost" not in plan.column_names:
        return {}
    costs: dict[str, float] = {ALL_MARKETS: 0.0}
    for market, cost in zip(_markets(plan), plan["cost"].to_pylist(), strict=True):
        value = float(cost or 0.0)
        costs[ALL_MARKETS] += value
        if market != ALL_MARKETS:
            costs[market] = costs.get(market, 0.0) + value
    return costs


def plan_vs_delivery(
    delivered: pa.Table,
    *,
    plan: pa.Table | None = None,
    plan_comparison: pa.Table | None = None,
) -> pa.Table:
    """Planned against delivered, per market and segment (tiers are in the delivery table).

    Args:
        delivered: :func:`decode_delivery` output.
        plan: ``plan.csv`` (the schedule and its cost), if a plan was made.
        plan_comparison: ``plan_comparison.csv``, for the planned TRPs and reach.

    Returns:
        :data:`PLAN_DELIVERY_COLUMNS`: ``*`` first, then markets; in each,
        ``all_matched`` then segments by name. With a plan, the segments it
        has figures for (its targets and ``all_matched``); without one, every
        segment. Planned figures are null where the plan has none (a
        statewide plan has no market rows); cost per delivered point is null
        where the delivery is suppressed or zero.
    """
    require_columns(delivered, ("market", "segment", "trps", "reach", "suppressed"), "delivery")
    planned = _planned(plan_comparison)
    costs = _costs(plan)
    if not costs and planned:
        costs = {m: p["cost"] for (m, _), p in planned.items() if p["cost"] is not None}
    wanted = {s for _, s in planned} | ({ALL_MATCHED} if planned else set())
    rows = []
    for row in delivered.to_pylist():
        segment = str(row["segment"])
        if split_tier(segment)[1] is not None or (wanted and segment not in wanted):
            continue
        market = str(row["market"])
        plan_row = planned.get((market, segment), {})
        cost = costs.get(market)
        trps = row["trps"]
        rows.append(
            {
                "market": market,
                "segment": segment,
                "planned_trps": plan_row.get("trps"),
                "delivered_trps": trps,
                "delivered_trps_ci": row["trps_ci"],
                "planned_reach": plan_row.get("reach"),
                "delivered_reach": row["reach"],
                "delivered_reach_ci": row["reach_ci"],
                "delivered_frequency": row["frequency"],
                "light_reach": row["light_reach"],
                "impressions": row["impressions"],
                "cost": cost,
                "cost_per_delivered_point": (
                    cost / trps if cost is not None and trps is not None and trps > 0 else None
                ),
                "suppressed": bool(row["suppressed"]),
            }
        )
    rows.sort(
        key=lambda r: (
            r["market"] != ALL_MARKETS,
            str(r["market"]),
            r["segment"] != ALL_MATCHED,
            str(r["segment"]),
        )
    )
    schema = pa.schema(
        [
            ("market", pa.string()),
            ("segment", pa.string()),
            *(
                (name, pa.float64())
                for name in PLAN_DELIVERY_COLUMNS
                if name not in ("market", "segment", "suppressed")
            ),
            ("suppressed", pa.bool_()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def delivery_sorted(delivered: pa.Table) -> pa.Table:
    """The decoded delivery, ``*`` first, then markets, segments by name (for ``delivery.csv``)."""
    keys = pc.not_equal(delivered["market"], ALL_MARKETS)
    return (
        delivered.append_column("_m", keys)
        .sort_by([("_m", "ascending"), ("market", "ascending"), ("segment", "ascending")])
        .drop_columns(["_m"])
    )
