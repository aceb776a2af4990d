"""The provider's release ledger: per-organisation privacy budgets in rho, and exact-release rules.

Every release to a campaign is one JSON line in an append-only file. Each
entry holds the previous entry's hash and its own ``hash`` =
HMAC-SHA256(ledger key, canonical JSON of the entry), the ledger key being
derived from the provider's secret: editing, reordering or deleting an entry
breaks the chain, and nobody without the secret can forge one. A separate
head record (last ``seq`` and ``hash``, rewritten atomically after each
append) catches a cut-off tail.

The chain and the head only stop an outsider. The provider holds the key and
could rewrite the whole file; what stops it is outside the provider: each
entry also carries its **organisation's own sequence number and the hash of
that organisation's previous entry** (``org_seq``, ``org_prev``), so every
release carries a head the campaign checks and the matcher witnesses
(:mod:`linkage.release.receipts`).

Budgets belong to the campaign's **organisation** as the provider registered
it (:mod:`linkage.release.orgs`), not to a card: a re-initialised campaign
card in the same organisation shares its budget.

Entries never hold household ids. For each released segment they hold the
segment code, its size and the digest of its **household set**: the sorted
16-byte HMACs of its household ids under the ledger key, stored beside the
ledger (private to the provider) so that later exact releases can be
compared with it exactly.

Rules checked by :meth:`Ledger.check` before anything is computed or written:

* **budget** (every DP release) -- the organisation's
  :class:`~linkage.release.budget.PrivacyBudget` is fixed at its first
  release. zCDP composes by adding rho, so a release is refused when it would
  take the rho of the releases whose reporting period touches any ISO week of
  its own period above ``rho_per_week`` (a period spanning two weeks is charged
  to both), or the organisation's total above ``rho_lifetime``. The first
  release of an exchange is also charged the matcher's report for that
  exchange (``report_rho``, :data:`~linkage.release.budget.MATCHER_REPORT_RHO`), so the
  default weekly release (``DEFAULT_RELEASE_RHO``) and the report spend the
  week's budget exactly. The refusal names no segment and no tier.
* **re-query** and **differencing across releases** (exact releases only) --
  an exact release of a household set already released with noise on the same
  cell grid is refused, and so is a segment whose household set differs from
  one released earlier to the organisation by 1 to ``k - 1`` households. For DP
  releases these pairwise rules are dropped: composition over every release
  bounds any signed combination of them, and an exact-count refusal would be
  an oracle.

An exact replay (same exchange, assignments message and parameters) is found
before any rule runs: the stored payload is sent again and nothing is spent.
Exact releases spend no rho of their own (the matcher's report still counts)
and are recorded all the same.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any, Final

import pyarrow as pa

from linkage.errors import PrivacyError, StateError
from linkage.release.budget import PrivacyBudget
from linkage.tables import ALL_HOUSEHOLDS

__all__ = [
    "GENESIS",
    "HOUSEHOLD_HASH_BYTES",
    "HouseholdSet",
    "IsoWeek",
    "Ledger",
    "LedgerEntry",
    "ReleaseRequest",
    "SegmentRelease",
    "iso_weeks",
    "ledger_key",
    "segment_sets",
]

GENESIS: Final = "0" * 64
HOUSEHOLD_HASH_BYTES: Final = 16
_LEDGER_INFO: Final = b"narwhal/v1/ledger"
_RHO_TOLERANCE: Final = 1e-9

IsoWeek = tuple[int, int]
"""``(ISO year, ISO week number)``."""


def ledger_key(secret: bytes) -> bytes:
    """The ledger's HMAC key, derived from the provider secret for this purpose only."""
    return hmac.new(secret, _LEDGER_INFO, hashlib.sha256).digest()


