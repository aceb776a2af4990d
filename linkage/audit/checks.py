"""The audit's checks, in the order they are reported, and :func:`audit` that runs them all.

Every check reads one loaded :class:`~linkage.audit.exchange.Exchange` (and, where
it needs the auditor's ground truth, the synthetic world's directory) and
*returns* a :class:`~linkage.audit.exchange.CheckResult` with its figure; none
raises on a finding. That is why they are named ``audit_*``: elsewhere in
``linkage`` a ``check_*`` function raises when its rule is broken (e.g.
``linkage.release.check_differencing``), and one name must not mean both.

The envelope checks (signatures, recipients, allow-lists) and key separation
live here; the PII scan, the attacks run on the exchange and the release
checks each have their own module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pyarrow as pa

from linkage.audit.attack_checks import (
    MATCHER_ATTACK_GATE,
    audit_clk_frequency,
    audit_dictionary,
    audit_matcher_attacks,
)
from linkage.audit.delivery_checks import audit_delivery
from linkage.audit.exchange import (
    CheckResult,
    Exchange,
    exchange_ids,
    linkage_key,
    load_exchange,
    matcher_keys,
    provider_secret,
)
from linkage.audit.ledger_checks import audit_ledger
from linkage.audit.panel_checks import audit_panel
from linkage.audit.pii_scan import audit_pii
from linkage.audit.privacy_checks import (
    audit_combinations,
    audit_exact_releases,
    audit_privacy_spent,
)
from linkage.audit.provider_knowledge import audit_provider_knowledge
from linkage.audit.release_checks import audit_differencing, audit_thresholds
from linkage.audit.week_linking import audit_week_linking
from linkage.encode import DEFAULT_RECIPES
from linkage.errors import NarwhalError
from linkage.io import PartyHome
from linkage.protocol import validate_payload

#: kind -> (sender role, recipient role)
ROUTES: dict[str, tuple[str, str]] = {
    "campaign-tokens": ("campaign", "matcher"),
    "segments": ("campaign", "provider"),
    "provider-tokens": ("provider", "matcher"),
    "assignments": ("matcher", "provider"),
    "match-report": ("matcher", "campaign"),
    "viewership": ("provider", "campaign"),
    "aired-schedule": ("campaign", "provider"),
    "delivery": ("provider", "campaign"),
    "retention": ("provider", "campaign"),
}


def audit_signatures(ex: Exchange) -> CheckResult:
    """Every inbox message verifies and decrypts for its holder."""
    ok = not ex.errors and len(ex.messages) > 0
    detail = f"{len(ex.messages)} messages verified and decrypted"
    if ex.errors:
        detail = f"{len(ex.errors)} rejected: {ex.errors[0]}"
    return CheckResult("signatures", ok, detail)


def audit_recipients(ex: Exchange) -> CheckResult:
    """Every message went from its kind's sender role to its kind's recipient role."""
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
        "recipients",
        not bad,
        "every message routed to its kind's recipient" if not bad else "; ".join(bad),
    )


def audit_allow_lists(ex: Exchange) -> CheckResult:
    """Every payload column is on its kind's allow-list."""
    if not ex.messages and not ex.allow_list_errors:
        return CheckResult("allow-lists", True, "skipped: no message to check", skipped=True)
    bad = list(ex.allow_list_errors)
    for path, _, opened in ex.messages:
        try:
            validate_payload(opened.manifest.kind, opened.table, file=str(path))
        except NarwhalError as err:
            if str(err) not in bad:
                bad.append(str(err))
    columns = sum(m[2].table.num_columns for m in ex.messages)
    return CheckResult(
        "allow-lists",
        not bad,
        f"{columns} columns within allow-lists"
        if not bad
        else f"{len(bad)} violation(s): {bad[0]}",
    )


