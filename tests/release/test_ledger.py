"""Tests for linkage.release.ledger (and the on-disk primitives of linkage.io.ledger_files)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
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
    GENESIS,
    HouseholdSet,
    Ledger,
    PrivacyBudget,
    ReleaseRequest,
    iso_weeks,
    ledger_key,
    segment_sets,
)

KEY = ledger_key(b"\x07" * 32)
ORG = "acme"
CAMPAIGN = "c" * 32
GRID = "g" * 64
MONDAY = date(2026, 9, 7)  # ISO week 37
BUDGET = PrivacyBudget(rho_per_week=0.25, rho_lifetime=0.6)


def hh(start: int, stop: int) -> list[str]:
    return [f"HH{i:05d}" for i in range(start, stop)]


def sets_of(groups: Mapping[str, Sequence[str]]) -> dict[str, HouseholdSet]:
    return {code: HouseholdSet.of(KEY, ids) for code, ids in groups.items()}


def request(
    groups: Mapping[str, Sequence[str]],
    *,
    exchange: str = "x1",
    rho: float | None = 0.1,
    grid: str = GRID,
    org: str = ORG,
    campaign: str = CAMPAIGN,
    k: int = 5,
    week: int = 0,
    days: int = 7,
    message_id: str = "m" * 32,
) -> tuple[ReleaseRequest, dict[str, HouseholdSet]]:
    """A request for the week ``week`` weeks after :data:`MONDAY`, ``days`` long."""
    sets = sets_of(groups)
    first = date.fromordinal(MONDAY.toordinal() + 7 * week)
    req = ReleaseRequest.build(
        org=org,
        campaign=campaign,
        exchange=exchange,
        message_id=message_id,
        grid=grid,
        first_day=first,
        last_day=date.fromordinal(first.toordinal() + days - 1),
        rho=rho,
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

    def release(
        self,
        req: ReleaseRequest,
        sets: dict[str, HouseholdSet],
        budget: PrivacyBudget | None = None,
    ) -> None:
        book = self.load()
        total = book.check(req, {**self.sets, **sets}, budget=budget)
        book, entry = book.append(
            req, budget=total, payload="p" * 64, released_at="2026-01-01T00:00:00", key=KEY
        )
        append_jsonl(self.file, entry.to_line())
        write_ledger_head(self.head, book.head_json())
        self.sets.update(sets)

    def check(
        self,
        req: ReleaseRequest,
        sets: dict[str, HouseholdSet],
        budget: PrivacyBudget | None = None,
    ) -> PrivacyBudget:
        return self.load().check(req, {**self.sets, **sets}, budget=budget)


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


def test_iso_weeks_of_a_period() -> None:
    assert iso_weeks(MONDAY, date(2026, 9, 13)) == ((2026, 37),)
    assert iso_weeks(date(2026, 9, 12), date(2026, 9, 15)) == ((2026, 37), (2026, 38))
    assert iso_weeks(date(2025, 12, 29), date(2026, 1, 4)) == ((2026, 1),)
    assert len(iso_weeks(MONDAY, date(2026, 11, 3))) == 9


# --------------------------------------------------------------------------- chain


def test_ledger_survives_reload_and_counts_spend(book: Book) -> None:
    req, sets = request({"*": hh(0, 100), "A": hh(0, 60)}, rho=0.15)
    book.release(req, sets, BUDGET)
    req2, sets2 = request({"*": hh(0, 200), "B": hh(100, 160)}, exchange="x2", rho=0.2, week=1)
    book.release(req2, sets2)
    reloaded = book.load()
    assert [e.seq for e in reloaded.entries] == [1, 2]
    assert [(e.org_seq, e.org_prev) for e in reloaded.entries] == [
        (1, GENESIS),
        (2, reloaded.entries[0].hash),
    ]
    assert reloaded.spent(ORG) == pytest.approx(0.35)
    assert reloaded.spent_in_week(ORG, (2026, 37)) == pytest.approx(0.15)
    assert reloaded.spent_through(reloaded.entries[0]) == pytest.approx(0.15)
    assert reloaded.budget_of(ORG) == BUDGET
    assert reloaded.budget_of("someone-else") is None
    assert reloaded.replay_of(req2) == reloaded.entries[1]
    lines = read_ledger_lines(book.file)
    assert len(lines) == 2
    assert '"exchange": "x1"' in lines[0] and '"rho": 0.15' in lines[0]


def test_each_organisation_has_its_own_chain(book: Book) -> None:
    book.release(*request({"*": hh(0, 100)}, rho=None))
    book.release(*request({"*": hh(0, 100)}, rho=None, org="other", exchange="y1"))
    book.release(*request({"*": hh(0, 100)}, rho=None, exchange="x2"))
    a1, b1, a2 = book.load().entries
    assert (a1.org_seq, b1.org_seq, a2.org_seq) == (1, 1, 2)
    assert b1.org_prev == GENESIS and a2.org_prev == a1.hash and a2.prev == b1.hash


@pytest.mark.parametrize(
    "damage", ["edit", "delete-first", "swap", "cut-tail", "torn", "no-head", "org-chain"]
)
def test_tampering_is_detected(book: Book, damage: str) -> None:
    for i in range(3):
        req, sets = request({"*": hh(0, 100 + 50 * i)}, exchange=f"x{i}", rho=None)
        book.release(req, sets)
    lines = book.file.read_text().splitlines(keepends=True)
    if damage == "edit":
        lines[1] = lines[1].replace('"rho": null', '"rho": 0.0')
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
    elif damage == "org-chain":
        lines[2] = lines[2].replace('"org_seq": 3', '"org_seq": 4')
    book.file.write_text("".join(lines))
    with pytest.raises(StateError) as err:
        book.load()
    assert "HH0" not in str(err.value)


def test_a_ledger_in_epsilon_is_named_as_such(book: Book) -> None:
    book.file.write_text('{"seq": 1, "epsilon": 1.0, "campaign": "c"}\n')
    with pytest.raises(StateError, match="older Narwhal"):
        book.load()


def test_head_may_lag_one_entry_after_a_crash(book: Book) -> None:
    req, sets = request({"*": hh(0, 100)}, rho=None)
    book.release(req, sets)
    head_before = book.head.read_text()
    req2, sets2 = request({"*": hh(0, 300)}, exchange="x2", rho=None)
    book.release(req2, sets2)
    book.head.write_text(head_before)  # as if the crash hit before the head was rewritten
    assert len(book.load().entries) == 2


def test_forged_entry_without_the_key_is_rejected(book: Book) -> None:
    req, _ = request({"*": hh(0, 100)}, rho=None)
    forged_ledger, forged = Ledger().append(
        req,
        budget=PrivacyBudget(1e3, 1e3),
        payload="p" * 64,
        released_at="t",
        key=ledger_key(b"\x09" * 32),
    )
    append_jsonl(book.file, forged.to_line())
    write_ledger_head(book.head, forged_ledger.head_json())
    with pytest.raises(StateError):
        book.load()


# --------------------------------------------------------------------------- budget


def test_weekly_cap(book: Book) -> None:
    book.release(*request({"*": hh(0, 100)}, rho=0.15), BUDGET)
    with pytest.raises(PrivacyError, match="left this week") as err:
        book.check(*request({"*": hh(0, 100)}, exchange="x2", rho=0.15, grid="g2"))
    message = str(err.value)
    assert "rho 0.1 of 0.25 left this week" in message
    assert "*" not in message and "segment" not in message
    book.release(*request({"*": hh(0, 100)}, exchange="x2", rho=0.1, grid="g2"))  # exactly full
    with pytest.raises(PrivacyError, match="left this week"):
        book.check(*request({"*": hh(0, 100)}, exchange="x3", rho=1e-6, grid="g3"))
    # Next week is a fresh week; exact releases spend nothing and stay possible.
    book.check(*request({"*": hh(0, 100)}, exchange="x3", rho=0.25, week=1))
    book.release(*request({"*": hh(0, 100)}, exchange="x4", rho=None, grid="g4"))
    assert book.load().spent(ORG) == pytest.approx(0.25)


def test_a_period_spanning_two_weeks_is_charged_to_both(book: Book) -> None:
    # Thursday to Wednesday: weeks 37 and 38.
    span, sets = request({"*": hh(0, 100)}, rho=0.2, days=7)
    span = ReleaseRequest(
        **{**span.__dict__, "first_day": date(2026, 9, 10), "last_day": date(2026, 9, 16)}
    )
    book.release(span, sets, BUDGET)
    for week in (0, 1):
        with pytest.raises(PrivacyError, match="left this week"):
            book.check(*request({"*": hh(0, 100)}, exchange="x2", rho=0.1, week=week))
    book.check(*request({"*": hh(0, 100)}, exchange="x2", rho=0.25, week=2))


def test_lifetime_cap(book: Book) -> None:
    for week in range(2):
        book.release(*request({"*": hh(0, 100)}, exchange=f"x{week}", rho=0.25, week=week), BUDGET)
    with pytest.raises(PrivacyError, match="left in its lifetime") as err:
        book.check(*request({"*": hh(0, 100)}, exchange="x3", rho=0.2, week=2))
    assert "rho 0.1 of 0.6 left" in str(err.value)
    book.check(*request({"*": hh(0, 100)}, exchange="x3", rho=0.1, week=2))


def test_first_release_fixes_the_budget(book: Book) -> None:
    with pytest.raises(PrivacyError, match="left this week"):
        book.check(*request({"*": hh(0, 100)}, rho=0.3))  # the default applies at first use
    book.release(*request({"*": hh(0, 100)}, rho=0.1), BUDGET)
    later = request({"*": hh(0, 100)}, exchange="x2", rho=0.1, week=1)
    with pytest.raises(PrivacyError, match="fixed at its first release"):
        book.check(*later, PrivacyBudget(rho_per_week=1.0, rho_lifetime=10.0))
    assert book.check(*later, BUDGET) == BUDGET
    assert book.check(*later) == BUDGET
    with pytest.raises(PrivacyError, match="positive"):
        book.check(*request({"*": hh(0, 100)}, exchange="x3", rho=-0.1, week=1))


def test_a_reinitialised_card_in_the_same_org_shares_the_budget(book: Book) -> None:
    book.release(*request({"*": hh(0, 100)}, rho=0.2), BUDGET)
    new_card = "d" * 32
    with pytest.raises(PrivacyError, match="left this week"):
        book.check(*request({"*": hh(0, 100)}, exchange="x2", rho=0.1, campaign=new_card))
    # The budget, too, stays the organisation's: a new card cannot ask for another.
    with pytest.raises(PrivacyError, match="fixed"):
        book.check(
            *request({"*": hh(0, 100)}, exchange="x2", rho=0.01, campaign=new_card),
            PrivacyBudget(1.0, 10.0),
        )
    # Another organisation has its own budget.
    book.check(*request({"*": hh(0, 100)}, exchange="x2", rho=0.25, org="other", campaign=new_card))


# --------------------------------------------------------------------------- exact rules


def test_dp_releases_may_query_the_same_cells_again(book: Book) -> None:
    groups = {"*": hh(0, 100), "A": hh(0, 60)}
    book.release(*request(groups, rho=0.05), BUDGET)
    # Fresh noise on the same cells is composition, paid for in rho.
    book.release(*request(groups, exchange="x2", rho=0.05, message_id="n" * 32))
    # ... and so is a segment one household away from an earlier one.
    book.release(*request({"*": hh(0, 100), "B": hh(1, 60)}, exchange="x3", rho=0.05))
    assert book.load().spent(ORG) == pytest.approx(0.15)


def test_an_exact_release_may_not_requery_noisy_cells(book: Book) -> None:
    groups = {"*": hh(0, 100), "A": hh(0, 60)}
    req, sets = request(groups, rho=0.05)
    book.release(req, sets)
    with pytest.raises(PrivacyError, match="re-query") as err:
        book.check(*request(groups, exchange="x2", rho=None))
    assert "A" not in str(err.value).replace("re-query", "")
    assert book.load().replay_of(req) is not None
    book.check(*request(groups, exchange="x2", rho=None, grid="next-week"))


def test_exact_releases_may_repeat(book: Book) -> None:
    groups = {"*": hh(0, 100), "A": hh(0, 60)}
    first, _ = request(groups, rho=None)
    book.release(*request(groups, rho=None))
    again, _ = request(groups, exchange="x2", rho=None)
    book.release(*request(groups, exchange="x2", rho=None))
    ledger = book.load()
    assert [e.request for e in ledger.entries] == [first, again]
    assert ledger.spent(ORG) == 0.0
    assert ledger.budget_of(ORG) == PrivacyBudget()


def test_exact_differencing_across_releases_is_refused_naming_nothing(book: Book) -> None:
    book.release(*request({"*": hh(0, 200), "A": hh(0, 100)}, rho=None))
    minus_one = {"*": hh(0, 300), "B": hh(1, 100)}
    with pytest.raises(PrivacyError, match="differencing") as err:
        book.check(*request(minus_one, exchange="x2", rho=None))
    message = str(err.value)
    assert "B" not in message.replace("Narwhal", "") and "x1" not in message
    assert "HH" not in message
    book.check(*request({"*": hh(0, 300), "B": hh(5, 100)}, exchange="x2", rho=None))
    book.check(*request({"*": hh(0, 300), "B": hh(0, 100)}, exchange="x2", rho=None))
    book.release(*request({"*": hh(400, 600)}, exchange="x3", rho=None, k=20))
    with pytest.raises(PrivacyError, match="differencing"):
        book.check(*request({"*": hh(0, 300), "C": hh(410, 600)}, exchange="x4", rho=None))
    # Another organisation's releases are not compared.
    book.check(*request(minus_one, exchange="x2", rho=None, org="other"))


def test_missing_household_set_is_a_state_error(book: Book) -> None:
    book.release(*request({"*": hh(0, 200)}, rho=None))
    req, sets = request({"*": hh(0, 199)}, exchange="x2", rho=None)
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
