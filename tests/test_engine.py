"""Tests for linkage.engine: registration, Parquet views, isolation, lifecycle."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from linkage.engine import (
    DUCKDB_DIALECT,
    ENGINE_NAMES,
    SPARK_DIALECT,
    DuckDBEngine,
    Engine,
    SparkEngine,
    make_engine,
    spark_available,
)
from linkage.errors import InputError


@pytest.fixture
def engine() -> Iterator[DuckDBEngine]:
    with DuckDBEngine(memory_limit="256MB", threads=1) as eng:
        yield eng


def test_is_an_engine(engine: DuckDBEngine) -> None:
    assert isinstance(engine, Engine)
    assert engine.dialect is DUCKDB_DIALECT


def test_query_arrow_tables_by_name(engine: DuckDBEngine) -> None:
    left = pa.table({"k": ["a", "b", "c"], "x": [1, 2, 3]})
    right = pa.table({"k": ["b", "c", "d"], "y": [20, 30, 40]})
    out = engine.query(
        "SELECT l.k, l.x + r.y AS s FROM l JOIN r ON l.k = r.k ORDER BY l.k",
        {"l": left, "r": right},
    )
    assert isinstance(out, pa.Table)
    assert out.to_pydict() == {"k": ["b", "c"], "s": [22, 33]}


def test_query_parquet_path(engine: DuckDBEngine, tmp_path: Path) -> None:
    path = tmp_path / "it's.parquet"  # a quote in the name must not break the SQL
    pq.write_table(pa.table({"v": [5, 7]}), path)
    out = engine.query("SELECT SUM(v) AS total FROM t", {"t": path})
    assert out["total"].to_pylist() == [12]


def test_missing_parquet_is_input_error(engine: DuckDBEngine, tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        engine.query("SELECT * FROM t", {"t": tmp_path / "absent.parquet"})
    assert info.value.file is not None and "absent.parquet" in info.value.file


def test_registrations_do_not_leak_between_queries(engine: DuckDBEngine, tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"v": [1]}), path)
    engine.query("SELECT * FROM a, b", {"a": pa.table({"x": [1]}), "b": path})
    with pytest.raises(duckdb.CatalogException):
        engine.query("SELECT * FROM a", {})
    with pytest.raises(duckdb.CatalogException):
        engine.query("SELECT * FROM b", {})


def test_rejects_non_identifier_names(engine: DuckDBEngine) -> None:
    with pytest.raises(ValueError, match="identifier"):
        engine.query("SELECT 1", {"x; DROP": pa.table({"a": [1]})})


def test_closed_engine_refuses(engine: DuckDBEngine) -> None:
    engine.close()
    engine.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        engine.query("SELECT 1 AS one", {})
    assert "closed" in repr(engine)


def test_threads_must_be_positive() -> None:
    with pytest.raises(ValueError):
        DuckDBEngine(threads=0)


def test_dialect_fragments_run_on_duckdb(engine: DuckDBEngine) -> None:
    d = engine.dialect
    sql = f"SELECT {d.epoch_seconds(d.ident('end'))} AS e FROM m ORDER BY e"
    table = pa.table({"end": pa.array([86_400, 1], pa.timestamp("s"))})
    assert engine.query(sql, {"m": table}).to_pydict() == {"e": [1, 86_400]}


def test_spark_dialect_spelling() -> None:
    assert SPARK_DIALECT.ident("end") == "`end`"
    assert SPARK_DIALECT.epoch_seconds("ts") == "CAST(unix_timestamp(ts) AS BIGINT)"


def test_unnest_spellings(engine: DuckDBEngine) -> None:
    assert DUCKDB_DIALECT.unnest("xs") == "UNNEST(xs)"
    assert SPARK_DIALECT.unnest("xs") == "explode(xs)"
    table = pa.table({"xs": pa.array([["a", "b"], ["c"]], pa.list_(pa.string()))})
    out = engine.query(f"SELECT {engine.dialect.unnest('xs')} AS x FROM t ORDER BY x", {"t": table})
    assert out["x"].to_pylist() == ["a", "b", "c"]


def test_make_engine_duckdb() -> None:
    with make_engine("duckdb") as made:
        assert isinstance(made, DuckDBEngine)
        assert made.query("SELECT 1 AS one", {})["one"].to_pylist() == [1]
    assert set(ENGINE_NAMES) == {"duckdb", "spark"}


def test_make_engine_rejects_unknown_names() -> None:
    with pytest.raises(InputError, match="unknown engine") as info:
        make_engine("postgres")
    assert info.value.hint is not None and "--engine" in info.value.hint


def test_spark_unavailable_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    reason = spark_available()
    assert reason is not None and "pyspark" in reason
    with pytest.raises(InputError, match="Spark") as info:
        SparkEngine()
    assert info.value.hint == reason


def test_spark_unavailable_without_java(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: object())
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    reason = spark_available()
    assert reason is not None and "Java" in reason
