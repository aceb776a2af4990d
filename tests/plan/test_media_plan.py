"""The media plan: beats its baselines, honours suppression, rejects bad requests."""

from __future__ import annotations

import pytest

from linkage.errors import InputError
from linkage.plan import (
    COMPARISON_COLUMNS,
    PlanRequest,
    PlanResult,
    check_targets,
    make_plan,
    normalise_weights,
)
from tests.plan.release import ratecard_cells, viewership


def test_normalise_weights() -> None:
    assert normalise_weights(["a", "b"]) == {"a": 0.5, "b": 0.5}
    assert normalise_weights(["a", "b"], [3, 1]) == {"a": 0.75, "b": 0.25}
    for targets, weights in (([], None), (["a", "a"], None), (["a"], [1, 2]), (["a"], [0])):
        with pytest.raises(InputError):
            normalise_weights(targets, weights)


def request(
    *,
    weights: dict[str, float] | None = None,
    budget: float = 20_000.0,
    light_priority: float = 0.0,
    min_channels: int = 0,
) -> PlanRequest:
    chosen = weights or normalise_weights(["persuadable", "turnout_target"])
    return PlanRequest(chosen, budget, light_priority=light_priority, min_channels=min_channels)


@pytest.mark.parametrize("seed", range(3))
def test_plan_beats_the_all_household_plan_on_its_own_objective(seed: int) -> None:
    result = make_plan(ratecard_cells(seed), viewership(seed), request(min_channels=2))
    assert result.optimized.objective >= result.greedy.objective - 1e-9
    rows = {(r["plan"], r["segment"]): r for r in result.comparison.to_pylist()}
    assert rows[("optimized", "weighted_target")]["objective"] >= (
        rows[("all_households", "weighted_target")]["objective"] - 1e-9
    )
    assert rows[("all_households", "all_matched")]["trps"] >= (
        rows[("optimized", "all_matched")]["trps"] - 1e-9
    )
    assert tuple(result.comparison.column_names) == COMPARISON_COLUMNS
    assert {r["plan"] for r in rows.values()} == {"optimized", "greedy", "all_households"}
    assert ("optimized", "persuadable:light") in rows
    for r in rows.values():
        assert r["cost"] <= 20_000.0 and 0.0 <= r["reach"] <= 100.0
        assert r["channels"] >= 2
    spent = sum(result.schedule["cost"].to_pylist())
    assert spent == pytest.approx(result.optimized.cost / 100)
    assert sum(result.schedule["spots"].to_pylist()) == sum(result.optimized.spots)


def test_light_priority_shifts_points_to_light_viewers() -> None:
    cells, decoded = ratecard_cells(4), viewership(4)
    plain = make_plan(cells, decoded, request())
    lit = make_plan(cells, decoded, request(light_priority=5.0))

    def light_trps(result: PlanResult) -> float:
        rows = {(x["plan"], x["segment"]): x for x in result.comparison.to_pylist()}
        return float(rows[("optimized", "persuadable:light")]["trps"])

    assert light_trps(lit) >= light_trps(plain)


def test_suppressed_cells_are_worth_nothing_and_noted() -> None:
    hidden = frozenset({("persuadable", "A"), ("turnout_target", "A")})
    result = make_plan(ratecard_cells(2), viewership(2, suppress=hidden), request())
    assert "A" not in result.schedule["channel"].to_pylist()
    assert any("suppressed" in note for note in result.notes)


def test_plan_rejects_unknown_targets_and_bad_budgets() -> None:
    cells, decoded = ratecard_cells(0), viewership(0)
    with pytest.raises(InputError, match="target #1"):
        make_plan(cells, decoded, request(weights={"nobody": 1.0}))
    for budget in (0.0, -5.0, float("nan")):
        with pytest.raises(InputError, match="budget"):
            make_plan(cells, decoded, request(budget=budget))


def test_check_targets_knows_segments_tiers_and_all_matched() -> None:
    codes = {"persuadable": "s0000000000000001"}
    check_targets(["persuadable", "persuadable:light", "all_matched"], codes)
    with pytest.raises(InputError, match="segment #2") as info:
        check_targets(["persuadable", "nobody"], codes)
    assert "nobody" not in str(info.value)
    assert "all_matched, persuadable" in (info.value.hint or "")
