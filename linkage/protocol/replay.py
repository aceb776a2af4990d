"""Replay protection: which message was consumed last, per stream.

A stream is one (sender, exchange, kind). A verified message is consumed
only if it is the one consumed last (a re-run is idempotent) or strictly
newer by its signed ``created_at``; anything else is a replay, an attacker
or a stale file rolling the exchange back to older data. The guard is an
immutable value; :func:`linkage.io.save_seen` persists it between runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime

from linkage.errors import MessageError, StateError
from linkage.protocol.envelope.manifest import Manifest, format_time, parse_time


@dataclass(frozen=True)
class SeenEntry:
    """The last message consumed for one (sender, exchange, kind)."""

    sender: str
    exchange_id: str
    kind: str
    message_id: str
    created_at: datetime


@dataclass(frozen=True)
class ReplayGuard:
    """Which message was last consumed per (sender, exchange, kind).

    Re-opening the message consumed last is fine (a re-run is idempotent).
    Any other message that is not strictly newer is a replay: an attacker, or
    a stale file, rolling the exchange back to older data.
    """

    entries: tuple[SeenEntry, ...] = ()

    def latest(self, sender: str, exchange_id: str, kind: str) -> SeenEntry | None:
        """The entry for this stream, if any."""
        return next(
            (
                e
                for e in self.entries
                if (e.sender, e.exchange_id, e.kind) == (sender, exchange_id, kind)
            ),
            None,
        )

    def check(self, manifest: Manifest, *, file: str | None = None) -> bool:
        """Decide whether a verified message may be consumed.

        Returns:
            True if it is the message consumed last (a re-run), False if it is new.

        Raises:
            MessageError: Replay (older or same-time message with another id).
        """
        last = self.latest(manifest.sender, manifest.exchange_id, manifest.kind)
        if last is None:
            return False
        if last.message_id == manifest.message_id:
            return True
        if manifest.created_at <= last.created_at:
            raise MessageError(
                f"replayed message: a newer {manifest.kind} from this sender was already consumed",
                file=file,
                hint="use the latest message from the sender",
            )
        return False

    def consume(self, manifest: Manifest, *, file: str | None = None) -> ReplayGuard:
        """Check, then return a guard that records ``manifest`` as the latest.

        Raises:
            MessageError: Replay.
        """
        if self.check(manifest, file=file):
            return self
        key = (manifest.sender, manifest.exchange_id, manifest.kind)
        kept = tuple(e for e in self.entries if (e.sender, e.exchange_id, e.kind) != key)
        entry = SeenEntry(*key, message_id=manifest.message_id, created_at=manifest.created_at)
        return replace(self, entries=(*kept, entry))

    def to_json(self) -> str:
        """Serialize for :func:`linkage.io.save_seen`."""
        doc = [
            {
                "sender": e.sender,
                "exchange_id": e.exchange_id,
                "kind": e.kind,
                "message_id": e.message_id,
                "created_at": format_time(e.created_at),
            }
            for e in self.entries
        ]
        return json.dumps({"seen": doc}, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, *, file: str | None = None) -> ReplayGuard:
        """Inverse of :meth:`to_json`.

        Raises:
            StateError: The state file is corrupt.
        """
        try:
            doc = json.loads(text)
            entries = tuple(
                SeenEntry(
                    sender=_str(item["sender"]),
                    exchange_id=_str(item["exchange_id"]),
                    kind=_str(item["kind"]),
                    message_id=_str(item["message_id"]),
                    created_at=parse_time(_str(item["created_at"])),
                )
                for item in doc["seen"]
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise StateError(
                "seen-message state is corrupt", file=file, hint="restore it from a backup"
            ) from None
        return cls(entries=entries)


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value
