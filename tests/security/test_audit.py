"""The audit on a real small exchange: clean it passes, each injected leak fails its check.

The clean exchange is the session's (``tests/conftest.py``: synth, three homes,
tokenize, link, aggregate, plan, report, each through the real CLI). Each
leak test takes its own copy (``exchange_copy``), re-seals one
message with a leak a careless or malicious sender could emit (bypassing
``seal``'s allow-list through the envelope's private ``_seal_raw``, as
tests/test_envelope.py does), and asserts that ``scripts/audit.py`` exits 1
and that exactly the check meant for that leak is the one that failed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from linkage.audit import CheckResult
from linkage.io import PartyHome
from linkage.protocol import (
    FORMAT_VERSION,
    Manifest,
    encode_payload,
    open_message,
)
from linkage.protocol.envelope.container import _seal_raw
from parties.audit import audit_directory
from tests.conftest import EXCHANGE_ID, ROLES, Exchange

pytestmark = pytest.mark.security

X = EXCHANGE_ID


def _load_script() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "scripts" / "audit.py"
    spec = importlib.util.spec_from_file_location("audit_script", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


AUDIT_SCRIPT = _load_script()


@dataclass
class Demo:
    root: Path

    def home(self, role: str) -> PartyHome:
        return PartyHome(self.root / role)

    @property
    def world(self) -> Path:
        return self.root / "world"

    def inbox(self, role: str, kind: str) -> Path:
        return self.home(role).inbox_message(X, kind)


@pytest.fixture(scope="module")
def clean(exchange: Exchange) -> Demo:
    """The session's completed exchange (read-only)."""
    return Demo(exchange.root)


@pytest.fixture(autouse=True)
def small_attack_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash 300 public voters instead of 2,000: the same attack, a fraction of the time."""
    monkeypatch.setattr("linkage.audit.attack_checks.ATTACK_SAMPLE", 300)


@pytest.fixture
def leaky(exchange_copy: Exchange) -> Demo:
    """This test's own copy of the exchange, to inject a leak into."""
    return Demo(exchange_copy.root)


def reseal(d: Demo, holder: str, kind: str, change: Callable[[pa.Table], pa.Table]) -> None:
    """Rewrite the message ``holder`` received, with ``change`` applied, signed by its sender."""
    path = d.inbox(holder, kind)
    home = d.home(holder)
    opened = open_message(
        path.read_bytes(), me=home.identity(), contacts=home.trusted(), expected_kind=kind,
        expected_exchange=X,
    )  # fmt: skip
    sender = next(d.home(r) for r in ROLES if d.home(r).card() == opened.sender)
    table = change(opened.table)
    payload = encode_payload(table)
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        kind=kind,
        exchange_id=X,
        sender=opened.sender.fingerprint,
        recipient=home.card().fingerprint,
        rows=table.num_rows,
        columns=tuple(table.column_names),
        payload_sha256=hashlib.sha256(payload).hexdigest(),
        created_at=datetime.now(UTC),
        message_id=os.urandom(16).hex(),
    )
    path.write_bytes(
        _seal_raw(
            payload,
            manifest,
            sender=sender.identity(),
            recipient=home.card(),
            ephemeral=X25519PrivateKey.generate(),
            nonce=os.urandom(12),
        )
    )


def voters_in_payload_order(d: Demo, table: pa.Table) -> pa.Table:
    """The voter rows behind a campaign-tokens payload (the auditor's view of the rid map).

    A dummy row (its rid is in no map) gets a voter row picked by its random
    rid: the tests inject leaks, and a leaked dummy is a leak all the same.
    """
    rids = pq.read_table(d.home("campaign").state(X) / "rids.parquet")
    voter_of = dict(zip(rids["rid"].to_pylist(), rids["voter_id"].to_pylist(), strict=True))
    voters = pq.read_table(d.world / "campaign" / "voters.parquet")
    row_of = {v: i for i, v in enumerate(voters["voter_id"].to_pylist())}
    rows = [
        row_of[voter_of[r]] if r in voter_of else int(r[1:9], 16) % voters.num_rows
        for r in table["rid"].to_pylist()
    ]
    return voters.take(rows)


def failed(results: list[CheckResult]) -> dict[str, str]:
    return {r.name: r.detail for r in results if not r.passed}


@pytest.fixture(scope="module")
def clean_results(clean: Demo) -> list[CheckResult]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("linkage.audit.attack_checks.ATTACK_SAMPLE", 300)
        return audit_directory(clean.root)


@pytest.fixture(scope="module")
def baseline(clean_results: list[CheckResult]) -> set[str]:
    """Checks the clean exchange already fails (should be none; see the first test)."""
    return set(failed(clean_results))


