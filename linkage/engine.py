"""SQL engines: the one plug-in point for heavy joins and aggregations.

Modules that need a join or a group-by write plain SQL against named tables and
hand it to an :class:`Engine`. DuckDB (embedded, spills to disk) is the
default; the SQL is kept to standard functions so the same text can run on
Spark SQL when a party's data outgrows one machine. The few constructs with no
common spelling (epoch seconds of a timestamp, quoting reserved words such as
``end``) go through :class:`SqlDialect`, so a Spark engine only has to provide
its own dialect object.

:class:`SparkEngine` runs the same SQL text on Spark (``pyspark``, an optional
dependency imported only when a Spark engine is built); :func:`make_engine`
picks an engine by name for the ``--engine`` option.
"""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import shutil
import sys
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self, TypeAlias, runtime_checkable

import duckdb
import pyarrow as pa
import pyarrow.fs as pa_fs
import pyarrow.parquet as pq

from linkage.errors import InputError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "DUCKDB_DIALECT",
    "ENGINE_NAMES",
    "SPARK_DIALECT",
    "SPARK_MASTER_ENV",
    "SPARK_SCRATCH_ENV",
    "DuckDBEngine",
    "Engine",
    "SparkEngine",
    "SqlDialect",
    "TableSource",
    "check_engine_name",
    "make_engine",
    "remove_scratch",
    "scratch_uri",
    "spark_available",
    "spark_engine",
]

