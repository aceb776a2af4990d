"""plan: which spots to buy for the target segments within the budget.

* :mod:`~linkage.plan.ratecard` -- the rate card: validated cells, costs in cents.
* :mod:`~linkage.plan.reach` -- what a spot is worth to the targets (value
  model, tier estimates) and how many of them a schedule reaches (reach model).
* :mod:`~linkage.plan.solver` -- the integer program: CBC, greedy, brute force.
* :mod:`~linkage.plan.media_plan` -- the plan itself: request, result,
  comparison with the baselines, notes, and the plan's file names.
"""

from linkage.plan.media_plan import (
    COMPARISON_COLUMNS,
    PLAN_BASELINE_CSV,
    PLAN_COMPARISON_CSV,
    PLAN_CSV,
    PLAN_NAMES,
    PlanRequest,
    PlanResult,
    check_feasible,
    check_targets,
    make_plan,
    normalise_weights,
    validate_request,
)
from linkage.plan.ratecard import RATECARD_COLUMNS, RateCell, parse_ratecard
from linkage.plan.reach import cell_values, estimate_reach, with_tier_estimates
from linkage.plan.solver import Instance, Solution, brute_force, greedy, solve

__all__ = [
    "COMPARISON_COLUMNS",
    "PLAN_BASELINE_CSV",
    "PLAN_COMPARISON_CSV",
    "PLAN_CSV",
    "PLAN_NAMES",
    "RATECARD_COLUMNS",
    "Instance",
    "PlanRequest",
    "PlanResult",
    "RateCell",
    "Solution",
    "brute_force",
    "cell_values",
    "check_feasible",
    "check_targets",
    "estimate_reach",
    "greedy",
    "make_plan",
    "normalise_weights",
    "parse_ratecard",
    "solve",
    "validate_request",
    "with_tier_estimates",
]
