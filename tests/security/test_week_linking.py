"""Tests for linkage.audit.week_linking: the matcher cannot link two weeks' records.

Two weeks of a campaign's token payload are built in memory the way
``campaign tokenize`` builds them (real rows, fresh dummies, fresh random
references, a shuffle), under fresh keys and, as the broken control, under
the same key twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from linkage.audit import (
    CHECKS,
    Exchange,
    WeekLink,
    WeekTokens,
    audit_week_linking,
    link_weeks,
)
from linkage.encode import dummy_rows, encode_side, shipped_schema
from linkage.io import PartyHome
from linkage.protocol import Manifest, OpenedMessage, PartyCard

VOTERS = 1_200

FIRST = ["Bill", "William", "Mary", "Jose", "Ana", "Li", "Robert", "Bob", "Keisha", None]
LAST = ["O'Brien", "Smith", "Lee", "Garcia", "Nguyen", "Walker", "Brown", "Patel"]
STREETS = ["Main St", "Elm St", "Oak Ave", "W 5th St", "High St", "Maple Dr", "Park Pl"]


class FixedKeys:
    def __init__(self, seed: bytes) -> None:
        self.seed = seed

    def subkey(self, purpose: str) -> bytes:
        return hashlib.sha256(self.seed + purpose.encode()).digest()


def voters(n: int, seed: int = 11) -> pa.Table:
    rng = np.random.default_rng(seed)

    def pick(values: Sequence[str | None]) -> list[str | None]:
        return [values[i] for i in rng.integers(0, len(values), n)]

    return pa.table(
        {
            "voter_id": [f"OH{i:09d}" for i in range(n)],
            "first_name": pick(FIRST),
            "last_name": pick(LAST),
            "address": [
                f"{num} {street}"
                for num, street in zip(rng.integers(1, 400, n), pick(STREETS), strict=True)
            ],
            "city": pick(["Columbus", "Dayton", "Akron"]),
            "state": ["OH"] * n,
            "zip": [f"43{z:03d}" for z in rng.integers(0, 60, n)],
            "phone": [None if p % 2 else f"(614) 555-{p:04d}" for p in rng.integers(0, 9999, n)],
            "email": [None] * n,
        }
    )


def week(table: pa.Table, exchange: str, key: FixedKeys, seed: int) -> WeekTokens:
    """One week's campaign-tokens payload and its truth, as tokenize would build it."""
    schema = shipped_schema()
    rng = np.random.default_rng(seed)
    rids = [f"{x:032x}" for x in rng.integers(0, 2**62, table.num_rows)]
    real = encode_side(table, schema, "a", key).add_column(0, "rid", pa.array(rids))
    dummies = dummy_rows(table, pa.table({"rid": rids}), schema, "a", key, rng=rng)
    payload = pa.concat_tables([real, dummies.payload.select(real.column_names)])
    truth = table["voter_id"].to_pylist() + [None] * dummies.payload.num_rows
    order = rng.permutation(payload.num_rows)
    return WeekTokens(
        exchange_id=exchange,
        kind="campaign-tokens",
        message_id=f"m-{exchange}",
        tokens=payload.take(pa.array(order)),
        truth=tuple(truth[i] for i in order),
    )


