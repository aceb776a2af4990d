"""The provider's ledger directory: its layout, its lock, and the order a release is written in.

One directory per provider holds every release it has made::

    releases.jsonl   the hash-chained entries (:class:`~linkage.release.ledger.Ledger`)
    head.json        the last entry's seq and hash (catches a cut-off tail)
    sets/            household-set hashes, by SHA-256 (for differencing later)
    payloads/        released payloads, by SHA-256 (for exact replays)
    .lock            held for the whole check-compute-record of one release

:class:`LedgerStore` is the only code that knows these names and the write
order; the bytes go through :mod:`linkage.io` (atomic writes, 0600, digests
checked on read), and what an entry means is :mod:`linkage.release.ledger`.
It sits in ``release`` rather than ``io`` because it builds and verifies
:class:`~linkage.release.ledger.Ledger` objects, and ``io`` is below
``release`` in the package order.

A release goes through the store in two steps, both under the lock:
:meth:`LedgerStore.prepare` (replay the stored payload, or check the request
against every earlier release and only then compute it), then
:meth:`LedgerStore.commit` (record it, then hand it over with the entry it
was recorded as, from which the provider signs the release's receipt:
:mod:`linkage.release.receipts`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import pyarrow as pa

from linkage.io import (
    PRIVATE_MODE,
    append_jsonl,
    atomic_write_bytes,
    exclusive_lock,
    load_ledger_blob,
    load_ledger_table,
    read_ledger_head,
    read_ledger_lines,
    store_ledger_blob,
    store_ledger_table,
    write_ledger_head,
)
from linkage.release.budget import PrivacyBudget
from linkage.release.ledger import HouseholdSet, Ledger, LedgerEntry, ReleaseRequest, segment_sets

__all__ = ["ENTRIES_FILE", "LedgerStore", "PendingRelease"]

ENTRIES_FILE: Final = "releases.jsonl"
"""The hash-chained entries, one JSON line per release (the audit reads them raw)."""
_LOCK_FILE: Final = ".lock"


@dataclass(frozen=True)
class PendingRelease:
    """A release the ledger allows, computed (or replayed) but not yet recorded.

    Attributes:
        request: What is released, as the ledger records it.
        sets: The request's household sets, by segment code.
        payload: The ``viewership`` payload to seal.
        budget: The organisation's budget in force; None for a replay.
        replayed: For a replay, the entry the payload was first recorded as.
    """

    request: ReleaseRequest
    sets: Mapping[str, HouseholdSet]
    payload: pa.Table
    budget: PrivacyBudget | None
    replayed: LedgerEntry | None = None

    @property
    def replay(self) -> bool:
        """True when ``payload`` is an earlier release sent again (nothing new is spent)."""
        return self.replayed is not None


class LedgerStore:
    """A provider's release ledger on disk (see the module doc for the layout)."""

    def __init__(self, directory: str | os.PathLike[str], key: bytes) -> None:
        """Open the ledger under ``directory`` (created on first write).

        Args:
            directory: The provider's ledger directory.
            key: The ledger key (:func:`~linkage.release.ledger.ledger_key`).
        """
        root = Path(directory)
        self._entries = root / ENTRIES_FILE
        self._head = root / "head.json"
        self._sets = root / "sets"
        self._payloads = root / "payloads"
        self._lock = root / _LOCK_FILE
        self._key = key

    @staticmethod
    def initialise(directory: str | os.PathLike[str]) -> None:
        """Create an empty ledger's lock file (0600) when the provider's home is made.

        Made up front so that a release refused later writes nothing at all.
        """
        atomic_write_bytes(Path(directory) / _LOCK_FILE, b"", PRIVATE_MODE)

    @contextmanager
    def locked(self) -> Iterator[Ledger]:
        """Hold the ledger's lock for the block and yield the verified ledger.

        One release at a time per ledger: check-then-append must not
        interleave, or two releases could both pass the budget.

        Raises:
            StateError: Another release holds the lock, or the ledger does
                not verify.
        """
        with exclusive_lock(self._lock):
            yield self.load()

    def load(self) -> Ledger:
        """The ledger's entries, chain and head verified.

        Raises:
            StateError: Unreadable, edited, reordered or truncated.
        """
        return Ledger.load(
            read_ledger_lines(self._entries),
            self._key,
            head=read_ledger_head(self._head),
            file=str(self._entries),
        )

    def segment_sets(self, assignments: pa.Table) -> dict[str, HouseholdSet]:
        """Household set per segment code of ``assignments`` (and ``*``) under the ledger key."""
        return segment_sets(self._key, assignments)

    def prepare(
        self,
        ledger: Ledger,
        request: ReleaseRequest,
        sets: Mapping[str, HouseholdSet],
        *,
        budget: PrivacyBudget | None,
        compute: Callable[[], pa.Table],
    ) -> PendingRelease:
        """The payload for ``request``: the stored one if it is an exact replay, else computed.

        A new release is checked against every earlier one to the
        organisation (budget; for an exact release also re-query and
        differencing, with the earlier household sets read from disk) before
        ``compute`` runs: a refused release computes nothing.

        Args:
            ledger: The ledger loaded under the lock (:meth:`locked`).
            request: The release about to be made.
            sets: The request's household sets, by segment code.
            budget: Budget asked for (see :meth:`Ledger.check`).
            compute: Computes the payload (the release pipeline).

        Raises:
            PrivacyError: A cross-release rule refuses the release.
            StateError: A stored payload or household set is missing or altered.
        """
        replay = ledger.replay_of(request)
        if replay is not None:
            return PendingRelease(
                request, sets, load_ledger_table(self._payloads, replay.payload), None, replay
            )
        # Only an exact release is compared set by set with earlier ones.
        earlier = ledger.set_digests(request.org) if request.rho is None else set()
        known = {
            digest: HouseholdSet.from_bytes(
                load_ledger_blob(self._sets, digest), file=str(self._sets / digest)
            )
            for digest in earlier
        }
        known.update({s.digest: s for s in sets.values()})
        total = ledger.check(request, known, budget=budget)
        return PendingRelease(request, sets, compute(), total)

    def commit(
        self,
        ledger: Ledger,
        pending: PendingRelease,
        *,
        deliver: Callable[[Ledger, LedgerEntry], None],
        now: datetime | None = None,
    ) -> Ledger:
        """Record ``pending`` (unless it is a replay), then ``deliver`` it.

        Args:
            ledger: The ledger ``pending`` was prepared against.
            pending: From :meth:`prepare`.
            deliver: Hands the sealed release over (writes the message and its
                receipt), given the ledger and the entry the release is
                recorded as (for a replay, the original entry).
            now: Release time (default: the current UTC time).

        Returns:
            The ledger with the release recorded.
        """
        if pending.replayed is not None or pending.budget is None:
            # A replay was recorded when it was first released: send it with that entry.
            if pending.replayed is None:
                raise ValueError("a pending release needs a budget or a replayed entry")
            deliver(ledger, pending.replayed)
            return ledger
        # Ledger first, message last: a crash in between over-counts the budget, never under.
        for household_set in pending.sets.values():
            store_ledger_blob(self._sets, household_set.to_bytes())
        payload = store_ledger_table(self._payloads, pending.payload)
        ledger, entry = ledger.append(
            pending.request,
            budget=pending.budget,
            payload=payload,
            released_at=(now or datetime.now(UTC)).isoformat(),
            key=self._key,
        )
        append_jsonl(self._entries, entry.to_line())
        write_ledger_head(self._head, ledger.head_json())
        deliver(ledger, entry)
        return ledger
