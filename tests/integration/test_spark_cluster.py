"""Tokenize, link and aggregate on a Spark standalone cluster equal the DuckDB path.

The fixture starts a master and two one-core workers from pyspark's own
daemon script on 127.0.0.1 (logs, pids, worker and shuffle directories under
the test's tmp dir), with ``spark.authenticate``, network and shuffle/spill
encryption on, and ``spark.driver.maxResultSize`` at 1m: a collect of the
voter file or a token payload fails (checked below), so the jobs that pass
bring only summaries to the driver. The cluster is stopped at teardown,
whatever happened.

Without pyspark or Java the module is skipped with the reason, except under
CI (``CI`` set), where a missing Spark is a failure.
"""

from __future__ import annotations

import importlib.util
import math
import os
import secrets
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from types import ModuleType

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from linkage.encode import Side, encode_side, shipped_schema
from linkage.engine import DuckDBEngine, SparkEngine, spark_available
from linkage.errors import KeyMaterialError
from linkage.match import (
    candidate_pairs,
    comparison_vectors,
    distinct_rows,
    link_records,
)
from linkage.match.comparison import comparison_features
from linkage.protocol import LinkageKey
from linkage.release import NoiseFn, release_grid, release_viewership
from linkage.spark_jobs import (
    block_pairs,
    compare_pairs,
    distinct_vectors,
    executor_keys,
    token_chunks,
    token_template,
    tokenize_parquet,
)
from linkage.synth import World, generate_world

pytestmark = [pytest.mark.slow, pytest.mark.heavy]

_MISSING = spark_available()
if _MISSING is not None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the Spark cluster tests: {_MISSING}", pytrace=False)
    pytest.skip(f"Spark backend not testable here: {_MISSING}", allow_module_level=True)

_ROOT = Path(__file__).resolve().parents[2]
_REL_TOLERANCE = 1e-9
_CHANNELS = ["ABC", "CBS", "ESPN"]


def _launcher() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "spark_throughput_under_test", _ROOT / "scripts" / "spark_throughput.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkEngine]:
    launcher = _launcher()
    root = tmp_path_factory.mktemp("cluster")
    secret = secrets.token_hex(16)
    conf = launcher.cluster_conf(executor_memory="512m", secret=secret)
    conf["spark.driver.maxResultSize"] = "1m"
    with launcher.standalone_cluster(root, workers=2, cores=1, memory="768m", secret=secret) as url:
        engine = SparkEngine(
            master=url,
            shuffle_partitions=2,
            driver_memory="1g",
            scratch=str(root / "scratch"),
            conf=conf,
        )
        with engine:
            yield engine


@pytest.fixture(scope="module")
def duck() -> Iterator[DuckDBEngine]:
    with DuckDBEngine(memory_limit="512MB", threads=2) as engine:
        yield engine


@pytest.fixture(scope="module")
def world() -> World:
    # Friday and Saturday: both day types appear in the grid.
    return generate_world(voters=4000, days=2, seed=11, start=date(2026, 10, 9))


@pytest.fixture(scope="module")
def key() -> LinkageKey:
    return LinkageKey(exchange_id="spark-cluster", _key=bytes(range(32)))