def iso_weeks(first: date, last: date) -> tuple[IsoWeek, ...]:
    """Every ISO week the period ``first .. last`` (inclusive) touches, in order."""
    monday = first - timedelta(days=first.weekday())
    weeks: list[IsoWeek] = []
    while monday <= last:
        year, week, _ = monday.isocalendar()
        weeks.append((year, week))
        monday += timedelta(days=7)
    return tuple(weeks)


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
        org: The recipient's organisation, as the provider registered it.
        campaign: Recipient campaign card fingerprint.
        exchange: Exchange id.
        message_id: Id of the assignments message the release is computed from.
        grid: :meth:`linkage.release.dp.CellGrid.digest` of the public cell grid.
        first_day: First date of the reporting period.
        last_day: Last date of the reporting period (inclusive).
        rho: zCDP rho the release spends; None for an exact release.
        k: Minimum cell size used.
        min_universe: Minimum segment universe used.
        segments: Released segments, sorted by code.
        report_rho: rho of the matcher's report of this exchange
            (:data:`~linkage.release.budget.MATCHER_REPORT_RHO`), charged with
            the exchange's first release.
    """

    org: str
    campaign: str
    exchange: str
    message_id: str
    grid: str
    first_day: date
    last_day: date
    rho: float | None
    k: int
    min_universe: int
    segments: tuple[SegmentRelease, ...]
    report_rho: float = 0.0

    @classmethod
    def build(
        cls,
        *,
        org: str,
        campaign: str,
        exchange: str,
        message_id: str,
        grid: str,
        first_day: date,
        last_day: date,
        rho: float | None,
        k: int,
        min_universe: int,
        sets: Mapping[str, HouseholdSet],
        report_rho: float = 0.0,
    ) -> ReleaseRequest:
        """A request whose segments are described by ``sets`` (code -> household set)."""
        segments = tuple(
            SegmentRelease(code, len(s.members), s.digest) for code, s in sorted(sets.items())
        )
        return cls(
            org,
            campaign,
            exchange,
            message_id,
            grid,
            first_day,
            last_day,
            rho,
            k,
            min_universe,
            segments,
            report_rho,
        )

    @property
    def weeks(self) -> tuple[IsoWeek, ...]:
        """The ISO weeks the reporting period touches (each is charged the full rho)."""
        return iso_weeks(self.first_day, self.last_day)


@dataclass(frozen=True)
class LedgerEntry:
    """One recorded release, chained to the one before it and to its organisation's last.

    Attributes:
        seq: Position in the whole ledger (1-based).
        prev: Hash of the entry before (:data:`GENESIS` for the first).
        org_seq: Position among the organisation's releases (1-based).
        org_prev: Hash of the organisation's previous entry (:data:`GENESIS` for its first).
        request: The release.
        budget: The organisation's budget in force (fixed at its first release).
        payload: SHA-256 of the stored released payload (for replays).
        released_at: ISO-8601 UTC time of the release.
        hash: HMAC of the body under the ledger key.
    """

    seq: int
    prev: str
    org_seq: int
    org_prev: str
    request: ReleaseRequest
    budget: PrivacyBudget
    payload: str
    released_at: str
    hash: str = ""

    def body(self) -> dict[str, Any]:
        """The entry as JSON-ready data, without ``hash``."""
        r = self.request
        return {
            "seq": self.seq,
            "prev": self.prev,
            "org": r.org,
            "org_seq": self.org_seq,
            "org_prev": self.org_prev,
            "campaign": r.campaign,
            "exchange": r.exchange,
            "message_id": r.message_id,
            "grid": r.grid,
            "first_day": r.first_day.isoformat(),
            "last_day": r.last_day.isoformat(),
            "rho": r.rho,
            "k": r.k,
            "min_universe": r.min_universe,
            "segments": [
                {"segment": s.segment, "households": s.households, "set": s.set_digest}
                for s in r.segments
            ],
            **({"report_rho": r.report_rho} if r.report_rho else {}),
            "budget": {
                "rho_per_week": self.budget.rho_per_week,
                "rho_lifetime": self.budget.rho_lifetime,
                "delta": self.budget.delta,
            },
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
            StateError: Not an entry, or an entry of the older epsilon ledger.
        """
        try:
            doc = json.loads(line)
            if isinstance(doc, dict) and "epsilon" in doc and "rho" not in doc:
                raise StateError(
                    "the ledger was written by an older Narwhal (budgets in epsilon)",
                    file=file,
                    row=row,
                    hint="archive HOME/ledger and start a new one; budgets are now in rho",
                )
            rho = doc["rho"]
            request = ReleaseRequest(
                org=str(doc["org"]),
                campaign=str(doc["campaign"]),
                exchange=str(doc["exchange"]),
                message_id=str(doc["message_id"]),
                grid=str(doc["grid"]),
                first_day=date.fromisoformat(str(doc["first_day"])),
                last_day=date.fromisoformat(str(doc["last_day"])),
                rho=None if rho is None else float(rho),
                k=int(doc["k"]),
                min_universe=int(doc["min_universe"]),
                segments=tuple(
                    SegmentRelease(str(s["segment"]), int(s["households"]), str(s["set"]))
                    for s in doc["segments"]
                ),
                report_rho=float(doc.get("report_rho", 0.0)),
            )
            budget = doc["budget"]
            return cls(
                seq=int(doc["seq"]),
                prev=str(doc["prev"]),
                org_seq=int(doc["org_seq"]),
                org_prev=str(doc["org_prev"]),
                request=request,
                budget=PrivacyBudget(
                    rho_per_week=float(budget["rho_per_week"]),
                    rho_lifetime=float(budget["rho_lifetime"]),
                    delta=float(budget["delta"]),
                ),
                payload=str(doc["payload"]),
                released_at=str(doc["released_at"]),
                hash=str(doc["hash"]),
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, PrivacyError):
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


