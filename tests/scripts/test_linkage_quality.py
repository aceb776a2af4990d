"""Linkage quality floors: FEBRL4 and a small synthetic world, through the private path.

Deterministic (fixed data, fixed seeds); F1 floors only, never timings.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from linkage.encode import DEFAULT_DUMMY_RATE, shipped_schema

ROOT = Path(__file__).resolve().parents[2]


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "linkage_quality", ROOT / "scripts" / "linkage_quality.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["linkage_quality"] = module
    spec.loader.exec_module(module)
    return module


quality = _load_script()


@dataclass(frozen=True)
class World:
    """The three tables of a synthetic world the quality measure needs."""

    voters: pa.Table
    subscribers: pa.Table
    voter_household: pa.Table


@pytest.fixture(scope="module")
def world(world_dir: Path) -> World:
    """The session's world (``tests/conftest.py``), read back from its files."""
    return World(
        pq.read_table(world_dir / "campaign" / "voters.parquet"),
        pq.read_table(world_dir / "provider" / "subscribers.parquet"),
        pq.read_table(world_dir / "truth" / "voter_household.parquet"),
    )


def _world_problem(world: World) -> object:
    voters, subs, truth = world.voters, world.subscribers, world.voter_household
    ids_a = voters["voter_id"].to_pylist()
    ids_b = subs["household_id"].to_pylist()
    return quality.Problem(
        voters,
        subs,
        shipped_schema(),
        quality._positions(truth["voter_id"].to_pylist(), ids_a, "a"),
        quality._positions(truth["household_id"].to_pylist(), ids_b, "b"),
    )


@pytest.mark.slow
def test_febrl4_with_ssn() -> None:
    result, outcome = quality.private_path(quality.febrl4(no_ssn=False))
    assert result["f1"] >= 0.9995
    assert result["pair_completeness"] >= 0.999
    assert outcome.est_precision > 0.99


@pytest.mark.slow
def test_febrl4_without_ssn() -> None:
    result, _ = quality.private_path(quality.febrl4(no_ssn=True))
    assert result["f1"] >= 0.995


def test_small_world_voters_to_households(world: World) -> None:
    problem = _world_problem(world)
    result, outcome = quality.private_path(problem)
    assert result["f1"] >= 0.99
    assert result["precision"] >= 0.995
    # The fuzzy stage and the household grouping add links the exact stage misses.
    assert outcome.fuzzy_links > 0 and outcome.group_links > 0
    exact_only = outcome.exact_links
    truth_size = len(problem.true_a)  # type: ignore[attr-defined]
    assert result["recall"] * truth_size > exact_only


def test_cli_prints_one_json_object_with_baseline(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for part, name, table in (
        ("campaign", "voters.parquet", world.voters),
        ("provider", "subscribers.parquet", world.subscribers),
        ("truth", "voter_household.parquet", world.voter_household),
    ):
        (tmp_path / part).mkdir()
        pq.write_table(table, tmp_path / part / name)
    assert quality.main(["--world", str(tmp_path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    keys = {"precision", "recall", "f1", "candidate_pairs", "pair_completeness", "seconds"}
    assert set(printed) == keys | {"baseline", "dummy_rate"}
    assert printed["dummy_rate"] == DEFAULT_DUMMY_RATE  # the tokenizers' default
    assert set(printed["baseline"]) == keys
    assert printed["f1"] >= 0.99


def test_cli_rejects_truth_ids_not_in_files(world: World, tmp_path: Path) -> None:
    a, b, t = tmp_path / "a.parquet", tmp_path / "b.parquet", tmp_path / "t.parquet"
    pq.write_table(world.voters, a)
    pq.write_table(world.subscribers, b)
    pq.write_table(pa.table({"voter_id": ["nobody"], "household_id": ["none"]}), t)
    schema = ROOT / "linkage" / "data" / "schemas" / "voters_subscribers.toml"
    code = quality.main(["--a", str(a), "--b", str(b), "--schema", str(schema), "--truth", str(t)])
    assert code == 2
