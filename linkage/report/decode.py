"""Decoding: the coded releases the campaign receives, turned into named tables.

The matcher and provider only ever see random segment codes; the campaign
alone keeps ``name -> code`` in its private state. Everything the report shows
starts here, where codes become names (``"*"`` becomes ``all_matched``) and a
code the campaign did not issue for the exchange is an error naming the row,
not the code. The functions are pure: decrypted payload in, Arrow table out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from linkage.errors import InputError
from linkage.tables import ALL_HOUSEHOLDS, ALL_MATCHED

__all__ = [
    "MATCH_REPORT_COLUMNS",
    "VIEWERSHIP_CSV_COLUMNS",
    "decode_viewership",
    "match_rate_table",
    "projected_match_rates",
    "require_columns",
    "viewership_csv_table",
]

VIEWERSHIP_CSV_COLUMNS = (
    "segment",
    "channel",
    "day_type",
    "quarter_hour",
    "universe",
    "aqh_households",
    "rating",
    "share",
    "suppressed",
)
"""Columns of the campaign's ``viewership.csv`` (:func:`viewership_csv_table`)."""
MATCH_REPORT_COLUMNS = (
    "segment",
    "voters",
    "matched_voters",
    "households",
    "match_rate",
    "suppressed",
)
"""Columns of the decoded match report (:func:`match_rate_table`)."""


def require_columns(table: pa.Table, columns: Sequence[str], what: str) -> None:
    """Raise unless ``table`` has every column; the report's one input check.

    Raises:
        InputError: Names ``what`` (e.g. ``"viewership"``) and the first missing column.
    """
    for column in columns:
        if column not in table.column_names:
            raise InputError(f"{what} has no such column", column=column)


def _decode(segment: pa.ChunkedArray, codes: Mapping[str, str], what: str) -> pa.Array:
    """Replace segment codes by names; ``codes`` is name -> code."""
    names = [ALL_MATCHED, *codes.keys()]
    known = pa.array([ALL_HOUSEHOLDS, *codes.values()], pa.string())
    if len(set(known.to_pylist())) != len(names):
        raise InputError(
            "segment codes are not unique", hint="the campaign state for this exchange is corrupt"
        )
    positions = pc.index_in(segment.cast(pa.string()), value_set=known)
    unknown = pc.is_null(positions)
    if pc.any(unknown).as_py():
        row = int(pc.index(unknown, True).as_py())
        raise InputError(
            f"{what} holds a segment code this campaign did not issue for the exchange",
            column="segment",
            row=row,
            hint="check that the message belongs to this exchange",
        )
    return pa.array(names, pa.string()).take(positions)


def decode_viewership(viewership: pa.Table, codes: Mapping[str, str]) -> pa.Table:
    """Replace the segment codes of a ``viewership`` payload by segment names.

    Args:
        viewership: The decrypted ``viewership`` payload.
        codes: Segment name -> code, as returned by
            :func:`linkage.encode.assign_codes` and kept in the campaign's state.
            ``"*"`` decodes to ``"all_matched"``.

    Returns:
        The same table with ``segment`` holding names.

    Raises:
        InputError: No ``segment`` column, or a code (or null) not issued for
            this exchange.
    """
    require_columns(viewership, ("segment",), "viewership")
    names = _decode(viewership.column("segment"), codes, "viewership")
    index = viewership.column_names.index("segment")
    return viewership.set_column(index, "segment", names)


def viewership_csv_table(decoded: pa.Table) -> pa.Table:
    """The rows of the campaign's ``viewership.csv``: quarter-hour grain, named segments.

    Args:
        decoded: Output of :func:`decode_viewership`.

    Returns:
        Exactly the columns of ``VIEWERSHIP_CSV_COLUMNS``, sorted by segment,
        channel, day type and quarter-hour.
    """
    require_columns(decoded, ("grain", *VIEWERSHIP_CSV_COLUMNS), "viewership")
    rows = decoded.filter(pc.equal(decoded.column("grain"), "quarter_hour"))
    table = rows.select(list(VIEWERSHIP_CSV_COLUMNS))
    return table.sort_by([(name, "ascending") for name in VIEWERSHIP_CSV_COLUMNS[:4]])


def match_rate_table(match_report: pa.Table, codes: Mapping[str, str]) -> pa.Table:
    """Decode the ``match-report`` payload into named segments.

    Args:
        match_report: The decrypted ``match-report`` payload.
        codes: Segment name -> code (as for :func:`decode_viewership`).

    Returns:
        Columns ``MATCH_REPORT_COLUMNS``, ``all_matched`` first, then segments
        by name.

    Raises:
        InputError: A column is missing or a code was not issued for this exchange.
    """
    require_columns(match_report, MATCH_REPORT_COLUMNS, "match report")
    names = _decode(match_report.column("segment"), codes, "match report")
    table = match_report.select(list(MATCH_REPORT_COLUMNS)).set_column(0, "segment", names)
    not_all = pc.not_equal(table.column("segment"), ALL_MATCHED)
    table = table.append_column("_order", not_all)
    return table.sort_by([("_order", "ascending"), ("segment", "ascending")]).drop_columns(
        ["_order"]
    )


def projected_match_rates(rates: pa.Table) -> pa.Table:
    """Add ``projected_households``: matched households scaled up by the match rate.

    It assumes unmatched voters live in households like matched ones, which is
    why the report labels the column a projection rather than a count.

    Args:
        rates: Output of :func:`match_rate_table`.

    Returns:
        ``rates`` plus a float column ``projected_households`` (null where the
        row is suppressed or the match rate is zero or null).
    """
    require_columns(rates, ("households", "match_rate"), "match rates")
    rate = rates.column("match_rate").cast(pa.float64())
    usable = pc.fill_null(pc.greater(rate, 0.0), False)
    projected = pc.if_else(
        usable,
        pc.divide(rates.column("households").cast(pa.float64()), pc.if_else(usable, rate, None)),
        pa.scalar(None, pa.float64()),
    )
    return rates.append_column("projected_households", projected)
