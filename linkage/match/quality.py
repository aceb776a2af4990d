"""How good a set of links is: precision, recall and F1 against known true pairs.

It scores the matcher's output whatever the truth came from (a synthetic
world's voter -> household map, or a benchmark such as FEBRL's record ids),
so it sits with the matcher rather than with the synthetic world. Only
benchmarks and tests hold true pairs; no party role imports it.
"""

from __future__ import annotations

__all__ = ["linkage_quality"]


def linkage_quality(
    predicted: set[tuple[str, str]], truth: set[tuple[str, str]]
) -> dict[str, float]:
    """Precision, recall and F1 of predicted (record, entity) pairs against the truth."""
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 0.0
    recall = tp / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}
