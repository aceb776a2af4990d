"""The fuzzy stage's model: a Fellegi-Sunter fit that cannot fool itself, and the threshold.

The model is a two-class latent model (match, non-match) over comparison
levels, fitted by EM on distinct comparison vectors and their counts. Three
rules keep it honest:

* **Missing is neutral.** A feature missing on either side is no evidence
  (Bayes factor 1): it never enters the likelihood, so the fit cannot decide
  that "match" means "both birth dates missing". ``m`` and ``u`` of a
  feature are distributions over its observed levels only.
* **A labelled start.** The fit starts from a seed of pairs known to be
  matches (the exact stage's links): match agreement rates from them,
  non-match rates from the candidate pairs, which are overwhelmingly
  non-matches. Several starts are made (the seed, perturbations of it drawn
  from a generator seeded by the data, and the old agreement-order start);
  the most likely fit that meets the constraints is kept.
* **Checked, and said so.** A fit in which agreement at the top level of any
  comparison is not more likely among matches (``m > u``) breaks the
  model's constraints; a fit that an equally likely start or a bootstrap of
  the pairs would change materially is unstable. Either is reported in
  :attr:`FittedModel.warnings`, in words a user can act on.

The decision threshold maximises the model's own expected F1 over the links
that resolution keeps (:func:`choose_threshold`, fed by
:func:`linkage.match.resolution.constrained_posteriors`); callers may
override it. Posteriors assume the model's conditional independence; they
never leave the matcher per record.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from linkage.errors import InputError
from linkage.match.comparison import (
    DICE_LEVELS,
    EXACT_LEVELS,
    Feature,
    FloatArray,
    IntArray,
    LevelArray,
)

MISSING_LEVELS: Final = 2
"""Levels 0 (missing on both) and 1 (missing on one): neutral, outside the likelihood."""

# Agreement-order start (higher = more typical of a match), for the fallback start.
_DICE_START: Final = (0.0, 0.0, -2.0, -1.0, 0.0, 1.5, 2.5)
_EXACT_START: Final = (0.0, 0.0, -2.0, 2.5)
assert len(_DICE_START) == DICE_LEVELS and len(_EXACT_START) == EXACT_LEVELS
_PROB_FLOOR: Final = 1e-6
_PSEUDO: Final = 0.5
"""Pseudo-count per level when rates are estimated from a seed."""
_MIN_SEED: Final = 5
_UNSTABLE: Final = 0.02
"""Share of the proposed links two fits may disagree on before the fit is unstable."""
_TIE_NATS: Final = 2.0
"""Two fits whose log-likelihoods are this close are equally likely."""
_PRIOR_STRENGTH: Final = 0.05
"""Pseudo-pairs of the rates' Dirichlet prior: a share of the pairs (m: of the expected matches)."""

__all__ = [
    "MISSING_LEVELS",
    "FittedModel",
    "choose_threshold",
    "distinct_rows",
    "fit_model",
]


def distinct_rows(levels: LevelArray | IntArray) -> tuple[IntArray, IntArray]:
    """Distinct rows of a small-integer matrix, sorted lexicographically, with their counts.

    Equal to ``np.unique(levels, axis=0, return_counts=True)``, through one
    mixed-radix integer per row (a 1-D sort, an order of magnitude faster).
    """
    if levels.shape[0] == 0:
        return levels.astype(np.int64), np.zeros(0, np.int64)
    low = levels.min(axis=0).astype(np.int64)
    radix = levels.max(axis=0).astype(np.int64) - low + 1
    if float(np.prod(radix.astype(np.float64))) >= 2.0**62:
        rows, counts = np.unique(levels, axis=0, return_counts=True)
        return rows.astype(np.int64), counts.astype(np.int64)
    key = np.zeros(levels.shape[0], np.int64)
    for column in range(levels.shape[1]):
        key = key * radix[column] + (levels[:, column].astype(np.int64) - low[column])
    size = int(np.prod(radix))
    if size <= 1 << 22:
        # Few possible vectors (7^5 for the shipped schema): count them
        # directly, linear in the pairs, and decode the keys that occur.
        tally = np.bincount(key, minlength=size)
        present = np.flatnonzero(tally)
        decoded: IntArray = np.empty((present.size, levels.shape[1]), dtype=np.int64)
        rest = present.astype(np.int64)
        for column in range(levels.shape[1] - 1, -1, -1):
            decoded[:, column] = rest % radix[column] + low[column]
            rest = rest // radix[column]
        return decoded, tally[present].astype(np.int64)
    keys, first, counts = np.unique(key, return_index=True, return_counts=True)
    del keys
    return levels[first].astype(np.int64), counts.astype(np.int64)


