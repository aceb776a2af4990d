"""The matcher's exact stage: multi-key joins on keyed tokens, then resolution.

The matcher sees only opaque 32-byte tokens, record references and household
pseudonyms. A voter (campaign record) links to at most one household; a
household may hold many voters. Each agreeing match key adds its weight to a
(record, household) pair; the best pair wins, and a tie between two different
households at the top score is left unlinked rather than guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa

from linkage.engine import Engine

#: Weight of each exact key: roughly log2 of how much more likely agreement is
#: among true links than among non-links in voter-vs-subscriber data. Address
#: keys decide the household; name, phone and e-mail keys confirm it.
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "mk_name_addr": 8.0,
    "mk_email": 7.0,
    "mk_surname_addr": 6.0,
    "mk_phone": 5.0,
    "mk_addr": 4.0,
    "mk_addr_nounit": 2.0,
}

#: An address-with-unit agreement (4) alone links; a building address without
#: unit (2) needs a confirming name, phone or e-mail key.
DEFAULT_MIN_SCORE = 4.0


@dataclass(frozen=True)
class LinkResult:
    """Resolved links and how they were reached.

    Attributes:
        links: one row per linked record: ``rid``, ``hp``, ``score``.
        candidate_pairs: distinct (record, household) pairs that agreed on any key.
        ambiguous: records whose best score was shared by two or more households.
    """

    links: pa.Table
    candidate_pairs: int
    ambiguous: int


def shared_keys(a: pa.Schema, b: pa.Schema, weights: Mapping[str, float]) -> list[str]:
    """Match-key columns present in both payloads and known to ``weights``."""
    return [k for k in weights if k in a.names and k in b.names]


def link_exact(
    campaign: pa.Table,
    provider: pa.Table,
    *,
    engine: Engine,
    weights: Mapping[str, float] = DEFAULT_WEIGHTS,
    min_score: float = DEFAULT_MIN_SCORE,
) -> LinkResult:
    """Link campaign records (``rid``) to provider households (``hp``) on exact keys.

    Args:
        campaign: campaign-tokens payload (``rid`` and ``mk_*`` columns).
        provider: provider-tokens payload (``hp`` and ``mk_*`` columns).
        engine: SQL engine running the joins.
        weights: weight per match-key column; keys absent from either side are skipped.
        min_score: smallest summed weight that may link.

    Returns:
        The resolved links (each ``rid`` at most once).
    """
    keys = shared_keys(campaign.schema, provider.schema, weights)
    if not keys:
        empty = pa.table(
            {
                "rid": pa.array([], pa.string()),
                "hp": pa.array([], pa.string()),
                "score": pa.array([], pa.float64()),
            }
        )
        return LinkResult(empty, 0, 0)
    sql = _link_sql(keys, weights, min_score)
    tables: dict[str, pa.Table] = {
        "c": campaign.select(["rid", *keys]),
        "p": provider.select(["hp", *keys]),
    }
    resolved = engine.query(sql, tables)
    counts = engine.query(_count_sql(keys), tables).to_pylist()[0]
    links = resolved.filter(pa.compute.equal(resolved["n_best"], 1)).select(["rid", "hp", "score"])
    ambiguous = resolved.num_rows - links.num_rows
    return LinkResult(
        links=links.sort_by("rid"),
        candidate_pairs=int(counts["pairs"]),
        ambiguous=int(ambiguous),
    )


def _agreements_sql(keys: Sequence[str], weights: Mapping[str, float]) -> str:
    parts = [
        f"SELECT c.rid, p.hp, CAST({float(weights[k])!r} AS DOUBLE) AS w "
        f"FROM c JOIN p ON c.{k} = p.{k}"
        for k in keys
    ]
    return "\nUNION ALL\n".join(parts)


def _link_sql(keys: Sequence[str], weights: Mapping[str, float], min_score: float) -> str:
    # One row per record: its best household and how many households share
    # that best score (n_best > 1 = ambiguous, left unlinked).
    return f"""
WITH agree AS (
{_agreements_sql(keys, weights)}
),
pair AS (
    SELECT rid, hp, SUM(w) AS score FROM agree GROUP BY rid, hp
),
ranked AS (
    SELECT rid, hp, score,
           MAX(score) OVER (PARTITION BY rid) AS best
    FROM pair
)
SELECT rid, MIN(hp) AS hp, MAX(score) AS score, COUNT(*) AS n_best
FROM ranked
WHERE score = best AND score >= {float(min_score)!r}
GROUP BY rid
"""


def _count_sql(keys: Sequence[str]) -> str:
    return f"""
WITH agree AS (
{_agreements_sql(keys, dict.fromkeys(keys, 1.0))}
)
SELECT COUNT(*) AS pairs FROM (SELECT DISTINCT rid, hp FROM agree) AS t
"""


def assignments_from_links(campaign: pa.Table, links: pa.Table, *, engine: Engine) -> pa.Table:
    """(household pseudonym, segment code) rows for the provider, deduplicated.

    A household is in a segment when any of its linked voters is. Every linked
    household is also in ``*`` (all matched households), the base of the
    campaign's index; the provider learns that these households hold at least
    one listed voter, which segment membership would tell it anyway.
    """
    sql = """
SELECT DISTINCT hp, segment FROM (
    SELECT l.hp AS hp, s.segment AS segment
    FROM l
    JOIN (SELECT rid, UNNEST(segments) AS segment FROM c) AS s ON s.rid = l.rid
    UNION ALL
    SELECT hp, '*' AS segment FROM l
) AS a
ORDER BY segment, hp
"""
    return engine.query(sql, {"l": links, "c": campaign.select(["rid", "segments"])})


def match_report(campaign: pa.Table, links: pa.Table, *, engine: Engine, k: int) -> pa.Table:
    """Aggregate match rates per segment code (and ``*`` for all records).

    A segment whose voter or matched count is below ``k`` is suppressed: a
    campaign could otherwise learn whether one named voter subscribes by
    sending a one-voter segment.
    """
    sql = f"""
WITH seg AS (
    SELECT rid, UNNEST(segments) AS segment FROM c
    UNION ALL
    SELECT rid, '*' AS segment FROM c
),
counts AS (
    SELECT seg.segment,
           COUNT(*) AS voters,
           COUNT(l.hp) AS matched_voters,
           COUNT(DISTINCT l.hp) AS households
    FROM seg LEFT JOIN l ON seg.rid = l.rid
    GROUP BY seg.segment
)
SELECT segment,
       CAST(voters AS BIGINT) AS voters,
       CASE WHEN voters < {k} OR matched_voters < {k} THEN NULL
            ELSE CAST(matched_voters AS BIGINT) END AS matched_voters,
       CASE WHEN voters < {k} OR matched_voters < {k} THEN NULL
            ELSE CAST(households AS BIGINT) END AS households,
       CASE WHEN voters < {k} OR matched_voters < {k} THEN NULL
            ELSE CAST(matched_voters AS DOUBLE) / voters END AS match_rate,
       (voters < {k} OR matched_voters < {k}) AS suppressed
FROM counts
ORDER BY segment
"""
    return engine.query(
        sql, {"l": links.select(["rid", "hp"]), "c": campaign.select(["rid", "segments"])}
    )
