"""The combination search against a slow, obviously-correct reference, and the attack it names.

The reference enumerates every region by set operations on Python sets; the
fast search (patterns, matrix products, inclusion-exclusion) must find the
same regions with the same sizes on random overlapping segments.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping

import pytest

from linkage.audit import MAX_SEARCHED_SEGMENTS, isolating_regions

pytestmark = pytest.mark.security


Found = dict[tuple[tuple[str, ...], tuple[str, ...]], int]
"""(inside codes, outside codes) -> households in that region."""


def reference(members: Mapping[str, set[int]], k: int) -> Found:
    universe = set().union(*members.values())
    codes = sorted(c for c, s in members.items() if s != universe)
    found: Found = {}
    for m in range(1, min(3, len(codes)) + 1):
        for combo in itertools.combinations(codes, m):
            for r in range(m + 1):
                for inside in itertools.combinations(combo, r):
                    outside = tuple(c for c in combo if c not in inside)
                    region = set(universe)
                    for c in inside:
                        region &= members[c]
                    for c in outside:
                        region -= members[c]
                    if 0 < len(region) < k:
                        found[(inside, outside)] = len(region)
    return found


def random_segments(seed: int, n_segments: int, households: int) -> dict[str, set[int]]:
    rng = random.Random(seed)
    segments = {
        f"s{i:02d}": {h for h in range(households) if rng.random() < rng.uniform(0.05, 0.6)}
        for i in range(n_segments)
    }
    segments["*"] = set(range(households))
    return segments


@pytest.mark.parametrize("seed", range(6))
def test_search_matches_the_reference(seed: int) -> None:
    members = random_segments(seed, n_segments=3 + seed, households=60 + 20 * seed)
    k = 4 + seed
    got = isolating_regions(members, k)
    want = reference(members, k)
    assert {(r.inside, r.outside): r.households for r in got.isolating} == want
    assert got.households == len(members["*"])
    assert got.segments == len(members) - 1  # "*" is the universe: no region of its own


def test_complement_attack_is_found_and_is_linear() -> None:
    # zip < X and zip >= X or the target: A ∪ B = *, A ∩ B = {target's household}.
    households = range(500)
    target = 123
    a = {h for h in households if h < 250}
    b = {h for h in households if h >= 250} | {target}
    search = isolating_regions({"A": a, "B": b, "*": set(households)}, k=50)
    first = search.isolating[0]
    assert (first.inside, first.outside) == (("A", "B"), ())
    assert (first.households, first.linear) == (1, True)
    assert first.formula == "A ∩ B"
    assert "A ∩ B = 1" in search.describe()


def test_a_triple_intersection_is_found_but_is_not_plain_addition() -> None:
    # Three large segments meeting in 2 households: A ∩ B ∩ C needs more than sums of A, B, C, *.
    rng = random.Random(3)
    households = list(range(3000))
    segments = {name: set(rng.sample(households, 1200)) for name in "ABC"}
    common = segments["A"] & segments["B"] & segments["C"]
    for h in list(common)[2:]:
        segments["C"].discard(h)
    segments["*"] = set(households)
    search = isolating_regions(segments, k=10)
    triple = [r for r in search.isolating if r.inside == ("A", "B", "C")]
    assert [(r.households, r.linear) for r in triple] == [(2, False)]


def test_safe_segments_find_nothing() -> None:
    households = set(range(1000))
    halves = {"A": set(range(500)), "B": set(range(250, 750)), "*": households}
    search = isolating_regions(halves, k=50)
    assert search.isolating == ()
    assert search.examined == 4 + 4  # A, * ∖ A, B, * ∖ B; then the four regions of the pair


def test_limits() -> None:
    with pytest.raises(ValueError, match="k"):
        isolating_regions({"A": {1}}, 0)
    too_many = {f"s{i}": {i} for i in range(MAX_SEARCHED_SEGMENTS + 2)}
    with pytest.raises(ValueError, match="at most"):
        isolating_regions(too_many, 5)
    assert isolating_regions({}, 5).isolating == ()
