"""Issue 14's releases under a dishonest campaign (``linkage.audit.week_attacks``).

Markets, retention and post-buy delivery, library-level, on small seeded
worlds: the worst-case household stays within each stated sensitivity (and
reaches it, so the check has teeth), the probes that ask about one target
work without noise and stay under the DP bound with it, and the set of
markets a release lists answers nothing (it was an exact-count oracle, 40/40,
while it came from where households live; it comes from the public line-ups now).
"""

from __future__ import annotations

import math

import pytest

from linkage.audit.week_attacks import (
    delivery_probe_attack,
    delivery_worst_case,
    market_presence_attack,
    market_worst_case,
    no_noise,
    retention_probe_attack,
    retention_worst_case,
)
from linkage.engine import DuckDBEngine


@pytest.fixture(scope="module")
def engine() -> DuckDBEngine:
    return DuckDBEngine()


def test_delivery_sensitivities_hold_and_are_reached(engine: DuckDBEngine) -> None:
    # In every segment and a tier of each (M = 8), two boxes on every spot of 40.
    checks = {c.measure: c for c in delivery_worst_case(engine, spots=40, frequency_cap=30)}
    assert all(c.within for c in checks.values()), [c.describe() for c in checks.values()]
    # The household reaches every bound: the frequency cap binds impressions at F sqrt(M).
    assert checks["impressions"].observed == pytest.approx(30 * math.sqrt(8))
    for name in ("impressions", "reach", "universe"):
        assert checks[name].observed == pytest.approx(checks[name].stated)


def test_without_the_cap_impressions_are_charged_per_spot(engine: DuckDBEngine) -> None:
    checks = {c.measure: c for c in delivery_worst_case(engine, spots=12, frequency_cap=1000)}
    assert checks["impressions"].within
    assert checks["impressions"].observed == pytest.approx(12 * math.sqrt(8))


def test_retention_sensitivity_holds_and_is_reached() -> None:
    checks = retention_worst_case(segments=("A", "B", "C"), channels=("c0", "c1", "c2"))
    for check in checks:
        assert check.within, check.describe()
        # Four codes with '*', three channels: sqrt(4 x 3) in each vector.
        assert check.observed == pytest.approx(math.sqrt(12))


def test_one_household_probes_work_on_exact_counts(engine: DuckDBEngine) -> None:
    assert delivery_probe_attack(engine, targets=20, seed=1, noise=no_noise).correct == 20
    assert retention_probe_attack(targets=20, seed=1, noise=no_noise).correct == 20


@pytest.mark.parametrize("seed", [0, 7])
def test_one_household_probes_stay_under_the_bound(engine: DuckDBEngine, seed: int) -> None:
    for score in (
        delivery_probe_attack(engine, targets=20, seed=seed),
        retention_probe_attack(targets=20, seed=seed),
    ):
        assert score.targets == 20
        assert score.bound is not None
        assert score.accuracy <= score.bound, score.describe()


def test_the_markets_a_release_lists_answer_no_membership(engine: DuckDBEngine) -> None:
    rows, delivery = market_presence_attack(engine, targets=40, seed=2, rho=0.01)
    for score in (rows, delivery):
        assert score.bound is not None
        assert score.accuracy <= score.bound, score.describe()


def test_market_sensitivities_hold_and_views_are_reached(engine: DuckDBEngine) -> None:
    checks = {c.measure: c for c in market_worst_case(engine, segments=("A", "B"))}
    assert all(c.within for c in checks.values()), [c.describe() for c in checks.values()]
    # M = 3 (with '*'); 72 daily credits fill late news, late fringe, early fringe and
    # prime access at three channels a quarter-hour: B = 12; a weekday and a weekend
    # day in one whole-week cell (D = 2): sqrt(3 x 12 x 2^2), reached exactly.
    assert checks["views"].observed == pytest.approx(math.sqrt(3 * 12 * 2**2))
    assert checks["reach"].observed == pytest.approx(checks["reach"].stated)
