"""Each market's true viewership, and how far a release's market rows are from it.

The truth is the exact market figures of the world's *true* voter-to-household
map on the unbounded viewing log (no caps, no noise, nothing suppressed), so
an error measured against it holds linkage, the caps' bias and the noise
together, as a buyer would meet them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.engine import DuckDBEngine
from linkage.measure import segment_members
from linkage.release import CellGrid, check_markets, market_cells
from linkage.tables import ALL_MARKETS

__all__ = ["MarketError", "market_rating_error", "true_market_viewership"]

_KEYS = ("market", "segment", "channel", "day_type", "daypart")


def true_market_viewership(
    assignments: pa.Table,
    viewing: pa.Table | Path,
    markets: pa.Table,
    channels: Sequence[str],
    days: Sequence[date],
) -> pa.Table:
    """Every market's exact daypart and period rows of ``assignments`` (segment names kept).

    Args:
        assignments: ``household_id, segment`` (e.g. :func:`true_assignments_of`).
        viewing: The world's tuning log.
        markets: ``household_id, market``.
        channels: The public channel list.
        days: The reporting period.
    """
    grid = CellGrid(channels=tuple(dict.fromkeys(channels)), days=tuple(sorted(set(days))))
    with DuckDBEngine() as engine:
        cells = market_cells(
            segment_members(assignments, engine),
            viewing,
            check_markets(markets),
            grid,
            engine=engine,
        )
    # Every cell, nothing suppressed: the truth of a cell nobody watched is zero.
    return cells.drop_columns(["contributors"])


@dataclass(frozen=True)
class MarketError:
    """Released market ratings against the truth, over one market's released cells.

    Attributes:
        market: The market.
        cells: Released daypart cells compared.
        suppressed_share: Share of the market's daypart cells suppressed.
        median_abs_error: Median absolute rating error (rating points).
        coverage: Share of compared cells whose 95% interval holds the truth
            (None for an exact release).
    """

    market: str
    cells: int
    suppressed_share: float
    median_abs_error: float
    coverage: float | None


def market_rating_error(
    released: pa.Table, truth: pa.Table, segments: Sequence[str] | None = None
) -> list[MarketError]:
    """Compare a release's market daypart rows with :func:`true_market_viewership`.

    Both tables must name segments the same way (decode the release first).

    Args:
        released: Release rows (every market; statewide rows are ignored).
        truth: :func:`true_market_viewership` rows.
        segments: Compare these segments only (default: all).
    """

    def daypart_rows(table: pa.Table) -> pa.Table:
        keep = pc.and_(
            pc.equal(table["grain"], "daypart"), pc.not_equal(table["market"], ALL_MARKETS)
        )
        if segments is not None:
            keep = pc.and_(keep, pc.is_in(table["segment"], pa.array(list(segments))))
        return table.filter(keep)

    rel, tru = daypart_rows(released), daypart_rows(truth)
    has_ci = "rating_ci" in rel.column_names and rel["rating_ci"].null_count < rel.num_rows
    left = rel.select([*_KEYS, "rating", "suppressed", *(["rating_ci"] if has_ci else [])])
    right = tru.select([*_KEYS, "rating"]).rename_columns([*_KEYS, "true_rating"])
    joined = left.join(right, keys=list(_KEYS), join_type="inner").to_pandas()
    out = []
    for market, rows in sorted(joined.groupby("market"), key=lambda kv: str(kv[0])):
        shown = rows[~rows["suppressed"]]
        err = np.abs(shown["rating"].to_numpy(float) - shown["true_rating"].to_numpy(float))
        coverage = None
        if has_ci and len(shown):
            coverage = float((err <= shown["rating_ci"].to_numpy(float) + 1e-12).mean())
        out.append(
            MarketError(
                market=str(market),
                cells=len(shown),
                suppressed_share=float(rows["suppressed"].mean()) if len(rows) else 0.0,
                median_abs_error=float(np.median(err)) if len(err) else 0.0,
                coverage=coverage,
            )
        )
    return out
