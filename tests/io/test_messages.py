"""Tests for linkage.io.messages: sealed message files and the seen-message state."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from linkage.errors import MessageError, StateError
from linkage.io import (
    PUBLIC_MODE,
    copy_message,
    load_seen,
    open_message_file,
    opened_columns,
    read_message_bytes,
    save_seen,
    write_message,
)
from linkage.protocol import Identity, ReplayGuard, read_manifest, seal
from linkage.tables import MATCH_REPORT_SCHEMA
from tests.io.disk import listing, mode_of


def test_message_write_read_open(tmp_path: Path, campaign: Identity, matcher: Identity) -> None:
    table = pa.table(
        {
            "rid": ["r1"],
            "mk_addr": pa.array([b"\x01" * 32], pa.binary(32)),
        }
    )
    data = seal(
        table,
        kind="campaign-tokens",
        exchange_id="ex-1",
        sender=campaign,
        recipient=matcher.card(),
    )
    path = tmp_path / "ex-1.campaign-tokens.nwl"
    write_message(path, data)
    assert read_message_bytes(path) == data
    assert listing(tmp_path) == [path.name]
    opened = open_message_file(
        path,
        me=matcher,
        contacts={campaign.fingerprint: campaign.card()},
        expected_kind="campaign-tokens",
        expected_exchange="ex-1",
    )
    assert opened.table.equals(table)
    with pytest.raises(MessageError, match="exchange id mismatch") as info:
        open_message_file(
            path,
            me=matcher,
            contacts={campaign.fingerprint: campaign.card()},
            expected_kind="campaign-tokens",
            expected_exchange="ex-2",
        )
    assert info.value.file == str(path)
    # Column by column: the decrypted payload lives in a private scratch dir
    # only while the block runs.
    scratch = tmp_path / "state"
    with opened_columns(
        path,
        me=matcher,
        contacts={campaign.fingerprint: campaign.card()},
        expected_kind="campaign-tokens",
        expected_exchange="ex-1",
        scratch=scratch,
    ) as (verified, columns):
        assert verified.manifest.rows == columns.num_rows == 1
        assert columns.schema.names == table.column_names
        assert columns.read(["mk_addr", "rid"]).equals(table.select(["mk_addr", "rid"]))
        (inside,) = list(scratch.iterdir())
        assert stat.S_IMODE(inside.stat().st_mode) == 0o700
    assert list(scratch.iterdir()) == []


def test_missing_or_unreadable_message(tmp_path: Path) -> None:
    with pytest.raises(MessageError, match="message file not found"):
        read_message_bytes(tmp_path / "x.nwl")
    with pytest.raises(MessageError, match="not readable"):
        read_message_bytes(tmp_path)


def test_copy_message_streams_atomically(tmp_path: Path) -> None:
    src = tmp_path / "a.nwl"
    src.write_bytes(os.urandom(3 * (1 << 20) + 5))
    copy_message(src, tmp_path / "inbox" / "a.nwl")
    assert (tmp_path / "inbox" / "a.nwl").read_bytes() == src.read_bytes()
    assert stat.S_IMODE((tmp_path / "inbox" / "a.nwl").stat().st_mode) == PUBLIC_MODE
    with pytest.raises(MessageError, match="not found"):
        copy_message(tmp_path / "missing.nwl", tmp_path / "inbox" / "b.nwl")
    assert sorted(p.name for p in (tmp_path / "inbox").iterdir()) == ["a.nwl"]


# === Seen-message state ============================================================


def test_seen_state_round_trip(tmp_path: Path, campaign: Identity, matcher: Identity) -> None:
    path = tmp_path / "seen.json"
    assert load_seen(path) == ReplayGuard()
    data = seal(
        MATCH_REPORT_SCHEMA.empty_table(),
        kind="match-report",
        exchange_id="ex-1",
        sender=matcher,
        recipient=campaign.card(),
        created_at=datetime(2024, 1, 2, tzinfo=UTC),
    )
    guard = ReplayGuard().consume(read_manifest(data))
    save_seen(path, guard)
    assert mode_of(path) == 0o600
    assert load_seen(path) == guard
    path.write_text("{broken")
    with pytest.raises(StateError, match="corrupt"):
        load_seen(path)
