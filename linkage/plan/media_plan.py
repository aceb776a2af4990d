"""The media plan: the spots to buy for the target segments, and how they compare.

"Plan" is the ad buyer's word for the whole deliverable -- a schedule of spots
plus the evidence that it is worth its budget -- so this module is named for
it rather than for the solver behind it. It turns a :class:`PlanRequest`
(targets and weights, budget, light-viewer priority, channel spread) and the
decoded ``viewership`` release into a :class:`PlanResult`: the optimized
schedule, the all-household schedule it is compared with, the comparison
table (:data:`COMPARISON_COLUMNS`, one row per plan, market and measured
segment) and notes on what the release could not show.

With a rate card that names markets (DMAs), the cells are (market, channel,
daypart), each valued on its market's own released ratings in statewide
points (:mod:`linkage.plan.markets` says why), and one budget is split across
markets by the optimizer, or each market gets a fixed budget
(:attr:`PlanRequest.market_budgets`). A card without markets plans statewide
as before; its rows carry the market :data:`~linkage.tables.ALL_MARKETS`.

Three plans share the budget and channel spread: ``optimized`` (CBC on the
target objective), ``greedy`` (the ratio rule, same objective) and
``all_households`` (bought on all-household ratings, the buy a campaign makes
without linkage). The value and reach models are in :mod:`linkage.plan.reach`,
the integer program in :mod:`linkage.plan.solver`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from linkage.errors import InputError
from linkage.measure import DAYPART_NAMES, spot_ratings, tier_codes
from linkage.plan.markets import (
    market_budgets_cents,
    market_rows,
    ratecard_markets,
    release_markets,
    statewide_rows,
)
from linkage.plan.ratecard import RateCell
from linkage.plan.reach import (
    LIGHT,
    cell_values,
    combine_market_reach,
    estimate_reach,
    rating_lookup,
    reach_ceilings,
    with_tier_estimates,
)
from linkage.plan.solver import Instance, Solution, greedy, solve
from linkage.tables import ALL_MARKETS, ALL_MATCHED, TIER_SEPARATOR

__all__ = [
    "COMPARISON_COLUMNS",
    "PLAN_BASELINE_CSV",
    "PLAN_COMPARISON_CSV",
    "PLAN_CSV",
    "PLAN_NAMES",
    "PlanRequest",
    "PlanResult",
    "check_feasible",
    "check_targets",
    "make_plan",
    "normalise_weights",
    "validate_request",
]

COMPARISON_COLUMNS = (
    "market",
    "plan",
    "segment",
    "weight",
    "spots",
    "channels",
    "cost",
    "trps",
    "trps_per_1000_usd",
    "cost_per_trp",
    "reach",
    "avg_frequency",
    "objective",
    "optimal",
)
"""Columns of :attr:`PlanResult.comparison`: one row per plan, market and measured segment.

