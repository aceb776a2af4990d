"""Identities, party cards, linkage-key agreement and household pseudonyms.

Everything here is pure: keys come in as objects or bytes and go out as
objects, bytes or text. Files live in :mod:`linkage.io`.

Encodings (all fixed by golden vectors in ``tests/vectors/keys.json``):

* **Card fingerprint** = first 32 hex chars of
  ``SHA-256(b"narwhal/v1/card" || lp(role) || lp(signing_public) || lp(exchange_public))``
  where ``lp(x)`` is ``x`` prefixed by its length as a 4-byte big-endian
  integer. The party *name* is a label and deliberately not covered: the
  fingerprint names the keys and the role they may be used for.
* **Linkage key** = ``HKDF-SHA256(ikm=X25519(own, peer), length=32,
  salt=SHA-256(b"narwhal/v1/exchange" || 0x00 || exchange_id),
  info=b"narwhal/v1/linkage" || min(pub_a, pub_b) || max(pub_a, pub_b))``.
  Sorting the two public keys makes both sides compute the same key; the
  salt binds it to one exchange, so keys of different exchanges are unrelated.
* **Sub-key** = ``HKDF-Expand-SHA256(linkage_key,
  info=b"narwhal/v1/subkey" || 0x00 || purpose, length=32)``.
* **Household pseudonym** = first 32 hex chars of
  ``HMAC-SHA256(secret, exchange_id || 0x1f || household_id)``.
* **Panel household ID** = first 32 hex chars of
  ``HMAC-SHA256(secret, b"narwhal/v1/panel-household" || 0x1f || panel_id || 0x1f ||
  household_id)``; never leaves the provider.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, cast, get_args

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

from linkage.errors import InputError, KeyMaterialError
from linkage.hazmat import length_prefixed

Role = Literal["campaign", "matcher", "provider"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)

CARD_FORMAT: Final = "narwhal-card/1"
KEY_BYTES: Final = 32
SECRET_BYTES: Final = 32
FINGERPRINT_HEX: Final = 32
PSEUDONYM_HEX: Final = 32

_CARD_DOMAIN: Final = b"narwhal/v1/card"
_EXCHANGE_DOMAIN: Final = b"narwhal/v1/exchange\x00"
_LINKAGE_INFO: Final = b"narwhal/v1/linkage"
_SUBKEY_INFO: Final = b"narwhal/v1/subkey\x00"
_KEY_FP_DOMAIN: Final = b"narwhal/v1/linkage-key-fingerprint\x00"

# Exchange ids and party names become file names: keep them to a portable,
# traversal-free alphabet.
_SAFE_NAME: Final = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")
# A display name never becomes a file name (contacts are <role>-<fingerprint>.json),
# so it may hold spaces; it is shown on terminals, so no markup or control characters.
# Every name valid before spaces were allowed stays valid, so old cards still load.
_DISPLAY_NAME: Final = re.compile(
    r"[A-Za-z0-9_-](?:[A-Za-z0-9 .,&'()_-]{0,62}[A-Za-z0-9.,&'()_-])?"
)
_HEX_FP: Final = re.compile(r"[0-9a-f]{32}")
_CARD_FIELDS: Final = frozenset(
    {"format", "name", "role", "signing_public", "exchange_public", "fingerprint"}
)


def _validate_safe_name(value: str, what: str, *, file: str | None = None) -> str:
    if not isinstance(value, str) or _SAFE_NAME.fullmatch(value) is None:
        raise InputError(
            f"invalid {what}",
            file=file,
            hint="use 1-64 characters from A-Z a-z 0-9 . _ - , not starting with a dot",
        )
    return value


def validate_exchange_id(exchange_id: str) -> str:
    """Check an exchange id; it becomes part of file names.

    Args:
        exchange_id: The id agreed out of band.

    Returns:
        The id, unchanged.

    Raises:
        InputError: Not 1-64 characters of ``[A-Za-z0-9._-]`` or starts with a dot.
    """
    return _validate_safe_name(exchange_id, "exchange id")


def validate_party_name(name: str) -> str:
    """Check a party's display name ("Acme TV"), shown on cards and terminals.

    It never names a file: other homes file a card under its role and
    fingerprint. Letters, digits, spaces and ``. , & ' ( ) _ -``, 1-64
    characters, not starting with a space, a dot or punctuation, not ending
    in a space.

    Raises:
        InputError: Any other character, or a bad length.
    """
    if not isinstance(name, str) or _DISPLAY_NAME.fullmatch(name) is None:
        raise InputError(
            "invalid party name",
            hint="use 1-64 characters: letters, digits, spaces and . , & ' ( ) _ -, "
            "starting with a letter, a digit, _ or -",
        )
    return name


def validate_role(role: str) -> Role:
    """Check that ``role`` is one of :data:`ROLES`.

    Raises:
        InputError: Unknown role.
    """
    if role not in ROLES:
        raise InputError("unknown role", hint=f"use one of {', '.join(ROLES)}")
    return role


def card_fingerprint(role: str, signing_public: bytes, exchange_public: bytes) -> str:
    """Fingerprint of a party's public keys and role (see module docstring)."""
    digest = hashlib.sha256(
        _CARD_DOMAIN
        + length_prefixed(role.encode())
        + length_prefixed(signing_public)
        + length_prefixed(exchange_public)
    ).hexdigest()
    return digest[:FINGERPRINT_HEX]


