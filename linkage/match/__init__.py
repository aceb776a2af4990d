"""match."""

from linkage.match.blocking import candidate_pairs, pair_completeness, reduction_ratio
from linkage.match.fuzzy import (
    Feature,
    choose_threshold,
    comparison_vectors,
    distinct_rows,
    fit_model,
    resolve_many_to_one,
    resolve_one_to_one,
)
from linkage.match.matching import (
    DEFAULT_WEIGHTS,
    LinkOutcome,
    MatchSettings,
    assignments_from_links,
    link_exact,
    link_records,
    match_report,
    shared_keys,
)
from linkage.match.similarity import dice_all_pairs, dice_pairs, dice_reference, popcounts, warm_up

__all__ = [
    "DEFAULT_WEIGHTS",
    "Feature",
    "LinkOutcome",
    "MatchSettings",
    "assignments_from_links",
    "candidate_pairs",
    "choose_threshold",
    "comparison_vectors",
    "dice_all_pairs",
    "dice_pairs",
    "dice_reference",
    "distinct_rows",
    "fit_model",
    "link_exact",
    "link_records",
    "match_report",
    "pair_completeness",
    "popcounts",
    "reduction_ratio",
    "resolve_many_to_one",
    "resolve_one_to_one",
    "shared_keys",
    "warm_up",
]
