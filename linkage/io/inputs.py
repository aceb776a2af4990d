"""Input tables and text: every file a party is handed, validated before use.

Voter files, subscriber files, viewing logs and TOML configs come from
outside the toolkit, so they are checked once, here, before anything else
runs: format, UTF-8, the required columns, the kind of every known column,
a length cap on text, uniqueness of an identifier. Errors name the file,
column and row (from 1, the header not counted) and never the value, which
may be PII. CSV is read with pyarrow for speed; Python's own CSV parser is
used only to locate a row pyarrow rejected. A Parquet log larger than
memory is checked batch by batch (:func:`check_input_file`) and left for
the engine to scan from disk.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Final, Literal, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from linkage.errors import InputError

TABLE_SUFFIXES: Final = (".parquet", ".csv")
"""File types :func:`read_input_table` accepts, by lower-cased suffix."""

MAX_FIELD_CHARS: Final = 1000
"""Longest text value accepted in an input table (characters).

No real name, address or e-mail comes close; a longer value is a corrupt or
hostile file, and letting it through would blow up every per-value cache
downstream (normalisation, q-grams) for nothing.
"""

InputColumnKind: TypeAlias = Literal["string", "number", "date", "timestamp"]
"""What an input column must hold (not :data:`linkage.encode.segments.ColumnKind`,
which is what a segment rule may compare)."""

INPUT_COLUMN_KINDS: Final[Mapping[str, InputColumnKind]] = {
    **dict.fromkeys(
        (
            "voter_id",
            "first_name",
            "middle_name",
            "last_name",
            "suffix",
            "gender",
            "address",
            "city",
            "state",
            "zip",
            "phone",
            "email",
            "ethnicity",
            "party",
            "household_id",
            "account_number",
            "channel",
            "name",
            "genre",
            "language",
            "daypart",
        ),
        "string",
    ),
    **dict.fromkeys(
        (
            "support_score",
            "turnout_score",
            "gotv_score",
            "persuasion_score",
            "cost_per_spot",
            "units_available",
        ),
        "number",
    ),
    "birth_date": "date",
    "start": "timestamp",
    "end": "timestamp",
}
"""Expected kind of every input column the toolkit knows (ARCHITECTURE.md, table shapes).

