"""The release checks: no released figure under k, no two released segments k apart.

The auditor recomputes what the provider released from the world's viewing
log, the matcher's links and the campaign's segment codes (undoing the
provider's household pseudonyms with its secret, and joining the two by
record reference as the provider does), so it checks the figures themselves,
not the provider's word for them: every unsuppressed cell must exist in the
recomputation and rest on at least k households. Differencing compares the
household sets of every released segment across all exchanges in the
directory, since an attacker can subtract figures from different releases.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from linkage.audit.attacks import segment_differences
from linkage.audit.exchange import CheckResult, Exchange, messages_of_kind, provider_secret
from linkage.engine import DuckDBEngine
from linkage.measure import compute_viewership, cross_with_intensity, household_intensity
from linkage.protocol import UNSEEN_PREFIX, OpenedMessage, dummy_pseudonym_mask, pseudonymize
from linkage.release import ENTRIES_FILE, assemble_assignments
from linkage.tables import DEFAULT_K, TIER_SEPARATOR


def _ledger(ex: Exchange) -> list[dict[str, object]] | None:
    """The provider's release records, oldest first; None when it has no ledger."""
    path = ex.homes["provider"].ledger / ENTRIES_FILE
    if not path.exists():
        return None
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _k_for(records: Sequence[Mapping[str, object]], exchange_id: str) -> int:
    """The k of the exchange's latest release (the default when the ledger has none)."""
    ks = [r.get("k") for r in records if r.get("exchange") == exchange_id]
    last = ks[-1] if ks else None
    return int(last) if isinstance(last, int) else DEFAULT_K


def _is_dp(records: Sequence[Mapping[str, object]], exchange_id: str) -> bool:
    """Whether the exchange's latest release was differentially private (rho recorded)."""
    rhos = [r.get("rho") for r in records if r.get("exchange") == exchange_id]
    return bool(rhos) and rhos[-1] is not None


# Under DP the k rule reads the noisy household estimate the release itself
# carries: AQH households below the period, reach over the period.
_NOISY_UNDER_K_SQL = """
SELECT COUNT(*) AS released,
       SUM(CASE WHEN (grain = 'period' AND reach_households < {k})
                  OR (grain <> 'period' AND aqh_households < {k}) THEN 1 ELSE 0 END) AS under_k
FROM r WHERE NOT suppressed
"""


def _households(world: Path, secret: bytes, exchange_id: str) -> dict[str, str]:
    """hp -> household_id, recomputed from the viewing log's own ids (as the provider does)."""
    viewing = pq.read_table(world / "provider" / "viewing.parquet", columns=["household_id"])
    hids = pc.unique(viewing["household_id"]).to_pylist()
    return dict(zip(pseudonymize(secret, exchange_id, hids), hids, strict=True))


def rebuilt_assignments(ex: Exchange, world: Path, exchange_id: str) -> pa.Table | None:
    """The provider's (household_id, segment) table for an exchange, rebuilt from its inbox.

    The auditor joins the latest ``assignments`` (links) and ``segments``
    (codes) messages the provider received, as the provider does.
    """

    def latest(kind: str) -> OpenedMessage | None:
        found = [o for _, o in messages_of_kind(ex, kind) if o.manifest.exchange_id == exchange_id]
        return found[-1] if found else None

    links, codes = latest("assignments"), latest("segments")
    if links is None or codes is None:
        return None
    secret = provider_secret(ex)
    back = _households(world, secret, exchange_id)
    hps = links.table["hp"].to_pylist()
    household = [back.get(h, UNSEEN_PREFIX + h) for h in hps]
    dummies = dummy_pseudonym_mask(secret, exchange_id, hps)
    return assemble_assignments(links.table, codes.table, household, dummies=dummies)


