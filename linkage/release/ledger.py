"""The provider's per-campaign release ledger: privacy budget and cross-release rules.

Every release to a campaign (keyed by the campaign card's fingerprint) is one
JSON line in an append-only file. Each entry holds the previous entry's hash
and its own ``hash`` = HMAC-SHA256(ledger key, canonical JSON of the entry),
the ledger key being derived from the provider's secret: editing, reordering
or deleting an entry breaks the chain, and nobody without the secret can
forge one. A separate head record (last ``seq`` and ``hash``, rewritten
atomically after each append) catches a cut-off tail.

Entries never hold household ids. For each released segment they hold the
segment code, its size and the digest of its **household set**: the sorted
16-byte HMACs of its household ids under the ledger key, stored beside the
ledger (private to the provider) so that later releases can be compared with
it exactly.

Rules checked by :meth:`Ledger.check` before anything is computed or written:

* **budget** — the campaign's total epsilon is fixed at its first release;
  a DP release that would take the sum of epsilons above it is refused
  (basic sequential composition: every release may touch every household).
  Releases without DP spend nothing (they are protected by k and the
  differencing rules only) and are recorded all the same.
* **re-query** — a segment whose household set was already released on the
  same cell grid is refused when either release is noisy: fresh noise on the
  same cells could be averaged away. The one exception is an exact replay
  (same exchange, assignments message and parameters): the stored payload is
  sent again, so nothing new is learned and nothing is spent.
* **differencing across releases** — a segment whose household set differs
  from any set released earlier to the same campaign by 1 to ``k - 1``
  households is refused (``k`` = the larger of the two releases' k).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import pyarrow as pa

from linkage.errors import PrivacyError, StateError
from linkage.tables import ALL_HOUSEHOLDS

__all__ = [
    "DEFAULT_BUDGET",
    "GENESIS",
    "HOUSEHOLD_HASH_BYTES",
    "HouseholdSet",
    "Ledger",
    "LedgerEntry",
    "ReleaseRequest",
    "SegmentRelease",
    "ledger_key",
    "segment_sets",
]

DEFAULT_BUDGET: Final = 10.0
"""Total epsilon per campaign when the first release does not set one."""

GENESIS: Final = "0" * 64
HOUSEHOLD_HASH_BYTES: Final = 16
_LEDGER_INFO: Final = b"narwhal/v1/ledger"
_EPS_TOLERANCE: Final = 1e-9


def ledger_key(secret: bytes) -> bytes:
    """The ledger's HMAC key, derived from the provider secret for this purpose only."""
    return hmac.new(secret, _LEDGER_INFO, hashlib.sha256).digest()