def run_script(d: Demo, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, str]]:
    """Run scripts/audit.py on ``d``: its exit code and the checks its output marks FAIL."""
    capsys.readouterr()
    code = AUDIT_SCRIPT.main([str(d.root)])
    assert isinstance(code, int)
    fails = {}
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("FAIL "):
            name, _, detail = line[5:].partition(" ")
            fails[name] = detail.strip()
    return code, fails


def leaks(
    d: Demo, baseline: set[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, str]]:
    """Exit code, and the checks failing on ``d`` but not on the clean exchange."""
    code, fails = run_script(d, capsys)
    return code, {k: v for k, v in fails.items() if k not in baseline}


# --- the clean exchange ---------------------------------------------------------------


def test_clean_exchange_passes_every_check(clean_results: list[CheckResult]) -> None:
    assert failed(clean_results) == {}
    by_name = {r.name: r.detail for r in clean_results}
    for check in ("dictionary", "clk-frequency", "thresholds", "differencing", "pii-scan"):
        assert check in by_name
    assert "0 hits; with the linkage key:" in by_name["dictionary"]
    assert "re-identifies" in by_name["clk-frequency"] or "n/a" in by_name["clk-frequency"]
    # The attack is real: with the key it re-identifies the sampled voters' tokens.
    with_key = by_name["dictionary"].rsplit("with the linkage key: ", 1)[1].split()[0]
    assert int(with_key.replace(",", "")) >= 300


def test_script_prints_one_line_per_check_and_exits_0(
    clean: Demo, clean_results: list[CheckResult], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert AUDIT_SCRIPT.main([str(clean.root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    checks = [line for line in lines if line.startswith(("PASS ", "FAIL ", "SKIP "))]
    assert [line.split()[1] for line in checks] == [r.name for r in clean_results]
    assert not any(line.startswith("FAIL ") for line in checks)
    # One exchange: the checks of a post-buy and of a second week have nothing to check.
    skipped = sum(line.startswith("SKIP ") for line in checks)
    assert {line.split()[1] for line in checks if line.startswith("SKIP ")} <= {
        "delivery",
        "panel",
        "week-linking",
    }
    done = f"{len(checks) - skipped}/{len(checks)} checks passed"
    assert lines[-1] == done + (f", {skipped} skipped (nothing to check)" if skipped else "")


# --- injected leaks -------------------------------------------------------------------


def test_pii_column_is_flagged(
    leaky: Demo, baseline: set[str], capsys: pytest.CaptureFixture[str]
) -> None:
    def add_names(t: pa.Table) -> pa.Table:
        return t.append_column("first_name", voters_in_payload_order(leaky, t)["first_name"])

    reseal(leaky, "matcher", "campaign-tokens", add_names)
    code, bad = leaks(leaky, baseline, capsys)
    assert set(bad) == {"allow-lists", "pii-scan"}
    assert "'first_name'" in bad["allow-lists"]
    assert "campaign-tokens" in bad["pii-scan"]
    assert code == 1


def test_raw_household_id_as_hp_is_flagged(
    leaky: Demo, baseline: set[str], capsys: pytest.CaptureFixture[str]
) -> None:
    subs = pq.read_table(leaky.world / "provider" / "subscribers.parquet")

    def raw_ids(t: pa.Table) -> pa.Table:
        ids = subs["household_id"].to_pylist()
        ids = (ids * (t.num_rows // len(ids) + 1))[: t.num_rows]  # dummy rows too
        return t.set_column(0, "hp", pa.array(ids, pa.string()))

    reseal(leaky, "matcher", "provider-tokens", raw_ids)
    code, bad = leaks(leaky, baseline, capsys)
    assert "pii-scan" in bad
    assert "column 'hp'" in bad["pii-scan"]
    assert "allow-lists" not in bad  # hp is an allowed string: only the scan can see this
    assert code == 1


@pytest.mark.parametrize(
    "encode",
    [
        lambda first, last: f"{first} {last}".lower(),
        lambda first, last: f"{last}|{first}".upper(),
    ],
    ids=["first-last-lower", "last-first-upper"],
)
def test_unkeyed_sha256_of_names_is_flagged(
    leaky: Demo,
    baseline: set[str],
    capsys: pytest.CaptureFixture[str],
    encode: Callable[[str, str], str],
) -> None:
    def add_hash(t: pa.Table) -> pa.Table:
        v = voters_in_payload_order(leaky, t)
        digests = [
            hashlib.sha256(encode(f, s).encode()).digest()
            for f, s in zip(v["first_name"].to_pylist(), v["last_name"].to_pylist(), strict=True)
        ]
        return t.append_column("mk_name", pa.array(digests, pa.binary(32)))

    reseal(leaky, "matcher", "campaign-tokens", add_hash)
    code, bad = leaks(leaky, baseline, capsys)
    assert set(bad) == {"dictionary"}  # binary(32) passes the allow-list and the plain PII scan
    assert "column 'mk_name'" in bad["dictionary"]
    assert code == 1