def audit_key_separation(ex: Exchange) -> CheckResult:
    """No linkage key, sub-key or pseudonym secret in the matcher's home, nor derivable by it."""
    matcher = ex.homes["matcher"]
    exchanges = exchange_ids(ex)
    secrets_: list[bytes] = []
    fingerprints: set[str] = set()
    for x in exchanges:
        key = linkage_key(ex, x)
        fingerprints.add(key.fingerprint())
        secrets_.extend(key.subkey(f"match:{r.name}") for r in DEFAULT_RECIPES)
    secrets_.append(provider_secret(ex))
    # Raw and hex: a key written to a text file is as leaked as a binary one.
    needles = list(secrets_) + [s.hex().encode() for s in secrets_]
    found: list[str] = []
    for path in sorted(matcher.root.rglob("*")):
        if path.is_file():
            blob = path.read_bytes()
            if any(n in blob for n in needles):
                found.append(str(path.relative_to(matcher.root)))
    for x in exchanges:
        for k in matcher_keys(ex, x):
            if k.fingerprint() in fingerprints:
                found.append("derivable linkage key")
    detail = (
        f"no linkage key, sub-key or pseudonym secret in "
        f"{sum(1 for _ in matcher.root.rglob('*'))} matcher files"
        if not found
        else f"key material found in matcher home: {', '.join(found[:3])}"
    )
    return CheckResult("key-separation", not found, detail)


def _panel(ex: Exchange) -> CheckResult:
    """The panel checks as one line: retention's allow-list, k and charge, no panel IDs out."""
    results = audit_panel(ex)
    if all(r.skipped for r in results):
        return CheckResult("panel", True, "no weekly panel in the exchange", skipped=True)
    failed = [r for r in results if not r.passed]
    shown = failed or [r for r in results if not r.skipped]
    return CheckResult("panel", not failed, "; ".join(f"{r.name}: {r.detail}" for r in shown))


Check = Callable[[Exchange, Path], CheckResult]
"""A check: the loaded exchange and the world directory in, one result out."""

CHECKS: tuple[tuple[str, Check], ...] = (
    ("signatures", lambda ex, w: audit_signatures(ex)),
    ("recipients", lambda ex, w: audit_recipients(ex)),
    ("allow-lists", lambda ex, w: audit_allow_lists(ex)),
    ("pii-scan", audit_pii),
    ("key-separation", lambda ex, w: audit_key_separation(ex)),
    ("dictionary", audit_dictionary),
    ("clk-frequency", audit_clk_frequency),
    *((("matcher-attacks", audit_matcher_attacks),) if MATCHER_ATTACK_GATE else ()),
    ("thresholds", audit_thresholds),
    ("differencing", audit_differencing),
    ("ledger", audit_ledger),
    ("exact-release", audit_exact_releases),
    ("privacy-spent", audit_privacy_spent),
    ("combinations", audit_combinations),
    ("provider-knowledge", audit_provider_knowledge),
    ("delivery", audit_delivery),
    ("panel", lambda ex, w: _panel(ex)),
    ("week-linking", audit_week_linking),
)
"""Every check, by the name its result carries, in report order."""


def audit(homes: Mapping[str, PartyHome], world: Path) -> list[CheckResult]:
    """Run every check on an exchange and return the results (no printing).

    A check that cannot read one of its inputs fails with the reason instead
    of stopping the audit: the other checks' findings still matter.

    Args:
        homes: Role -> home for the campaign, the matcher and the provider.
        world: The synthetic world's directory (the auditor's ground truth).

    Raises:
        NarwhalError: The homes cannot be loaded at all (not party homes, bad keys).
    """
    ex = load_exchange(homes)
    results: list[CheckResult] = []
    for name, check in CHECKS:
        try:
            result = check(ex, world)
        except NarwhalError as err:
            result = CheckResult(name, False, str(err))
        except (OSError, pa.ArrowException) as err:
            result = CheckResult(name, False, f"cannot read an input ({type(err).__name__})")
        results.append(result)
    return results
