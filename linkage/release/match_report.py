"""The matcher's match report: global linkage statistics, differentially private.

Segments never reach the matcher (the campaign sends them to the provider, and
per-segment match rates come from the provider's noisy universes), so the
matcher's report to the campaign is global: how many households and records
linked, and how sure the model is. Exact, even these answer "does this one
person subscribe?" (add 100 copies of the target to the file and subtract), so
they leave the matcher as one Gaussian measurement (OpenDP, zero-concentrated
DP) of four sums over the links:

* linked households (distinct ``hp``);
* linked records, counting at most :data:`MAX_RECORDS_PER_HOUSEHOLD` per
  household (its most probable links), so 100 copies of a voter add at most
  the cap;
* the model's posteriors summed over those capped links (precision's
  numerator: the expected number of true links);
* the expected matches left unlinked, capped the same way per candidate
  household (recall's missing mass). Only evidence that names each record's
  best candidate household (an ``hp`` column) can be capped; without it this
  sum is not measured and ``est_recall`` is null.

The unit of privacy is one provider household and every link that points at
it. Each sum is divided by what one household can move it by (1, cap, cap,
cap), so a household moves the measured vector by at most ``sqrt(n)`` in L2
and one noise scale serves all: ``rho = n / (2 scale^2)``. The rho is the
public :data:`linkage.release.budget.MATCHER_REPORT_RHO`, charged to the
campaign's budget by the provider's ledger; the matcher issues the report once
per exchange (:class:`IssuedReport`) and re-sends those very numbers on a
re-run, never fresh noise. Rounding, clamping and the ratios are
post-processing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from linkage.errors import PrivacyError, StateError
from linkage.release.budget import MATCHER_REPORT_RHO
from linkage.tables import MATCH_REPORT_SCHEMA

if TYPE_CHECKING:
    from opendp.mod import Measurement

__all__ = [
    "LOW_PAIR_COMPLETENESS",
    "MAX_RECORDS_PER_HOUSEHOLD",
    "NOISED_FIT_WARNINGS",
    "GaussianNoise",
    "IssuedReport",
    "LinkageTotals",
    "gaussian_noise",
    "linkage_totals",
    "match_report",
    "report_scale",
]

NOISED_FIT_WARNINGS: Final = ("blocking",)
"""Fit codes the report may carry: those decided on its own noisy figures."""

LOW_PAIR_COMPLETENESS: Final = 0.95
"""The noisy pair completeness under which the report carries ``blocking``."""

MAX_RECORDS_PER_HOUSEHOLD: Final = 8
"""Public cap: linked records counted per household in the match report.

Larger than any real household's voter count in the synthetic world's
registration data; a household with more linked records (padding, or a
dormitory) counts as this many. Privacy cost: the noise on the record
counts grows linearly with it."""

_Z95: Final = 1.959963984540054
"""Two-sided 95% quantile of the standard normal."""

GaussianNoise = Callable[[Sequence[float], float], list[float]]
"""(values, scale) -> values plus independent Gaussian noise of that standard deviation."""


def gaussian_noise(values: Sequence[float], scale: float) -> list[float]:
    """OpenDP's Gaussian mechanism on a float vector (L2 sensitivity in units of ``scale``)."""
    return list(_gaussian(scale)([float(v) for v in values]))


def _gaussian(scale: float) -> Measurement:
    # Submodules, not opendp.prelude (which loads scikit-learn at import).
    from opendp.domains import atom_domain, vector_domain
    from opendp.measurements import make_gaussian
    from opendp.metrics import l2_distance
    from opendp.mod import enable_features

    enable_features("contrib")
    return make_gaussian(
        vector_domain(atom_domain(T=float, nan=False)), l2_distance(T=float), scale=scale
    )


def report_scale(measured: int, rho: float) -> float:
    """The Gaussian scale that makes ``measured`` sensitivity-1 sums ``rho``-zCDP.

    One household moves each normalised sum by at most 1, so the vector by at
    most ``sqrt(measured)`` in L2; Gaussian noise of scale ``s`` at that L2
    sensitivity is ``measured / (2 s^2)``-zCDP.

    Raises:
        PrivacyError: ``rho`` is not a positive finite number.
    """
    if not (math.isfinite(rho) and rho > 0):
        raise PrivacyError("the match report's rho must be a positive number")
    return math.sqrt(measured / (2.0 * rho))


