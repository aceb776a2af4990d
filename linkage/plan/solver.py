"""The spot-selection integer program, its exact solver and its baselines.

Given one value, cost and unit count per rate-card cell, choose the spots:

    maximise   sum_i v_i x_i
    subject to sum_i c_i x_i <= budget,   0 <= x_i <= units_i, x_i integer,
               (optional) at least N channels carry a spot,
               (optional) sum_{i in m} c_i x_i <= budget_m for each market m,

where ``x_i`` is the number of spots bought in cell ``i`` and ``c_i`` its cost
in cents. What a spot is worth (``v_i``) is decided elsewhere
(:func:`linkage.plan.cell_values`); this module only knows numbers, so the
solver can be tested against brute force on instances small enough to check.

:func:`solve` runs CBC (through PuLP) warm-started from :func:`greedy`, so it
is never worse than the ratio rule. :func:`greedy` and :func:`brute_force`
(exhaustive, tiny instances only) are the baselines it is tested against.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import pulp

from linkage.errors import InputError, StateError

__all__ = ["Instance", "Solution", "brute_force", "greedy", "solve"]


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
        markets: The cell's market, for per-market budgets (empty = none).
        market_budgets: (market, budget in cents) pairs; when given, a
            market's cells cost at most its budget together, and a market
            without one gets nothing.
    """

    values: tuple[float, ...]
    costs: tuple[int, ...]
    units: tuple[int, ...]
    groups: tuple[str, ...]
    budget: int
    min_channels: int = 0
    markets: tuple[str, ...] = ()
    market_budgets: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        n = len(self.values)
        if not len(self.costs) == len(self.units) == len(self.groups) == n:
            raise ValueError("values, costs, units and groups must have one entry per cell")
        if any(c <= 0 for c in self.costs) or any(u < 0 for u in self.units):
            raise ValueError("costs must be positive and units non-negative")
        if self.budget < 0 or self.min_channels < 0:
            raise ValueError("budget and min_channels must be non-negative")
        if self.market_budgets and len(self.markets) != n:
            raise ValueError("per-market budgets need one market per cell")
        if any(b < 0 for _, b in self.market_budgets):
            raise ValueError("market budgets must be non-negative")

    def limit(self, i: int) -> int:
        """The most cell ``i``'s spots may cost together: the budget, or its market's if lower."""
        if not self.market_budgets:
            return self.budget
        return min(self.budget, dict(self.market_budgets).get(self.markets[i], 0))

    def market_costs(self, spots: Sequence[int]) -> dict[str, int]:
        """Cost in cents per market of a schedule (empty without per-market budgets)."""
        if not self.market_budgets:
            return {}
        costs: dict[str, int] = {}
        for m, c, x in zip(self.markets, self.costs, spots, strict=True):
            costs[m] = costs.get(m, 0) + c * x
        return costs

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
        """Within units, budget, per-market budgets and channel spread."""
        caps = dict(self.market_budgets)
        return (
            all(0 <= x <= u for x, u in zip(spots, self.units, strict=True))
            and self.cost(spots) <= self.budget
            and all(cost <= caps.get(m, 0) for m, cost in self.market_costs(spots).items())
            and self.channels(spots) >= self.min_channels
        )

    def check_spread(self) -> None:
        """Raise if no schedule can put a spot on ``min_channels`` channels."""
        if not self.min_channels:
            return
        cheapest: dict[str, int] = {}
        for i, (g, c, u) in enumerate(zip(self.groups, self.costs, self.units, strict=True)):
            if u > 0 and c <= self.limit(i):
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
        u if c <= instance.limit(i) else 0
        for i, (u, c) in enumerate(zip(instance.units, instance.costs, strict=True))
    ]
    x = [prob.add_variable(f"x{i}", 0, u, cat="Integer") for i, u in enumerate(bounds)]
    prob += pulp.lpSum(v * xi for v, xi in zip(instance.values, x, strict=True))
    prob += pulp.lpSum(c * xi for c, xi in zip(instance.costs, x, strict=True)) <= instance.budget
    for market, cap in instance.market_budgets:
        prob += (
            pulp.lpSum(
                c * xi
                for c, xi, m in zip(instance.costs, x, instance.markets, strict=True)
                if m == market
            )
            <= cap
        )
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
    # Per-market money left; without per-market budgets every cell shares one pot.
    market_left = dict(instance.market_budgets)
    market = instance.markets if instance.market_budgets else ("",) * n
    if not instance.market_budgets:
        market_left[""] = instance.budget

    def ratio(i: int) -> float:
        return instance.values[i] / instance.costs[i]

    def affordable(i: int) -> int:
        return min(left, market_left.get(market[i], 0))

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
                if instance.costs[i] + reserve <= left and instance.costs[i] <= affordable(i):
                    spots[i] += 1
                    left -= instance.costs[i]
                    market_left[market[i]] -= instance.costs[i]
                    chosen.add(g)
                    break
    for i in sorted(available, key=lambda i: (-ratio(i), instance.costs[i], i)):
        if instance.values[i] <= 0:
            break
        take = min(instance.units[i] - spots[i], affordable(i) // instance.costs[i])
        if take <= 0:
            continue
        spots[i] += take
        left -= take * instance.costs[i]
        market_left[market[i]] -= take * instance.costs[i]
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
