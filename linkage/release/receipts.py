"""Release receipts: the provider's ledger head, anchored outside the provider.

The ledger's hash chain stops anyone without the provider's secret, but the
provider holds it: it could drop its last entries, rewrite the head, or
delete the ledger and start again, and spend a campaign's budget twice. So
each release carries the head of its organisation's chain, and two parties
outside the provider keep it:

1. The provider signs a :class:`ReleaseHead` (the organisation's release
   number ``seq``, the hash of its previous entry ``prev``, this entry's
   ``hash``, this release's ``rho`` and the organisation's ``rho_spent``
   with it) and sends it beside the viewership message as
   ``<exchange>.release-receipt.json``. It is a detached Ed25519 signature by
   the provider's card key over a context string and the head's canonical
   JSON, not a sealed message: the head holds no personal data, and the
   signature, unlike the envelope's, survives being forwarded.
2. The campaign, opening the release, checks that the head **extends every
   head it saw before** (:func:`check_extends`): one it already saw must be
   identical, the one right after a seen one must name that one's hash as
   ``prev``, and the rho spent may never go down. Otherwise it refuses the
   release ("the provider's ledger was rewound ..."). It then countersigns
   the receipt with its own card key, addressed to the matcher.
3. The matcher verifies both signatures, runs the same check against every
   receipt it witnessed for the organisation, and appends the receipt to its
   witness log (``HOME/witness/receipts.jsonl``). The audit
   (:mod:`linkage.audit.ledger_checks`) fails when the provider's ledger is
   behind any witnessed receipt.

Which anchor stops whom is in docs/THREAT_MODEL.md (section 2.6).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from linkage.errors import MessageError, StateError
from linkage.io import PRIVATE_MODE, append_jsonl, atomic_write_text, read_text
from linkage.protocol import Identity, PartyCard
from linkage.release.ledger import GENESIS, Ledger, LedgerEntry

__all__ = [
    "RECEIPT_FORMAT",
    "Receipt",
    "ReleaseHead",
    "accept_receipt",
    "check_extends",
    "countersign",
    "issue_receipt",
    "load_heads",
    "load_witnessed",
    "read_receipt",
    "release_head",
    "save_heads",
    "verify_countersigned",
    "verify_issued",
    "witness",
    "write_receipt",
]

RECEIPT_FORMAT: Final = 1
_PROVIDER_CONTEXT: Final = b"narwhal/v1/release-receipt/provider\n"
_CAMPAIGN_CONTEXT: Final = b"narwhal/v1/release-receipt/campaign\n"
_RHO_TOLERANCE: Final = 1e-9
_SIGNATURE_BYTES: Final = 64
_RECEIPT_FIELDS: Final = frozenset(
    {"format", "head", "provider_signature", "witness", "campaign_signature"}
)


@dataclass(frozen=True)
class ReleaseHead:
    """The head of one organisation's chain in the provider's ledger, after one release.

    Attributes:
        provider: The provider's card fingerprint.
        org: The organisation released to.
        campaign: The campaign card released to.
        exchange: The release's exchange id.
        seq: The organisation's release number (1-based).
        prev: Hash of the organisation's previous entry (all zeros for its first).
        hash: This entry's chain hash.
        rho: Rho this release spent (0 for an exact release).
        rho_spent: The organisation's total rho, this release included.
    """

    provider: str
    org: str
    campaign: str
    exchange: str
    seq: int
    prev: str
    hash: str
    rho: float
    rho_spent: float

    @property
    def rho_before(self) -> float:
        """The organisation's total rho before this release."""
        return self.rho_spent - self.rho

    def canonical(self) -> bytes:
        """Canonical JSON (keys sorted, no whitespace): what is signed."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ReleaseHead:
        """Parse :func:`dataclasses.asdict` output (exact field set).

        Raises:
            ValueError / TypeError / KeyError: Not a head.
        """
        if set(doc) != {f for f in cls.__dataclass_fields__}:
            raise ValueError("wrong set of fields")
        head = cls(
            provider=_str(doc["provider"]),
            org=_str(doc["org"]),
            campaign=_str(doc["campaign"]),
            exchange=_str(doc["exchange"]),
            seq=_int(doc["seq"]),
            prev=_str(doc["prev"]),
            hash=_str(doc["hash"]),
            rho=_float(doc["rho"]),
            rho_spent=_float(doc["rho_spent"]),
        )
        if head.seq < 1 or head.rho < 0 or head.rho_spent < head.rho - _RHO_TOLERANCE:
            raise ValueError("inconsistent head")
        return head


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("not an integer")
    return value


def _float(value: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise TypeError("not a number")
    return float(value)


def release_head(ledger: Ledger, entry: LedgerEntry, *, provider: str) -> ReleaseHead:
    """The head ``entry`` leaves its organisation's chain at."""
    r = entry.request
    return ReleaseHead(
        provider=provider,
        org=r.org,
        campaign=r.campaign,
        exchange=r.exchange,
        seq=entry.org_seq,
        prev=entry.org_prev,
        hash=entry.hash,
        rho=r.rho or 0.0,
        rho_spent=ledger.spent_through(entry),
    )


