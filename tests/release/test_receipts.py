"""Tests for linkage.release.receipts, linkage.release.orgs and the audit's ledger check.

The rewind attacks of issue 11 run here on a real ledger directory
(:class:`~linkage.release.LedgerStore`): drop the last line and rewrite
``head.json`` from hashes already in the file (the chain still verifies: the
provider holds the key), or delete the ledger. Each must be caught by the
campaign's check when the next release arrives, by the matcher's witness, and
by the audit comparing the ledger with the witness log.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from linkage.audit import Exchange, audit_ledger
from linkage.errors import InputError, MessageError, StateError
from linkage.io import (
    PartyHome,
    load_identity,
    load_secret,
    save_identity,
    save_secret,
    write_card,
)
from linkage.protocol import Identity, PartyCard, generate_identity
from linkage.release import (
    GENESIS,
    Ledger,
    LedgerEntry,
    LedgerStore,
    OrgRegistry,
    PrivacyBudget,
    Receipt,
    ReleaseHead,
    ReleaseRequest,
    accept_receipt,
    check_extends,
    countersign,
    issue_receipt,
    ledger_key,
    load_orgs,
    load_witnessed,
    read_receipt,
    release_head,
    save_orgs,
    verify_countersigned,
    verify_issued,
    witness,
    write_receipt,
)
from tests.conftest import ORG, cli

PAYLOAD = pa.table({"segment": ["*"], "rating": [1.0]})
BUDGET = PrivacyBudget(rho_per_week=0.25, rho_lifetime=2.5)


@dataclass
class World:
    """Three homes on disk (keys, cards, contacts), a provider ledger, a campaign's seen heads."""

    root: Path
    ids: dict[str, Identity] = field(default_factory=dict)
    heads: list[ReleaseHead] = field(default_factory=list)
    week: int = 0

    def home(self, role: str) -> PartyHome:
        return PartyHome(self.root / role)

    @property
    def store(self) -> LedgerStore:
        p = self.home("provider")
        return LedgerStore(p.ledger, ledger_key(load_secret(p.secret_path)))

    def contacts(self, role: str) -> dict[str, PartyCard]:
        return dict(self.home(role).trusted())

    def release(self, rho: float | None = 0.1, *, exchange: str | None = None) -> Receipt:
        """One release through the store; the provider's receipt for it."""
        self.week += 1
        store = self.store
        x = exchange or f"x{self.week}"
        first = date.fromordinal(date(2026, 9, 7).toordinal() + 7 * self.week)
        sets = store.segment_sets(pa.table({"household_id": ["h1", "h2"], "segment": ["*", "*"]}))
        request = ReleaseRequest.build(
            org=ORG,
            campaign=self.ids["campaign"].fingerprint,
            exchange=x,
            message_id=f"{self.week:032x}",
            grid=f"{self.week:064x}",  # a week's grid: its dates differ
            first_day=first,
            last_day=date.fromordinal(first.toordinal() + 6),
            rho=rho,
            k=5,
            min_universe=1,
            sets=sets,
        )
        receipts: list[Receipt] = []

        def deliver(ledger: Ledger, entry: LedgerEntry) -> None:
            head = release_head(ledger, entry, provider=self.ids["provider"].fingerprint)
            receipts.append(issue_receipt(head, self.ids["provider"]))

        with store.locked() as book:
            pending = store.prepare(book, request, sets, budget=BUDGET, compute=lambda: PAYLOAD)
            store.commit(book, pending, deliver=deliver)
        return receipts[0]

    def campaign_reads(self, receipt: Receipt) -> Receipt:
        """The campaign's check, then its countersignature for the matcher."""
        c = self.home("campaign")
        self.heads = accept_receipt(
            receipt,
            self.heads,
            c.trusted(),
            me=self.ids["campaign"].fingerprint,
            exchange=receipt.head.exchange,
            provider=self.ids["provider"].fingerprint,
        )
        return countersign(receipt, self.ids["campaign"], self.home("matcher").card())

    def matcher_witnesses(self, receipt: Receipt) -> bool:
        m = self.home("matcher")
        verify_countersigned(receipt, m.trusted(), me=self.ids["matcher"].fingerprint)
        return witness(m.witness_log, receipt)

    def full_release(self, rho: float | None = 0.1) -> Receipt:
        countersigned = self.campaign_reads(self.release(rho))
        self.matcher_witnesses(countersigned)
        return countersigned

    def rewind_last(self) -> None:
        """Drop the last ledger line and rewrite head.json from the hashes still in the file."""
        ledger = self.home("provider").ledger
        lines = (ledger / "releases.jsonl").read_text().splitlines(keepends=True)[:-1]
        (ledger / "releases.jsonl").write_text("".join(lines))
        last = json.loads(lines[-1]) if lines else {"seq": 0, "hash": GENESIS}
        (ledger / "head.json").write_text(json.dumps({"seq": last["seq"], "hash": last["hash"]}))

    def audit(self) -> tuple[bool, str]:
        homes = {role: self.home(role) for role in ("campaign", "matcher", "provider")}
        result = audit_ledger(Exchange(homes, [], []), self.root)
        return result.passed, result.detail


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("receipt-homes")
    ids = {
        role: generate_identity(f"r-{role}", role) for role in ("campaign", "matcher", "provider")
    }
    for role, identity in ids.items():
        home = PartyHome(root / role)
        home.create_dirs()
        save_identity(home.keys, identity)
        write_card(home.card_path, identity.card())
        for other, theirs in ids.items():
            if other != role:
                write_card(home.contacts / f"{other}-{theirs.fingerprint}.json", theirs.card())
    save_secret(PartyHome(root / "provider").secret_path)
    return root


