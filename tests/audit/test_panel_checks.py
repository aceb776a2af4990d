"""Tests for linkage.audit.panel_checks on hand-made homes: each check passes, skips and fails."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from linkage.audit import (
    audit_no_panel_ids,
    audit_panel,
    audit_retention_allow_list,
    audit_retention_charged,
    audit_retention_k,
    load_exchange,
)
from linkage.errors import MessageError
from linkage.io import PartyHome, load_identity, load_secret, write_message
from linkage.protocol import panel_household_ids, seal
from linkage.release import ENTRIES_FILE, PanelStore
from linkage.tables import RETENTION_SCHEMA

EXCHANGE = "w2"
WEEK = (date(2024, 3, 4), date(2024, 3, 10))
HOUSEHOLDS = [f"HH{i:03d}" for i in range(20)]


def roles(root: Path) -> dict[str, PartyHome]:
    return {role: PartyHome(root / role) for role in ("campaign", "matcher", "provider")}


def retention(k: int = 5, earlier: int = 60, rho: float = 0.01) -> pa.Table:
    return pa.table(
        {
            "segment": ["*", "C1"],
            "channel": ["c1", "c1"],
            "earlier_first_day": [WEEK[0]] * 2,
            "earlier_last_day": [WEEK[1]] * 2,
            "earlier_households": [earlier, None],
            "both_households": [40, None],
            "retention": [40 / earlier * 100, None],
            "retention_ci": [9.0, None],
            "suppressed": [False, True],
            "k": [k, k],
            "rho": [rho, rho],
        },
        schema=RETENTION_SCHEMA,
    )


def send(root: Path, kind: str, table: pa.Table, sender: str, recipient: str) -> None:
    home = roles(root)
    sealed = seal(
        table,
        kind=kind,
        exchange_id=EXCHANGE,
        sender=load_identity(home[sender].keys),
        recipient=home[recipient].card(),
    )
    write_message(home[recipient].inbox_message(EXCHANGE, kind), sealed)


def ledger(root: Path, *rhos: float, k: int = 5) -> None:
    lines = [json.dumps({"exchange": EXCHANGE, "rho": rho, "k": k}) for rho in rhos]
    (roles(root)["provider"].ledger / ENTRIES_FILE).write_text("\n".join(lines) + "\n")


def panel(root: Path) -> list[str]:
    provider = roles(root)["provider"]
    ids = panel_household_ids(load_secret(provider.secret_path), "p1", HOUSEHOLDS)
    PanelStore(provider.panel_dir("p1")).save_week(
        WEEK, pa.table({"panel_household": ids, "channel": ["c1"] * len(ids)})
    )
    return ids


def test_everything_skips_without_a_panel(homes: Path) -> None:
    results = audit_panel(load_exchange(roles(homes)))
    assert [r.status for r in results] == ["SKIP"] * 4


def test_a_clean_panel_passes(homes: Path) -> None:
    panel(homes)
    send(homes, "retention", retention(), "provider", "campaign")
    ledger(homes, 0.21)
    results = audit_panel(load_exchange(roles(homes)))
    assert [r.status for r in results] == ["PASS"] * 4, [r.detail for r in results]


def test_under_k_and_uncharged_retention_fail(homes: Path) -> None:
    send(homes, "retention", retention(k=5, earlier=60), "provider", "campaign")
    ledger(homes, 0.2, k=80)  # the release used k = 80: 60 households is under it
    ex = load_exchange(roles(homes))
    assert not audit_retention_k(ex).passed
    assert audit_retention_charged(ex).passed
    ledger(homes, 0.01)  # only the retention's own rho: the release is not covered
    assert not audit_retention_charged(load_exchange(roles(homes))).passed
    assert audit_retention_allow_list(ex).passed


def test_a_panel_id_in_any_message_fails(homes: Path) -> None:
    ids = panel(homes)
    # A dishonest provider slips a panel ID into the segment column of a retention message.
    leaked = retention().set_column(0, "segment", pa.array([ids[3], "C1"]))
    send(homes, "retention", leaked, "provider", "campaign")
    result = audit_no_panel_ids(load_exchange(roles(homes)))
    assert not result.passed and "segment" in result.detail
    assert ids[3] not in result.detail


def test_retention_cannot_be_sealed_to_the_matcher(homes: Path) -> None:
    # The envelope refuses it at sealing; the allow-list check is the auditor's second look.
    with pytest.raises(MessageError, match="from a provider to a campaign"):
        send(homes, "retention", retention(), "provider", "matcher")
