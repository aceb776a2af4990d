"""The post-buy checks: what the ``delivery`` and ``aired-schedule`` messages may hold.

A delivery (:mod:`linkage.release.delivery`) is a release of its own. The
auditor opens every one the campaign holds and fails the exchange when:

* a payload breaks the kind's allow-list (names and types; the
  ``allow-lists`` check reports the same for every kind);
* a row is **household-level**: a (market, segment) pair twice, rows that
  are not the full markets x segments grid, or a market the aired schedule
  did not name (a ``*`` spot names every market);
* an unsuppressed row rests on fewer than ``k`` households reached (its
  noisy ``reach_households``), or on a universe under the minimum, with the
  ``k`` and minimum universe the ledger recorded for it;
* its **charge is not in the ledger**: no verified ledger entry of the
  exchange was made from the aired schedule the provider holds, with a
  positive rho (an exact or unrecorded delivery).

An aired schedule holds spots, not people: it fails when it lists a spot
twice. The figure is the rows released and suppressed, and the rho charged.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from linkage.audit.exchange import CheckResult, Exchange, messages_of_kind, provider_secret
from linkage.errors import MessageError
from linkage.protocol import validate_payload
from linkage.release import LedgerEntry, LedgerStore, ledger_key
from linkage.tables import ALL_MARKETS

__all__ = ["audit_delivery"]


def _problems(payload: pa.Table, markets: set[str], entry: LedgerEntry) -> list[str]:
    """What is wrong with one delivery payload, in words (no value of any row)."""
    problems: list[str] = []
    try:
        validate_payload("delivery", payload)
    except MessageError as err:
        return [str(err)]
    keys = Counter(zip(payload["market"].to_pylist(), payload["segment"].to_pylist(), strict=True))
    segments, released = {s for _, s in keys}, {m for m, _ in keys}
    # A delivery is the full (market x segment) grid, each cell once: never a row per household.
    if max(keys.values()) > 1 or len(keys) != len(segments) * len(released):
        problems.append("household-level or repeated rows")
    if ALL_MARKETS not in markets and not released <= {*markets, ALL_MARKETS}:
        problems.append("a market the aired schedule does not name")
    shown = payload.filter(pc.invert(payload["suppressed"]))
    reach = shown["reach_households"].fill_null(0)
    if shown.num_rows and pc.min(reach).as_py() < entry.request.k:
        problems.append(f"an unsuppressed row reaches fewer than k={entry.request.k} households")
    if shown.num_rows and pc.min(shown["universe"]).as_py() < entry.request.min_universe:
        problems.append("an unsuppressed row has a universe under the minimum")
    return problems


def audit_delivery(ex: Exchange, world: Path) -> CheckResult:
    """Check every delivery the campaign holds (see module doc); skipped without one."""
    deliveries = messages_of_kind(ex, "delivery")
    schedules = messages_of_kind(ex, "aired-schedule")
    if not deliveries and not schedules:
        return CheckResult("delivery", True, "no post-buy delivery in the exchange", skipped=True)
    problems: list[str] = []
    aired: dict[str, set[str]] = {}
    markets: dict[str, set[str]] = {}
    for path, opened in schedules:
        x = opened.manifest.exchange_id
        aired.setdefault(x, set()).add(opened.manifest.message_id)
        table = opened.table
        spots = list(
            zip(*(table[c].to_pylist() for c in ("market", "channel", "date", "time")), strict=True)
        )
        if len(set(spots)) != len(spots):
            problems.append(f"{path.name}: a spot listed twice")
        markets.setdefault(x, set()).update(str(m) for m in table["market"].to_pylist())
    store = LedgerStore(ex.homes["provider"].ledger, ledger_key(provider_secret(ex)))
    ledger = store.load()
    rows = suppressed = 0
    rho = 0.0
    for path, opened in deliveries:
        x = opened.manifest.exchange_id
        entries = [
            e
            for e in ledger.entries
            if e.request.exchange == x
            and e.request.message_id in aired.get(x, set())
            and e.request.rho is not None
            and e.request.rho > 0
        ]
        if not entries:
            problems.append(f"{path.name}: no ledger entry charges it (rho) to the campaign")
            continue
        entry = entries[-1]
        rho += float(entry.request.rho or 0.0)
        found = _problems(opened.table, markets.get(x, set()), entry)
        problems += [f"{path.name}: {p}" for p in found]
        rows += opened.table.num_rows
        suppressed += int(pc.sum(opened.table["suppressed"]).as_py() or 0)
    if problems:
        return CheckResult("delivery", False, "; ".join(problems))
    return CheckResult(
        "delivery",
        True,
        f"{len(deliveries)} delivery release(s): {rows:,} rows, {suppressed:,} suppressed, "
        f"rho {rho:g} in the ledger; {len(schedules)} aired schedule(s)",
    )