``market`` is :data:`~linkage.tables.ALL_MARKETS` for the whole plan (points
and reach over the statewide universe); a market's own rows (only when the
rate card names markets) count that market's spend, its own rating points and
reach among its households."""
PLAN_NAMES = ("optimized", "greedy", "all_households")
"""Comparison rows: the target plan, its greedy baseline, the plan bought on all households."""


# The report picks the schedule and the comparison up from the plan's
# directory, so both sides take the file names from here.
PLAN_CSV = "plan.csv"
"""File name of the optimized schedule (:attr:`PlanResult.schedule`): ``market, channel,
daypart, spots, units_available, cost_per_spot, cost, target_trps, grps, trps_<target>...``;
the point columns are statewide points (:mod:`linkage.plan.markets`), so they add up
across markets."""
PLAN_BASELINE_CSV = "plan_all_households.csv"
"""File name of the all-household schedule (:attr:`PlanResult.baseline_schedule`)."""
PLAN_COMPARISON_CSV = "plan_comparison.csv"
"""File name of the comparison (:attr:`PlanResult.comparison`, maybe with voter projections)."""


def normalise_weights(
    targets: Sequence[str], weights: Sequence[float] | None = None
) -> dict[str, float]:
    """Target segment -> weight, summing to one (equal weights by default).

    Raises:
        InputError: No targets, a repeated target, a weight count that does not
            match, or a weight that is not a positive finite number.
    """
    if not targets:
        raise InputError("no target segment", hint="pass --target SEGMENT[,SEGMENT...]")
    if len(set(targets)) != len(targets):
        raise InputError("a target segment is named twice")
    chosen = [1.0] * len(targets) if weights is None else [float(w) for w in weights]
    if len(chosen) != len(targets):
        raise InputError(
            "give one weight per target segment",
            hint=f"{len(targets)} target(s), {len(chosen)} weight(s)",
        )
    for position, w in enumerate(chosen, start=1):
        if not math.isfinite(w) or w <= 0:
            raise InputError(f"weight #{position} must be a positive number")
    total = sum(chosen)
    return {t: w / total for t, w in zip(targets, chosen, strict=True)}


@dataclass(frozen=True, slots=True)
class PlanRequest:
    """What the campaign asks for.

    Attributes:
        weights: Target segment -> weight (:func:`normalise_weights`).
        budget: Budget in dollars.
        light_priority: Extra weight on light viewers' rating points (0 = none).
        min_channels: Minimum distinct channels carrying a spot (0 = none).
        time_limit: Seconds CBC may search per plan.
        market_budgets: Market -> budget in dollars, fixed per market (markets
            not named get nothing); None lets the optimizer split ``budget``.
            ``budget`` still caps the total.
    """

    weights: Mapping[str, float]
    budget: float
    light_priority: float = 0.0
    min_channels: int = 0
    time_limit: float = 60.0
    market_budgets: Mapping[str, float] | None = None


@dataclass(frozen=True, slots=True)
class PlanResult:
    """The optimized plan, its baselines, and the tables the campaign writes.

    Attributes:
        schedule: ``plan.csv`` rows (the optimized plan).
        baseline_schedule: The all-household plan's rows, same columns.
        comparison: ``comparison.csv`` rows (:data:`COMPARISON_COLUMNS`).
        optimized: The optimized solution.
        greedy: The greedy solution for the same objective.
        all_households: The solution optimised for all-household ratings.
        notes: What the plan could not see (suppressed cells, missing tiers...).
        zero_valued: Rate-card cells the target objective valued at zero
            (suppressed or not released for every target, or no audience).
        cells: Rate-card cells in all.
    """

    schedule: pa.Table
    baseline_schedule: pa.Table
    comparison: pa.Table
    optimized: Solution
    greedy: Solution
    all_households: Solution
    notes: tuple[str, ...]
    zero_valued: int = 0
    cells: int = 0

    @property
    def caveat(self) -> str | None:
        """What to print beside the plan's headline figure when most cells were valued at zero.

        The comparison with the all-household plan then rests on the few cells
        the release shows: a large gain says more about suppression than about
        the audience. None when at most half the cells were valued at zero.
        """
        if self.cells == 0 or 2 * self.zero_valued <= self.cells:
            return None
        return (
            f"{self.zero_valued:,} of {self.cells:,} rate-card cells were valued at zero, "
            "suppressed or not released for the targets: the plans are compared on the "
            f"other {self.cells - self.zero_valued:,} only"
        )


def validate_request(request: PlanRequest) -> None:
    """Check a request's numbers (budget, priority, spread, time limit, weights).

    Raises:
        InputError: The first problem found, without echoing the value.
    """
    if not math.isfinite(request.budget) or request.budget <= 0:
        raise InputError("budget must be a positive number of dollars")
    if not math.isfinite(request.light_priority) or request.light_priority < 0:
        raise InputError("light-viewer priority must be >= 0")
    if request.min_channels < 0:
        raise InputError("minimum channel count must be >= 0")
    if request.time_limit <= 0:
        raise InputError("solver time limit must be positive")
    if not request.weights or any(not math.isfinite(w) or w <= 0 for w in request.weights.values()):
        raise InputError("target weights must be positive numbers")
    if request.market_budgets is not None and (
        not request.market_budgets
        or any(not math.isfinite(b) or b <= 0 for b in request.market_budgets.values())
    ):
        raise InputError("market budgets must be positive numbers of dollars")


def check_targets(targets: Sequence[str], codes: Mapping[str, str]) -> None:
    """Raise before any work when a target is not a segment this campaign issued.

    Checked against the campaign's own codes (and their intensity tiers), so a
    typo fails before the rate card is read or the release is opened.

    Args:
        targets: Target segment names, as given (``--target``).
        codes: Segment name -> code from the campaign's state for the exchange.

    Raises:
        InputError: Names the target's position and lists the known segments.
    """
    known = {ALL_MATCHED, *tier_codes(codes)}
    for position, name in enumerate(targets, start=1):
        if name not in known:
            raise InputError(
                f"--target: segment #{position} is not a segment of this exchange",
                hint=f"known segments: {', '.join(sorted({ALL_MATCHED, *codes}))}",
            )


def check_feasible(cells: Sequence[RateCell], request: PlanRequest) -> None:
    """Raise before any work when the rate card cannot meet the channel spread in budget.

    Raises:
        InputError: ``min_channels`` channels cannot each get a spot for the
            budget, or a per-market budget names a market the card lacks.
    """
    _instance(cells, tuple(0.0 for _ in cells), request).check_spread()


def _instance(
    cells: Sequence[RateCell], values: tuple[float, ...], request: PlanRequest
) -> Instance:
    caps = market_budgets_cents(cells, request.market_budgets)
    return Instance(
        values,
        tuple(c.cost_cents for c in cells),
        tuple(c.units for c in cells),
        tuple(c.channel for c in cells),
        _cents(request.budget),
        request.min_channels,
        markets=tuple(c.market for c in cells) if caps is not None else (),
        market_budgets=tuple(sorted(caps.items())) if caps is not None else (),
    )


def _cents(budget: float) -> int:
    return math.floor(budget * 100 + 1e-6)


def _check_segments(request: PlanRequest, segments: set[str]) -> None:
    for position, name in enumerate(request.weights, start=1):
        if name not in segments:
            raise InputError(
                f"target #{position} is not a segment of this release",
                hint=f"known segments: {', '.join(sorted(segments))}",
            )


@dataclass(frozen=True, slots=True)
class _View:
    """One market's released figures, as the plan uses them.

    Attributes:
        ratings: :func:`linkage.measure.spot_ratings` of the market's rows,
            with tier estimates.
        rating: (segment, channel, daypart) -> rating among the market's households.
        universe: Segment -> the market's universe of it.
        ceilings: Segment -> channel -> period reach in the market.
        scale: Segment -> the market's universe over the statewide universe:
            a market rating point in statewide points (1 statewide).
        base: Segment -> the statewide universe.
    """

    ratings: pa.Table
    rating: Mapping[tuple[str, str, str], float]
    universe: Mapping[str, int]
    ceilings: Mapping[str, Mapping[str, float]]
    scale: Mapping[str, float]
    base: Mapping[str, int]


def _view(rows: pa.Table, statewide: Mapping[str, int] | None) -> _View:
    if statewide is not None:
        rows = rows.filter(pc.is_valid(rows["universe"]))  # a market's withheld segment
    ratings = with_tier_estimates(spot_ratings(rows, conservative=True), rows)
    rating, universe = rating_lookup(ratings)
    if statewide is None:
        return _View(
            ratings, rating, universe, reach_ceilings(rows), dict.fromkeys(universe, 1.0), universe
        )
    scale = {s: u / statewide[s] if statewide.get(s) else 0.0 for s, u in universe.items()}
    return _View(ratings, rating, universe, reach_ceilings(rows), scale, statewide)


def _schedule_table(
    cells: Sequence[RateCell],
    spots: Sequence[int],
    views: Mapping[str, _View],
    weights: Mapping[str, float],
) -> pa.Table:
    order = {name: i for i, name in enumerate(DAYPART_NAMES)}
    picked = sorted(
        (i for i, n in enumerate(spots) if n > 0),
        key=lambda i: (cells[i].market, cells[i].channel, order[cells[i].daypart]),
    )
    columns: dict[str, pa.Array] = {
        "market": pa.array([cells[i].market for i in picked], pa.string()),
        "channel": pa.array([cells[i].channel for i in picked], pa.string()),
        "daypart": pa.array([cells[i].daypart for i in picked], pa.string()),
        "spots": pa.array([spots[i] for i in picked], pa.int64()),
        "units_available": pa.array([cells[i].units for i in picked], pa.int64()),
        "cost_per_spot": pa.array([cells[i].cost for i in picked], pa.float64()),
        "cost": pa.array([cells[i].cost_cents * spots[i] / 100.0 for i in picked], pa.float64()),
    }

    def points(segment: str, i: int) -> float:
        return spots[i] * _points(views, cells[i], segment)

    columns["target_trps"] = pa.array(
        [sum(w * points(s, i) for s, w in weights.items()) for i in picked], pa.float64()
    )
    columns["grps"] = pa.array([points(ALL_MATCHED, i) for i in picked], pa.float64())
    for segment in weights:
        columns[f"trps_{segment}"] = pa.array([points(segment, i) for i in picked], pa.float64())
    return pa.table(columns)


def _points(views: Mapping[str, _View], cell: RateCell, segment: str) -> float:
    """Statewide rating points of one spot in ``cell`` among ``segment`` (zero if not released)."""
    view = views.get(cell.market)
    if view is None:
        return 0.0
    return view.rating.get((segment, cell.channel, cell.daypart), 0.0) * view.scale.get(
        segment, 0.0
    )


def _values(
    cells: Sequence[RateCell],
    views: Mapping[str, _View],
    weights: Mapping[str, float],
    light_priority: float,
) -> tuple[float, ...]:
    """Objective points per spot: statewide as ever, or per market in statewide points."""
    if set(views) == {ALL_MARKETS}:
        return cell_values(
            cells, views[ALL_MARKETS].ratings, weights, light_priority=light_priority
        )
    values = [0.0] * len(cells)
    for market, view in views.items():
        at = [i for i, c in enumerate(cells) if c.market == market]
        for segment, w in weights.items():
            scale = view.scale.get(segment, 0.0)
            if not scale:
                continue
            part = cell_values(
                [cells[i] for i in at], view.ratings, {segment: w}, light_priority=light_priority
            )
            for i, v in zip(at, part, strict=True):
                values[i] += scale * v
    return tuple(values)


def _market_views(
    cells: Sequence[RateCell], decoded: pa.Table, statewide: _View
) -> tuple[dict[str, _View], list[str]]:
    """Market -> its figures for the rate card's markets, and notes on markets the release lacks.

    Raises:
        InputError: The rate card names markets and the release has none.
    """
    markets = ratecard_markets(cells)
    if not markets:
        return {ALL_MARKETS: statewide}, []
    released = set(release_markets(decoded))
    if not released:
        raise InputError(
            "the rate card names markets but the release has no market rows",
            hint="ask the provider for a release by market (`narwhal provider aggregate "
            "--markets FILE`), or plan on a rate card without the market column",
        )
    views: dict[str, _View] = {}
    notes: list[str] = []
    for market in markets:
        if market not in released:
            n = sum(1 for c in cells if c.market == market)
            notes.append(f"{market}: not in the release, its {n} rate-card cells valued at zero")
        views[market] = _view(market_rows(decoded, market), statewide.universe)
    return views, notes


def make_plan(cells: Sequence[RateCell], decoded: pa.Table, request: PlanRequest) -> PlanResult:
    """Plan the buy for the target segments and compare it with the baselines.

    Three plans under the same budget and channel spread: ``optimized``
    (CBC on the target objective, warm-started from greedy), ``greedy``
    (ratio rule, same objective) and ``all_households`` (CBC on all-household
    ratings, no light priority). Each is then measured on every target,
    the weighted target, each target's light viewers when released, and
    all matched households: statewide and, when the rate card names markets,
    per market.

    Args:
        cells: Parsed rate card (with or without markets).
        decoded: Decoded ``viewership`` (:func:`linkage.report.decode_viewership`,
            with :func:`linkage.measure.tier_codes` when tiers were released);
            market rows are used when the rate card names markets.
        request: Targets, budget and options.

    Raises:
        InputError: Bad budget or options, a target not in the release, a
            per-market budget for a market the card lacks, a market card
            without a market release, or no feasible schedule.
    """
    statewide_table = statewide_rows(decoded)
    statewide = _view(statewide_table, None)
    ratings = statewide.ratings
    segments = {str(s) for s in pc.unique(ratings["segment"]).to_pylist()}
    validate_request(request)
    _check_segments(request, segments)
    if ALL_MATCHED not in segments:
        raise InputError("the release has no all-matched rows", hint="check the viewership message")
    views, market_notes = _market_views(cells, decoded, statewide)
    by_market = ALL_MARKETS not in views
    weights = dict(request.weights)

    values = _values(cells, views, weights, request.light_priority)
    target = _instance(cells, values, request)
    baseline = greedy(target)
    best = solve(target, time_limit=request.time_limit, warm_start=baseline)
    everyone = _instance(cells, _values(cells, views, {ALL_MATCHED: 1.0}, 0.0), request)
    broad = solve(everyone, time_limit=request.time_limit, warm_start=greedy(everyone))

    measured: dict[str, float | None] = {}
    for name, w in [
        *weights.items(),
        *((f"{s}{TIER_SEPARATOR}{LIGHT}", None) for s in weights),
        (ALL_MATCHED, None),
    ]:
        if name in segments:
            measured.setdefault(name, w)
    rows: list[dict[str, object]] = []
    for plan_name, solution, objective in (
        ("optimized", best, best.objective),
        ("greedy", baseline, baseline.objective),
        ("all_households", broad, target.objective(broad.spots)),
    ):
        spots = solution.spots
        rows += _plan_rows(
            plan_name, ALL_MARKETS, cells, spots, views, measured, target, objective, solution
        )
        if by_market:
            for market in views:
                rows += _plan_rows(
                    plan_name, market, cells, spots, views, measured, target, objective, solution
                )
    comparison = pa.Table.from_pylist(rows, schema=_COMPARISON_SCHEMA)
    if by_market:
        notes = tuple(market_notes) + tuple(
            f"{market}: {note}"
            for market, view in views.items()
            for note in _notes(
                [c for c in cells if c.market == market],
                view.ratings,
                weights,
                request,
                view.universe,
            )
        )
    else:
        notes = _notes(cells, ratings, weights, request, statewide.universe)
    return PlanResult(
        schedule=_schedule_table(cells, best.spots, views, weights),
        baseline_schedule=_schedule_table(cells, broad.spots, views, weights),
        comparison=comparison,
        optimized=best,
        greedy=baseline,
        all_households=broad,
        notes=notes,
        zero_valued=sum(1 for value in values if value <= 0.0),
        cells=len(cells),
    )


def _plan_rows(
    plan_name: str,
    market: str,
    cells: Sequence[RateCell],
    spots: Sequence[int],
    views: Mapping[str, _View],
    measured: Mapping[str, float | None],
    target: Instance,
    objective: float,
    solution: Solution,
) -> list[dict[str, object]]:
    """One plan's comparison rows for ``market`` (``*``: the whole plan, every market)."""
    whole = market == ALL_MARKETS
    chosen = [(c, n) for c, n in zip(cells, spots, strict=True) if whole or c.market == market]
    n_spots = sum(n for _, n in chosen)
    n_channels = len({c.channel for c, n in chosen if n > 0})
    cost = sum(c.cost_cents * n for c, n in chosen) / 100.0
    weighted = {"trps": 0.0, "reach": 0.0}
    rows: list[dict[str, object]] = []
    for name, w in measured.items():
        if whole:
            trps = math.fsum(n * _points(views, c, name) for c, n in chosen)
            reach = _statewide_reach(name, cells, spots, views)
        else:
            view = views[market]
            if name not in view.universe:
                continue
            trps = math.fsum(
                n * view.rating.get((name, c.channel, c.daypart), 0.0) for c, n in chosen
            )
            reach = _reach(name, chosen, view)
        if w is not None:
            weighted["trps"] += w * trps
            weighted["reach"] += w * reach
        rows.append(
            _row(
                market,
                plan_name,
                name,
                w,
                n_spots,
                n_channels,
                cost,
                trps,
                reach,
                objective,
                solution,
            )
        )
    if sum(1 for r in rows if r["weight"] is not None) > 1:
        rows.append(
            _row(
                market,
                plan_name,
                "weighted_target",
                1.0,
                n_spots,
                n_channels,
                cost,
                weighted["trps"],
                weighted["reach"],
                objective,
                solution,
            )
        )
    return rows