Columns not listed are passed through unchecked; a listed column of the
wrong kind is rejected by :func:`read_input_table`, naming the first row at fault.
"""


def read_text(path: Path) -> str:
    """Read a UTF-8 text file, or raise InputError naming the file (and line, if not UTF-8)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", file=str(path)) from None
    except OSError as err:
        raise InputError(f"cannot read file ({err.strerror})", file=str(path)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _not_utf8(data, err, str(path)) from None


def read_input_table(
    path: Path,
    *,
    required: Sequence[str],
    unique: str | None = None,
    kinds: Mapping[str, InputColumnKind] = INPUT_COLUMN_KINDS,
) -> pa.Table:
    """Read a Parquet or CSV input and validate it before anything else runs.

    Rows are numbered from 1 for the first data row (a CSV header is not a
    row). Errors name the file, column and row, never the value.

    Args:
        path: a ``.parquet`` or ``.csv`` file.
        required: columns that must be present.
        unique: a column whose values must not repeat (e.g. ``voter_id``).
        kinds: expected kind per column; present columns are checked, others
            pass through. Default :data:`INPUT_COLUMN_KINDS`.

    Returns:
        The table; CSV columns whose kind is ``string`` are read as text
        (so ZIP codes keep their leading zeros), empty CSV cells are null.

    Raises:
        InputError: missing, empty or unreadable file, unknown format, not
            UTF-8, a row with the wrong number of fields, duplicate or missing
            columns, no rows, a value of the wrong type, a text value longer
            than :data:`MAX_FIELD_CHARS`, or a repeated ``unique`` value.
    """
    path = Path(path)
    file = str(path)
    if not path.is_file():
        raise InputError("file not found", file=file)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise InputError(
            f"unsupported file type '{suffix}'", file=file, hint="use .parquet or .csv"
        )
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(f"cannot read file ({err.strerror})", file=file) from None
    if not data.strip():
        raise InputError("file is empty", file=file)
    table = _read_csv(data, kinds, file) if suffix == ".csv" else _read_parquet(data, file)
    names = table.column_names
    _check_shape(names, required, table.num_rows, file)
    _check_values(table, names, kinds, file)
    if unique is not None:
        _check_unique(table, unique, file)
    return table


def check_input_file(
    path: Path,
    *,
    required: Sequence[str],
    kinds: Mapping[str, InputColumnKind] = INPUT_COLUMN_KINDS,
    batch_rows: int = 1 << 20,
) -> int:
    """:func:`read_input_table`'s checks on a Parquet file, batch by batch, keeping nothing.

    For inputs larger than memory (a state's viewing log) that an engine then
    scans from the file itself. Errors are the same, rows numbered across
    batches from 1.

    Returns:
        The number of rows.

    Raises:
        InputError: As :func:`read_input_table` (no uniqueness check), or the
            file is not Parquet.
    """
    path = Path(path)
    file = str(path)
    if not path.is_file():
        raise InputError("file not found", file=file)
    if path.suffix.lower() != ".parquet":
        raise InputError("expected a Parquet file", file=file, hint="use .parquet")
    unreadable = _unreadable_parquet(file)
    try:
        parquet = pq.ParquetFile(path)
        names = parquet.schema_arrow.names
        rows = parquet.metadata.num_rows
    except (pa.ArrowException, OSError, ValueError, IndexError, TypeError):
        raise unreadable from None
    _check_shape(names, required, rows, file)
    offset = 0
    batches = parquet.iter_batches(batch_size=batch_rows)
    while True:
        try:
            batch = next(batches, None)
        except (pa.ArrowException, OSError, ValueError, IndexError, TypeError):
            raise unreadable from None
        if batch is None:
            break
        _check_values(pa.Table.from_batches([batch]), names, kinds, file, offset)
        offset += batch.num_rows
    return offset


def _check_shape(names: Sequence[str], required: Sequence[str], rows: int, file: str) -> None:
    """No column twice, every required column present, at least one row."""
    for name in names:
        if names.count(name) > 1:
            raise InputError("column appears more than once", file=file, column=name)
    missing = [c for c in required if c not in names]
    if missing:
        raise InputError(
            f"missing required column(s): {', '.join(missing)}",
            file=file,
            column=missing[0],
            hint=f"expected at least: {', '.join(required)}",
        )
    if rows == 0:
        raise InputError("file has no rows", file=file)


def _check_values(
    table: pa.Table,
    names: Sequence[str],
    kinds: Mapping[str, InputColumnKind],
    file: str,
    first_row: int = 0,
) -> None:
    """Every known column of its kind, every text column valid and short enough.

    ``first_row`` is the number of rows before ``table`` in the file, so a
    batch's errors name the row in the whole file.
    """
    for name in names:
        kind = kinds.get(name)
        if kind is not None:
            _check_kind(table[name], kind, file, name, first_row)
        if _is_text(table[name].type):
            _check_text(table[name], file, name, first_row)


def _unreadable_parquet(file: str) -> InputError:
    return InputError(
        "not a readable Parquet file (truncated or corrupt)",
        file=file,
        hint="re-export the file, or check the transfer completed",
    )


def _not_utf8(data: bytes, err: UnicodeDecodeError, file: str) -> InputError:
    line = data.count(b"\n", 0, err.start) + 1
    return InputError(
        f"not valid UTF-8 at line {line}", file=file, hint="re-save the file as UTF-8"
    )


def _is_text(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type))


def _kind_fits(arrow_type: pa.DataType, kind: InputColumnKind) -> bool:
    if pa.types.is_null(arrow_type):
        return True  # an all-null column is a missing optional field
    if kind == "string":
        return _is_text(arrow_type)
    if kind == "number":
        return bool(pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type))
    if kind == "date":
        return bool(pa.types.is_date(arrow_type) or pa.types.is_timestamp(arrow_type))
    return bool(pa.types.is_timestamp(arrow_type))


def _parses_as(value: object, kind: InputColumnKind) -> bool:
    if not isinstance(value, str):
        return kind == "string" and value is None
    text = value.strip()
    try:
        if kind == "number":
            float(text)
        elif kind == "date":
            date.fromisoformat(text)
        elif kind == "timestamp":
            datetime.fromisoformat(text)
        else:
            return True
    except ValueError:
        return False
    return True


def _check_kind(
    column: pa.ChunkedArray, kind: InputColumnKind, file: str, name: str, first_row: int = 0
) -> None:
    if _kind_fits(column.type, kind):
        return
    values = column.to_pylist()
    non_null = [i for i, v in enumerate(values) if v is not None]
    # The first value that cannot be read as the kind, else the first value at all.
    bad = next((i for i in non_null if not _parses_as(values[i], kind)), None)
    row = bad if bad is not None else (non_null[0] if non_null else 0)
    raise InputError(
        f"expected {'text' if kind == 'string' else f'a {kind}'} (column type is {column.type})",
        file=file,
        column=name,
        row=first_row + row + 1,
    )


