"""The same SQL on DuckDB and on Spark (local[2]) gives the same outputs.

One Spark session is shared by the whole module: starting a JVM takes several
seconds. Without pyspark or Java the module is skipped with the reason, except
under CI (``CI`` set), where a missing Spark is a failure: CI must prove the
backend works.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from linkage.encode import encode_side, normalize_records, shipped_schema, tokenize_records
from linkage.engine import SPARK_DIALECT, DuckDBEngine, Engine, SparkEngine, spark_available
from linkage.errors import InputError, PrivacyError
from linkage.match import link_exact
from linkage.measure import compute_viewership, household_intensity, segment_members
from linkage.protocol import LinkageKey
from linkage.release import refuse_differencing
from linkage.spark_jobs import spark_token_chunks
from linkage.synth import World, generate_world
from linkage.tables import CELLS_SCHEMA

# A JVM and a Spark session (about 40 s of CPU in all): in `make heavy` (CI), outside
# make test's four minutes.
pytestmark = [pytest.mark.slow, pytest.mark.heavy]

_MISSING = spark_available()
if _MISSING is not None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the Spark tests: {_MISSING}", pytrace=False)
    pytest.skip(f"Spark backend not testable here: {_MISSING}", allow_module_level=True)

_FLOAT_TOLERANCE = 1e-12


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkEngine]:
    with SparkEngine(master="local[2]", shuffle_partitions=2, driver_memory="1g") as engine:
        yield engine


@pytest.fixture(scope="module")
def duck() -> Iterator[DuckDBEngine]:
    with DuckDBEngine(memory_limit="512MB", threads=2) as engine:
        yield engine


@pytest.fixture(scope="module")
def world() -> World:
    # Friday and Saturday: both day types appear in the grid.
    return generate_world(voters=400, days=2, seed=7, start=date(2026, 10, 9))


@pytest.fixture(scope="module")
def assignments(world: World) -> pa.Table:
    """Truth households labelled by the party of their voters (and ``*``)."""
    voters = world.voters.select(["voter_id", "party"])
    joined = world.voter_household.join(voters, "voter_id")
    table = pa.table({"household_id": joined["household_id"], "segment": joined["party"]})
    return table.group_by(["household_id", "segment"]).aggregate([])


def _rows(table: pa.Table) -> list[dict[str, object]]:
    keys = [(name, "ascending") for name in table.column_names]
    rows: list[dict[str, object]] = table.sort_by(keys).to_pylist()
    return rows


def assert_same_table(ours: pa.Table, theirs: pa.Table) -> None:
    """Equal rows after sorting; floats within a tight relative tolerance."""
    assert ours.column_names == theirs.column_names
    assert ours.num_rows == theirs.num_rows
    for left, right in zip(_rows(ours), _rows(theirs), strict=True):
        for name, value in left.items():
            other = right[name]
            if isinstance(value, float) and isinstance(other, float):
                assert math.isclose(value, other, rel_tol=_FLOAT_TOLERANCE), name
            else:
                assert value == other, name


def test_spark_engine_is_an_engine(spark: SparkEngine) -> None:
    assert isinstance(spark, Engine)
    assert spark.dialect is SPARK_DIALECT
    assert "open" in repr(spark)


def test_dialect_fragments_run_on_spark(spark: SparkEngine) -> None:
    d = spark.dialect
    table = pa.table(
        {
            "end": pa.array([86_400, 1], pa.timestamp("s")),
            "tags": pa.array([["a", "b"], ["c"]], pa.list_(pa.string())),
        }
    )
    out = spark.query(
        f"SELECT {d.epoch_seconds(d.ident('end'))} AS e FROM m ORDER BY e", {"m": table}
    )
    assert out.to_pydict() == {"e": [1, 86_400]}
    tags = spark.query(f"SELECT {d.unnest('tags')} AS t FROM m", {"m": table})
    assert sorted(tags["t"].to_pylist()) == ["a", "b", "c"]


def test_views_do_not_leak_between_queries(spark: SparkEngine) -> None:
    from pyspark.errors import AnalysisException  # only importable when Spark is present

    spark.query("SELECT * FROM a", {"a": pa.table({"x": [1]})})
    with pytest.raises(AnalysisException, match="TABLE_OR_VIEW_NOT_FOUND"):
        spark.query("SELECT * FROM a", {})


def test_parquet_paths_and_missing_files(spark: SparkEngine, tmp_path: Path) -> None:
    path = tmp_path / "v.parquet"
    pq.write_table(pa.table({"v": [5, 7]}), path)
    assert spark.query("SELECT SUM(v) AS total FROM t", {"t": path})["total"].to_pylist() == [12]
    with pytest.raises(InputError) as info:
        spark.query("SELECT * FROM t", {"t": tmp_path / "absent.parquet"})
    assert info.value.file is not None and "absent.parquet" in info.value.file


def test_compute_viewership_identical(
    spark: SparkEngine, duck: DuckDBEngine, world: World, assignments: pa.Table, tmp_path: Path
) -> None:
    channels = world.channels["channel"].to_pylist()[:4]
    expected = compute_viewership(assignments, world.viewing, channels=channels, engine=duck)
    assert expected.schema == CELLS_SCHEMA
    # A real comparison needs credited viewing, not an all-zero grid.
    assert pc.sum(expected["contributors"]).as_py() > 0
    assert set(expected["day_type"].to_pylist()) == {"weekday", "weekend", "all"}
    path = tmp_path / "viewing.parquet"
    pq.write_table(world.viewing, path)
    got = compute_viewership(assignments, path, channels=channels, engine=spark)
    assert got.schema == CELLS_SCHEMA
    assert_same_table(got, expected)


def test_household_intensity_identical(
    spark: SparkEngine, duck: DuckDBEngine, world: World
) -> None:
    period = [date(2026, 10, 9), date(2026, 10, 10)]
    expected = household_intensity(world.viewing, engine=duck, period=period)
    assert expected.num_rows > 0
    assert_same_table(household_intensity(world.viewing, engine=spark, period=period), expected)


def test_link_exact_identical(spark: SparkEngine, duck: DuckDBEngine, world: World) -> None:
    key = LinkageKey(exchange_id="spark-test", _key=bytes(range(32)))
    campaign = tokenize_records(normalize_records(world.voters), key)
    campaign = campaign.add_column(0, "rid", world.voters["voter_id"])
    provider = tokenize_records(normalize_records(world.subscribers), key)
    provider = provider.add_column(0, "hp", world.subscribers["household_id"])
    expected = link_exact(campaign, provider, engine=duck)
    assert expected.links.num_rows > 100
    got = link_exact(campaign, provider, engine=spark)
    assert_same_table(got.links, expected.links)
    assert (got.candidate_pairs, got.ambiguous) == (expected.candidate_pairs, expected.ambiguous)


@pytest.mark.parametrize("k", [1, 10_000])
def test_refuse_differencing_agrees(
    spark: SparkEngine, duck: DuckDBEngine, assignments: pa.Table, k: int
) -> None:
    outcomes: list[str] = []
    for engine in (duck, spark):
        try:
            refuse_differencing(segment_members(assignments, engine), k, engine)
            outcomes.append("released")
        except PrivacyError as exc:
            outcomes.append(str(exc))
    assert outcomes[0] == outcomes[1]
    assert (outcomes[0] == "released") is (k == 1)


def test_arrow_tables_reach_spark_as_scratch_parquet(spark: SparkEngine) -> None:
    table = pa.table({"k": ["a", "b"], "t": pa.array([b"x" * 32, b"y" * 32], pa.binary(32))})
    out = spark.query("SELECT k, length(t) AS n FROM t ORDER BY k", {"t": table})
    assert out.to_pydict() == {"k": ["a", "b"], "n": [32, 32]}
    # Written for the query, removed after it.
    assert list(Path(spark.scratch).iterdir()) == []


def test_spark_token_chunks_equal_encode_side(
    spark: SparkEngine, world: World, tmp_path: Path
) -> None:
    key = LinkageKey(exchange_id="spark-test", _key=bytes(range(32)))
    schema = shipped_schema()
    path = tmp_path / "subscribers.parquet"
    pq.write_table(world.subscribers, path, row_group_size=50)
    chunks = list(spark_token_chunks(path, schema, "b", key, engine=spark, partitions=2))
    assert pa.concat_tables(chunks).equals(encode_side(world.subscribers, schema, "b", key))
    assert list(Path(spark.scratch).iterdir()) == []
    with pytest.raises(InputError, match="Parquet"):
        spark_token_chunks(tmp_path / "subscribers.csv", schema, "b", key, engine=spark)
