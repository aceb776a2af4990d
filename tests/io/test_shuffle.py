"""Tests for linkage.io.shuffle: every row kept, every order equally likely."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from linkage.io import PRIVATE_MODE, ShuffledParquet, private_scratch


def _shuffled(tmp_path: Path, tables: list[pa.Table], seed: int, buckets: int = 4) -> pa.Table:
    out = tmp_path / f"out-{seed}.parquet"
    with (
        private_scratch(tmp_path) as scratch,
        ShuffledParquet(out, scratch, rng=np.random.default_rng(seed), buckets=buckets) as sink,
    ):
        for table in tables:
            sink.write(table)
    assert stat.S_IMODE(out.stat().st_mode) == PRIVATE_MODE
    return pq.read_table(out)


def test_shuffled_parquet_keeps_every_row_and_loses_the_order(tmp_path: Path) -> None:
    rows = pa.table({"id": pa.array(range(1000), pa.int64()), "v": [str(i) for i in range(1000)]})
    parts = [rows.slice(0, 300), rows.slice(300, 700)]
    one, two = _shuffled(tmp_path, parts, 1), _shuffled(tmp_path, parts, 2)
    for out in (one, two):
        assert sorted(out["id"].to_pylist()) == list(range(1000))
        assert out["v"].to_pylist() == [str(i) for i in out["id"].to_pylist()]
        assert out["id"].to_pylist() != list(range(1000))
    assert one["id"].to_pylist() != two["id"].to_pylist()
    assert _shuffled(tmp_path, parts, 1)["id"].equals(one["id"])
    assert list(tmp_path.glob(".scratch-*")) == []


@pytest.mark.heavy  # in `make heavy` (CI), outside make test's four minutes
def test_shuffled_parquet_orders_are_uniform(tmp_path: Path) -> None:
    """Every order of three rows is about equally likely (bucket split + permutation)."""
    rows = pa.table({"id": pa.array([0, 1, 2], pa.int64())})
    rng = np.random.default_rng(5)
    seen: dict[tuple[int, ...], int] = {}
    for trial in range(600):
        out = tmp_path / f"o{trial}.parquet"
        with ShuffledParquet(out, tmp_path, rng=rng, buckets=2) as sink:
            sink.write(rows)
        order = tuple(pq.read_table(out)["id"].to_pylist())
        seen[order] = seen.get(order, 0) + 1
    assert len(seen) == 6
    # Expected 100 each; a broken shuffle (e.g. buckets kept in input order)
    # puts far more on the identity order.
    assert all(60 <= count <= 140 for count in seen.values()), seen


def test_shuffled_parquet_writes_nothing_on_failure(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError), ShuffledParquet(out, tmp_path) as sink:
        sink.write(pa.table({"id": [1, 2, 3]}))
        raise RuntimeError("boom")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []
