"""Tests for linkage.io.inputs: input files validated before use."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from linkage.errors import InputError
from linkage.io import MAX_FIELD_CHARS, check_input_file


def test_check_input_file_streams_and_numbers_rows_across_batches(tmp_path: Path) -> None:
    path = tmp_path / "viewing.parquet"
    names = ["a"] * 6
    names[4] = "x" * (MAX_FIELD_CHARS + 1)
    pq.write_table(pa.table({"household_id": names, "channel": ["c"] * 6}), path)
    with pytest.raises(InputError, match=r"row 5.*longer than|longer than.*row 5"):
        check_input_file(path, required=("household_id",), batch_rows=2)
    ok = tmp_path / "ok.parquet"
    pq.write_table(pa.table({"household_id": ["a", "b", "c"]}), ok)
    assert check_input_file(ok, required=("household_id",), batch_rows=2) == 3
    with pytest.raises(InputError, match="missing required column"):
        check_input_file(ok, required=("channel",))
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(InputError, match="not a readable Parquet"):
        check_input_file(tmp_path / "bad.parquet", required=())
