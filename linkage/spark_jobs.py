"""Executor-side jobs of the Spark engine: tokenize and compare where the data is.

:class:`linkage.engine.SparkEngine` runs the engine SQL (exact joins,
blocking, the aggregate) on executors over Parquet and brings back
results. The jobs here keep input-sized data on the cluster: the two steps
that are Python rather than SQL run as ``mapInArrow`` over Parquet read by
the executors, calling the very functions the single-machine path calls, so
the outputs are byte-for-byte the same:

* :func:`tokenize_parquet` -- a side's raw records to keyed columns
  (:func:`linkage.encode.encode_side` per Arrow batch), written as Parquet;
  :func:`token_chunks` streams them back in input order for sealing, and
  :func:`spark_token_chunks` is the two together for ``--engine spark``.
* :func:`block_pairs` -- the keyed blocking passes' candidate pairs, left on
  the cluster as Parquet.
* :func:`compare_pairs` -- comparison vectors and Dice over partitions of
  candidate pairs (:func:`linkage.match.comparison_vectors` per batch), each
  side's encodings joined in by Spark; :func:`distinct_vectors` brings only
  the distinct vectors and their counts to the driver (the model's input).

Keys. The executors never receive the linkage key. :func:`executor_keys`
derives, on the driver, exactly the per-purpose HKDF sub-keys the schema's
encodings use (``match:``, ``bloom:``, ``block:``) and ships them inside the
task closure (:class:`ExecutorKeys`), which PySpark pickles into each task:
over the wire (encrypted with ``spark.network.crypto.enabled``) into the
executors' memory; a closure this small travels inline, not as a broadcast
block, and the event log holds plans, not closures. A leaked sub-key
exposes that one encoding of that one exchange; it is worth as much as the
tokens it makes, and is gone when the exchange's executors stop. See
``docs/SCALE.md``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.fs as pa_fs
import pyarrow.parquet as pq

from linkage.encode import LinkageSchema, Side, encode_side
from linkage.engine import SparkEngine, remove_scratch, scratch_uri, spark_engine
from linkage.errors import InputError, KeyMaterialError, StateError
from linkage.match import Feature, comparison_vectors
from linkage.types import SubkeySource

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "ROW_COLUMN",
    "ExecutorKeys",
    "block_pairs",
    "compare_pairs",
    "distinct_vectors",
    "executor_keys",
    "spark_token_chunks",
    "token_chunks",
    "token_template",
    "tokenize_parquet",
]

ROW_COLUMN = "_narwhal_row"
"""Input order carried through the tokenize job (dropped before a chunk leaves)."""

_LEVEL = "level_{}"
_DICE = "dice_sum"


@dataclass(frozen=True, repr=False, eq=False)
class ExecutorKeys:
    """The sub-keys one tokenize job needs, and nothing else: what executors receive.

    Equality is identity and the repr counts the purposes, never shows a
    byte. Asking for a purpose that was not derived is refused: a schema
    that changed after :func:`executor_keys` cannot make an executor encode
    under a key nobody chose for it.
    """

    _subkeys: dict[str, bytes] = field(default_factory=dict)

    def subkey(self, purpose: str) -> bytes:
        """The sub-key derived for ``purpose``.

        Raises:
            KeyMaterialError: ``purpose`` was not derived for this job.
        """
        try:
            return self._subkeys[purpose]
        except KeyError:
            raise KeyMaterialError(
                f"no executor sub-key for purpose {purpose!r}",
                hint="derive the executor keys from the schema the job encodes with",
            ) from None

    @property
    def purposes(self) -> tuple[str, ...]:
        """The purposes held, sorted (names only)."""
        return tuple(sorted(self._subkeys))

    def __repr__(self) -> str:
        return f"ExecutorKeys({len(self._subkeys)} sub-keys)"


class _Recorder:
    """A key source that records each purpose asked for (fixed dummy bytes)."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def subkey(self, purpose: str) -> bytes:
        self.asked.add(purpose)
        return bytes(32)


def token_template(schema: LinkageSchema, side: Side) -> pa.Schema:
    """The keyed columns (names and types) :func:`encode_side` gives ``side``."""
    return _encode_empty(schema, side, _Recorder()).schema


def _encode_empty(schema: LinkageSchema, side: Side, keys: SubkeySource) -> pa.Table:
    # Absent input columns are all-null, so an empty table walks every encoding.
    empty = pa.table({"_": pa.array([], pa.string())})
    return encode_side(empty, schema, side, keys)


