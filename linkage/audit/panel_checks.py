"""The panel checks: what a weekly panel's retention release and the panel store may not break.

* ``retention-allow-list`` -- every ``retention`` message goes from the
  provider to the campaign and holds only its allowed columns.
* ``retention-k`` -- every released (unsuppressed) retention cell rests on at
  least ``k`` households by its own noisy counts (``earlier`` and ``both``),
  ``k`` being the payload's and never below the release's.
* ``retention-charged`` -- each retention release has a ledger entry for its
  exchange whose rho covers the retention's rho and a positive release rho
  besides (the retention is charged with the release, one receipt).
* ``no-panel-ids`` -- no sealed message, of any kind and to any party,
  carries a panel household ID: every string value (and every 16-byte binary
  value, as hex) of every message is checked against every panel ID the
  provider's panel store holds.

Each check is skipped (not passed) when there is nothing of its kind.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from linkage.audit.exchange import CheckResult, Exchange, messages_of_kind
from linkage.errors import NarwhalError
from linkage.protocol import KIND_SPECS, validate_payload
from linkage.release import ENTRIES_FILE, PanelStore

__all__ = [
    "PANEL_CHECKS",
    "audit_no_panel_ids",
    "audit_panel",
    "audit_retention_allow_list",
    "audit_retention_charged",
    "audit_retention_k",
    "panel_ids",
]

_RHO_TOLERANCE = 1e-9


def audit_retention_allow_list(ex: Exchange) -> CheckResult:
    """Retention goes provider -> campaign and holds only its allowed columns."""
    found = messages_of_kind(ex, "retention")
    if not found:
        return CheckResult("retention-allow-list", True, "skipped: no retention", skipped=True)
    spec = KIND_SPECS["retention"]
    cards = {role: ex.homes[role].card().fingerprint for role in ("campaign", "provider")}
    bad: list[str] = []
    for path, opened in found:
        if (opened.manifest.sender, opened.manifest.recipient) != (
            cards[spec.sender_role],
            cards[spec.recipient_role],
        ):
            bad.append(f"{path.name}: not from the provider to the campaign")
            continue
        try:
            validate_payload("retention", opened.table, file=str(path))
        except NarwhalError as err:
            bad.append(str(err))
    return CheckResult(
        "retention-allow-list",
        not bad,
        f"{len(found)} retention message(s) within the allow-list"
        if not bad
        else f"{len(bad)} violation(s): {bad[0]}",
    )


def _ledger(ex: Exchange) -> list[dict[str, object]]:
    path = ex.homes["provider"].ledger / ENTRIES_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def audit_retention_k(ex: Exchange) -> CheckResult:
    """No released retention cell has a noisy count under k."""
    found = messages_of_kind(ex, "retention")
    if not found:
        return CheckResult("retention-k", True, "skipped: no retention", skipped=True)
    ledger = _ledger(ex)
    released = under = 0
    for _, opened in found:
        table = opened.table
        shown = table.filter(pc.invert(table["suppressed"]))
        ks = [
            _number(e.get("k")) for e in ledger if e.get("exchange") == opened.manifest.exchange_id
        ]
        floor = max([k for k in ks if k is not None], default=0.0)
        for row in shown.to_pylist():
            released += 1
            k = max(float(row["k"]), floor)
            counts = (row["earlier_households"], row["both_households"])
            if any(c is None or c < k for c in counts):
                under += 1
    return CheckResult(
        "retention-k",
        under == 0,
        f"{released} released retention cell(s), {under} under k",
    )


def audit_retention_charged(ex: Exchange) -> CheckResult:
    """Every retention release is charged to the ledger with its release."""
    found = messages_of_kind(ex, "retention")
    if not found:
        return CheckResult("retention-charged", True, "skipped: no retention", skipped=True)
    ledger = _ledger(ex)
    missing: list[str] = []
    for _, opened in found:
        rhos = set(opened.table["rho"].drop_null().to_pylist())
        charged = [
            _number(e.get("rho"))
            for e in ledger
            if e.get("exchange") == opened.manifest.exchange_id
        ]
        if len(rhos) != 1:
            missing.append(f"{opened.manifest.exchange_id}: no single rho stated")
            continue
        rho = float(rhos.pop())
        if rho <= 0 or not any(c is not None and c > rho + _RHO_TOLERANCE for c in charged):
            missing.append(f"{opened.manifest.exchange_id}: no ledger entry covers its rho")
    return CheckResult(
        "retention-charged",
        not missing,
        f"{len(found)} retention release(s) charged with their release"
        if not missing
        else f"{len(missing)} uncharged: {missing[0]}",
    )


def panel_ids(ex: Exchange) -> set[str]:
    """Every panel household ID the provider's panel store holds (every panel, every week)."""
    home = ex.homes["provider"]
    root = home.root / "panels"
    ids: set[str] = set()
    if not root.is_dir():
        return ids
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        store = PanelStore(home.panel_dir(directory.name))
        for week in store.weeks():
            ids.update(str(v) for v in store.load_week(week)["panel_household"].to_pylist())
    return ids


def _values(column: pa.ChunkedArray) -> set[str]:
    """A column's string values, list elements, and 16-byte binary values as hex."""
    kind = column.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _values(pa.chunked_array([pc.list_flatten(column.combine_chunks())]))
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return {str(v) for v in column.drop_null().to_pylist()}
    if pa.types.is_fixed_size_binary(kind) and kind.byte_width != 16:
        return set()
    if pa.types.is_binary(kind) or pa.types.is_fixed_size_binary(kind):
        return {bytes(v).hex() for v in column.drop_null().to_pylist() if len(v) == 16}
    return set()


def audit_no_panel_ids(ex: Exchange) -> CheckResult:
    """No sealed message carries a panel household ID."""
    ids = panel_ids(ex)
    if not ids:
        return CheckResult("no-panel-ids", True, "skipped: no panel store", skipped=True)
    leaks: list[str] = []
    columns = 0
    for path, _, opened in ex.messages:
        for name in opened.table.column_names:
            columns += 1
            if _values(opened.table[name]) & ids:
                leaks.append(f"{path.name}: column {name}")
    return CheckResult(
        "no-panel-ids",
        not leaks,
        f"{len(ids)} panel IDs, none in {len(ex.messages)} message(s) ({columns} columns)"
        if not leaks
        else f"panel IDs in {len(leaks)} column(s): {leaks[0]}",
    )


PanelCheck = Callable[[Exchange], CheckResult]

PANEL_CHECKS: Sequence[tuple[str, PanelCheck]] = (
    ("retention-allow-list", audit_retention_allow_list),
    ("retention-k", audit_retention_k),
    ("retention-charged", audit_retention_charged),
    ("no-panel-ids", audit_no_panel_ids),
)
"""The panel checks by name, in report order (each takes the loaded exchange)."""


def audit_panel(ex: Exchange, world: Path | None = None) -> list[CheckResult]:
    """Run every panel check; one that cannot read its input fails with the reason.

    Args:
        ex: The loaded exchange.
        world: Unused (the checks read only the homes); kept for the audit's check signature.
    """
    results: list[CheckResult] = []
    for name, check in PANEL_CHECKS:
        try:
            results.append(check(ex))
        except NarwhalError as err:
            results.append(CheckResult(name, False, str(err)))
        except (OSError, pa.ArrowException) as err:
            results.append(CheckResult(name, False, f"cannot read an input ({type(err).__name__})"))
    return results
