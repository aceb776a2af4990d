"""release: what may leave a party, and in what form.

- ``pipeline``: the viewership release in one function (members, refusals,
  measure, noise, suppression) and its public grid.
- ``rules``: the k rule, minimum universe, differencing, derived-tier pruning
  and complementary suppression.
- ``budget``: the campaign's privacy budget in zCDP rho, and as (epsilon, delta).
- ``dp``: differential privacy for the viewership counts (zCDP Gaussian, OpenDP).
- ``match_report``: the matcher's global linkage statistics, DP, issued once per exchange.
- ``assembly``: the provider's join of links and segment codes (household, segment).
- ``ledger``: the provider's ledger (per-organisation rho budgets; re-query and
  cross-release differencing for exact releases).
- ``orgs``: the campaign organisations a provider registered (budgets are theirs).
- ``receipts``: the ledger head each release carries, checked by the campaign
  and witnessed by the matcher.
- ``ledger_store``: the ledger's directory, lock and write order.
"""

from linkage.release.assembly import assemble_assignments
from linkage.release.budget import (
    DEFAULT_DELTA,
    DEFAULT_RELEASE_RHO,
    DEFAULT_RHO_LIFETIME,
    DEFAULT_RHO_PER_WEEK,
    MATCHER_REPORT_RHO,
    PrivacyBudget,
    epsilon_of,
)
from linkage.release.dp import (
    DEFAULT_CAPS,
    CellGrid,
    ContributionCaps,
    MeasureSplit,
    NoiseFn,
    bound_viewing,
    discrete_gaussian,
    half_width,
    measures,
    memberships_bound,
    noisy_release,
    plan_noise,
    sensitivities,
)
from linkage.release.ledger import (
    GENESIS,
    HouseholdSet,
    Ledger,
    LedgerEntry,
    ReleaseRequest,
    iso_weeks,
    ledger_key,
    segment_sets,
)
from linkage.release.ledger_store import ENTRIES_FILE, LedgerStore, PendingRelease
from linkage.release.match_report import (
    MAX_RECORDS_PER_HOUSEHOLD,
    IssuedReport,
    LinkageTotals,
    linkage_totals,
    match_report,
)
from linkage.release.orgs import OrgRegistry, load_orgs, save_orgs, validate_org
from linkage.release.pipeline import release_grid, release_viewership, with_intensity_tiers
from linkage.release.receipts import (
    Receipt,
    ReleaseHead,
    accept_receipt,
    check_extends,
    countersign,
    issue_receipt,
    load_heads,
    load_witnessed,
    read_receipt,
    release_head,
    save_heads,
    verify_countersigned,
    verify_issued,
    witness,
    write_receipt,
)
from linkage.release.rules import (
    SUPPRESSIBLE_COLUMNS,
    apply_k_suppression,
    check_min_universe,
    prune_derived_segments,
    refuse_differencing,
    suppress_tier_complements,
    validate_k,
)

__all__ = [
    "DEFAULT_CAPS",
    "DEFAULT_DELTA",
    "DEFAULT_RELEASE_RHO",
    "DEFAULT_RHO_LIFETIME",
    "DEFAULT_RHO_PER_WEEK",
    "ENTRIES_FILE",
    "GENESIS",
    "MATCHER_REPORT_RHO",
    "MAX_RECORDS_PER_HOUSEHOLD",
    "SUPPRESSIBLE_COLUMNS",
    "CellGrid",
    "ContributionCaps",
    "HouseholdSet",
    "IssuedReport",
    "Ledger",
    "LedgerEntry",
    "LedgerStore",
    "LinkageTotals",
    "MeasureSplit",
    "NoiseFn",
    "OrgRegistry",
    "PendingRelease",
    "PrivacyBudget",
    "Receipt",
    "ReleaseHead",
    "ReleaseRequest",
    "accept_receipt",
    "apply_k_suppression",
    "assemble_assignments",
    "bound_viewing",
    "check_extends",
    "check_min_universe",
    "countersign",
    "discrete_gaussian",
    "epsilon_of",
    "half_width",
    "iso_weeks",
    "issue_receipt",
    "ledger_key",
    "linkage_totals",
    "load_heads",
    "load_orgs",
    "load_witnessed",
    "match_report",
    "measures",
    "memberships_bound",
    "noisy_release",
    "plan_noise",
    "prune_derived_segments",
    "read_receipt",
    "refuse_differencing",
    "release_grid",
    "release_head",
    "release_viewership",
    "save_heads",
    "save_orgs",
    "segment_sets",
    "sensitivities",
    "suppress_tier_complements",
    "validate_k",
    "validate_org",
    "verify_countersigned",
    "verify_issued",
    "with_intensity_tiers",
    "witness",
    "write_receipt",
]
