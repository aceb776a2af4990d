"""Every kind of released figure against the synthetic truth, for one week of a panel.

The demo and the integration test measure what a campaign's report says
against what the world's true voter-to-household map gives: statewide
ratings, each market's daypart ratings, the week-over-week changes, retention
and the post-buy delivery. Each figure carries its own error, and the share of
its 95% intervals that hold the truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa

from linkage.synth.delivery_truth import DeliveryCoverage, delivery_coverage, true_delivery_of
from linkage.synth.market_truth import MarketError, market_rating_error, true_market_viewership
from linkage.synth.retention_truth import (
    RetentionCoverage,
    TrendCoverage,
    retention_coverage,
    trend_coverage,
    true_retention_of,
    true_trend_of,
)
from linkage.synth.truth import (
    RatingError,
    named_cells,
    rating_error,
    true_assignments_of,
    truth_viewership_of,
)

__all__ = ["Scorecard", "TruthWeek", "score_week"]


@dataclass(frozen=True)
class TruthWeek:
    """One week of the world as the truth sees it.

    Attributes:
        exchange_id: The week's exchange.
        voters: That week's voter file.
        days: That week's reporting days.
    """

    exchange_id: str
    voters: pa.Table
    days: tuple[date, ...]


@dataclass(frozen=True)
class Scorecard:
    """The last week's released figures against the truth (None: not released)."""

    statewide: RatingError
    markets: list[MarketError]
    trend: TrendCoverage | None
    retention: RetentionCoverage | None
    delivery: DeliveryCoverage | None


def score_week(
    weeks: Sequence[TruthWeek],
    *,
    voter_household: pa.Table,
    segments_toml: str,
    viewing: Path,
    channels: Sequence[str],
    markets: pa.Table | None,
    released: pa.Table,
    market_rows: pa.Table | None = None,
    trend: pa.Table | None = None,
    retention: pa.Table | None = None,
    delivery: pa.Table | None = None,
    aired: pa.Table | None = None,
) -> Scorecard:
    """Score the last of ``weeks`` (its report's tables) against the truth.

    Args:
        weeks: The panel's weeks, oldest first; the last is scored.
        voter_household: The world's true voter-to-household map.
        segments_toml: The segment rules.
        viewing: The world's tuning log.
        channels: The public channel list.
        markets: Each household's market (None: no market figures to score).
        released: The week's ``viewership.csv``.
        market_rows: The week's ``markets.csv``.
        trend: ``trend.csv``; retention: ``retention.csv``; delivery:
            ``delivery.csv``; aired: the parsed as-run log the delivery measured.
    """
    truth = {
        w.exchange_id: true_assignments_of(w.voters, voter_household, segments_toml) for w in weeks
    }
    last = weeks[-1]
    current = truth[last.exchange_id]
    true_csv = truth_viewership_of(
        current, viewing, pa.table({"channel": list(channels)}), period=last.days
    )
    # The released table was read back from CSV: compare on its column types.
    true_csv = true_csv.cast(
        pa.schema(
            released.schema.field(f.name) if f.name in released.column_names else f
            for f in true_csv.schema
        )
    )
    statewide = rating_error(released, true_csv)
    by_market: list[MarketError] = []
    if markets is not None and market_rows is not None:
        true_rows = true_market_viewership(current, viewing, markets, channels, last.days)
        by_market = market_rating_error(market_rows, named_cells(true_rows))
    trend_score = retention_score = delivery_score = None
    if trend is not None and len(weeks) > 1:
        true_trend = true_trend_of(
            [(w.exchange_id, truth[w.exchange_id], w.days) for w in weeks], viewing, channels
        )
        trend_score = trend_coverage(trend, true_trend)
    if retention is not None and len(weeks) > 1:
        true_kept = true_retention_of(
            current, viewing, channels, earlier=weeks[-2].days, period=last.days
        )
        retention_score = retention_coverage(retention, true_kept)
    if delivery is not None and aired is not None and markets is not None:
        true_delivery = true_delivery_of(current, viewing, markets, aired, last.days)
        delivery_score = delivery_coverage(delivery, true_delivery)
    return Scorecard(statewide, by_market, trend_score, retention_score, delivery_score)
