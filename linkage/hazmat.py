"""Sharp primitives: raw keyed hashing and the byte encoding under every token.

Like pyca/cryptography's ``hazmat`` layer, everything here is correct but easy
to misuse, and each docstring says what misuse costs. The safe recipes are
:func:`linkage.encode.tokenize_records` (match keys),
:func:`linkage.encode.encode_records` (Bloom filters) and
:func:`linkage.encode.encode_side` (a whole side, blocking keys included); they
take a :class:`linkage.types.SubkeySource`, never raw key bytes. A linkage
key's bytes are reachable only through :meth:`LinkageKey.subkey`, one sub-key
per purpose.

:func:`length_prefixed` is part of the golden-vector contract
(``tests/vectors/*.json``): changing it changes every token, card fingerprint
and blocking key, so it is defined once, here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from cryptography.hazmat.primitives import hashes, hmac

from linkage.errors import KeyMaterialError
from linkage.types import SubkeySource

__all__ = ["MIN_KEY_BYTES", "checked_subkey", "hmac_sha256_many", "length_prefixed"]

MIN_KEY_BYTES: Final = 32
"""Shortest key :func:`hmac_sha256_many` accepts (a sub-key is 32 bytes)."""


def checked_subkey(keys: SubkeySource, purpose: str) -> bytes:
    """The raw sub-key bytes for ``purpose``, refused when too short to be derived.

    Misuse costs: these bytes key every token of one purpose. Use them for
    that purpose only, never log them, and never take them from anything but
    a :class:`~linkage.types.SubkeySource` (a short or constant key would let
    anyone holding the voter file brute-force the tokens).

    Raises:
        KeyMaterialError: The sub-key is shorter than :data:`MIN_KEY_BYTES`.
    """
    key = keys.subkey(purpose)
    if len(key) < MIN_KEY_BYTES:
        raise KeyMaterialError(
            f"sub-key for {purpose} is shorter than {MIN_KEY_BYTES} bytes",
            hint="derive sub-keys with LinkageKey.subkey",
        )
    return key


def length_prefixed(data: bytes) -> bytes:
    """``data`` prefixed by its length as a 4-byte big-endian integer.

    Concatenations of length-prefixed parts are injective: no separator can be
    smuggled inside a value to make two different records encode alike.
    """
    return len(data).to_bytes(4, "big") + data


def hmac_sha256_many(key: bytes, messages: Sequence[bytes | None]) -> list[bytes | None]:
    """HMAC-SHA256 of each message under one key; None stays None.

    The sharp primitive under :func:`linkage.encode.tokenize_records`. Misuse costs:

    * an **unkeyed** or guessable-key hash of a name or address is
      dictionary-attackable: anyone holding a public voter file hashes every
      entry and reverses the tokens, so the key must be a secret sub-key from
      the exchange's linkage key, never a constant;
    * **reusing a key** across exchanges or purposes makes tokens equal across
      them, so a matcher can link exchanges (and recipes) it should not; use
      one sub-key per (exchange, purpose), as :class:`linkage.types.SubkeySource` does;
    * messages must be an unambiguous encoding (see
      :func:`linkage.encode.matchkeys.encode_message`), or two different
      records can collide on purpose.

    Args:
        key: Secret key, at least 32 bytes.
        messages: Messages to authenticate; None entries give None.

    Returns:
        32-byte tags, in input order.

    Raises:
        KeyMaterialError: The key is shorter than 32 bytes.
    """
    if len(key) < MIN_KEY_BYTES:
        raise KeyMaterialError(
            "match-key sub-key is too short", hint="derive sub-keys with LinkageKey.subkey"
        )
    base = hmac.HMAC(key, hashes.SHA256())
    out: list[bytes | None] = []
    append = out.append
    for message in messages:
        if message is None:
            append(None)
            continue
        # Copying the keyed state skips re-deriving the HMAC pads per message.
        mac = base.copy()
        mac.update(message)
        append(mac.finalize())
    return out
