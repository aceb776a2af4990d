"""The spot-selection program: exact against brute force, never below greedy; the CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from typer.testing import CliRunner

from linkage.errors import InputError
from linkage.io import save_identity, write_card, write_message
from linkage.measure import DAYPART_NAMES, spot_ratings
from linkage.plan import (
    COMPARISON_COLUMNS,
    Instance,
    PlanRequest,
    PlanResult,
    RateCell,
    brute_force,
    cell_values,
    estimate_reach,
    greedy,
    make_plan,
    normalise_weights,
    parse_ratecard,
    solve,
    with_tier_estimates,
)
from linkage.protocol import generate_identity, seal
from linkage.tables import VIEWERSHIP_SCHEMA
from parties.campaign import app

# --------------------------------------------------------------------------- fixtures

CHANNELS = ("A", "B", "C", "D")
SEGMENTS = ("all_matched", "persuadable", "turnout_target", "persuadable:light")
UNIVERSE = {"all_matched": 5000, "persuadable": 1200, "turnout_target": 900}
UNIVERSE["persuadable:light"] = 400


def viewership(seed: int, *, suppress: frozenset[tuple[str, str]] = frozenset()) -> pa.Table:
    """Decoded viewership: daypart rows (weekday, weekend) and period reach, seeded."""
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    for segment in SEGMENTS:
        universe = UNIVERSE[segment]
        for channel in CHANNELS:
            taste = rng.uniform(0.3, 3.0)
            peak = 0.0
            for name in DAYPART_NAMES:
                for day_type in ("weekday", "weekend"):
                    rating = round(taste * rng.uniform(0.2, 2.0), 4)
                    peak = max(peak, rating)
                    hidden = (segment, channel) in suppress
                    rows.append(
                        cell("daypart", segment, channel, day_type, name, universe, rating, hidden)
                    )
            period = cell("period", segment, channel, "all", "all", universe, peak / 3, False)
            reach = min(100.0, peak * rng.uniform(3.0, 8.0))
            period.update(reach=reach, reach_households=round(reach * universe / 100))
            rows.append(period)
    return pa.Table.from_pylist(rows, schema=VIEWERSHIP_SCHEMA)


def cell(
    grain: str,
    segment: str,
    channel: str,
    day_type: str,
    daypart: str,
    universe: int,
    rating: float,
    hidden: bool,
) -> dict[str, object]:
    return {
        "grain": grain,
        "segment": segment,
        "channel": channel,
        "day_type": day_type,
        "daypart": daypart,
        "quarter_hour": None,
        "universe": universe,
        "aqh_households": None if hidden else rating * universe / 100,
        "rating": None if hidden else rating,
        "share": None if hidden else 10.0,
        "reach_households": None,
        "reach": None,
        "suppressed": hidden,
    }


def ratecard_cells(seed: int) -> tuple[RateCell, ...]:
    rng = random.Random(seed)
    return tuple(
        RateCell(channel, name, rng.randrange(5_000, 200_000), rng.randrange(0, 12))
        for channel in CHANNELS
        for name in DAYPART_NAMES
    )


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


# --------------------------------------------------------------------------- values and reach


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


def test_normalise_weights() -> None:
    assert normalise_weights(["a", "b"]) == {"a": 0.5, "b": 0.5}
    assert normalise_weights(["a", "b"], [3, 1]) == {"a": 0.75, "b": 0.25}
    for targets, weights in (([], None), (["a", "a"], None), (["a"], [1, 2]), (["a"], [0])):
        with pytest.raises(InputError):
            normalise_weights(targets, weights)


# --------------------------------------------------------------------------- rate card


def ratecard_table(**override: list[object]) -> pa.Table:
    columns: dict[str, list[object]] = {
        "channel": ["A", "A", "B"],
        "daypart": ["prime", "daytime", "prime"],
        "cost_per_spot": [1200.5, 300.0, 800.0],
        "units_available": [4, 10, 0],
    }
    columns.update(override)
    return pa.table(columns)


def test_parse_ratecard_rounds_to_cents() -> None:
    cells = parse_ratecard(ratecard_table())
    assert cells[0] == RateCell("A", "prime", 120050, 4)
    assert cells[2].units == 0 and cells[0].cost == pytest.approx(1200.5)


@pytest.mark.parametrize(
    ("override", "column", "row"),
    [
        ({"daypart": ["prime", "brunch", "prime"]}, "daypart", 2),
        ({"cost_per_spot": [1.0, -3.0, 2.0]}, "cost_per_spot", 2),
        ({"cost_per_spot": ["1", "2", "lots"]}, "cost_per_spot", 3),
        ({"units_available": [1, 2.5, 3]}, "units_available", 2),
        ({"channel": ["A", None, "B"]}, "channel", 2),
    ],
)
def test_parse_ratecard_names_the_bad_row(
    override: dict[str, list[object]], column: str, row: int
) -> None:
    with pytest.raises(InputError) as info:
        parse_ratecard(ratecard_table(**override), file="rc.csv")
    assert info.value.column == column and info.value.row == row


def test_parse_ratecard_rejects_duplicates_and_missing_columns() -> None:
    with pytest.raises(InputError, match="repeated"):
        parse_ratecard(ratecard_table(daypart=["prime", "prime", "prime"]))
    with pytest.raises(InputError, match="column"):
        parse_ratecard(ratecard_table().drop_columns(["units_available"]))


# --------------------------------------------------------------------------- the plan


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


# --------------------------------------------------------------------------- CLI

X = "plan-2026"
CODES = {"persuadable": "s0000000000000001", "turnout_target": "s0000000000000002"}


@pytest.fixture(scope="module")
def campaign_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A campaign home holding a sealed viewership message from a provider."""
    root = tmp_path_factory.mktemp("plan-cli")
    campaign, provider = generate_identity("c", "campaign"), generate_identity("p", "provider")
    home = root / "campaign"
    for sub in ("contacts", "inbox", "outbox", "ledger", f"state/{X}"):
        (home / sub).mkdir(parents=True)
    save_identity(home / "keys", campaign)
    write_card(home / "card.json", campaign.card())
    card = provider.card()
    write_card(home / "contacts" / f"provider-{card.fingerprint}.json", card)
    (home / "state" / X / "segments.json").write_text(json.dumps({"codes": CODES}))
    code = {"all_matched": "*", **CODES, "persuadable:light": CODES["persuadable"] + ":light"}
    payload = viewership(7)
    payload = payload.set_column(
        1, "segment", pa.array([code[s] for s in payload["segment"].to_pylist()], pa.string())
    )
    sealed = seal(
        payload, kind="viewership", exchange_id=X, sender=provider, recipient=campaign.card()
    )
    write_message(home / "inbox" / f"{X}.viewership.nwl", sealed)
    rc = pa.Table.from_pylist(
        [
            {
                "channel": c.channel,
                "daypart": c.daypart,
                "cost_per_spot": c.cost,
                "units_available": c.units,
            }
            for c in ratecard_cells(7)
        ]
    )
    pacsv.write_csv(rc, root / "ratecard.csv")
    return home


