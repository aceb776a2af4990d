"""The value and reach models: weighted targets, light viewers, tier estimates, reach."""

from __future__ import annotations

import pytest

from linkage.measure import spot_ratings
from linkage.plan import (
    RateCell,
    cell_values,
    estimate_reach,
    normalise_weights,
    with_tier_estimates,
)
from tests.plan.release import viewership


def test_reach_model_one_spot_many_spots_and_channels() -> None:
    ratings = {("A", "prime"): 5.0, ("B", "prime"): 10.0}
    ceilings = {"A": 40.0, "B": 50.0}
    assert estimate_reach({("A", "prime"): 1}, ratings, ceilings) == pytest.approx(5.0)
    two = estimate_reach({("A", "prime"): 2}, ratings, ceilings)
    assert two == pytest.approx(40.0 * (1 - (1 - 5 / 40) ** 2))
    assert 5.0 < two < 10.0  # duplication: less than 2 x rating
    assert estimate_reach({("A", "prime"): 500}, ratings, ceilings) == pytest.approx(40.0)
    both = estimate_reach({("A", "prime"): 1, ("B", "prime"): 1}, ratings, ceilings)
    assert both == pytest.approx(100 * (1 - 0.95 * 0.90))  # Sainsbury across channels
    assert estimate_reach({("C", "prime"): 3}, ratings, ceilings) == 0.0
    assert estimate_reach({("A", "prime"): 1}, ratings, {}) == pytest.approx(5.0)


def test_cell_values_weight_targets_and_light_viewers() -> None:
    decoded = viewership(1)
    ratings = spot_ratings(decoded)
    rate = {(r["segment"], r["channel"], r["daypart"]): r["rating"] for r in ratings.to_pylist()}
    cells = (RateCell("A", "prime", 1000, 1),)
    weights = normalise_weights(["persuadable", "turnout_target"], [3.0, 1.0])
    (plain,) = cell_values(cells, ratings, weights)
    expected = 0.75 * rate[("persuadable", "A", "prime")]
    expected += 0.25 * rate[("turnout_target", "A", "prime")]
    assert plain == pytest.approx(expected)
    (lit,) = cell_values(cells, ratings, weights, light_priority=2.0)
    light = rate[("persuadable:light", "A", "prime")] * 400 / 1200
    assert lit == pytest.approx(expected + 0.75 * 2.0 * light)


def test_suppressed_tier_cells_are_estimated_from_the_channel_share() -> None:
    hidden = frozenset({("persuadable:light", "B")})
    decoded = viewership(3, suppress=hidden)
    # Period rows stay released: the tier's channel-level AQH is known.
    ratings = with_tier_estimates(spot_ratings(decoded), decoded)
    rows = {(r["segment"], r["channel"], r["daypart"]): r for r in ratings.to_pylist()}
    period = {
        (r["segment"], r["channel"]): r["aqh_households"]
        for r in decoded.to_pylist()
        if r["grain"] == "period"
    }
    share = period[("persuadable:light", "B")] / period[("persuadable", "B")]
    got = rows[("persuadable:light", "B", "prime")]
    parent = rows[("persuadable", "B", "prime")]["rating"]
    assert got["estimated"] and got["rating"] == pytest.approx(parent * 1200 / 400 * share)
    assert not rows[("persuadable:light", "A", "prime")]["estimated"]
    assert rows[("turnout_target", "B", "prime")]["estimated"] is False
