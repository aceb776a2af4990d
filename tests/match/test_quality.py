"""Tests for linkage.match.quality: precision, recall and F1 of links."""

from __future__ import annotations

import pytest

from linkage.match import linkage_quality


def test_linkage_quality() -> None:
    truth = {("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")}
    predicted = {("a", "1"), ("b", "2"), ("c", "9")}
    q = linkage_quality(predicted, truth)
    assert q["precision"] == pytest.approx(2 / 3)
    assert q["recall"] == pytest.approx(2 / 4)
    assert q["f1"] == pytest.approx(2 * (2 / 3) * (1 / 2) / (2 / 3 + 1 / 2))


def test_linkage_quality_empty_sets_score_zero() -> None:
    assert linkage_quality(set(), {("a", "1")}) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert linkage_quality({("a", "1")}, set()) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
