"""The ledger check: the provider's ledger against the matcher's witness log.

Every release carries its organisation's ledger head; the campaign
countersigns it and the matcher keeps it (:mod:`linkage.release.receipts`).
The auditor, who may read every home, loads the provider's ledger (chain and
head verified with the provider's secret) and fails the exchange when it is
**behind any witnessed receipt** -- an entry the matcher saw is missing,
differs, or shows less rho spent -- which is what a rewound, deleted or
re-initialised ledger looks like. It also fails on a release the witness
never saw (a receipt that was not deposited anchors nothing) and on a
witnessed receipt whose signatures do not verify. The figure is the rho each
organisation has spent, and its epsilon.
"""

from __future__ import annotations

import math
from pathlib import Path

from linkage.audit.exchange import CheckResult, Exchange, messages_of_kind, provider_secret
from linkage.errors import MessageError
from linkage.release import (
    ENTRIES_FILE,
    Ledger,
    LedgerStore,
    ReleaseHead,
    epsilon_of,
    ledger_key,
    load_witnessed,
    verify_countersigned,
)

__all__ = ["audit_ledger"]

_RHO_TOLERANCE = 1e-9


def _recorded(ledger: Ledger, head: ReleaseHead) -> bool:
    """True when the ledger holds the entry ``head`` names, with the rho spent it showed."""
    for entry in ledger.for_org(head.org):
        if entry.org_seq == head.seq:
            return entry.hash == head.hash and math.isclose(
                ledger.spent_through(entry), head.rho_spent, abs_tol=_RHO_TOLERANCE
            )
    return False


def audit_ledger(ex: Exchange, world: Path) -> CheckResult:
    """Fail when the provider's ledger is behind the matcher's witness log (see module doc)."""
    provider, matcher = ex.homes["provider"], ex.homes["matcher"]
    me = matcher.card().fingerprint
    provider_fp = provider.card().fingerprint
    contacts = matcher.trusted()
    witnessed = [r for r in load_witnessed(matcher.witness_log) if r.head.provider == provider_fp]
    forged = 0
    for receipt in witnessed:
        try:
            verify_countersigned(receipt, contacts, me=me)
        except MessageError:
            forged += 1
    releases = len(messages_of_kind(ex, "viewership"))
    if not (provider.ledger / ENTRIES_FILE).exists():
        return CheckResult(
            "ledger",
            False,
            f"provider ledger missing ({len(witnessed)} witnessed receipt(s), "
            f"{releases} release(s) received)",
        )
    ledger = LedgerStore(provider.ledger, ledger_key(provider_secret(ex))).load()
    behind = [r.head for r in witnessed if not _recorded(ledger, r.head)]
    seen = {(r.head.org, r.head.seq, r.head.hash) for r in witnessed}
    unwitnessed = [e for e in ledger.entries if (e.request.org, e.org_seq, e.hash) not in seen]
    problems: list[str] = []
    if behind:
        problems.append(
            f"ledger is behind {len(behind)} witnessed receipt(s) "
            "(rewound, deleted or re-initialised)"
        )
    if forged:
        problems.append(f"{forged} witnessed receipt(s) do not verify")
    if unwitnessed:
        problems.append(f"{len(unwitnessed)} release(s) never witnessed by the matcher")
    orgs = sorted({e.request.org for e in ledger.entries})
    spent = "; ".join(
        f"{org}: rho {ledger.spent(org):.4g} (epsilon {epsilon_of(ledger.spent(org)):.2f})"
        for org in orgs
    )
    figure = (
        f"{len(ledger.entries)} release(s), {len(witnessed)} witnessed; spent {spent or 'nothing'}"
    )
    if problems:
        return CheckResult("ledger", False, f"{'; '.join(problems)}; {figure}")
    return CheckResult("ledger", True, figure)
