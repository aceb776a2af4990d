"""Tests for linkage.release.delivery: exposure on a hand-made log, sensitivities, the DP path."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, time

import pyarrow as pa
import pytest

from linkage.engine import DuckDBEngine
from linkage.errors import InputError, PrivacyError
from linkage.plan import parse_aired
from linkage.release import (
    DeliveryGrid,
    delivery_grid,
    exact_delivery,
    measure_delivery,
    noisy_delivery,
    plan_delivery_noise,
)
from linkage.tables import DELIVERY_SCHEMA

DAY = date(2026, 10, 5)


def viewing(rows: Sequence[tuple[str, str, str, str]]) -> pa.Table:
    def stamp(hhmm: str) -> datetime:
        return datetime.combine(DAY, time.fromisoformat(hhmm))

    return pa.table(
        {
            "household_id": pa.array([r[0] for r in rows], pa.string()),
            "channel": pa.array([r[1] for r in rows], pa.string()),
            "start": pa.array([stamp(r[2]) for r in rows], pa.timestamp("s")),
            "end": pa.array([stamp(r[3]) for r in rows], pa.timestamp("s")),
        }
    )


def aired(rows: Sequence[tuple[str, str, str]]) -> pa.Table:
    return parse_aired(
        pa.table(
            {
                "market": [r[0] for r in rows],
                "channel": [r[1] for r in rows],
                "date": [DAY.isoformat()] * len(rows),
                "time": [r[2] for r in rows],
            }
        )
    )


MARKETS = pa.table(
    {"household_id": ["h1", "h2", "h3"], "market": ["cleveland", "cleveland", "columbus"]}
)
PUBLIC_MARKETS = ["cleveland", "columbus"]
"""The public line-ups' markets (never read from where households live)."""
# h4 is in no market: it sees statewide spots only and counts in the '*' row.
ASSIGNED = pa.table(
    {
        "household_id": ["h1", "h2", "h3", "h4", "h1", "h3"],
        "segment": ["*", "*", "*", "*", "A", "A"],
    }
)
VIEWING = viewing(
    [
        ("h1", "ch1", "20:00:00", "21:00:00"),
        ("h1", "ch1", "20:10:00", "20:40:00"),  # a second box on the same channel
        ("h2", "ch2", "20:00:00", "20:30:00"),
        ("h3", "ch1", "20:00:00", "21:00:00"),
        ("h4", "ch1", "20:00:00", "21:00:00"),
    ]
)
SPOTS = aired(
    [
        ("cleveland", "ch1", "20:15:00"),  # h1 (h3 is in columbus, h4 in no market)
        ("*", "ch1", "20:30:00"),  # h1, h3, h4
        ("cleveland", "ch2", "20:30:00"),  # nobody: h2's event ends at 20:30
        ("columbus", "ch1", "21:00:00"),  # nobody: h3's event ends at 21:00
    ]
)


def grid(cap: int = 30) -> DeliveryGrid:
    return delivery_grid(SPOTS, MARKETS, ["ch1", "ch2"], [DAY], cap, market_list=PUBLIC_MARKETS)


def rows(table: pa.Table) -> dict[tuple[str, str], dict[str, object]]:
    return {(r["market"], r["segment"]): r for r in table.to_pylist()}


def test_exposure_on_a_hand_made_log() -> None:
    with DuckDBEngine() as engine:
        m = measure_delivery(ASSIGNED, VIEWING, MARKETS, grid(), engine)
    assert m.segments == ("*", "A")
    # buckets: cleveland, columbus, no market
    assert m.universe.tolist() == [[2, 1], [1, 1], [1, 0]]
    assert m.impressions.tolist() == [[2, 2], [1, 1], [1, 0]]
    assert m.reach.tolist() == [[1, 1], [1, 1], [1, 0]]
    truth = rows(exact_delivery(m, grid()))
    assert set(truth) == {(mk, s) for mk in ("*", "cleveland", "columbus") for s in ("*", "A")}
    star = truth[("*", "*")]
    assert (star["universe"], star["impressions"], star["reach_households"]) == (4, 4.0, 3)
    assert star["trps"] == pytest.approx(100.0)
    assert star["frequency"] == pytest.approx(4 / 3)
    assert truth[("cleveland", "A")]["trps"] == pytest.approx(200.0)
    assert truth[("cleveland", "*")]["spots"] == 3  # its own two and the statewide one
    assert truth[("*", "*")]["spots"] == 4


