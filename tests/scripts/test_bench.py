"""Smoke test of scripts/bench.py: one JSON object with every stage and ratio key.

Runs the CI-sized bench without the clkhash/anonlink anchors (those need their
own virtual environment). Nothing here looks at a time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


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
    stages = report["stages"]
    assert set(stages) == {
        "synth", "tokenize", "encode", "dice", "link_exact", "link_fuzzy", "aggregate", "plan"
    }  # fmt: skip
    for name in ("synth", "tokenize", "encode", "dice", "link_exact", "aggregate"):
        record = stages[name]
        assert record[record["unit"]] > 0
        assert record["seconds"] >= 0 and record["peak_rss_mib"] > 0
    assert stages["link_exact"]["links"] > 0
    for name in ("link_fuzzy", "plan"):
        assert stages[name].get("value", True) is not None or stages[name]["reason"]
    ratios = report["ratios"]
    assert set(ratios) >= {
        "encode_vs_clkhash", "dice_vs_anonlink", "link_vs_duckdb_join", "aggregate_vs_duckdb_query"
    }  # fmt: skip
    assert ratios["encode_vs_clkhash"] is None and ratios["dice_vs_anonlink"] is None
    assert "--no-anchors" in report["ratio_notes"]["encode_vs_clkhash"]["reason"]
    assert ratios["link_vs_duckdb_join"] > 0 and ratios["aggregate_vs_duckdb_query"] > 0
