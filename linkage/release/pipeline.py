"""The viewership release as one pipeline: members, measure, noise, rules.

:func:`release_viewership` is everything between the provider's assignments
and the payload it seals. The default is differentially private
(``rho``-zCDP, :mod:`linkage.release.dp`), in this order:

1. **members** - each segment's household set (and ``*``), found once;
2. **bound** - viewing cut to one channel at a time per household
   (:func:`~linkage.release.dp.bound_viewing`) and, while crediting, to the
   public daily credit cap;
3. **measure** - the unsuppressed cells on the public grid
   (:mod:`linkage.measure.aggregation`); with markets, each market's cells
   come from the same pass over the viewing log
   (:func:`~linkage.measure.viewership_by_market`) and go to
   :func:`~linkage.release.markets.market_release`;
4. **noise** - every count noised once and the figures rebuilt from the
   noisy counts;
5. **suppress** - on noisy values only: segments under the minimum universe,
   cells under ``k``, and complementary suppression across intensity tiers.

Nothing here refuses a segment under DP: a refusal decided on exact counts
would answer membership questions for free. The one exact path is
``exact=True``; it keeps the exact-count rules (a segment under the minimum
universe, or two segments within ``k`` households, stop the release) and the
audit reports every exact release as a failure of the privacy promise.

The budget across releases to one campaign is the ledger's
(:mod:`linkage.release.ledger`), checked before this runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from linkage.engine import Engine
from linkage.errors import PrivacyError
from linkage.measure import (
    CELL_ORDER,
    cross_with_intensity,
    household_intensity,
    resolve_period,
    segment_members,
    segment_universes,
)
from linkage.release.dp import (
    DEFAULT_CAPS,
    CellGrid,
    ContributionCaps,
    NoiseFn,
    bound_viewing,
    discrete_gaussian,
    noisy_release,
    plan_noise,
)
from linkage.release.markets import DEFAULT_MARKET_SHARE, market_release, measure_on_grid
from linkage.release.rules import (
    apply_k_suppression,
    check_min_universe,
    prune_derived_segments,
    refuse_differencing,
    suppress_tier_complements,
    validate_k,
)
from linkage.tables import (
    ALL_HOUSEHOLDS,
    ALL_MARKETS,
    DEFAULT_K,
    DEFAULT_MIN_UNIVERSE,
    INTERVAL_COLUMNS,
    RELEASE_SCHEMA,
    TIER_SEPARATOR,
)

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
    prune: bool = True,
) -> tuple[pa.Table, list[str]]:
    """Add each segment's viewing-intensity tiers, dropping the tiers too thin to release.

    The provider derives ``<code>:light`` (< 2 h/day), ``:medium`` and
    ``:heavy`` from its own viewing log. For an exact release (``prune``), a
    tier under the minimum universe, or within ``k`` households of its
    parent, is dropped with its siblings
    (:func:`~linkage.release.rules.prune_derived_segments`). A DP release
    keeps every tier (``prune=False``): which tiers exist must not depend on
    exact counts, and a thin tier is suppressed on its noisy universe.

    Returns:
        The assignments with the tiers, and the dropped tier codes.
    """
    intensity = household_intensity(viewing, engine=engine)
    tiered = cross_with_intensity(assignments, intensity)
    if not prune:
        return tiered, []
    return prune_derived_segments(tiered, k=k, min_universe=min_universe)


def _exact_payload(payload: pa.Table, k: int, min_universe: int) -> pa.Table:
    """Exact release: the interval columns are null (no noise was added)."""
    payload = payload.add_column(
        1, pa.field("market", pa.string()), pa.array([ALL_MARKETS] * payload.num_rows)
    )
    for name in INTERVAL_COLUMNS:
        payload = payload.append_column(
            pa.field(name, pa.float64()), pa.nulls(payload.num_rows, pa.float64())
        )
    payload = payload.append_column(
        pa.field("matched_records", pa.int64()), pa.nulls(payload.num_rows, pa.int64())
    )
    for name, value in (("k", k), ("min_universe", min_universe)):
        payload = payload.append_column(
            pa.field(name, pa.int64()), pa.array([value] * payload.num_rows, pa.int64())
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
    rho: float | None = None,
    exact: bool = False,
    segments: Sequence[str] | None = None,
    records: pa.Table | None = None,
    caps: ContributionCaps = DEFAULT_CAPS,
    noise: NoiseFn = discrete_gaussian,
    markets: pa.Table | None = None,
    lineups: pa.Table | None = None,
    market_share: float = DEFAULT_MARKET_SHARE,
) -> pa.Table:
    """The ``viewership`` payload: measure, noise, suppress (exact: refuse, measure, suppress).

    Args:
        assignments: ``household_id``, ``segment`` (pseudonyms mapped back).
        viewing: Tuning events as Arrow or a Parquet path.
        grid: The public cell grid (:func:`release_grid`): the channels
            reported, the reporting dates and the crediting rule.
        engine: Engine running the SQL.
        k: Minimum households per released cell (noisy AQH or reach under
            DP; distinct contributors when exact).
        min_universe: Minimum households per segment (``*`` included).
        rho: The release is ``rho``-zCDP (see :mod:`linkage.release.dp`).
        exact: Release exact counts instead; give either ``rho`` or this.
        segments: Every segment code the campaign asked for (tier codes
            included; ``*`` is always added). Each is released whether or not
            any household matched it - a segment missing from the payload
            would say that nobody in it subscribes. Default: the segments of
            ``assignments``.
        records: ``household_id``, ``segment``, ``records`` (real linked
            voter records; :func:`~linkage.release.assemble_assignments`
            output), for each segment's ``matched_records``. Default:
            ``assignments`` if it has a ``records`` column, else one record
            per household.
        caps: Public per-household contribution caps (DP only).
        noise: Noise source for the DP path (tests pass a deterministic one).
        markets: ``household_id, market`` (:func:`~linkage.release.markets.check_markets`):
            adds each market's own daypart and period rows
            (:mod:`linkage.release.markets`), which take ``market_share`` of
            ``rho``; the statewide rows (``market == "*"``) take the rest.
        lineups: ``market, channel``: the public markets and the channels each
            carries (needed with ``markets``).
        market_share: Share of ``rho`` the market rows spend (all markets together).

    Returns:
        Rows with exactly :data:`~linkage.tables.RELEASE_SCHEMA` (the
        viewership columns plus noise-interval half-widths, null when exact).

    Raises:
        PrivacyError: ``k`` or ``rho`` is invalid, neither or both of ``rho``
            and ``exact`` are given, or (exact only) a segment is too small or
            too close to another.
        InputError: An input table is unusable.
    """
    validate_k(k)
    if exact == (rho is not None):
        raise PrivacyError(
            "a release is either differentially private or exact",
            hint="give rho for a DP release, or exact=True (the audit flags exact releases)",
        )
    if markets is not None and lineups is None:
        raise PrivacyError(
            "a release by market needs the public line-ups",
            hint="the markets a release lists must not come from where households live",
        )
    members = segment_members(assignments, engine)
    present = set(members["segment"].to_pylist())
    wanted = sorted(present | set(segments or ()) | {ALL_HOUSEHOLDS})
    if rho is None:
        if set(wanted) - present:
            # Exact counts: an empty segment is under any minimum universe.
            check_min_universe(dict.fromkeys(sorted(set(wanted) - present), 0), min_universe)
        payload, by_market = _exact_release(
            members, viewing, grid, engine=engine, k=k, min_universe=min_universe, markets=markets
        )
        counts = _record_counts(assignments if records is None else records, caps, engine)
        payload, measured, market_rho = _with_matched_records(payload, counts), viewing, None
    else:
        if markets is not None and not 0.0 < market_share < 1.0:
            raise PrivacyError("the market share of a release's rho must be between 0 and 1")
        statewide_rho = rho if markets is None else rho * (1.0 - market_share)
        plan = plan_noise(grid, wanted, statewide_rho, caps=caps)
        measured, market_rho = bound_viewing(viewing, grid.channels, engine), rho * market_share
        # One pass over the viewing measures the statewide and the market cells.
        cells, by_market = measure_on_grid(
            members,
            measured,
            grid,
            engine=engine,
            credits_per_day=caps.credits_per_day,
            markets=markets,
        )
        cells = _with_empty_segments(cells, sorted(set(wanted) - present))
        counts = _record_counts(assignments if records is None else records, caps, engine)
        payload = suppress_tier_complements(
            noisy_release(cells, grid, plan, k, min_universe, noise, records=counts)
        )
    if markets is None or lineups is None:
        return payload
    market_rows = market_release(
        members,
        measured,
        markets,
        grid,
        engine=engine,
        k=k,
        min_universe=min_universe,
        segments=wanted,
        rho=market_rho,
        caps=caps,
        noise=noise,
        lineups=lineups,
        by_market=by_market,
    )
    return pa.concat_tables([payload, market_rows])


def _record_counts(source: pa.Table, caps: ContributionCaps, engine: Engine) -> dict[str, int]:
    """Linked records per segment that is not a tier, at most the cap per household."""
    per_row = "records" if "records" in source.column_names else "1"
    found = engine.query(
        f"""
        SELECT segment, SUM(LEAST(n, {int(caps.records_per_household)})) AS n
        FROM (
            SELECT segment, household_id, MAX({per_row}) AS n FROM source
            WHERE POSITION('{TIER_SEPARATOR}' IN segment) = 0
            GROUP BY segment, household_id
        ) t
        GROUP BY segment
        """,
        {"source": source},
    )
    counts = {str(r["segment"]): int(r["n"]) for r in found.to_pylist()}
    if ALL_HOUSEHOLDS not in counts:
        # ``*`` is every household, one record each when the source says no more.
        households = engine.query(
            "SELECT COUNT(DISTINCT household_id) AS n FROM source", {"source": source}
        )
        counts[ALL_HOUSEHOLDS] = int(households["n"][0].as_py())
    return counts


def _with_matched_records(payload: pa.Table, counts: dict[str, int]) -> pa.Table:
    """An exact payload with each plain segment's exact ``matched_records``."""
    values = [counts.get(str(s)) for s in payload["segment"].to_pylist()]
    column = payload.schema.get_field_index("matched_records")
    return payload.set_column(column, "matched_records", pa.array(values, pa.int64()))


