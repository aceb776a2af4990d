"""Privacy audit of an exchange directory (a demo dir holding the three party homes).

The auditor is the one actor allowed to look at every home and at the world's
raw files: it checks that nothing that left a party breaks the rules of
DESIGN §5. It prints one PASS/FAIL line per check and returns 1 on any failure.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from linkage import files
from linkage.aggregation import compute_viewership
from linkage.engine import DuckDBEngine
from linkage.envelope import OpenedMessage, open_message, read_manifest, validate_payload
from linkage.errors import NarwhalError
from linkage.keys import PartyCard, agree_linkage_key, derive_linkage_key, pseudonymize
from linkage.matchkeys import DEFAULT_RECIPES
from parties.common import Home, out

#: kind -> (sender role, recipient role)
ROUTES: dict[str, tuple[str, str]] = {
    "campaign-tokens": ("campaign", "matcher"),
    "provider-tokens": ("provider", "matcher"),
    "assignments": ("matcher", "provider"),
    "match-report": ("matcher", "campaign"),
    "viewership": ("provider", "campaign"),
}

PII_COLUMNS = {
    "voters": ("voter_id", "first_name", "last_name", "address", "email", "phone"),
    "subscribers": (
        "household_id",
        "account_number",
        "first_name",
        "last_name",
        "address",
        "email",
        "phone",
    ),
}


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str


@dataclass
class Exchange:
    root: Path
    homes: dict[str, Home]
    messages: list[tuple[Path, str, OpenedMessage]]  # path, holder role, opened
    errors: list[str]


def _load(root: Path) -> Exchange:
    homes = {r: Home(root / r) for r in ("campaign", "matcher", "provider")}
    messages: list[tuple[Path, str, OpenedMessage]] = []
    errors: list[str] = []
    for role, home in homes.items():
        if not home.inbox.is_dir():
            errors.append(f"{role}: no inbox")
            continue
        me = home.identity()
        contacts = home.trusted()
        for path in sorted(home.inbox.glob("*.nwl")):
            try:
                data = files.read_message_bytes(path)
                manifest = read_manifest(data, file=str(path))
                opened = open_message(
                    data,
                    me=me,
                    contacts=contacts,
                    expected_kind=manifest.kind,
                    expected_exchange=manifest.exchange_id,
                    file=str(path),
                )
                messages.append((path, role, opened))
            except NarwhalError as err:
                errors.append(str(err))
    return Exchange(root, homes, messages, errors)


def check_signatures(ex: Exchange) -> CheckResult:
    ok = not ex.errors and len(ex.messages) > 0
    detail = f"{len(ex.messages)} messages verified and decrypted"
    if ex.errors:
        detail = f"{len(ex.errors)} rejected: {ex.errors[0]}"
    return CheckResult("signatures", ok, detail)


def check_recipients(ex: Exchange) -> CheckResult:
    bad: list[str] = []
    for path, holder, opened in ex.messages:
        kind = opened.manifest.kind
        sender_role, recipient_role = ROUTES.get(kind, ("?", "?"))
        own = ex.homes[holder].card()
        if holder != recipient_role or opened.manifest.recipient != own.fingerprint:
            bad.append(f"{path.name} held by {holder}")
        if opened.sender.role != sender_role:
            bad.append(f"{path.name} sent by a {opened.sender.role}")
    return CheckResult(
        "recipients", not bad, "every message routed as DESIGN §3" if not bad else "; ".join(bad)
    )


def check_allow_lists(ex: Exchange) -> CheckResult:
    bad: list[str] = []
    for path, _, opened in ex.messages:
        try:
            validate_payload(opened.manifest.kind, opened.table, file=str(path))
        except NarwhalError as err:
            bad.append(str(err))
    return CheckResult(
        "allow-lists",
        not bad,
        f"{sum(m[2].table.num_columns for m in ex.messages)} columns within allow-lists"
        if not bad
        else bad[0],
    )


def _pii_values(world: Path, public: set[str]) -> tuple[set[str], set[bytes]]:
    """Lower-cased PII strings, and unkeyed digests of them (SHA-256, MD5, SHA-1)."""
    strings: set[str] = set()
    for name, cols in PII_COLUMNS.items():
        path = world / ("campaign" if name == "voters" else "provider") / f"{name}.parquet"
        table = pq.read_table(path, columns=[c for c in cols])
        for col in cols:
            for v in pc.unique(table[col]).to_pylist():
                if isinstance(v, str) and len(v.strip()) >= 3:
                    strings.add(v.strip().lower())
        if "phone" in cols:
            for v in pc.unique(table["phone"]).to_pylist():
                if isinstance(v, str):
                    digits = "".join(ch for ch in v if ch.isdigit())
                    if len(digits) >= 10:
                        strings.add(digits[-10:])
    strings -= public
    digests: set[bytes] = set()
    for s in strings:
        raw = s.encode()
        digests.add(hashlib.sha256(raw).digest())
        digests.add(hashlib.md5(raw, usedforsecurity=False).digest())
        digests.add(hashlib.sha1(raw, usedforsecurity=False).digest())
    return strings, digests


def _cells(table: pa.Table) -> Iterable[tuple[str, object]]:
    for col in table.column_names:
        arr = table[col]
        if pa.types.is_list(arr.type):
            arr = pc.list_flatten(arr)
        for v in pc.unique(arr).to_pylist():
            if v is not None:
                yield col, v


def check_pii(ex: Exchange, world: Path) -> CheckResult:
    public = {c.lower() for c in _public_strings(world)}
    strings, digests = _pii_values(world, public)
    hits: list[str] = []
    scanned = 0
    for path, _, opened in ex.messages:
        for col, v in _cells(opened.table):
            scanned += 1
            if isinstance(v, str):
                low = v.strip().lower()
                digits = "".join(ch for ch in low if ch.isdigit())
                if low in strings or (len(digits) >= 10 and digits[-10:] in strings):
                    hits.append(f"{path.name} column '{col}'")
            elif isinstance(v, bytes) and (v in digests or v[:32] in digests):
                hits.append(f"{path.name} column '{col}' (unkeyed digest)")
    uniq = sorted(set(hits))
    detail = (
        f"{scanned:,} distinct outbound values scanned against {len(strings):,} PII values "
        "and their unkeyed digests: 0 hits"
        if not uniq
        else f"{len(hits)} PII hit(s): {', '.join(uniq[:5])}"
    )
    return CheckResult("pii-scan", not uniq, detail)


def _public_strings(world: Path) -> set[str]:
    """Values that are public by design (channel codes and names, dayparts)."""
    path = world / "provider" / "channels.csv"
    vals: set[str] = set()
    if path.exists():
        table = files.read_input_table(path, required=("channel",))
        for col in table.column_names:
            vals.update(str(v) for v in table[col].to_pylist() if v is not None)
    return vals


def check_key_separation(ex: Exchange) -> CheckResult:
    c, m, p = ex.homes["campaign"], ex.homes["matcher"], ex.homes["provider"]
    exchanges = {opened.manifest.exchange_id for _, _, opened in ex.messages}
    secrets_: list[bytes] = []
    fingerprints: set[str] = set()
    for x in exchanges:
        key = agree_linkage_key(c.identity(), p.card(), x)
        fingerprints.add(key.fingerprint())
        secrets_.extend(key.subkey(f"match:{r.name}") for r in DEFAULT_RECIPES)
    provider_secret = files.load_secret(p.keys / "secret.key")
    secrets_.append(provider_secret)
    needles = [s for s in secrets_] + [s.hex().encode() for s in secrets_]
    found: list[str] = []
    for path in sorted(m.root.rglob("*")):
        if path.is_file():
            blob = path.read_bytes()
            if any(n in blob for n in needles):
                found.append(str(path.relative_to(m.root)))
    # The matcher's own key agreement with either party cannot yield the linkage key.
    mine = m.identity()
    for x in exchanges:
        for other in (c.card(), p.card()):
            k = derive_linkage_key(
                mine.exchange_key, other.exchange_public, x, own_public=mine.exchange_public
            )
            if k.fingerprint() in fingerprints:
                found.append("derivable linkage key")
    detail = (
        f"no linkage key, sub-key or pseudonym secret in {sum(1 for _ in m.root.rglob('*'))} "
        "matcher files"
        if not found
        else f"key material found in matcher home: {', '.join(found[:3])}"
    )
    return CheckResult("key-separation", not found, detail)


def check_thresholds(ex: Exchange, world: Path) -> CheckResult:
    ledger = ex.homes["provider"].ledger / "releases.jsonl"
    if not ledger.exists():
        return CheckResult("thresholds", False, "provider ledger missing")
    records = [json.loads(line) for line in ledger.read_text().splitlines() if line.strip()]
    bad = 0
    checked = 0
    p = ex.homes["provider"]
    secret = files.load_secret(p.keys / "secret.key")
    viewing = pq.read_table(world / "provider" / "viewing.parquet")
    hids = pc.unique(viewing["household_id"]).to_pylist()
    for path, _, opened in ex.messages:
        kind = opened.manifest.kind
        if kind == "match-report":
            t = opened.table.filter(pc.invert(opened.table["suppressed"]))
            k_rep = 1
            for r in records:
                k_rep = max(k_rep, int(r.get("k", 1)))
            checked += t.num_rows
            small = pc.less(t["matched_voters"], k_rep)
            bad += int(pc.sum(small).as_py() or 0)
        if kind != "viewership":
            continue
        x = opened.manifest.exchange_id
        rec = [r for r in records if r.get("exchange") == x]
        if not rec:
            return CheckResult("thresholds", False, f"{path.name}: no ledger entry")
        k = int(rec[-1]["k"])
        assigned_msg = next(
            (
                o
                for _, h, o in ex.messages
                if h == "provider"
                and o.manifest.kind == "assignments"
                and o.manifest.exchange_id == x
            ),
            None,
        )
        if assigned_msg is None:
            return CheckResult("thresholds", False, "assignments for the release not found")
        back = dict(zip(pseudonymize(secret, x, hids), hids, strict=True))
        household = [back.get(h, "unseen:" + h) for h in assigned_msg.table["hp"].to_pylist()]
        assigned = pa.table(
            {
                "household_id": pa.array(household, pa.string()),
                "segment": assigned_msg.table["segment"],
            }
        )
        channels = sorted(set(opened.table["channel"].to_pylist()))
        with DuckDBEngine() as engine:
            truth = compute_viewership(assigned, viewing, channels=channels, engine=engine)
            res = engine.query(
                """
                SELECT COUNT(*) AS released,
                       SUM(CASE WHEN t.contributors < ? THEN 1 ELSE 0 END) AS under_k
                FROM r JOIN t
                  ON r.grain = t.grain AND r.segment = t.segment AND r.channel = t.channel
                 AND r.day_type = t.day_type AND r.daypart IS NOT DISTINCT FROM t.daypart
                 AND r.quarter_hour IS NOT DISTINCT FROM t.quarter_hour
                WHERE NOT r.suppressed
                """.replace("?", str(k)),
                {"r": opened.table, "t": truth},
            ).to_pylist()[0]
        checked += int(res["released"] or 0)
        bad += int(res["under_k"] or 0)
    return CheckResult(
        "thresholds",
        bad == 0 and checked > 0,
        f"{checked:,} released figures, {bad} below k" if checked else "nothing released",
    )


CHECKS: tuple[Callable[[Exchange, Path], CheckResult], ...] = (
    lambda ex, w: check_signatures(ex),
    lambda ex, w: check_recipients(ex),
    lambda ex, w: check_allow_lists(ex),
    check_pii,
    lambda ex, w: check_key_separation(ex),
    check_thresholds,
)


def run_audit(root: Path, world: Path | None = None) -> int:
    """Run every check; print one line each; return the exit code (0 all pass, 1 any fail)."""
    world = world or root / "world"
    try:
        ex = _load(root)
    except NarwhalError as err:
        out.print(f"FAIL load: {err}")
        return 1
    failed = 0
    for check in CHECKS:
        try:
            result = check(ex, world)
        except NarwhalError as err:
            result = CheckResult(getattr(check, "__name__", "check"), False, str(err))
        mark = "[green]PASS[/green]" if result.passed else "[red]FAIL[/red]"
        out.print(f"{mark} {result.name:<15} {result.detail}")
        failed += not result.passed
    out.print(f"{len(CHECKS) - failed}/{len(CHECKS)} checks passed")
    return 1 if failed else 0


__all__ = ["CheckResult", "PartyCard", "run_audit"]
