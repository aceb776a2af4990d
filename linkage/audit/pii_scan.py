"""The PII scan: no raw identifier, nor an unkeyed digest of one, in any outbound payload.

The auditor reads the world's raw voter and subscriber files, collects every
identifying string (lower-cased; phones as their last ten digits) and its
SHA-256, MD5 and SHA-1 digests, and looks for each in every distinct value of
every payload column. Values that are public by design (channel codes and
names, dayparts) are taken out first, so a channel name in a viewership table
is not a finding. A hit names the message and column, never the value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from linkage.audit.exchange import CheckResult, Exchange
from linkage.io import read_input_table

PII_COLUMNS: dict[str, tuple[str, ...]] = {
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
"""World file (``voters``: campaign/, ``subscribers``: provider/) -> its identifying columns."""


def _pii_values(world: Path, public: set[str]) -> tuple[set[str], set[bytes]]:
    """Lower-cased PII strings, and unkeyed digests of them (SHA-256, MD5, SHA-1)."""
    strings: set[str] = set()
    for name, cols in PII_COLUMNS.items():
        path = world / ("campaign" if name == "voters" else "provider") / f"{name}.parquet"
        table = pq.read_table(path, columns=list(cols))
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


_PHONE_CHARS = frozenset("0123456789 +-().")


def _phone_digits(value: str) -> str | None:
    """The last ten digits of a value written like a phone number, else None.

    Only phone-shaped strings count: a random hex reference that happens to
    end in ten digits matching someone's number is not a leak.
    """
    if not value or not set(value) <= _PHONE_CHARS:
        return None
    digits = "".join(ch for ch in value if ch.isdigit())
    return digits[-10:] if len(digits) >= 10 else None


def audit_pii(ex: Exchange, world: Path) -> CheckResult:
    """No raw identifier (or its unkeyed digest) in any outbound payload."""
    if not ex.messages:
        return CheckResult("pii-scan", True, "skipped: no outbound message to scan", skipped=True)
    public = {c.lower() for c in _public_strings(world)}
    strings, digests = _pii_values(world, public)
    hits: list[str] = []
    scanned = 0
    for path, _, opened in ex.messages:
        for col, v in _cells(opened.table):
            scanned += 1
            if isinstance(v, str):
                low = v.strip().lower()
                if low in strings or _phone_digits(low) in strings:
                    hits.append(f"{path.name} column '{col}'")
            elif isinstance(v, bytes) and (v in digests or v[:32] in digests):
                hits.append(f"{path.name} column '{col}' (unkeyed digest)")
    if scanned == 0 or not strings:
        why = "the messages hold no values" if scanned == 0 else "no PII values in the world"
        return CheckResult("pii-scan", True, f"skipped: {why}", skipped=True)
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
        table = read_input_table(path, required=("channel",))
        for col in table.column_names:
            vals.update(str(v) for v in table[col].to_pylist() if v is not None)
    return vals
