"""Tests for linkage.protocol.replay: the replay guard and its state file."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from linkage.errors import MessageError, StateError
from linkage.protocol import Manifest, ReplayGuard, read_manifest
from tests.protocol.messages import EXCHANGE, SMALL, T0


def manifest_at(minutes: int, message_id: str, **changes: Any) -> Manifest:
    base = read_manifest(SMALL)
    return replace(
        base, created_at=T0 + timedelta(minutes=minutes), message_id=message_id, **changes
    )


def test_replay_guard_flow() -> None:
    guard = ReplayGuard()
    first = manifest_at(0, "01" * 16)
    assert guard.check(first) is False
    guard = guard.consume(first)
    assert guard.check(first) is True  # idempotent re-run
    assert guard.consume(first) is guard
    newer = manifest_at(5, "02" * 16)
    guard = guard.consume(newer)
    assert len(guard.entries) == 1
    assert guard.latest(newer.sender, EXCHANGE, "assignments") is not None
    with pytest.raises(MessageError, match="replayed message") as info:
        guard.check(first, file="old.nwl")
    assert info.value.file == "old.nwl"
    with pytest.raises(MessageError, match="replayed message"):
        guard.consume(manifest_at(5, "03" * 16))  # same time, other id
    # Other streams are independent.
    other = manifest_at(-10, "04" * 16, exchange_id="ex-other")
    assert guard.check(other) is False
    assert len(guard.consume(other).entries) == 2


def test_replay_guard_json_round_trip() -> None:
    guard = ReplayGuard().consume(manifest_at(1, "05" * 16))
    guard = guard.consume(manifest_at(2, "06" * 16, kind="viewership"))
    assert ReplayGuard.from_json(guard.to_json()) == guard
    for corrupt in ("{", "[]", '{"seen": [{"sender": 1}]}', '{"seen": [{}]}'):
        with pytest.raises(StateError, match="corrupt"):
            ReplayGuard.from_json(corrupt, file="seen.json")