@dataclass(frozen=True)
class FittedModel:
    """A fitted Fellegi-Sunter model: per-feature level probabilities and the prior.

    Attributes:
        features: The comparison features, in vector order.
        m: Per feature, P(level | match, both present) for each observed
            level; the missing levels (0, 1) are 1.0 in ``m`` and ``u``
            alike, i.e. neutral.
        u: Per feature, P(level | non-match, both present).
        prior: Estimated share of matches among the candidate pairs.
        log_likelihood: Of the candidate pairs under the model.
        warnings: What is wrong with the fit (broken constraints,
            instability, no labelled seed) and what to change; empty when
            the fit passed its checks.
    """

    features: tuple[Feature, ...]
    m: tuple[tuple[float, ...], ...]
    u: tuple[tuple[float, ...], ...]
    prior: float
    log_likelihood: float = 0.0
    warnings: tuple[str, ...] = field(default=())

    def log_bayes_factor(self, levels: LevelArray | IntArray) -> FloatArray:
        """Summed log Bayes factors (match vs non-match) of each row of ``levels``."""
        total = np.zeros(levels.shape[0], dtype=np.float64)
        for i in range(len(self.features)):
            m = np.maximum(np.asarray(self.m[i]), _PROB_FLOOR)
            u = np.maximum(np.asarray(self.u[i]), _PROB_FLOOR)
            total += np.log(m / u)[levels[:, i]]
        return total

    def log_odds(self, levels: LevelArray | IntArray) -> FloatArray:
        """Pairwise posterior log-odds of a match for each row of ``levels``."""
        odds: FloatArray = self.log_bayes_factor(levels) + np.log(self.prior / (1.0 - self.prior))
        return odds

    def posterior(self, levels: LevelArray | IntArray) -> FloatArray:
        """Pairwise P(match | comparison vector) for each row of ``levels``.

        Pairwise: each pair on its own, at the model's prior. The links'
        posteriors under the resolution constraint come from
        :func:`linkage.match.resolution.constrained_posteriors`. Computed a
        block of rows at a time, so the temporaries stay small.
        """
        out = np.empty(levels.shape[0], dtype=np.float64)
        step = 1 << 22
        for start in range(0, levels.shape[0], step):
            odds = np.clip(self.log_odds(levels[start : start + step]), -700.0, 700.0)
            out[start : start + step] = 1.0 / (1.0 + np.exp(-odds))
        return out


@dataclass(frozen=True)
class _Fit:
    m: tuple[FloatArray, ...]
    u: tuple[FloatArray, ...]
    prior: float
    log_likelihood: float


class _Patterns:
    """Distinct comparison vectors as per-feature observed-level indices (-1 = missing)."""

    def __init__(self, rows: IntArray, counts: IntArray, features: Sequence[Feature]) -> None:
        self.counts = counts.astype(np.float64)
        self.sizes = [f.levels - MISSING_LEVELS for f in features]
        self.index = [rows[:, i] - MISSING_LEVELS for i in range(len(features))]

    def log_likelihoods(self, m: Sequence[FloatArray], u: Sequence[FloatArray]) -> FloatArray:
        """``(2, patterns)``: log P(vector | match) and log P(vector | non-match)."""
        out = np.zeros((2, self.counts.size))
        for idx, m_f, u_f in zip(self.index, m, u, strict=True):
            seen = idx >= 0
            at = np.where(seen, idx, 0)
            out[0] += np.where(seen, np.log(np.maximum(m_f, 1e-300))[at], 0.0)
            out[1] += np.where(seen, np.log(np.maximum(u_f, 1e-300))[at], 0.0)
        return out

    def rates(
        self, weights: FloatArray, pseudo: Sequence[FloatArray] | None = None
    ) -> tuple[FloatArray, ...]:
        """Per feature, the weighted distribution of its observed levels.

        ``pseudo`` adds per-level pseudo-counts (a Dirichlet prior), so a
        level the data leaves empty in one class keeps a small probability.
        """
        out = []
        for i, (idx, size) in enumerate(zip(self.index, self.sizes, strict=True)):
            seen = idx >= 0
            tally = np.bincount(idx[seen], weights=weights[seen], minlength=size).astype(np.float64)
            if pseudo is not None:
                tally = tally + pseudo[i]
            tally = tally + 1e-9 * max(float(tally.sum()), 1.0)
            out.append(tally / tally.sum())
        return tuple(out)


def _posteriors(patterns: _Patterns, fit: _Fit) -> tuple[FloatArray, float]:
    ll = patterns.log_likelihoods(fit.m, fit.u)
    a = np.log(fit.prior) + ll[0]
    b = np.log1p(-fit.prior) + ll[1]
    total = np.logaddexp(a, b)
    return np.exp(a - total), float((patterns.counts * total).sum())


