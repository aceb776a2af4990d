"""The viewership release as one pipeline: members, refusals, measure, noise, rules.

:func:`release_viewership` is everything between the provider's assignments
and the payload it seals, in the order the privacy argument needs:

1. **members** — each segment's household set (and ``*``), found once and
   used by every step below;
2. **refuse** — a segment under the minimum universe, or two segments within
   ``k`` households of each other, stops the release before any figure is
   computed (:mod:`linkage.release.rules`);
3. **measure** — the unsuppressed cells on the public grid
   (:mod:`linkage.measure.aggregation`); with DP, on viewing bounded to one
   channel at a time per household (:func:`~linkage.release.dp.bound_viewing`);
4. **noise** — with an ``epsilon``, every count is noised and the figures are
   rebuilt from the noisy counts (:mod:`linkage.release.dp`);
5. **suppress** — k-suppression (on the noisy contributor counts under DP)
   and complementary suppression across intensity tiers.

Rules across releases to one campaign (budget, re-query, differencing against
earlier releases) are the ledger's (:mod:`linkage.release.ledger`), checked
before this runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pyarrow as pa

from linkage.engine import Engine
from linkage.measure import (
    cross_with_intensity,
    household_intensity,
    resolve_period,
    segment_members,
    segment_universes,
    viewership_of_members,
)
from linkage.release.dp import (
    CellGrid,
    NoiseFn,
    bound_viewing,
    discrete_laplace,
    noisy_release,
    plan_noise,
)
from linkage.release.rules import (
    apply_k_suppression,
    check_min_universe,
    prune_derived_segments,
    refuse_differencing,
    suppress_tier_complements,
    validate_k,
)
from linkage.tables import DEFAULT_K, DEFAULT_MIN_UNIVERSE, INTERVAL_COLUMNS, RELEASE_SCHEMA

__all__ = ["release_grid", "release_viewership", "with_intensity_tiers"]


def release_grid(
    viewing: pa.Table | Path,
    *,
    channels: Sequence[str],
    engine: Engine,
    period: Sequence[date] | None = None,
) -> CellGrid:
    """The public cell grid of a release: the channel list and the reporting dates.

    Raises:
        InputError: No reporting dates can be found.
        ValueError: ``channels`` is empty.
    """
    days = resolve_period(viewing, engine, period)
    return CellGrid(channels=tuple(dict.fromkeys(channels)), days=tuple(days))


def with_intensity_tiers(
    assignments: pa.Table,
    viewing: pa.Table | Path,
    *,
    engine: Engine,
    k: int,
    min_universe: int,
) -> tuple[pa.Table, list[str]]:
    """Add each segment's viewing-intensity tiers, dropping the tiers too thin to release.

    The provider derives ``<code>:light`` (< 2 h/day), ``:medium`` and
    ``:heavy`` from its own viewing log; a tier under the minimum universe, or
    within ``k`` households of its parent, is dropped with its siblings
    (:func:`~linkage.release.rules.prune_derived_segments`), never released.

    Returns:
        The assignments with the kept tiers, and the dropped tier codes.
    """
    intensity = household_intensity(viewing, engine=engine)
    return prune_derived_segments(
        cross_with_intensity(assignments, intensity), k=k, min_universe=min_universe
    )


def _exact_payload(payload: pa.Table) -> pa.Table:
    """Exact release: the interval columns are null (no noise was added)."""
    for name in INTERVAL_COLUMNS:
        payload = payload.append_column(
            pa.field(name, pa.float64()), pa.nulls(payload.num_rows, pa.float64())
        )
    return payload.cast(RELEASE_SCHEMA)


def release_viewership(
    assignments: pa.Table,
    viewing: pa.Table | Path,
    grid: CellGrid,
    *,
    engine: Engine,
    k: int = DEFAULT_K,
    min_universe: int = DEFAULT_MIN_UNIVERSE,
    epsilon: float | None = None,
    noise: NoiseFn = discrete_laplace,
) -> pa.Table:
    """The ``viewership`` payload: refuse unsafe segments, measure, (noise,) suppress.

    Args:
        assignments: ``household_id``, ``segment`` (pseudonyms mapped back).
        viewing: Tuning events as Arrow or a Parquet path.
        grid: The public cell grid (:func:`release_grid`): the channels
            reported, the reporting dates and the crediting rule.
        engine: Engine running the SQL.
        k: Minimum distinct households per released cell and per segment
            difference.
        min_universe: Minimum households per segment (``*`` included).
        epsilon: When given, the release is ``epsilon``-DP (see
            :mod:`linkage.release.dp`): viewing is bounded per household,
            counts are noised, and suppression uses noisy contributor counts.
        noise: Noise source for the DP path (tests pass a deterministic one).

    Returns:
        Rows with exactly :data:`~linkage.tables.RELEASE_SCHEMA` (the
        viewership columns plus noise-interval half-widths, null when
        ``epsilon`` is None).

    Raises:
        PrivacyError: ``k`` or ``epsilon`` is invalid, or a segment is too
            small or too close to another.
        InputError: An input table is unusable.
    """
    validate_k(k)
    members = segment_members(assignments, engine)
    universes = segment_universes(members, engine).to_pylist()
    check_min_universe({row["segment"]: row["universe"] for row in universes}, min_universe)
    refuse_differencing(members, k, engine)
    # Under DP each household's contribution is bounded before it is measured.
    plan = None if epsilon is None else plan_noise(grid, len(universes), epsilon)
    source = viewing if plan is None else bound_viewing(viewing, grid.channels, engine)
    cells = viewership_of_members(
        members,
        source,
        channels=grid.channels,
        engine=engine,
        period=grid.days,
        credit_minutes=grid.credit_minutes,
    )
    if plan is None:
        payload = _exact_payload(apply_k_suppression(cells, k))
    else:
        payload = noisy_release(cells, grid, plan, k, noise)
    return suppress_tier_complements(payload)
