"""Tests for linkage.io.keystore: key files, secrets, party cards and contacts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from linkage.errors import InputError, KeyMaterialError
from linkage.io import (
    load_identity,
    load_secret,
    load_secret_from_env,
    read_card,
    read_contacts,
    save_identity,
    save_secret,
    write_card,
)
from linkage.protocol import Identity, card_to_json, generate_identity
from tests.io.disk import listing, mode_of


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