@dataclass(frozen=True)
class PartyCard:
    """A party's public identity, swapped out of band and stored in ``contacts/``.

    Attributes:
        name: Label, also the contact file name.
        role: ``campaign``, ``matcher`` or ``provider``.
        signing_public: Raw Ed25519 public key (32 bytes).
        exchange_public: Raw X25519 public key (32 bytes).
        fingerprint: :func:`card_fingerprint` of role and both keys.
    """

    name: str
    role: Role
    signing_public: bytes
    exchange_public: bytes
    fingerprint: str


@dataclass(frozen=True, eq=False)
class Identity:
    """A party's private keys. The repr shows name, role and fingerprint only.

    Equality is object identity; compare :attr:`fingerprint` instead.

    Attributes:
        name: Party name.
        role: Party role.
        signing_key: Ed25519 key that signs every message this party sends.
        exchange_key: X25519 key for linkage-key agreement and message decryption.
    """

    name: str
    role: Role
    signing_key: Ed25519PrivateKey = field(repr=False)
    exchange_key: X25519PrivateKey = field(repr=False)

    @property
    def signing_public(self) -> bytes:
        """Raw Ed25519 public key."""
        return self.signing_key.public_key().public_bytes_raw()

    @property
    def exchange_public(self) -> bytes:
        """Raw X25519 public key."""
        return self.exchange_key.public_key().public_bytes_raw()

    @property
    def fingerprint(self) -> str:
        """Fingerprint of this identity's card."""
        return card_fingerprint(self.role, self.signing_public, self.exchange_public)

    def card(self) -> PartyCard:
        """The public card to publish."""
        return PartyCard(
            name=self.name,
            role=self.role,
            signing_public=self.signing_public,
            exchange_public=self.exchange_public,
            fingerprint=self.fingerprint,
        )

    def __repr__(self) -> str:
        return f"Identity(name={self.name!r}, role={self.role!r}, fingerprint={self.fingerprint!r})"


def generate_identity(name: str, role: str) -> Identity:
    """Make fresh signing and exchange keys for a party.

    Raises:
        InputError: Invalid name or role.
    """
    return Identity(
        name=validate_party_name(name),
        role=validate_role(role),
        signing_key=Ed25519PrivateKey.generate(),
        exchange_key=X25519PrivateKey.generate(),
    )


