"""match: the matcher's stage, from two token payloads to links.

* ``blocking`` -- candidate pairs from keyed blocking passes; pair completeness.
* ``similarity`` -- Dice on packed Bloom filters (compiled kernels).
* ``comparison`` -- comparison vectors: one level per keyed column and pair.
* ``ecm`` -- the unsupervised Fellegi-Sunter model and the threshold it chooses.
* ``resolution`` -- scored pairs to links under the one-to-one or
  many-to-one constraint.
* ``matching`` -- the stages in order (exact keys, then fuzzy, then household
  propagation): :func:`link_records`.
* ``quality`` -- precision, recall and F1 of links against true pairs.
"""

from linkage.match.blocking import (
    COARSE_PAIR_BUDGET,
    candidate_pairs,
    coarse_passes,
    pair_completeness,
    reduction_ratio,
)
from linkage.match.comparison import Feature, comparison_vectors
from linkage.match.ecm import choose_threshold, distinct_rows, fit_model
from linkage.match.matching import (
    DEFAULT_WEIGHTS,
    LinkOutcome,
    MatchSettings,
    assignments_from_links,
    link_exact,
    link_records,
    shared_keys,
)
from linkage.match.quality import linkage_quality
from linkage.match.resolution import (
    constrained_posteriors,
    resolve_many_to_one,
    resolve_one_to_one,
)
from linkage.match.similarity import dice_all_pairs, dice_pairs, dice_reference, popcounts, warm_up

__all__ = [
    "COARSE_PAIR_BUDGET",
    "DEFAULT_WEIGHTS",
    "Feature",
    "LinkOutcome",
    "MatchSettings",
    "assignments_from_links",
    "candidate_pairs",
    "choose_threshold",
    "coarse_passes",
    "comparison_vectors",
    "constrained_posteriors",
    "dice_all_pairs",
    "dice_pairs",
    "dice_reference",
    "distinct_rows",
    "fit_model",
    "link_exact",
    "link_records",
    "linkage_quality",
    "pair_completeness",
    "popcounts",
    "reduction_ratio",
    "resolve_many_to_one",
    "resolve_one_to_one",
    "shared_keys",
    "warm_up",
]
