"""scripts/bench.py --scale: one JSON object, every stage at every size, failures reported.

Runs in the test process (``--in-process``) at toy sizes, without the
clkhash/anonlink anchors (they need their own virtual environment). Nothing
here looks at a time beyond its type.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_scale_under_test", ROOT / "scripts/bench.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load_bench()

SIZES = (1_000, 2_000)
ANCHORED = {"link_exact", "aggregate"}  # the DuckDB anchors; clkhash and anonlink are off


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    argv = ["--scale", ",".join(str(n) for n in reversed(SIZES)), "--days", "1"]
    argv += ["--dice-rows", "100", "--no-anchors", "--in-process", "--work", str(tmp_path)]
    assert bench.main(argv) == 0
    captured = capsys.readouterr()
    assert "voters: link_exact" in captured.err  # progress goes to stderr
    report: dict[str, Any] = json.loads(captured.out)
    return report


def test_scale_reports_every_stage_at_every_size_and_a_failure_in_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(work: Path) -> tuple[int, str, float, dict[str, Any]]:
        raise ValueError("the fuzzy stage broke")

    monkeypatch.setitem(bench.STAGES, "link_fuzzy", broken)
    report = run(tmp_path, capsys)

    assert report["mode"] == "scale" and report["config"]["voters"] == list(SIZES)
    names = [name for name, _ in bench.SCALE_STAGES]
    assert names == [
        "synth", "tokenize", "weekly_refresh", "encode", "dice", "link_exact", "link_fuzzy",
        "aggregate", "release", "plan", "report",
    ]  # fmt: skip
    assert set(report["sizes"]) == {str(n) for n in SIZES}
    for n in SIZES:
        stages = report["sizes"][str(n)]["stages"]
        assert list(stages) == names
        assert stages["synth"]["detail"]["voters"] == n
        fuzzy = stages["link_fuzzy"]
        assert fuzzy["seconds"] is None and "ValueError: the fuzzy stage broke" in fuzzy["error"]
        # The stages after it still ran: the aggregate needs no links, the
        # release needs them and says so, and so on down the line.
        assert "error" not in stages["aggregate"]
        for name in ("release", "plan", "report"):
            assert "error" in stages[name], name
        for name in ("synth", "tokenize", "encode", "dice", "link_exact", "aggregate"):
            entry = stages[name]
            assert "error" not in entry, (name, entry.get("error"))
            assert isinstance(entry["seconds"], float) and entry["seconds"] >= 0
            if name in ANCHORED:
                assert entry["anchor_seconds"] > 0
                assert entry["ratio"] == pytest.approx(
                    entry["seconds"] / entry["anchor_seconds"], rel=1e-2, abs=1e-3
                )
            else:
                assert entry["anchor_seconds"] is None and entry["ratio"] is None
        for name in ("encode", "dice"):  # anchors exist but were switched off
            assert stages[name]["anchor"] == {"error": "--no-anchors"}
        assert stages["tokenize"]["detail"]["records"] > n
        assert stages["dice"]["detail"]["pairs"] > 0
        assert stages["link_exact"]["detail"]["links"] > 0

    growth = report["growth"]
    assert list(growth) == [f"{SIZES[0]}->{SIZES[1]}"]
    exponents = growth[f"{SIZES[0]}->{SIZES[1]}"]
    assert set(exponents) == set(names)
    assert exponents["link_fuzzy"] is None and exponents["plan"] is None
    small, large = (report["sizes"][str(n)]["stages"]["aggregate"]["seconds"] for n in SIZES)
    assert exponents["aggregate"] == pytest.approx(
        math.log(large / small) / math.log(SIZES[1] / SIZES[0]), abs=2e-3
    )


def test_growth_exponents_from_stage_times() -> None:
    sizes = {
        "100": {"stages": {"synth": {"seconds": 1.0}, "tokenize": {"seconds": 2.0}}},
        "1000": {"stages": {"synth": {"seconds": 10.0}, "tokenize": {"error": "x"}}},
        "10000": {"stages": {"synth": {"seconds": 1000.0}, "tokenize": {"seconds": 3.0}}},
    }
    growth = bench.growth_exponents(sizes)
    assert list(growth) == ["100->1000", "1000->10000"]
    assert growth["100->1000"]["synth"] == 1.0 and growth["1000->10000"]["synth"] == 2.0
    assert growth["100->1000"]["tokenize"] is None and growth["100->1000"]["report"] is None
