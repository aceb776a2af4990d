"""The media plan: the spots to buy for the target segments, and how they compare.

"Plan" is the ad buyer's word for the whole deliverable -- a schedule of spots
plus the evidence that it is worth its budget -- so this module is named for
it rather than for the solver behind it. It turns a :class:`PlanRequest`
(targets and weights, budget, light-viewer priority, channel spread) and the
decoded ``viewership`` release into a :class:`PlanResult`: the optimized
schedule, the all-household schedule it is compared with, the comparison
table (:data:`COMPARISON_COLUMNS`, one row per plan and measured segment) and
notes on what the release could not show.

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
from linkage.plan.ratecard import RateCell
from linkage.plan.reach import (
    LIGHT,
    cell_values,
    estimate_reach,
    rating_lookup,
    reach_ceilings,
    with_tier_estimates,
)
from linkage.plan.solver import Instance, Solution, greedy, solve
from linkage.tables import ALL_MATCHED, TIER_SEPARATOR

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
"""Columns of :attr:`PlanResult.comparison`: one row per plan and measured segment."""
PLAN_NAMES = ("optimized", "greedy", "all_households")
"""Comparison rows: the target plan, its greedy baseline, the plan bought on all households."""


# The report picks the schedule and the comparison up from the plan's
# directory, so both sides take the file names from here.
PLAN_CSV = "plan.csv"
"""File name of the optimized schedule (:attr:`PlanResult.schedule`)."""
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
    """

    weights: Mapping[str, float]
    budget: float
    light_priority: float = 0.0
    min_channels: int = 0
    time_limit: float = 60.0


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
        InputError: ``min_channels`` channels cannot each get a spot for the budget.
    """
    Instance(
        tuple(0.0 for _ in cells),
        tuple(c.cost_cents for c in cells),
        tuple(c.units for c in cells),
        tuple(c.channel for c in cells),
        _cents(request.budget),
        request.min_channels,
    ).check_spread()


def _cents(budget: float) -> int:
    return math.floor(budget * 100 + 1e-6)


def _check_segments(request: PlanRequest, segments: set[str]) -> None:
    for position, name in enumerate(request.weights, start=1):
        if name not in segments:
            raise InputError(
                f"target #{position} is not a segment of this release",
                hint=f"known segments: {', '.join(sorted(segments))}",
            )


def _schedule_table(
    cells: Sequence[RateCell],
    spots: Sequence[int],
    rating: Mapping[tuple[str, str, str], float],
    weights: Mapping[str, float],
) -> pa.Table:
    order = {name: i for i, name in enumerate(DAYPART_NAMES)}
    picked = sorted(
        (i for i, n in enumerate(spots) if n > 0),
        key=lambda i: (cells[i].channel, order[cells[i].daypart]),
    )
    columns: dict[str, pa.Array] = {
        "channel": pa.array([cells[i].channel for i in picked], pa.string()),
        "daypart": pa.array([cells[i].daypart for i in picked], pa.string()),
        "spots": pa.array([spots[i] for i in picked], pa.int64()),
        "units_available": pa.array([cells[i].units for i in picked], pa.int64()),
        "cost_per_spot": pa.array([cells[i].cost for i in picked], pa.float64()),
        "cost": pa.array([cells[i].cost_cents * spots[i] / 100.0 for i in picked], pa.float64()),
    }

    def points(segment: str, i: int) -> float:
        return spots[i] * rating.get((segment, cells[i].channel, cells[i].daypart), 0.0)

    columns["target_trps"] = pa.array(
        [sum(w * points(s, i) for s, w in weights.items()) for i in picked], pa.float64()
    )
    columns["grps"] = pa.array([points(ALL_MATCHED, i) for i in picked], pa.float64())
    for segment in weights:
        columns[f"trps_{segment}"] = pa.array([points(segment, i) for i in picked], pa.float64())
    return pa.table(columns)


def make_plan(cells: Sequence[RateCell], decoded: pa.Table, request: PlanRequest) -> PlanResult:
    """Plan the buy for the target segments and compare it with the baselines.

    Three plans under the same budget and channel spread: ``optimized``
    (CBC on the target objective, warm-started from greedy), ``greedy``
    (ratio rule, same objective) and ``all_households`` (CBC on all-household
    ratings, no light priority). Each is then measured on every target,
    the weighted target, each target's light viewers when released, and
    all matched households.

    Args:
        cells: Parsed rate card.
        decoded: Decoded ``viewership`` (:func:`linkage.report.decode_viewership`,
            with :func:`linkage.measure.tier_codes` when tiers were released).
        request: Targets, budget and options.

    Raises:
        InputError: Bad budget or options, a target not in the release, or no
            feasible schedule.
    """
    ratings = with_tier_estimates(spot_ratings(decoded), decoded)
    segments = {str(s) for s in pc.unique(ratings["segment"]).to_pylist()}
    validate_request(request)
    _check_segments(request, segments)
    if ALL_MATCHED not in segments:
        raise InputError("the release has no all-matched rows", hint="check the viewership message")
    rating, universe = rating_lookup(ratings)
    ceilings = reach_ceilings(decoded)
    budget = _cents(request.budget)
    weights = dict(request.weights)

    def instance(values: tuple[float, ...]) -> Instance:
        return Instance(
            values,
            tuple(c.cost_cents for c in cells),
            tuple(c.units for c in cells),
            tuple(c.channel for c in cells),
            budget,
            request.min_channels,
        )

    values = cell_values(cells, ratings, weights, light_priority=request.light_priority)
    target = instance(values)
    baseline = greedy(target)
    best = solve(target, time_limit=request.time_limit, warm_start=baseline)
    everyone = instance(cell_values(cells, ratings, {ALL_MATCHED: 1.0}))
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
        cost = solution.cost / 100.0
        n_spots = sum(spots)
        n_channels = target.channels(spots)
        weighted = {"trps": 0.0, "reach": 0.0}
        for name, w in measured.items():
            trps = math.fsum(
                n * rating.get((name, c.channel, c.daypart), 0.0)
                for c, n in zip(cells, spots, strict=True)
            )
            reach = estimate_reach(
                {(c.channel, c.daypart): n for c, n in zip(cells, spots, strict=True) if n},
                {
                    (c.channel, c.daypart): rating.get((name, c.channel, c.daypart), 0.0)
                    for c in cells
                },
                ceilings.get(name, {}),
            )
            if w is not None:
                weighted["trps"] += w * trps
                weighted["reach"] += w * reach
            rows.append(
                _row(
                    plan_name, name, w, n_spots, n_channels, cost, trps, reach, objective, solution
                )
            )
        if len(weights) > 1:
            rows.append(
                _row(
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
    comparison = pa.Table.from_pylist(rows, schema=_COMPARISON_SCHEMA)
    notes = _notes(cells, ratings, weights, request, universe)
    return PlanResult(
        schedule=_schedule_table(cells, best.spots, rating, weights),
        baseline_schedule=_schedule_table(cells, broad.spots, rating, weights),
        comparison=comparison,
        optimized=best,
        greedy=baseline,
        all_households=broad,
        notes=notes,
        zero_valued=sum(1 for value in values if value <= 0.0),
        cells=len(cells),
    )


_COMPARISON_SCHEMA = pa.schema(
    [
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
