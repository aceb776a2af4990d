"""Tests for scripts/floors.py: one JSON object, every floor positive and finite."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RATE = ("per_core", "all_cores", "wall_per_core", "wall_all_cores")
RATES = {
    "hmac": RATE,
    "clk": RATE,
    "normalize": RATE,
    "parquet_write": RATE + tuple(f"{r}_mb_s" for r in RATE),
    "seal": RATE,
    "duckdb": tuple(
        f"{prefix}{figure}_{where}"
        for prefix in ("", "wall_")
        for figure in ("join_rows_s", "aggregate_rows_s")
        for where in ("per_core", "all_cores")
    ),
}
STEPS = ("campaign_tokenize", "provider_tokenize", "link", "aggregate", "exchange")


def positive(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def test_quick_floors_print_one_json_object_of_positive_finite_floors() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts/floors.py"), "--quick", "--model-voters", "1000"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["config"]["quick"] is True
    assert report["config"]["model_voters"] == 1000
    for name, fields in RATES.items():
        assert set(report["rates"][name]) == set(fields), name
        assert all(positive(report["rates"][name][f]) for f in fields), name
    hmacs = report["recipe"]["hmacs_per_record"]
    for side in ("campaign", "provider"):
        # Counted on the shipped recipe: at least one match key per record, and
        # the total is the sum of the families.
        assert hmacs[side]["match_keys"] >= 1
        families = ("match_keys", "blocking_keys", "clk_grams")
        assert math.isclose(hmacs[side]["total"], sum(hmacs[side][f] for f in families))
        assert positive(report["recipe"]["payload_bytes_per_record"][side])
    assert set(report["floors"]) == set(STEPS)
    for step in STEPS:
        assert positive(report["floors"][step]["seconds"]), step
    parts = [report["floors"][s]["seconds"] for s in STEPS[:-1]]
    assert math.isclose(report["floors"]["exchange"]["seconds"], sum(parts))
    for step in STEPS[:-1]:
        components = report["floors"][step]["components"]
        assert all(positive(v) for v in components.values()), step
        assert math.isclose(report["floors"][step]["seconds"], sum(components.values()))
    assert report["assumptions"] and all(isinstance(a, str) for a in report["assumptions"])
