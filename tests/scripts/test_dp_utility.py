"""scripts/dp_utility.py: the cap's bias is measured apart from the noise."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from linkage.release import ContributionCaps
from linkage.tables import ALL_HOUSEHOLDS
from parties.world import make_world

_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "dp_utility.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dp_utility", _SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["dp_utility"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("dpu") / "world"
    make_world(target, voters=1500, days=1, seed=5)
    return target


def _daypart_bias(result: dict[str, Any], market: str | None) -> float:
    bias = result["cap_bias"]
    segments = bias["segments"] if market is None else bias["markets"][market]["segments"]
    return float(segments[ALL_HOUSEHOLDS]["daypart"]["median_abs_error"])


def test_no_noise_and_no_binding_cap_is_the_truth_and_a_tight_cap_is_not(world: Path) -> None:
    dpu = _load()
    # Every household, so that the largest market's cells hold one AQH household or more.
    loose = dpu.measure_world(world, [1.0], (ALL_HOUSEHOLDS,), 1, 1, ContributionCaps(288))
    tight = dpu.measure_world(world, [1.0], (ALL_HOUSEHOLDS,), 1, 1, ContributionCaps(4))
    largest = next(iter(loose["cap_bias"]["markets"]))
    assert _daypart_bias(loose, None) == 0.0
    assert _daypart_bias(loose, largest) == 0.0
    assert _daypart_bias(tight, None) > 0.0
    assert _daypart_bias(tight, largest) > 0.0
    # The noisy release is reported beside it, with its intervals' coverage.
    noisy = loose["budgets"][0]["segments"][ALL_HOUSEHOLDS]["daypart"]
    assert noisy["median_abs_error"] > 0.0
    assert 0.0 <= noisy["ci95_coverage"] <= 1.0
