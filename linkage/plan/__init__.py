"""plan: which spots to buy for the target segments within the budget.

* :mod:`~linkage.plan.ratecard` -- the rate card: validated cells, costs in cents.
* :mod:`~linkage.plan.markets` -- TV markets (DMAs): a release's statewide and
  market rows, per-market budgets, statewide points.
* :mod:`~linkage.plan.reach` -- what a spot is worth to the targets (value
  model, tier estimates) and how many of them a schedule reaches (reach model).
* :mod:`~linkage.plan.solver` -- the integer program: CBC, greedy, brute force.
* :mod:`~linkage.plan.schedule` -- the as-run log of the spots that aired (post-buy).
* :mod:`~linkage.plan.media_plan` -- the plan itself: request, result,
  comparison with the baselines, notes, and the plan's file names.
"""

from linkage.plan.markets import (
    market_budgets_cents,
    market_rows,
    parse_market_budgets,
    project_comparison,
    ratecard_markets,
    release_markets,
    statewide_rows,
)
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
from linkage.plan.ratecard import MARKET_COLUMN, RATECARD_COLUMNS, RateCell, parse_ratecard
from linkage.plan.reach import (
    cell_values,
    combine_market_reach,
    estimate_reach,
    with_tier_estimates,
)
from linkage.plan.schedule import (
    AIRED_COLUMNS,
    AIRED_OPTIONAL,
    DEFAULT_SPOT_SECONDS,
    aired_log,
    as_run,
    parse_aired,
)
from linkage.plan.solver import Instance, Solution, brute_force, greedy, solve

__all__ = [
    "AIRED_COLUMNS",
    "AIRED_OPTIONAL",
    "COMPARISON_COLUMNS",
    "DEFAULT_SPOT_SECONDS",
    "MARKET_COLUMN",
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
    "aired_log",
    "as_run",
    "brute_force",
    "cell_values",
    "check_feasible",
    "check_targets",
    "combine_market_reach",
    "estimate_reach",
    "greedy",
    "make_plan",
    "market_budgets_cents",
    "market_rows",
    "normalise_weights",
    "parse_aired",
    "parse_market_budgets",
    "parse_ratecard",
    "project_comparison",
    "ratecard_markets",
    "release_markets",
    "solve",
    "statewide_rows",
    "validate_request",
    "with_tier_estimates",
]