def identity_from_private_bytes(
    name: str, role: str, signing_private: bytes, exchange_private: bytes
) -> Identity:
    """Rebuild an identity from raw 32-byte private keys (golden tests, key import).

    Raises:
        InputError: Invalid name or role.
        KeyMaterialError: A key is not 32 bytes.
    """
    if len(signing_private) != KEY_BYTES or len(exchange_private) != KEY_BYTES:
        raise KeyMaterialError("raw private keys must be 32 bytes each")
    return Identity(
        name=validate_party_name(name),
        role=validate_role(role),
        signing_key=Ed25519PrivateKey.from_private_bytes(signing_private),
        exchange_key=X25519PrivateKey.from_private_bytes(exchange_private),
    )


def identity_to_pem(identity: Identity) -> tuple[bytes, bytes]:
    """Serialize both private keys as unencrypted PKCS#8 PEM (signing, exchange).

    The caller must store them with mode 0600: the PEM is the key.
    """
    fmt = serialization.PrivateFormat.PKCS8
    enc = serialization.Encoding.PEM
    none = serialization.NoEncryption()
    return (
        identity.signing_key.private_bytes(enc, fmt, none),
        identity.exchange_key.private_bytes(enc, fmt, none),
    )


def identity_from_pem(
    name: str,
    role: str,
    signing_pem: bytes,
    exchange_pem: bytes,
    *,
    signing_file: str | None = None,
    exchange_file: str | None = None,
) -> Identity:
    """Load an identity from the PEM produced by :func:`identity_to_pem`.

    Raises:
        KeyMaterialError: A PEM is unreadable or holds the wrong key type.
    """
    signing = _load_private_pem(signing_pem, signing_file)
    exchange = _load_private_pem(exchange_pem, exchange_file)
    if not isinstance(signing, Ed25519PrivateKey):
        raise KeyMaterialError("not an Ed25519 private key", file=signing_file)
    if not isinstance(exchange, X25519PrivateKey):
        raise KeyMaterialError("not an X25519 private key", file=exchange_file)
    return Identity(
        name=validate_party_name(name),
        role=validate_role(role),
        signing_key=signing,
        exchange_key=exchange,
    )


def _load_private_pem(pem: bytes, file: str | None) -> object:
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # Not chained: the library's message may quote key material.
        raise KeyMaterialError("unreadable private key", file=file) from None


# --- cards -------------------------------------------------------------------------


