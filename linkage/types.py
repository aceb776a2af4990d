"""The plug-in points, as named types: what a caller may pass in place of ours.

* :class:`SubkeySource` -- where keyed encoders get their secret sub-keys
  (a :class:`linkage.protocol.LinkageKey`; fixed keys in tests).
* :class:`Columns` -- a token payload the matcher reads column by column
  (a table in memory, or a Parquet file too big to hold whole).
* :class:`StageProgress` -- told how far a long step has come (stage, done,
  total), so a caller can show progress without the library printing.
* :class:`linkage.engine.Engine` -- the SQL engine (DuckDB or Spark) that
  runs joins and aggregations; it lives with its implementations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import pyarrow as pa

__all__ = ["Columns", "StageProgress", "SubkeySource", "no_progress"]


class SubkeySource(Protocol):
    """Anything that hands out a 32-byte secret sub-key per purpose string.

    :class:`linkage.protocol.LinkageKey` satisfies it; tests use fixed keys.
    """

    def subkey(self, purpose: str) -> bytes:
        """Return the secret sub-key for ``purpose`` (e.g. ``"match:mk_addr"``)."""
        ...


class Columns(Protocol):
    """A token payload read column by column (a table, or a file too big to hold whole)."""

    @property
    def num_rows(self) -> int:
        """Rows."""
        ...

    @property
    def schema(self) -> pa.Schema:
        """Column names and types."""
        ...

    def read(self, columns: Sequence[str]) -> pa.Table:
        """The named columns, in that order."""
        ...


class StageProgress(Protocol):
    """Told how far a long step has come; the library never prints, its caller shows this.

    Called with the stage's name and how much of it is done: ``done`` units
    (rows, pairs) of ``total``, or ``total`` None when the stage cannot be
    counted (then ``done`` is 0). Within a stage, ``done`` never decreases.
    Stage names are fixed words, never a value from the data.
    """

    def __call__(self, stage: str, done: int, total: int | None, /) -> None:
        """Record that ``stage`` has ``done`` of ``total`` units behind it."""
        ...


def no_progress(stage: str, done: int, total: int | None, /) -> None:
    """The default :class:`StageProgress`: tells no one."""