@dataclass(frozen=True)
class LinkageTotals:
    """The exact sums the report measures (they never leave the matcher).

    Attributes:
        households: Distinct linked households.
        records: Linked records, at most ``cap`` per household.
        posterior: Sum of the posteriors of those capped links.
        missed: Expected matches left unlinked, at most ``cap`` records per
            candidate household; None when the evidence names no candidate.
        cap: The per-household cap used.
        seeds: Exact links that seeded the model (``seed_blocked`` not
            null), at most ``cap`` per household; None when the links carry
            no such column.
        seeds_blocked: Of those, the ones a blocking pass pairs too.
    """

    households: int
    records: int
    posterior: float
    missed: float | None
    cap: int
    seeds: int | None = None
    seeds_blocked: int | None = None


def _capped(
    groups: pa.ChunkedArray | pa.Array, values: npt.NDArray[np.float64], cap: int
) -> tuple[int, npt.NDArray[np.bool_]]:
    """Distinct groups, and which rows are among the ``cap`` largest values of their group."""
    n = len(values)
    if n == 0:
        return 0, np.zeros(0, dtype=bool)
    ids = np.asarray(
        pc.dictionary_encode(groups).combine_chunks().indices.to_numpy(zero_copy_only=False),
        dtype=np.int64,
    )
    # Largest values first within a group; ties by row order (rids are random).
    order = np.lexsort((np.arange(n), -values, ids))
    sorted_ids = ids[order]
    starts = np.r_[True, sorted_ids[1:] != sorted_ids[:-1]]
    first = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    keep = np.zeros(n, dtype=bool)
    keep[order] = (np.arange(n) - first) < cap
    return int(starts.sum()), keep


def linkage_totals(
    links: pa.Table, *, evidence: pa.Table | None = None, cap: int = MAX_RECORDS_PER_HOUSEHOLD
) -> LinkageTotals:
    """The capped sums behind the report, exact.

    Args:
        links: ``rid``, ``hp`` and optionally ``posterior`` (1.0 when absent),
            each ``rid`` at most once.
        evidence: ``rid``, ``expected`` (the model's probability that the
            record has a match), optionally ``hp`` (its best candidate
            household) and ``lost`` (its share of the matches blocking
            lost); only with ``hp`` is the unlinked mass measured.
        cap: Records counted per household.

    Raises:
        PrivacyError: ``cap`` is below 1.
    """
    if cap < 1:
        raise PrivacyError("the per-household record cap must be at least 1")
    posterior = (
        np.clip(np.asarray(links["posterior"].to_numpy(zero_copy_only=False), np.float64), 0, 1)
        if "posterior" in links.column_names
        else np.ones(links.num_rows, dtype=np.float64)
    )
    households, keep = _capped(links["hp"], posterior, cap)
    missed: float | None = None
    if evidence is not None and "hp" in evidence.column_names:
        linked = pc.is_in(evidence["rid"], value_set=links["rid"].combine_chunks())
        near = evidence.filter(pc.is_valid(evidence["hp"]))
        unlinked = np.asarray(
            pc.invert(linked.filter(pc.is_valid(evidence["hp"]))).to_numpy(zero_copy_only=False),
            dtype=bool,
        )
        expected = np.asarray(near["expected"].to_numpy(zero_copy_only=False), np.float64)
        value = np.where(unlinked, np.clip(expected, 0, 1), 0.0)
        if "lost" in near.column_names:
            # Matches blocking never compared, attributed to each record's
            # most likely household.
            value = value + np.asarray(near["lost"].to_numpy(zero_copy_only=False), np.float64)
        # At most 1 per record and ``cap`` records per household: one
        # household moves the normalised sum by at most 1.
        value = np.clip(value, 0.0, 1.0)
        _, kept = _capped(near["hp"], value, cap)
        missed = float(value[kept].sum())
    seeds = seeds_blocked = None
    if "seed_blocked" in links.column_names:
        seeded = links.filter(pc.is_valid(links["seed_blocked"]))
        flag = np.asarray(seeded["seed_blocked"].to_numpy(zero_copy_only=False), dtype=bool)
        _, kept_seed = _capped(seeded["hp"], flag.astype(np.float64), cap)
        seeds, seeds_blocked = int(kept_seed.sum()), int((kept_seed & flag).sum())
    return LinkageTotals(
        households=households,
        records=int(keep.sum()),
        posterior=float(posterior[keep].sum()),
        missed=missed,
        cap=cap,
        seeds=seeds,
        seeds_blocked=seeds_blocked,
    )


