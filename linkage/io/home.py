"""A party's home directory: where each of its files lives.

One directory per party and organisation: private keys (0600), its public
card, the cards it trusts, an inbox and an outbox of sealed messages, private
per-exchange state, and (provider) the release ledger. :class:`PartyHome`
names every path and opens what a command needs (identity, trusted cards,
inbox messages with replay protection); it holds nothing in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from linkage.errors import StateError
from linkage.io.keystore import load_identity, read_card, read_contacts
from linkage.io.messages import ParquetColumns, load_seen, opened_columns, save_seen
from linkage.protocol import (
    Identity,
    LinkageKey,
    OpenedMessage,
    PartyCard,
    VerifiedMessage,
    agree_linkage_key,
)

__all__ = ["PartyHome"]


@dataclass(frozen=True)
class PartyHome:
    """A party's directory: keys, card, contacts, inbox, outbox, state, ledger.

    Every file name of a home is here, so a role command, the audit and the
    tests all agree on where a thing lives (docs/ARCHITECTURE.md, "Party
    home"). The ledger's own layout is
    :class:`linkage.release.ledger_store.LedgerStore`'s.
    """

    root: Path

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def card_path(self) -> Path:
        return self.root / "card.json"

    @property
    def contacts(self) -> Path:
        return self.root / "contacts"

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def ledger(self) -> Path:
        return self.root / "ledger"

    @property
    def secret_path(self) -> Path:
        """The provider's pseudonym and ledger secret (0600)."""
        return self.keys / "secret.key"

    @property
    def orgs_path(self) -> Path:
        """Provider: campaign card fingerprint -> organisation (:mod:`linkage.release.orgs`)."""
        return self.root / "orgs.json"

    @property
    def witness_log(self) -> Path:
        """Matcher: every countersigned release receipt it witnessed, one JSON line each."""
        return self.root / "witness" / "receipts.jsonl"

    @property
    def release_heads_path(self) -> Path:
        """Campaign: the provider's ledger heads seen with each release (rewind check)."""
        return self.root / "state" / "release-heads.json"

    @property
    def normalized_cache_path(self) -> Path:
        """Campaign: normalised voter fields by raw-row digest, reused week to week.

        PII at rest (names, addresses, phones), 0600, never sent: see
        :mod:`linkage.encode.reuse`. Deleting it only costs the next run's time.
        """
        return self.root / "state" / "normalized.parquet"

    def inbox_receipt(self, exchange: str) -> Path:
        """A release receipt received (:mod:`linkage.release.receipts`)."""
        return self.inbox / f"{exchange}.release-receipt.json"

    def outbox_receipt(self, exchange: str) -> Path:
        """A release receipt sent: signed by the provider, or countersigned by the campaign."""
        return self.outbox / f"{exchange}.release-receipt.json"

    def inbox_delivery_receipt(self, exchange: str) -> Path:
        """A post-buy delivery's receipt received (the delivery is a ledger entry of its own)."""
        return self.inbox / f"{exchange}.delivery-receipt.json"

    def outbox_delivery_receipt(self, exchange: str) -> Path:
        """A post-buy delivery's receipt sent: signed by the provider, or countersigned."""
        return self.outbox / f"{exchange}.delivery-receipt.json"

    def state(self, exchange: str) -> Path:
        return self.root / "state" / exchange

    def seen_path(self, exchange: str) -> Path:
        """The replay guard: the last message consumed per stream."""
        return self.state(exchange) / "seen.json"

    def rid_map_path(self, exchange: str) -> Path:
        """The campaign's private ``rid -> voter_id`` map."""
        return self.state(exchange) / "rids.parquet"

    def segment_codes_path(self, exchange: str) -> Path:
        """The campaign's private ``segment -> code`` map."""
        return self.state(exchange) / "segments.json"

    def issued_report_path(self, exchange: str) -> Path:
        """The matcher's match report as first issued for the exchange (re-sent, never redrawn)."""
        return self.state(exchange) / "match-report.json"

    def week_map_path(self, exchange: str, previous: str) -> Path:
        """Campaign: ``previous_rid -> rid`` for voters in both exchanges (never sent)."""
        return self.state(exchange) / f"rids-from-{previous}.parquet"

    def panel_dir(self, panel: str) -> Path:
        """Provider: one panel's private store (layout: :class:`linkage.release.PanelStore`)."""
        return self.root / "panels" / panel

    def inbox_message(self, exchange: str, kind: str) -> Path:
        return self.inbox / f"{exchange}.{kind}.nwl"

    def outbox_message(self, exchange: str, kind: str) -> Path:
        return self.outbox / f"{exchange}.{kind}.nwl"

    def create_dirs(self) -> None:
        for sub in (self.contacts, self.inbox, self.outbox, self.root / "state", self.ledger):
            sub.mkdir(parents=True, exist_ok=True)

    def identity(self) -> Identity:
        if not self.card_path.exists():
            raise StateError(
                "not a party home (no card.json)",
                file=str(self.root),
                hint="run `narwhal ROLE init --home DIR --name NAME` first "
                "(ROLE: campaign, matcher or provider)",
            )
        return load_identity(self.keys)

    def card(self) -> PartyCard:
        return read_card(self.card_path)

    def trusted(self) -> dict[str, PartyCard]:
        """Trusted cards by fingerprint."""
        return read_contacts(self.contacts)

    def peer(self, role: str) -> PartyCard:
        """The single trusted card of ``role``."""
        cards = [c for c in self.trusted().values() if c.role == role]
        if len(cards) != 1:
            mine = self.card().role if self.card_path.is_file() else "ROLE"
            raise StateError(
                f"expected exactly one trusted {role} card, found {len(cards)}",
                file=str(self.contacts),
                hint=f"run `narwhal {mine} trust --home {self.root} CARD` with the {role}'s card",
            )
        return cards[0]

    def linkage_key(self, peer_role: str, exchange: str) -> LinkageKey:
        return agree_linkage_key(self.identity(), self.peer(peer_role), exchange)

    def open_inbox(self, exchange: str, kind: str) -> OpenedMessage:
        """Verify, decrypt and check one inbox message; reject replays.

        Nothing is recorded yet: a command calls :meth:`mark_consumed` once all
        its checks have passed, so a rejected run leaves no state behind.
        """
        with self.inbox_columns(exchange, kind) as (verified, columns):
            table = columns.read(columns.schema.names)
        return OpenedMessage(manifest=verified.manifest, table=table, sender=verified.sender)

    @contextmanager
    def inbox_columns(
        self, exchange: str, kind: str
    ) -> Iterator[tuple[VerifiedMessage, ParquetColumns]]:
        """:meth:`open_inbox` for payloads too big to hold: read column by column in the block.

        The decrypted payload stays beside the party's own state (a private
        scratch directory under ``state/``, removed when the block ends), not
        in a shared /tmp.
        """
        path = self.inbox_message(exchange, kind)
        with opened_columns(
            path,
            me=self.identity(),
            contacts=self.trusted(),
            expected_kind=kind,
            expected_exchange=exchange,
            scratch=self.root / "state",
        ) as (verified, columns):
            load_seen(self.seen_path(exchange)).consume(verified.manifest, file=str(path))
            yield verified, columns

    def mark_consumed(self, exchange: str, *messages: OpenedMessage | VerifiedMessage) -> None:
        """Record messages as consumed (replay protection), just before writing outputs."""
        seen = self.seen_path(exchange)
        guard = load_seen(seen)
        for opened in messages:
            guard = guard.consume(opened.manifest, file=str(seen))
        save_seen(seen, guard)
