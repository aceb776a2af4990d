"""Tests for linkage.protocol.envelope.manifest: timestamps and strict parsing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from linkage.errors import MessageError
from linkage.protocol import FORMAT_VERSION, MAGIC, format_time, parse_time, read_manifest
from tests.protocol.messages import PROVIDER, T0, assert_rejected, raw_table_message, sample_table


def test_time_format() -> None:
    assert format_time(T0) == "2024-10-01T12:00:00.000000Z"
    plus2 = datetime(2024, 10, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert format_time(plus2) == "2024-10-01T12:00:00.000000Z"
    assert parse_time(format_time(T0)) == T0
    with pytest.raises(ValueError, match="timezone-aware"):
        format_time(datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="manifest timestamp"):
        parse_time("2024-10-01 12:00:00")


def test_reject_malformed_manifest() -> None:
    body = b"{not json"
    data = MAGIC + len(body).to_bytes(4, "big") + body + bytes(32 + 12) + (16).to_bytes(8, "big")
    data += bytes(16 + 64)
    assert_rejected(data, PROVIDER, "assignments", "malformed manifest: not UTF-8 JSON")
    deep = b"[" * 60000
    data = MAGIC + len(deep).to_bytes(4, "big") + deep + bytes(32 + 12) + (16).to_bytes(8, "big")
    data += bytes(16 + 64)
    assert_rejected(data, PROVIDER, "assignments", "malformed manifest")
    huge = MAGIC + (1 << 30).to_bytes(4, "big") + bytes(200)
    assert_rejected(huge, PROVIDER, "assignments", "manifest length out of range")


def test_reject_unsupported_version() -> None:
    table = sample_table("assignments")
    data = raw_table_message("assignments", table, format_version=FORMAT_VERSION + 1)
    assert_rejected(data, PROVIDER, "assignments", "unsupported message format version")


@pytest.mark.parametrize(
    "manifest",
    [b'{"rows": ' + b"9" * 5000 + b"}", b"[" * 20_000 + b"]" * 20_000],
    ids=["huge-integer", "deep-nesting"],
)
def test_hostile_manifest_json_is_a_clean_rejection(manifest: bytes) -> None:
    data = b"NWL1" + len(manifest).to_bytes(4, "big") + manifest + bytes(200)
    with pytest.raises(MessageError):
        read_manifest(data, file="x.nwl")