@dataclass(frozen=True)
class Receipt:
    """A release head signed by the provider and, once the campaign checked it, countersigned.

    Attributes:
        head: The ledger head.
        provider_signature: Ed25519 by the provider's card key.
        witness: The matcher's card fingerprint the countersigned receipt is for.
        campaign_signature: Ed25519 by the campaign's card key; None until countersigned.
    """

    head: ReleaseHead
    provider_signature: bytes
    witness: str | None = None
    campaign_signature: bytes | None = None

    def campaign_message(self, witness: str) -> bytes:
        """What the campaign signs: the head, the provider's signature and the witness."""
        return b"".join(
            (
                _CAMPAIGN_CONTEXT,
                self.head.canonical(),
                b"\n",
                self.provider_signature,
                witness.encode("ascii"),
            )
        )

    def to_json(self) -> str:
        """The receipt file's text."""
        doc = {
            "format": RECEIPT_FORMAT,
            "head": asdict(self.head),
            "provider_signature": self.provider_signature.hex(),
            "witness": self.witness,
            "campaign_signature": (
                None if self.campaign_signature is None else self.campaign_signature.hex()
            ),
        }
        return json.dumps(doc, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, *, file: str | None = None) -> Receipt:
        """Parse :meth:`to_json` output (signatures not checked yet).

        Raises:
            MessageError: Not a receipt.
        """
        try:
            doc = json.loads(text)
            if not isinstance(doc, dict) or doc.get("format") != RECEIPT_FORMAT:
                raise ValueError("format")
            if set(doc) != _RECEIPT_FIELDS:
                raise ValueError("fields")
            head = ReleaseHead.from_dict(doc["head"])
            provider_signature = _signature(doc["provider_signature"])
            witness_fp = doc["witness"]
            if witness_fp is not None and not isinstance(witness_fp, str):
                raise TypeError("witness")
            raw = doc["campaign_signature"]
            campaign_signature = None if raw is None else _signature(raw)
        except (ValueError, TypeError, KeyError, RecursionError):
            raise MessageError("malformed release receipt", file=file) from None
        return cls(head, provider_signature, witness_fp, campaign_signature)


def _signature(value: object) -> bytes:
    raw = bytes.fromhex(_str(value))
    if len(raw) != _SIGNATURE_BYTES:
        raise ValueError("signature length")
    return raw