def _reach(segment: str, chosen: Sequence[tuple[RateCell, int]], view: _View) -> float:
    """Reach among one view's households of ``segment`` (percent)."""
    return estimate_reach(
        {(c.channel, c.daypart): n for c, n in chosen if n},
        {
            (c.channel, c.daypart): view.rating.get((segment, c.channel, c.daypart), 0.0)
            for c, _ in chosen
        },
        view.ceilings.get(segment, {}),
    )


def _statewide_reach(
    segment: str, cells: Sequence[RateCell], spots: Sequence[int], views: Mapping[str, _View]
) -> float:
    """Reach among the segment's statewide households, markets combined when bought by market."""
    if ALL_MARKETS in views:
        return _reach(segment, list(zip(cells, spots, strict=True)), views[ALL_MARKETS])
    reach: dict[str, float] = {}
    universes: dict[str, float] = {}
    for market, view in views.items():
        chosen = [(c, n) for c, n in zip(cells, spots, strict=True) if c.market == market]
        reach[market] = _reach(segment, chosen, view)
        universes[market] = float(view.universe.get(segment, 0))
    total = next(iter(views.values())).base.get(segment, 0)
    return combine_market_reach(reach, universes, float(total))


_COMPARISON_SCHEMA = pa.schema(
    [
        ("market", pa.string()),
        ("plan", pa.string()),
        ("segment", pa.string()),
        ("weight", pa.float64()),
        ("spots", pa.int64()),
        ("channels", pa.int64()),
        ("cost", pa.float64()),
        ("trps", pa.float64()),
        ("trps_per_1000_usd", pa.float64()),
        ("cost_per_trp", pa.float64()),
        ("reach", pa.float64()),
        ("avg_frequency", pa.float64()),
        ("objective", pa.float64()),
        ("optimal", pa.bool_()),
    ]
)
assert tuple(_COMPARISON_SCHEMA.names) == COMPARISON_COLUMNS


