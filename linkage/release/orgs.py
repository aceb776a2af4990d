"""Organisations: the campaigns a provider releases to, and whose budget each card spends.

A privacy budget belongs to a campaign **organisation**, not to a card: a
campaign that re-initialises its home gets a new card (new keys, new
fingerprint), and a budget keyed to the card would start afresh. The provider
registers each campaign card it trusts under an organisation id
(``narwhal provider trust --home P CARD --org NAME``); every card of one
organisation spends the same budget in the ledger
(:mod:`linkage.release.ledger`). A card is registered once: moving it to
another organisation would hand it a fresh budget, so that is refused.

The registry is one small JSON file in the provider's home
(:attr:`linkage.io.PartyHome.orgs_path`), ``{"cards": {fingerprint: org}}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from linkage.errors import InputError, StateError
from linkage.io import PRIVATE_MODE, atomic_write_text, read_text

__all__ = ["OrgRegistry", "load_orgs", "save_orgs", "validate_org"]

_ORG: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def validate_org(name: str) -> str:
    """Check an organisation id: 1-64 of ``A-Z a-z 0-9 . _ -``, starting alphanumeric.

    Raises:
        InputError: Not a valid id (the value is not echoed).
    """
    if _ORG.fullmatch(name) is None:
        raise InputError(
            "invalid organisation id",
            hint="use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return name


@dataclass(frozen=True)
class OrgRegistry:
    """Campaign card fingerprint -> organisation id, as the provider registered them."""

    cards: Mapping[str, str]

    def org_of(self, fingerprint: str, *, home: Path) -> str:
        """The organisation a campaign card belongs to.

        Raises:
            StateError: The card was never registered (names the command to run).
        """
        org = self.cards.get(fingerprint)
        if org is None:
            raise StateError(
                f"the campaign card {fingerprint} is not registered to an organisation",
                hint=f"run `narwhal provider trust --home {home} CARD --org NAME`",
            )
        return org

    def register(self, fingerprint: str, org: str) -> OrgRegistry:
        """The registry with ``fingerprint`` in ``org`` (registering it again is a no-op).

        Raises:
            InputError: Invalid organisation id.
            StateError: The card is already registered to another organisation.
        """
        validate_org(org)
        known = self.cards.get(fingerprint)
        if known is not None and known != org:
            raise StateError(
                "this campaign card is already registered to another organisation",
                hint="a card keeps its organisation (and its budget); re-initialise the "
                "campaign for a new card",
            )
        return OrgRegistry({**self.cards, fingerprint: org})

    def members(self, org: str) -> list[str]:
        """Fingerprints of the cards registered to ``org``, sorted."""
        return sorted(fp for fp, name in self.cards.items() if name == org)

    def to_json(self) -> str:
        """The stored form (keys sorted)."""
        return json.dumps({"cards": dict(sorted(self.cards.items()))}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, *, file: str | None = None) -> OrgRegistry:
        """Parse :meth:`to_json` output.

        Raises:
            StateError: Not a registry.
        """
        try:
            doc = json.loads(text)
            cards = doc["cards"]
            if not isinstance(cards, dict):
                raise TypeError
            parsed = {str(fp): validate_org(str(org)) for fp, org in cards.items()}
        except (json.JSONDecodeError, KeyError, TypeError, RecursionError, InputError):
            raise StateError("organisation registry is malformed", file=file) from None
        return cls(parsed)


def load_orgs(path: Path) -> OrgRegistry:
    """The registry at ``path``; empty when the file does not exist yet."""
    if not path.exists():
        return OrgRegistry({})
    return OrgRegistry.from_json(read_text(path), file=str(path))


def save_orgs(path: Path, registry: OrgRegistry) -> None:
    """Write the registry atomically (0600)."""
    atomic_write_text(path, registry.to_json(), PRIVATE_MODE)