def executor_keys(schema: LinkageSchema, side: Side, keys: SubkeySource) -> ExecutorKeys:
    """Derive on the driver the sub-keys ``schema``'s encodings of ``side`` use.

    The purposes are found by encoding an empty table under a recording key
    source, so they are exactly what :func:`encode_side` asks for.
    """
    recorder = _Recorder()
    _encode_empty(schema, side, recorder)
    return ExecutorKeys({purpose: keys.subkey(purpose) for purpose in sorted(recorder.asked)})


def _spark_schema(table_schema: pa.Schema) -> str:
    """A DDL schema string for Arrow columns of binary and integer/float types."""
    names = {
        pa.binary(): "binary",
        pa.int64(): "bigint",
        pa.int8(): "tinyint",
        pa.float64(): "double",
    }
    parts = []
    for item in table_schema:
        kind = pa.binary() if pa.types.is_fixed_size_binary(item.type) else item.type
        if kind not in names:
            raise ValueError(f"column {item.name} has a type the Spark jobs do not map")
        parts.append(f"`{item.name}` {names[kind]}")
    return ", ".join(parts)


def _as_spark(table: pa.Table) -> pa.Table:
    """Fixed-size binary as plain binary, the Arrow type Spark's BinaryType maps to."""
    fields = [
        pa.field(f.name, pa.binary()) if pa.types.is_fixed_size_binary(f.type) else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields))


def _read(session: SparkSession, source: str) -> DataFrame:
    from pyspark.errors import AnalysisException

    try:
        return session.read.parquet(source)
    except AnalysisException as exc:
        raise InputError(
            "could not read Parquet input",
            file=source,
            hint="check that every executor can read the path (on a cluster: shared storage)",
        ) from exc


def tokenize_parquet(
    session: SparkSession,
    source: str,
    target: str,
    schema: LinkageSchema,
    side: Side,
    keys: ExecutorKeys,
    *,
    partitions: int | None = None,
) -> None:
    """Tokenize a side's Parquet records on the executors into Parquet at ``target``.

    Each executor reads its share of ``source``, runs :func:`encode_side` on
    each Arrow batch (``mapInArrow``) and writes keyed columns only, plus
    :data:`ROW_COLUMN` (input order). Plaintext leaves no executor: the raw
    records are read, normalised and hashed in its memory.

    Args:
        session: The Spark session (its executors import ``linkage``).
        source: The side's records (Parquet file or directory; path or URI).
        target: Output directory (path or URI), overwritten.
        schema: The shared linkage schema.
        side: ``"a"`` or ``"b"``.
        keys: :func:`executor_keys` of ``schema`` and ``side``.
        partitions: Repartition the input first (keeping its order) to spread
            a file with few row groups; ``None`` keeps Spark's split.

    Raises:
        InputError: ``source`` cannot be read.
    """
    from pyspark.sql import functions as spark_functions

    frame = _read(session, source)
    columns = [c for c in schema.side_columns(side) if c in frame.columns]
    frame = frame.select(*columns).withColumn(
        ROW_COLUMN, spark_functions.monotonically_increasing_id()
    )
    if partitions is not None:
        frame = frame.repartitionByRange(partitions, ROW_COLUMN).sortWithinPartitions(ROW_COLUMN)
    template = token_template(schema, side)
    out_schema = _spark_schema(template.append(pa.field(ROW_COLUMN, pa.int64())))

    def encode_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            table = pa.Table.from_batches([batch])
            tokens = encode_side(table.drop_columns([ROW_COLUMN]), schema, side, keys)
            tokens = tokens.append_column(ROW_COLUMN, table[ROW_COLUMN])
            yield from _as_spark(tokens).to_batches()

    frame.mapInArrow(encode_batches, out_schema).write.mode("overwrite").parquet(target)


def _part_files(location: str) -> tuple[pa_fs.FileSystem, list[str]]:
    filesystem, base = pa_fs.FileSystem.from_uri(scratch_uri(location))
    infos = filesystem.get_file_info(pa_fs.FileSelector(base))
    parts = sorted(
        i.path for i in infos if i.is_file and i.base_name.startswith("part-")
    )  # Spark names parts by partition index: name order is partition order
    return filesystem, parts


def token_chunks(location: str, template: pa.Schema) -> Iterator[pa.Table]:
    """The tokens at ``location`` (:func:`tokenize_parquet`) in input order, a batch at a time.

    Read straight from storage by the driver, one row group at a time, cast
    back to ``template`` (:func:`token_template`); the input order is checked
    on :data:`ROW_COLUMN`, which is dropped.

    Raises:
        StateError: The parts are not in input order.
    """
    filesystem, parts = _part_files(location)
    last = -1
    for part in parts:
        with filesystem.open_input_file(part) as handle:
            for batch in pq.ParquetFile(handle).iter_batches():
                table = pa.Table.from_batches([batch])
                rows = table[ROW_COLUMN].to_numpy()
                if rows.size and (rows[0] <= last or np.any(np.diff(rows) <= 0)):
                    raise StateError("Spark tokenize output is not in input order")
                last = int(rows[-1]) if rows.size else last
                yield table.drop_columns([ROW_COLUMN]).cast(template)


