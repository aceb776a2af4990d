"""Issue 11's attacks as tests: they succeed on an exact release and fail under DP's bound.

A dishonest campaign (``linkage.audit.dp_attacks``) attacks the library's
release on a small seeded world, over at least 20 seeded targets per attack,
on a balanced prior:

* the complement attack (``zip < X`` and ``zip >= X or T``, plus ``*``):
  does the target subscribe, did it watch a channel;
* the refusal oracle (``base``, ``base + T``, ``{T}``): does it subscribe.

On the exact path each must be (nearly) always right: that proves the attack
works. At the default rho each must stay under ``e^eps / (1 + e^eps) + delta``
for the rho it spent, and nothing may be refused. The practical accuracy
(near one half) is printed with ``-s``.

Why the world is built here: the attacks need the truth (who subscribes,
what each household watched) and dozens of releases, library-level, on a
world small enough that a release takes a fraction of a second. Targets
share releases (10 per release, each with its own split): at the default
weekly budget a campaign gets one release a week, so packing its targets
into few releases is what a real attacker would do.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from linkage.audit import (
    AttackScore,
    Release,
    complement_attack,
    refusal_oracle_attack,
    watched_channels,
)
from linkage.engine import DuckDBEngine
from linkage.release import DEFAULT_RELEASE_RHO, CellGrid, release_grid, release_viewership
from linkage.synth import generate_world

pytestmark = pytest.mark.security

VOTERS = 1500
SEED = 5
CHANNELS = 3  # the public list: the most watched channels (fewer cells, faster releases)
K = 5
MIN_UNIVERSE = 20
TARGETS = 20
PER_RELEASE = 10


@dataclass(frozen=True, repr=False)
class Scene:
    """The world as attacker and auditor see it (no repr: a failure need not list the world)."""

    voters: pa.Table
    viewing: pa.Table
    links: dict[str, str]
    grid: CellGrid
    engine: DuckDBEngine
    subscribers: list[str]
    others: list[str]
    watched: dict[str, set[str]]

    def release(self, *, exact: bool) -> Release:
        def run(assignments: pa.Table, codes: Sequence[str]) -> pa.Table:
            # ``codes`` is every segment the campaign asked for: each is released
            # whether or not a household matched it (no segment-presence oracle).
            if exact:
                return release_viewership(
                    assignments, self.viewing, self.grid, engine=self.engine,
                    k=K, min_universe=MIN_UNIVERSE, exact=True,
                )  # fmt: skip
            return release_viewership(
                assignments, self.viewing, self.grid, engine=self.engine,
                k=K, min_universe=MIN_UNIVERSE, rho=DEFAULT_RELEASE_RHO, segments=codes,
            )  # fmt: skip

        return run


@pytest.fixture(scope="module")
def scene() -> Iterator[Scene]:
    world = generate_world(voters=VOTERS, days=1, seed=SEED)
    vh = world.voter_household
    links = dict(zip(vh["voter_id"].to_pylist(), vh["household_id"].to_pylist(), strict=True))
    counts = world.viewing.group_by("channel").aggregate([("household_id", "count_distinct")])
    top = counts.sort_by([("household_id_count_distinct", "descending"), ("channel", "ascending")])
    channels = top["channel"].to_pylist()[:CHANNELS]
    rng = random.Random(SEED)
    with DuckDBEngine(memory_limit="512MB", threads=2) as engine:
        grid = release_grid(world.viewing, channels=channels, engine=engine)
        linked = sorted(links)
        truth = watched_channels(links, linked, world.viewing, channels, engine=engine)
        # A balanced watch question needs a household that watched some listed channel, not all.
        eligible = [v for v in linked if 0 < len(truth[v]) < len(channels)]
        unmatched = sorted(set(world.voters["voter_id"].to_pylist()) - set(links))
        yield Scene(
            voters=world.voters,
            viewing=world.viewing,
            links=links,
            grid=grid,
            engine=engine,
            subscribers=rng.sample(eligible, TARGETS),
            others=rng.sample(unmatched, TARGETS // 2),
            watched=truth,
        )


def complement(scene: Scene, *, exact: bool) -> tuple[AttackScore, AttackScore]:
    return complement_attack(
        scene.voters,
        scene.links,
        scene.release(exact=exact),
        subscribers=scene.subscribers,
        others=scene.others,
        watched=scene.watched,
        channels=scene.grid.channels,
        rho=None if exact else DEFAULT_RELEASE_RHO,
        targets_per_release=PER_RELEASE,
        spacing=40,
        seed=SEED,
    )


def refusal(scene: Scene, *, exact: bool) -> AttackScore:
    half = TARGETS // 2
    return refusal_oracle_attack(
        scene.voters,
        scene.links,
        scene.release(exact=exact),
        targets=[*scene.subscribers[:half], *scene.others[:half]],
        rho=None if exact else DEFAULT_RELEASE_RHO,
        # A refusal stops a whole release: one target each. Under DP nothing is refused.
        targets_per_release=1 if exact else PER_RELEASE,
        seed=SEED,
    )


def under_the_bound(score: AttackScore) -> None:
    print(score.describe())
    assert score.bound is not None
    assert score.accuracy <= score.bound, score.describe()


def test_complement_attack_works_on_an_exact_release(scene: Scene) -> None:
    member, watch = complement(scene, exact=True)
    print(member.describe(), watch.describe(), sep="\n")
    assert member.targets >= TARGETS and watch.targets >= TARGETS
    assert member.accuracy >= 0.95, member.describe()
    assert watch.accuracy >= 0.9, watch.describe()
    assert member.bound is None


def test_complement_attack_fails_under_dp(scene: Scene) -> None:
    member, watch = complement(scene, exact=False)
    under_the_bound(member)
    under_the_bound(watch)
    # The noise defeated it, not suppression: most guesses read released figures.
    assert (member.decided_by or {}).get("figures", 0) >= member.targets // 2


def test_refusals_answer_membership_on_an_exact_release(scene: Scene) -> None:
    score = refusal(scene, exact=True)
    print(score.describe())
    assert score.targets >= TARGETS
    assert score.accuracy == 1.0, score.describe()
    assert (score.decided_by or {}).get("refusal", 0) >= TARGETS // 2


def test_nothing_is_refused_under_dp_and_the_oracle_fails(scene: Scene) -> None:
    score = refusal(scene, exact=False)
    assert "refusal" not in (score.decided_by or {}), score.describe()
    under_the_bound(score)


def test_thin_and_close_segments_are_never_refused_under_dp(scene: Scene) -> None:
    # One household, two households, and two segments one household apart, all in one release.
    households = sorted(set(scene.links.values()))
    assigned = pa.table(
        {
            "household_id": [*households[:1], *households[:2], *households[:60], *households[:61]],
            "segment": ["one"] + ["two"] * 2 + ["close"] * 60 + ["closer"] * 61,
        }
    )
    payload = release_viewership(
        assigned, scene.viewing, scene.grid, engine=scene.engine, rho=DEFAULT_RELEASE_RHO
    )
    released = set(pc.unique(payload["segment"]).to_pylist())
    assert {"one", "two", "close", "closer", "*"} <= released
    # Under the default minimum universe the thin ones come back with every cell blanked.
    thin = payload.filter(pc.is_in(payload["segment"], pa.array(["one", "two"])))
    assert all(thin["suppressed"].to_pylist())