def _em(
    patterns: _Patterns,
    start: _Fit,
    *,
    max_iter: int,
    counts: FloatArray | None = None,
    prior_m: Sequence[FloatArray] | None = None,
    prior_u: Sequence[FloatArray] | None = None,
) -> _Fit:
    weights = patterns.counts if counts is None else counts
    if float(weights.sum()) <= 0.0:
        return start  # an empty bootstrap draw: nothing to refit
    saved = patterns.counts
    patterns.counts = weights
    try:
        fit, previous = start, -np.inf
        for _ in range(max_iter):
            g, ll = _posteriors(patterns, fit)
            share = float((weights * g).sum() / weights.sum())
            prior = min(max(share, _PROB_FLOOR), 1.0 - _PROB_FLOOR)
            fit = _Fit(
                patterns.rates(weights * g, prior_m),
                patterns.rates(weights * (1 - g), prior_u),
                prior,
                ll,
            )
            if abs(ll - previous) <= 1e-9 * max(abs(ll), 1.0):
                break
            previous = ll
        _, ll = _posteriors(patterns, fit)
        return _Fit(fit.m, fit.u, fit.prior, ll)
    finally:
        patterns.counts = saved


def _seed_rates(
    levels: LevelArray | IntArray, features: Sequence[Feature]
) -> tuple[FloatArray, ...]:
    out = []
    for i, feature in enumerate(features):
        column = levels[:, i].astype(np.int64) - MISSING_LEVELS
        size = feature.levels - MISSING_LEVELS
        tally = np.bincount(column[column >= 0], minlength=size).astype(np.float64) + _PSEUDO
        out.append(tally / tally.sum())
    return tuple(out)


def _order_start(features: Sequence[Feature], sign: float) -> tuple[FloatArray, ...]:
    out = []
    for feature in features:
        scores = np.asarray(
            (_DICE_START if feature.kind == "dice" else _EXACT_START)[MISSING_LEVELS:]
        )
        weights = np.exp(sign * scores)
        out.append(weights / weights.sum())
    return tuple(out)


def _broken(fit: _Fit, features: Sequence[Feature], patterns: _Patterns) -> list[str]:
    """Features whose top level is not more likely among matches (where it occurs)."""
    names = []
    for i, feature in enumerate(features):
        top = patterns.sizes[i] - 1
        if not np.any(patterns.index[i] == top):
            continue
        if fit.m[i][top] <= fit.u[i][top]:
            names.append(feature.column)
    return names


def _disagreement(first: FloatArray, second: FloatArray, counts: FloatArray) -> float:
    """Share of the proposed links (posterior >= 0.5 under either) the two fits disagree on."""
    a, b = first >= 0.5, second >= 0.5
    either = float(counts[a | b].sum())
    return float(counts[a != b].sum()) / either if either else 0.0


