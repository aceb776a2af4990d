"""Tests for scripts/state_scale.py: the whole exchange, measured, at a tiny size."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import WORLD_DAYS, WORLD_SEED, WORLD_VOTERS

ROOT = Path(__file__).resolve().parents[2]
# A script, not a package module: load it from its file.
_SPEC = importlib.util.spec_from_file_location("state_scale", ROOT / "scripts/state_scale.py")
assert _SPEC is not None and _SPEC.loader is not None
state_scale = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(state_scale)


def test_tree_rss_counts_children() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; b = bytearray(64 * 2**20); time.sleep(30)"]
    )
    try:
        time.sleep(1.5)
        own = state_scale.tree_rss(os.getpid())
        assert own >= state_scale.tree_rss(child.pid) >= 64 * 2**20
    finally:
        child.kill()
        child.wait()


def run_state_scale(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run ``scripts/state_scale.py`` on the session world's size and seed, plus ``args``.

    The smallest seeded world whose segments all clear the default minimum
    universe: this checks the harness, not the speed.
    """
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts/state_scale.py"),
            "--voters",
            str(WORLD_VOTERS),
            "--days",
            str(WORLD_DAYS),
            "--seed",
            str(WORLD_SEED),
            *map(str, args),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )


def test_without_a_world_the_first_step_builds_one(tmp_path: Path) -> None:
    steps = state_scale.demo_steps(tmp_path, voters=WORLD_VOTERS, days=WORLD_DAYS, seed=WORLD_SEED)
    assert steps[0].label == "synth"
    assert [s.label for s in steps[1:]].count("synth") == 0


@pytest.mark.slow
@pytest.mark.heavy  # the whole exchange again: in `make heavy` (CI)
def test_state_scale_runs_the_whole_exchange(tmp_path: Path, world_dir: Path) -> None:
    # The session's world (same size and seed) stands in for the synth step,
    # which the test above shows a run without --world starts with.
    before = sorted(p.relative_to(world_dir) for p in world_dir.rglob("*"))
    proc = run_state_scale("--world", world_dir, "--out", tmp_path / "run")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    labels = [s["step"] for s in result["steps"]]
    assert "synth" not in labels
    assert labels[0] == "campaign init"
    assert "matcher link" in labels and "campaign report" in labels
    assert result["voters"] == WORLD_VOTERS
    assert 0 < result["subscriber_households"] < WORLD_VOTERS
    assert result["viewing_events"] > result["subscriber_households"]
    for step in result["steps"]:
        assert step["seconds"] > 0
        assert step["tree_rss_mib"] >= step["max_rss_mib"] > 10
    assert result["peak_rss_mib"] == max(s["tree_rss_mib"] for s in result["steps"])
    assert result["total_seconds"] >= sum(s["seconds"] for s in result["steps"]) * 0.99
    assert (tmp_path / "run/report/viewership.csv").exists()
    # The given world is used in place, never copied, changed or deleted.
    assert (tmp_path / "run/world").resolve() == world_dir.resolve()
    assert sorted(p.relative_to(world_dir) for p in world_dir.rglob("*")) == before