def card_to_json(card: PartyCard) -> str:
    """Serialize a card as stable, human-readable JSON (public keys in hex)."""
    doc = {
        "format": CARD_FORMAT,
        "name": card.name,
        "role": card.role,
        "signing_public": card.signing_public.hex(),
        "exchange_public": card.exchange_public.hex(),
        "fingerprint": card.fingerprint,
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def _public_hex(doc: dict[str, object], key: str, file: str | None) -> bytes:
    value = doc.get(key)
    if not isinstance(value, str) or re.fullmatch(r"[0-9a-f]{64}", value) is None:
        raise KeyMaterialError(f"'{key}' must be 64 lowercase hex characters", file=file)
    return bytes.fromhex(value)


def card_from_json(text: str, *, file: str | None = None) -> PartyCard:
    """Parse and fully validate a card; the fingerprint is recomputed and compared.

    Args:
        text: The card JSON.
        file: Where it came from, for error messages.

    Raises:
        InputError: Not JSON, missing/unknown fields, bad name or role.
        KeyMaterialError: Public keys malformed or fingerprint mismatch (tampered card).
    """
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):  # JSONDecodeError, digit limits, deep nesting
        raise InputError("party card is not valid JSON", file=file) from None
    if not isinstance(doc, dict):
        raise InputError("party card must be a JSON object", file=file)
    fields = set(doc)
    if fields != _CARD_FIELDS:
        missing = sorted(_CARD_FIELDS - fields)
        extra = sorted(fields - _CARD_FIELDS)
        detail = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"unknown {', '.join(extra)}" if extra else "",
            )
            if part
        )
        raise InputError(f"party card fields are wrong: {detail}", file=file)
    if doc["format"] != CARD_FORMAT:
        raise InputError(
            "unsupported party card format", file=file, hint=f"expected '{CARD_FORMAT}'"
        )
    name = doc["name"]
    role = doc["role"]
    if not isinstance(name, str) or _DISPLAY_NAME.fullmatch(name) is None:
        raise InputError("invalid party name in card", file=file)
    if role not in ROLES:
        raise InputError("unknown role in card", file=file, hint=f"use one of {', '.join(ROLES)}")
    signing_public = _public_hex(doc, "signing_public", file)
    exchange_public = _public_hex(doc, "exchange_public", file)
    try:
        Ed25519PublicKey.from_public_bytes(signing_public)
        X25519PublicKey.from_public_bytes(exchange_public)
    except ValueError:
        raise KeyMaterialError("card holds an invalid public key", file=file) from None
    fingerprint = doc["fingerprint"]
    if not isinstance(fingerprint, str) or _HEX_FP.fullmatch(fingerprint) is None:
        raise KeyMaterialError("'fingerprint' must be 32 lowercase hex characters", file=file)
    expected = card_fingerprint(role, signing_public, exchange_public)
    if not hmac.compare_digest(expected, fingerprint):
        raise KeyMaterialError(
            "card fingerprint does not match its keys and role",
            file=file,
            hint="the card was altered or corrupted; ask the party for a fresh copy",
        )
    return PartyCard(
        name=name,
        role=cast(Role, role),
        signing_public=signing_public,
        exchange_public=exchange_public,
        fingerprint=fingerprint,
    )


# --- linkage key -------------------------------------------------------------------


def _exchange_salt(exchange_id: str) -> bytes:
    return hashlib.sha256(_EXCHANGE_DOMAIN + exchange_id.encode()).digest()


@dataclass(frozen=True, repr=False, eq=False)
class LinkageKey:
    """The campaign/provider shared key for one exchange. Never printed.

    Equality is object identity (compare :meth:`fingerprint` instead), so the key
    never takes part in a non-constant-time comparison.

    Use :meth:`subkey` for every keyed operation: one sub-key per purpose, so a
    leak or misuse of one encoding says nothing about the others.

    Attributes:
        exchange_id: The exchange the key is bound to.
    """

    exchange_id: str
    _key: bytes

    def subkey(self, purpose: str) -> bytes:
        """Derive the 32-byte key for ``purpose`` (e.g. ``match:mk_addr``, ``bloom:surname``).

        Raises:
            ValueError: Empty purpose.
        """
        if not purpose:
            raise ValueError("sub-key purpose must be non-empty")
        return HKDFExpand(
            algorithm=hashes.SHA256(), length=KEY_BYTES, info=_SUBKEY_INFO + purpose.encode()
        ).derive(self._key)

    def fingerprint(self) -> str:
        """16 hex chars identifying the key, safe to show so both sides can compare."""
        return hashlib.sha256(_KEY_FP_DOMAIN + self._key).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"LinkageKey(exchange_id={self.exchange_id!r}, fingerprint={self.fingerprint()!r})"


