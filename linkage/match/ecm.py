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
* **Dependent comparisons together.** Two comparisons that read the same
  fields (a street filter and a house-number + street + ZIP key) agree and
  disagree together whatever the class; counted as independent evidence,
  the fit explains their correlation with the latent class and "match"
  comes to mean "same address". A group named in ``joint`` is one variable
  of the model, with a level for each combination of its members' levels.
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
"""Share of the links two fits may classify confidently apart before the fit is unstable."""
_TIE_NATS: Final = 2.0
"""Two fits whose log-likelihoods are this close are equally likely."""
_RANDOM_STARTS: Final = 12
"""Random starts besides the structured ones (EM on distinct vectors is cheap)."""
_PRIOR_STRENGTH: Final = 0.05
"""Pseudo-pairs of the rates' Dirichlet prior: a share of the pairs (m: of the expected matches)."""

__all__ = [
    "MISSING_LEVELS",
    "FittedModel",
    "choose_threshold",
    "distinct_rows",
    "fit_model",
    "variable_groups",
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
class _Joint:
    """Several features as one model variable: a level per combination of theirs."""

    column: str
    members: tuple[int, ...]
    levels: int
    kind: str = "joint"


def variable_groups(
    features: Sequence[Feature], joint: Sequence[Sequence[str]]
) -> list[tuple[int, ...]]:
    """Feature indices per model variable: each ``joint`` group, then every other feature alone."""
    index = {f.column: i for i, f in enumerate(features)}
    taken: set[int] = set()
    out: list[tuple[int, ...]] = []
    for group in joint:
        members = tuple(sorted({index[c] for c in group if c in index} - taken))
        if len(members) >= 2:
            out.append(members)
            taken.update(members)
    out.extend((i,) for i in range(len(features)) if i not in taken)
    return sorted(out)


def _variables(
    features: Sequence[Feature], groups: Sequence[tuple[int, ...]]
) -> list[Feature | _Joint]:
    out: list[Feature | _Joint] = []
    for members in groups:
        if len(members) == 1:
            out.append(features[members[0]])
            continue
        # Each member: an observed level, or one "missing" state; all missing is missing.
        size = int(np.prod([features[i].levels - MISSING_LEVELS + 1 for i in members]))
        name = "+".join(features[i].column for i in members)
        out.append(_Joint(name, members, MISSING_LEVELS + size))
    return out


def _combine(
    levels: LevelArray | IntArray,
    features: Sequence[Feature],
    groups: Sequence[tuple[int, ...]],
) -> IntArray:
    """``levels`` as one column per model variable (joint groups mixed-radix coded)."""
    out = np.empty((levels.shape[0], len(groups)), dtype=np.int64)
    for j, members in enumerate(groups):
        if len(members) == 1:
            out[:, j] = levels[:, members[0]]
            continue
        code = np.zeros(levels.shape[0], dtype=np.int64)
        seen = np.zeros(levels.shape[0], dtype=bool)
        both = np.ones(levels.shape[0], dtype=bool)
        for i in members:
            column = levels[:, i].astype(np.int64)
            observed = column >= MISSING_LEVELS
            size = features[i].levels - MISSING_LEVELS
            code = code * (size + 1) + np.where(observed, column - MISSING_LEVELS, size)
            seen |= observed
            both &= column == 0
        out[:, j] = np.where(seen, MISSING_LEVELS + code, np.where(both, 0, 1))
    return out


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
        groups: Feature indices of each model variable (``m`` and ``u``
            are per variable): a joint group's levels are the combinations
            of its members' levels. Empty: one variable per feature.
    """

    features: tuple[Feature, ...]
    m: tuple[tuple[float, ...], ...]
    u: tuple[tuple[float, ...], ...]
    prior: float
    log_likelihood: float = 0.0
    warnings: tuple[str, ...] = field(default=())
    groups: tuple[tuple[int, ...], ...] = ()

    def log_bayes_factor(self, levels: LevelArray | IntArray) -> FloatArray:
        """Summed log Bayes factors (match vs non-match) of each row of ``levels``."""
        groups = self.groups or tuple((i,) for i in range(len(self.features)))
        combined = _combine(levels, self.features, groups)
        total = np.zeros(levels.shape[0], dtype=np.float64)
        for j in range(len(groups)):
            m = np.maximum(np.asarray(self.m[j]), _PROB_FLOOR)
            u = np.maximum(np.asarray(self.u[j]), _PROB_FLOOR)
            total += np.log(m / u)[combined[:, j]]
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
    """Distinct comparison vectors as per-variable observed-level indices (-1 = missing)."""

    def __init__(
        self, rows: IntArray, counts: IntArray, features: Sequence[Feature | _Joint]
    ) -> None:
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

    def support(self, i: int, weights: FloatArray) -> FloatArray:
        """Pairs (weighted) at each observed level of variable ``i``."""
        seen = self.index[i] >= 0
        tally = np.bincount(self.index[i][seen], weights=weights[seen], minlength=self.sizes[i])
        return tally.astype(np.float64)

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


def _isotonic(values: FloatArray, weights: FloatArray) -> FloatArray:
    """Weighted least-squares non-decreasing fit (pool adjacent violators)."""
    level: list[float] = []
    weight: list[float] = []
    size: list[int] = []
    for v, w in zip(values.tolist(), weights.tolist(), strict=True):
        level.append(v)
        weight.append(max(w, 1e-12))
        size.append(1)
        while len(level) > 1 and level[-2] > level[-1]:
            w2 = weight[-2] + weight[-1]
            level[-2] = (level[-2] * weight[-2] + level[-1] * weight[-1]) / w2
            weight[-2], size[-2] = w2, size[-2] + size[-1]
            del level[-1], weight[-1], size[-1]
    return np.repeat(np.asarray(level), size)


def _monotone(
    m: FloatArray,
    u: FloatArray,
    support: FloatArray,
    variable: Feature | _Joint,
    features: Sequence[Feature],
) -> FloatArray:
    """``m`` moved so that ``log(m / u)`` never falls as any member's similarity rises.

    The log Bayes factors are projected onto non-decreasing sequences along
    each comparison's observed levels (weighted by the pairs at each level),
    and ``m`` is rebuilt from ``u`` and the projected factors.
    """
    ratio = np.log(np.maximum(m, 1e-300)) - np.log(np.maximum(u, 1e-300))
    if isinstance(variable, _Joint):
        shape = tuple(features[i].levels - MISSING_LEVELS + 1 for i in variable.members)
        observed = [n - 1 for n in shape]  # the last state of each member is "missing"
    else:
        shape, observed = (ratio.size,), [ratio.size]
    grid, w = ratio.reshape(shape).copy(), support.reshape(shape)
    for _ in range(2 if len(shape) > 1 else 1):
        for axis, n in enumerate(observed):
            moved = np.moveaxis(grid, axis, -1)
            mw = np.moveaxis(w, axis, -1)
            for index in np.ndindex(moved.shape[:-1]):
                moved[index][:n] = _isotonic(moved[index][:n], mw[index][:n])
    fitted = u * np.exp(grid.reshape(-1))
    out: FloatArray = fitted / fitted.sum()
    return out


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
    monotone: tuple[Sequence[Feature | _Joint], Sequence[Feature]] | None = None,
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
            m = patterns.rates(weights * g, prior_m)
            u = patterns.rates(weights * (1 - g), prior_u)
            if monotone is not None:
                variables, features = monotone
                m = tuple(
                    _monotone(m_f, u_f, patterns.support(i, weights), v, features)
                    for i, (m_f, u_f, v) in enumerate(zip(m, u, variables, strict=True))
                )
            fit = _Fit(m, u, prior, ll)
            if abs(ll - previous) <= 1e-9 * max(abs(ll), 1.0):
                break
            previous = ll
        _, ll = _posteriors(patterns, fit)
        return _Fit(fit.m, fit.u, fit.prior, ll)
    finally:
        patterns.counts = saved


def _seed_rates(
    levels: LevelArray | IntArray, features: Sequence[Feature | _Joint]
) -> tuple[FloatArray, ...]:
    out = []
    for i, feature in enumerate(features):
        column = levels[:, i].astype(np.int64) - MISSING_LEVELS
        size = feature.levels - MISSING_LEVELS
        tally = np.bincount(column[column >= 0], minlength=size).astype(np.float64) + _PSEUDO
        out.append(tally / tally.sum())
    return tuple(out)


def _scores(variable: Feature | _Joint, features: Sequence[Feature]) -> FloatArray:
    """Agreement-order score of each observed level (a joint's: its members' sum)."""
    if isinstance(variable, Feature):
        return np.asarray(
            (_DICE_START if variable.kind == "dice" else _EXACT_START)[MISSING_LEVELS:]
        )
    total = np.zeros(1)
    for i in variable.members:
        own = _scores(features[i], features)
        total = (total[:, None] + np.r_[own, 0.0][None, :]).ravel()  # last: missing
    return total


def _top(variable: Feature | _Joint, features: Sequence[Feature]) -> int:
    """Observed-level index of full agreement (of every member, for a joint)."""
    if isinstance(variable, Feature):
        return variable.levels - MISSING_LEVELS - 1
    code = 0
    for i in variable.members:
        size = features[i].levels - MISSING_LEVELS
        code = code * (size + 1) + size - 1
    return code


def _order_start(
    variables: Sequence[Feature | _Joint], features: Sequence[Feature], sign: float
) -> tuple[FloatArray, ...]:
    out = []
    for variable in variables:
        weights = np.exp(sign * _scores(variable, features))
        out.append(weights / weights.sum())
    return tuple(out)


def _broken(
    fit: _Fit,
    variables: Sequence[Feature | _Joint],
    features: Sequence[Feature],
    patterns: _Patterns,
) -> list[str]:
    """Variables whose full agreement is not more likely among matches (where it occurs).

    The EM keeps every variable's Bayes factors non-decreasing along its
    levels (:func:`_monotone`), so a top level that the data wants below
    another is pooled with it: no evidence at all (``m == u``) is as broken
    as ``m < u``.
    """
    names = []
    for i, variable in enumerate(variables):
        top = _top(variable, features)
        present = np.any(patterns.index[i] == top)
        if present and fit.m[i][top] <= fit.u[i][top] * (1.0 + 1e-6):
            names.append(variable.column)
    return names


def _disagreement(
    first: FloatArray, second: FloatArray, counts: FloatArray, settled: float = 0.0
) -> float:
    """Pairs two fits classify confidently apart, as a share of every proposed link.

    A pair counts when one fit puts it at 0.75 or more and the other at 0.25
    or less: a pair at 0.55 under one fit and 0.45 under the other is near
    the cut under both, not a disagreement. ``settled`` links (the exact
    stage's) count in the denominator: the question is how much of the
    linkage another fit would change.
    """
    high, low = np.maximum(first, second), np.minimum(first, second)
    proposed = float(counts[high >= 0.5].sum()) + settled
    moved = float(counts[(high >= 0.75) & (low <= 0.25)].sum())
    return moved / proposed if proposed else 0.0


def fit_model(
    levels: LevelArray | IntArray,
    features: Sequence[Feature],
    *,
    seed: LevelArray | IntArray | None = None,
    prior: float | None = None,
    starts: int = 4,
    max_iter: int = 200,
    joint: Sequence[Sequence[str]] = (),
    settled: float = 0.0,
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
        joint: Groups of feature columns that read the same fields, each
            modelled as one variable (see the module docstring).
        settled: Links decided outside these pairs (the exact stage's): the
            instability check measures what another fit would move against
            every link, not against the fuzzy stage's few.

    Returns:
        The most likely fit that meets the constraints (the most likely of
        all, with a warning, when none does).

    Raises:
        InputError: Too few pairs to fit.
    """
    if levels.shape[0] < 2:
        raise InputError("too few candidate pairs to fit a linkage model")
    groups = variable_groups(features, joint)
    variables = _variables(features, groups)
    rows, counts = distinct_rows(_combine(levels, features, groups))
    if seed is not None:
        seed = _combine(seed, features, groups)
    patterns = _Patterns(rows, counts, variables)
    # Deterministic from the data: the same pairs give the same starts.
    rng = np.random.default_rng(zlib.crc32(rows.tobytes() + counts.tobytes()))
    u_all = patterns.rates(patterns.counts)
    p0 = min(max(prior if prior is not None else 0.1, 1e-4), 0.5)
    warnings: list[str] = []
    m_seed: tuple[FloatArray, ...] | None = None
    # Agreement-order starts at several priors and sharpnesses: on a pool the
    # exact stage has already skimmed, the seed's rates can sit in the basin
    # of a fit that explains too few matches, and one fixed start may too.
    candidates: list[_Fit] = [
        _Fit(
            _order_start(variables, features, sharp),
            _order_start(variables, features, -sharp),
            share,
            0.0,
        )
        for share in (0.05, 0.1, 0.25)
        for sharp in (0.5, 1.0, 2.0)
    ]
    # Random starts, drawn around the agreement order (seeded by the data):
    # on one key in ten the heavy world's every structured start fell into
    # the same poor basin while a likelier fit existed.
    for _ in range(_RANDOM_STARTS):
        sharp = float(rng.uniform(0.3, 3.0))
        m_start = tuple(
            rng.dirichlet(w * 20 + 0.2) for w in _order_start(variables, features, sharp)
        )
        share = float(rng.uniform(0.02, 0.4))
        candidates.append(_Fit(m_start, _order_start(variables, features, -sharp), share, 0.0))
    if seed is not None and seed.shape[0] >= _MIN_SEED:
        m_seed = _seed_rates(seed, variables)
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
    m_centre = m_seed if m_seed is not None else _order_start(variables, features, 1.0)
    m_prior = tuple(r * strength * p0 for r in m_centre)
    u_prior = tuple(r * strength for r in u_all)
    fits = [
        _em(
            patterns,
            start,
            max_iter=max_iter,
            prior_m=m_prior,
            prior_u=u_prior,
            monotone=(variables, features),
        )
        for start in candidates
    ]
    valid = [f for f in fits if not _broken(f, variables, features, patterns)]
    pool = valid or fits
    best = max(pool, key=lambda f: f.log_likelihood)
    broken = _broken(best, variables, features, patterns)
    if broken:
        warnings.append(
            "the model breaks its constraints: on "
            + ", ".join(broken)
            + " more agreement is not more likely among matches. Check that the "
            "column holds the same field on both sides, drop it from [compare], or add a "
            "match key or comparison that separates people (a date of birth, a phone)"
        )
    g_best, _ = _posteriors(patterns, best)
    rivals = [
        f for f in pool if f is not best and best.log_likelihood - f.log_likelihood <= _TIE_NATS
    ]
    worst = max(
        (
            _disagreement(g_best, _posteriors(patterns, f)[0], patterns.counts, settled)
            for f in rivals
        ),
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
        monotone=(variables, features),
    )
    worst = max(
        worst, _disagreement(g_best, _posteriors(patterns, boot)[0], patterns.counts, settled)
    )
    if worst > _UNSTABLE:
        warnings.append(
            f"the model fit is unstable: another start or a bootstrap of the pairs reverses "
            f"{worst:.0%} of the links. Add a comparison that "
            "separates people (a date of birth, a phone), split a filter that mixes fields, "
            "or set a "
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
        tuple(groups),
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