def _verify(card: PartyCard, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(card.signing_public).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def issue_receipt(head: ReleaseHead, provider: Identity) -> Receipt:
    """The provider's signed receipt for ``head``."""
    return Receipt(head, provider.signing_key.sign(_PROVIDER_CONTEXT + head.canonical()))


def _signer(contacts: Mapping[str, PartyCard], fingerprint: str, role: str) -> PartyCard | None:
    card = contacts.get(fingerprint)
    return card if card is not None and card.role == role else None


def verify_issued(
    receipt: Receipt, contacts: Mapping[str, PartyCard], *, file: str | None = None
) -> None:
    """Check the provider's signature against its trusted card.

    Raises:
        MessageError: The signer is not a trusted provider, or the signature is bad.
    """
    card = _signer(contacts, receipt.head.provider, "provider")
    message = _PROVIDER_CONTEXT + receipt.head.canonical()
    if card is None or not _verify(card, receipt.provider_signature, message):
        raise MessageError(
            "release receipt is not signed by a trusted provider",
            file=file,
            hint="ask the provider for the receipt sent with this release",
        )


def countersign(receipt: Receipt, campaign: Identity, witness_card: PartyCard) -> Receipt:
    """The campaign's countersignature, addressed to the matcher that will witness it."""
    fp = witness_card.fingerprint
    return replace(
        receipt,
        witness=fp,
        campaign_signature=campaign.signing_key.sign(receipt.campaign_message(fp)),
    )


def verify_countersigned(
    receipt: Receipt,
    contacts: Mapping[str, PartyCard],
    *,
    me: str,
    file: str | None = None,
) -> None:
    """Check both signatures (provider and campaign) and that the receipt is for ``me``.

    Raises:
        MessageError: Not countersigned, addressed to another witness, or a
            signature that does not verify against a trusted card.
    """
    verify_issued(receipt, contacts, file=file)
    if receipt.campaign_signature is None or receipt.witness != me:
        raise MessageError(
            "release receipt is not countersigned for this witness",
            file=file,
            hint="the campaign countersigns it in `narwhal campaign report`",
        )
    card = _signer(contacts, receipt.head.campaign, "campaign")
    message = receipt.campaign_message(me)
    if card is None or not _verify(card, receipt.campaign_signature, message):
        raise MessageError("release receipt is not countersigned by a trusted campaign", file=file)


def _rewound(head: ReleaseHead, why: str) -> StateError:
    return StateError(
        f"the provider's ledger was rewound: release {head.seq} to organisation {head.org} {why}",
        hint="do not use this release; the provider's ledger must be restored and audited",
    )


def check_extends(seen: Iterable[ReleaseHead], head: ReleaseHead) -> bool:
    """Check that ``head`` is consistent with every head seen before from its provider and org.

    A head already seen must come back identical. The head right after a
    seen one must name that one's ``hash`` as its ``prev`` (and the one right
    before a seen one must be that one's ``prev``). Rho spent never goes
    down along the sequence. A gap is allowed (a release to another card of
    the organisation, or one not opened yet); the rho check still binds
    across it, so a ledger cut back over a gap shows as spent going down.

    Returns:
        True when ``head`` is new, False when it was seen already.

    Raises:
        StateError: ``head`` does not extend what was seen ("... was rewound").
    """
    mine = {h.seq: h for h in seen if (h.provider, h.org) == (head.provider, head.org)}
    same = mine.get(head.seq)
    if same is not None:
        if same != head:
            raise _rewound(head, "differs from the one seen before")
        return False
    before = mine.get(head.seq - 1)
    if before is not None and head.prev != before.hash:
        raise _rewound(head, "does not extend the last head seen")
    if head.seq == 1 and head.prev != GENESIS:
        raise _rewound(head, "does not start the organisation's chain")
    after = mine.get(head.seq + 1)
    if after is not None and after.prev != head.hash:
        raise _rewound(head, "is not the one a later head extends")
    for other in mine.values():
        lower, upper = (other, head) if other.seq < head.seq else (head, other)
        if lower.rho_spent > upper.rho_before + _RHO_TOLERANCE:
            raise _rewound(head, "shows less privacy budget spent than was seen before")
    return True


def accept_receipt(
    receipt: Receipt,
    seen: Sequence[ReleaseHead],
    contacts: Mapping[str, PartyCard],
    *,
    me: str,
    exchange: str,
    provider: str,
    file: str | None = None,
) -> list[ReleaseHead]:
    """The campaign's check of the receipt that came with a release.

    Args:
        receipt: The provider's receipt, as read.
        seen: Every head this campaign saw before (:func:`load_heads`).
        contacts: The campaign's trusted cards.
        me: The campaign's card fingerprint.
        exchange: The release's exchange id.
        provider: Fingerprint of the release message's sender.
        file: The receipt's path, for errors.

    Returns:
        The heads seen, this one included: save them once the release is used.

    Raises:
        MessageError: Not signed by the trusted provider, or for another release.
        StateError: The head does not extend the heads seen (a rewound ledger).
    """
    verify_issued(receipt, contacts, file=file)
    head = receipt.head
    if (head.campaign, head.exchange, head.provider) != (me, exchange, provider):
        raise MessageError(
            "release receipt belongs to another release",
            file=file,
            hint="ask the provider for the receipt sent with this release",
        )
    return [*seen, head] if check_extends(seen, head) else list(seen)


# --------------------------------------------------------------------------- files


def write_receipt(path: Path, receipt: Receipt) -> None:
    """Write a receipt file atomically (a release's, or a countersigned one)."""
    atomic_write_text(path, receipt.to_json())


def read_receipt(path: Path) -> Receipt:
    """Read a receipt file (signatures not checked yet).

    Raises:
        MessageError: Missing or malformed.
    """
    if not path.is_file():
        raise MessageError(
            "no release receipt beside the release",
            file=str(path),
            hint="every release carries the provider's ledger head; ask the provider for it",
        )
    return Receipt.from_json(read_text(path), file=str(path))


def load_heads(path: Path) -> list[ReleaseHead]:
    """The heads a campaign saw, oldest first (none when the file does not exist).

    Raises:
        StateError: The file is malformed.
    """
    if not path.exists():
        return []
    try:
        doc = json.loads(read_text(path))
        return [ReleaseHead.from_dict(h) for h in doc["heads"]]
    except (ValueError, TypeError, KeyError, RecursionError):
        raise StateError("release-head state is malformed", file=str(path)) from None


def save_heads(path: Path, heads: Sequence[ReleaseHead]) -> None:
    """Write the heads a campaign saw (0600, atomic)."""
    doc = {"heads": [asdict(h) for h in heads]}
    atomic_write_text(path, json.dumps(doc, sort_keys=True, indent=1) + "\n", PRIVATE_MODE)


def load_witnessed(path: Path) -> list[Receipt]:
    """Every receipt in a matcher's witness log, oldest first (signatures not re-checked).

    Raises:
        StateError: A malformed line.
    """
    if not path.exists():
        return []
    receipts: list[Receipt] = []
    for row, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            receipts.append(Receipt.from_json(line))
        except MessageError:
            raise StateError("witness log entry is malformed", file=str(path), row=row) from None
    return receipts


def witness(path: Path, receipt: Receipt) -> bool:
    """Append a verified, countersigned receipt to the witness log at ``path``.

    The receipt must extend every receipt witnessed for its organisation
    (:func:`check_extends`); one witnessed already is not appended again.

    Returns:
        True when appended, False when it was witnessed already.

    Raises:
        StateError: It does not extend the witnessed receipts (rewound ledger).
    """
    if not check_extends((r.head for r in load_witnessed(path)), receipt.head):
        return False
    append_jsonl(path, receipt.to_json())
    return True
