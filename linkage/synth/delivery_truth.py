"""True post-buy delivery from the true voter-to-household map, and how often intervals cover it.

The provider's ``delivery`` release (:mod:`linkage.release.delivery`) measures
what an aired schedule delivered per market and segment on the households the
matcher linked. Here the same measurement runs on the world's truth: the true
segment households (:func:`linkage.synth.true_assignments_of`), their
viewing-intensity tiers, the same sanitised tuning log, the same exposure
rule and frequency cap, no noise and nothing suppressed. The error against it
measures the whole chain: linkage, noise and suppression.

Only harnesses, benchmarks and the demo hold both; no party role imports this.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.engine import DuckDBEngine
from linkage.measure import sanitize_viewing
from linkage.release import (
    DEFAULT_FREQUENCY_CAP,
    delivery_grid,
    exact_delivery,
    measure_delivery,
    with_intensity_tiers,
)
from linkage.tables import ALL_HOUSEHOLDS, ALL_MATCHED, TIER_SEPARATOR

__all__ = ["COVERED_FIGURES", "DeliveryCoverage", "delivery_coverage", "true_delivery_of"]

COVERED_FIGURES: Final = ("trps", "reach", "frequency")
"""The figures whose intervals are scored: the ratios. Impressions are a count over the
*matched* households, the truth's over every true one: they differ by the match rate,
which is linkage, not noise. Light reach is a tier's reach, scored on the tier's row."""

_KEYS: Final = ("market", "segment")


def _named(segment: str) -> str:
    """``*`` -> ``all_matched`` (and ``*:light`` -> ``all_matched:light``), as the report names."""
    parent, sep, tier = segment.partition(TIER_SEPARATOR)
    return (ALL_MATCHED if parent == ALL_HOUSEHOLDS else parent) + sep + tier


def true_delivery_of(
    assignments: pa.Table,
    viewing: pa.Table | Path,
    markets: pa.Table,
    aired: pa.Table,
    period: Sequence[date],
    *,
    frequency_cap: int = DEFAULT_FREQUENCY_CAP,
    tiers: bool = True,
) -> pa.Table:
    """True delivery per market and segment (names), every row released, no noise.

    Args:
        assignments: ``household_id, segment``: the true memberships by
            segment name (:func:`linkage.synth.true_assignments_of`, ``*`` rows
            included).
        viewing: The raw tuning log (sanitised here as the provider does).
        markets: ``household_id, market``: the world's market file.
        aired: The aired schedule (:func:`linkage.plan.parse_aired` or
            :func:`linkage.plan.as_run`).
        period: The delivery period.
        frequency_cap: ``F``, as the provider used.
        tiers: Also measure viewing-intensity tiers (light-viewer reach).

    Returns:
        :data:`~linkage.tables.DELIVERY_SCHEMA` rows with segment names,
        half-widths 0, nothing suppressed.
    """
    # The auditor's truth: every market the world has (a release lists the public ones).
    every = sorted({str(m) for m in markets["market"].to_pylist()})
    grid = delivery_grid(aired, markets, None, period, frequency_cap, market_list=every)
    members = assignments.select(["household_id", "segment"])
    with DuckDBEngine() as engine:
        view, _ = sanitize_viewing(viewing, grid.days, engine)
        if tiers:
            members, _ = with_intensity_tiers(
                members, view, engine=engine, k=1, min_universe=1, prune=False
            )
        measured = measure_delivery(members, view, markets, grid, engine)
    table = exact_delivery(measured, grid)
    names = pa.array([_named(str(s)) for s in table["segment"].to_pylist()], pa.string())
    return table.set_column(table.schema.get_field_index("segment"), "segment", names)


@dataclass(frozen=True)
class DeliveryCoverage:
    """Released delivery figures against the truth, over released rows present in both.

    Attributes:
        cells: Released (figure, market, segment) cells compared.
        covered: Cells whose 95% interval holds the true figure.
        by_figure: Figure -> (cells, covered).
        trps_mean_abs_error: Mean absolute TRP error over compared rows.
        suppressed_share: Share of the release's rows suppressed.
    """

    cells: int
    covered: int
    by_figure: Mapping[str, tuple[int, int]]
    trps_mean_abs_error: float
    suppressed_share: float

    @property
    def coverage(self) -> float:
        """Share of compared cells whose interval covers the truth (0 when none)."""
        return self.covered / self.cells if self.cells else 0.0


def delivery_coverage(released: pa.Table, truth: pa.Table) -> DeliveryCoverage:
    """Compare a decoded delivery (segment names) with :func:`true_delivery_of`.

    A cell is a released figure of :data:`COVERED_FIGURES` with its half-width;
    it covers the truth when ``|released - true| <= half-width``.
    """
    total = released.num_rows
    suppressed = released["suppressed"].combine_chunks()
    kept = released.filter(pc.invert(suppressed))
    figures = [*COVERED_FIGURES]
    left = kept.select([*_KEYS, *figures, *(f"{f}_ci" for f in figures)])
    right = truth.select([*_KEYS, *figures]).rename_columns(
        [*_KEYS, *(f"{f}_true" for f in figures)]
    )
    joined = left.join(right, keys=list(_KEYS), join_type="inner")
    by_figure: dict[str, tuple[int, int]] = {}
    for name in figures:
        got, ci, true = (
            joined[column].to_numpy(zero_copy_only=False).astype(float)
            for column in (name, f"{name}_ci", f"{name}_true")
        )
        present = ~(np.isnan(got) | np.isnan(ci) | np.isnan(true))
        hit = np.abs(got - true)[present] <= ci[present]
        by_figure[name] = (int(present.sum()), int(hit.sum()))
    got = joined["trps"].to_numpy(zero_copy_only=False).astype(float)
    true = joined["trps_true"].to_numpy(zero_copy_only=False).astype(float)
    both = ~(np.isnan(got) | np.isnan(true))
    return DeliveryCoverage(
        cells=sum(n for n, _ in by_figure.values()),
        covered=sum(c for _, c in by_figure.values()),
        by_figure=by_figure,
        trps_mean_abs_error=float(np.abs(got - true)[both].mean()) if both.any() else 0.0,
        suppressed_share=float(pc.sum(suppressed).as_py() or 0) / total if total else 0.0,
    )
