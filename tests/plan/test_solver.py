"""The spot-selection program: exact against brute force, never below greedy."""

from __future__ import annotations

import random

import pytest

from linkage.errors import InputError
from linkage.plan import Instance, brute_force, greedy, solve


def random_instance(seed: int, *, min_channels: int = 0) -> Instance:
    rng = random.Random(seed)
    n = rng.randrange(3, 7)
    units = tuple(rng.randrange(0, 4) for _ in range(n))
    costs = tuple(rng.randrange(100, 2_000) for _ in range(n))
    values = tuple(
        round(rng.uniform(0.0, 5.0), 3) if rng.random() > 0.15 else 0.0 for _ in range(n)
    )
    groups = tuple(rng.choice("xyz") for _ in range(n))
    budget = rng.randrange(500, sum(c * u for c, u in zip(costs, units, strict=True)) + 600)
    return Instance(values, costs, units, groups, budget, min_channels)


# --------------------------------------------------------------------------- the program


@pytest.mark.parametrize("seed", range(12))
def test_solver_equals_brute_force_and_beats_greedy(seed: int) -> None:
    inst = random_instance(seed)
    exact = brute_force(inst)
    found = solve(inst)
    ratio = greedy(inst)
    assert inst.feasible(found.spots) and inst.feasible(ratio.spots)
    assert found.objective == pytest.approx(exact.objective, rel=1e-9, abs=1e-9)
    assert found.optimal
    assert found.objective >= ratio.objective - 1e-9


@pytest.mark.parametrize("seed", range(8))
def test_channel_spread_solver_equals_brute_force(seed: int) -> None:
    inst = random_instance(100 + seed, min_channels=2)
    try:
        exact = brute_force(inst)
    except InputError:
        with pytest.raises(InputError):
            solve(inst)
        return
    found = solve(inst)
    ratio = greedy(inst)
    assert inst.channels(found.spots) >= 2 and inst.feasible(ratio.spots)
    assert found.objective == pytest.approx(exact.objective, rel=1e-9, abs=1e-9)
    assert found.objective >= ratio.objective - 1e-9


def test_greedy_is_not_optimal_where_the_ratio_rule_strands_money() -> None:
    # Ratio rule takes the 6-cost item (ratio 1.0) and strands 4; the optimum is two 5s.
    inst = Instance((6.0, 4.9), (6, 5), (1, 2), ("x", "y"), 10)
    assert greedy(inst).objective == pytest.approx(6.0)
    assert solve(inst).objective == pytest.approx(9.8) == brute_force(inst).objective


def test_zero_value_spots_are_not_bought_unless_the_spread_needs_them() -> None:
    inst = Instance((0.0, 1.0), (10, 10), (3, 1), ("x", "y"), 100)
    assert solve(inst).spots == (0, 1)
    spread = Instance((0.0, 1.0), (10, 10), (3, 1), ("x", "y"), 100, min_channels=2)
    assert solve(spread).spots == (1, 1) and greedy(spread).spots == (1, 1)


def test_unreachable_spread_is_an_input_error() -> None:
    inst = Instance((1.0, 1.0), (60, 60), (1, 1), ("x", "y"), 100, min_channels=2)
    for method in (solve, greedy, brute_force):
        with pytest.raises(InputError, match="channels"):
            method(inst)


def test_instance_rejects_inconsistent_data() -> None:
    with pytest.raises(ValueError):
        Instance((1.0,), (0,), (1,), ("x",), 10)
    with pytest.raises(ValueError):
        Instance((1.0, 2.0), (1,), (1,), ("x",), 10)


@pytest.mark.parametrize("seed", range(6))
def test_market_budgets_solver_equals_brute_force(seed: int) -> None:
    base = random_instance(200 + seed)
    rng = random.Random(seed)
    markets = tuple(rng.choice(("m1", "m2", "m3")) for _ in base.values)
    # m3 has no budget: its cells must stay unbought.
    caps = (("m1", rng.randrange(0, 2_500)), ("m2", rng.randrange(0, 2_500)))
    inst = Instance(
        base.values,
        base.costs,
        base.units,
        base.groups,
        base.budget,
        markets=markets,
        market_budgets=caps,
    )
    exact = brute_force(inst)
    found = solve(inst)
    ratio = greedy(inst)
    assert inst.feasible(found.spots) and inst.feasible(ratio.spots)
    assert found.objective == pytest.approx(exact.objective, rel=1e-9, abs=1e-9)
    assert found.objective >= ratio.objective - 1e-9
    spent = inst.market_costs(found.spots)
    assert spent.get("m3", 0) == 0 and all(spent.get(m, 0) <= cap for m, cap in caps)
    with pytest.raises(ValueError):
        Instance(base.values, base.costs, base.units, base.groups, 1, market_budgets=caps)