def invoke(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["plan", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def plan_args(home: Path, out: Path, **over: str) -> list[str | Path]:
    opts = {
        "--home": str(home),
        "--exchange": X,
        "--ratecard": str(home.parent / "ratecard.csv"),
        "--budget": "30000",
        "--target": "persuadable,turnout_target",
        "--out": str(out),
    }
    opts.update(over)
    return [part for pair in opts.items() for part in pair]


def test_cli_writes_the_plan_and_comparison(campaign_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    extra = ["--weights", "2,1", "--light-priority", "0.5", "--min-channels", "3"]
    code, stdout, stderr = invoke(*plan_args(campaign_home, out), *extra)
    assert code == 0, stderr
    assert "all households" in stdout and "target TRPs" in stdout
    plan = pacsv.read_csv(out / "plan.csv")
    assert plan.column_names[:7] == [
        "channel",
        "daypart",
        "spots",
        "units_available",
        "cost_per_spot",
        "cost",
        "target_trps",
    ]
    assert len(set(plan["channel"].to_pylist())) >= 3
    assert sum(plan["cost"].to_pylist()) <= 30_000
    comparison = pacsv.read_csv(out / "plan_comparison.csv")
    assert set(comparison["plan"].to_pylist()) == {"optimized", "greedy", "all_households"}
    assert (out / "plan_all_households.csv").is_file()


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"--target": "persuadable,nobody"}, "segment #2"),
        ({"--budget": "0"}, "budget"),
        ({"--budget": "-100"}, "budget"),
        ({"--weights": "1,x"}, "weight #2"),
        ({"--min-channels": "99"}, "channels"),
    ],
)
def test_cli_bad_input_exits_2_and_writes_nothing(
    campaign_home: Path, tmp_path: Path, over: dict[str, str], message: str
) -> None:
    out = tmp_path / "report"
    weights = over.pop("--weights", None)
    args = plan_args(campaign_home, out, **over)
    if weights is not None:
        args += ["--weights", weights]
    code, _, stderr = invoke(*args)
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in stderr
    assert not out.exists()


def test_cli_malformed_ratecard(campaign_home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "rc.csv"
    bad.write_text("channel,daypart,cost_per_spot,units_available\nA,prime,cheap,3\n")
    out = tmp_path / "report"
    code, _, stderr = invoke(*plan_args(campaign_home, out, **{"--ratecard": str(bad)}))
    assert code == 2 and "cost_per_spot" in stderr and "row 1" in stderr
    assert "cheap" not in stderr and not out.exists()
