"""Tests for linkage.release.dp: grid, sensitivities, noise calibration, contribution bound."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from datetime import date, datetime, timedelta

import pyarrow as pa
import pytest

from linkage.engine import DuckDBEngine
from linkage.errors import PrivacyError
from linkage.measure import compute_viewership
from linkage.release import (
    CellGrid,
    ContributionCaps,
    MeasureSplit,
    bound_viewing,
    discrete_gaussian,
    half_width,
    measures,
    memberships_bound,
    noisy_release,
    plan_noise,
    sensitivities,
)
from linkage.tables import INTERVAL_COLUMNS, RELEASE_SCHEMA
from tests.measure.inputs import MONDAY, assign

SATURDAY = date(2024, 3, 9)
CHANNELS = ("c1", "c2", "c3", "c4", "c5", "c6")


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day) + timedelta(hours=hour, minutes=minute)


def viewing_table(rows: Sequence[tuple[str, str, datetime, datetime]]) -> pa.Table:
    return pa.table(
        {
            "household_id": pa.array([r[0] for r in rows], pa.string()),
            "channel": pa.array([r[1] for r in rows], pa.string()),
            "start": pa.array([r[2] for r in rows], pa.timestamp("s")),
            "end": pa.array([r[3] for r in rows], pa.timestamp("s")),
        }
    )


def random_world(seed: int, households: int) -> list[tuple[str, str, datetime, datetime]]:
    rng = random.Random(seed)
    rows = []
    for i in range(households):
        for day in (MONDAY, SATURDAY):
            for _ in range(rng.randint(0, 4)):
                start = at(day, rng.randint(0, 22), rng.choice((0, 7, 15, 30, 44)))
                rows.append(
                    (
                        f"h{i}",
                        rng.choice(CHANNELS),
                        start,
                        start + timedelta(minutes=rng.randint(3, 150)),
                    )
                )
    return rows


def heavy_household(hid: str) -> list[tuple[str, str, datetime, datetime]]:
    """Two TVs all day, each switching channel every five minutes."""
    rows = []
    for day in (MONDAY, SATURDAY):
        for slot in range(24 * 12):
            start = at(day, 0) + timedelta(minutes=5 * slot)
            end = start + timedelta(minutes=5)
            rows.append((hid, CHANNELS[slot % 3], start, end))
            rows.append((hid, CHANNELS[3 + slot % 3], start, end))
    return rows


# --------------------------------------------------------------------------- grid


def test_grid_is_public_and_digest_stable() -> None:
    grid = CellGrid(CHANNELS, (MONDAY, SATURDAY))
    assert grid.digest() == CellGrid(CHANNELS, (MONDAY, SATURDAY)).digest()
    assert grid.digest() != CellGrid(CHANNELS[:5], (MONDAY, SATURDAY)).digest()
    assert grid.digest() != CellGrid(CHANNELS, (MONDAY,)).digest()
    assert grid.day_type_counts == {"weekday": 1, "weekend": 1}
    assert grid.channels_per_slot == 3
    assert CellGrid(("c1",), (MONDAY,)).channels_per_slot == 1
    with pytest.raises(ValueError):
        CellGrid(("c1", "c1"), (MONDAY,))
    with pytest.raises(ValueError):
        CellGrid(CHANNELS, (SATURDAY, MONDAY))


def test_memberships_count_each_parents_tiers_once() -> None:
    assert memberships_bound(["*", "A", "B"]) == 3
    assert memberships_bound(["*", "*:light", "*:heavy", "A", "A:light", "A:medium"]) == 4
    with pytest.raises(ValueError):
        memberships_bound([])


def test_sensitivities_from_the_grid_and_the_caps() -> None:
    grid = CellGrid(CHANNELS, (MONDAY, SATURDAY))
    caps = ContributionCaps(credits_per_day=10)
    sens = sensitivities(grid, ["*", "A"], caps)
    # M = 2 segments, H = 10 credits a day, one day of each type: sum D_t^2 = 2.
    assert sens.views == pytest.approx(math.sqrt(2 * 10 * 2))
    assert sens.hut == pytest.approx(math.sqrt(2 * 10 * 2))
    assert sens.reach == pytest.approx(math.sqrt(2 * 6))  # C = 6 < H * D
    assert sens.universe == pytest.approx(math.sqrt(2))
    # Without a binding cap, r = 3 channels a quarter-hour is the limit.
    wide = sensitivities(grid, ["*"], ContributionCaps(credits_per_day=1440))
    assert wide.views == pytest.approx(math.sqrt(96 * 3 * 2))


def test_plan_is_certified_by_opendp_and_sums_to_rho() -> None:
    grid = CellGrid(CHANNELS, (MONDAY,))
    plan = plan_noise(grid, ["*", "A", "B"], rho=0.5)
    assert math.isclose(sum(plan.rhos.values()), 0.5)
    split = MeasureSplit()
    d_in = math.ceil(plan.sensitivity.views)
    # rho = d_in^2 / (2 scale^2) for the Gaussian mechanism.
    assert plan.scales["views"] == pytest.approx(d_in / math.sqrt(2 * split.views * 0.5), rel=1e-6)
    assert plan.scales["universe"] < plan.scales["views"]
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(PrivacyError):
            plan_noise(grid, ["*"], rho=bad)
    with pytest.raises(ValueError):
        MeasureSplit(views=0.5, reach=0.5, hut=0.1, universe=0.1)


# --------------------------------------------------------------------------- noise


def test_discrete_gaussian_is_calibrated() -> None:
    scale = 4.0
    draws = discrete_gaussian([0] * 20_000, scale)
    assert all(isinstance(x, int) for x in draws)
    assert len(set(draws)) > 10  # noise is there
    mean = sum(draws) / len(draws)
    var = sum((x - mean) ** 2 for x in draws) / (len(draws) - 1)
    assert abs(mean) < 0.2
    # The discrete Gaussian's variance is just under scale^2 (within 1% at scale 4);
    # the sample variance's sd is about 1% here.
    assert abs(var / scale**2 - 1.0) < 0.06, var
    shifted = discrete_gaussian([1000] * 5_000, scale)
    assert abs(sum(shifted) / len(shifted) - 1000) < 0.3


def test_interval_covers_about_95_percent() -> None:
    scale = 7.5
    half = half_width(scale)
    draws = discrete_gaussian([0] * 20_000, scale)
    outside = sum(1 for x in draws if abs(x) > half) / len(draws)
    assert 0.035 < outside <= 0.06, outside
    assert half_width(scale, 4) == pytest.approx(2 * half)


# --------------------------------------------------------------------------- bounding


def test_bound_viewing_one_channel_at_a_time(engine: DuckDBEngine) -> None:
    raw = viewing_table(
        [
            ("a", "c1", at(MONDAY, 20), at(MONDAY, 21)),
            ("a", "c2", at(MONDAY, 20, 30), at(MONDAY, 21, 30)),  # second TV
            ("a", "c3", at(MONDAY, 20, 40), at(MONDAY, 20, 50)),  # swallowed
            ("a", "zz", at(MONDAY, 22), at(MONDAY, 23)),  # not published
            ("b", "c1", at(MONDAY, 20), at(MONDAY, 21)),
        ]
    )
    bounded = bound_viewing(raw, CHANNELS, engine).to_pylist()
    got = sorted((r["household_id"], r["channel"], r["start"], r["end"]) for r in bounded)
    assert got == [
        ("a", "c1", at(MONDAY, 20), at(MONDAY, 21)),
        ("a", "c2", at(MONDAY, 21), at(MONDAY, 21, 30)),
        ("b", "c1", at(MONDAY, 20), at(MONDAY, 21)),
    ]


def test_bound_viewing_never_overlaps(engine: DuckDBEngine) -> None:
    bounded = bound_viewing(viewing_table(random_world(3, 40)), CHANNELS, engine).to_pylist()
    by_hh: dict[str, list[tuple[datetime, datetime]]] = {}
    for r in bounded:
        assert r["end"] > r["start"]
        by_hh.setdefault(r["household_id"], []).append((r["start"], r["end"]))
    for spans in by_hh.values():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end


def _l2(a: Sequence[int], b: Sequence[int]) -> float:
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)))


@pytest.mark.parametrize("bounded", [True, False])
def test_one_household_moves_measures_within_sensitivity(
    engine: DuckDBEngine, bounded: bool
) -> None:
    grid = CellGrid(CHANNELS, (MONDAY, SATURDAY))
    caps = ContributionCaps(credits_per_day=40)
    others = [f"h{i}" for i in range(30)]
    rows = random_world(7, 30) + heavy_household("x")
    view = viewing_table(rows)
    if bounded:
        view = bound_viewing(view, CHANNELS, engine)
    with_x = assign({"A": [*others[:20], "x"], "B": [*others[10:], "x"]})
    without_x = assign({"A": others[:20], "B": others[10:]})

    def vectors(assignments: pa.Table) -> dict[str, list[int]]:
        cells = compute_viewership(
            assignments,
            view,
            channels=CHANNELS,
            engine=engine,
            period=grid.days,
            credits_per_day=caps.credits_per_day if bounded else None,
        )
        return measures(cells, grid).vector()

    a, b = vectors(with_x), vectors(without_x)
    sens = sensitivities(grid, ["*", "A", "B"], caps)
    moved = {name: _l2(a[name], b[name]) for name in a}
    if bounded:
        assert moved["views"] <= sens.views + 1e-9
        assert moved["hut"] <= sens.hut + 1e-9
        assert moved["reach"] <= sens.reach + 1e-9
        assert moved["universe"] <= sens.universe + 1e-9
        # The heavy household uses its allowance: the bound is not slack.
        assert moved["views"] > sens.views / 2
    else:
        # Without the bound and the cap, a two-TV household breaks the stated sensitivity.
        assert moved["views"] > sens.views


# --------------------------------------------------------------------------- release


def small_release(engine: DuckDBEngine) -> tuple[pa.Table, pa.Table, CellGrid]:
    households = [f"h{i}" for i in range(120)]
    rows = []
    for i, hid in enumerate(households):
        rows.append((hid, "c1", at(MONDAY, 20), at(MONDAY, 21)))
        if i % 2:
            rows.append((hid, "c2", at(MONDAY, 21), at(MONDAY, 22)))
        if i < 3:
            rows.append((hid, "c3", at(MONDAY, 9), at(MONDAY, 10)))
    assignments = assign({"A": households[:80], "B": households[40:]})
    grid = CellGrid(("c1", "c2", "c3"), (MONDAY,))
    view = bound_viewing(viewing_table(rows), grid.channels, engine)
    cells = compute_viewership(
        assignments, view, channels=grid.channels, engine=engine, period=grid.days
    )
    return assignments, cells, grid


def test_zero_noise_reproduces_exact_figures(engine: DuckDBEngine) -> None:
    _, cells, grid = small_release(engine)
    plan = plan_noise(grid, ["*", "A", "B"], rho=0.5)
    k = 10
    out = noisy_release(cells, grid, plan, k, noise=lambda counts, scale: list(counts))
    assert out.schema == RELEASE_SCHEMA
    assert out.num_rows == cells.num_rows
    for got, want in zip(out.to_pylist(), cells.to_pylist(), strict=True):
        assert got["universe"] == want["universe"]
        if want["grain"] != "period":
            # AQH households is the noisy estimate the k rule reads below the period.
            assert got["suppressed"] == (want["aqh_households"] < k)
        if want["grain"] == "period":
            assert got["suppressed"] == (want["reach_households"] < k)
        if got["suppressed"]:
            assert all(got[c] is None for c in ("aqh_households", "rating", *INTERVAL_COLUMNS))
            continue
        for column in ("aqh_households", "rating", "share", "reach_households", "reach"):
            if want[column] is None:
                assert got[column] is None
            else:
                assert got[column] == pytest.approx(want[column], abs=1e-9), column
        assert got["aqh_households_ci"] > 0 and got["rating_ci"] > 0
    shown = [r for r in out.to_pylist() if not r["suppressed"]]
    assert any(r["grain"] == "daypart" for r in shown)
    assert any(r["grain"] == "period" and r["reach_ci"] > 0 for r in shown)


def test_noise_is_applied_and_suppression_uses_noisy_counts(engine: DuckDBEngine) -> None:
    _, cells, grid = small_release(engine)
    plan = plan_noise(grid, ["*", "A", "B"], rho=0.5)
    # A deterministic "noise" that adds 1000 to every count: nothing is suppressed.
    out = noisy_release(cells, grid, plan, 50, noise=lambda c, s: [x + 1000 for x in c])
    assert not any(out["suppressed"].to_pylist())
    # One that subtracts 1000: everything is suppressed, universes stay >= 1.
    out = noisy_release(cells, grid, plan, 1, noise=lambda c, s: [x - 1000 for x in c])
    assert all(out["suppressed"].to_pylist())
    assert min(out["universe"].to_pylist()) == 1


def test_noisy_release_rejects_a_foreign_grid(engine: DuckDBEngine) -> None:
    _, cells, grid = small_release(engine)
    plan = plan_noise(grid, ["*", "A", "B"], rho=0.5)
    other = CellGrid(("c1", "c2", "c3", "c4"), (MONDAY,))
    with pytest.raises(ValueError):
        noisy_release(cells, other, plan, 5)


def test_a_segment_under_the_minimum_universe_is_suppressed_not_refused(
    engine: DuckDBEngine,
) -> None:
    _, cells, grid = small_release(engine)
    plan = plan_noise(grid, ["*", "A", "B"], rho=0.5)
    exact = lambda c, s: list(c)  # noqa: E731 - the identity "noise"
    # A and B hold 80 households each, * 120: a minimum of 100 blanks A and B only.
    out = noisy_release(cells, grid, plan, 1, min_universe=100, noise=exact).to_pylist()
    assert all(r["suppressed"] for r in out if r["segment"] != "*")
    assert any(not r["suppressed"] for r in out if r["segment"] == "*")
    assert all(r["universe"] is not None for r in out)  # noisy sizes are post-processing