def _check_text(column: pa.ChunkedArray, file: str, name: str, first_row: int = 0) -> None:
    """Valid UTF-8 and at most MAX_FIELD_CHARS characters per value."""
    offset = first_row
    for chunk in column.chunks:
        try:
            chunk.validate(full=True)
        except pa.ArrowInvalid:
            raw = chunk.view(
                pa.large_binary() if pa.types.is_large_string(chunk.type) else pa.binary()
            )
            for i, value in enumerate(raw.to_pylist()):
                if value is not None and not _is_utf8(value):
                    raise InputError(
                        "not valid UTF-8", file=file, column=name, row=offset + i + 1
                    ) from None
            raise InputError("corrupt text column", file=file, column=name) from None
        offset += len(chunk)
    too_long = pc.greater(pc.utf8_length(column), MAX_FIELD_CHARS)
    if pc.any(too_long).as_py():
        row = first_row + int(pc.index(too_long, True).as_py()) + 1
        raise InputError(
            f"value longer than {MAX_FIELD_CHARS} characters",
            file=file,
            column=name,
            row=row,
            hint="the file is corrupt or not the expected table",
        )


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _read_parquet(data: bytes, file: str) -> pa.Table:
    try:
        return pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError, IndexError, TypeError):
        # Arbitrary bytes can trip assorted errors deep in the reader; all mean the same.
        raise _unreadable_parquet(file) from None


def _csv_records(text: str) -> list[list[str]]:
    """Python's CSV parser, used only to locate a row pyarrow rejected."""
    try:
        return list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        return []


def _check_csv_utf8(data: bytes, file: str) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        records = _csv_records(data.decode("utf-8", errors="replace"))
        header = records[0] if records else []
        for index, record in enumerate(records):
            for position, cell in enumerate(record):
                if "\ufffd" in cell:
                    column = header[position] if index > 0 and position < len(header) else None
                    raise InputError(
                        "not valid UTF-8" if index else "header is not valid UTF-8",
                        file=file,
                        column=column if column and _is_utf8(column.encode()) else None,
                        row=index or None,
                        hint="re-save the file as UTF-8",
                    ) from None
        raise _not_utf8(data, err, file) from None


def _read_csv(data: bytes, kinds: Mapping[str, InputColumnKind], file: str) -> pa.Table:
    _check_csv_utf8(data, file)
    text_columns = {name: pa.string() for name, kind in kinds.items() if kind == "string"}
    bad_rows: list[int | None] = []

    def on_invalid_row(row: pacsv.InvalidRow) -> str:
        bad_rows.append(row.number)
        return "skip"

    parse = pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid_row)
    for _ in range(64):
        convert = pacsv.ConvertOptions(column_types=text_columns, strings_can_be_null=True)
        try:
            table = pacsv.read_csv(
                pa.BufferReader(data), parse_options=parse, convert_options=convert
            )
        except pa.ArrowInvalid as err:
            # A column inferred as numbers from the first block met text later on:
            # read it as text so the kind check names the row.
            where = re.search(r"In CSV column #(\d+)", str(err))
            header = _csv_records(data.decode("utf-8"))[:1]
            if where is None or not header or int(where.group(1)) >= len(header[0]):
                raise InputError("not a readable CSV file", file=file) from None
            name = header[0][int(where.group(1))]
            if name in text_columns:
                raise InputError("not a readable CSV file", file=file, column=name) from None
            text_columns[name] = pa.string()
            continue
        except pa.ArrowException:
            raise InputError("not a readable CSV file", file=file) from None
        break
    else:
        raise InputError("not a readable CSV file", file=file)
    if bad_rows:
        records = _csv_records(data.decode("utf-8"))
        width = len(records[0]) if records else 0
        row = next((i for i, r in enumerate(records) if i and r and len(r) != width), None)
        raise InputError("row has a different number of fields than the header", file=file, row=row)
    return table


def _check_unique(table: pa.Table, column: str, file: str) -> None:
    col = table[column]
    if col.null_count:
        first = int(pc.index(pc.is_null(col), True).as_py())
        raise InputError("missing identifier", file=file, column=column, row=first + 1)
    if pc.count_distinct(col).as_py() == table.num_rows:
        return
    seen: set[object] = set()
    for i, value in enumerate(col.to_pylist()):
        if value in seen:
            raise InputError("duplicate identifier", file=file, column=column, row=i + 1)
        seen.add(value)
