"""Tests for linkage.release.ledger_store: layout, lock, replay and the write order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from linkage.errors import PrivacyError, StateError
from linkage.release import (
    HouseholdSet,
    Ledger,
    LedgerEntry,
    LedgerStore,
    PendingRelease,
    PrivacyBudget,
    ReleaseRequest,
    ledger_key,
)

KEY = ledger_key(b"\x07" * 32)
ORG = "acme"
CAMPAIGN = "c" * 32
NOW = datetime(2026, 1, 1, tzinfo=UTC)
PAYLOAD = pa.table({"segment": ["*", "A"], "rating": [1.0, 2.0]})


def hh(start: int, stop: int) -> list[str]:
    return [f"HH{i:05d}" for i in range(start, stop)]


def assignments(groups: Mapping[str, Sequence[str]]) -> pa.Table:
    rows = [(hid, code) for code, hids in groups.items() for hid in hids]
    return pa.table({"household_id": [r[0] for r in rows], "segment": [r[1] for r in rows]})


def request(
    store: LedgerStore,
    groups: Mapping[str, Sequence[str]],
    *,
    exchange: str = "x1",
    rho: float | None = 0.1,
) -> tuple[ReleaseRequest, dict[str, HouseholdSet]]:
    sets = store.segment_sets(assignments(groups))
    req = ReleaseRequest.build(
        org=ORG,
        campaign=CAMPAIGN,
        exchange=exchange,
        message_id="m" * 32,
        grid="g" * 64,
        first_day=date(2026, 9, 7),
        last_day=date(2026, 9, 13),
        rho=rho,
        k=5,
        min_universe=10,
        sets=sets,
    )
    return req, sets


def release(
    store: LedgerStore,
    groups: Mapping[str, Sequence[str]],
    *,
    budget: PrivacyBudget | None = None,
    rho: float | None = 0.1,
) -> PendingRelease:
    """One release through the store, as the provider makes it."""
    req, sets = request(store, groups, rho=rho)
    with store.locked() as ledger:
        pending = store.prepare(ledger, req, sets, budget=budget, compute=lambda: PAYLOAD)
        store.commit(ledger, pending, deliver=lambda book, entry: None, now=NOW)
    return pending


def files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mode & 0o777 for p in root.rglob("*")}


def test_a_release_writes_the_layout(tmp_path: Path) -> None:
    store = LedgerStore(tmp_path, KEY)
    budget = PrivacyBudget(rho_per_week=0.2, rho_lifetime=1.0)
    pending = release(store, {"*": hh(0, 100), "A": hh(0, 60)}, budget=budget)
    assert not pending.replay and pending.budget == budget
    written = files(tmp_path)
    assert {"releases.jsonl", "head.json", ".lock", "sets", "payloads"} <= set(written)
    sets = [name for name in written if name.startswith("sets/")]
    payloads = [name for name in written if name.startswith("payloads/")]
    assert len(sets) == 2 and len(payloads) == 1 and payloads[0].endswith(".parquet")
    assert all(written[name] == 0o600 for name in [*sets, *payloads, "releases.jsonl"])
    ledger = store.load()
    (entry,) = ledger.entries
    assert entry.released_at == NOW.isoformat() and entry.budget == budget
    assert ledger.spent(ORG) == pytest.approx(0.1)
    assert b"HH0" not in (tmp_path / "releases.jsonl").read_bytes()


def test_an_exact_replay_sends_the_stored_payload_and_records_nothing(tmp_path: Path) -> None:
    store = LedgerStore(tmp_path, KEY)
    groups = {"*": hh(0, 100)}
    release(store, groups)
    before = (tmp_path / "releases.jsonl").read_bytes()
    req, sets = request(store, groups)
    delivered: list[LedgerEntry] = []

    def never() -> pa.Table:
        raise AssertionError("a replay computes nothing")

    def deliver(book: Ledger, entry: LedgerEntry) -> None:
        delivered.append(entry)

    with store.locked() as ledger:
        pending = store.prepare(ledger, req, sets, budget=None, compute=never)
        after = store.commit(ledger, pending, deliver=deliver)
    assert pending.replay and pending.payload.equals(PAYLOAD)
    # Delivered with the entry it was first recorded as (its receipt), nothing spent again.
    assert delivered == [ledger.entries[0]] and after == ledger
    assert after.spent(ORG) == pytest.approx(0.1)
    assert (tmp_path / "releases.jsonl").read_bytes() == before


def test_a_refused_release_computes_and_writes_nothing(tmp_path: Path) -> None:
    store = LedgerStore(tmp_path, KEY)
    release(store, {"*": hh(0, 200), "A": hh(0, 100)}, rho=None)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    # Read back by a new store: the earlier household sets come from disk.
    fresh = LedgerStore(tmp_path, KEY)
    req, sets = request(fresh, {"*": hh(0, 300), "B": hh(1, 100)}, exchange="x2", rho=None)
    computed: list[bool] = []

    def compute() -> pa.Table:
        computed.append(True)
        return PAYLOAD

    with fresh.locked() as ledger, pytest.raises(PrivacyError, match="differencing"):
        fresh.prepare(ledger, req, sets, budget=None, compute=compute)
    assert not computed
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_the_ledger_is_written_before_the_release_is_delivered(tmp_path: Path) -> None:
    store = LedgerStore(tmp_path, KEY)
    req, sets = request(store, {"*": hh(0, 100)})
    seen: list[int] = []

    def deliver(book: Ledger, entry: LedgerEntry) -> None:
        seen.append(len(store.load().entries))
        raise OSError("crash before the message is written")

    with store.locked() as ledger:
        pending = store.prepare(ledger, req, sets, budget=None, compute=lambda: PAYLOAD)
        with pytest.raises(OSError):
            store.commit(ledger, pending, deliver=deliver)
    # The crash over-counts the budget (the release is recorded), never under.
    assert seen == [1]
    assert store.load().spent(ORG) == pytest.approx(0.1)


def test_one_release_at_a_time(tmp_path: Path) -> None:
    store = LedgerStore(tmp_path, KEY)
    second = LedgerStore(tmp_path, KEY)
    with store.locked(), pytest.raises(StateError, match="in progress"), second.locked():
        pass
    with second.locked():  # released when the first holder is done
        pass


def test_a_missing_household_set_stops_the_next_release(tmp_path: Path) -> None:
    store = LedgerStore(tmp_path, KEY)
    release(store, {"*": hh(0, 100)}, rho=None)
    for blob in (tmp_path / "sets").iterdir():
        blob.unlink()
    req, sets = request(store, {"*": hh(0, 200)}, exchange="x2", rho=None)
    with store.locked() as ledger, pytest.raises(StateError, match="missing"):
        store.prepare(ledger, req, sets, budget=None, compute=lambda: PAYLOAD)


def test_a_tampered_ledger_does_not_load(tmp_path: Path) -> None:
    store = LedgerStore(tmp_path, KEY)
    release(store, {"*": hh(0, 100)}, rho=None)
    other = LedgerStore(tmp_path, ledger_key(b"\x08" * 32))
    with pytest.raises(StateError, match="hash chain"), other.locked():
        pass
