"""audit: the privacy audit of an exchange, as a library (no printing; the CLI is parties.audit).

The auditor may read every party home and the world's raw files; it checks
that nothing that left a party breaks the release rules (docs/THREAT_MODEL.md) and runs the
attacks an adversary would run on what was sent.

* ``exchange`` -- the three homes and their opened messages (:class:`Exchange`,
  :class:`CheckResult`).
* ``attacks`` -- the attacks on plain data: dictionary, frequency,
  weight/length correlation, segment differencing.
* ``checks`` -- envelope and key-separation checks, :data:`CHECKS` and :func:`audit`.
* ``pii_scan`` -- raw identifiers and their unkeyed digests in payloads.
* ``attack_checks`` -- the dictionary and CLK frequency attacks run on the exchange.
* ``release_checks`` -- k thresholds and differencing of what was released.
"""

from linkage.audit.attack_checks import (
    MAX_REIDENTIFICATION,
    audit_clk_frequency,
    audit_dictionary,
)
from linkage.audit.attacks import (
    CLK_TOP_PATTERNS,
    FrequencyAttack,
    frequency_attack,
    segment_differences,
    unkeyed_dictionary,
    weight_length_correlation,
)
from linkage.audit.checks import (
    CHECKS,
    ROUTES,
    Check,
    audit,
    audit_allow_lists,
    audit_key_separation,
    audit_recipients,
    audit_signatures,
)
from linkage.audit.exchange import (
    AUDITED_ROLES,
    CheckResult,
    Exchange,
    load_exchange,
)
from linkage.audit.pii_scan import PII_COLUMNS, audit_pii
from linkage.audit.release_checks import audit_differencing, audit_thresholds

__all__ = [
    "AUDITED_ROLES",
    "CHECKS",
    "CLK_TOP_PATTERNS",
    "MAX_REIDENTIFICATION",
    "PII_COLUMNS",
    "ROUTES",
    "Check",
    "CheckResult",
    "Exchange",
    "FrequencyAttack",
    "audit",
    "audit_allow_lists",
    "audit_clk_frequency",
    "audit_dictionary",
    "audit_differencing",
    "audit_key_separation",
    "audit_pii",
    "audit_recipients",
    "audit_signatures",
    "audit_thresholds",
    "frequency_attack",
    "load_exchange",
    "segment_differences",
    "unkeyed_dictionary",
    "weight_length_correlation",
]
