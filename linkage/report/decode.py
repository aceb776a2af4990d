"""Decoding: the coded releases the campaign receives, turned into named tables.

The matcher and provider only ever see random segment codes; the campaign
alone keeps ``name -> code`` in its private state. Everything the report shows
starts here, where codes become names (``"*"`` becomes ``all_matched``) and a
code the campaign did not issue for the exchange is an error naming the row,
not the code. The functions are pure: decrypted payload in, Arrow table out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from linkage.errors import InputError
from linkage.tables import ALL_HOUSEHOLDS, ALL_MATCHED

__all__ = [
    "MATCH_REPORT_COLUMNS",
    "VIEWERSHIP_CSV_COLUMNS",
    "decode_viewership",
    "linkage_quality_note",
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
"""Columns of the campaign's match-rate table (:func:`match_rate_table`)."""
_MATCH_RATES_SCHEMA = pa.schema(
    [
        ("segment", pa.string()),
        ("voters", pa.int64()),
        ("matched_voters", pa.int64()),
        ("households", pa.int64()),
        ("match_rate", pa.float64()),
        ("suppressed", pa.bool_()),
    ]
)


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
        The columns of ``VIEWERSHIP_CSV_COLUMNS`` and, for a DP release, the
        rating's 95% half-width ``rating_ci`` (rating points), sorted by
        segment, channel, day type and quarter-hour.
    """
    require_columns(decoded, ("grain", *VIEWERSHIP_CSV_COLUMNS), "viewership")
    rows = decoded.filter(pc.equal(decoded.column("grain"), "quarter_hour"))
    columns = list(VIEWERSHIP_CSV_COLUMNS)
    if "rating_ci" in rows.column_names and rows["rating_ci"].null_count < rows.num_rows:
        columns.append("rating_ci")
    table = rows.select(columns)
    return table.sort_by([(name, "ascending") for name in VIEWERSHIP_CSV_COLUMNS[:4]])


def match_rate_table(
    match_report: pa.Table, decoded: pa.Table, voters: Mapping[str, int]
) -> pa.Table:
    """Per-segment match rates from the campaign's own counts and the released universes.

    No party sends per-segment match rates any more: segments never reach the
    matcher. The campaign knows how many of its records each segment holds;
    the provider's release carries each segment's noisy universe (matched
    households) and noisy ``matched_records`` (real linked records, dummies
    dropped, at most a public cap per household). ``matched_voters`` is that
    count; for a release without it, a projection (universe x the matcher's
    records per linked household, which counts dummy links too). Both are
    post-processing of noisy figures.

    Args:
        match_report: The decrypted ``match-report`` payload (one row).
        decoded: The release with segment names (:func:`decode_viewership`).
        voters: Segment name -> the campaign's record count; ``all_matched``
            -> every record of the file.

    Returns:
        Columns ``MATCH_REPORT_COLUMNS``, ``all_matched`` first, then segments
        by name; a segment without a universe in the release (refused or
        dropped) is ``suppressed`` with null figures.

    Raises:
        InputError: A column is missing, or the match report is not one row.
    """
    require_columns(match_report, ("linked_households", "linked_records"), "match report")
    require_columns(decoded, ("segment", "universe"), "viewership")
    if match_report.num_rows != 1:
        raise InputError(
            "the match report must hold exactly one row", hint="ask the matcher to re-send it"
        )
    report = match_report.to_pylist()[0]
    households_linked, records_linked = report["linked_households"], report["linked_records"]
    per_household = (
        records_linked / households_linked if households_linked and records_linked else None
    )
    universes: dict[str, int] = {}
    for name, universe in zip(
        decoded["segment"].to_pylist(), decoded["universe"].to_pylist(), strict=True
    ):
        if universe is not None:
            universes.setdefault(str(name), int(universe))
    # The provider's release counts each segment's real linked records (dummies
    # dropped, at most a cap per household, noisy): the match rate's numerator.
    released_records: dict[str, int] = {}
    if "matched_records" in decoded.column_names:
        for name, n in zip(
            decoded["segment"].to_pylist(), decoded["matched_records"].to_pylist(), strict=True
        ):
            if n is not None:
                released_records.setdefault(str(name), int(n))
    rows = []
    for name in [ALL_MATCHED, *sorted(n for n in voters if n != ALL_MATCHED)]:
        count = int(voters[name])
        households = universes.get(name)
        if name in released_records:
            matched: int | None = min(released_records[name], count)
        elif households is None or per_household is None:
            matched = None
        else:
            matched = min(round(households * per_household), count)
        rows.append(
            {
                "segment": name,
                "voters": count,
                "matched_voters": matched,
                "households": households,
                "match_rate": matched / count if matched is not None and count else None,
                "suppressed": households is None,
            }
        )
    return pa.Table.from_pylist(rows, schema=_MATCH_RATES_SCHEMA)


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


_FIT_ADVICE: Final = {
    "blocking": "blocking paired too few of the exact links: true pairs outside every "
    "blocking pass were never compared (add a [blocking] pass on other fields)",
    "max-block": "the blocking cap (max_block) drops blocks that hold true pairs: the "
    "matcher's terminal says which cap the data asks for, or add a finer [blocking] pass",
    "no-seed": "the model had no exact links to learn from, so its fit is unchecked "
    "(add a match key that true pairs share exactly)",
    "constraints": "the model breaks its constraints: more agreement on some comparison "
    "is not more likely among matches (check that both sides fill it alike)",
    "unstable": "the model fit is unstable: another start would change some links "
    "(add a comparison that separates people, such as a date of birth)",
}


def linkage_quality_note(match_report: pa.Table) -> tuple[str, list[str]]:
    """The matcher's own estimates of its linkage, in words, and its warnings.

    The estimates come from the model (noised with the report); a warning
    says what the matcher saw wrong with its fit and what the schema's
    owners can change.
    """
    row = match_report.to_pylist()[0] if match_report.num_rows else {}

    def share(name: str) -> str:
        value = row.get(name)
        return "not measured" if value is None else f"{float(value):.1%}"

    note = (
        f"The matcher's model estimates its links' precision at {share('est_precision')} and "
        f"recall at {share('est_recall')}; blocking paired {share('est_pair_completeness')} "
        "of the exact links (estimates, noised with the match report)."
    )
    codes = row.get("fit_warnings") or []
    return note, [_FIT_ADVICE.get(str(c), str(c)) for c in codes]