@pytest.fixture
def world(homes: Path, tmp_path: Path) -> Iterator[World]:
    root = tmp_path / "w"
    shutil.copytree(homes, root)
    w = World(root)
    w.ids = {role: load_identity(w.home(role).keys) for role in ("campaign", "matcher", "provider")}
    yield w


# --------------------------------------------------------------------------- signatures


def test_a_receipt_round_trips_and_any_change_breaks_its_signatures(world: World) -> None:
    receipt = world.release()
    assert receipt.head.seq == 1 and receipt.head.prev == GENESIS
    assert receipt.head.rho_spent == pytest.approx(0.1)
    path = world.root / "r.json"
    write_receipt(path, receipt)
    assert read_receipt(path) == receipt
    verify_issued(receipt, world.contacts("campaign"))
    forged = replace(receipt, head=replace(receipt.head, rho_spent=0.0, rho=0.0))
    with pytest.raises(MessageError, match="trusted provider"):
        verify_issued(forged, world.contacts("campaign"))
    # Signed by the campaign's key in the provider's name: refused.
    by_campaign = issue_receipt(receipt.head, world.ids["campaign"])
    with pytest.raises(MessageError):
        verify_issued(by_campaign, world.contacts("campaign"))
    countersigned = world.campaign_reads(receipt)
    assert read_receipt(_written(path, countersigned)) == countersigned
    matcher = world.ids["matcher"].fingerprint
    verify_countersigned(countersigned, world.contacts("matcher"), me=matcher)
    with pytest.raises(MessageError, match="countersigned"):
        verify_countersigned(receipt, world.contacts("matcher"), me=matcher)
    with pytest.raises(MessageError, match="countersigned"):
        verify_countersigned(countersigned, world.contacts("matcher"), me="0" * 32)
    swapped = replace(countersigned, head=replace(countersigned.head, exchange="other"))
    with pytest.raises(MessageError):
        verify_countersigned(swapped, world.contacts("matcher"), me=matcher)
    for bad in ("", "{}", '{"format": 1}', "[" * 10_000, path.read_text().replace("1", "x", 1)):
        with pytest.raises(MessageError):
            Receipt.from_json(bad)
    with pytest.raises(MessageError, match="no release receipt"):
        read_receipt(world.root / "missing.json")


def _written(path: Path, receipt: Receipt) -> Path:
    write_receipt(path, receipt)
    return path


def test_a_receipt_for_another_release_is_refused(world: World) -> None:
    receipt = world.release()
    with pytest.raises(MessageError, match="another release"):
        accept_receipt(
            receipt,
            [],
            world.home("campaign").trusted(),
            me=world.ids["campaign"].fingerprint,
            exchange="not-this-one",
            provider=world.ids["provider"].fingerprint,
        )


# --------------------------------------------------------------------------- the rewind attacks


def test_a_clean_history_passes_and_replays_change_nothing(world: World) -> None:
    first = world.full_release(0.2)
    world.full_release(None)  # an exact release spends nothing and is witnessed too
    third = world.full_release(0.1)
    assert [h.seq for h in world.heads] == [1, 2, 3]
    assert third.head.rho_spent == pytest.approx(0.3) and third.head.prev == world.heads[1].hash
    # Reading an earlier release again (a second `campaign report`) is not a rewind.
    assert not check_extends(world.heads, first.head)
    assert not world.matcher_witnesses(first)
    assert len(load_witnessed(world.home("matcher").witness_log)) == 3
    passed, detail = world.audit()
    assert passed, detail
    assert "3 release(s), 3 witnessed" in detail and f"{ORG}: rho 0.3" in detail