@dataclass(frozen=True)
class HouseholdSet:
    """A segment's households as keyed 16-byte hashes (no household id is kept)."""

    members: frozenset[bytes]

    @classmethod
    def of(cls, key: bytes, household_ids: Iterable[str]) -> HouseholdSet:
        """Hash ``household_ids`` under the ledger ``key``."""
        return cls(
            frozenset(
                hmac.new(key, hid.encode("utf-8"), hashlib.sha256).digest()[:HOUSEHOLD_HASH_BYTES]
                for hid in household_ids
            )
        )

    def to_bytes(self) -> bytes:
        """Sorted concatenation: the stored form."""
        return b"".join(sorted(self.members))

    @property
    def digest(self) -> str:
        """SHA-256 (hex) of :meth:`to_bytes`: the set's name in the ledger."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    @classmethod
    def from_bytes(cls, data: bytes, *, file: str | None = None) -> HouseholdSet:
        """Parse :meth:`to_bytes` output.

        Raises:
            StateError: The length is not a multiple of the hash size.
        """
        if len(data) % HOUSEHOLD_HASH_BYTES:
            raise StateError("ledger household set is corrupt", file=file)
        size = HOUSEHOLD_HASH_BYTES
        return cls(frozenset(data[i : i + size] for i in range(0, len(data), size)))

    def difference(self, other: HouseholdSet) -> int:
        """``|A xor B|``: households in exactly one of the two sets."""
        return len(self.members ^ other.members)


def segment_sets(key: bytes, assignments: pa.Table) -> dict[str, HouseholdSet]:
    """Household set per segment code, plus ``*`` (every assigned household).

    Args:
        key: The ledger key (:func:`ledger_key`).
        assignments: ``household_id``, ``segment``.
    """
    by_segment: dict[str, set[str]] = {ALL_HOUSEHOLDS: set()}
    hids = assignments["household_id"].to_pylist()
    codes = assignments["segment"].to_pylist()
    for hid, code in zip(hids, codes, strict=True):
        by_segment[ALL_HOUSEHOLDS].add(str(hid))
        if code != ALL_HOUSEHOLDS:
            by_segment.setdefault(str(code), set()).add(str(hid))
    # Each household is hashed once, not once per segment it is in (a
    # household sits in several segments and tiers: 8M hashes at state scale).
    base = hmac.new(key, digestmod=hashlib.sha256)
    hashed: dict[str, bytes] = {}
    for hid in by_segment[ALL_HOUSEHOLDS]:
        mac = base.copy()
        mac.update(hid.encode("utf-8"))
        hashed[hid] = mac.digest()[:HOUSEHOLD_HASH_BYTES]
    return {
        code: HouseholdSet(frozenset(hashed[hid] for hid in ids))
        for code, ids in sorted(by_segment.items())
    }


@dataclass(frozen=True)
class SegmentRelease:
    """One released segment as the ledger remembers it (code, size, household-set digest)."""

    segment: str
    households: int
    set_digest: str


@dataclass(frozen=True)
class ReleaseRequest:
    """What a release would send: checked against the ledger, then recorded.

    Attributes:
        campaign: Recipient campaign card fingerprint.
        exchange: Exchange id.
        message_id: Id of the assignments message the release is computed from.
        grid: :meth:`linkage.release.dp.CellGrid.digest` of the public cell grid.
        epsilon: DP epsilon of the release, None for an exact release.
        k: Minimum cell size used.
        min_universe: Minimum segment universe used.
        segments: Released segments, sorted by code.
    """

    campaign: str
    exchange: str
    message_id: str
    grid: str
    epsilon: float | None
    k: int
    min_universe: int
    segments: tuple[SegmentRelease, ...]

    @classmethod
    def build(
        cls,
        *,
        campaign: str,
        exchange: str,
        message_id: str,
        grid: str,
        epsilon: float | None,
        k: int,
        min_universe: int,
        sets: Mapping[str, HouseholdSet],
    ) -> ReleaseRequest:
        """A request whose segments are described by ``sets`` (code -> household set)."""
        segments = tuple(
            SegmentRelease(code, len(s.members), s.digest) for code, s in sorted(sets.items())
        )
        return cls(campaign, exchange, message_id, grid, epsilon, k, min_universe, segments)


@dataclass(frozen=True)
class LedgerEntry:
    """One recorded release, chained to the one before it."""

    seq: int
    prev: str
    request: ReleaseRequest
    budget: float
    payload: str
    released_at: str
    hash: str = ""

    def body(self) -> dict[str, Any]:
        """The entry as JSON-ready data, without ``hash``."""
        r = self.request
        return {
            "seq": self.seq,
            "prev": self.prev,
            "campaign": r.campaign,
            "exchange": r.exchange,
            "message_id": r.message_id,
            "grid": r.grid,
            "epsilon": r.epsilon,
            "k": r.k,
            "min_universe": r.min_universe,
            "segments": [
                {"segment": s.segment, "households": s.households, "set": s.set_digest}
                for s in r.segments
            ],
            "budget": self.budget,
            "payload": self.payload,
            "released_at": self.released_at,
        }

    def compute_hash(self, key: bytes) -> str:
        """HMAC-SHA256 (hex) of the canonical body under the ledger key."""
        text = json.dumps(self.body(), sort_keys=True, separators=(",", ":"))
        return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()

    def to_line(self) -> str:
        """One JSON line (keys sorted), ``hash`` included."""
        return json.dumps({**self.body(), "hash": self.hash}, sort_keys=True)

    @classmethod
    def from_line(cls, line: str, *, file: str | None, row: int) -> LedgerEntry:
        """Parse one line (shape only; the chain is checked by :meth:`Ledger.load`).

        Raises:
            StateError: Not an entry.
        """
        try:
            doc = json.loads(line)
            request = ReleaseRequest(
                campaign=str(doc["campaign"]),
                exchange=str(doc["exchange"]),
                message_id=str(doc["message_id"]),
                grid=str(doc["grid"]),
                epsilon=None if doc["epsilon"] is None else float(doc["epsilon"]),
                k=int(doc["k"]),
                min_universe=int(doc["min_universe"]),
                segments=tuple(
                    SegmentRelease(str(s["segment"]), int(s["households"]), str(s["set"]))
                    for s in doc["segments"]
                ),
            )
            return cls(
                seq=int(doc["seq"]),
                prev=str(doc["prev"]),
                request=request,
                budget=float(doc["budget"]),
                payload=str(doc["payload"]),
                released_at=str(doc["released_at"]),
                hash=str(doc["hash"]),
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise StateError(
                "ledger entry is malformed", file=file, row=row, hint="the ledger was edited"
            ) from None


def _tampered(file: str | None, row: int | None = None) -> StateError:
    return StateError(
        "ledger hash chain is broken (edited, reordered or truncated)",
        file=file,
        row=row,
        hint="restore the provider's ledger from a backup; do not release until it verifies",
    )


@dataclass(frozen=True)
class Ledger:
    """The verified entries of a provider's ledger, oldest first (immutable)."""

    entries: tuple[LedgerEntry, ...] = ()

    @classmethod
    def load(
        cls,
        lines: Sequence[str],
        key: bytes,
        *,
        head: str | None,
        file: str | None = None,
    ) -> Ledger:
        """Parse and verify the chain and the head anchor.

        Args:
            lines: The ledger's lines (blank lines ignored).
            key: The ledger key.
            head: The head record (:meth:`head_json`), None if absent.
            file: Ledger path, for errors.

        Raises:
            StateError: A malformed entry, a broken chain, or a head that does
                not match (tail cut off or rolled back).
        """
        entries: list[LedgerEntry] = []
        prev = GENESIS
        for row, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            entry = LedgerEntry.from_line(line, file=file, row=row)
            expected_seq = len(entries) + 1
            if entry.seq != expected_seq or entry.prev != prev:
                raise _tampered(file, row)
            if not hmac.compare_digest(entry.hash, entry.compute_hash(key)):
                raise _tampered(file, row)
            entries.append(entry)
            prev = entry.hash
        ledger = cls(tuple(entries))
        ledger._check_head(head, file)
        return ledger

    def _check_head(self, head: str | None, file: str | None) -> None:
        last = self.entries[-1] if self.entries else None
        if head is None:
            # A crash between the first append and the first head write leaves one entry.
            if len(self.entries) > 1:
                raise _tampered(file)
            return
        try:
            doc = json.loads(head)
            seq, digest = int(doc["seq"]), str(doc["hash"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise StateError("ledger head record is malformed", file=file) from None
        last_seq = last.seq if last else 0
        if seq < 0 or last_seq < seq:
            raise _tampered(file)
        anchored = self.entries[seq - 1].hash if seq >= 1 else GENESIS
        # The head may lag by one entry: a crash right after an append.
        if anchored != digest or last_seq > seq + 1:
            raise _tampered(file)

    def head_json(self) -> str:
        """The head record to store after an append."""
        last = self.entries[-1] if self.entries else None
        doc = {"seq": last.seq if last else 0, "hash": last.hash if last else GENESIS}
        return json.dumps(doc, sort_keys=True) + "\n"

    def for_campaign(self, campaign: str) -> tuple[LedgerEntry, ...]:
        """Entries released to ``campaign``, oldest first."""
        return tuple(e for e in self.entries if e.request.campaign == campaign)

    def budget_of(self, campaign: str) -> float | None:
        """The campaign's total epsilon, fixed at its first release (None before)."""
        mine = self.for_campaign(campaign)
        return mine[0].budget if mine else None

    def spent(self, campaign: str) -> float:
        """Sum of the epsilons of the campaign's DP releases."""
        return math.fsum(e.request.epsilon or 0.0 for e in self.for_campaign(campaign))

    def set_digests(self, campaign: str) -> set[str]:
        """Digests of every household set released to ``campaign``."""
        return {s.set_digest for e in self.for_campaign(campaign) for s in e.request.segments}

    def replay_of(self, request: ReleaseRequest) -> LedgerEntry | None:
        """The recorded release ``request`` exactly repeats, if any."""
        return next((e for e in self.entries if e.request == request), None)

    def check(
        self,
        request: ReleaseRequest,
        sets: Mapping[str, HouseholdSet],
        *,
        budget: float | None = None,
    ) -> float:
        """Refuse a release that breaks a cross-release rule (see module doc).

        Args:
            request: The release about to be made (not an exact replay).
            sets: Household sets by digest: the request's and every set in
                :meth:`set_digests` for its campaign.
            budget: Total epsilon asked for; None = the recorded one, or
                :data:`DEFAULT_BUDGET` at the campaign's first release.

        Returns:
            The campaign's total budget in force.

        Raises:
            PrivacyError: Budget changed or overspent, a re-query, or a
                segment too close to an earlier released one.
            StateError: A needed household set is missing from ``sets``.
        """
        fp = request.campaign
        recorded = self.budget_of(fp)
        if budget is not None and not (math.isfinite(budget) and budget > 0):
            raise PrivacyError("the privacy budget must be a positive number")
        if recorded is not None and budget is not None and not math.isclose(budget, recorded):
            raise PrivacyError(
                f"this campaign's privacy budget was fixed at epsilon={recorded:g} "
                "at its first release",
                hint="drop --budget or pass the recorded value",
            )
        total = recorded if recorded is not None else (budget or DEFAULT_BUDGET)
        if request.epsilon is not None:
            spent = self.spent(fp)
            if spent + request.epsilon > total + _EPS_TOLERANCE:
                left = max(0.0, total - spent)
                raise PrivacyError(
                    f"privacy budget exceeded: this release needs epsilon={request.epsilon:g}, "
                    f"the campaign has {left:g} of {total:g} left",
                    hint="release with a smaller --epsilon, or not at all",
                )
        earlier = self.for_campaign(fp)
        self._check_requery(request, earlier)
        self._check_differencing(request, earlier, sets)
        return total

    @staticmethod
    def _check_requery(request: ReleaseRequest, earlier: Sequence[LedgerEntry]) -> None:
        hits: list[str] = []
        for seg in request.segments:
            for entry in earlier:
                if entry.request.grid != request.grid:
                    continue
                if request.epsilon is None and entry.request.epsilon is None:
                    continue  # exact releases repeat identically: nothing to average
                if any(s.set_digest == seg.set_digest for s in entry.request.segments):
                    hits.append(seg.segment)
                    break
        if hits:
            raise PrivacyError(
                f"segment(s) {', '.join(hits)} re-query a cell grid already released "
                "for the same households (averaging attack)",
                hint="only an exact replay of the earlier release is allowed",
            )

    @staticmethod
    def _check_differencing(
        request: ReleaseRequest,
        earlier: Sequence[LedgerEntry],
        sets: Mapping[str, HouseholdSet],
    ) -> None:
        def lookup(digest: str) -> HouseholdSet:
            found = sets.get(digest)
            if found is None:
                raise StateError(
                    "a household set recorded in the ledger is missing",
                    hint="restore the provider's ledger directory from a backup",
                )
            return found

        bad: list[str] = []
        for seg in request.segments:
            mine = lookup(seg.set_digest)
            for entry in earlier:
                k = max(request.k, entry.request.k)
                for old in entry.request.segments:
                    if abs(old.households - seg.households) >= k:
                        continue
                    diff = mine.difference(lookup(old.set_digest))
                    if 0 < diff < k:
                        bad.append(f"{seg.segment}~{entry.request.exchange}/{old.segment}")
        if bad:
            raise PrivacyError(
                f"segment(s) differ from a segment released earlier to this campaign by "
                f"fewer than k households (differencing risk): {', '.join(sorted(set(bad)))}",
                hint="ask the campaign to merge, widen or drop these segments",
            )

    def append(
        self,
        request: ReleaseRequest,
        *,
        budget: float,
        payload: str,
        released_at: str,
        key: bytes,
    ) -> tuple[Ledger, LedgerEntry]:
        """A new ledger with ``request`` recorded, and the new entry (write its line).

        Args:
            request: The release (already checked).
            budget: Budget in force (from :meth:`check`).
            payload: SHA-256 of the stored released payload (for replays).
            released_at: ISO-8601 UTC time of the release.
            key: The ledger key.
        """
        prev = self.entries[-1].hash if self.entries else GENESIS
        entry = LedgerEntry(len(self.entries) + 1, prev, request, budget, payload, released_at)
        entry = replace(entry, hash=entry.compute_hash(key))
        return Ledger((*self.entries, entry)), entry
