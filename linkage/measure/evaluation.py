"""Measuring an exchange against ground truth (synthetic worlds, benchmarks).

Only test harnesses and the demo hold both the released figures and the
truth; no party role imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

CELL_KEYS = ("segment", "channel", "day_type", "quarter_hour")


@dataclass(frozen=True)
class RatingError:
    """How far released ratings are from the truth, over released cells."""

    cells: int
    mean_abs_error: float
    max_abs_error: float
    suppressed_share: float


def rating_error(released: pa.Table, truth: pa.Table) -> RatingError:
    """Compare a report's viewership.csv with the truth's, cell by cell.

    Args:
        released: ``viewership.csv`` columns from a campaign report.
        truth: the same columns computed from the true voter -> household map.

    Returns:
        Error statistics over released (unsuppressed) cells present in both.
    """
    total = released.num_rows
    suppressed = released["suppressed"].combine_chunks()
    kept = released.filter(pc.invert(suppressed))
    left = kept.select([*CELL_KEYS, "rating"]).rename_columns([*CELL_KEYS, "rating_released"])
    right = truth.select([*CELL_KEYS, "rating"]).rename_columns([*CELL_KEYS, "rating_true"])
    joined = left.join(right, keys=list(CELL_KEYS), join_type="inner")
    a = joined["rating_released"].to_numpy(zero_copy_only=False).astype(float)
    b = joined["rating_true"].to_numpy(zero_copy_only=False).astype(float)
    diff = np.abs(a - b) if len(a) else np.zeros(0)
    return RatingError(
        cells=int(joined.num_rows),
        mean_abs_error=float(diff.mean()) if len(diff) else 0.0,
        max_abs_error=float(diff.max()) if len(diff) else 0.0,
        suppressed_share=float(pc.sum(suppressed).as_py() or 0) / total if total else 0.0,
    )


def linkage_quality(
    predicted: set[tuple[str, str]], truth: set[tuple[str, str]]
) -> dict[str, float]:
    """Precision, recall and F1 of predicted (record, entity) pairs against the truth."""
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 0.0
    recall = tp / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}
