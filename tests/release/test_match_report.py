"""Tests for linkage.release.match_report: capped sums, Gaussian noise, one report per exchange."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pytest
from opendp.domains import atom_domain, vector_domain
from opendp.measurements import make_gaussian
from opendp.metrics import l2_distance
from opendp.mod import enable_features

from linkage.errors import PrivacyError, StateError
from linkage.release import (
    MATCHER_REPORT_RHO,
    MAX_RECORDS_PER_HOUSEHOLD,
    IssuedReport,
    epsilon_of,
    linkage_totals,
    match_report,
)
from linkage.release.match_report import report_scale
from linkage.tables import MATCH_REPORT_SCHEMA

CAP = MAX_RECORDS_PER_HOUSEHOLD


def links(households: int, *, copies: int = 0, posterior: float = 0.9) -> pa.Table:
    """One record per household h0..h{n-1}, plus ``copies`` records of a target linked to ``hx``."""
    rids = [f"r{i}" for i in range(households)] + [f"x{i}" for i in range(copies)]
    hps = [f"h{i}" for i in range(households)] + ["hx"] * copies
    return pa.table(
        {"rid": rids, "hp": hps, "posterior": pa.array([posterior] * len(rids), pa.float64())}
    )


def no_noise(values: Sequence[float], scale: float) -> list[float]:
    return list(values)


def test_a_household_counts_at_most_the_cap_and_its_most_probable_links() -> None:
    table = pa.table(
        {
            "rid": [f"r{i}" for i in range(12)] + ["s0"],
            "hp": ["h1"] * 12 + ["h2"],
            "posterior": [0.1 * (i % 10) + 0.05 for i in range(12)] + [0.5],
        }
    )
    totals = linkage_totals(table, cap=CAP)
    assert (totals.households, totals.records) == (2, CAP + 1)
    kept = sorted(table["posterior"].to_pylist()[:12], reverse=True)[:CAP]
    assert totals.posterior == pytest.approx(sum(kept) + 0.5)
    assert totals.missed is None


def test_unlinked_mass_is_capped_per_candidate_household() -> None:
    linked = links(3)
    evidence = pa.table(
        {
            "rid": ["r0", "r1", "r2", *(f"u{i}" for i in range(20)), "v"],
            "expected": [0.9, 0.9, 0.9, *([0.4] * 20), 0.3],
            "hp": ["h0", "h1", "h2", *(["hz"] * 20), None],
        }
    )
    totals = linkage_totals(linked, evidence=evidence)
    # Linked records are not missed; 20 near-misses on one household count as the cap;
    # a record with no candidate household cannot be bounded and is left out.
    assert totals.missed == pytest.approx(0.4 * CAP)


def test_report_without_noise_is_the_totals_and_states_its_cost() -> None:
    table = links(40, posterior=0.75)
    evidence = pa.table({"rid": ["m0", "m1"], "expected": [0.5, 0.5], "hp": ["h0", "h1"]})
    report = match_report(table, evidence=evidence, noise=no_noise)
    assert report.schema == MATCH_REPORT_SCHEMA
    row = report.to_pylist()[0]
    assert (row["linked_households"], row["linked_records"], row["records_cap"]) == (40, 40, CAP)
    assert row["est_precision"] == pytest.approx(0.75)
    assert row["est_recall"] == pytest.approx(30.0 / 31.0)
    scale = report_scale(4, MATCHER_REPORT_RHO)
    assert row["households_ci"] == pytest.approx(1.96 * scale, rel=1e-3)
    assert row["records_ci"] == pytest.approx(1.96 * scale * CAP, rel=1e-3)
    assert row["rho"] == MATCHER_REPORT_RHO


def test_recall_is_null_without_candidate_households() -> None:
    evidence = pa.table({"rid": ["m0"], "expected": [0.5]})
    row = match_report(links(10), evidence=evidence, noise=no_noise).to_pylist()[0]
    assert row["est_recall"] is None
    assert row["est_precision"] == pytest.approx(0.9)


@pytest.mark.parametrize("measured", [3, 4])
def test_the_scale_buys_exactly_rho_in_opendp(measured: int) -> None:
    enable_features("contrib")
    scale = report_scale(measured, MATCHER_REPORT_RHO)
    mechanism = make_gaussian(
        vector_domain(atom_domain(T=float, nan=False)), l2_distance(T=float), scale=scale
    )
    privacy_map: Callable[[float], float] = mechanism.map
    # One household moves each of the normalised sums by at most 1.
    assert privacy_map(math.sqrt(measured)) == pytest.approx(MATCHER_REPORT_RHO)


def test_copies_of_a_target_are_no_membership_oracle() -> None:
    # Issue 11's attack: pad the file with 100 copies of a target; a subscriber's copies
    # all link. The capped counts move by at most the cap, inside the noise.
    with_target, without = links(500, copies=100), links(500)
    a, b = linkage_totals(with_target), linkage_totals(without)
    assert a.households - b.households == 1
    assert a.records - b.records == CAP
    rng = np.random.default_rng(7)

    def seeded(values: Sequence[float], scale: float) -> list[float]:
        return [v + rng.normal(0.0, scale) for v in values]

    trials = 400
    threshold = 500 + CAP / 2
    right = 0
    for i in range(trials):
        subscribes = i % 2 == 0
        table = with_target if subscribes else without
        guess = match_report(table, noise=seeded).to_pylist()[0]["linked_records"] > threshold
        right += guess == subscribes
    epsilon = epsilon_of(MATCHER_REPORT_RHO)
    bound = math.exp(epsilon) / (1 + math.exp(epsilon)) + 1e-7
    assert right / trials <= bound


def test_default_noise_is_fresh_on_every_draw() -> None:
    # Why the matcher issues one report per exchange and re-sends it.
    table = links(200)
    first, second = match_report(table), match_report(table)
    assert first.to_pylist() != second.to_pylist()
    assert all(r["linked_households"] >= 0 for r in (*first.to_pylist(), *second.to_pylist()))


def test_issued_report_round_trips_and_is_reused_only_for_its_inputs() -> None:
    report = match_report(links(200))
    issued = IssuedReport(("campaign-msg", "provider-msg"), report)
    again = IssuedReport.from_json(issued.to_json())
    assert again.table.equals(report)
    assert again.reuse_for(["campaign-msg", "provider-msg"]).equals(report)
    with pytest.raises(PrivacyError, match="already issued"):
        again.reuse_for(["newer-campaign-msg", "provider-msg"])
    with pytest.raises(StateError, match="malformed"):
        IssuedReport.from_json('{"inputs": ["a"]}', file="match-report.json")


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(PrivacyError, match="rho"):
        match_report(links(5), rho=0.0)
    with pytest.raises(PrivacyError, match="cap"):
        linkage_totals(links(5), cap=0)


def test_pair_completeness_travels_and_only_noisy_fit_codes_cross() -> None:
    table = links(20).append_column(
        "seed_blocked", pa.array([True] * 15 + [False] * 3 + [None] * 2, pa.bool_())
    )
    row = match_report(table, noise=no_noise).to_pylist()[0]
    assert row["est_pair_completeness"] == pytest.approx(15 / 18)
    # Exact fit codes never cross (a crafted file turns them into a membership
    # oracle); `blocking` is decided on the noisy completeness.
    assert row["fit_warnings"] == ["blocking"]
    complete = links(20).append_column("seed_blocked", pa.array([True] * 20, pa.bool_()))
    assert match_report(complete, noise=no_noise).to_pylist()[0]["fit_warnings"] == []
    assert match_report(links(5), noise=no_noise).to_pylist()[0]["est_pair_completeness"] is None


def test_what_blocking_lost_lowers_the_reported_recall() -> None:
    evidence = pa.table(
        {
            "rid": [f"r{i}" for i in range(10)],
            "expected": [1.0] * 10,
            "hp": [f"h{i}" for i in range(10)],
            "lost": [0.25] * 10,
        }
    )
    row = match_report(links(10, posterior=1.0), evidence=evidence, noise=no_noise).to_pylist()[0]
    assert row["est_recall"] == pytest.approx(10 / 12.5)
