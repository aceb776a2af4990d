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
* ``delivery_checks`` -- post-buy: the delivery's k, its grid (no household rows)
  and its charge in the ledger; the aired schedule lists each spot once.
* ``ledger_checks`` -- the provider's ledger against the matcher's witness log.
* ``combinations`` -- the search for small regions of released segments.
* ``dp_attacks`` -- a dishonest campaign's attacks on the release (complement,
  refusal oracle), scored against the DP bound.
* ``privacy_checks`` -- no exact release, the rho spent per organisation, combinations.
* ``provider_knowledge`` -- what the provider's operator and measurement sides
  learn together: subscriber households labelled with decoded segments.
* ``panel_checks`` -- a weekly panel's retention (allow-list, k, charged to the
  ledger) and no panel household ID in any sealed message.
* ``week_linking`` -- the dishonest matcher's attempt to link two exchanges' records
  (a weekly refresh): equal tokens or ids, near-equal filters, class-size signatures.
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
from linkage.audit.delivery_checks import audit_delivery
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
from linkage.audit.panel_checks import (
    PANEL_CHECKS,
    audit_no_panel_ids,
    audit_panel,
    audit_retention_allow_list,
    audit_retention_charged,
    audit_retention_k,
    panel_ids,
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
from linkage.audit.week_linking import (
    WeekLink,
    WeekTokens,
    audit_week_linking,
    link_weeks,
    week_tokens,
)

__all__ = [
    "AUDITED_ROLES",
    "CHECKS",
    "CLK_TOP_PATTERNS",
    "MATCHER_ATTACK_GATE",
    "MAX_COMBINED",
    "MAX_REIDENTIFICATION",
    "MAX_SEARCHED_SEGMENTS",
    "PANEL_CHECKS",
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
    "WeekLink",
    "WeekTokens",
    "accuracy_bound",
    "audit",
    "audit_allow_lists",
    "audit_clk_frequency",
    "audit_combinations",
    "audit_delivery",
    "audit_dictionary",
    "audit_differencing",
    "audit_exact_releases",
    "audit_key_separation",
    "audit_ledger",
    "audit_matcher_attacks",
    "audit_no_panel_ids",
    "audit_panel",
    "audit_pii",
    "audit_privacy_spent",
    "audit_provider_knowledge",
    "audit_recipients",
    "audit_retention_allow_list",
    "audit_retention_charged",
    "audit_retention_k",
    "audit_signatures",
    "audit_thresholds",
    "audit_week_linking",
    "complement_attack",
    "complement_segments",
    "count_signature_attack",
    "decode_segments",
    "frequency_attack",
    "graph_matching_attack",
    "isolating_regions",
    "link_weeks",
    "load_exchange",
    "panel_ids",
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
    "week_tokens",
    "weight_length_correlation",
]
