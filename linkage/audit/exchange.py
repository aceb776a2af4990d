"""The exchange as the auditor sees it: the three party homes and every message they hold.

The auditor is the one actor allowed to read every home: it opens each inbox
message as its holder would, keeps the rejections as findings instead of
stopping at the first, and derives the keys the parties (and the matcher, on
its own) could derive. Every check reads this one :class:`Exchange`, so the
inboxes are decrypted once per audit.

The homes come in as :class:`linkage.io.PartyHome` values, the one place
that says where a home keeps its keys, inbox and state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
from cryptography.exceptions import InvalidTag

from linkage.errors import MessageError, NarwhalError
from linkage.io import PartyHome, load_secret, read_message_bytes
from linkage.protocol import (
    Identity,
    LinkageKey,
    OpenedMessage,
    PartyCard,
    agree_linkage_key,
    derive_linkage_key,
    open_message,
    read_manifest,
)

AUDITED_ROLES = ("campaign", "matcher", "provider")
"""The homes an exchange has, in the order their inboxes are read (and findings listed)."""


@dataclass(frozen=True)
class CheckResult:
    """One audit line: the check's name, whether it passed, and its figure.

    A check that saw none of its input is *skipped* (``passed`` stays true so
    it fails nothing, but it must never print as PASS): :attr:`status` says which.
    """

    name: str
    passed: bool
    detail: str
    skipped: bool = False

    @property
    def status(self) -> str:
        """``PASS``, ``FAIL`` or ``SKIP``: the word an audit line starts with."""
        if self.skipped:
            return "SKIP"
        return "PASS" if self.passed else "FAIL"


@dataclass
class Exchange:
    """Everything the auditor loaded from the three homes.

    Attributes:
        homes: Role -> home.
        messages: ``(path, holder role, opened message)`` for every readable inbox message.
        errors: Messages rejected before their payload could be trusted (signature,
            recipient, kind, exchange, hash), one line each.
        allow_list_errors: Messages that verified but whose payload broke its allow-list;
            they are still in ``messages`` so the PII scan can say what leaked.
    """

    homes: Mapping[str, PartyHome]
    messages: list[tuple[Path, str, OpenedMessage]]
    errors: list[str]
    allow_list_errors: list[str] = field(default_factory=list)


def open_unchecked(
    data: bytes, *, me: Identity, contacts: Mapping[str, PartyCard], file: str
) -> OpenedMessage:
    """Verify and decrypt a message whose payload failed its allow-list.

    ``open_message`` rightly refuses such a payload, but the auditor must still
    read it to say *what* leaked (a PII column is a pii-scan failure too).
    Signature, recipient, kind, exchange and payload hash are still verified.
    """
    manifest = read_manifest(data, file=file)
    return open_message(
        data,
        me=me,
        contacts=contacts,
        expected_kind=manifest.kind,
        expected_exchange=manifest.exchange_id,
        file=file,
        check_allow_list=False,
    )


def load_exchange(homes: Mapping[str, PartyHome]) -> Exchange:
    """Open every inbox message of the three homes as its holder would.

    Args:
        homes: Role -> home, for each of :data:`AUDITED_ROLES`.

    Returns:
        The exchange, rejections recorded rather than raised.

    Raises:
        NarwhalError: A home with an inbox cannot be read at all (not a party home, bad keys).
    """
    ex = Exchange({role: homes[role] for role in AUDITED_ROLES}, [], [])
    for role, home in ex.homes.items():
        if not home.inbox.is_dir():
            ex.errors.append(f"{role}: no inbox")
            continue
        me = home.identity()
        contacts = home.trusted()
        for path in sorted(home.inbox.glob("*.nwl")):
            try:
                data = read_message_bytes(path)
                manifest = read_manifest(data, file=str(path))
                opened = open_message(
                    data,
                    me=me,
                    contacts=contacts,
                    expected_kind=manifest.kind,
                    expected_exchange=manifest.exchange_id,
                    file=str(path),
                )
            except MessageError as err:
                if err.column is None:
                    ex.errors.append(str(err))
                    continue
                # Only the allow-list names a column: everything before it verified.
                ex.allow_list_errors.append(str(err))
                try:
                    opened = open_unchecked(data, me=me, contacts=contacts, file=str(path))
                except (NarwhalError, InvalidTag, pa.ArrowException) as inner:
                    ex.errors.append(f"{path.name}: cannot be read ({type(inner).__name__})")
                    continue
            except NarwhalError as err:
                ex.errors.append(str(err))
                continue
            ex.messages.append((path, role, opened))
    return ex


def messages_of_kind(ex: Exchange, kind: str) -> list[tuple[Path, OpenedMessage]]:
    """The readable messages of one kind, with their paths."""
    return [(p, o) for p, _, o in ex.messages if o.manifest.kind == kind]


def exchange_ids(ex: Exchange) -> list[str]:
    """Every exchange id a readable message belongs to, sorted."""
    return sorted({opened.manifest.exchange_id for _, _, opened in ex.messages})


def provider_secret(ex: Exchange) -> bytes:
    """The provider's pseudonym secret (hp = HMAC(secret, exchange, household))."""
    return load_secret(ex.homes["provider"].secret_path)


def linkage_key(ex: Exchange, exchange_id: str) -> LinkageKey:
    """The real campaign/provider key, derived as the auditor (campaign keys + provider card)."""
    return agree_linkage_key(
        ex.homes["campaign"].identity(), ex.homes["provider"].card(), exchange_id
    )


def matcher_keys(ex: Exchange, exchange_id: str) -> list[LinkageKey]:
    """Every key the matcher could derive on its own: its agreement with either party."""
    mine = ex.homes["matcher"].identity()
    return [
        derive_linkage_key(
            mine.exchange_key, other.exchange_public, exchange_id, own_public=mine.exchange_public
        )
        for other in (ex.homes["campaign"].card(), ex.homes["provider"].card())
    ]