def derive_linkage_key(
    own: X25519PrivateKey, peer_public: bytes, exchange_id: str, own_public: bytes
) -> LinkageKey:
    """Agree the linkage key with a peer; no message is exchanged.

    Args:
        own: This party's X25519 private key.
        peer_public: The peer's raw X25519 public key (from its card).
        exchange_id: The exchange the key is for (salts the derivation).
        own_public: This party's raw X25519 public key; must match ``own``.

    Raises:
        InputError: Invalid exchange id.
        KeyMaterialError: Malformed/degenerate peer key, ``own_public`` not matching
            ``own``, or the peer is this party itself.
    """
    validate_exchange_id(exchange_id)
    if not hmac.compare_digest(own.public_key().public_bytes_raw(), own_public):
        raise KeyMaterialError("own_public does not belong to the given private key")
    if len(peer_public) != KEY_BYTES:
        raise KeyMaterialError("peer public key must be 32 bytes")
    if hmac.compare_digest(peer_public, own_public):
        raise KeyMaterialError("cannot agree a linkage key with oneself")
    try:
        shared = own.exchange(X25519PublicKey.from_public_bytes(peer_public))
    except ValueError:
        # cryptography refuses low-order points (all-zero shared secret).
        raise KeyMaterialError("peer public key is degenerate") from None
    low, high = sorted((own_public, peer_public))
    key = HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_BYTES,
        salt=_exchange_salt(exchange_id),
        info=_LINKAGE_INFO + low + high,
    ).derive(shared)
    return LinkageKey(exchange_id=exchange_id, _key=key)


def agree_linkage_key(me: Identity, peer: PartyCard, exchange_id: str) -> LinkageKey:
    """The safe recipe: linkage key between a campaign and a provider only.

    Raises:
        KeyMaterialError: The two roles are not {campaign, provider}.
        InputError: Invalid exchange id.
    """
    if {me.role, peer.role} != {"campaign", "provider"}:
        raise KeyMaterialError(
            "a linkage key is agreed only between a campaign and a provider",
            hint=f"this is a {me.role} and the peer card is a {peer.role}",
        )
    return derive_linkage_key(
        me.exchange_key, peer.exchange_public, exchange_id, me.exchange_public
    )


# --- household pseudonyms --------------------------------------------------------


def pseudonymize(secret: bytes, exchange_id: str, ids: Sequence[str]) -> list[str]:
    """Per-exchange household pseudonyms: the provider's stand-in for household ids.

    ``hp = HMAC-SHA256(secret, exchange_id || 0x1f || id)[:32 hex]``. The secret
    never leaves the provider, so nobody else can map a pseudonym back. The
    exchange id is mixed in so pseudonyms from two exchanges cannot be joined:
    a matcher (or campaign) that sees several exchanges learns nothing about
    which households recur. 128 bits keep collisions negligible for any
    realistic subscriber count.

    Args:
        secret: The provider's local secret (at least 32 bytes).
        exchange_id: The exchange (validated; it cannot contain 0x1f, so the
            encoding is unambiguous).
        ids: Household ids.

    Returns:
        One pseudonym per id, same order.

    Raises:
        KeyMaterialError: Secret shorter than 32 bytes.
        InputError: Invalid exchange id.
    """
    if len(secret) < SECRET_BYTES:
        raise KeyMaterialError("pseudonym secret must be at least 32 bytes")
    validate_exchange_id(exchange_id)
    base = hmac.new(secret, exchange_id.encode() + b"\x1f", hashlib.sha256)
    out: list[str] = []
    for household_id in ids:
        mac = base.copy()
        mac.update(household_id.encode())
        out.append(mac.hexdigest()[:PSEUDONYM_HEX])
    return out


_DUMMY_TAG: Final = b"narwhal/v1/dummy-household\x1f"


