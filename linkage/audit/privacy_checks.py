"""The privacy-promise checks: no exact release, the rho each organisation spent, combinations.

* :func:`audit_exact_releases` fails on any release made without
  differential privacy (``provider aggregate --exact``): the privacy promise
  of issue 11 is that every released number is DP.
* :func:`audit_privacy_spent` states, per campaign organisation, the rho its
  releases spent and what that is as (epsilon, delta), and fails an
  organisation over the lifetime cap its own ledger entries record.
* :func:`audit_combinations` rebuilds every released segment's household set
  (as the provider did: links, segment codes and intensity tiers) and runs
  :func:`~linkage.audit.combinations.isolating_regions` on them. On an exact
  release an isolating region is a FAIL (its figures are exact sums of
  released figures, or close); under DP it is reported only, since DP
  bounds what any combination reveals to the rho spent.

A check that saw none of its input is SKIP, never PASS.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from linkage.audit.combinations import isolating_regions
from linkage.audit.exchange import CheckResult, Exchange, messages_of_kind
from linkage.audit.release_checks import rebuilt_assignments
from linkage.engine import DuckDBEngine
from linkage.measure import cross_with_intensity, household_intensity
from linkage.protocol import OpenedMessage
from linkage.release import DEFAULT_DELTA, ENTRIES_FILE, epsilon_of
from linkage.tables import DEFAULT_K, INTERVAL_COLUMNS, TIER_SEPARATOR

__all__ = [
    "audit_combinations",
    "audit_exact_releases",
    "audit_privacy_spent",
    "release_is_exact",
    "released_household_sets",
]

_RHO_TOLERANCE = 1e-9


def _entries(ex: Exchange) -> list[dict[str, object]] | None:
    """The provider's ledger entries as recorded, oldest first; None without a ledger."""
    path = ex.homes["provider"].ledger / ENTRIES_FILE
    if not path.exists():
        return None
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _entry_for(entries: Sequence[Mapping[str, object]], exchange_id: str) -> Mapping[str, object]:
    """The exchange's latest ledger entry ({} when it has none)."""
    found = [e for e in entries if e.get("exchange") == exchange_id]
    return found[-1] if found else {}


def release_is_exact(payload: pa.Table, entry: Mapping[str, object]) -> bool:
    """Whether a ``viewership`` payload was released without differential privacy.

    The ledger says so (an entry whose ``rho`` is null; older ledgers: a
    null ``epsilon``), and so does the payload: a DP release gives every
    released figure a noise interval, an exact one leaves them all null.
    Either sign is enough: a provider cannot hide an exact release by
    writing a rho it did not spend, nor by blanking the intervals.
    """
    for key in ("rho", "epsilon"):
        if key in entry:
            if entry[key] is None:
                return True
            break
    released = payload.filter(pc.invert(payload["suppressed"]))
    if released.num_rows == 0:
        return False
    return all(released[name].null_count == released.num_rows for name in INTERVAL_COLUMNS)


def _releases(ex: Exchange) -> list[tuple[str, OpenedMessage]]:
    """Every ``viewership`` message with its exchange id, in exchange order."""
    found = [(o.manifest.exchange_id, o) for _, o in messages_of_kind(ex, "viewership")]
    return sorted(found, key=lambda item: item[0])


def audit_exact_releases(ex: Exchange, world: Path) -> CheckResult:
    """FAIL on any exact release (see module doc); SKIP when nothing was released."""
    releases = _releases(ex)
    if not releases:
        return CheckResult("exact-release", True, "skipped: no viewership released", skipped=True)
    entries = _entries(ex) or []
    exact = [x for x, opened in releases if release_is_exact(opened.table, _entry_for(entries, x))]
    if exact:
        return CheckResult(
            "exact-release",
            False,
            f"exact release: no differential privacy ({len(exact)} of {len(releases)} "
            f"release(s): {', '.join(exact[:3])})",
        )
    return CheckResult(
        "exact-release", True, f"{len(releases)} release(s), every one differentially private"
    )


def _lifetime_cap(entry: Mapping[str, object]) -> float | None:
    """The lifetime rho cap an entry records (None when it records none)."""
    budget = entry.get("budget")
    if isinstance(budget, Mapping):
        cap = budget.get("rho_lifetime")
        return float(cap) if isinstance(cap, int | float) else None
    return None


def uncharged_reports(ex: Exchange, entries: Sequence[Mapping[str, object]]) -> list[str]:
    """Exchanges with a match report (issued by the matcher or held by the campaign) no ledger
    entry charged.

    The ledger charges a report with its exchange's first release, so a campaign
    that never asks for one gets fresh report noise per exchange for free.
    """
    state = ex.homes["matcher"].root / "state"
    issued = {p.parent.name for p in state.glob("*/match-report.json")} if state.is_dir() else set()
    issued |= {o.manifest.exchange_id for _, o in messages_of_kind(ex, "match-report")}
    charged = {str(e.get("exchange")) for e in entries}
    return sorted(issued - charged)


