"""Per-market viewership: each TV market's own figures, measured on its own households.

Spot TV is bought per market (DMA), so the release carries, beside the
statewide rows (``market == "*"``), each market's daypart and period figures:
rating is the market's AQH households over the segment's households *in that
market*. Markets come from the provider's own household file (one market per
household); the campaign never learns which household is where.

**One measurement per market, in parallel.** A household sits in exactly one
market, so the markets' measurements touch disjoint sets of households and
compose in parallel: all markets together cost the rho of one
(:data:`DEFAULT_MARKET_SHARE` of the release's rho), whatever their number.
The statewide rows keep the rest of the release's rho and the quarter-hour
grain (:mod:`linkage.release.dp`).

**A market's finest grain is the whole-week daypart** (``day_type`` ``all``),
measured directly rather than as a sum of quarter-hours. A spot on a market's
rate card airs on some day of the week, so its expected rating is the
daypart's rating over the whole week (what :func:`linkage.measure.spot_ratings`
computes from the statewide rows' weekday and weekend figures); measuring it
as one cell puts the whole week's viewing behind one draw, where split by day
type the weekend cell would carry its own noise over two days' viewing (about
2.7 times the whole week's rating noise, and 1.1 times on weekdays). A market
has tens of dayparts per segment and channel, so the whole grid is a few
thousand draws per market. Each daypart's count is scaled by its width ``w``
(quarter-hours in the daypart, at most the daily credit cap ``H``) before the
noise, so every daypart's rating has the same noise however short it is. With
``x = count / w`` and ``D`` the days of the period, a household adds at most
``D`` to one cell (one channel at a time, at most ``w`` credits a day in a
daypart) and at most ``B`` to all of a day's cells, ``B`` being the most that
``H`` credits can buy of ``sum credits_d / w_d`` (a greedy fill of the
shortest dayparts first). So the squares of its scaled counts sum to at most
``B * D^2``, per segment:

============  ==============================================  ======================
measure       what is noised                                  L2 bound (scaled)
============  ==============================================  ======================
views         credited household-days per (segment, channel,  sqrt(M * B * D^2)
              daypart) over the week, divided by ``w``
hut           households-using-TV days per (segment,          sqrt(M * B_hut * D^2)
              daypart) over the week, divided by ``w``
reach         distinct households per (segment, channel)      sqrt(M * min(C, H * D))
universe      households per segment                          sqrt(M)
============  ==============================================  ======================

``M`` counts the released segments and ``*`` (tiers are statewide only).
Views and HUT are noised with the discrete Gaussian at scale ``s * w`` per
daypart: the privacy loss of a shift ``delta_i`` in a coordinate of scale
``s * w_i`` is ``delta_i^2 / (2 s^2 w_i^2)`` (Canonne, Kamath and Steinke
2020), so the vector's loss is that of the scaled vector at scale ``s``,
which OpenDP's Gaussian map certifies.

Decisions read noisy values only: a market's segment whose noisy universe is
under the minimum universe is suppressed whole, a daypart cell whose noisy AQH
households are under ``k`` is suppressed, and a period cell whose noisy reach
is under ``k``. Small markets are therefore suppressed more, and the release
says so cell by cell. Channels a market does not carry (its public line-up)
are not released for it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from linkage.engine import Engine
from linkage.errors import InputError, PrivacyError
from linkage.measure import (
    DAYPARTS,
    QUARTER_HOURS_PER_DAY,
    viewership_by_market,
    viewership_of_members,
)
from linkage.release.dp import (
    DEFAULT_CAPS,
    Z95,
    CellGrid,
    ContributionCaps,
    MeasureSplit,
    NoiseFn,
    certified_scale,
    discrete_gaussian,
    measures,
    memberships_bound,
    ratio_half_width,
)
from linkage.tables import (
    CELLS_SCHEMA,
    INTERVAL_COLUMNS,
    RELEASE_SCHEMA,
    TIER_SEPARATOR,
    WHOLE_WEEK,
)

__all__ = [
    "DEFAULT_MARKET_SHARE",
    "MARKET_SPLIT",
    "MarketMeasures",
    "MarketPlan",
    "check_markets",
    "cross_with_markets",
    "market_cells",
    "market_measures",
    "market_release",
    "measure_on_grid",
    "plan_market_noise",
]

DEFAULT_MARKET_SHARE: Final = 0.6
"""Share of a release's rho spent on the market rows (all markets together, in parallel).

