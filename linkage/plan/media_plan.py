"""Ad-buy planning: which spots reach the target segments for the budget.

The campaign holds a rate card (channel, daypart, cost per 30-s spot, units
available in the flight) and the decoded ``viewership`` release. A spot's
value for a target segment is its expected rating among the segment
(:func:`linkage.metrics.spot_ratings`: weekday and weekend daypart ratings
weighted 5:2). The plan is the integer program

    maximise   sum_i v_i x_i
    subject to sum_i c_i x_i <= budget,   0 <= x_i <= units_i, x_i integer,
               (optional) at least N channels carry a spot,

where ``x_i`` is the number of spots bought in rate-card cell ``i``, ``c_i``
its cost in cents and ``v_i = sum_s w_s (r_si + lambda r_si^light U_s^light / U_s)``:
the target weights ``w_s`` (normalised to sum to one) times the segment's
rating points, plus, with light-viewer priority ``lambda``, the rating points
the spot delivers among the segment's light viewers (tier ``<s>:light``),
converted to the segment's base so that ``lambda = 1`` counts an impression
on a light viewer twice. Suppressed cells are worth zero: the plan never
pays for an audience it cannot see. The one exception is a suppressed tier
cell, estimated from its parent segment's cell and the tier's released
channel-level share (:func:`with_tier_estimates`): light viewers are too thin
to clear k in one channel x daypart, but not over a channel's whole period.
The program is solved exactly by CBC (through PuLP), warm-started from the
greedy plan so it is never worse.

**Reach model** (stated, since spots' audiences overlap and the provider
releases only per-channel period reach):

* Within a channel, spots draw at random from the channel's *potential
  audience*: the share ``P_c`` of the segment that watched the channel at all
  in the measured period (released ``reach``). A spot of rating ``r`` reaches
  each member of that pool with probability ``r / P_c``, so
  ``R_c = P_c (1 - prod_i (1 - r_i / P_c) ^ x_i)``: one spot reaches ``r``,
  many approach ``P_c``. (Random duplication within a ceiling; a longer
  measured period would raise the ceiling.)
* Across channels, audiences are independent (Sainsbury):
  ``R = 1 - prod_c (1 - R_c)``.
* Average frequency = TRPs / reach.

:func:`greedy` (ratio rule) and :func:`brute_force` (exhaustive, tiny
instances only) are the baselines the solver is tested against.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulp
import pyarrow as pa
import pyarrow.compute as pc

from linkage.errors import InputError, StateError
from linkage.measure import DAYPART_NAMES, split_tier, spot_ratings
from linkage.tables import ALL_MATCHED, TIER_SEPARATOR

__all__ = [
    "COMPARISON_COLUMNS",
    "RATECARD_COLUMNS",
    "Instance",
    "PlanRequest",
    "PlanResult",
    "RateCell",
    "Solution",
    "brute_force",
    "cell_values",
    "check_feasible",
    "estimate_reach",
    "greedy",
    "make_plan",
    "normalise_weights",
    "parse_ratecard",
    "solve",
    "validate_request",
    "with_tier_estimates",
]

RATECARD_COLUMNS = ("channel", "daypart", "cost_per_spot", "units_available")
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
LIGHT = "light"
PLAN_NAMES = ("optimized", "greedy", "all_households")
"""Comparison rows: the target plan, its greedy baseline, the plan bought on all households."""


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class RateCell:
    """One rate-card row: a 30-s spot in ``daypart`` on ``channel``."""

    channel: str
    daypart: str
    cost_cents: int
    units: int

    @property
    def cost(self) -> float:
        """Cost per spot in dollars."""
        return self.cost_cents / 100.0


def parse_ratecard(table: pa.Table, *, file: str | None = None) -> tuple[RateCell, ...]:
    """Validate a rate card and return its cells.

    Args:
        table: Columns ``channel, daypart, cost_per_spot, units_available``.
        file: Path for error messages.

    Returns:
        One :class:`RateCell` per row, costs rounded to cents.

    Raises:
        InputError: Missing column, no rows, a null, an unknown daypart, a cost
            that is not a positive number, units that are not a whole number
            >= 0, or a repeated (channel, daypart). Names the row (1 = first data
            row), never the value.
    """
    for column in RATECARD_COLUMNS:
        if column not in table.column_names:
            raise InputError(
                "rate card has no such column",
                file=file,
                column=column,
                hint=f"expected {', '.join(RATECARD_COLUMNS)}",
            )
    if table.num_rows == 0:
        raise InputError("rate card has no rows", file=file)
    known = set(DAYPART_NAMES)
    cells: list[RateCell] = []
    seen: set[tuple[str, str]] = set()
    rows = zip(*(table[c].to_pylist() for c in RATECARD_COLUMNS), strict=True)
    for row, (channel, daypart, cost, units) in enumerate(rows, start=1):
        if not isinstance(channel, str) or not channel:
            raise InputError("channel is missing", file=file, column="channel", row=row)
        if daypart not in known:
            raise InputError(
                "unknown daypart",
                file=file,
                column="daypart",
                row=row,
                hint=f"use one of {', '.join(DAYPART_NAMES)}",
            )
        price = _number(cost)
        if price is None or not math.isfinite(price) or price <= 0:
            raise InputError(
                "cost_per_spot must be a positive number",
                file=file,
                column="cost_per_spot",
                row=row,
            )
        count = _number(units)
        if count is None or not math.isfinite(count) or count < 0 or count != int(count):
            raise InputError(
                "units_available must be a whole number >= 0",
                file=file,
                column="units_available",
                row=row,
            )
        key = (channel, str(daypart))
        if key in seen:
            raise InputError("repeated channel and daypart", file=file, row=row)
        seen.add(key)
        cells.append(RateCell(channel, str(daypart), max(1, round(price * 100)), int(count)))
    return tuple(cells)


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


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


# --------------------------------------------------------------------------- the program


@dataclass(frozen=True, slots=True)
class Instance:
    """The integer program's data, one entry per rate-card cell.

    Attributes:
        values: Objective points per spot (weighted target rating points).
        costs: Cost per spot in cents.
        units: Spots available.
        groups: The cell's channel (for the channel-spread constraint).
        budget: Budget in cents.
        min_channels: Minimum number of distinct channels with a spot (0 = none).
    """

    values: tuple[float, ...]
    costs: tuple[int, ...]
    units: tuple[int, ...]
    groups: tuple[str, ...]
    budget: int
    min_channels: int = 0

    def __post_init__(self) -> None:
        n = len(self.values)
        if not len(self.costs) == len(self.units) == len(self.groups) == n:
            raise ValueError("values, costs, units and groups must have one entry per cell")
        if any(c <= 0 for c in self.costs) or any(u < 0 for u in self.units):
            raise ValueError("costs must be positive and units non-negative")
        if self.budget < 0 or self.min_channels < 0:
            raise ValueError("budget and min_channels must be non-negative")

    def objective(self, spots: Sequence[int]) -> float:
        """Objective value of a schedule."""
        return math.fsum(v * x for v, x in zip(self.values, spots, strict=True))

    def cost(self, spots: Sequence[int]) -> int:
        """Cost of a schedule in cents."""
        return sum(c * x for c, x in zip(self.costs, spots, strict=True))

    def channels(self, spots: Sequence[int]) -> int:
        """Distinct channels carrying at least one spot."""
        return len({g for g, x in zip(self.groups, spots, strict=True) if x > 0})

    def feasible(self, spots: Sequence[int]) -> bool:
        """Within units, budget and channel spread."""
        return (
            all(0 <= x <= u for x, u in zip(spots, self.units, strict=True))
            and self.cost(spots) <= self.budget
            and self.channels(spots) >= self.min_channels
        )

    def check_spread(self) -> None:
        """Raise if no schedule can put a spot on ``min_channels`` channels."""
        if not self.min_channels:
            return
        cheapest: dict[str, int] = {}
        for g, c, u in zip(self.groups, self.costs, self.units, strict=True):
            if u > 0:
                cheapest[g] = min(c, cheapest.get(g, c))
        need = sorted(cheapest.values())[: self.min_channels]
        if len(need) < self.min_channels or sum(need) > self.budget:
            raise InputError(
                f"no schedule puts a spot on {self.min_channels} channels within the budget",
                hint="raise the budget or lower --min-channels",
            )


@dataclass(frozen=True, slots=True)
class Solution:
    """Spots per cell, with how they were found.

    Attributes:
        spots: Spots bought per cell (same order as the instance).
        objective: Objective value.
        cost: Total cost in cents.
        method: ``cbc``, ``greedy`` or ``brute_force``.
        optimal: Proven optimal (``cbc`` within its time limit, or ``brute_force``).
    """

    spots: tuple[int, ...]
    objective: float
    cost: int
    method: str
    optimal: bool


def _solution(instance: Instance, spots: Sequence[int], method: str, optimal: bool) -> Solution:
    picked = tuple(int(x) for x in spots)
    return Solution(picked, instance.objective(picked), instance.cost(picked), method, optimal)


def _drop_idle(instance: Instance, spots: list[int]) -> list[int]:
    """Remove zero-value spots the channel spread does not need (they only cost money)."""
    result = list(spots)
    for i, v in enumerate(instance.values):
        while result[i] > 0 and v <= 0:
            result[i] -= 1
            if instance.channels(result) < instance.min_channels:
                result[i] += 1
                break
    return result


def solve(
    instance: Instance, *, time_limit: float = 60.0, warm_start: Solution | None = None
) -> Solution:
    """Solve the spot-selection integer program with CBC.

    PuLP writes the model to a temporary file and runs its bundled CBC binary
    (single thread, relative gap 0, so the result is deterministic).

    Args:
        instance: The program.
        time_limit: Seconds CBC may search; on expiry the best schedule found
            is returned with ``optimal`` false.
        warm_start: A feasible schedule CBC starts from (so the result is
            never worse than it).

    Returns:
        The best schedule found.

    Raises:
        InputError: No feasible schedule (channel spread out of reach).
        StateError: CBC could not be run.
    """
    instance.check_spread()
    prob = pulp.LpProblem("spot_selection", pulp.LpMaximize)
    bounds = [
        u if c <= instance.budget else 0
        for u, c in zip(instance.units, instance.costs, strict=True)
    ]
    x = [prob.add_variable(f"x{i}", 0, u, cat="Integer") for i, u in enumerate(bounds)]
    prob += pulp.lpSum(v * xi for v, xi in zip(instance.values, x, strict=True))
    prob += pulp.lpSum(c * xi for c, xi in zip(instance.costs, x, strict=True)) <= instance.budget
    if instance.min_channels:
        channels = sorted(set(instance.groups))
        y = {g: prob.add_variable(f"y{j}", 0, 1, cat="Binary") for j, g in enumerate(channels)}
        for g in channels:
            members = [xi for xi, gi in zip(x, instance.groups, strict=True) if gi == g]
            prob += pulp.lpSum(members) >= y[g]
        prob += pulp.lpSum(y.values()) >= instance.min_channels
        if warm_start is not None:
            used = {gi for gi, s in zip(instance.groups, warm_start.spots, strict=True) if s > 0}
            for g, var in y.items():
                var.setInitialValue(1 if g in used else 0)
    if warm_start is not None:
        for xi, s in zip(x, warm_start.spots, strict=True):
            xi.setInitialValue(s)
    try:
        with warnings.catch_warnings():
            # PuLP 3.3 flags its bundled CBC for removal in 4.0; the dependency
            # is pinned below 4, and the bundled binary is what runs offline.
            warnings.simplefilter("ignore", DeprecationWarning)
            solver = pulp.PULP_CBC_CMD(
                msg=False,
                timeLimit=time_limit,
                gapRel=0.0,
                gapAbs=0.0,
                threads=1,
                warmStart=warm_start is not None,
            )
            prob.solve(solver)
    except pulp.PulpSolverError:
        raise StateError(
            "the CBC solver could not be run", hint="reinstall the pulp package"
        ) from None
    if prob.sol_status not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        raise InputError(
            "the solver found no feasible schedule",
            hint="raise the budget or lower --min-channels",
        )
    spots = [round(xi.value() or 0.0) for xi in x]
    spots = _drop_idle(instance, spots)
    found = _solution(instance, spots, "cbc", prob.sol_status == pulp.LpSolutionOptimal)
    if warm_start is not None and warm_start.objective > found.objective:
        # CBC's tolerances can lose a hair against the start; keep the better one.
        return Solution(warm_start.spots, warm_start.objective, warm_start.cost, "cbc", False)
    return found


def greedy(instance: Instance) -> Solution:
    """The ratio rule: buy the best rating points per dollar first, as far as money goes.

    With a channel spread, it first buys one spot on each of ``min_channels``
    channels, in order of the channel's best points per dollar, skipping a
    channel when paying for it would leave too little for the rest.

    Raises:
        InputError: No feasible schedule (channel spread out of reach).
    """
    instance.check_spread()
    n = len(instance.values)
    spots = [0] * n
    left = instance.budget

    def ratio(i: int) -> float:
        return instance.values[i] / instance.costs[i]

    available = [i for i in range(n) if instance.units[i] > 0]
    if instance.min_channels:
        by_channel: dict[str, list[int]] = {}
        for i in available:
            by_channel.setdefault(instance.groups[i], []).append(i)
        cheapest = {g: min(instance.costs[i] for i in cells) for g, cells in by_channel.items()}
        order = sorted(by_channel, key=lambda g: (-max(ratio(i) for i in by_channel[g]), g))
        chosen: set[str] = set()
        for g in order:
            if len(chosen) == instance.min_channels:
                break
            still = instance.min_channels - len(chosen) - 1
            rest = sorted(cheapest[h] for h in by_channel if h not in chosen and h != g)[:still]
            reserve = sum(rest)
            for i in sorted(by_channel[g], key=lambda i: (-ratio(i), instance.costs[i], i)):
                if instance.costs[i] + reserve <= left:
                    spots[i] += 1
                    left -= instance.costs[i]
                    chosen.add(g)
                    break
    for i in sorted(available, key=lambda i: (-ratio(i), instance.costs[i], i)):
        if instance.values[i] <= 0:
            break
        take = min(instance.units[i] - spots[i], left // instance.costs[i])
        spots[i] += take
        left -= take * instance.costs[i]
    return _solution(instance, spots, "greedy", False)


def brute_force(instance: Instance, *, max_schedules: int = 2_000_000) -> Solution:
    """Exhaustive search over every schedule: the reference optimum for tiny instances.

    Ties are broken by lower cost, then by the first schedule in
    lexicographic order.

    Raises:
        ValueError: More than ``max_schedules`` schedules to try.
        InputError: No feasible schedule.
    """
    instance.check_spread()
    size = math.prod(u + 1 for u in instance.units)
    if size > max_schedules:
        raise ValueError("instance too large for brute force")
    best: tuple[float, int] | None = None
    best_spots: tuple[int, ...] = ()
    for spots in itertools.product(*(range(u + 1) for u in instance.units)):
        if not instance.feasible(spots):
            continue
        key = (instance.objective(spots), -instance.cost(spots))
        if best is None or key > best:
            best, best_spots = key, spots
    if best is None:
        raise InputError("no feasible schedule")
    return _solution(instance, best_spots, "brute_force", True)


# --------------------------------------------------------------------------- values and reach


def _lookup(ratings: pa.Table) -> tuple[dict[tuple[str, str, str], float], dict[str, int]]:
    """(segment, channel, daypart) -> rating (suppressed omitted); segment -> universe."""
    rating: dict[tuple[str, str, str], float] = {}
    universe: dict[str, int] = {}
    for s, c, d, u, r in zip(
        *(ratings[k].to_pylist() for k in ("segment", "channel", "daypart", "universe", "rating")),
        strict=True,
    ):
        universe[s] = int(u)
        if r is not None:
            rating[(s, c, d)] = float(r)
    return rating, universe


def with_tier_estimates(ratings: pa.Table, decoded: pa.Table) -> pa.Table:
    """Fill suppressed intensity-tier cells from the parent segment and the channel's tier share.

    Light viewers rarely clear the k threshold in a single channel x daypart
    cell, but their channel-level (period) figures usually do. A suppressed
    tier cell ``(s:tier, c, d)`` is estimated as the parent's cell AQH times
    the tier's share of the parent's viewing of channel ``c`` over the period
    (``aqh[s:tier, c] / aqh[s, c]``), i.e. assuming the tier's share of the
    channel's audience is the same in every daypart.

    Args:
        ratings: Output of :func:`linkage.metrics.spot_ratings`.
        decoded: The decoded viewership (period rows are used).

    Returns:
        ``ratings`` with estimated tier ratings filled in and a boolean
        ``estimated`` column (true only for filled cells).
    """
    period = decoded.filter(pc.equal(decoded["grain"], "period"))
    hidden = (
        period["suppressed"].to_pylist()
        if "suppressed" in period.column_names
        else [False] * period.num_rows
    )
    channel_aqh = {
        (str(seg), str(ch)): float(aqh)
        for seg, ch, aqh, h in zip(
            period["segment"].to_pylist(),
            period["channel"].to_pylist(),
            period["aqh_households"].to_pylist(),
            hidden,
            strict=True,
        )
        if not h and aqh is not None
    }
    rating, universe = _lookup(ratings)
    rows = ratings.to_pylist()
    for r in rows:
        r["estimated"] = False
        base, tier = split_tier(r["segment"])
        if r["rating"] is not None or tier is None or not r["universe"]:
            continue
        parent = rating.get((base, r["channel"], r["daypart"]))
        whole = channel_aqh.get((base, r["channel"]))
        part = channel_aqh.get((r["segment"], r["channel"]))
        if parent is None or not whole or part is None or not universe.get(base):
            continue
        r["rating"] = parent * universe[base] / r["universe"] * part / whole
        r["estimated"] = True
    return pa.Table.from_pylist(
        rows, schema=ratings.schema.append(pa.field("estimated", pa.bool_()))
    )


def cell_values(
    cells: Sequence[RateCell],
    ratings: pa.Table,
    weights: Mapping[str, float],
    *,
    light_priority: float = 0.0,
) -> tuple[float, ...]:
    """Objective points per spot of each rate-card cell.

    ``v = sum_s w_s (r_s + light_priority * r_{s:light} * U_{s:light} / U_s)``
    with ratings from :func:`linkage.metrics.spot_ratings`; suppressed or
    missing cells count zero, as does a missing light tier.

    Args:
        cells: Rate-card cells.
        ratings: Output of :func:`linkage.metrics.spot_ratings`.
        weights: Segment -> weight.
        light_priority: Extra weight on rating points among light viewers.
    """
    rating, universe = _lookup(ratings)
    values: list[float] = []
    for cell in cells:
        total = 0.0
        for segment, w in weights.items():
            points = rating.get((segment, cell.channel, cell.daypart), 0.0)
            light = f"{segment}{TIER_SEPARATOR}{LIGHT}"
            if light_priority and universe.get(segment):
                scale = universe.get(light, 0) / universe[segment]
                points += (
                    light_priority * scale * rating.get((light, cell.channel, cell.daypart), 0.0)
                )
            total += w * points
        values.append(total)
    return tuple(values)


def estimate_reach(
    spots: Mapping[tuple[str, str], int],
    ratings: Mapping[tuple[str, str], float],
    ceilings: Mapping[str, float],
) -> float:
    """Estimated reach (percent of the segment) of a schedule, by the module's reach model.

    Args:
        spots: (channel, daypart) -> spots bought.
        ratings: (channel, daypart) -> expected rating of a spot (percent).
        ceilings: channel -> period reach (percent): the channel's potential
            audience. A channel without one has no ceiling (100).

    Returns:
        Reach in percent, 0-100.
    """
    miss_by_channel: dict[str, float] = {}
    for (channel, daypart), n in spots.items():
        r = ratings.get((channel, daypart), 0.0)
        if n <= 0 or r <= 0:
            continue
        pool = ceilings.get(channel) or 100.0
        p = min(1.0, r / pool)
        miss_by_channel[channel] = miss_by_channel.get(channel, 1.0) * (1.0 - p) ** n
    unreached = 1.0
    for channel, miss in miss_by_channel.items():
        pool = (ceilings.get(channel) or 100.0) / 100.0
        unreached *= 1.0 - pool * (1.0 - miss)
    return 100.0 * (1.0 - unreached)


# --------------------------------------------------------------------------- the plan


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
    """

    schedule: pa.Table
    baseline_schedule: pa.Table
    comparison: pa.Table
    optimized: Solution
    greedy: Solution
    all_households: Solution
    notes: tuple[str, ...]


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
            with :func:`linkage.metrics.tier_codes` when tiers were released).
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
    rating, universe = _lookup(ratings)
    ceilings = _ceilings(decoded)
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

    target = instance(cell_values(cells, ratings, weights, light_priority=request.light_priority))
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


def _ceilings(decoded: pa.Table) -> dict[str, dict[str, float]]:
    """segment -> channel -> released period reach (percent), unsuppressed only."""
    rows = decoded.filter(pc.equal(decoded["grain"], "period"))
    hidden = (
        rows["suppressed"].to_pylist()
        if "suppressed" in rows.column_names
        else [False] * rows.num_rows
    )
    result: dict[str, dict[str, float]] = {}
    for s, c, r, h in zip(
        rows["segment"].to_pylist(),
        rows["channel"].to_pylist(),
        rows["reach"].to_pylist(),
        hidden,
        strict=True,
    ):
        if not h and r is not None and r > 0:
            result.setdefault(str(s), {})[str(c)] = float(r)
    return result


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
