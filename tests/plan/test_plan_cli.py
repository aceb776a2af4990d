"""`narwhal campaign plan`: writes the plan files, exits 2 on bad input and writes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.csv as pacsv
import pytest
from typer.testing import CliRunner

from parties.campaign import app
from tests.conftest import EXCHANGE_ID, Exchange

X = EXCHANGE_ID


@pytest.fixture(scope="module")
def campaign_home(exchange: Exchange, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session exchange's campaign home, the world's rate card beside it.

    The home's inbox holds a real sealed viewership release, light tiers included.
    """
    root = tmp_path_factory.mktemp("plan-cli")
    home = shutil.copytree(exchange.home("campaign"), root / "campaign", symlinks=True)
    shutil.copyfile(exchange.world / "campaign" / "ratecard.csv", root / "ratecard.csv")
    return Path(home)


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
    assert plan.column_names[:8] == [
        "market",
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
    assert comparison.column_names[0] == "market"
    assert (out / "plan_all_households.csv").is_file()


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"--target": "persuadable,nobody"}, "segment #2"),
        ({"--budget": "0"}, "budget"),
        ({"--budget": "-100"}, "budget"),
        ({"--weights": "1,x"}, "weight #2"),
        ({"--min-channels": "99"}, "channels"),
        ({"--market-budget": "atlantis=100"}, "--market-budget"),
        ({"--market-budget": "cleveland"}, "entry #1"),
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