The statewide rows keep the rest: on 0.4 of the budget at 1M voters they keep
their accuracy targets (``scripts/dp_utility.py``), and on 0.3 their
quarter-hours covered under 90% of the viewing. A market's segment is a few
times smaller than the state's, and its rating error grows as one over its
size."""

MARKET_SPLIT: Final = MeasureSplit(views=0.8, reach=0.1, hut=0.07, universe=0.029, records=0.001)
"""The market rows' rho split: ratings first, as the plan buys on them; period reach, HUT
(share only) and the universe need far less. No records figure is released per market:
its token share is unspent."""

_SEP: Final = "\x1f"
"""Joins a segment code and a market inside the provider; never released."""

_MEASURES: Final = ("views", "hut", "reach", "universe")


def check_markets(markets: pa.Table, *, file: str | None = None) -> pa.Table:
    """``household_id, market`` with one non-empty market per household.

    Raises:
        InputError: A column is missing, a value is null or empty, or a household
            has two markets (named by count, never by value).
    """
    missing = [c for c in ("household_id", "market") if c not in markets.column_names]
    if missing:
        raise InputError(
            f"the markets file has no {', '.join(missing)} column",
            file=file,
            hint="it needs household_id and market (one market per household)",
        )
    table = markets.select(["household_id", "market"]).cast(
        pa.schema([("household_id", pa.string()), ("market", pa.string())])
    )
    for name in ("household_id", "market"):
        column = table[name]
        if column.null_count or pc.any(pc.equal(pc.utf8_length(column), 0)).as_py():
            raise InputError(f"the markets file has empty {name} values", file=file, column=name)
    if len(pc.unique(table["household_id"])) != table.num_rows:
        distinct = table.group_by(["household_id", "market"]).aggregate([])
        if len(pc.unique(distinct["household_id"])) != distinct.num_rows:
            raise InputError(
                "a household has more than one market in the markets file",
                file=file,
                column="market",
                hint="each household belongs to exactly one market",
            )
        table = distinct
    bad = [m for m in pc.unique(table["market"]).to_pylist() if _SEP in m or m == "*"]
    if bad:
        raise InputError("a market code is reserved or holds a control character", file=file)
    return table


def cross_with_markets(members: pa.Table, markets: pa.Table, engine: Engine) -> pa.Table:
    """Each member row once per its household's market, as an internal crossed code.

    Tiers stay statewide. Households without a market are in the statewide rows only.
    """
    return engine.query(
        f"""
        SELECT m.segment || '{_SEP}' || k.market AS segment, m.household_id
        FROM members m JOIN markets k ON k.household_id = m.household_id
        WHERE POSITION('{TIER_SEPARATOR}' IN m.segment) = 0
        """,
        {"members": members, "markets": markets},
    )


def _fill_bound(widths: Sequence[int], caps: Sequence[int], budget: int) -> float:
    """Most of ``sum a_d / w_d`` with ``0 <= a_d <= caps_d`` and ``sum a_d <= budget``."""
    total, left = 0.0, float(budget)
    for w, cap in sorted(zip(widths, caps, strict=True)):
        take = min(float(cap), left)
        total += take / w
        left -= take
        if left <= 0:
            break
    return total


@dataclass(frozen=True)
class MarketPlan:
    """Noise for the market rows of one release.

    Attributes:
        rho: zCDP rho of the market rows (all markets: parallel composition).
        widths: Each daypart's width ``w`` (the scale multiplier), in DAYPARTS order.
        sensitivity: Per-measure L2 sensitivity of the scaled vectors.
        scales: Per-measure base scale ``s`` (views and HUT are drawn at ``s * w``).
    """

    rho: float
    widths: tuple[int, ...]
    sensitivity: Mapping[str, float]
    scales: Mapping[str, float]


def plan_market_noise(
    grid: CellGrid,
    segments: Sequence[str],
    rho: float,
    caps: ContributionCaps = DEFAULT_CAPS,
    split: MeasureSplit = MARKET_SPLIT,
) -> MarketPlan:
    """Scales so that every market's rows together are ``rho``-zCDP (OpenDP's map).

    Raises:
        PrivacyError: ``rho`` is not a positive finite number.
        ValueError: ``segments`` is empty.
    """
    if not (math.isfinite(rho) and rho > 0):
        raise PrivacyError("the market rows' rho must be a positive number")
    m = memberships_bound([s for s in segments if TIER_SEPARATOR not in s])
    h = min(caps.credits_per_day, QUARTER_HOURS_PER_DAY * grid.channels_per_slot)
    lengths = [len(dp.quarter_hours()) for dp in DAYPARTS]
    widths = tuple(min(h, n) for n in lengths)
    r = grid.channels_per_slot
    b_views = _fill_bound(widths, [r * n for n in lengths], h)
    b_hut = _fill_bound(widths, lengths, min(h, QUARTER_HOURS_PER_DAY))
    squares = len(grid.days) ** 2  # one whole-week cell: D days behind each
    sens = {
        "views": math.sqrt(m * b_views * squares),
        "hut": math.sqrt(m * b_hut * squares),
        "reach": math.sqrt(m * min(len(grid.channels), h * len(grid.days))),
        "universe": math.sqrt(m),
    }
    scales: dict[str, float] = {}
    for name in _MEASURES:
        share = float(getattr(split, name)) * rho
        # Views and HUT are scaled counts (floats); reach and universe whole counts.
        if name in ("views", "hut"):
            scales[name] = certified_scale(sens[name], share, real=True)
        else:
            scales[name] = certified_scale(math.ceil(sens[name]), share)
    return MarketPlan(rho=rho, widths=widths, sensitivity=sens, scales=scales)


def _noised(values: npt.NDArray[np.int64], scale: float, noise: NoiseFn) -> npt.NDArray[np.float64]:
    flat = noise([int(x) for x in values.ravel()], scale)
    return np.asarray(flat, dtype=np.float64).reshape(values.shape)


def _noised_by_width(
    values: npt.NDArray[np.int64], scale: float, widths: Sequence[int], noise: NoiseFn
) -> npt.NDArray[np.float64]:
    """``values[..., d]`` noised at ``scale * widths[d]``, one draw per daypart slice."""
    out = np.empty(values.shape, dtype=np.float64)
    for d, w in enumerate(widths):
        out[..., d] = _noised(np.ascontiguousarray(values[..., d]), scale * w, noise)
    return out


def measure_on_grid(
    members: pa.Table,
    viewing: pa.Table | Path,
    grid: CellGrid,
    *,
    engine: Engine,
    credits_per_day: int | None,
    markets: pa.Table | None = None,
) -> tuple[pa.Table, pa.Table | None]:
    """The cells of ``members`` on the release's grid, and with ``markets`` each market's.

    One pass over ``viewing`` (:func:`linkage.measure.viewership_by_market`):
    the market cells are the same pass's counts grouped by market.
    """
    if markets is None:
        cells = viewership_of_members(
            members,
            viewing,
            channels=grid.channels,
            engine=engine,
            period=grid.days,
            credit_minutes=grid.credit_minutes,
            credits_per_day=credits_per_day,
        )
        return cells, None
    return _by_market(members, viewing, markets, grid, engine, credits_per_day)


def _by_market(
    members: pa.Table,
    viewing: pa.Table | Path,
    markets: pa.Table,
    grid: CellGrid,
    engine: Engine,
    credits_per_day: int | None,
) -> tuple[pa.Table, pa.Table]:
    return viewership_by_market(
        members,
        viewing,
        markets,
        channels=grid.channels,
        engine=engine,
        period=grid.days,
        credit_minutes=grid.credit_minutes,
        credits_per_day=credits_per_day,
    )


def market_release(
    members: pa.Table,
    viewing: pa.Table | Path,
    markets: pa.Table,
    grid: CellGrid,
    *,
    engine: Engine,
    k: int,
    min_universe: int,
    segments: Sequence[str],
    rho: float | None,
    lineups: pa.Table,
    caps: ContributionCaps = DEFAULT_CAPS,
    noise: NoiseFn = discrete_gaussian,
    by_market: pa.Table | None = None,
) -> pa.Table:
    """The market rows of a release (:data:`RELEASE_SCHEMA`, grains daypart and period).

    Which markets a release lists comes from the public line-ups, never from the
    provider's households: a market present only when someone lives there would
    answer "does the target subscribe?" for a market of one household, at any rho.

    Args:
        members: :func:`linkage.measure.segment_members` of the release.
        viewing: The viewing the statewide rows measure (bounded under DP).
        markets: :func:`check_markets` output.
        grid: The release's public grid.
        segments: Every code the release carries (tiers are skipped here).
        rho: The market rows' rho; None for an exact release (flagged by the audit).
        lineups: ``market, channel``: the markets (public) and the channels each
            carries; a market's rows of a channel it does not carry are left out,
            and households of a market not listed count statewide only.
        by_market: The market cells the statewide pass measured beside its own
            (:func:`linkage.measure.viewership_by_market`, on ``viewing`` with
            this release's crediting and ``markets``); None measures them here.

    Returns:
        One row per (market, segment, channel, day type, daypart) and per
        (market, segment, channel) period cell, for every market of ``lineups``.
    """
    market_codes = sorted({str(m) for m in lineups["market"].to_pylist()})
    if not market_codes:
        raise InputError("the line-ups list no market", hint="one market,channel row per channel")
    listed = pa.array(market_codes)
    plain = sorted({s for s in segments if TIER_SEPARATOR not in s})
    wanted = [f"{s}{_SEP}{m}" for s in plain for m in market_codes]
    if by_market is None:
        _, by_market = _by_market(
            _without_tiers(members),
            viewing,
            markets.filter(pc.is_in(markets["market"], listed)),
            grid,
            engine,
            None if rho is None else caps.credits_per_day,
        )
    by_market = by_market.filter(pc.is_in(by_market["market"], listed))
    cells = (
        by_market.drop_columns("market").set_column(
            by_market.schema.get_field_index("segment"),
            "segment",
            pc.binary_join_element_wise(by_market["segment"], by_market["market"], _SEP),
        )
        if by_market.num_rows
        else None
    )
    if rho is None:
        table = _exact_rows(cells, wanted, grid, k, min_universe)
    else:
        table = _noisy_rows(
            cells, wanted, grid, plan_market_noise(grid, plain, rho, caps), k, min_universe, noise
        )
    return _with_lineups(table, lineups)


def market_cells(
    members: pa.Table,
    viewing: pa.Table | Path,
    markets: pa.Table,
    grid: CellGrid,
    *,
    engine: Engine,
    credits_per_day: int | None = None,
) -> pa.Table:
    """Exact market cells at the daypart and period grains, ``contributors`` included.

    For the exact path and the auditor; never released as such. Columns:
    :data:`~linkage.tables.CELLS_SCHEMA` plus ``market``, segment codes plain.
    """
    _, by_market = _by_market(
        _without_tiers(members), viewing, markets, grid, engine, credits_per_day
    )
    if by_market.num_rows == 0:
        return CELLS_SCHEMA.append(pa.field("market", pa.string())).empty_table()
    codes = pc.binary_join_element_wise(by_market["segment"], by_market["market"], _SEP)
    cells = by_market.drop_columns("market").set_column(
        by_market.schema.get_field_index("segment"), "segment", codes
    )
    return _exact_cells(cells, sorted(pc.unique(codes).to_pylist()), grid)


def _without_tiers(members: pa.Table) -> pa.Table:
    """Tiers have no market rows: without them the one pass has fewer patterns."""
    return members.filter(pc.invert(pc.match_substring(members["segment"], TIER_SEPARATOR)))


def _exact_cells(cells: pa.Table, wanted: Sequence[str], grid: CellGrid) -> pa.Table:
    """Every whole-week daypart and period cell of ``wanted``, nothing suppressed."""
    m = market_measures(cells, wanted, grid)
    rows = _figures(_Counts.exact(m), wanted, grid, None, 0, 0)
    contributors = np.concatenate([m.contributors.ravel(), m.reach.ravel()])
    rows = rows.append_column("contributors", pa.array(contributors, pa.int64()))
    return rows.select([*CELLS_SCHEMA.names, "market"]).cast(
        CELLS_SCHEMA.append(pa.field("market", pa.string()))
    )


def _exact_rows(
    cells: pa.Table | None, wanted: Sequence[str], grid: CellGrid, k: int, min_universe: int
) -> pa.Table:
    if cells is None:
        return RELEASE_SCHEMA.empty_table()
    exact = _Counts.exact(market_measures(cells, wanted, grid))
    return _figures(exact, wanted, grid, None, k, min_universe)


def _split_codes(payload: pa.Table, k: int, min_universe: int, *, exact: bool) -> pa.Table:
    """Crossed codes back to ``segment`` and ``market``; the release columns."""
    parts = pc.split_pattern(payload["segment"], _SEP)
    segment = pc.list_element(parts, 0)
    market = pc.list_element(parts, 1)
    n = payload.num_rows
    out: dict[str, pa.Array | pa.ChunkedArray] = {
        name: payload[name] for name in payload.column_names if name in RELEASE_SCHEMA.names
    }
    out["segment"], out["market"] = segment, market
    if exact:
        for name in INTERVAL_COLUMNS:
            out[name] = pa.nulls(n, pa.float64())
    out["matched_records"] = pa.nulls(n, pa.int64())
    out["k"] = pa.array(np.full(n, k, np.int64))
    out["min_universe"] = pa.array(np.full(n, min_universe, np.int64))
    return pa.table(out).select(RELEASE_SCHEMA.names).cast(RELEASE_SCHEMA)


@dataclass(frozen=True)
class MarketMeasures:
    """The exact counts the market rows noise, indexed by crossed code (``wanted`` order).

    The day-type axis has one entry, :data:`WHOLE_WEEK`: every day of the period.

    Attributes:
        views: Credited household-days, ``[code, channel, 1, daypart]``.
        hut: HUT household-days, ``[code, 1, daypart]``.
        reach: Distinct households per ``[code, channel]`` over the period.
        universe: Households per code.
        contributors: A lower bound on the distinct households behind each views
            cell, ``[code, channel, 1, daypart]``: the most of any one day type's
            (a household counted on weekdays and at the weekend is one household).
            Only the exact path reads it.
    """

    views: npt.NDArray[np.int64]
    hut: npt.NDArray[np.int64]
    reach: npt.NDArray[np.int64]
    universe: npt.NDArray[np.int64]
    contributors: npt.NDArray[np.int64]

    def scaled(self, widths: Sequence[int]) -> dict[str, npt.NDArray[np.float64]]:
        """Each measure as the mechanism sees it (views and HUT divided by the widths)."""
        w = np.asarray(widths, dtype=np.float64)
        return {
            "views": self.views / w,
            "hut": self.hut / w,
            "reach": self.reach.astype(np.float64),
            "universe": self.universe.astype(np.float64),
        }


def market_measures(
    cells: pa.Table | None, wanted: Sequence[str], grid: CellGrid
) -> MarketMeasures:
    """Crossed quarter-hour cells summed to whole-week dayparts (absent codes: zeros)."""
    n_c, n_d = len(grid.channels), len(DAYPARTS)
    index = {code: i for i, code in enumerate(wanted)}
    n_s = len(wanted)
    views = np.zeros((n_s, n_c, 1, n_d), dtype=np.int64)
    hut = np.zeros((n_s, 1, n_d), dtype=np.int64)
    reach = np.zeros((n_s, n_c), dtype=np.int64)
    universe = np.zeros(n_s, dtype=np.int64)
    contributors = np.zeros((n_s, n_c, 1, n_d), dtype=np.int64)
    if cells is not None and cells.num_rows:
        m = measures(cells, grid)
        rows = np.array([index[s] for s in m.segments], dtype=np.int64)
        for d, dp in enumerate(DAYPARTS):
            qs = list(dp.quarter_hours())
            views[rows, :, 0, d] = m.views[..., qs].sum(axis=(-2, -1))
            hut[rows, 0, d] = m.hut[..., qs].sum(axis=(-2, -1))
        reach[rows] = m.reach
        universe[rows] = m.universe
        contributors = _daypart_contributors(cells, index, grid, contributors)
    return MarketMeasures(views, hut, reach, universe, contributors)


def _daypart_contributors(
    cells: pa.Table,
    index: Mapping[str, int],
    grid: CellGrid,
    out: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """``out`` filled with each daypart cell's most contributors over day types."""
    rows = cells.filter(pc.equal(cells["grain"], "daypart"))
    if rows.num_rows == 0 or "contributors" not in rows.column_names:
        return out
    channel = {c: i for i, c in enumerate(grid.channels)}
    daypart = {dp.name: i for i, dp in enumerate(DAYPARTS)}
    s = np.array([index.get(v, -1) for v in rows["segment"].to_pylist()], dtype=np.int64)
    c = np.array([channel.get(v, -1) for v in rows["channel"].to_pylist()], dtype=np.int64)
    d = np.array([daypart.get(v, -1) for v in rows["daypart"].to_pylist()], dtype=np.int64)
    n = pc.fill_null(rows["contributors"], 0).to_numpy(zero_copy_only=False).astype(np.int64)
    keep = (s >= 0) & (c >= 0) & (d >= 0)
    np.maximum.at(out, (s[keep], c[keep], np.zeros_like(s[keep]), d[keep]), n[keep])
    return out


def _noisy_rows(
    cells: pa.Table | None,
    wanted: Sequence[str],
    grid: CellGrid,
    plan: MarketPlan,
    k: int,
    min_universe: int,
    noise: NoiseFn,
) -> pa.Table:
    """Noise the market measures and build the daypart and period rows on noisy values."""
    exact = market_measures(cells, wanted, grid)
    sc = plan.scales
    noisy = _Counts(
        views=_noised_by_width(exact.views, sc["views"], plan.widths, noise),
        hut=_noised_by_width(exact.hut, sc["hut"], plan.widths, noise),
        reach=_noised(exact.reach, sc["reach"], noise),
        universe=_noised(exact.universe, sc["universe"], noise),
        contributors=exact.contributors.astype(np.float64),
    )
    return _figures(noisy, wanted, grid, plan, k, min_universe)


@dataclass(frozen=True)
class _Counts:
    """:class:`MarketMeasures` as floats: noisy, or exact on the exact path."""

    views: npt.NDArray[np.float64]
    hut: npt.NDArray[np.float64]
    reach: npt.NDArray[np.float64]
    universe: npt.NDArray[np.float64]
    contributors: npt.NDArray[np.float64]

    @classmethod
    def exact(cls, m: MarketMeasures) -> _Counts:
        return cls(
            *(x.astype(np.float64) for x in (m.views, m.hut, m.reach, m.universe, m.contributors))
        )


def _figures(
    m: _Counts,
    wanted: Sequence[str],
    grid: CellGrid,
    plan: MarketPlan | None,
    k: int,
    min_universe: int,
) -> pa.Table:
    """The daypart and period rows of (noisy, or with ``plan`` None exact) market measures.

    Under DP every decision reads the noisy values; the exact path suppresses on
    contributors (a lower bound for whole-week cells, so it never shows a cell
    that has fewer than ``k``).
    """
    types = (WHOLE_WEEK,)
    v, h, r = m.views, m.hut, m.reach
    u = np.maximum(1.0, m.universe)
    if plan is None:
        w = np.ones(len(DAYPARTS), dtype=np.float64)
        sc = {name: 0.0 for name in _MEASURES}
    else:
        w, sc = np.array(plan.widths, dtype=np.float64), dict(plan.scales)
    var_u = sc["universe"] ** 2

    n_days = np.array([len(grid.days)], dtype=np.float64)
    lengths = np.array([len(dp.quarter_hours()) for dp in DAYPARTS], dtype=np.float64)
    slots = n_days[:, None] * lengths[None, :]  # [t, d]
    u4 = u[:, None, None, None]
    var_v = (sc["views"] * w) ** 2  # per daypart
    var_h = (sc["hut"] * w) ** 2
    n = np.clip(v, 0.0, u4 * slots)
    hh = np.clip(np.broadcast_to(h[:, None], n.shape), 0.0, u4 * slots)
    den = np.maximum(hh, n)
    aqh = n / slots
    aqh_var = np.broadcast_to(var_v / slots**2, n.shape)
    dp_figures = {
        "aqh_households": aqh,
        "rating": aqh * 100.0 / u4,
        "share": np.where(n > 0, n * 100.0 / np.where(den > 0, den, 1.0), 0.0),
        "aqh_households_ci": Z95 * np.sqrt(aqh_var),
        "rating_ci": ratio_half_width(aqh, aqh_var, np.broadcast_to(u4, n.shape), var_u, 100.0),
        "share_ci": ratio_half_width(
            n,
            np.broadcast_to(var_v, n.shape),
            np.maximum(den, 1.0),
            np.broadcast_to(var_h, n.shape),
            100.0,
        ),
    }
    # Period: sums of the whole-week dayparts; reach is its own measure.
    total_slots = n_days.sum() * QUARTER_HOURS_PER_DAY
    pv = np.clip(v.sum(axis=(2, 3)), 0.0, u[:, None] * total_slots)
    ph = np.clip(h.sum(axis=(1, 2)), 0.0, u * total_slots)[:, None]
    pden = np.maximum(ph, pv)
    p_var_v = float(var_v.sum())
    p_var_h = float(var_h.sum())
    p_aqh = pv / total_slots
    reached = np.minimum(u[:, None], np.maximum(0.0, r))
    period = {
        "aqh_households": p_aqh,
        "rating": p_aqh * 100.0 / u[:, None],
        "share": np.where(pv > 0, pv * 100.0 / np.where(pden > 0, pden, 1.0), 0.0),
        "aqh_households_ci": np.full(pv.shape, Z95 * math.sqrt(p_var_v) / total_slots),
        "rating_ci": ratio_half_width(
            p_aqh, p_var_v / total_slots**2, np.broadcast_to(u[:, None], pv.shape), var_u, 100.0
        ),
        "share_ci": ratio_half_width(pv, p_var_v, np.maximum(pden, 1.0), p_var_h, 100.0),
        "reach_households": reached,
        "reach": reached * 100.0 / u[:, None],
        "reach_ci": ratio_half_width(
            reached, sc["reach"] ** 2, np.broadcast_to(u[:, None], pv.shape), var_u, 100.0
        ),
    }
    shown_dp = m.contributors if plan is None else aqh
    return _assemble(
        wanted, grid, types, dp_figures, period, u, shown_dp, r, k, min_universe, plan is None
    )


def _assemble(
    wanted: Sequence[str],
    grid: CellGrid,
    types: Sequence[str],
    dp_figures: Mapping[str, npt.NDArray[np.float64]],
    period: Mapping[str, npt.NDArray[np.float64]],
    universe: npt.NDArray[np.float64],
    shown_dp: npt.NDArray[np.float64],
    shown_p: npt.NDArray[np.float64],
    k: int,
    min_universe: int,
    exact: bool,
) -> pa.Table:
    """Release rows; a cell whose ``shown_*`` count is under ``k`` is suppressed."""
    n_s, n_c, n_t, n_d = len(wanted), len(grid.channels), len(types), len(DAYPARTS)
    s, c, t, d = (a.ravel() for a in np.indices((n_s, n_c, n_t, n_d)))
    ps, pch = (a.ravel() for a in np.indices((n_s, n_c)))
    codes = np.asarray(wanted, dtype=object)
    channels = np.asarray(grid.channels, dtype=object)
    names = np.asarray([dp.name for dp in DAYPARTS], dtype=object)
    type_names = np.asarray(types, dtype=object)
    n_dp, n_p = len(s), len(ps)
    small_dp = universe[s] < min_universe
    small_p = universe[ps] < min_universe
    sup_dp = small_dp | (shown_dp[s, c, t, d] < k)
    sup_p = small_p | (shown_p[ps, pch] < k)
    suppressed = np.concatenate([sup_dp, sup_p])
    out: dict[str, pa.Array] = {
        "grain": pa.array(["daypart"] * n_dp + ["period"] * n_p, pa.string()),
        "segment": pa.array(np.concatenate([codes[s], codes[ps]]), pa.string()),
        "channel": pa.array(np.concatenate([channels[c], channels[pch]]), pa.string()),
        "day_type": pa.array(np.concatenate([type_names[t], np.full(n_p, "all", object)])),
        "daypart": pa.array(np.concatenate([names[d], np.full(n_p, "all", object)])),
        "quarter_hour": pa.nulls(n_dp + n_p, pa.int16()),
        "universe": pa.array(np.concatenate([universe[s], universe[ps]]).astype(np.int64)),
        "suppressed": pa.array(suppressed, pa.bool_()),
    }
    for name in (
        "aqh_households",
        "rating",
        "share",
        *INTERVAL_COLUMNS,
        "reach_households",
        "reach",
    ):
        part_dp = dp_figures[name][s, c, t, d] if name in dp_figures else np.full(n_dp, np.nan)
        part_p = period[name][ps, pch] if name in period else np.full(n_p, np.nan)
        values = np.concatenate([part_dp, part_p])
        blank = suppressed | np.isnan(values)
        if name == "reach_households":
            whole = np.nan_to_num(values, nan=0.0).astype(np.int64)
            out[name] = pa.array(whole, pa.int64(), mask=blank)
        else:
            out[name] = pa.array(values, pa.float64(), mask=blank)
    table = pa.table(out)
    return _split_codes(table, k, min_universe, exact=exact)


def _with_lineups(table: pa.Table, lineups: pa.Table) -> pa.Table:
    """Drop the rows of channels a market does not carry (the line-up is public)."""
    if table.num_rows == 0:
        return table
    carried = {
        (str(m), str(c))
        for m, c in zip(lineups["market"].to_pylist(), lineups["channel"].to_pylist(), strict=True)
    }
    keep = [
        (m, c) in carried
        for m, c in zip(table["market"].to_pylist(), table["channel"].to_pylist(), strict=True)
    ]
    return table.filter(pa.array(keep, pa.bool_()))
