"""Tests for linkage.protocol.envelope.allow_lists, at seal and at open."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from linkage.errors import MessageError
from linkage.protocol import seal_parquet, validate_payload
from tests.protocol.messages import (
    CAMPAIGN,
    EXCHANGE,
    MATCHER,
    assert_rejected,
    campaign_tokens,
    open_as,
    raw_table_message,
    sample_table,
    seal_kind,
    token,
)

BAD_PAYLOADS = {
    "pii column": (
        campaign_tokens().append_column("first_name", pa.array(["x"] * 5)),
        "column 'first_name': column is not allowed",
    ),
    "string match key": (
        campaign_tokens().append_column("mk_first_name", pa.array(["x"] * 5)),
        "column 'mk_first_name': column must be binary\\(32\\)",
    ),
    "short match key": (
        campaign_tokens().append_column("mk_short", pa.array([b"\x01" * 16] * 5, pa.binary())),
        "column 'mk_short': column must be binary\\(32\\)",
    ),
    "string clk": (
        campaign_tokens().append_column("clk", pa.array(["0101"] * 5)),
        "column 'clk': column must be binary",
    ),
    "missing rid": (campaign_tokens().drop_columns(["rid"]), "column 'rid': required column"),
    # Segment codes go to the provider, never through the matcher.
    "segment codes": (
        campaign_tokens().append_column("segments", pa.array([["s1"]] * 5)),
        "column 'segments': column is not allowed",
    ),
    "bare prefix": (
        campaign_tokens().append_column("mk_", pa.array([token(0)] * 5, pa.binary(32))),
        "column 'mk_': column is not allowed",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_PAYLOADS))
def test_allow_list_rejects_at_seal(case: str) -> None:
    table, message = BAD_PAYLOADS[case]
    with pytest.raises(MessageError, match=message):
        seal_kind("campaign-tokens", table)


@pytest.mark.parametrize("case", sorted(BAD_PAYLOADS))
def test_allow_list_rejects_at_open(case: str) -> None:
    table, message = BAD_PAYLOADS[case]
    data = raw_table_message("campaign-tokens", table)
    assert_rejected(data, MATCHER, "campaign-tokens", message)


def test_allow_list_accepts_variable_width_32_byte_keys_and_fuzzy_columns() -> None:
    table = campaign_tokens().append_column(
        "mk_email", pa.array([token(7), None, token(8), token(9), token(10)], pa.binary())
    )
    table = table.append_column("bk_soundex", pa.array([b"\x01"] * 5, pa.large_binary()))
    table = table.append_column("clk", pa.array([b"\x00" * 128] * 5, pa.binary(128)))
    validate_payload("campaign-tokens", table)
    data = seal_kind("campaign-tokens", table)
    assert open_as(data, MATCHER, "campaign-tokens").table.equals(table)
    validate_payload("campaign-tokens", campaign_tokens().slice(0, 0))


@pytest.mark.parametrize(
    ("kind", "column", "bad"),
    [
        ("match-report", "linked_households", pa.array([1], pa.int32())),
        ("match-report", "est_precision", pa.array(["0.7"])),
        ("segments", "segments", pa.array(["s1", "s2", "s3"])),
        ("segments", "rid", pa.array([1, 2, 3], pa.int64())),
        ("viewership", "quarter_hour", pa.array([80, 1], pa.int64())),
        ("viewership", "suppressed", pa.array([0, 1], pa.int8())),
        ("assignments", "hp", pa.array([b"h1", b"h2", b"h3"], pa.binary())),
    ],
)
def test_allow_list_checks_types(kind: str, column: str, bad: pa.Array) -> None:
    table = sample_table(kind)
    table = table.set_column(table.column_names.index(column), column, bad)
    with pytest.raises(MessageError, match=f"column '{column}': column must be"):
        validate_payload(kind, table)


def test_allow_list_other_rejections() -> None:
    with pytest.raises(MessageError, match="unknown message kind"):
        validate_payload("voters", pa.table({"x": [1]}))
    dup = pa.Table.from_arrays([pa.array(["a"]), pa.array(["b"])], names=["hp", "hp"])
    with pytest.raises(MessageError, match="duplicate column names"):
        validate_payload("assignments", dup)
    # Every viewership column is required.
    with pytest.raises(MessageError, match="column 'reach': required column missing"):
        validate_payload("viewership", sample_table("viewership").drop_columns(["reach"]))


@pytest.mark.parametrize(
    ("kind", "column", "values"),
    [
        ("assignments", "segment", pa.array(["A", "A", "B"])),
        ("match-report", "segment", pa.array(["*"])),
        ("match-report", "matched_voters", pa.array([1], pa.int64())),
        ("segments", "hp", pa.array(["h1", "h2", "h3"])),
    ],
)
def test_links_and_reports_carry_no_segment(kind: str, column: str, values: pa.Array) -> None:
    # The matcher's messages name no segment; the provider's segments name no household.
    with pytest.raises(MessageError, match=f"column '{column}': column is not allowed"):
        validate_payload(kind, sample_table(kind).append_column(column, values))


def test_seal_parquet_checks_the_allow_list_per_row_group(tmp_path: Path) -> None:
    good = sample_table("campaign-tokens")
    short = pa.array([b"x" * 31] * good.num_rows, pa.binary())
    bad = good.set_column(good.column_names.index("mk_addr"), "mk_addr", short)
    payload = tmp_path / "payload.parquet"
    pq.write_table(bad, payload, row_group_size=1)
    with payload.open("rb") as src, pytest.raises(MessageError, match="binary"):
        seal_parquet(
            src,
            io.BytesIO(),
            kind="campaign-tokens",
            exchange_id=EXCHANGE,
            sender=CAMPAIGN,
            recipient=MATCHER.card(),
        )