def test_a_rewound_ledger_is_caught_by_the_campaign_the_witness_and_the_audit(
    world: World,
) -> None:
    for _ in range(3):
        world.full_release(0.25)
    world.rewind_last()
    assert len(world.store.load().entries) == 2  # the chain alone does not see it
    passed, detail = world.audit()
    assert not passed and "behind 1 witnessed receipt" in detail
    again = world.release(0.25)  # the rho the rewind "freed"
    assert again.head.seq == 3 and again.head.hash != world.heads[2].hash
    with pytest.raises(StateError, match="ledger was rewound") as err:
        world.campaign_reads(again)
    assert len(str(err.value).splitlines()) == 1
    # A colluding campaign countersigns it anyway: the witness refuses it.
    collusion = countersign(again, world.ids["campaign"], world.home("matcher").card())
    with pytest.raises(StateError, match="ledger was rewound"):
        world.matcher_witnesses(collusion)
    assert not world.audit()[0]


def test_a_deleted_ledger_is_caught(world: World) -> None:
    world.full_release(0.25)
    world.full_release(0.25)
    ledger = world.home("provider").ledger
    shutil.rmtree(ledger)
    LedgerStore.initialise(ledger)
    passed, detail = world.audit()
    assert not passed and "missing" in detail
    fresh = world.release(0.25)
    assert fresh.head.seq == 1
    with pytest.raises(StateError, match="ledger was rewound"):
        world.campaign_reads(fresh)
    passed, detail = world.audit()
    assert not passed and "behind 2 witnessed receipt" in detail


def test_spent_rho_may_not_go_down_across_a_gap(world: World) -> None:
    receipts = [world.release(0.2) for _ in range(3)]
    seen = [receipts[0].head]
    # Releases may be opened out of order, or go to another card of the org.
    assert check_extends(seen, receipts[2].head)
    seen.append(receipts[2].head)
    assert check_extends(seen, receipts[1].head)
    forged = replace(receipts[2].head, seq=5, prev="f" * 64, rho_spent=0.3)
    with pytest.raises(StateError, match="less privacy budget spent"):
        check_extends([*seen, receipts[1].head], forged)
    with pytest.raises(StateError, match="does not start"):
        check_extends([], replace(receipts[0].head, prev="f" * 64))


def test_an_unwitnessed_release_fails_the_audit(world: World) -> None:
    world.full_release(0.1)
    world.campaign_reads(world.release(0.1))  # never deposited with the matcher
    passed, detail = world.audit()
    assert not passed and "1 release(s) never witnessed" in detail


# --------------------------------------------------------------------------- organisations


def test_org_registry(tmp_path: Path) -> None:
    path = tmp_path / "orgs.json"
    registry = load_orgs(path).register("a" * 32, "acme").register("b" * 32, "acme")
    save_orgs(path, registry)
    assert load_orgs(path) == registry
    assert registry.members("acme") == ["a" * 32, "b" * 32]
    assert registry.org_of("b" * 32, home=tmp_path) == "acme"
    assert registry.register("a" * 32, "acme") == registry
    with pytest.raises(StateError, match="another organisation"):
        registry.register("a" * 32, "other")
    with pytest.raises(StateError, match="narwhal provider trust"):
        registry.org_of("c" * 32, home=tmp_path)
    for bad in ("", "a b", "../x", "x" * 65):
        with pytest.raises(InputError):
            OrgRegistry({}).register("c" * 32, bad)
    path.write_text('{"cards": {"x": "../bad"}}')
    with pytest.raises(StateError, match="malformed"):
        load_orgs(path)


def test_trust_org_and_witness_cli(homes: Path, world: World) -> None:
    p, c, m = (world.home(r).root for r in ("provider", "campaign", "matcher"))
    card = c / "card.json"
    code, out, _ = cli("provider", "trust", "--home", p, card, "--org", ORG)
    assert code == 0 and ORG in out
    assert (
        load_orgs(world.home("provider").orgs_path).org_of(
            world.ids["campaign"].fingerprint, home=p
        )
        == ORG
    )
    code, _, err = cli("matcher", "trust", "--home", m, card, "--org", ORG)
    assert code == 2 and "provider only" in err
    code, _, err = cli("provider", "trust", "--home", p, card, "--org", "not ok")
    assert code == 2 and "organisation id" in err and "not ok" not in err
    receipt_path = world.root / "receipt.json"
    write_receipt(receipt_path, world.campaign_reads(world.release(0.1)))
    code, out, err = cli("matcher", "witness", "--home", m, "--receipt", receipt_path)
    assert code == 0, err
    assert "witnessed: release 1" in out
    code, out, _ = cli("matcher", "witness", "--home", m, "--receipt", receipt_path)
    assert code == 0 and "already witnessed" in out
    write_receipt(receipt_path, world.release(0.1))  # not countersigned
    code, _, err = cli("matcher", "witness", "--home", m, "--receipt", receipt_path)
    assert code == 2 and len(err.splitlines()) == 1 and "countersigned" in err
