"""True retention and week-over-week trend from the true map, and how often intervals cover them.

The provider's ``retention`` release (:mod:`linkage.release.panel`) counts,
per segment of this week and channel, the segment's households that watched
the channel in the earlier week and those that watched it in both. Here the
same counts come from the world's truth: this week's true segment households
(:func:`linkage.synth.true_assignments_of` on this week's voter file), the
same *watched* rule (:func:`linkage.release.watched_channels`) on the raw
tuning log, nothing suppressed, no noise. The error against it measures the
whole chain: linkage, households without tuning this week (which the
provider cannot place in its panel), noise and suppression.

Only harnesses, benchmarks and the demo hold both; no party role imports this.
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
from linkage.measure import compute_viewership
from linkage.release import watched_channels
from linkage.report import TREND_METRICS, weekly_trend
from linkage.synth.truth import named_cells
from linkage.tables import ALL_HOUSEHOLDS, ALL_MATCHED, TIER_SEPARATOR

__all__ = [
    "RetentionCoverage",
    "TrendCoverage",
    "retention_coverage",
    "trend_coverage",
    "true_retention_of",
    "true_trend_of",
]

_KEYS = ("segment", "channel")


def true_retention_of(
    assignments: pa.Table,
    viewing: pa.Table | Path,
    channels: Sequence[str],
    *,
    earlier: Sequence[date],
    period: Sequence[date],
) -> pa.Table:
    """True retention per segment (names; ``*`` -> ``all_matched``) and channel.

    Args:
        assignments: ``household_id, segment``: this week's true memberships
            (:func:`linkage.synth.true_assignments_of`, ``*`` rows included).
        viewing: The raw tuning log covering both weeks.
        channels: The published channel list.
        earlier: The earlier week's days.
        period: This week's days.

    Returns:
        ``segment, channel, earlier_households, both_households, retention``
        (percent; null when nobody watched in the earlier week), every
        (plain segment, channel) pair.
    """
    plain = assignments.filter(
        pc.invert(pc.match_substring(assignments["segment"].cast(pa.string()), TIER_SEPARATOR))
    )
    with DuckDBEngine() as engine:
        before = watched_channels(viewing, channels, engine, earlier)
        now = watched_channels(viewing, channels, engine, period)
    both = before.join(now, keys=["household_id", "channel"], join_type="inner")
    segments = sorted({str(s) for s in plain["segment"].to_pylist()})
    counts = []
    for weeks in (before, both):
        joined = plain.select(["household_id", "segment"]).join(
            weeks, keys="household_id", join_type="inner"
        )
        grouped = joined.group_by(["segment", "channel"]).aggregate(
            [("household_id", "count_distinct")]
        )
        counts.append(
            {
                (s, c): int(n)
                for s, c, n in zip(
                    grouped["segment"].to_pylist(),
                    grouped["channel"].to_pylist(),
                    grouped["household_id_count_distinct"].to_pylist(),
                    strict=True,
                )
            }
        )
    channel_list = list(dict.fromkeys(channels))
    keys = [(s, c) for s in segments for c in channel_list]
    e = np.array([counts[0].get(key, 0) for key in keys], dtype=np.int64)
    b = np.array([counts[1].get(key, 0) for key in keys], dtype=np.int64)
    retention = np.where(e > 0, 100.0 * b / np.where(e > 0, e, 1), 0.0)
    return pa.table(
        {
            "segment": pa.array(
                [ALL_MATCHED if s == ALL_HOUSEHOLDS else s for s, _ in keys], pa.string()
            ),
            "channel": pa.array([c for _, c in keys], pa.string()),
            "earlier_households": pa.array(e, pa.int64()),
            "both_households": pa.array(b, pa.int64()),
            "retention": pa.array(retention, pa.float64(), mask=e == 0),
        }
    )


@dataclass(frozen=True)
class RetentionCoverage:
    """Released retention against the truth, over released cells present in both.

    Attributes:
        cells: Released (unsuppressed) cells compared.
        covered: Cells whose 95% interval holds the true retention.
        mean_abs_error: Mean absolute error in retention points.
        suppressed_share: Share of the release's cells suppressed.
    """

    cells: int
    covered: int
    mean_abs_error: float
    suppressed_share: float

    @property
    def coverage(self) -> float:
        """Share of compared cells whose interval covers the truth (0 when none)."""
        return self.covered / self.cells if self.cells else 0.0


def retention_coverage(released: pa.Table, truth: pa.Table) -> RetentionCoverage:
    """Compare a decoded retention release (segment names) with :func:`true_retention_of`."""
    total = released.num_rows
    suppressed = released["suppressed"].combine_chunks()
    kept = released.filter(pc.invert(suppressed)).select([*_KEYS, "retention", "retention_ci"])
    right = truth.select([*_KEYS, "retention"]).rename_columns([*_KEYS, "retention_true"])
    joined = kept.join(right, keys=list(_KEYS), join_type="inner").filter(
        pc.is_valid(pc.field("retention_true"))
    )
    got = joined["retention"].to_numpy(zero_copy_only=False).astype(float)
    ci = joined["retention_ci"].to_numpy(zero_copy_only=False).astype(float)
    true = joined["retention_true"].to_numpy(zero_copy_only=False).astype(float)
    diff = np.abs(got - true)
    return RetentionCoverage(
        cells=int(joined.num_rows),
        covered=int((diff <= ci).sum()),
        mean_abs_error=float(diff.mean()) if len(diff) else 0.0,
        suppressed_share=float(pc.sum(suppressed).as_py() or 0) / total if total else 0.0,
    )


def true_trend_of(
    weeks: Sequence[tuple[str, pa.Table, Sequence[date]]],
    viewing: pa.Table | Path,
    channels: Sequence[str],
) -> pa.Table:
    """The true week-over-week changes (:func:`linkage.report.weekly_trend` rows, no intervals).

    Args:
        weeks: ``(exchange id, that week's true assignments, that week's days)``, oldest
            first: each week's segments are evaluated on its own voter file.
        viewing: The raw tuning log covering every week.
        channels: The published channel list.
    """
    decoded = []
    with DuckDBEngine() as engine:
        for exchange, assignments, days in weeks:
            cells = compute_viewership(
                assignments, viewing, channels=list(channels), engine=engine, period=list(days)
            ).drop_columns(["contributors"])
            decoded.append((exchange, named_cells(cells)))
    return weekly_trend(decoded).changes


@dataclass(frozen=True)
class TrendCoverage:
    """Released week-over-week changes against the true ones, per metric.

    Attributes:
        cells: Metric -> changes compared (released in both weeks, with an interval).
        covered: Metric -> changes whose 95% interval holds the true change.
        mean_abs_error: Metric -> mean absolute error of the change, in points.
    """

    cells: dict[str, int]
    covered: dict[str, int]
    mean_abs_error: dict[str, float]

    def coverage(self, metric: str) -> float:
        """Share of compared changes of ``metric`` whose interval covers the truth."""
        n = self.cells.get(metric, 0)
        return self.covered.get(metric, 0) / n if n else 0.0


_TREND_KEYS = (
    "exchange",
    "previous_exchange",
    "grain",
    "segment",
    "channel",
    "day_type",
    "daypart",
)


def trend_coverage(released: pa.Table, truth: pa.Table) -> TrendCoverage:
    """Compare released changes (``trend.csv``) with :func:`true_trend_of`, cell by cell."""
    right = truth.select([*_TREND_KEYS, *(f"{m}_change" for m in TREND_METRICS)])
    right = right.rename_columns([*_TREND_KEYS, *(f"{m}_true" for m in TREND_METRICS)])
    joined = released.join(right, keys=list(_TREND_KEYS), join_type="inner")
    cells: dict[str, int] = {}
    covered: dict[str, int] = {}
    errors: dict[str, float] = {}
    for metric in TREND_METRICS:
        rows = joined.filter(
            pc.and_(
                pc.is_valid(joined[f"{metric}_change_ci"]), pc.is_valid(joined[f"{metric}_true"])
            )
        )
        got = rows[f"{metric}_change"].to_numpy(zero_copy_only=False).astype(float)
        true = rows[f"{metric}_true"].to_numpy(zero_copy_only=False).astype(float)
        ci = rows[f"{metric}_change_ci"].to_numpy(zero_copy_only=False).astype(float)
        diff = np.abs(got - true)
        cells[metric] = int(rows.num_rows)
        covered[metric] = int((diff <= ci).sum())
        errors[metric] = float(diff.mean()) if len(diff) else 0.0
    return TrendCoverage(cells, covered, errors)
