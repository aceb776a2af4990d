"""release: what may leave a party, and in what form.

- ``pipeline``: the viewership release in one function (members, refusals,
  measure, noise, suppression) and its public grid.
- ``rules``: the k rule, minimum universe, differencing, derived-tier pruning
  and complementary suppression.
- ``dp``: differential privacy for the viewership counts (OpenDP).
- ``match_report``: the matcher's per-segment match rates, noised and suppressed.
- ``ledger``: the provider's per-campaign ledger (budget, re-query and
  cross-release differencing rules).
- ``ledger_store``: the ledger's directory, lock and write order.
"""

from linkage.release.dp import (
    CellGrid,
    MeasureSplit,
    NoiseFn,
    bound_viewing,
    discrete_laplace,
    discrete_laplace_variance,
    measures,
    noisy_release,
    plan_noise,
    sensitivities,
    single_half_width,
)
from linkage.release.ledger import (
    DEFAULT_BUDGET,
    HouseholdSet,
    Ledger,
    ReleaseRequest,
    ledger_key,
    segment_sets,
)
from linkage.release.ledger_store import ENTRIES_FILE, LedgerStore, PendingRelease
from linkage.release.match_report import match_report
from linkage.release.pipeline import release_grid, release_viewership, with_intensity_tiers
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
    "DEFAULT_BUDGET",
    "ENTRIES_FILE",
    "SUPPRESSIBLE_COLUMNS",
    "CellGrid",
    "HouseholdSet",
    "Ledger",
    "LedgerStore",
    "MeasureSplit",
    "NoiseFn",
    "PendingRelease",
    "ReleaseRequest",
    "apply_k_suppression",
    "bound_viewing",
    "check_min_universe",
    "discrete_laplace",
    "discrete_laplace_variance",
    "ledger_key",
    "match_report",
    "measures",
    "noisy_release",
    "plan_noise",
    "prune_derived_segments",
    "refuse_differencing",
    "release_grid",
    "release_viewership",
    "segment_sets",
    "sensitivities",
    "single_half_width",
    "suppress_tier_complements",
    "validate_k",
    "with_intensity_tiers",
]