def _with_empty_segments(cells: pa.Table, empty: Sequence[str]) -> pa.Table:
    """``cells`` plus the full grid of zero counts for each segment nobody matched."""
    if not empty:
        return cells
    template = cells.filter(pc.equal(cells["segment"], ALL_HOUSEHOLDS))
    zero_counts = {
        name: pa.array([0] * template.num_rows, cells.schema.field(name).type)
        for name in ("universe", "contributors")
    }
    parts = [cells]
    for code in empty:
        part = template
        for name in ("aqh_households", "rating", "share"):
            part = part.set_column(
                part.schema.get_field_index(name),
                name,
                pa.array([0.0] * part.num_rows, part.schema.field(name).type),
            )
        for name in ("reach_households", "reach"):
            values = [None if r is None else 0 for r in part[name].to_pylist()]
            part = part.set_column(
                part.schema.get_field_index(name),
                name,
                pa.array(values, part.schema.field(name).type),
            )
        for name, values in zero_counts.items():
            part = part.set_column(part.schema.get_field_index(name), name, values)
        segment = pa.array([code] * part.num_rows, pa.string())
        parts.append(part.set_column(part.schema.get_field_index("segment"), "segment", segment))
    return pa.concat_tables(parts).sort_by(CELL_ORDER)


def _exact_release(
    members: pa.Table,
    viewing: pa.Table | Path,
    grid: CellGrid,
    *,
    engine: Engine,
    k: int,
    min_universe: int,
    markets: pa.Table | None,
) -> tuple[pa.Table, pa.Table | None]:
    """The exact path: refuse on exact counts, measure, k-suppress on exact contributors.

    Returns the payload, and with ``markets`` the market cells of the same pass.
    """
    universes = segment_universes(members, engine).to_pylist()
    check_min_universe({row["segment"]: row["universe"] for row in universes}, min_universe)
    refuse_differencing(members, k, engine)
    cells, by_market = measure_on_grid(
        members, viewing, grid, engine=engine, credits_per_day=None, markets=markets
    )
    payload = _exact_payload(apply_k_suppression(cells, k), k, min_universe)
    return suppress_tier_complements(payload), by_market
