"""Tests for linkage.release.match_report: noise and suppression of the match rates."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pytest

from linkage.engine import DuckDBEngine
from linkage.errors import PrivacyError
from linkage.match import link_exact
from linkage.release import match_report
from linkage.tables import MATCH_REPORT_SCHEMA
from tests.match.tokens import ADDRESS_ONLY, campaign_table, provider_table


@functools.cache
def _probe_links(with_x: bool) -> tuple[DuckDBEngine, pa.Table, pa.Table]:
    """Segment A, and B = A + one person X who does or does not subscribe, linked once.

    Linking is deterministic, so the many noisy reports of one probe share it.
    """
    engine = DuckDBEngine()
    rows: list[dict[str, object]] = [
        {"rid": f"r{i}", "addr": f"A{i}", "segments": ["a", "b"]} for i in range(200)
    ]
    rows.append({"rid": "rx", "addr": "X", "segments": ["b"]})
    camp = campaign_table(rows, ADDRESS_ONLY)
    prov_rows: list[dict[str, object]] = [{"hp": f"h{i}", "addr": f"A{i}"} for i in range(120)]
    if with_x:
        prov_rows.append({"hp": "hx", "addr": "X"})
    prov = provider_table(prov_rows, ADDRESS_ONLY)
    return engine, camp, link_exact(camp, prov, engine=engine).links


def _membership_probe(with_x: bool, epsilon: float | None, seed: int) -> int | None:
    """matched(B) - matched(A) in one (noisy) match report."""
    engine, camp, links = _probe_links(with_x)
    rng = np.random.default_rng(seed)

    def noise(counts: Sequence[int], scale: float) -> list[int]:
        return [int(c + rng.laplace(0, scale)) for c in counts]

    report = {
        r["segment"]: r
        for r in match_report(
            camp, links, engine=engine, k=5, epsilon=epsilon, noise=noise
        ).to_pylist()
    }
    a, b = report["a"]["matched_voters"], report["b"]["matched_voters"]
    return None if a is None or b is None else int(b - a)


def test_exact_match_report_answers_a_membership_query() -> None:
    # Why the CLI adds noise by default: exact counts reveal one person.
    assert _membership_probe(True, None, 0) == 1
    assert _membership_probe(False, None, 0) == 0


def test_noisy_match_report_hides_one_person() -> None:
    with_x = [_membership_probe(True, 1.0, s) for s in range(200)]
    without = [_membership_probe(False, 1.0, s) for s in range(200)]
    # The difference is dominated by noise of scale 2*(2+1)/1 = 6, not by X.
    assert abs(float(np.mean([d for d in with_x if d is not None])) - 1) < 2.5
    assert float(np.std([d for d in without if d is not None])) > 4


def test_all_matched_segment_is_suppressed() -> None:
    engine = DuckDBEngine()
    rows: list[dict[str, object]] = [
        {"rid": f"r{i}", "addr": f"A{i}", "segments": ["a"] if i < 10 else []} for i in range(40)
    ]
    prov: list[dict[str, object]] = [{"hp": f"h{i}", "addr": f"A{i}"} for i in range(30)]
    result = link_exact(
        campaign_table(rows, ADDRESS_ONLY), provider_table(prov, ADDRESS_ONLY), engine=engine
    )
    report = {
        r["segment"]: r
        for r in match_report(
            campaign_table(rows, ADDRESS_ONLY), result.links, engine=engine, k=5, epsilon=None
        ).to_pylist()
    }
    assert report["a"]["suppressed"]  # 10 voters, 10 matched: 0 unmatched < k
    assert not report["*"]["suppressed"]


def test_exact_report_counts_and_suppresses_below_k() -> None:
    engine = DuckDBEngine()
    rows: list[dict[str, object]] = [
        {"rid": f"r{i}", "addr": f"A{i}", "segments": ["a"] if i < 20 else ["b"]} for i in range(40)
    ]
    prov: list[dict[str, object]] = [{"hp": f"h{i}", "addr": f"A{i}"} for i in range(10, 30)]
    camp = campaign_table(rows, ADDRESS_ONLY)
    links = link_exact(camp, provider_table(prov, ADDRESS_ONLY), engine=engine).links
    report = match_report(camp, links, engine=engine, k=5, epsilon=None)
    assert report.schema == MATCH_REPORT_SCHEMA
    rows_by = {r["segment"]: r for r in report.to_pylist()}
    assert rows_by["*"]["voters"] == 40 and rows_by["*"]["matched_voters"] == 20
    assert rows_by["a"]["match_rate"] == pytest.approx(0.5)
    # Exact counts carry the model's estimates for every segment.
    assert rows_by["a"]["est_precision"] == pytest.approx(1.0)
    thin = {
        r["segment"]: r
        for r in match_report(camp, links, engine=engine, k=11, epsilon=None).to_pylist()
    }
    assert thin["a"]["suppressed"] and thin["a"]["households"] is None
    assert thin["a"]["voters"] == 20  # the segment's size is the campaign's own
    with pytest.raises(PrivacyError, match="positive"):
        match_report(camp, links, engine=engine, k=5, epsilon=0.0)
