"""Term-frequency weighting: a common value agreeing is weaker evidence than a rare one.

The model's Bayes factor for full agreement on a comparison is an average
over values: "Smith" agreeing and "Szczepanski" agreeing get the same one.
As in Splink, the factor of each agreeing pair is scaled by how common its
value is: multiplied by ``typical / frequency``, where ``frequency`` is the
share of all records (both sides) holding the pair's value and ``typical`` is
the geometric mean of that share over the agreeing candidate pairs, so the
adjustment averages out over them and the model's calibration holds.

Done privately: the matcher counts equal keyed tokens, or equal Bloom
filters (one filter is one normalised value), among the records it already
holds. It learns nothing it could not count before, and nothing new is sent;
what those counts tell it is in ``docs/THREAT_MODEL.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["MAX_TF_NATS", "log_frequency_sums", "term_frequency_adjustment"]

FloatArray = npt.NDArray[np.float64]

MAX_TF_NATS: Final = 5.0
"""Largest change one comparison's frequency may make to a pair's log Bayes factor."""


def log_frequency_sums(frequencies: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per feature, the summed log frequency over agreeing pairs and their number (one chunk)."""
    has = np.isfinite(frequencies) & (frequencies > 0)
    logs = np.where(has, np.log(np.where(has, frequencies, 1.0)), 0.0)
    return logs.sum(axis=0), has.sum(axis=0).astype(np.float64)


def term_frequency_adjustment(
    frequencies: FloatArray,
    groups: Sequence[Sequence[int]] = (),
    *,
    typical: FloatArray | None = None,
) -> FloatArray:
    """Per pair, the summed change of its log Bayes factor from its values' frequencies.

    Args:
        frequencies: ``(pairs, features)`` from
            :meth:`linkage.match.comparison.Comparison.value_frequencies`:
            the share of records holding the agreed value, NaN where the pair
            does not agree fully or the feature is not weighted.
        groups: Feature indices modelled as one variable (the model's joint
            groups): they read the same field, so only the first of a group
            with a frequency counts, once.

    Returns:
        ``log(typical / frequency)`` summed over features, each clipped to
        +/- :data:`MAX_TF_NATS`; 0 for a pair that agrees fully on nothing.
    """
    pairs, features = frequencies.shape
    out = np.zeros(pairs, dtype=np.float64)
    leader = {i: g[0] for g in (list(group) for group in groups) if g for i in g}
    done: dict[int, npt.NDArray[np.bool_]] = {}
    for j in range(features):
        column = frequencies[:, j]
        has = np.isfinite(column) & (column > 0)
        if not has.any():
            continue
        centre = float(np.exp(np.log(column[has]).mean())) if typical is None else float(typical[j])
        if not np.isfinite(centre) or centre <= 0:
            continue
        change = np.clip(
            np.log(centre) - np.log(np.where(has, column, centre)), -MAX_TF_NATS, MAX_TF_NATS
        )
        use = has
        if j in leader:
            # One field, one weighting: the group's first member that agrees counts.
            seen = done.setdefault(leader[j], np.zeros(pairs, dtype=bool))
            use = has & ~seen
            seen |= has
        out[use] += change[use]
    return out