def spark_token_chunks(
    source: Path,
    schema: LinkageSchema,
    side: Side,
    keys: SubkeySource,
    *,
    engine: SparkEngine | None = None,
    partitions: int | None = None,
) -> Iterator[pa.Table]:
    """``source``'s token chunks in input order, encoded on the executors: ``--engine spark``.

    What :func:`linkage.encode.encode_side_chunks` gives for the same
    records, for a tokenize command to seal: only the sub-keys
    reach the executors, the tokens go to the engine's scratch and come back
    a row group at a time, and the scratch copy is removed once they are read
    (or the reader stops).

    Args:
        source: The side's records as Parquet, at a path every executor can read.
        schema: The shared linkage schema.
        side: ``"a"`` or ``"b"``.
        keys: The exchange's linkage key (only sub-keys are derived from it).
        engine: The Spark engine; ``None`` starts :func:`linkage.engine.spark_engine`
            (stopped when the chunks are done).
        partitions: See :func:`tokenize_parquet`.

    Raises:
        InputError: ``source`` is not Parquet (checked before any work).
    """
    if source.suffix.lower() != ".parquet":
        raise InputError(
            "the Spark engine reads the records as Parquet",
            file=str(source),
            hint="convert the file to Parquet, or tokenize with --engine duckdb",
        )
    derived = executor_keys(schema, side, keys)
    return _spark_chunks(source, schema, side, derived, engine, partitions)


def _spark_chunks(
    source: Path,
    schema: LinkageSchema,
    side: Side,
    keys: ExecutorKeys,
    engine: SparkEngine | None,
    partitions: int | None,
) -> Iterator[pa.Table]:
    with ExitStack() as stack:
        if engine is None:
            engine = stack.enter_context(spark_engine())
        target = engine.scratch_path("tokens")
        stack.callback(remove_scratch, target)
        tokenize_parquet(
            engine.session, str(source), target, schema, side, keys, partitions=partitions
        )
        yield from token_chunks(target, token_template(schema, side))


def _with_position(frame: DataFrame, prefix: str, columns: Sequence[str]) -> DataFrame:
    from pyspark.sql import functions as spark_functions

    return frame.select(
        spark_functions.col("_metadata.row_index").alias(f"{prefix}row"),
        *(spark_functions.col(c).alias(f"{prefix}{c}") for c in columns),
    )


def block_pairs(
    session: SparkSession,
    side_a: str,
    side_b: str,
    passes: Sequence[str],
    target: str,
    *,
    max_block: int = 2_000,
) -> int:
    """Candidate pairs of keyed blocking passes, on the executors, written to ``target``.

    The pairs of :func:`linkage.match.candidate_pairs` (a pair shares a
    blocking value whose block, side-a rows times side-b rows, is at most
    ``max_block``; distinct over the passes), kept on the cluster: ``ia``,
    ``ib`` (row positions, int64), never collected.

    Args:
        session: The Spark session.
        side_a: Side-a token payload, one Parquet file.
        side_b: Side-b token payload, one Parquet file.
        passes: ``bk_*`` columns of both sides.
        target: Output directory, overwritten.
        max_block: Largest block (pairs) a blocking value may produce.

    Returns:
        The number of candidate pairs.

    Raises:
        InputError: ``max_block`` is below 1, a pass is not a ``bk_*`` column
            of both sides, or an input cannot be read.
    """
    from pyspark.sql import functions as spark_functions

    if max_block < 1:
        raise InputError("max_block must be at least 1")
    frame_a, frame_b = _read(session, side_a), _read(session, side_b)
    for name in passes:
        if not name.startswith("bk_") or name not in frame_a.columns or name not in frame_b.columns:
            raise InputError("blocking pass is not a bk_* column of both token files", column=name)
    found: DataFrame | None = None
    for name in passes:
        keyed_a = _with_position(frame_a, "a_", [name]).where(f"a_{name} IS NOT NULL")
        keyed_b = _with_position(frame_b, "b_", [name]).where(f"b_{name} IS NOT NULL")
        sizes_a = keyed_a.groupBy(f"a_{name}").agg(spark_functions.count("*").alias("na"))
        sizes_b = keyed_b.groupBy(f"b_{name}").agg(spark_functions.count("*").alias("nb"))
        small = (
            sizes_a.join(sizes_b, sizes_a[f"a_{name}"] == sizes_b[f"b_{name}"])
            .where(spark_functions.col("na") * spark_functions.col("nb") <= max_block)
            .select(spark_functions.col(f"a_{name}").alias("k"))
        )
        pairs = (
            keyed_a.join(small, keyed_a[f"a_{name}"] == small["k"])
            .join(keyed_b, spark_functions.col("k") == keyed_b[f"b_{name}"])
            .select(
                spark_functions.col("a_row").cast("bigint").alias("ia"),
                spark_functions.col("b_row").cast("bigint").alias("ib"),
            )
        )
        found = pairs if found is None else found.union(pairs)
    if found is None:
        found = session.createDataFrame([], "ia bigint, ib bigint")
    found.distinct().write.mode("overwrite").parquet(target)
    return int(_read(session, target).count())


