"""The exchange protocol: who the parties are and how a message travels between them.

- :mod:`.keys`: identities, party cards, the per-exchange linkage key and
  household pseudonyms (encodings fixed by golden vectors).
- :mod:`.envelope`: the NWL2 container that seals a payload to one recipient
  (:mod:`.envelope.container`), its manifest and the per-kind column allow-lists.
- :mod:`.replay`: which message was consumed last per stream, so an older one
  is refused.
- :mod:`.refs`: random per-exchange record references.
"""

from linkage.protocol.envelope import (
    FORMAT_VERSION,
    KIND_SPECS,
    KINDS,
    MAGIC,
    Manifest,
    OpenedMessage,
    VerifiedMessage,
    check_payload,
    encode_payload,
    format_time,
    open_message,
    open_stream,
    parse_time,
    read_manifest,
    read_payload,
    seal,
    seal_parquet,
    validate_payload,
)
from linkage.protocol.keys import (
    SECRET_BYTES,
    UNSEEN_PREFIX,
    Identity,
    LinkageKey,
    PartyCard,
    agree_linkage_key,
    card_fingerprint,
    card_from_json,
    card_to_json,
    derive_linkage_key,
    dummy_pseudonym_mask,
    dummy_pseudonyms,
    generate_identity,
    households_of,
    identity_from_pem,
    identity_from_private_bytes,
    identity_to_pem,
    panel_household_ids,
    pseudonymize,
    validate_exchange_id,
    validate_party_name,
)
from linkage.protocol.refs import random_refs
from linkage.protocol.replay import ReplayGuard

__all__ = [
    "FORMAT_VERSION",
    "KINDS",
    "KIND_SPECS",
    "MAGIC",
    "SECRET_BYTES",
    "UNSEEN_PREFIX",
    "Identity",
    "LinkageKey",
    "Manifest",
    "OpenedMessage",
    "PartyCard",
    "ReplayGuard",
    "VerifiedMessage",
    "agree_linkage_key",
    "card_fingerprint",
    "card_from_json",
    "card_to_json",
    "check_payload",
    "derive_linkage_key",
    "dummy_pseudonym_mask",
    "dummy_pseudonyms",
    "encode_payload",
    "format_time",
    "generate_identity",
    "households_of",
    "identity_from_pem",
    "identity_from_private_bytes",
    "identity_to_pem",
    "open_message",
    "open_stream",
    "panel_household_ids",
    "parse_time",
    "pseudonymize",
    "random_refs",
    "read_manifest",
    "read_payload",
    "seal",
    "seal_parquet",
    "validate_exchange_id",
    "validate_party_name",
    "validate_payload",
]
