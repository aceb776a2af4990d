"""Session fixtures: the sample world of :mod:`tests.synth.sample`, built once."""

from __future__ import annotations

import pandas as pd
import pytest

from linkage.synth import World
from tests.synth.sample import sample_frames, sample_world


@pytest.fixture(scope="session")
def world() -> World:
    return sample_world()


@pytest.fixture(scope="session")
def frames(world: World) -> dict[str, pd.DataFrame]:
    return sample_frames(world)