def _over_budget(left: float, cap: float, when: str, hint: str) -> PrivacyError:
    return PrivacyError(
        f"the campaign's privacy budget would be exceeded "
        f"(rho {max(left, 0.0):.4g} of {cap:g} left {when})",
        hint=hint,
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
        """Parse and verify the chain, each organisation's chain and the head anchor.

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
        org_last: dict[str, LedgerEntry] = {}
        for row, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            entry = LedgerEntry.from_line(line, file=file, row=row)
            mine = org_last.get(entry.request.org)
            expected_org = (mine.org_seq + 1, mine.hash) if mine else (1, GENESIS)
            if (
                entry.seq != len(entries) + 1
                or entry.prev != prev
                or (entry.org_seq, entry.org_prev) != expected_org
            ):
                raise _tampered(file, row)
            if not hmac.compare_digest(entry.hash, entry.compute_hash(key)):
                raise _tampered(file, row)
            entries.append(entry)
            org_last[entry.request.org] = entry
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

    def for_org(self, org: str) -> tuple[LedgerEntry, ...]:
        """Entries released to ``org`` (any of its cards), oldest first."""
        return tuple(e for e in self.entries if e.request.org == org)

    def budget_of(self, org: str) -> PrivacyBudget | None:
        """The organisation's budget, fixed at its first release (None before)."""
        mine = self.for_org(org)
        return mine[0].budget if mine else None

    def charges(self, org: str) -> list[tuple[LedgerEntry, float]]:
        """Each of the organisation's entries with the rho it was charged.

        A release is charged its own rho, and the first release of an
        exchange also the matcher's report for that exchange (``report_rho``).
        """
        exchanges: set[str] = set()
        charged: list[tuple[LedgerEntry, float]] = []
        for entry in self.for_org(org):
            charge = entry.request.rho or 0.0
            if entry.request.exchange not in exchanges:
                exchanges.add(entry.request.exchange)
                charge += entry.request.report_rho
            charged.append((entry, charge))
        return charged

    def charge_of(self, request: ReleaseRequest) -> float:
        """The rho a new ``request`` would be charged (see :meth:`charges`)."""
        first = all(e.request.exchange != request.exchange for e in self.for_org(request.org))
        return (request.rho or 0.0) + (request.report_rho if first else 0.0)

    def spent(self, org: str) -> float:
        """The rho charged to the organisation, in total."""
        return math.fsum(charge for _, charge in self.charges(org))

    def spent_in_week(self, org: str, week: IsoWeek) -> float:
        """The rho charged for the organisation's releases whose period touches ``week``."""
        return math.fsum(c for e, c in self.charges(org) if week in e.request.weeks)

    def spent_through(self, entry: LedgerEntry) -> float:
        """The organisation's total rho up to and including ``entry``."""
        return math.fsum(
            c for e, c in self.charges(entry.request.org) if e.org_seq <= entry.org_seq
        )

    def left_this_week(self, org: str, request: ReleaseRequest) -> float:
        """Rho the organisation has left in the tightest week ``request``'s period touches."""
        budget = self.budget_of(org) or PrivacyBudget()
        return min(budget.rho_per_week - self.spent_in_week(org, w) for w in request.weeks)

    def set_digests(self, org: str) -> set[str]:
        """Digests of every household set released to ``org``."""
        return {s.set_digest for e in self.for_org(org) for s in e.request.segments}

    def replay_of(self, request: ReleaseRequest) -> LedgerEntry | None:
        """The recorded release ``request`` exactly repeats, if any."""
        return next((e for e in self.entries if e.request == request), None)

    def check(
        self,
        request: ReleaseRequest,
        sets: Mapping[str, HouseholdSet],
        *,
        budget: PrivacyBudget | None = None,
    ) -> PrivacyBudget:
        """Refuse a release that breaks a cross-release rule (see module doc).

        Args:
            request: The release about to be made (not an exact replay).
            sets: Household sets by digest: the request's and, for an exact
                release, every set in :meth:`set_digests` for its organisation.
            budget: Budget asked for; None = the recorded one, or the
                default :class:`PrivacyBudget` at the organisation's first release.

        Returns:
            The organisation's budget in force.

        Raises:
            PrivacyError: Budget changed or overspent; for an exact release,
                a re-query or a segment too close to an earlier released one.
            StateError: A needed household set is missing from ``sets``.
        """
        org = request.org
        recorded = self.budget_of(org)
        if recorded is not None and budget is not None and not _same_budget(budget, recorded):
            raise PrivacyError(
                "this campaign's privacy budget was fixed at its first release "
                f"({recorded.describe()})",
                hint="drop --rho-per-week/--rho-lifetime or pass the recorded values",
            )
        total = recorded or budget or PrivacyBudget()
        if request.rho is None:
            earlier = self.for_org(org)
            self._check_requery(request, earlier)
            self._check_differencing(request, earlier, sets)
            return total
        if not (math.isfinite(request.rho) and request.rho > 0):
            raise PrivacyError("a release's rho must be a positive number")
        rho = self.charge_of(request)
        for week in request.weeks:
            left = total.rho_per_week - self.spent_in_week(org, week)
            if rho > left + _RHO_TOLERANCE:
                raise _over_budget(
                    left, total.rho_per_week, "this week", "release less this week, or wait"
                )
        left = total.rho_lifetime - self.spent(org)
        if rho > left + _RHO_TOLERANCE:
            raise _over_budget(
                left, total.rho_lifetime, "in its lifetime", "the campaign's budget is spent"
            )
        return total

    @staticmethod
    def _check_requery(request: ReleaseRequest, earlier: Sequence[LedgerEntry]) -> None:
        # Exact releases repeat identically: only an earlier noisy release of
        # the same cells would be undone by an exact one.
        digests = {seg.set_digest for seg in request.segments}
        for entry in earlier:
            if entry.request.grid != request.grid or entry.request.rho is None:
                continue
            if any(s.set_digest in digests for s in entry.request.segments):
                raise PrivacyError(
                    "an exact release would re-query cells already released with noise",
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

        for seg in request.segments:
            mine = lookup(seg.set_digest)
            for entry in earlier:
                k = max(request.k, entry.request.k)
                for old in entry.request.segments:
                    if abs(old.households - seg.households) >= k:
                        continue
                    if 0 < mine.difference(lookup(old.set_digest)) < k:
                        # Naming the segment would make the refusal an oracle.
                        raise PrivacyError(
                            "an exact release would differ from one released earlier to this "
                            "campaign by fewer than k households (differencing risk)",
                            hint="release with differential privacy, or merge or widen segments",
                        )

    def append(
        self,
        request: ReleaseRequest,
        *,
        budget: PrivacyBudget,
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
        mine = self.for_org(request.org)
        org_seq, org_prev = (mine[-1].org_seq + 1, mine[-1].hash) if mine else (1, GENESIS)
        entry = LedgerEntry(
            len(self.entries) + 1, prev, org_seq, org_prev, request, budget, payload, released_at
        )
        entry = replace(entry, hash=entry.compute_hash(key))
        return Ledger((*self.entries, entry)), entry


def _same_budget(a: PrivacyBudget, b: PrivacyBudget) -> bool:
    return all(
        math.isclose(getattr(a, name), getattr(b, name))
        for name in ("rho_per_week", "rho_lifetime", "delta")
    )
