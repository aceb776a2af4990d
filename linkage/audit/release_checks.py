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
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from linkage.audit.attacks import segment_differences
from linkage.audit.exchange import CheckResult, Exchange, messages_of_kind, provider_secret
from linkage.engine import DuckDBEngine
from linkage.measure import (
    compute_viewership,
    cross_with_intensity,
    household_intensity,
    segment_members,
)
from linkage.protocol import UNSEEN_PREFIX, OpenedMessage, dummy_pseudonym_mask, pseudonymize
from linkage.release import (
    DEFAULT_DELTA,
    ENTRIES_FILE,
    CellGrid,
    assemble_assignments,
    check_markets,
    epsilon_of,
    market_cells,
)
from linkage.tables import ALL_MARKETS, DEFAULT_K, TIER_SEPARATOR


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
            truth = truth.append_column("market", pa.array([ALL_MARKETS] * truth.num_rows))
            release = _with_market(opened.table)
            if set(release["market"].to_pylist()) - {ALL_MARKETS}:
                by_market = _market_truth(world, assigned, viewing, channels, records, x, engine)
                if by_market is None:
                    return CheckResult(
                        "thresholds", False, f"{path.name}: market rows, but no markets file"
                    )
                truth = pa.concat_tables([truth, by_market.select(truth.column_names)])
            dp = _is_dp(records, x)
            unverified = engine.query(
                """
                SELECT COUNT(*) AS n FROM r
                WHERE NOT r.suppressed AND NOT EXISTS (
                    SELECT 1 FROM t
                    WHERE r.grain = t.grain AND r.segment = t.segment AND r.channel = t.channel
                      AND r.market = t.market
                      AND r.day_type = t.day_type AND r.daypart IS NOT DISTINCT FROM t.daypart
                      AND r.quarter_hour IS NOT DISTINCT FROM t.quarter_hour)
                """,
                {"r": release, "t": truth},
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
                 AND r.market = t.market
                 AND r.day_type = t.day_type AND r.daypart IS NOT DISTINCT FROM t.daypart
                 AND r.quarter_hour IS NOT DISTINCT FROM t.quarter_hour
                WHERE NOT r.suppressed
                """,
                {"r": release, "t": truth},
            ).to_pylist()[0]
        checked += int(res["released"] or 0)
        bad += int(res["under_k"] or 0)
    return CheckResult(
        "thresholds",
        bad == 0 and checked > 0,
        f"{checked:,} released figures, {bad} below k" if checked else "nothing released",
    )


def _with_market(release: pa.Table) -> pa.Table:
    """A release as today's shape: one without ``market`` is all statewide rows."""
    if "market" in release.column_names:
        return release
    return release.append_column("market", pa.array([ALL_MARKETS] * release.num_rows))


def _market_truth(
    world: Path,
    assigned: pa.Table,
    viewing: pa.Table,
    channels: Sequence[str],
    records: Sequence[Mapping[str, object]],
    exchange_id: str,
    engine: DuckDBEngine,
) -> pa.Table | None:
    """Each market's exact cells over the release's period (None: the world has no markets)."""
    path = world / "provider" / "markets.parquet"
    if not path.exists():
        return None
    entry = next(r for r in records if r.get("exchange") == exchange_id)
    first, last = (date.fromisoformat(str(entry[f])) for f in ("first_day", "last_day"))
    days = tuple(first + timedelta(days=i) for i in range((last - first).days + 1))
    markets = check_markets(pq.read_table(path), file=str(path))
    lineups_path = world / "provider" / "lineups.csv"
    if lineups_path.exists():
        # A release lists the public line-ups' markets, households or not.
        listed = pacsv.read_csv(lineups_path)["market"].cast(pa.string())
        markets = markets.filter(pc.is_in(markets["market"], pc.unique(listed)))
        public = pa.table({"market": pc.unique(listed)})
    else:
        public = markets.select(["market"])
    cells = market_cells(
        segment_members(assigned, engine),
        viewing,
        markets,
        CellGrid(channels=tuple(channels), days=days),
        engine=engine,
    )
    # Under DP every requested code is released in every market, members or not
    # (an absent row would say nobody there matched): those cells exist, with zeros.
    columns = ", ".join(
        f"COALESCE(c.{name}, 0) AS {name}"
        if name in ("universe", "contributors", "reach_households")
        else f"g.{name}"
        if name in ("grain", "channel", "day_type", "daypart", "quarter_hour", "market", "segment")
        else f"c.{name}"
        for name in cells.column_names
    )
    return engine.query(
        f"""
        WITH keys AS (SELECT DISTINCT grain, channel, day_type, daypart, quarter_hour FROM cells),
             g AS (
                SELECT k.*, m.market, s.segment FROM keys k
                CROSS JOIN (SELECT DISTINCT market FROM public) m
                CROSS JOIN (SELECT DISTINCT segment FROM cells) s
             )
        SELECT {columns} FROM g LEFT JOIN cells c
          ON c.grain = g.grain AND c.channel = g.channel AND c.day_type = g.day_type
         AND c.daypart IS NOT DISTINCT FROM g.daypart
         AND c.quarter_hour IS NOT DISTINCT FROM g.quarter_hour
         AND c.market = g.market AND c.segment = g.segment
        """,
        {"cells": cells, "public": public},
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
    # Across weeks, a segment and its refreshed self are a few households apart
    # by nature (a weekly refresh moves voters in and out). Between two DP
    # releases of different exchanges that subtraction is bounded by the rho the
    # ledger composed over both, not by k. Within one release it still fails.
    exact = [
        (a, b, diff)
        for a, b, diff in bad
        if a.split("/", 1)[0] == b.split("/", 1)[0]
        or not (_is_dp(records, a.split("/", 1)[0]) and _is_dp(records, b.split("/", 1)[0]))
    ]
    if bad and not exact:
        spent = sum(
            float(str(r.get("rho") or 0.0)) + float(str(r.get("report_rho") or 0.0))
            for r in records
        )
        return CheckResult(
            "differencing",
            True,
            f"{len(bad)} of {pairs} segment pairs of different weeks differ by fewer than k={k} "
            f"households; both sides of each are DP, so subtracting them is bounded by the "
            f"ledger's composed rho {spent:.4g} (epsilon {epsilon_of(spent):.2f} at delta "
            f"{DEFAULT_DELTA:g})",
        )
    bad = exact
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
