"""The benchmark suite (``scripts/linkage_quality.py --suite``) and the datasets it builds.

Tiny inputs through the same code path as the full suite: shapes, ranges and
truth, never timings.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pyarrow.compute as pc
import pytest

from linkage.synth import corrupt_heavily, generate_world, hard_shapes

ROOT = Path(__file__).resolve().parents[2]


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "linkage_quality_suite", ROOT / "scripts" / "linkage_quality.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["linkage_quality_suite"] = module
    spec.loader.exec_module(module)
    return module


quality = _load_script()

SPREAD = {"mean", "min", "max"}
FIGURES = {"precision", "recall", "f1", "pair_completeness", "candidate_pairs", "seconds"}


def _check_spread(figure: object, low: float, high: float) -> None:
    assert isinstance(figure, dict) and set(figure) == SPREAD
    assert low <= figure["min"] <= figure["mean"] <= figure["max"] <= high


@pytest.mark.heavy  # about 25 s of linkage runs: in `make heavy` (CI), outside make test
def test_suite_prints_one_json_object_with_ranges_and_a_like_for_like_baseline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--suite", "--runs", "2", "--only", "hard_shapes,febrl1", "--size", "400"]
    assert quality.main(argv) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert "hard_shapes run 2/2" in captured.err  # progress goes to stderr
    assert report["runs"] == 2
    assert list(report["datasets"]) == ["hard_shapes", "febrl1"]
    for entry in report["datasets"].values():
        assert set(entry) >= FIGURES | {"est_precision", "est_recall", "baseline", "true_pairs"}
        for name in ("precision", "recall", "f1", "pair_completeness", "est_precision"):
            _check_spread(entry[name], 0.0, 1.0)
        _check_spread(entry["est_recall"], 0.0, 1.0)
        assert set(entry["baseline"]) == FIGURES
        for name in ("precision", "recall", "f1", "pair_completeness"):
            _check_spread(entry["baseline"][name], 0.0, 1.0)
        # The baseline classifies the private path's own candidate pairs.
        assert entry["baseline"]["pair_completeness"] == entry["pair_completeness"]
        assert entry["f1"]["min"] >= 0.8
    assert report["datasets"]["hard_shapes"]["note"] == "400 people on side a"
    assert report["datasets"]["febrl1"]["resolution"] == "many_to_one"


def test_suite_rejects_an_unknown_dataset() -> None:
    with pytest.raises(SystemExit) as exit_info:
        quality.main(["--suite", "--only", "febrl9"])
    assert exit_info.value.code == 2


@pytest.mark.parametrize(("number", "dups", "orgs"), [(1, 500, 500), (3, 3000, 2000)])
def test_febrl_split_pairs_every_duplicate_with_its_original(
    number: int, dups: int, orgs: int
) -> None:
    problem = quality.febrl_split(number)
    assert (problem.a.num_rows, problem.b.num_rows) == (dups, orgs)
    assert problem.schema.resolution.mode == "many_to_one"
    ids_a = problem.a["rec_id"].to_pylist()
    ids_b = problem.b["rec_id"].to_pylist()
    assert all("-dup-" in x for x in ids_a) and all(x.endswith("-org") for x in ids_b)
    pairs = zip(problem.true_a.tolist(), problem.true_b.tolist(), strict=True)
    assert all(ids_a[i].split("-dup-")[0] == ids_b[j][: -len("-org")] for i, j in pairs)
    assert len(problem.true_a) == dups


def test_hard_shapes_are_reproducible_and_hold_every_shape() -> None:
    files = hard_shapes(people=1500, seed=3)
    again = hard_shapes(people=1500, seed=3)
    assert files.a.equals(again.a) and files.b.equals(again.b) and files.truth.equals(again.truth)
    assert not files.b.equals(hard_shapes(people=1500, seed=4).b)
    b = files.b
    given, surname = b["given_name"], b["surname"]
    shifted = pc.and_(pc.match_substring(given, " "), pc.is_null(surname))
    assert pc.sum(shifted).as_py() > 0
    dates = b["birth_date"]
    assert pc.sum(pc.match_substring_regex(dates, r"^\d{4}$")).as_py() > 0  # year only
    assert pc.sum(pc.match_substring_regex(dates, r"-(3[2-9]|[4-9]\d)$")).as_py() > 0  # day > 31
    assert pc.sum(pc.match_substring_regex(b["postcode"], r"^[A-Z]{1,2}\d+$")).as_py() > 0
    # The truth pairs name existing rows, each at most once per side.
    ids_a, ids_b = set(files.a["person_id"].to_pylist()), set(files.b["person_id"].to_pylist())
    truth_a, truth_b = files.truth["id_a"].to_pylist(), files.truth["id_b"].to_pylist()
    assert set(truth_a) <= ids_a and set(truth_b) <= ids_b
    assert len(set(truth_a)) == len(truth_a) == len(set(truth_b)) > 1000


def test_heavy_corruption_changes_names_and_keeps_rows() -> None:
    subscribers = generate_world(voters=2000, days=1, seed=1).subscribers
    heavy = corrupt_heavily(subscribers, seed=1)
    assert heavy.schema == subscribers.schema and heavy.num_rows == subscribers.num_rows
    assert heavy["household_id"].equals(subscribers["household_id"])
    changed = pc.sum(pc.not_equal(heavy["first_name"], subscribers["first_name"])).as_py()
    assert changed > 0.1 * subscribers.num_rows
    assert heavy["phone"].null_count > subscribers["phone"].null_count
    assert corrupt_heavily(subscribers, seed=1, level=0.0).equals(subscribers)