def test_the_frequency_cap_bounds_each_household() -> None:
    with DuckDBEngine() as engine:
        m = measure_delivery(ASSIGNED, VIEWING, MARKETS, grid(cap=1), engine)
    assert m.impressions.tolist() == [[1, 1], [1, 1], [1, 0]]


def test_one_household_moves_each_measure_by_at_most_its_sensitivity() -> None:
    segments = ["*", "A", "A:light"]
    full = pa.concat_tables([ASSIGNED, pa.table({"household_id": ["h1"], "segment": ["A:light"]})])
    plan = plan_delivery_noise(grid(), segments, rho=0.02)
    with DuckDBEngine() as engine:
        for drop in ("h1", "h2", "h3", "h4"):
            keep = pa.array([h != drop for h in full["household_id"].to_pylist()])
            a = measure_delivery(full, VIEWING, MARKETS, grid(), engine, segments)
            b = measure_delivery(full.filter(keep), VIEWING, MARKETS, grid(), engine, segments)
            for name in ("impressions", "reach", "universe"):
                diff = getattr(a, name) - getattr(b, name)
                assert math.sqrt(float((diff**2).sum())) <= plan.sensitivity[name] + 1e-9


def test_noise_scales_follow_the_sensitivities_and_the_split() -> None:
    plan = plan_delivery_noise(grid(), ["*", "A", "A:light", "A:heavy"], rho=0.02)
    m = 3  # '*', 'A' and one tier of A
    assert plan.sensitivity["impressions"] == pytest.approx(3 * math.sqrt(m))  # S = 3 spots
    assert sum(plan.rhos.values()) == pytest.approx(0.02)
    for name, share in plan.rhos.items():
        floor = math.ceil(plan.sensitivity[name]) / math.sqrt(2 * share)
        assert plan.scales[name] == pytest.approx(floor, rel=1e-6)
    with pytest.raises(PrivacyError):
        plan_delivery_noise(grid(), ["*"], rho=0.0)


def test_the_dp_path_with_a_deterministic_noise() -> None:
    calls: list[tuple[int, float]] = []

    def plus_one(counts: Sequence[int], scale: float) -> list[int]:
        calls.append((len(counts), scale))
        return [c + 1 for c in counts]

    segments = ("*", "A")
    plan = plan_delivery_noise(grid(), segments, rho=0.02)
    with DuckDBEngine() as engine:
        m = measure_delivery(ASSIGNED, VIEWING, MARKETS, grid(), engine)
    out = noisy_delivery(m, grid(), plan, k=1, min_universe=1, noise=plus_one)
    assert out.schema == DELIVERY_SCHEMA
    # One vector per measure: universe, impressions, reach; every bucket (a '*' spot aired).
    assert [n for n, _ in calls] == [6, 6, 6]
    got = rows(out)
    star = got[("*", "*")]
    # Three buckets summed, each +1: universe 4+3, impressions 4+3, reach 3+3.
    assert (star["universe"], star["impressions"], star["reach_households"]) == (7, 7.0, 6)
    assert star["impressions_ci"] == pytest.approx(1.959964 * plan.scales["impressions"] * 3**0.5)
    cle = got[("cleveland", "A")]
    assert cle["impressions_ci"] == pytest.approx(1.959964 * plan.scales["impressions"])
    assert cle["trps"] == pytest.approx(3 / 2 * 100)
    assert min(out["trps_ci"].to_pylist() + out["reach_ci"].to_pylist()) > 0
    # Suppression reads noisy values only: k above every noisy reach blanks all.
    blank = noisy_delivery(m, grid(), plan, k=100, min_universe=1, noise=plus_one)
    assert all(blank["suppressed"].to_pylist())
    assert blank["impressions"].null_count == blank.num_rows
    assert blank["universe"].null_count == 0


