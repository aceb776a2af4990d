"""The privacy-promise checks: exact releases fail, spend is stated, combinations are searched.

The clean exchange is the session's (``tests/conftest.py``), released under
DP by default; the exact case marks its ledger entries exact in a private
copy (the check believes the ledger or the payload, whichever says exact).
What an exact payload looks like is shown on a small in-memory release.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow as pa
import pytest

from linkage.audit import (
    audit_combinations,
    audit_exact_releases,
    audit_privacy_spent,
    isolating_regions,
    load_exchange,
    release_is_exact,
    released_household_sets,
)
from linkage.engine import DuckDBEngine
from linkage.io import PartyHome
from linkage.release import ENTRIES_FILE, release_grid, release_viewership
from linkage.synth import generate_world, true_assignments
from tests.conftest import ROLES, Exchange, K

pytestmark = pytest.mark.security


def homes_of(root: Exchange) -> dict[str, PartyHome]:
    return {role: PartyHome(root.home(role)) for role in ROLES}


@pytest.fixture(scope="module")
def payloads() -> Iterator[tuple[pa.Table, pa.Table]]:
    """The same small release, exact and under DP (two channels: fast)."""
    world = generate_world(voters=600, days=1, seed=3)
    assigned = true_assignments(world)
    with DuckDBEngine(memory_limit="512MB", threads=2) as engine:
        grid = release_grid(world.viewing, channels=["ABC", "CBS"], engine=engine)
        exact = release_viewership(
            assigned, world.viewing, grid, engine=engine, k=1, min_universe=1, exact=True
        )
        noisy = release_viewership(assigned, world.viewing, grid, engine=engine, k=1, rho=0.25)
        yield exact, noisy


def test_exactness_is_read_from_the_payload_and_the_ledger(
    payloads: tuple[pa.Table, pa.Table],
) -> None:
    exact, noisy = payloads
    assert release_is_exact(exact, {})
    assert not release_is_exact(noisy, {})
    # The ledger's word that no rho was spent is enough, whatever the payload shows.
    assert release_is_exact(noisy, {"rho": None})
    assert not release_is_exact(noisy, {"rho": 0.25})


def test_clean_exchange_is_dp_states_its_spend_and_searches(exchange: Exchange) -> None:
    ex = load_exchange(homes_of(exchange))
    exact = audit_exact_releases(ex, exchange.world)
    assert exact.status == "PASS", exact.detail
    spent = audit_privacy_spent(ex, exchange.world)
    assert spent.status == "PASS", spent.detail
    assert "rho" in spent.detail and "epsilon" in spent.detail
    combos = audit_combinations(ex, exchange.world)
    assert combos.status == "PASS", combos.detail
    assert "informational under DP" in combos.detail
    # The search ran on the rebuilt sets, and its figure is the one reported.
    sets, rebuilt, missing = released_household_sets(ex, exchange.world)
    assert rebuilt == [exchange.exchange_id] and not missing
    assert isolating_regions(sets, K).describe() in combos.detail


def test_an_exact_release_fails(exchange_copy: Exchange) -> None:
    ledger = PartyHome(exchange_copy.home("provider")).ledger / ENTRIES_FILE
    entries = [json.loads(line) for line in ledger.read_text().splitlines() if line.strip()]
    ledger.write_text("".join(json.dumps({**e, "rho": None}) + "\n" for e in entries))
    ex = load_exchange(homes_of(exchange_copy))
    exact = audit_exact_releases(ex, exchange_copy.world)
    assert exact.status == "FAIL"
    assert "exact release: no differential privacy" in exact.detail
    combos = audit_combinations(ex, exchange_copy.world)
    sets, _, _ = released_household_sets(ex, exchange_copy.world)
    isolating = isolating_regions(sets, K).isolating
    assert combos.passed == (not isolating)
    assert combos.detail.startswith("exact release")
    spent = audit_privacy_spent(ex, exchange_copy.world)
    assert "exact" in spent.detail


def test_no_release_is_skipped_never_passed(exchange_copy: Exchange) -> None:
    for role in ROLES:
        for message in exchange_copy.home(role).glob("inbox/*.viewership.nwl"):
            message.unlink()
    ledger = PartyHome(exchange_copy.home("provider")).ledger / ENTRIES_FILE
    ledger.unlink()
    ex = load_exchange(homes_of(exchange_copy))
    for check in (audit_exact_releases, audit_privacy_spent, audit_combinations):
        result = check(ex, exchange_copy.world)
        assert result.status == "SKIP", result.detail
        assert result.passed and result.skipped


def test_a_match_report_no_release_charged_fails(exchange_copy: Exchange) -> None:
    # A second exchange the matcher reported on and the provider never released:
    # its report's rho is in no ledger, so the campaign had fresh noise for free.
    matcher = PartyHome(exchange_copy.home("matcher"))
    issued = next((matcher.root / "state").glob("*/match-report.json"))
    other = matcher.issued_report_path("never-released")
    other.parent.mkdir(parents=True)
    other.write_text(issued.read_text())
    result = audit_privacy_spent(load_exchange(homes_of(exchange_copy)), exchange_copy.world)
    assert not result.passed
    assert "never-released" in result.detail
