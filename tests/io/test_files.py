"""Tests for linkage.files: atomic writes, key files, cards, messages, seen state."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from linkage.errors import InputError, KeyMaterialError, MessageError, StateError
from linkage.io import (
    MAX_FIELD_CHARS,
    PRIVATE_MODE,
    PUBLIC_MODE,
    ShuffledParquet,
    atomic_write_bytes,
    atomic_write_parquet,
    atomic_write_text,
    check_input_file,
    copy_message,
    load_identity,
    load_secret,
    load_secret_from_env,
    load_seen,
    open_message_file,
    opened_columns,
    private_scratch,
    read_card,
    read_contacts,
    read_message_bytes,
    save_identity,
    save_secret,
    save_seen,
    write_card,
    write_message,
)
from linkage.protocol import (
    Identity,
    ReplayGuard,
    card_to_json,
    generate_identity,
    read_manifest,
    seal,
)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture(scope="module")
def campaign() -> Identity:
    return generate_identity("campaign", "campaign")


@pytest.fixture(scope="module")
def matcher() -> Identity:
    return generate_identity("matcher", "matcher")


# === Atomic writes =================================================================


def test_atomic_write_creates_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    atomic_write_bytes(target, b"one")
    assert target.read_bytes() == b"one"
    assert mode_of(target) == 0o644
    atomic_write_text(target, "twö", mode=0o600)
    assert target.read_text(encoding="utf-8") == "twö"
    assert mode_of(target) == 0o600
    assert listing(tmp_path) == ["out.bin"]


def test_atomic_write_keeps_old_file_when_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.bin"
    atomic_write_bytes(target, b"old contents")

    def broken_fsync(fd: int) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write_bytes(target, b"new contents that never land")
    assert target.read_bytes() == b"old contents"
    assert listing(tmp_path) == ["out.bin"]


def test_atomic_parquet_round_trip_and_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "t.parquet"
    table = pa.table({"a": [1, 2, 3], "b": ["x", "y", None]})
    atomic_write_parquet(target, table)
    assert pq.read_table(target).equals(table)

    def half_write(tbl: pa.Table, where: IO[bytes], compression: str) -> None:
        where.write(b"PAR1 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(pq, "write_table", half_write)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_parquet(target, pa.table({"a": [9]}))
    assert pq.read_table(target).equals(table)
    assert listing(tmp_path) == ["t.parquet"]


def test_atomic_write_creates_missing_directories(tmp_path: Path) -> None:
    atomic_write_bytes(tmp_path / "a" / "b" / "x", b"data")
    assert (tmp_path / "a" / "b" / "x").read_bytes() == b"data"
    assert listing(tmp_path / "a" / "b") == ["x"]


# === Key files =====================================================================


def test_identity_files_are_private_and_round_trip(tmp_path: Path, campaign: Identity) -> None:
    keys_dir = tmp_path / "home" / "keys"
    save_identity(keys_dir, campaign)
    assert listing(keys_dir) == ["exchange.key", "identity.json", "signing.key"]
    assert mode_of(keys_dir) == 0o700
    for name in listing(keys_dir):
        assert mode_of(keys_dir / name) == 0o600, name
    assert b"PRIVATE KEY" in (keys_dir / "signing.key").read_bytes()
    loaded = load_identity(keys_dir)
    assert loaded.fingerprint == campaign.fingerprint
    assert (loaded.name, loaded.role) == ("campaign", "campaign")
    assert loaded.signing_key.sign(b"m") == campaign.signing_key.sign(b"m")


def test_save_identity_refuses_to_overwrite(tmp_path: Path, campaign: Identity) -> None:
    save_identity(tmp_path, campaign)
    before = (tmp_path / "signing.key").read_bytes()
    with pytest.raises(KeyMaterialError, match="refusing to overwrite existing keys") as info:
        save_identity(tmp_path, generate_identity("x", "campaign"))
    assert info.value.hint is not None
    assert (tmp_path / "signing.key").read_bytes() == before
    assert listing(tmp_path) == ["exchange.key", "identity.json", "signing.key"]


def test_save_identity_failure_leaves_no_half_identity(
    tmp_path: Path, campaign: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_link = os.link
    calls: list[str] = []

    def flaky_link(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        calls.append(str(dst))
        if len(calls) == 2:
            raise OSError("disk full")
        real_link(src, dst)

    monkeypatch.setattr(os, "link", flaky_link)
    with pytest.raises(OSError, match="disk full"):
        save_identity(tmp_path, campaign)
    assert listing(tmp_path) == []
    monkeypatch.setattr(os, "link", real_link)
    save_identity(tmp_path, campaign)
    assert load_identity(tmp_path).fingerprint == campaign.fingerprint


def test_load_identity_refuses_open_permissions(tmp_path: Path, campaign: Identity) -> None:
    save_identity(tmp_path, campaign)
    key = tmp_path / "exchange.key"
    key.chmod(0o644)
    with pytest.raises(KeyMaterialError, match="permissions too open") as info:
        load_identity(tmp_path)
    assert info.value.file == str(key)
    assert info.value.hint == f"chmod 600 {key}"
    key.chmod(0o640)
    with pytest.raises(KeyMaterialError, match="permissions too open"):
        load_identity(tmp_path)
    key.chmod(0o600)
    assert load_identity(tmp_path).fingerprint == campaign.fingerprint


def test_load_identity_missing_or_corrupt(tmp_path: Path, campaign: Identity) -> None:
    with pytest.raises(KeyMaterialError, match="key file not found") as info:
        load_identity(tmp_path)
    assert info.value.hint is not None and "init" in info.value.hint
    save_identity(tmp_path, campaign)
    signing = tmp_path / "signing.key"
    signing.unlink()
    fd = os.open(signing, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")
    os.close(fd)
    with pytest.raises(KeyMaterialError, match="unreadable private key"):
        load_identity(tmp_path)
    meta = tmp_path / "identity.json"
    meta.write_text('{"name": "x"}')
    meta.chmod(0o600)
    with pytest.raises(KeyMaterialError, match="identity file is malformed"):
        load_identity(tmp_path)


def test_secret_file_rules(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "secret.key"
    secret = save_secret(path)
    assert len(secret) == 32
    assert mode_of(path) == 0o600
    assert load_secret(path) == secret
    with pytest.raises(KeyMaterialError, match="refusing to overwrite"):
        save_secret(path, b"\x01" * 32)
    assert load_secret(path) == secret
    assert listing(path.parent) == ["secret.key"]
    path.chmod(0o604)
    with pytest.raises(KeyMaterialError, match="permissions too open"):
        load_secret(path)
    fixed = tmp_path / "fixed.key"
    assert save_secret(fixed, b"\xab" * 32) == b"\xab" * 32
    assert fixed.read_text() == "ab" * 32 + "\n"
    with pytest.raises(KeyMaterialError, match="32 bytes"):
        save_secret(tmp_path / "short.key", b"\x01")


def test_secret_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NARWHAL_TEST_KEY", "cd" * 32)
    assert load_secret_from_env("NARWHAL_TEST_KEY") == b"\xcd" * 32
    monkeypatch.setenv("NARWHAL_TEST_KEY", "zz" * 32)
    with pytest.raises(KeyMaterialError, match="64 hex characters") as info:
        load_secret_from_env("NARWHAL_TEST_KEY")
    assert "zz" not in str(info.value)
    monkeypatch.delenv("NARWHAL_TEST_KEY")
    with pytest.raises(KeyMaterialError, match="not set"):
        load_secret_from_env("NARWHAL_TEST_KEY")


# === Party cards ===================================================================


def test_cards_and_contacts(tmp_path: Path, campaign: Identity, matcher: Identity) -> None:
    card_path = tmp_path / "card.json"
    write_card(card_path, campaign.card())
    assert mode_of(card_path) == 0o644
    assert read_card(card_path) == campaign.card()
    contacts_dir = tmp_path / "contacts"
    assert read_contacts(contacts_dir) == {}
    contacts_dir.mkdir()
    write_card(contacts_dir / "campaign.json", campaign.card())
    write_card(contacts_dir / "matcher.json", matcher.card())
    (contacts_dir / "notes.txt").write_text("ignored")
    contacts = read_contacts(contacts_dir)
    assert contacts == {campaign.fingerprint: campaign.card(), matcher.fingerprint: matcher.card()}


def test_tampered_or_missing_card(tmp_path: Path, campaign: Identity, matcher: Identity) -> None:
    with pytest.raises(InputError, match="party card not found"):
        read_card(tmp_path / "none.json")
    doc = json.loads(card_to_json(campaign.card()))
    doc["exchange_public"] = matcher.exchange_public.hex()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(KeyMaterialError, match="fingerprint does not match") as info:
        read_card(bad)
    assert info.value.file == str(bad)


def test_contacts_with_conflicting_names(tmp_path: Path, campaign: Identity) -> None:
    write_card(tmp_path / "a.json", campaign.card())
    doc = json.loads(card_to_json(campaign.card()))
    doc["name"] = "impostor"
    (tmp_path / "b.json").write_text(json.dumps(doc))
    with pytest.raises(KeyMaterialError, match="share fingerprint"):
        read_contacts(tmp_path)


# === Messages ======================================================================


def test_message_write_read_open(tmp_path: Path, campaign: Identity, matcher: Identity) -> None:
    table = pa.table(
        {
            "rid": ["r1"],
            "segments": pa.array([["s"]]),
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


# === Seen-message state ============================================================


def test_seen_state_round_trip(tmp_path: Path, campaign: Identity, matcher: Identity) -> None:
    path = tmp_path / "seen.json"
    assert load_seen(path) == ReplayGuard()
    data = seal(
        pa.table({"segment": ["*"], "voters": [1], "matched_voters": [1], "households": [1]})
        .append_column("match_rate", pa.array([1.0]))
        .append_column("suppressed", pa.array([True])),
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


def test_exclusive_lock_refuses_a_second_holder(tmp_path: Path) -> None:
    from linkage.errors import StateError
    from linkage.io import exclusive_lock

    lock = tmp_path / "ledger" / ".lock"
    with exclusive_lock(lock):
        second = exclusive_lock(lock)
        with pytest.raises(StateError, match="another release"):
            second.__enter__()
    with exclusive_lock(tmp_path / "ledger" / ".lock"):  # released on exit
        pass


# --- private scratch and the on-disk shuffle ---------------------------------------


def test_private_scratch_is_private_and_always_removed(tmp_path: Path) -> None:
    with private_scratch(tmp_path / "state") as scratch:
        assert stat.S_IMODE(scratch.stat().st_mode) == 0o700
        (scratch / "x").write_bytes(b"tokens")
        kept = scratch
    assert not kept.exists()
    with pytest.raises(RuntimeError), private_scratch(tmp_path) as scratch:
        (scratch / "x").write_bytes(b"tokens")
        kept = scratch
        raise RuntimeError("boom")
    assert not kept.exists()


def _shuffled(tmp_path: Path, tables: list[pa.Table], seed: int, buckets: int = 4) -> pa.Table:
    out = tmp_path / f"out-{seed}.parquet"
    with (
        private_scratch(tmp_path) as scratch,
        ShuffledParquet(out, scratch, rng=np.random.default_rng(seed), buckets=buckets) as sink,
    ):
        for table in tables:
            sink.write(table)
    assert stat.S_IMODE(out.stat().st_mode) == PRIVATE_MODE
    return pq.read_table(out)


def test_shuffled_parquet_keeps_every_row_and_loses_the_order(tmp_path: Path) -> None:
    rows = pa.table({"id": pa.array(range(1000), pa.int64()), "v": [str(i) for i in range(1000)]})
    parts = [rows.slice(0, 300), rows.slice(300, 700)]
    one, two = _shuffled(tmp_path, parts, 1), _shuffled(tmp_path, parts, 2)
    for out in (one, two):
        assert sorted(out["id"].to_pylist()) == list(range(1000))
        assert out["v"].to_pylist() == [str(i) for i in out["id"].to_pylist()]
        assert out["id"].to_pylist() != list(range(1000))
    assert one["id"].to_pylist() != two["id"].to_pylist()
    assert _shuffled(tmp_path, parts, 1)["id"].equals(one["id"])
    assert list(tmp_path.glob(".scratch-*")) == []


def test_shuffled_parquet_orders_are_uniform(tmp_path: Path) -> None:
    """Every order of three rows is about equally likely (bucket split + permutation)."""
    rows = pa.table({"id": pa.array([0, 1, 2], pa.int64())})
    rng = np.random.default_rng(5)
    seen: dict[tuple[int, ...], int] = {}
    for trial in range(600):
        out = tmp_path / f"o{trial}.parquet"
        with ShuffledParquet(out, tmp_path, rng=rng, buckets=2) as sink:
            sink.write(rows)
        order = tuple(pq.read_table(out)["id"].to_pylist())
        seen[order] = seen.get(order, 0) + 1
    assert len(seen) == 6
    # Expected 100 each; a broken shuffle (e.g. buckets kept in input order)
    # puts far more on the identity order.
    assert all(60 <= count <= 140 for count in seen.values()), seen


def test_shuffled_parquet_writes_nothing_on_failure(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError), ShuffledParquet(out, tmp_path) as sink:
        sink.write(pa.table({"id": [1, 2, 3]}))
        raise RuntimeError("boom")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


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


def test_copy_message_streams_atomically(tmp_path: Path) -> None:
    src = tmp_path / "a.nwl"
    src.write_bytes(os.urandom(3 * (1 << 20) + 5))
    copy_message(src, tmp_path / "inbox" / "a.nwl")
    assert (tmp_path / "inbox" / "a.nwl").read_bytes() == src.read_bytes()
    assert stat.S_IMODE((tmp_path / "inbox" / "a.nwl").stat().st_mode) == PUBLIC_MODE
    with pytest.raises(MessageError, match="not found"):
        copy_message(tmp_path / "missing.nwl", tmp_path / "inbox" / "b.nwl")
    assert sorted(p.name for p in (tmp_path / "inbox").iterdir()) == ["a.nwl"]