def test_nothing_is_measured_where_nothing_aired() -> None:
    spots = aired([("cleveland", "ch1", "20:15:00")])
    only = delivery_grid(spots, MARKETS, None, [DAY], market_list=PUBLIC_MARKETS)
    assert only.released_markets == ("*", "cleveland")
    calls: list[int] = []

    def zero(counts: Sequence[int], scale: float) -> list[int]:
        calls.append(len(counts))
        return list(counts)

    with DuckDBEngine() as engine:
        m = measure_delivery(ASSIGNED, VIEWING, MARKETS, only, engine)
    plan = plan_delivery_noise(only, m.segments, rho=0.02)
    out = noisy_delivery(m, only, plan, k=1, noise=zero)
    assert calls == [6, 2, 2]  # universe everywhere; impressions and reach in cleveland only
    got = rows(out)
    assert got[("*", "*")]["impressions"] == 1.0
    assert got[("cleveland", "A")]["light_reach"] is None  # no light tier released


def test_light_reach_comes_from_the_light_tier() -> None:
    assigned = pa.concat_tables(
        [ASSIGNED, pa.table({"household_id": ["h1", "h3"], "segment": ["A:light", "A:heavy"]})]
    )
    with DuckDBEngine() as engine:
        m = measure_delivery(assigned, VIEWING, MARKETS, grid(), engine)
    got = rows(exact_delivery(m, grid()))
    assert got[("*", "A")]["light_reach"] == pytest.approx(100.0)
    assert got[("*", "A:light")]["light_reach"] is None


def test_a_spot_off_the_channel_list_is_refused_by_row() -> None:
    spots = aired([("cleveland", "ch1", "20:00:00"), ("cleveland", "ch9", "20:15:00")])
    with pytest.raises(InputError) as err:
        delivery_grid(spots, MARKETS, ["ch1", "ch2"], [DAY], market_list=PUBLIC_MARKETS)
    assert err.value.column == "channel" and err.value.row == 2
    assert "ch9" not in str(err.value)


def test_a_market_without_households_is_suppressed_not_refused() -> None:
    spots = aired([("cleveland", "ch1", "20:15:00"), ("dayton", "ch1", "20:15:00")])
    empty = delivery_grid(spots, MARKETS, None, [DAY], market_list=PUBLIC_MARKETS)
    assert empty.released_markets == ("*", "cleveland", "dayton")
    with DuckDBEngine() as engine:
        m = measure_delivery(ASSIGNED, VIEWING, MARKETS, empty, engine)
    plan = plan_delivery_noise(empty, m.segments)
    out = rows(noisy_delivery(m, empty, plan, k=1, min_universe=1, noise=lambda c, s: list(c)))
    assert out[("dayton", "*")]["suppressed"] and out[("dayton", "A")]["suppressed"]
    assert not out[("cleveland", "*")]["suppressed"]


def test_a_household_in_two_markets_is_refused() -> None:
    twice = pa.table({"household_id": ["h1", "h1"], "market": ["cleveland", "columbus"]})
    with pytest.raises(InputError, match="more than one market"):
        delivery_grid(SPOTS, twice, None, [DAY], market_list=PUBLIC_MARKETS)


def test_spots_outside_the_period_are_refused() -> None:
    with pytest.raises(InputError, match="outside the reporting period"):
        delivery_grid(SPOTS, MARKETS, None, [date(2026, 10, 6)], market_list=PUBLIC_MARKETS)


def test_grid_digest_names_the_schedule() -> None:
    other = delivery_grid(aired([("cleveland", "ch1", "20:16:00")]), MARKETS, None, [DAY])
    assert grid().digest() == grid().digest() != other.digest()
    assert grid().digest() != grid(cap=5).digest()
