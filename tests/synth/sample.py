"""The sample world the synth tests read, and its pandas views.

One world of 3000 voters over two days, built once per session (see
``conftest.py``): the realism and corruption-rate tests are statistical and
need a few thousand rows, and building it for every module would double the
suite's time.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from linkage.synth import World, generate_world

START = date(2026, 10, 5)  # a Monday
DAYS = 2


def sample_world() -> World:
    """The shared sample world (seed 7)."""
    return generate_world(voters=3000, days=DAYS, seed=7, start=START)


def sample_frames(world: World) -> dict[str, pd.DataFrame]:
    """The world's tables as DataFrames; ``members`` is truth joined to voters."""
    voters = world.voters.to_pandas()
    truth = world.voter_household.to_pandas()
    members = truth.merge(voters, on="voter_id")
    viewing = world.viewing.to_pandas()
    viewing["seconds"] = (viewing["end"] - viewing["start"]).dt.total_seconds()
    return {
        "voters": voters,
        "subscribers": world.subscribers.to_pandas(),
        "truth": truth,
        "members": members,
        "viewing": viewing,
    }


def canon(text: object) -> str:
    """Case- and whitespace-insensitive form, for comparing the two files' spellings."""
    return " ".join(str(text).casefold().split())
