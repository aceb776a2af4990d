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
* ``attack_checks`` -- the dictionary, CLK frequency and matcher attacks run on the exchange.
* ``matcher_attacks`` -- the matcher's keyless attacks: count signatures, CLK
  pattern mining, similarity-graph matching.
* ``release_checks`` -- k thresholds and differencing of what was released.
* ``ledger_checks`` -- the provider's ledger against the matcher's witness log.
* ``combinations`` -- the search for small regions of released segments.
* ``dp_attacks`` -- a dishonest campaign's attacks on the release (complement,
  refusal oracle), scored against the DP bound.
* ``privacy_checks`` -- no exact release, the rho spent per organisation, combinations.
* ``provider_knowledge`` -- what the provider's operator and measurement sides
  learn together: subscriber households labelled with decoded segments.
"""

from linkage.audit.attack_checks import (
    MATCHER_ATTACK_GATE,
    MAX_REIDENTIFICATION,
    audit_clk_frequency,
    audit_dictionary,
    audit_matcher_attacks,
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
from linkage.audit.combinations import (
    MAX_COMBINED,
    MAX_SEARCHED_SEGMENTS,
    CombinationSearch,
    Region,
    isolating_regions,
)
from linkage.audit.dp_attacks import (
    AttackScore,
    ComplementQuery,
    Release,
    accuracy_bound,
    complement_attack,
    complement_segments,
    refusal_oracle_attack,
    voter_assignments,
    watched_channels,
)
from linkage.audit.exchange import (
    AUDITED_ROLES,
    CheckResult,
    Exchange,
    load_exchange,
)
from linkage.audit.ledger_checks import audit_ledger
from linkage.audit.matcher_attacks import (
    AttackResult,
    count_signature_attack,
    graph_matching_attack,
    pattern_mining_attack,
    score_guesses,
)
from linkage.audit.pii_scan import PII_COLUMNS, audit_pii
from linkage.audit.privacy_checks import (
    audit_combinations,
    audit_exact_releases,
    audit_privacy_spent,
    release_is_exact,
    released_household_sets,
)
from linkage.audit.provider_knowledge import (
    ProviderKnowledge,
    audit_provider_knowledge,
    decode_segments,
    provider_knowledge,
    provider_knowledge_of,
)
from linkage.audit.release_checks import audit_differencing, audit_thresholds

__all__ = [
    "AUDITED_ROLES",
    "CHECKS",
    "CLK_TOP_PATTERNS",
    "MATCHER_ATTACK_GATE",
    "MAX_COMBINED",
    "MAX_REIDENTIFICATION",
    "MAX_SEARCHED_SEGMENTS",
    "PII_COLUMNS",
    "ROUTES",
    "AttackResult",
    "AttackScore",
    "Check",
    "CheckResult",
    "CombinationSearch",
    "ComplementQuery",
    "Exchange",
    "FrequencyAttack",
    "ProviderKnowledge",
    "Region",
    "Release",
    "accuracy_bound",
    "audit",
    "audit_allow_lists",
    "audit_clk_frequency",
    "audit_combinations",
    "audit_dictionary",
    "audit_differencing",
    "audit_exact_releases",
    "audit_key_separation",
    "audit_ledger",
    "audit_matcher_attacks",
    "audit_pii",
    "audit_privacy_spent",
    "audit_provider_knowledge",
    "audit_recipients",
    "audit_signatures",
    "audit_thresholds",
    "complement_attack",
    "complement_segments",
    "count_signature_attack",
    "decode_segments",
    "frequency_attack",
    "graph_matching_attack",
    "isolating_regions",
    "load_exchange",
    "pattern_mining_attack",
    "provider_knowledge",
    "provider_knowledge_of",
    "refusal_oracle_attack",
    "release_is_exact",
    "released_household_sets",
    "score_guesses",
    "segment_differences",
    "unkeyed_dictionary",
    "voter_assignments",
    "watched_channels",
    "weight_length_correlation",
]