def audit_privacy_spent(ex: Exchange, world: Path) -> CheckResult:
    """Rho spent per campaign organisation, as (epsilon, delta); FAIL over a recorded cap,
    and on a match report no release charged."""
    entries = _entries(ex)
    # Without a ledger nothing was released and the check below skips; with one,
    # every exchange the matcher reported on must be in it.
    free = uncharged_reports(ex, entries) if entries is not None else []
    if free:
        return CheckResult(
            "privacy-spent",
            False,
            f"{len(free)} match report(s) never charged to any budget (no release of their "
            f"exchange): {', '.join(free[:3])}" + (" ..." if len(free) > 3 else ""),
        )
    if entries is None:
        if _releases(ex):
            return CheckResult("privacy-spent", False, "viewership released but no provider ledger")
        return CheckResult("privacy-spent", True, "skipped: no ledger, no release", skipped=True)
    if not entries:
        return CheckResult("privacy-spent", True, "skipped: the ledger is empty", skipped=True)
    spent: dict[str, list[float]] = {}
    reports: dict[str, list[float]] = {}
    exchanges: set[tuple[str, str]] = set()
    exact: dict[str, int] = {}
    caps: dict[str, float] = {}
    for entry in entries:
        org = str(entry.get("org") or entry.get("campaign") or "?")
        rho = entry.get("rho")
        if isinstance(rho, int | float):
            spent.setdefault(org, []).append(float(rho))
        else:
            spent.setdefault(org, [])
            exact[org] = exact.get(org, 0) + 1
        # The matcher's report is charged with an exchange's first release (the ledger's rule).
        report = entry.get("report_rho")
        exchange = (org, str(entry.get("exchange")))
        if exchange not in exchanges and isinstance(report, int | float):
            reports.setdefault(org, []).append(float(report))
        exchanges.add(exchange)
        cap = _lifetime_cap(entry)
        if cap is not None:
            caps[org] = cap
    parts: list[str] = []
    over: list[str] = []
    for org, rhos in sorted(spent.items()):
        matcher = reports.get(org, [])
        total = math.fsum([*rhos, *matcher])
        part = (
            f"{org}: rho {total:.4g} in {len(rhos)} DP release(s)"
            + (f" and {len(matcher)} match report(s)" if matcher else "")
            + f" = (epsilon {epsilon_of(total):.2f}, delta {DEFAULT_DELTA:g})"
        )
        if org in exact:
            part += f", {exact[org]} exact"
        if org in caps:
            part += f", lifetime cap rho {caps[org]:g}"
            if total > caps[org] + _RHO_TOLERANCE:
                over.append(org)
        parts.append(part)
    detail = "; ".join(parts)
    if over:
        return CheckResult("privacy-spent", False, f"over the lifetime cap: {detail}")
    return CheckResult("privacy-spent", True, detail)


def released_household_sets(
    ex: Exchange, world: Path
) -> tuple[dict[str, set[str]], list[str], list[str]]:
    """Every released segment's household set, as the provider computed it.

    Returns:
        Segment -> household ids (``exchange/code`` when several exchanges
        released), the exchanges rebuilt, and the exchanges that could not be.
    """
    releases = _releases(ex)
    several = len({x for x, _ in releases}) > 1
    sets: dict[str, set[str]] = {}
    rebuilt: list[str] = []
    missing: list[str] = []
    viewing: pa.Table | None = None
    for x, opened in releases:
        assigned = rebuilt_assignments(ex, world, x)
        if assigned is None:
            missing.append(x)
            continue
        codes = set(pc.unique(opened.table["segment"]).to_pylist())
        if any(TIER_SEPARATOR in str(code) for code in codes):
            if viewing is None:
                viewing = pq.read_table(world / "provider" / "viewing.parquet")
            with DuckDBEngine() as engine:
                assigned = cross_with_intensity(
                    assigned, household_intensity(viewing, engine=engine)
                )
        for household, code in zip(
            assigned["household_id"].to_pylist(), assigned["segment"].to_pylist(), strict=True
        ):
            if code in codes:
                sets.setdefault(f"{x}/{code}" if several else str(code), set()).add(household)
        rebuilt.append(x)
    return sets, rebuilt, missing


def audit_combinations(ex: Exchange, world: Path) -> CheckResult:
    """Small regions of released segments: FAIL on an exact release, reported under DP."""
    releases = _releases(ex)
    if not releases:
        return CheckResult("combinations", True, "skipped: no viewership released", skipped=True)
    sets, rebuilt, missing = released_household_sets(ex, world)
    if not rebuilt:
        return CheckResult(
            "combinations",
            True,
            f"skipped: links or segment codes of {', '.join(missing[:3])} not found",
            skipped=True,
        )
    entries = _entries(ex) or []
    ks = [_entry_for(entries, x).get("k") for x in rebuilt]
    k = min((int(v) for v in ks if isinstance(v, int)), default=DEFAULT_K)
    search = isolating_regions(sets, k)
    exact = [
        x for x, o in releases if x in rebuilt and release_is_exact(o.table, _entry_for(entries, x))
    ]
    detail = search.describe()
    if missing:
        detail += f"; not rebuilt: {', '.join(missing[:3])}"
    if exact:
        return CheckResult(
            "combinations",
            not search.isolating,
            f"exact release ({', '.join(exact[:3])}): {detail}",
        )
    rhos = [_entry_for(entries, x).get("rho") for x in rebuilt]
    rho = math.fsum(float(r) for r in rhos if isinstance(r, int | float))
    return CheckResult(
        "combinations",
        True,
        f"informational under DP (rho {rho:.4g} spent on these releases, epsilon "
        f"{epsilon_of(rho):.2f} at delta {DEFAULT_DELTA:g}, bounds every combination): {detail}",
    )