@pytest.fixture(scope="module")
def refreshed() -> pa.Table:
    """Week 2's voter file: 2% of voters moved, the last 1% gone."""
    table = voters(VOTERS)
    address = table["address"].to_pylist()
    for i in range(0, VOTERS, 50):
        address[i] = f"{900 + i} Moved Rd"
    return table.set_column(3, "address", pa.array(address)).slice(0, VOTERS - VOTERS // 100)


def by_attack(results: list[WeekLink]) -> dict[str, WeekLink]:
    return {r.attack: r for r in results}


def test_fresh_keys_leave_every_attack_at_chance(refreshed: pa.Table) -> None:
    one = week(voters(VOTERS), "wk1", FixedKeys(b"week 1"), seed=1)
    two = week(refreshed, "wk2", FixedKeys(b"week 2"), seed=2)
    results = by_attack(link_weeks(one, two))
    assert set(results) == {"equal-ids", "equal-tokens", "near-bloom", "structure"}
    for attack in ("equal-ids", "equal-tokens", "near-bloom"):
        assert results[attack].guessed == 0, results[attack]
    assert results["structure"].records > 1_000
    for result in results.values():
        assert result.at_chance, result
        assert result.rate < 0.01


def test_the_same_key_twice_links_nearly_every_record(refreshed: pa.Table) -> None:
    key = FixedKeys(b"reused by mistake")
    one = week(voters(VOTERS), "wk1", key, seed=1)
    two = week(refreshed, "wk2", key, seed=2)
    results = by_attack(link_weeks(one, two))
    assert results["equal-tokens"].rate > 0.9, results["equal-tokens"]
    assert results["near-bloom"].correct > 0.5 * results["near-bloom"].guessed > 0
    assert not results["equal-tokens"].at_chance
    assert results["equal-ids"].guessed == 0  # fresh rids: only the tokens give it away


def test_reused_references_link_through_the_ids(refreshed: pa.Table) -> None:
    one = week(voters(VOTERS), "wk1", FixedKeys(b"week 1"), seed=1)
    two = week(refreshed, "wk2", FixedKeys(b"week 2"), seed=2)
    rid_of = dict(zip(one.truth, one.tokens["rid"].to_pylist(), strict=True))
    rids = [
        rid_of.get(t, r) if t else r
        for t, r in zip(two.truth, two.tokens["rid"].to_pylist(), strict=True)
    ]
    leaked = WeekTokens(
        two.exchange_id,
        two.kind,
        two.message_id,
        two.tokens.set_column(0, "rid", pa.array(rids)),
        two.truth,
    )
    assert by_attack(link_weeks(one, leaked))["equal-ids"].rate > 0.9


def _opened(exchange: str, kind: str, table: pa.Table, message_id: str) -> OpenedMessage:
    manifest = Manifest(
        format_version=2,
        kind=kind,
        exchange_id=exchange,
        sender="campaign",
        recipient="matcher",
        rows=table.num_rows,
        columns=tuple(table.column_names),
        payload_sha256="0" * 64,
        created_at=datetime(2026, 10, 5, tzinfo=UTC),
        message_id=message_id,
    )
    card = PartyCard(
        name="c",
        role="campaign",
        signing_public=b"\0" * 32,
        exchange_public=b"\0" * 32,
        fingerprint="0" * 32,
    )
    return OpenedMessage(manifest=manifest, table=table, sender=card)


def test_the_audit_check_skips_one_exchange_and_fails_a_reused_key(
    tmp_path: Path, refreshed: pa.Table
) -> None:
    assert "week-linking" in dict(CHECKS)
    homes = {r: PartyHome(tmp_path / r) for r in ("campaign", "matcher", "provider")}
    key = FixedKeys(b"reused by mistake")
    one = week(voters(VOTERS), "wk1", key, seed=1)
    two = week(refreshed, "wk2", key, seed=2)
    for x, w in (("wk1", one), ("wk2", two)):
        # The auditor's truth for the campaign side is the campaign's rid map.
        rids = [r for r, t in zip(w.tokens["rid"].to_pylist(), w.truth, strict=True) if t]
        path = homes["campaign"].rid_map_path(x)
        path.parent.mkdir(parents=True)
        pq.write_table(pa.table({"rid": rids, "voter_id": [t for t in w.truth if t]}), path)
    held = [
        (
            tmp_path / f"{w.exchange_id}.nwl",
            "matcher",
            _opened(w.exchange_id, w.kind, w.tokens, w.message_id),
        )
        for w in (one, two)
    ]
    single = audit_week_linking(Exchange(homes, held[:1], []), tmp_path / "world")
    assert single.status == "SKIP"
    both = audit_week_linking(Exchange(homes, held, []), tmp_path / "world")
    assert both.status == "FAIL" and "equal-tokens" in both.detail, both.detail


def test_only_a_weak_imprecise_structure_link_is_tolerated() -> None:
    # 10 right of 100 guesses over 10,000 records: above chance, wrong 9 times in 10.
    weak = WeekLink("structure", "campaign-tokens", 10_000, 100, 10, 10_000)
    assert not weak.at_chance and weak.harmless
    # The same rate from a key-dependent attack means the keys leak: not tolerated.
    assert not WeekLink("equal-tokens", "campaign-tokens", 10_000, 100, 10, 10_000).harmless
    # A precise structure link is actionable (it tells real rows from dummies).
    assert not WeekLink("structure", "campaign-tokens", 10_000, 100, 60, 10_000).harmless
    # And so is a broad one, even imprecise.
    assert not WeekLink("structure", "campaign-tokens", 10_000, 5_000, 200, 10_000).harmless