def audit_thresholds(ex: Exchange, world: Path) -> CheckResult:
    """No released figure rests on fewer than k households; the match report is noisy.

    An exact release is held to its exact contributor counts. A DP release
    decides on noisy values (a cell under k households is allowed, the noise
    protects it), so it is held to the rule it states: every released cell's
    noisy household estimate is at least k.
    """
    records = _ledger(ex)
    if records is None:
        return CheckResult("thresholds", False, "provider ledger missing")
    bad = 0
    checked = 0
    viewing = pq.read_table(world / "provider" / "viewing.parquet")
    for _, opened in messages_of_kind(ex, "match-report"):
        # Global figures only, each a Gaussian measurement: an exact one (no rho) is a finding.
        rho = opened.table["rho"]
        checked += opened.table.num_rows
        bad += int(pc.sum(pc.invert(pc.fill_null(pc.greater(rho, 0.0), False))).as_py() or 0)
    for path, opened in messages_of_kind(ex, "viewership"):
        x = opened.manifest.exchange_id
        if not any(r.get("exchange") == x for r in records):
            return CheckResult("thresholds", False, f"{path.name}: no ledger entry")
        k = _k_for(records, x)
        assigned = rebuilt_assignments(ex, world, x)
        if assigned is None:
            return CheckResult("thresholds", False, "links or segments for the release not found")
        channels = sorted(set(opened.table["channel"].to_pylist()))
        with DuckDBEngine() as engine:
            if any(
                TIER_SEPARATOR in str(seg) for seg in pc.unique(opened.table["segment"]).to_pylist()
            ):
                # The provider also released viewing-intensity tiers: rebuild them the same way.
                assigned = cross_with_intensity(
                    assigned, household_intensity(viewing, engine=engine)
                )
            truth = compute_viewership(assigned, viewing, channels=channels, engine=engine)
            dp = _is_dp(records, x)
            unverified = engine.query(
                """
                SELECT COUNT(*) AS n FROM r
                WHERE NOT r.suppressed AND NOT EXISTS (
                    SELECT 1 FROM t
                    WHERE r.grain = t.grain AND r.segment = t.segment AND r.channel = t.channel
                      AND r.day_type = t.day_type AND r.daypart IS NOT DISTINCT FROM t.daypart
                      AND r.quarter_hour IS NOT DISTINCT FROM t.quarter_hour)
                """,
                {"r": opened.table, "t": truth},
            ).to_pylist()[0]["n"]
            bad += int(unverified or 0)
            res = engine.query(
                _NOISY_UNDER_K_SQL.format(k=int(k))
                if dp
                else f"""
                SELECT COUNT(*) AS released,
                       SUM(CASE WHEN t.contributors < {int(k)} THEN 1 ELSE 0 END) AS under_k
                FROM r JOIN t
                  ON r.grain = t.grain AND r.segment = t.segment AND r.channel = t.channel
                 AND r.day_type = t.day_type AND r.daypart IS NOT DISTINCT FROM t.daypart
                 AND r.quarter_hour IS NOT DISTINCT FROM t.quarter_hour
                WHERE NOT r.suppressed
                """,
                {"r": opened.table, "t": truth},
            ).to_pylist()[0]
        checked += int(res["released"] or 0)
        bad += int(res["under_k"] or 0)
    return CheckResult(
        "thresholds",
        bad == 0 and checked > 0,
        f"{checked:,} released figures, {bad} below k" if checked else "nothing released",
    )


def audit_differencing(ex: Exchange, world: Path) -> CheckResult:
    """Attack (c): no two released segments (any exchange here) differ by < k households."""
    records = _ledger(ex)
    if records is None:
        return CheckResult("differencing", False, "provider ledger missing")
    released = {o.manifest.exchange_id for _, o in messages_of_kind(ex, "viewership")}
    segments: dict[str, set[str]] = {}
    k = DEFAULT_K
    for x in sorted(released):
        assigned = rebuilt_assignments(ex, world, x)
        if assigned is None:
            continue
        k = min(k, _k_for(records, x)) if segments else _k_for(records, x)
        for household, code in zip(
            assigned["household_id"].to_pylist(), assigned["segment"].to_pylist(), strict=True
        ):
            segments.setdefault(f"{x}/{code}", set()).add(household)
    if not segments:
        return CheckResult("differencing", True, "n/a: nothing released")
    bad = segment_differences(segments, k)
    pairs = len(segments) * (len(segments) - 1) // 2
    if bad:
        a, b, diff = bad[0]
        return CheckResult(
            "differencing",
            False,
            f"{len(bad)} of {pairs} segment pairs differ by fewer than k={k} households "
            f"(first: {a} vs {b}, {diff})",
        )
    smallest = min(
        (len(segments[a] ^ segments[b]) for a in segments for b in segments if a < b),
        default=0,
    )
    return CheckResult(
        "differencing",
        True,
        f"{len(segments)} released segments, {pairs} pairs, smallest non-zero difference "
        f"{smallest:,} households (k={k}); ledger has {len(records)} release(s)",
    )
