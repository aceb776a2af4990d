"""Term-frequency weighting: a rare value agreeing counts for more than a common one."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pytest

from linkage.encode import load_schema
from linkage.encode.schema import shipped_schema_text
from linkage.errors import SchemaError
from linkage.match import Feature, MatchSettings
from linkage.match.comparison import Comparison
from linkage.match.term_frequency import MAX_TF_NATS, term_frequency_adjustment


def test_common_values_weigh_less_and_the_adjustment_averages_out() -> None:
    freq = np.array([[0.1], [0.1], [0.001], [np.nan]])
    change = term_frequency_adjustment(freq)
    assert change[2] > 0 > change[0] == change[1]
    assert change[3] == 0.0  # no full agreement: no change
    assert change[:3].sum() == pytest.approx(0.0, abs=1e-12)  # geometric mean is the centre
    assert np.all(np.abs(term_frequency_adjustment(np.array([[1.0], [1e-12]]))) <= MAX_TF_NATS)


def test_a_joint_group_is_weighted_once() -> None:
    freq = np.array([[0.1, 0.1], [0.001, 0.001], [0.1, np.nan]])
    alone = term_frequency_adjustment(freq)
    grouped = term_frequency_adjustment(freq, groups=[(0, 1)])
    assert grouped[1] == pytest.approx(term_frequency_adjustment(freq[:, :1])[1])
    assert abs(alone[1]) > abs(grouped[1])


def _tokens(values: Sequence[str | None]) -> pa.Table:
    return pa.table({"mk_f_surname": pa.array([None if v is None else v.encode() for v in values])})


def test_comparison_weights_agreement_by_its_value_in_chunks() -> None:
    a = _tokens([*(["smith"] * 50), "zed", "rare", None])
    b = _tokens(["smith"] * 50 + ["zed", "other", "zed"])
    comparison = Comparison(
        [Feature("mk_f_surname", "exact")], a.select, b.select, frequencies=["mk_f_surname"]
    )
    ia = np.array([0, 1, 50, 51, 52], np.int64)
    ib = np.array([0, 2, 50, 51, 52], np.int64)
    levels, _ = comparison.vectors(ia, ib)
    whole = comparison.frequency_adjustment(ia, ib, levels)
    assert whole[2] > 0 > whole[0]  # "zed" is rarer than "smith"
    assert whole[3] == whole[4] == 0.0  # disagreement and a missing value are not weighted
    chunked = comparison.frequency_adjustment(ia, ib, levels, chunk_pairs=2)
    np.testing.assert_allclose(chunked, whole)
    plain = Comparison([Feature("mk_f_surname", "exact")], a.select, b.select)
    assert not plain.frequency_adjustment(ia, ib, levels).any()


def test_the_schema_switches_it_on_per_comparison() -> None:
    text = shipped_schema_text("febrl").replace(
        '[compare.state]\nmethod = "exact"',
        '[compare.state]\nmethod = "exact"\nterm_frequency = true',
    )
    settings = MatchSettings.from_schema(load_schema(text))
    assert settings.term_frequencies == ("mk_f_state",)
    with pytest.raises(SchemaError, match="term_frequency"):
        load_schema(text.replace("term_frequency = true", "term_frequency = 3"))