TableSource: TypeAlias = pa.Table | Path
"""What an engine can register under a name: an in-memory Arrow table or a Parquet path."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class SqlDialect:
    """The dialect-specific SQL fragments, kept in one small object.

    Attributes:
        name: Engine family (``"duckdb"``, ``"spark"``).
        epoch_template: Expression giving whole seconds since 1970-01-01 of a
            naive timestamp; ``{expr}`` is replaced by the timestamp expression.
        quote: Identifier quote character, for column names that are reserved
            words (``start``, ``end``).
        unnest_template: Select-list expression giving one row per element
            of a list column (DuckDB ``UNNEST``, Spark ``explode``); ``{expr}``
            is replaced by the list expression.
    """

    name: str
    epoch_template: str
    quote: str
    unnest_template: str

    def ident(self, name: str) -> str:
        """``name`` quoted as an identifier."""
        return f"{self.quote}{name}{self.quote}"

    def epoch_seconds(self, expr: str) -> str:
        """SQL for whole seconds since the epoch of a naive timestamp expression."""
        return self.epoch_template.format(expr=expr)

    def unnest(self, expr: str) -> str:
        """Select-list SQL turning a list expression into one row per element."""
        return self.unnest_template.format(expr=expr)


DUCKDB_DIALECT = SqlDialect(
    name="duckdb",
    epoch_template="CAST(epoch({expr}) AS BIGINT)",
    quote='"',
    unnest_template="UNNEST({expr})",
)

# Spark must run with spark.sql.session.timeZone=UTC so unix_timestamp treats
# naive times as-is (SparkEngine sets it).
SPARK_DIALECT = SqlDialect(
    name="spark",
    epoch_template="CAST(unix_timestamp({expr}) AS BIGINT)",
    quote="`",
    unnest_template="explode({expr})",
)


@runtime_checkable
class Engine(Protocol):
    """Runs one SQL query over named tables and returns the result as Arrow.

    Tables are visible to the query only, under the given names: Arrow tables
    are registered directly and paths are read as Parquet (a file, directory
    or glob). Names must be plain SQL identifiers.
    """

    @property
    def dialect(self) -> SqlDialect:
        """The SQL fragments this engine needs for non-standard constructs."""
        ...

    def query(self, sql: str, tables: Mapping[str, TableSource]) -> pa.Table:
        """Run ``sql`` with ``tables`` registered as views and return the result."""
        ...


def _check_name(name: str) -> None:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"table name {name!r} is not a plain SQL identifier")


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class _Closing(ABC):
    """``with engine:`` closes it; engines define :meth:`close`."""

    @abstractmethod
    def close(self) -> None:
        """Release the engine's resources; further queries raise."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class DuckDBEngine(_Closing):
    """The default engine: an in-memory DuckDB connection that spills to disk.

    Args:
        memory_limit: DuckDB memory limit (e.g. ``"1GB"``); larger work spills.
        threads: Worker threads; ``None`` lets DuckDB use every core.
        temp_directory: Where DuckDB spills. ``None`` makes a private (0700)
            directory under the system temp dir, removed on :meth:`close`:
            DuckDB's own default is ``.tmp`` in the working directory, which
            would leave spilled joins of viewing and segments lying about.

    Use as a context manager, or call :meth:`close` when done.
    """

    def __init__(
        self,
        memory_limit: str = "1GB",
        threads: int | None = None,
        temp_directory: str | None = None,
    ) -> None:
        config: dict[str, str | int | bool | float | list[str]] = {"memory_limit": memory_limit}
        if threads is not None:
            if threads < 1:
                raise ValueError("threads must be at least 1")
            config["threads"] = threads
        self._own_temp: str | None = None
        if temp_directory is None:
            self._own_temp = temp_directory = tempfile.mkdtemp(prefix="narwhal-duckdb-")
        config["temp_directory"] = temp_directory
        self._con: duckdb.DuckDBPyConnection | None = duckdb.connect(":memory:", config=config)

    @property
    def dialect(self) -> SqlDialect:
        """DuckDB's SQL fragments."""
        return DUCKDB_DIALECT

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise RuntimeError("DuckDBEngine is closed")
        return self._con

    def query(self, sql: str, tables: Mapping[str, TableSource]) -> pa.Table:
        """Run ``sql`` with ``tables`` registered as views and return an Arrow table.

        Registrations are removed afterwards, so one query never sees another's
        tables.

        Raises:
            InputError: A Parquet path could not be read.
            ValueError: A table name is not a plain identifier.
        """
        con = self._connection()
        arrow_names: list[str] = []
        view_names: list[str] = []
        try:
            for name, source in tables.items():
                _check_name(name)
                if isinstance(source, Path):
                    con.execute(
                        f'CREATE OR REPLACE TEMP VIEW "{name}" AS '
                        f"SELECT * FROM read_parquet({_sql_string(str(source))})"
                    )
                    view_names.append(name)
                else:
                    con.register(name, source)
                    arrow_names.append(name)
            relation = con.sql(sql)
            if relation is None:
                raise ValueError("query did not return rows (use a SELECT)")
            return relation.to_arrow_table()
        except duckdb.IOException as exc:
            paths = [str(s) for s in tables.values() if isinstance(s, Path)]
            if not paths:  # e.g. the spill directory, not an input
                raise
            raise InputError(
                "could not read Parquet input",
                file=", ".join(paths),
                hint="check that the file exists and is a Parquet file",
            ) from exc
        finally:
            for name in view_names:
                con.execute(f'DROP VIEW IF EXISTS "{name}"')
            for name in arrow_names:
                con.unregister(name)

    def close(self) -> None:
        """Close the connection; further queries raise ``RuntimeError``."""
        if self._con is not None:
            self._con.close()
            self._con = None
        if self._own_temp is not None:
            shutil.rmtree(self._own_temp, ignore_errors=True)
            self._own_temp = None

    def __repr__(self) -> str:
        state = "closed" if self._con is None else "open"
        return f"DuckDBEngine({state})"


# --------------------------------------------------------------------------- Spark

_SPARK_CONFIG: dict[str, str] = {
    # Naive timestamps are local wall-clock times; UTC keeps them unshifted.
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # Parquet written by pyarrow holds naive timestamps; read them as the
    # session-zone TIMESTAMP that Arrow tables register as, so both kinds of
    # input go through the same unix_timestamp.
    "spark.sql.parquet.inferTimestampNTZ.enabled": "false",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # Local runs stay on the loopback interface: no network needed or exposed.
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}


