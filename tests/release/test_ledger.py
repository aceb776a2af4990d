"""Tests for linkage.release.ledger (and the on-disk primitives of linkage.io.ledger_files)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pytest

from linkage.errors import PrivacyError, StateError
from linkage.io import (
    append_jsonl,
    load_ledger_blob,
    load_ledger_table,
    read_ledger_head,
    read_ledger_lines,
    store_ledger_blob,
    store_ledger_table,
    write_ledger_head,
)
from linkage.release import (
    DEFAULT_BUDGET,
    HouseholdSet,
    Ledger,
    ReleaseRequest,
    ledger_key,
    segment_sets,
)

KEY = ledger_key(b"\x07" * 32)
CAMPAIGN = "c" * 16
GRID = "g" * 64


def hh(start: int, stop: int) -> list[str]:
    return [f"HH{i:05d}" for i in range(start, stop)]


def sets_of(groups: Mapping[str, Sequence[str]]) -> dict[str, HouseholdSet]:
    return {code: HouseholdSet.of(KEY, ids) for code, ids in groups.items()}


def request(
    groups: Mapping[str, Sequence[str]],
    *,
    exchange: str = "x1",
    epsilon: float | None = 1.0,
    grid: str = GRID,
    campaign: str = CAMPAIGN,
    k: int = 5,
    message_id: str = "m" * 32,
) -> tuple[ReleaseRequest, dict[str, HouseholdSet]]:
    sets = sets_of(groups)
    req = ReleaseRequest.build(
        campaign=campaign,
        exchange=exchange,
        message_id=message_id,
        grid=grid,
        epsilon=epsilon,
        k=k,
        min_universe=10,
        sets=sets,
    )
    return req, {s.digest: s for s in sets.values()}


class Book:
    """A ledger kept in files, as the provider keeps it."""

    def __init__(self, root: Path) -> None:
        self.file = root / "releases.jsonl"
        self.head = root / "head.json"
        self.sets: dict[str, HouseholdSet] = {}

    def load(self) -> Ledger:
        return Ledger.load(
            read_ledger_lines(self.file),
            KEY,
            head=read_ledger_head(self.head),
            file=str(self.file),
        )

    def release(self, req: ReleaseRequest, sets: dict[str, HouseholdSet], **kw: float) -> None:
        book = self.load()
        known = {**self.sets, **sets}
        total = book.check(req, known, budget=kw.get("budget"))
        book, entry = book.append(
            req, budget=total, payload="p" * 64, released_at="2026-01-01T00:00:00", key=KEY
        )
        append_jsonl(self.file, entry.to_line())
        write_ledger_head(self.head, book.head_json())
        self.sets.update(sets)

    def check(self, req: ReleaseRequest, sets: dict[str, HouseholdSet], **kw: float) -> None:
        self.load().check(req, {**self.sets, **sets}, budget=kw.get("budget"))


@pytest.fixture
def book(tmp_path: Path) -> Book:
    return Book(tmp_path)


# --------------------------------------------------------------------------- sets


def test_household_sets_are_keyed_and_hold_no_ids() -> None:
    ids = hh(0, 50)
    mine = HouseholdSet.of(KEY, ids)
    other = HouseholdSet.of(ledger_key(b"\x08" * 32), ids)
    assert mine.digest != other.digest
    data = mine.to_bytes()
    assert len(data) == 50 * 16
    assert b"HH000" not in data
    assert HouseholdSet.from_bytes(data) == mine
    with pytest.raises(StateError):
        HouseholdSet.from_bytes(data[:-1])
    assert mine.difference(HouseholdSet.of(KEY, hh(1, 51))) == 2


def test_segment_sets_add_everyone_under_star() -> None:
    table = pa.table(
        {
            "household_id": ["a", "b", "b", "c"],
            "segment": ["S1", "S1", "S2", "*"],
        }
    )
    sets = segment_sets(KEY, table)
    assert sorted(sets) == ["*", "S1", "S2"]
    assert sets["*"] == HouseholdSet.of(KEY, ["a", "b", "c"])
    assert sets["S2"] == HouseholdSet.of(KEY, ["b"])


# --------------------------------------------------------------------------- chain


def test_ledger_survives_reload_and_counts_spend(book: Book) -> None:
    req, sets = request({"*": hh(0, 100), "A": hh(0, 60)}, epsilon=1.5)
    book.release(req, sets, budget=4.0)
    req2, sets2 = request({"*": hh(0, 200), "B": hh(100, 160)}, exchange="x2", epsilon=2.0)
    book.release(req2, sets2)
    reloaded = book.load()
    assert [e.seq for e in reloaded.entries] == [1, 2]
    assert reloaded.spent(CAMPAIGN) == pytest.approx(3.5)
    assert reloaded.budget_of(CAMPAIGN) == 4.0
    assert reloaded.budget_of("someone-else") is None
    assert reloaded.replay_of(req2) == reloaded.entries[1]
    # Appending only: the first line is byte-for-byte what it was.
    lines = read_ledger_lines(book.file)
    assert len(lines) == 2
    assert '"exchange": "x1"' in lines[0] and '"k": 5' in lines[0]


@pytest.mark.parametrize("damage", ["edit", "delete-first", "swap", "cut-tail", "torn", "no-head"])
def test_tampering_is_detected(book: Book, damage: str) -> None:
    for i in range(3):
        req, sets = request({"*": hh(0, 100 + 50 * i)}, exchange=f"x{i}", epsilon=None)
        book.release(req, sets)
    lines = book.file.read_text().splitlines(keepends=True)
    if damage == "edit":
        lines[1] = lines[1].replace('"epsilon": null', '"epsilon": 0.0')
    elif damage == "delete-first":
        del lines[0]
    elif damage == "swap":
        lines[0], lines[1] = lines[1], lines[0]
    elif damage == "cut-tail":
        del lines[-2:]
    elif damage == "torn":
        lines[-1] = lines[-1][:40]
    elif damage == "no-head":
        book.head.unlink()
    book.file.write_text("".join(lines))
    with pytest.raises(StateError) as err:
        book.load()
    assert "HH0" not in str(err.value)


def test_head_may_lag_one_entry_after_a_crash(book: Book) -> None:
    req, sets = request({"*": hh(0, 100)}, epsilon=None)
    book.release(req, sets)
    head_before = book.head.read_text()
    req2, sets2 = request({"*": hh(0, 300)}, exchange="x2", epsilon=None)
    book.release(req2, sets2)
    book.head.write_text(head_before)  # as if the crash hit before the head was rewritten
    assert len(book.load().entries) == 2


def test_forged_entry_without_the_key_is_rejected(book: Book) -> None:
    req, _ = request({"*": hh(0, 100)}, epsilon=None)
    ledger = Ledger()
    forged_ledger, forged = ledger.append(
        req, budget=1e9, payload="p" * 64, released_at="t", key=ledger_key(b"\x09" * 32)
    )
    append_jsonl(book.file, forged.to_line())
    write_ledger_head(book.head, forged_ledger.head_json())
    with pytest.raises(StateError):
        book.load()


# --------------------------------------------------------------------------- rules


def test_refuses_overspend(book: Book) -> None:
    req, sets = request({"*": hh(0, 100)}, epsilon=2.0, grid="g1")
    book.release(req, sets, budget=3.0)
    over, osets = request({"*": hh(0, 100)}, exchange="x2", epsilon=1.5, grid="g2")
    with pytest.raises(PrivacyError, match="budget exceeded"):
        book.check(over, osets)
    fits, fsets = request({"*": hh(0, 100)}, exchange="x2", epsilon=1.0, grid="g2")
    book.release(fits, fsets)  # exactly the rest of the budget
    tiny, tsets = request({"*": hh(0, 100)}, exchange="x3", epsilon=1e-3, grid="g3")
    with pytest.raises(PrivacyError, match="budget exceeded"):
        book.check(tiny, tsets)
    # Exact releases spend nothing and stay possible.
    exact, esets = request({"*": hh(0, 100)}, exchange="x4", epsilon=None, grid="g4")
    book.release(exact, esets)
    after = book.load()
    assert [e.request.exchange for e in after.entries] == ["x1", "x2", "x4"]
    assert after.spent(CAMPAIGN) == pytest.approx(3.0)
    assert after.budget_of(CAMPAIGN) == 3.0


def test_first_release_fixes_the_budget(book: Book) -> None:
    big, bsets = request({"*": hh(0, 100)}, epsilon=DEFAULT_BUDGET + 1)
    with pytest.raises(PrivacyError, match="budget exceeded"):
        book.check(big, bsets)  # the default applies at first use
    req, sets = request({"*": hh(0, 100)}, epsilon=1.0)
    book.release(req, sets, budget=2.0)
    later, lsets = request({"*": hh(0, 100)}, exchange="x2", epsilon=1.0, grid="other")
    with pytest.raises(PrivacyError, match="fixed"):
        book.check(later, lsets, budget=100.0)
    book.check(later, lsets, budget=2.0)
    book.check(later, lsets)


def test_refuses_requery_of_the_same_cells(book: Book) -> None:
    groups = {"*": hh(0, 100), "A": hh(0, 60)}
    req, sets = request(groups, epsilon=0.5)
    book.release(req, sets)
    again, asets = request(groups, exchange="x2", epsilon=0.5, message_id="n" * 32)
    with pytest.raises(PrivacyError, match="re-query") as err:
        book.check(again, asets)
    assert "*" in str(err.value) and "A" in str(err.value)
    # The exact same request is a replay, found before any rule runs.
    assert book.load().replay_of(req) is not None
    assert book.load().replay_of(again) is None
    # Another grid (e.g. another week) is a new query.
    book.check(*request(groups, exchange="x2", epsilon=0.5, grid="next-week"))
    # An exact release after a noisy one of the same cells would reveal the truth.
    with pytest.raises(PrivacyError, match="re-query"):
        book.check(*request(groups, exchange="x2", epsilon=None))


def test_exact_releases_may_repeat(book: Book) -> None:
    groups = {"*": hh(0, 100), "A": hh(0, 60)}
    first, _ = request(groups, epsilon=None)
    book.release(*request(groups, epsilon=None))
    again, _ = request(groups, exchange="x2", epsilon=None)
    book.release(*request(groups, exchange="x2", epsilon=None))
    # Both recorded, on the same grid and household sets, and nothing spent.
    ledger = book.load()
    assert [e.request for e in ledger.entries] == [first, again]
    assert first.segments == again.segments and first.grid == again.grid
    assert ledger.spent(CAMPAIGN) == 0.0
    assert ledger.budget_of(CAMPAIGN) == DEFAULT_BUDGET


def test_refuses_differencing_across_releases(book: Book) -> None:
    book.release(*request({"*": hh(0, 200), "A": hh(0, 100)}, epsilon=None))
    # Segment B = A minus one household: released alone later, B - A isolates it.
    minus_one = {"*": hh(0, 300), "B": hh(1, 100)}
    with pytest.raises(PrivacyError, match="differencing") as err:
        book.check(*request(minus_one, exchange="x2", epsilon=None))
    message = str(err.value)
    assert "B~x1/A" in message and "HH" not in message
    # k households apart is fine; so is the same set (nothing to subtract).
    book.check(*request({"*": hh(0, 300), "B": hh(5, 100)}, exchange="x2", epsilon=None))
    book.check(*request({"*": hh(0, 300), "B": hh(0, 100)}, exchange="x2", epsilon=None))
    # A larger k on the earlier release still binds.
    book.release(*request({"*": hh(400, 600)}, exchange="x3", epsilon=None, k=20))
    with pytest.raises(PrivacyError, match="differencing"):
        book.check(*request({"*": hh(0, 300), "C": hh(410, 600)}, exchange="x4", epsilon=None))
    # Another campaign's releases are not compared.
    book.check(*request(minus_one, exchange="x2", epsilon=None, campaign="d" * 16))


def test_missing_household_set_is_a_state_error(book: Book) -> None:
    book.release(*request({"*": hh(0, 200)}, epsilon=None))
    req, sets = request({"*": hh(0, 199)}, exchange="x2", epsilon=None)
    with pytest.raises(StateError):
        book.load().check(req, sets)


# --------------------------------------------------------------------------- files


def test_ledger_blobs_are_content_addressed_and_verified(tmp_path: Path) -> None:
    data = HouseholdSet.of(KEY, hh(0, 10)).to_bytes()
    digest = store_ledger_blob(tmp_path, data)
    assert (tmp_path / digest).stat().st_mode & 0o777 == 0o600
    assert load_ledger_blob(tmp_path, digest) == data
    (tmp_path / digest).write_bytes(data[:-16])
    with pytest.raises(StateError):
        load_ledger_blob(tmp_path, digest)
    with pytest.raises(StateError):
        load_ledger_blob(tmp_path, "0" * 64)
    table = pa.table({"a": [1, 2, 3]})
    sha = store_ledger_table(tmp_path, table)
    assert load_ledger_table(tmp_path, sha).equals(table)
    assert read_ledger_lines(tmp_path / "none.jsonl") == []
    assert read_ledger_head(tmp_path / "none.json") is None