def fit_model(
    levels: LevelArray | IntArray,
    features: Sequence[Feature],
    *,
    seed: LevelArray | IntArray | None = None,
    prior: float | None = None,
    starts: int = 4,
    max_iter: int = 200,
) -> FittedModel:
    """Fit the Fellegi-Sunter model to comparison levels by EM, from several starts.

    Args:
        levels: ``(pairs, features)`` levels from :func:`comparison_vectors`.
        features: The features, in column order.
        seed: Levels of pairs known to be matches (the exact stage's links);
            without at least a few, the fit starts from the agreement order
            only and says so in its warnings.
        prior: Starting share of matches among the pairs (default 0.1).
        starts: Perturbed seed starts, besides the seed and the fixed start.
        max_iter: EM iteration cap per start.

    Returns:
        The most likely fit that meets the constraints (the most likely of
        all, with a warning, when none does).

    Raises:
        InputError: Too few pairs to fit.
    """
    if levels.shape[0] < 2:
        raise InputError("too few candidate pairs to fit a linkage model")
    rows, counts = distinct_rows(levels)
    patterns = _Patterns(rows, counts, features)
    # Deterministic from the data: the same pairs give the same starts.
    rng = np.random.default_rng(zlib.crc32(rows.tobytes() + counts.tobytes()))
    u_all = patterns.rates(patterns.counts)
    p0 = min(max(prior if prior is not None else 0.1, 1e-4), 0.5)
    warnings: list[str] = []
    m_seed: tuple[FloatArray, ...] | None = None
    candidates: list[_Fit] = [
        _Fit(_order_start(features, 1.0), _order_start(features, -1.0), 0.1, 0.0)
    ]
    if seed is not None and seed.shape[0] >= _MIN_SEED:
        m_seed = _seed_rates(seed, features)
        candidates.append(_Fit(m_seed, u_all, p0, 0.0))
        candidates.append(_Fit(m_seed, u_all, max(p0 / 4, 1e-4), 0.0))
        for _ in range(starts):
            jitter = tuple(rng.dirichlet(m * 50 + 0.5) for m in m_seed)
            scale = float(np.exp(rng.normal(0.0, 1.0)))
            candidates.append(_Fit(jitter, u_all, min(max(p0 * scale, 1e-4), 0.5), 0.0))
    else:
        warnings.append(
            "the model had no labelled seed (fewer than "
            f"{_MIN_SEED} exact-stage links), so its fit is unchecked against known matches: "
            "add a match key that true pairs share exactly (e.g. name + date of birth)"
        )
    # A Dirichlet prior on the rates, centred on the start (seed for m,
    # every pair for u), so no level is ever impossible in one class: without
    # it EM locks onto "match = one comparison agrees exactly" (u = 0 there).
    strength = _PRIOR_STRENGTH * float(patterns.counts.sum())
    m_centre = m_seed if m_seed is not None else _order_start(features, 1.0)
    m_prior = tuple(r * strength * p0 for r in m_centre)
    u_prior = tuple(r * strength for r in u_all)
    fits = [
        _em(patterns, start, max_iter=max_iter, prior_m=m_prior, prior_u=u_prior)
        for start in candidates
    ]
    valid = [f for f in fits if not _broken(f, features, patterns)]
    pool = valid or fits
    best = max(pool, key=lambda f: f.log_likelihood)
    broken = _broken(best, features, patterns)
    if broken:
        warnings.append(
            "the model breaks its constraints: agreement on "
            + ", ".join(broken)
            + " is not more likely among matches than among non-matches. Check that the "
            "column holds the same field on both sides, drop it from [compare], or add a "
            "match key or comparison that separates people (a date of birth, a phone)"
        )
    g_best, _ = _posteriors(patterns, best)
    rivals = [
        f for f in pool if f is not best and best.log_likelihood - f.log_likelihood <= _TIE_NATS
    ]
    worst = max(
        (_disagreement(g_best, _posteriors(patterns, f)[0], patterns.counts) for f in rivals),
        default=0.0,
    )
    # A bootstrap of the pairs (Poisson weights, seeded by the data) refitted
    # from the kept fit: a fit that holds only on these exact pairs is unstable.
    boot = _em(
        patterns,
        best,
        max_iter=max_iter,
        counts=patterns.counts * rng.poisson(1.0, counts.size),
        prior_m=m_prior,
        prior_u=u_prior,
    )
    worst = max(worst, _disagreement(g_best, _posteriors(patterns, boot)[0], patterns.counts))
    if worst > _UNSTABLE:
        warnings.append(
            f"the model fit is unstable: another start or a bootstrap of the pairs changes "
            f"{worst:.0%} of the proposed links. Add a comparison that separates people "
            "(a date of birth, a phone), split a filter that mixes fields, or set a "
            "threshold by hand after reviewing a sample of links"
        )
    m_rows, u_rows = [], []
    for m_f, u_f in zip(best.m, best.u, strict=True):
        m_rows.append((1.0,) * MISSING_LEVELS + tuple(float(x) for x in m_f))
        u_rows.append((1.0,) * MISSING_LEVELS + tuple(float(x) for x in u_f))
    return FittedModel(
        tuple(features),
        tuple(m_rows),
        tuple(u_rows),
        best.prior,
        best.log_likelihood,
        tuple(warnings),
    )


def choose_threshold(posteriors: FloatArray, *, missed: float = 0.0) -> float:
    """The posterior cut that maximises the model's expected F1 over proposed links.

    With links sorted by posterior, accepting those ``>= t`` has expected true
    positives ``sum(p)`` over the accepted, false positives ``sum(1 - p)``
    over the accepted and false negatives ``sum(p)`` over the rejected (plus
    ``missed``, expected matches outside the proposals).

    Args:
        posteriors: Posterior of each proposed link (one per record after
            resolution, under the resolution constraint).
        missed: Expected matches that no proposal covers (lost in resolution
            or in blocking).

    Returns:
        The threshold (0.5 when there is nothing to decide).
    """
    if posteriors.size == 0:
        return 0.5
    p = np.sort(posteriors)[::-1]
    tp = np.cumsum(p)
    fp = np.cumsum(1.0 - p)
    fn = tp[-1] - tp + missed
    f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1e-12)
    best = int(np.argmax(f1))
    return float(min(max(p[best], _PROB_FLOOR), 1.0))