def spark_available() -> str | None:
    """Why a local Spark engine cannot start here, or ``None`` when it can.

    Checks that ``pyspark`` imports and that a ``java`` executable is on the
    path (or ``JAVA_HOME`` is set); it does not start a JVM.
    """
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install 'narwhal[spark]')"
    home = os.environ.get("JAVA_HOME")
    java_home_ok = home is not None and (Path(home) / "bin" / "java").exists()
    if shutil.which("java") is None and not java_home_ok:
        return "no Java runtime found (install openjdk-17-jre-headless or set JAVA_HOME)"
    return None


class SparkEngine(_Closing):
    """Runs the engine SQL on Spark SQL; a drop-in for :class:`DuckDBEngine`.

    Every input reaches the executors as Parquet: paths are read with
    ``spark.read.parquet``, and an Arrow table is first written as Parquet
    under the engine's :attr:`scratch` (never ``createDataFrame``, which
    would ship it through the driver's JVM). Results come back with
    ``toArrow``; the engine's callers only ask for summaries (aggregates,
    links), so ``spark.driver.maxResultSize`` can stay small. Temporary views
    and scratch tables are dropped after each query, so one query never sees
    another's tables. The executor-side jobs (tokenize, comparison vectors)
    are :mod:`linkage.spark_jobs`.

    Args:
        session: An existing Spark session (e.g. on a cluster); it must use
            ``spark.sql.session.timeZone=UTC``. ``None`` starts one here.
        master: Master URL for a session started here (``local[2]`` = two
            cores; ``spark://host:7077``, ``yarn``, ``k8s://...``).
        shuffle_partitions: ``spark.sql.shuffle.partitions`` for a session
            started here; a few per core suits one machine.
        driver_memory: JVM heap of a session started here.
        scratch: Where tables handed to Spark are written (a directory or a
            URI every executor can read: ``hdfs://``, ``s3://``). ``None``
            makes a private (0700) local directory, removed on :meth:`close`:
            enough for ``local[*]`` and a standalone cluster on one host.
        conf: Further Spark settings for a session started here (e.g.
            ``spark.io.encryption.enabled``, ``spark.driver.maxResultSize``).

    Raises:
        InputError: pyspark or Java is missing, or ``session`` is not on UTC.
    """

    def __init__(
        self,
        session: SparkSession | None = None,
        *,
        master: str = "local[2]",
        shuffle_partitions: int = 4,
        driver_memory: str = "2g",
        scratch: str | None = None,
        conf: Mapping[str, str] | None = None,
    ) -> None:
        if shuffle_partitions < 1:
            raise ValueError("shuffle_partitions must be at least 1")
        self._owned = session is None
        if session is None:
            reason = spark_available()
            if reason is not None:
                raise InputError("cannot start a Spark engine", hint=reason)
            from pyspark.sql import SparkSession

            # Python workers run this interpreter (unless told otherwise), so
            # they import the same linkage: pyspark reads only the variable.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            builder = SparkSession.builder.master(master).appName("narwhal")
            for key, value in _SPARK_CONFIG.items():
                builder = builder.config(key, value)
            builder = builder.config("spark.sql.shuffle.partitions", str(shuffle_partitions))
            builder = builder.config("spark.driver.memory", driver_memory)
            for key, value in (conf or {}).items():
                builder = builder.config(key, value)
            session = builder.getOrCreate()
            session.sparkContext.setLogLevel("ERROR")
        elif session.conf.get("spark.sql.session.timeZone") != "UTC":
            raise InputError(
                "the Spark session does not use UTC",
                hint="set spark.sql.session.timeZone=UTC so naive times are not shifted",
            )
        self._spark: SparkSession | None = session
        self._own_scratch: str | None = None
        if scratch is None:
            self._own_scratch = scratch = tempfile.mkdtemp(prefix="narwhal-spark-")
        elif "://" not in scratch:
            Path(scratch).mkdir(mode=0o700, parents=True, exist_ok=True)
        self._scratch = scratch.rstrip("/")

    @property
    def dialect(self) -> SqlDialect:
        """Spark SQL's fragments."""
        return SPARK_DIALECT

    @property
    def session(self) -> SparkSession:
        """The underlying Spark session (raises ``RuntimeError`` once closed)."""
        if self._spark is None:
            raise RuntimeError("SparkEngine is closed")
        return self._spark

    @property
    def scratch(self) -> str:
        """The directory or URI where tables handed to the executors are written."""
        return self._scratch

    def scratch_path(self, name: str) -> str:
        """A fresh location under :attr:`scratch` for one table (``name`` a plain identifier)."""
        _check_name(name)
        # Random: several drivers may share one cluster scratch.
        return f"{self._scratch}/{name}-{secrets.token_hex(8)}.parquet"

    def _frame(self, name: str, source: TableSource, written: list[str]) -> DataFrame:
        spark = self.session
        if isinstance(source, Path):
            from pyspark.errors import AnalysisException

            try:
                return spark.read.parquet(str(source))
            except AnalysisException as exc:
                raise InputError(
                    "could not read Parquet input",
                    file=str(source),
                    hint="check that the file exists and is a Parquet file",
                ) from exc
        target = self.scratch_path(name)
        written.append(target)
        filesystem, path = pa_fs.FileSystem.from_uri(scratch_uri(target))
        pq.write_table(_spark_ready(source), path, filesystem=filesystem)
        return spark.read.parquet(target)

    def query(self, sql: str, tables: Mapping[str, TableSource]) -> pa.Table:
        """Run ``sql`` with ``tables`` registered as temporary views; return Arrow.

        Raises:
            InputError: A Parquet path could not be read.
            ValueError: A table name is not a plain identifier.
        """
        spark = self.session
        registered: list[str] = []
        written: list[str] = []
        try:
            for name, source in tables.items():
                _check_name(name)
                self._frame(name, source, written).createOrReplaceTempView(name)
                registered.append(name)
            return _from_spark(spark.sql(sql).toArrow())
        finally:
            for name in registered:
                spark.catalog.dropTempView(name)
            for target in written:
                remove_scratch(target)

    def close(self) -> None:
        """Stop the session if this engine started it, remove its own scratch; queries raise."""
        if self._spark is not None and self._owned:
            self._spark.stop()
        self._spark = None
        if self._own_scratch is not None:
            shutil.rmtree(self._own_scratch, ignore_errors=True)
            self._own_scratch = None

    def __repr__(self) -> str:
        state = "closed" if self._spark is None else "open"
        return f"SparkEngine({state})"


