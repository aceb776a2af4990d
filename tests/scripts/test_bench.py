"""Smoke test of scripts/bench.py: one JSON object with every stage and ratio key.

Runs the CI-sized bench without the clkhash/anonlink anchors (those need their
own virtual environment). Nothing here looks at a time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.mark.heavy  # in `make heavy` (CI), outside make test's four minutes
def test_quick_bench_prints_one_json_object(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "bench.py"),
            # Smaller than --quick: the smoke test checks shape, not speed.
            "--voters",
            "600",
            "--days",
            "1",
            "--dice-rows",
            "200",
            "--no-anchors",
            "--work",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=600,
    )
    report = json.loads(done.stdout)
    assert set(report) >= {"config", "machine", "stages", "anchors", "ratios", "ratio_notes"}
    assert report["config"]["quick"] is False
    assert (report["config"]["voters"], report["config"]["days"]) == (600, 1)
    assert isinstance(report["machine"]["cpus"], int) and report["machine"]["cpus"] >= 1
    stages = report["stages"]
    assert set(stages) == {
        "synth", "tokenize", "encode", "dice", "link_exact", "link_fuzzy", "aggregate", "plan",
        "weekly_refresh",
    }  # fmt: skip
    for name in ("synth", "tokenize", "encode", "dice", "link_exact", "aggregate"):
        assert_measured(stages[name])
    assert stages["synth"]["unit"] == "voters" and stages["synth"]["voters"] == 600
    assert isinstance(stages["link_exact"]["links"], int) and stages["link_exact"]["links"] > 0
    assert stages["link_exact"]["candidate_pairs"] >= stages["link_exact"]["links"]
    assert isinstance(stages["dice"]["pairs_found"], int)
    assert isinstance(stages["aggregate"]["cells"], int) and stages["aggregate"]["cells"] > 0
    # Stages the bench does not drive yet: measured, or null with the reason, never neither.
    for name in ("link_fuzzy", "plan"):
        assert_measured_or_null(stages[name])
    anchors = report["anchors"]
    assert set(anchors) == {
        "duckdb_token_join", "duckdb_join_count_distinct", "clkhash_encode", "anonlink_dice"
    }  # fmt: skip
    assert_measured(anchors["duckdb_token_join"])
    assert_measured(anchors["duckdb_join_count_distinct"])
    for name in ("clkhash_encode", "anonlink_dice"):
        assert anchors[name] == {"value": None, "reason": "--no-anchors"}
    ratios = report["ratios"]
    assert set(ratios) == {
        "encode_vs_clkhash", "dice_vs_anonlink", "link_vs_duckdb_join", "aggregate_vs_duckdb_query"
    }  # fmt: skip
    assert ratios["encode_vs_clkhash"] is None and ratios["dice_vs_anonlink"] is None
    assert "--no-anchors" in report["ratio_notes"]["encode_vs_clkhash"]["reason"]
    for name in ("link_vs_duckdb_join", "aggregate_vs_duckdb_query"):
        assert isinstance(ratios[name], float) and ratios[name] > 0
    for name, note in report["ratio_notes"].items():
        assert note["value"] == ratios[name]
        assert isinstance(note["basis"], str) and note["basis"]


def assert_measured(record: dict[str, Any]) -> None:
    """A stage that ran: its count in its own unit, time, rate and peak memory."""
    unit = record["unit"]
    assert isinstance(unit, str) and isinstance(record[unit], int) and record[unit] > 0
    assert isinstance(record["seconds"], float | int) and record["seconds"] >= 0
    assert record["per_second"] is None or record["per_second"] > 0
    assert isinstance(record["peak_rss_mib"], float | int) and record["peak_rss_mib"] > 0


def assert_measured_or_null(record: dict[str, Any]) -> None:
    if "value" in record:
        assert set(record) == {"value", "reason"} and record["value"] is None
        assert isinstance(record["reason"], str) and record["reason"]
    else:
        assert_measured(record)