def compare_pairs(
    session: SparkSession,
    side_a: str,
    side_b: str,
    pairs: str,
    features: Sequence[Feature],
    target: str,
) -> None:
    """Comparison vectors of candidate pairs, on the executors, written to ``target``.

    Spark joins each pair ``(ia, ib)`` (row positions, as
    :func:`linkage.match.candidate_pairs` gives them) with the two sides'
    feature columns, then each partition of joined pairs goes through
    :func:`linkage.match.comparison_vectors`: the same Dice and levels as on
    one machine, pair by pair.

    Args:
        session: The Spark session.
        side_a: Side-a token payload, one Parquet file (row position = its
            row index in the file; its schema gives the columns' widths).
        side_b: Side-b token payload, one Parquet file.
        pairs: Parquet with ``ia``, ``ib`` (int64).
        features: What to compare (columns on both sides).
        target: Output directory: ``ia``, ``ib``, ``level_<j>`` (int8, one
            per feature), ``dice_sum`` (float64).

    Raises:
        InputError: An input cannot be read, or no feature is given.
    """
    if not features:
        raise InputError("no comparison columns (clk_*/mk_f_*) shared by both token files")
    from pyspark.sql import functions as spark_functions

    names = [f.column for f in features]
    a_frame = _with_position(_read(session, side_a), "a_", names)
    b_frame = _with_position(_read(session, side_b), "b_", names)
    joined = (
        _read(session, pairs)
        .select("ia", "ib")
        .join(a_frame, a_frame["a_row"] == spark_functions.col("ia"))
        .join(b_frame, b_frame["b_row"] == spark_functions.col("ib"))
        .select("ia", "ib", *(f"a_{c}" for c in names), *(f"b_{c}" for c in names))
    )
    features = tuple(features)
    # Spark reads fixed-size binary as plain binary; the comparison wants the width back.
    filesystem, path = pa_fs.FileSystem.from_uri(scratch_uri(side_a))
    widths = pq.read_schema(path, filesystem=filesystem)
    types = {c: widths.field(c).type for c in names}
    out_schema = ", ".join(
        ["`ia` bigint", "`ib` bigint"]
        + [f"`{_LEVEL.format(j)}` tinyint" for j in range(len(features))]
        + [f"`{_DICE}` double"]
    )

    def compare_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            table = pa.Table.from_batches([batch])
            side_a_cols = pa.table({c: table[f"a_{c}"].cast(types[c]) for c in names})
            side_b_cols = pa.table({c: table[f"b_{c}"].cast(types[c]) for c in names})
            at = np.arange(table.num_rows, dtype=np.int64)
            levels, dice = comparison_vectors(side_a_cols, side_b_cols, at, at, features)
            columns: dict[str, pa.Array | pa.ChunkedArray] = {"ia": table["ia"], "ib": table["ib"]}
            for j in range(len(features)):
                columns[_LEVEL.format(j)] = pa.array(levels[:, j], pa.int8())
            columns[_DICE] = pa.array(dice, pa.float64())
            yield from pa.table(columns).to_batches()

    joined.mapInArrow(compare_batches, out_schema).write.mode("overwrite").parquet(target)


def distinct_vectors(
    session: SparkSession, compared: str, features: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The distinct comparison vectors at ``compared`` and how many pairs have each.

    Counted on the executors; only the distinct vectors (at most the product
    of the features' level counts: 49 for the shipped schema's two Dice
    features) reach the driver, sorted lexicographically like
    :func:`linkage.match.distinct_rows`.
    """
    names = [_LEVEL.format(j) for j in range(features)]
    counted = _read(session, compared).groupBy(*names).count().toArrow()
    order = counted.sort_by([(n, "ascending") for n in names])
    rows = np.column_stack([order[n].to_numpy().astype(np.int64) for n in names])
    counts = order["count"].to_numpy().astype(np.int64)
    return rows.reshape(-1, features), counts