def scratch_uri(location: str) -> str:
    """``location`` as a URI pyarrow's filesystems accept (a bare path becomes absolute)."""
    return location if "://" in location else str(Path(location).resolve())


def remove_scratch(location: str) -> None:
    """Delete a scratch file or directory (local path or URI); a missing one is fine."""
    filesystem, path = pa_fs.FileSystem.from_uri(scratch_uri(location))
    info = filesystem.get_file_info(path)
    if info.type == pa_fs.FileType.Directory:
        filesystem.delete_dir(path)
    elif info.type == pa_fs.FileType.File:
        filesystem.delete_file(path)


def _spark_type(arrow_type: pa.DataType) -> pa.DataType:
    """The Arrow type Spark's Arrow reader accepts for ``arrow_type``."""
    if pa.types.is_dictionary(arrow_type):
        return _spark_type(arrow_type.value_type)
    if pa.types.is_large_string(arrow_type):
        return pa.string()
    if pa.types.is_large_binary(arrow_type) or pa.types.is_fixed_size_binary(arrow_type):
        return pa.binary()
    if pa.types.is_timestamp(arrow_type) and arrow_type.tz is None:
        return pa.timestamp("us")
    if pa.types.is_large_list(arrow_type) or pa.types.is_list(arrow_type):
        return pa.list_(_spark_type(arrow_type.value_type))
    return arrow_type