def match_report(
    links: pa.Table,
    *,
    evidence: pa.Table | None = None,
    rho: float = MATCHER_REPORT_RHO,
    cap: int = MAX_RECORDS_PER_HOUSEHOLD,
    noise: GaussianNoise = gaussian_noise,
) -> pa.Table:
    """The ``match-report`` payload: one row of noisy global linkage statistics.

    Args:
        links: The matcher's links (see :func:`linkage_totals`).
        evidence: Per-record match probabilities (see :func:`linkage_totals`).
        rho: zCDP spent (default: the public protocol constant).
        cap: Records counted per household (a public constant).
        noise: The Gaussian mechanism; tests pass a deterministic one.

    Returns:
        One row in :data:`linkage.tables.MATCH_REPORT_SCHEMA`: rounded,
        non-negative counts, the two estimates in [0, 1] (recall null when
        the unlinked mass was not measured), the 95% half-widths of the two
        counts, the rho spent, the noisy pair completeness, and the fit codes
        decided on these noisy figures (:data:`NOISED_FIT_WARNINGS`). The
        matcher's exact fit codes never cross: each is a threshold function
        of the whole fit that a campaign choosing its file can put on the
        edge, so that one household flips it (an unnoised membership oracle:
        20 of 20 targets on the demo world when they crossed). They stay on
        the matcher's terminal.
    """
    totals = linkage_totals(links, evidence=evidence, cap=cap)
    exact = [float(totals.households), totals.records / cap, totals.posterior / cap]
    if totals.missed is not None:
        exact.append(totals.missed / cap)
    seeded = totals.seeds is not None and totals.seeds_blocked is not None
    if seeded:
        exact.extend([float(totals.seeds or 0) / cap, float(totals.seeds_blocked or 0) / cap])
    scale = report_scale(len(exact), rho)
    noisy = noise(exact, scale)
    households = max(round(noisy[0]), 0)
    records = max(noisy[1] * cap, 0.0)
    posterior = max(noisy[2] * cap, 0.0)
    precision = min(posterior / records, 1.0) if records >= 1.0 else None
    recall = None
    if totals.missed is not None:
        missed = max(noisy[3] * cap, 0.0)
        recall = min(posterior / (posterior + missed), 1.0) if posterior + missed > 0 else None
    row: dict[str, object] = {
        "linked_households": households,
        "linked_records": round(records),
        "records_cap": cap,
        "est_precision": precision,
        "est_recall": recall,
        "households_ci": _Z95 * scale,
        "records_ci": _Z95 * scale * cap,
        "rho": float(rho),
        "est_pair_completeness": None,
        "fit_warnings": [],
    }
    if seeded:
        total, found = max(noisy[-2] * cap, 0.0), max(noisy[-1] * cap, 0.0)
        row["est_pair_completeness"] = min(found / total, 1.0) if total >= 1.0 else None
    completeness = row["est_pair_completeness"]
    if (
        "blocking" in NOISED_FIT_WARNINGS
        and isinstance(completeness, float)
        and completeness < LOW_PAIR_COMPLETENESS
    ):
        # Post-processing of the noisy sums: free, and no household can aim it.
        row["fit_warnings"] = ["blocking"]
    return pa.Table.from_pylist([row], schema=MATCH_REPORT_SCHEMA)


@dataclass(frozen=True)
class IssuedReport:
    """The match report as first issued for one exchange, kept in the matcher's state.

    A re-run of ``matcher link`` on the same inputs re-sends these numbers:
    fresh noise on the same counts would let the campaign average it away,
    and nothing would charge it. Different inputs for the same exchange
    (the campaign re-tokenized) are refused: a new report is a new release.

    Attributes:
        inputs: Message ids the report was computed from.
        table: The report as sent.
    """

    inputs: tuple[str, ...]
    table: pa.Table

    def to_json(self) -> str:
        """The state file's text (floats round-trip exactly)."""
        return json.dumps({"inputs": list(self.inputs), "report": self.table.to_pylist()})

    @classmethod
    def from_json(cls, text: str, *, file: str | None = None) -> IssuedReport:
        """Inverse of :meth:`to_json`.

        Raises:
            StateError: The state file is corrupt.
        """
        try:
            doc = json.loads(text)
            inputs = tuple(str(i) for i in doc["inputs"])
            table = pa.Table.from_pylist(doc["report"], schema=MATCH_REPORT_SCHEMA)
        except (ValueError, KeyError, TypeError, pa.ArrowException):
            raise StateError("the issued match report is malformed", file=file) from None
        return cls(inputs, table)

    def reuse_for(self, inputs: Sequence[str], *, file: str | None = None) -> pa.Table:
        """The issued report, when ``inputs`` are the messages it was computed from.

        Raises:
            PrivacyError: The exchange's report was computed from other messages.
        """
        if tuple(inputs) != self.inputs:
            raise PrivacyError(
                "a match report was already issued for this exchange from other token messages",
                file=file,
                hint="a new report is a new release: run the exchange again under a new id",
            )
        return self.table