@pytest.fixture(scope="module")
def files(
    tmp_path_factory: pytest.TempPathFactory, world: World, key: LinkageKey
) -> dict[str, Path]:
    """Inputs and token payloads as Parquet, in several row groups (several partitions)."""
    root = tmp_path_factory.mktemp("inputs")
    schema = shipped_schema()
    tables = {
        "voters": world.voters,
        "subscribers": world.subscribers,
        "a": encode_side(world.voters, schema, "a", key),
        "b": encode_side(world.subscribers, schema, "b", key),
        "viewing": world.viewing,
    }
    paths = {}
    for name, table in tables.items():
        paths[name] = root / f"{name}.parquet"
        pq.write_table(table, paths[name], row_group_size=1 + table.num_rows // 4)
    return paths


def _sorted_rows(table: pa.Table) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = table.sort_by(
        [(n, "ascending") for n in table.column_names]
    ).to_pylist()
    return rows


def assert_same_table(ours: pa.Table, theirs: pa.Table) -> None:
    """Equal schemas and rows (in any order); floats within 1e-9 relative."""
    assert ours.schema == theirs.schema
    assert ours.num_rows == theirs.num_rows
    for left, right in zip(_sorted_rows(ours), _sorted_rows(theirs), strict=True):
        for name, value in left.items():
            other = right[name]
            if isinstance(value, float) and isinstance(other, float):
                assert math.isclose(value, other, rel_tol=_REL_TOLERANCE), name
            else:
                assert value == other, name


def test_the_cluster_refuses_to_collect_an_input(
    spark: SparkEngine, files: dict[str, Path]
) -> None:
    """The cap is low enough to bite: the jobs that pass collect no input-sized table."""
    assert pq.read_metadata(files["a"]).num_rows > 0
    # The JVM's error arrives as py4j's Py4JJavaError (untyped): matched by its text.
    with pytest.raises(Exception, match="maxResultSize"):
        spark.session.read.parquet(str(files["a"])).toArrow()


def test_executor_keys_hold_sub_keys_only(key: LinkageKey) -> None:
    keys = executor_keys(shipped_schema(), "a", key)
    assert keys.purposes and all(":" in p for p in keys.purposes)
    assert keys.subkey(keys.purposes[0]) == key.subkey(keys.purposes[0])
    assert key.fingerprint() not in repr(keys) and "sub-keys" in repr(keys)
    with pytest.raises(KeyMaterialError):
        keys.subkey("match:not_in_the_schema")


@pytest.mark.parametrize(("source", "side"), [("voters", "a"), ("subscribers", "b")])
def test_tokenize_on_executors_equals_local(
    spark: SparkEngine,
    files: dict[str, Path],
    key: LinkageKey,
    tmp_path: Path,
    source: str,
    side: Side,
) -> None:
    schema = shipped_schema()
    keys = executor_keys(schema, side, key)
    target = tmp_path / "tokens"
    tokenize_parquet(
        spark.session, str(files[source]), str(target), schema, side, keys, partitions=3
    )
    chunks = list(token_chunks(str(target), token_template(schema, side)))
    assert len(chunks) >= 3  # more than one partition did the work
    expected = pq.read_table(files[side])
    got = pa.concat_tables(chunks)
    assert got.schema == expected.schema
    assert got.equals(expected)


def test_link_equals_duckdb(
    spark: SparkEngine, duck: DuckDBEngine, world: World, files: dict[str, Path]
) -> None:
    campaign = pq.read_table(files["a"]).add_column(0, "rid", world.voters["voter_id"])
    provider = pq.read_table(files["b"]).add_column(0, "hp", world.subscribers["household_id"])
    expected = link_records(campaign, provider, engine=duck)
    got = link_records(campaign, provider, engine=spark)
    assert expected.links.num_rows > 1000 and expected.fuzzy_links > 0
    assert_same_table(got.links, expected.links)
    assert_same_table(got.evidence, expected.evidence)
    assert (got.exact_links, got.fuzzy_links, got.ambiguous) == (
        expected.exact_links,
        expected.fuzzy_links,
        expected.ambiguous,
    )
    assert got.threshold == expected.threshold


def test_pairs_and_comparison_vectors_on_executors(
    spark: SparkEngine, duck: DuckDBEngine, files: dict[str, Path], tmp_path: Path
) -> None:
    side_a, side_b = pq.read_table(files["a"]), pq.read_table(files["b"])
    passes = [c for c in side_a.column_names if c.startswith("bk_")]
    local = candidate_pairs(side_a, side_b, engine=duck)
    pairs = tmp_path / "pairs"
    assert block_pairs(spark.session, str(files["a"]), str(files["b"]), passes, str(pairs)) == (
        local.ia.size
    )
    features = comparison_features(side_a.schema, side_b.schema)
    compared = tmp_path / "compared"
    compare_pairs(
        spark.session, str(files["a"]), str(files["b"]), str(pairs), features, str(compared)
    )
    got = pq.read_table(compared).sort_by([("ia", "ascending"), ("ib", "ascending")])
    np.testing.assert_array_equal(got["ia"].to_numpy(), local.ia)
    np.testing.assert_array_equal(got["ib"].to_numpy(), local.ib)
    levels, dice = comparison_vectors(side_a, side_b, local.ia, local.ib, features)
    got_levels = np.column_stack([got[f"level_{j}"].to_numpy() for j in range(len(features))])
    np.testing.assert_array_equal(got_levels, levels)
    np.testing.assert_array_equal(got["dice_sum"].to_numpy(), dice)
    rows, counts = distinct_vectors(spark.session, str(compared), len(features))
    want_rows, want_counts = distinct_rows(levels)
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_array_equal(counts, want_counts)


def _assignments(world: World) -> pa.Table:
    """True households labelled by their voters' party, and by ``*``."""
    joined = world.voter_household.join(world.voters.select(["voter_id", "party"]), "voter_id")
    table = pa.table({"household_id": joined["household_id"], "segment": joined["party"]})
    return table.group_by(["household_id", "segment"]).aggregate([])


def _seeded_noise(seed: int) -> NoiseFn:
    """A deterministic noise source: the same seed and calls give the same noise."""
    rng = np.random.default_rng(seed)

    def noise(counts: Sequence[int], scale: float) -> list[int]:
        drawn = np.rint(rng.normal(0.0, scale, len(counts))).astype(np.int64)
        return [int(c) + int(d) for c, d in zip(counts, drawn, strict=True)]

    return noise


@pytest.mark.parametrize("exact", [True, False], ids=["exact", "dp-seeded"])
def test_aggregate_equals_duckdb(
    spark: SparkEngine, duck: DuckDBEngine, world: World, files: dict[str, Path], exact: bool
) -> None:
    assigned = _assignments(world)
    released = []
    for engine in (duck, spark):
        grid = release_grid(files["viewing"], channels=_CHANNELS, engine=engine)
        viewing = files["viewing"]
        if exact:
            release = release_viewership(
                assigned, viewing, grid, engine=engine, k=5, min_universe=5, exact=True
            )
        else:
            # The same seed on both engines: the noise is drawn on the driver, in grid order.
            release = release_viewership(
                assigned, viewing, grid, engine=engine, k=5, min_universe=5, rho=1.0,
                noise=_seeded_noise(5),
            )  # fmt: skip
        released.append(release)
    expected, got = released
    shown = [r for r in expected.to_pylist() if not r["suppressed"]]
    assert shown and any((r["aqh_households"] or 0) > 0 for r in shown)
    assert_same_table(got, expected)