def _dummy_tag(secret: bytes, exchange_id: str, nonce: str) -> str:
    mac = hmac.new(secret, _DUMMY_TAG + exchange_id.encode() + b"\x1f" + nonce.encode(), "sha256")
    return mac.hexdigest()[: PSEUDONYM_HEX // 2]


def dummy_pseudonyms(secret: bytes, exchange_id: str, count: int) -> list[str]:
    """Pseudonyms for the provider's dummy households, recognisable only with its secret.

    ``hp = nonce || HMAC(secret, tag || exchange_id || nonce)[:16 hex]`` with a
    random 64-bit nonce: the same format as a real pseudonym, so the matcher
    cannot tell them apart, while the provider's measurement side, holding the
    secret, can (:func:`dummy_pseudonym_mask`) and drops them, without
    confusing them with subscribers that had no viewing. A real pseudonym
    passes the check with probability 2**-64.

    Raises:
        KeyMaterialError: Secret shorter than 32 bytes.
        InputError: Invalid exchange id.
    """
    if len(secret) < SECRET_BYTES:
        raise KeyMaterialError("pseudonym secret must be at least 32 bytes")
    validate_exchange_id(exchange_id)
    nonces = [os.urandom(PSEUDONYM_HEX // 4).hex() for _ in range(count)]
    return [nonce + _dummy_tag(secret, exchange_id, nonce) for nonce in nonces]


def dummy_pseudonym_mask(secret: bytes, exchange_id: str, pseudonyms: Sequence[str]) -> list[bool]:
    """Which of ``pseudonyms`` are the provider's own dummies (see :func:`dummy_pseudonyms`).

    Raises:
        KeyMaterialError: Secret shorter than 32 bytes.
        InputError: Invalid exchange id.
    """
    if len(secret) < SECRET_BYTES:
        raise KeyMaterialError("pseudonym secret must be at least 32 bytes")
    validate_exchange_id(exchange_id)
    half = PSEUDONYM_HEX // 2
    return [
        len(hp) == PSEUDONYM_HEX
        and hmac.compare_digest(hp[half:], _dummy_tag(secret, exchange_id, hp[:half]))
        for hp in pseudonyms
    ]


_PANEL_DOMAIN: Final = b"narwhal/v1/panel-household\x1f"


def panel_household_ids(secret: bytes, panel_id: str, household_ids: Sequence[str]) -> list[str]:
    """Panel-stable household IDs: the provider's own key for a household across exchanges.

    ``HMAC-SHA256(secret, b"narwhal/v1/panel-household" || 0x1f || panel_id ||
    0x1f || id)[:32 hex]``. The same household gets the same ID in every week
    of one panel (a provider-campaign relationship spanning exchanges) and
    unrelated IDs in two panels. The domain keeps them apart from every
    per-exchange pseudonym: an exchange id cannot hold ``/``, so no exchange
    id spells the domain. Misuse costs: a panel ID in any sealed message links
    that household's rows across weeks for whoever reads it (the matcher could
    then strip the dummy records); only the provider's panel store holds them.

    Raises:
        KeyMaterialError: Secret shorter than 32 bytes.
        InputError: Invalid panel id (validated like an exchange id).
    """
    if len(secret) < SECRET_BYTES:
        raise KeyMaterialError("panel secret must be at least 32 bytes")
    _validate_safe_name(panel_id, "panel id")
    base = hmac.new(secret, _PANEL_DOMAIN + panel_id.encode() + b"\x1f", hashlib.sha256)
    out: list[str] = []
    for household_id in household_ids:
        mac = base.copy()
        mac.update(household_id.encode())
        out.append(mac.hexdigest()[:PSEUDONYM_HEX])
    return out


UNSEEN_PREFIX: Final = "unseen:"
"""Marks a pseudonym whose household has no viewing: it stays a distinct household."""


def households_of(
    secret: bytes, exchange_id: str, pseudonyms: Sequence[str], candidates: Sequence[str]
) -> list[str]:
    """Map pseudonyms back to household ids, as only the provider can.

    A pseudonym cannot be inverted; the provider re-derives the pseudonym of
    every household it could be (``candidates``: the viewing log's own ids)
    and looks each one up. A pseudonym of a household absent from the
    candidates (a subscriber with no viewing) keeps its own distinct id,
    :data:`UNSEEN_PREFIX` + pseudonym, so it still counts in its segments'
    universes.

    Raises:
        KeyMaterialError: Secret shorter than 32 bytes.
        InputError: Invalid exchange id.
    """
    back = dict(zip(pseudonymize(secret, exchange_id, candidates), candidates, strict=True))
    return [back.get(hp, UNSEEN_PREFIX + hp) for hp in pseudonyms]