def _spark_ready(table: pa.Table) -> pa.Table:
    schema = pa.schema([pa.field(f.name, _spark_type(f.type), f.nullable) for f in table.schema])
    return table if schema.equals(table.schema) else table.cast(schema)


def _from_spark(table: pa.Table) -> pa.Table:
    """Spark hands back UTC-zoned timestamps; the engine contract is naive times."""
    fields = [
        pa.field(f.name, pa.timestamp(f.type.unit), f.nullable)
        if pa.types.is_timestamp(f.type) and f.type.tz is not None
        else f
        for f in table.schema
    ]
    schema = pa.schema(fields)
    return table if schema.equals(table.schema) else table.cast(schema)


# --------------------------------------------------------------------------- factory

ENGINE_NAMES: tuple[str, ...] = ("duckdb", "spark")
"""Names accepted by :func:`make_engine` (the ``--engine`` choices)."""


SPARK_MASTER_ENV = "NARWHAL_SPARK_MASTER"
"""Master URL of ``--engine spark`` (default ``local[2]``; e.g. ``spark://host:7077``, ``yarn``)."""

SPARK_SCRATCH_ENV = "NARWHAL_SPARK_SCRATCH"
"""Directory or URI every executor can read, for the tables ``--engine spark`` hands over."""

MEMORY_ENV = "NARWHAL_DUCKDB_MEMORY"
DEFAULT_DUCKDB_MEMORY = "1GB"
_MEMORY_PATTERN = re.compile(r"[1-9][0-9]{0,5}(\.[0-9]+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)")


def spark_engine() -> SparkEngine:
    """The ``--engine spark`` engine: ``$NARWHAL_SPARK_MASTER`` and ``$NARWHAL_SPARK_SCRATCH``.

    Raises:
        InputError: Spark cannot start here.
    """
    return SparkEngine(
        master=os.environ.get(SPARK_MASTER_ENV) or "local[2]",
        scratch=os.environ.get(SPARK_SCRATCH_ENV) or None,
    )


def make_engine(name: str, *, memory_limit: str | None = None) -> DuckDBEngine | SparkEngine:
    """Build the engine called ``name`` with its defaults.

    Args:
        name: ``"duckdb"`` (default everywhere) or ``"spark"`` (master
            ``$NARWHAL_SPARK_MASTER``, default ``local[2]``; scratch
            ``$NARWHAL_SPARK_SCRATCH``, default a private local directory).
        memory_limit: DuckDB's memory limit (e.g. ``"3GB"``); default
            ``$NARWHAL_DUCKDB_MEMORY`` or ``1GB``. Work beyond it spills to a
            private temp directory.

    Returns:
        A new engine; close it (or use it as a context manager) when done.

    Raises:
        InputError: ``name`` is unknown, or Spark cannot start here.
    """
    if name == "duckdb":
        limit = memory_limit or os.environ.get(MEMORY_ENV) or DEFAULT_DUCKDB_MEMORY
        if _MEMORY_PATTERN.fullmatch(limit) is None:
            raise InputError(
                f"DuckDB memory limit must look like 512MB or 3GB (from {MEMORY_ENV} or the caller)"
            )
        return DuckDBEngine(memory_limit=limit)
    check_engine_name(name)
    return spark_engine()


def check_engine_name(name: str) -> None:
    """Refuse an engine name :func:`make_engine` would not build.

    A command that only builds its engine late (or, for DuckDB, not at all)
    calls this first, so a typo fails before any work.

    Raises:
        InputError: ``name`` is not one of :data:`ENGINE_NAMES`.
    """
    if name not in ENGINE_NAMES:
        raise InputError(
            f"unknown engine {name!r} (choose one of {', '.join(ENGINE_NAMES)})",
            hint="use --engine duckdb or --engine spark",
        )
