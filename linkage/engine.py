"""SQL engines: the one plug-in point for heavy joins and aggregations.

Modules that need a join or a group-by write plain SQL against named tables and
hand it to an :class:`Engine`. DuckDB (embedded, spills to disk) is the
default; the SQL is kept to standard functions so the same text can run on
Spark SQL when a party's data outgrows one machine. The few constructs with no
common spelling (epoch seconds of a timestamp, quoting reserved words such as
``end``) go through :class:`SqlDialect`, so a Spark engine only has to provide
its own dialect object.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, TypeAlias, runtime_checkable

import duckdb
import pyarrow as pa

from linkage.errors import InputError

__all__ = [
    "DUCKDB_DIALECT",
    "SPARK_DIALECT",
    "DuckDBEngine",
    "Engine",
    "SqlDialect",
    "TableSource",
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
    """

    name: str
    epoch_template: str
    quote: str

    def ident(self, name: str) -> str:
        """``name`` quoted as an identifier."""
        return f"{self.quote}{name}{self.quote}"

    def epoch_seconds(self, expr: str) -> str:
        """SQL for whole seconds since the epoch of a naive timestamp expression."""
        return self.epoch_template.format(expr=expr)


DUCKDB_DIALECT = SqlDialect(
    name="duckdb",
    epoch_template="CAST(epoch({expr}) AS BIGINT)",
    quote='"',
)

# Provided so the SQL stays honest about portability; Spark must run with
# spark.sql.session.timeZone=UTC so unix_timestamp treats naive times as-is.
SPARK_DIALECT = SqlDialect(
    name="spark",
    epoch_template="CAST(unix_timestamp({expr}) AS BIGINT)",
    quote="`",
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


class DuckDBEngine:
    """The default engine: an in-memory DuckDB connection that spills to disk.

    Args:
        memory_limit: DuckDB memory limit (e.g. ``"1GB"``); larger work spills.
        threads: Worker threads; ``None`` lets DuckDB use every core.
        temp_directory: Where DuckDB spills; ``None`` uses its default.

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
        if temp_directory is not None:
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

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._con is None else "open"
        return f"DuckDBEngine({state})"
