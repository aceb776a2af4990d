"""The match report: per-segment match rates, noised and suppressed before the campaign sees them.

The matcher sends the campaign how many of each segment's voters it linked.
The campaign holds the linkage key and chooses its segments, so exact counts
would answer "does this one person subscribe?" (send segment A and A plus one
person, and subtract). The defences are release rules, so they live with the
other release rules: discrete-Laplace noise from :mod:`linkage.release.dp`
and suppression on the noisy counts. The matcher passes in its links; this
module does no linking.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from linkage.engine import Engine
from linkage.errors import PrivacyError
from linkage.release.dp import NoiseFn, discrete_laplace
from linkage.tables import ALL_HOUSEHOLDS, MATCH_REPORT_SCHEMA

__all__ = ["match_report"]


def match_report(
    campaign: pa.Table,
    links: pa.Table,
    *,
    engine: Engine,
    k: int,
    epsilon: float | None,
    evidence: pa.Table | None = None,
    noise: NoiseFn = discrete_laplace,
) -> pa.Table:
    """Aggregate match rates per segment code (and ``*`` for all records).

    The campaign holds the linkage key and chooses its segments, so exact
    counts would answer "does this one person subscribe?": send segment A and
    A plus one person, and subtract. Two defences, both on by default in the
    matcher's CLI:

    * ``epsilon``: discrete-Laplace noise (OpenDP) on ``matched_voters`` and
      ``households``. One record sits in ``*`` and up to S segments and moves
      each of the two counts by at most one per row, so the L1 sensitivity is
      ``2 * (S + 1)`` and the scale ``2 * (S + 1) / epsilon``. ``None`` releases
      exact counts (tests, or a campaign auditing itself).
    * suppression, decided on the released (noisy) counts: a segment with
      fewer than ``k`` voters, matched voters or *unmatched* voters is
      withheld (all matched also discloses every member).

    ``est_precision`` / ``est_recall`` (the model's aggregate confidence) are
    released for ``*`` only when noise is on: per segment they would leak the
    same bit. Never per record.
    """
    if "posterior" not in links.column_names:
        links = links.append_column("posterior", pa.array([1.0] * links.num_rows, pa.float64()))
    if evidence is None:
        evidence = links.select(["rid", "posterior"]).rename_columns(["rid", "expected"])
    sql = f"""
WITH seg AS (
    SELECT rid, {engine.dialect.unnest("segments")} AS segment FROM c
    UNION ALL
    SELECT rid, '*' AS segment FROM c
)
SELECT seg.segment AS segment,
       CAST(COUNT(*) AS BIGINT) AS voters,
       CAST(COUNT(l.hp) AS BIGINT) AS matched_voters,
       CAST(COUNT(DISTINCT l.hp) AS BIGINT) AS households,
       CAST(AVG(l.posterior) AS DOUBLE) AS est_precision,
       CAST(LEAST(SUM(l.posterior) / NULLIF(SUM(e.expected), 0), 1.0) AS DOUBLE) AS est_recall
FROM seg LEFT JOIN l ON seg.rid = l.rid LEFT JOIN e ON seg.rid = e.rid
GROUP BY seg.segment
ORDER BY segment
"""
    exact = engine.query(
        sql,
        {
            "l": links.select(["rid", "hp", "posterior"]),
            "c": campaign.select(["rid", "segments"]),
            "e": evidence.select(["rid", "expected"]),
        },
    ).to_pylist()
    if epsilon is not None:
        if epsilon <= 0:
            raise PrivacyError("match-report epsilon must be positive")
        lengths = pc.list_value_length(campaign["segments"])
        max_segments = int(pc.max(lengths).as_py() or 0)
        scale = 2.0 * (max_segments + 1) / epsilon
        noisy_matched = noise([r["matched_voters"] for r in exact], scale)
        noisy_households = noise([r["households"] for r in exact], scale)
        for row, m, h in zip(exact, noisy_matched, noisy_households, strict=True):
            row["matched_voters"] = min(max(m, 0), row["voters"])
            row["households"] = min(max(h, 0), row["matched_voters"])
            if row["segment"] != ALL_HOUSEHOLDS:
                row["est_precision"] = row["est_recall"] = None
    rows = []
    for row in exact:
        voters, matched = int(row["voters"]), int(row["matched_voters"])
        hidden = voters < k or matched < k or voters - matched < k
        rows.append(
            {
                "segment": row["segment"],
                "voters": voters,
                "matched_voters": None if hidden else matched,
                "households": None if hidden else int(row["households"]),
                "match_rate": None if hidden else matched / voters,
                "est_precision": None if hidden else row["est_precision"],
                "est_recall": None if hidden else row["est_recall"],
                "suppressed": hidden,
            }
        )
    return pa.Table.from_pylist(rows, schema=MATCH_REPORT_SCHEMA)