def _row(
    market: str,
    plan: str,
    segment: str,
    weight: float | None,
    spots: int,
    channels: int,
    cost: float,
    trps: float,
    reach: float,
    objective: float,
    solution: Solution,
) -> dict[str, object]:
    return {
        "market": market,
        "plan": plan,
        "segment": segment,
        "weight": weight,
        "spots": spots,
        "channels": channels,
        "cost": cost,
        "trps": trps,
        "trps_per_1000_usd": trps / cost * 1000.0 if cost > 0 else None,
        "cost_per_trp": cost / trps if trps > 0 else None,
        "reach": reach,
        "avg_frequency": trps / reach if reach > 0 else None,
        "objective": objective,
        "optimal": solution.optimal,
    }


def _notes(
    cells: Sequence[RateCell],
    ratings: pa.Table,
    weights: Mapping[str, float],
    request: PlanRequest,
    universe: Mapping[str, int],
) -> tuple[str, ...]:
    notes: list[str] = []
    status: dict[tuple[str, str, str], tuple[bool, bool]] = {
        (s, c, d): (bool(h), bool(p))
        for s, c, d, h, p in zip(
            *(
                ratings[k].to_pylist()
                for k in ("segment", "channel", "daypart", "suppressed", "partial")
            ),
            strict=True,
        )
    }
    for segment in weights:
        hidden = sum(
            1 for c in cells if status.get((segment, c.channel, c.daypart), (True, False))[0]
        )
        partial = sum(
            1 for c in cells if status.get((segment, c.channel, c.daypart), (True, False))[1]
        )
        if hidden or partial:
            notes.append(
                f"{segment}: {hidden} of {len(cells)} rate-card cells suppressed or not "
                f"released (valued at zero), {partial} partly suppressed (lower bound)"
            )
    estimated = ratings["estimated"].to_pylist() if "estimated" in ratings.column_names else []
    for segment in weights:
        light = f"{segment}{TIER_SEPARATOR}{LIGHT}"
        n = sum(
            1
            for seg, flag in zip(ratings["segment"].to_pylist(), estimated, strict=True)
            if flag and seg == light
        )
        if n:
            notes.append(
                f"{light}: {n} suppressed cells estimated from {segment} and the tier's "
                "channel-level share of viewing"
            )
    if request.light_priority:
        missing = [s for s in weights if f"{s}{TIER_SEPARATOR}{LIGHT}" not in universe]
        if missing:
            notes.append(
                "no light-viewer tier released for "
                + ", ".join(missing)
                + "; light-viewer priority has no effect there"
            )
    return tuple(notes)
