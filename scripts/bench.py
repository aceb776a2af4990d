"""Throughput of every stage, next to the anchors it should beat, as one JSON object.

Usage::

    python scripts/bench.py                 # default size (50k voters, 7 days)
    python scripts/bench.py --quick         # CI-sized, well under a minute
    python scripts/bench.py --quick --no-anchors
    python scripts/bench.py --voters 200000 --engine spark
    python scripts/bench.py --scale 100000,1000000   # growth: every stage at each size

Each stage runs in its own subprocess (``bench.py --stage NAME --work DIR``)
that reads its inputs from the work directory, times only the stage's core
call (``time.perf_counter``, input/output excluded) and reports its own peak
RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``: the high-water mark of that
process, including the interpreter, imports and reading the inputs). Separate
processes keep one stage's memory from inflating the next one's peak.

Anchors run on the same data:

* clkhash 0.18 CLK encoding and anonlink Dice all-pairs, in their own virtual
  environment (``build/bench-venv``; clkhash pins ``cryptography<41``, which
  the project's own environment must not downgrade to). If pip cannot install
  them the anchor is null with the reason.
* a bare DuckDB token join (the equi-joins of the exact stage, nothing else),
* a bare DuckDB query for the aggregate stage's core figure, hand-written in
  one statement on the same viewing rows and assignments (``_ANCHOR_AGGREGATE_SQL``):
  expand every event to quarter-hours, sum tuned seconds per household/channel/
  slot, keep >= 300 s, join segments, then per (segment, channel, day type,
  quarter-hour) count household-days / days (AQH) and distinct households.
  It leaves out what ``compute_viewership`` adds (overlap merging, the ``*``
  segment, HUT and share, dayparts, period reach, the zero-filled grid), so
  the ratio slightly flatters the anchor. Both sides run DuckDB with 2 threads;
  ours under ``--duckdb-memory`` (1 GB, DuckDBEngine's default), the anchors
  under ``--anchor-memory`` (4 GB) with a spill directory in the work
  directory, so an anchor does not run out of memory at a million voters.

``ratios``: ``encode_vs_clkhash`` and ``dice_vs_anonlink`` are ours / theirs as
throughput (higher is better); ``link_vs_duckdb_join`` and
``aggregate_vs_duckdb_query`` are ours / theirs as time (lower is better).

``--scale N1,N2,...`` measures growth instead. At each voter count it builds a
seeded world and runs the parties' own recipes in order (``SCALE_STAGES``):
tokenize (``encode_side`` with the shipped schema, campaign and provider),
encode (CLKs), Dice (comparison vectors over every candidate pair), exact
link, fuzzy link (``link_records`` after its exact stage), aggregate, the DP
release, plan and report. Each stage is printed as ``{seconds,
anchor_seconds, ratio}`` (ratio = ours / anchor as time, lower is better;
null where no like-for-like anchor exists) with its details; a stage that
fails is ``{"error": ...}`` and the run goes on. ``growth`` gives each
stage's exponent ``log(t2/t1) / log(n2/n1)`` between consecutive sizes.
clkhash encodes a sample (``--anchor-rows``) and its rate is scaled to our
record count; the Dice ratio is our all-pairs kernel against anonlink's on
the same ``--dice-rows`` rows. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import itertools
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_VENV = ROOT / "build" / "bench-venv"
ANCHOR_PACKAGES = ("clkhash==0.18.3", "anonlink==0.15.3")
CLK_FIELDS = ("given", "surname", "house_number", "street", "zip5")
DICE_THRESHOLD = 0.8
SEED = 0

Json = dict[str, Any]

# --------------------------------------------------------------------------- stages
# Each stage function runs inside its own subprocess and returns
# (count, unit, seconds, extra).


def _peak_rss_mib() -> float:
    # Linux reports kilobytes.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _config(work: Path) -> Json:
    loaded: Json = json.loads((work / "config.json").read_text())
    return loaded


def _key() -> Any:
    from linkage.protocol import LinkageKey

    # A fixed key: the bench measures speed, not secrecy.
    return LinkageKey(exchange_id="bench", _key=bytes(range(32)))


def stage_synth(work: Path) -> tuple[int, str, float, Json]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from linkage.synth import generate_world

    cfg = _config(work)
    t0 = time.perf_counter()
    world = generate_world(voters=cfg["voters"], days=cfg["days"], seed=SEED)
    seconds = time.perf_counter() - t0
    pq.write_table(world.voters, work / "voters.parquet")
    pq.write_table(world.subscribers, work / "subscribers.parquet")
    pq.write_table(world.viewing, work / "viewing.parquet")
    pq.write_table(world.channels, work / "channels.parquet")
    pq.write_table(world.ratecard, work / "ratecard.parquet")
    pq.write_table(world.markets, work / "markets.parquet")
    pq.write_table(world.lineups, work / "lineups.parquet")
    # The true voter -> household pairs, for pair completeness and F1 (untimed).
    pq.write_table(world.voter_household, work / "truth.parquet")
    voters = world.voters.select(["voter_id", "party"])
    joined = world.voter_household.join(voters, "voter_id")
    assignments = pa.table({"household_id": joined["household_id"], "segment": joined["party"]})
    pq.write_table(
        assignments.group_by(["household_id", "segment"]).aggregate([]),
        work / "assignments.parquet",
    )
    extra = {
        "subscribers": world.subscribers.num_rows,
        "viewing_rows": world.viewing.num_rows,
    }
    return world.voters.num_rows, "voters", seconds, extra


def stage_tokenize(work: Path) -> tuple[int, str, float, Json]:
    import pyarrow.parquet as pq

    from linkage.encode import normalize_records, tokenize_records

    voters = pq.read_table(work / "voters.parquet")
    subscribers = pq.read_table(work / "subscribers.parquet")
    key = _key()
    t0 = time.perf_counter()
    norm_c = normalize_records(voters)
    norm_p = normalize_records(subscribers)
    t1 = time.perf_counter()
    tok_c = tokenize_records(norm_c, key)
    tok_p = tokenize_records(norm_p, key)
    seconds = time.perf_counter() - t0
    pq.write_table(norm_c, work / "norm_campaign.parquet")
    pq.write_table(norm_p, work / "norm_provider.parquet")
    pq.write_table(tok_c.add_column(0, "rid", voters["voter_id"]), work / "tok_campaign.parquet")
    pq.write_table(
        tok_p.add_column(0, "hp", subscribers["household_id"]), work / "tok_provider.parquet"
    )
    extra = {
        "normalize_seconds": round(t1 - t0, 3),
        "match_key_seconds": round(seconds - (t1 - t0), 3),
    }
    return voters.num_rows + subscribers.num_rows, "records", seconds, extra


def stage_encode(work: Path) -> tuple[int, str, float, Json]:
    import numpy as np
    import pyarrow.parquet as pq

    from linkage.encode import DEFAULT_BLOOM_SCHEMA, encode_records

    norm_c = pq.read_table(work / "norm_campaign.parquet")
    norm_p = pq.read_table(work / "norm_provider.parquet")
    key = _key()
    t0 = time.perf_counter()
    clk_c = encode_records(norm_c, DEFAULT_BLOOM_SCHEMA, key)
    clk_p = encode_records(norm_p, DEFAULT_BLOOM_SCHEMA, key)
    seconds = time.perf_counter() - t0
    np.save(work / "clk_campaign.npy", clk_c)
    np.save(work / "clk_provider.npy", clk_p)
    extra = {"bits": DEFAULT_BLOOM_SCHEMA.output_length, "processes": 1}
    return norm_c.num_rows + norm_p.num_rows, "records", seconds, extra


def _dice_sides(work: Path) -> tuple[Any, Any]:
    import numpy as np

    cfg = _config(work)
    a = np.load(work / "clk_campaign.npy")[: cfg["dice_rows"]]
    b = np.load(work / "clk_provider.npy")[: cfg["dice_rows"]]
    return a, b


def stage_dice(work: Path) -> tuple[int, str, float, Json]:
    # One thread, like anonlink's dice_coefficient_accelerated (a single-
    # threaded C++ loop). The numba kernels run on the calling thread; this
    # pins the BLAS pool too, before numpy loads (this stage's own process
    # has not loaded it yet).
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    os.environ["OMP_NUM_THREADS"] = "1"
    from linkage.match import dice_all_pairs, warm_up

    a, b = _dice_sides(work)
    # JIT compilation (or loading it from numba's cache) is excluded, as
    # anonlink's C++ is compiled ahead of time: both sides time comparisons.
    warm_up()
    t0 = time.perf_counter()
    found, _, _ = dice_all_pairs(a, b, DICE_THRESHOLD)
    seconds = time.perf_counter() - t0
    # Two threads for information only (the ratio uses the one-thread time).
    t1 = time.perf_counter()
    dice_all_pairs(a, b, DICE_THRESHOLD, threads=2)
    seconds_2 = time.perf_counter() - t1
    extra = {
        "threshold": DICE_THRESHOLD,
        "pairs_found": len(found),
        "shape": [len(a), len(b)],
        "threads": 1,
        "seconds_threads_2": round(seconds_2, 4),
    }
    return len(a) * len(b), "comparisons", seconds, extra


def _engine(work: Path) -> Any:
    from linkage.engine import make_engine

    return make_engine(_config(work)["engine"], memory_limit=_our_memory(work))


# DuckDBEngine's default memory limit (our stages' limit unless --duckdb-memory says otherwise).
_LINK_DUCKDB_MEMORY = "1GB"
# The bare DuckDB anchors get more room (--anchor-memory) and a spill directory
# under the work directory: an anchor that runs out of memory measures nothing.
_ANCHOR_MEMORY = "4GB"


def _anchor_connection(work: Path) -> Any:
    """A DuckDB connection for an anchor: its memory limit, 2 threads and a spill directory."""
    import duckdb

    spill = work / "anchor-spill"
    spill.mkdir(exist_ok=True)
    config: dict[str, str | int | bool | float | list[str]] = {
        "memory_limit": _config(work).get("anchor_memory", _ANCHOR_MEMORY),
        "threads": _DUCKDB_THREADS,
        "temp_directory": str(spill),
    }
    return duckdb.connect(":memory:", config=config)


def _our_memory(work: Path) -> str:
    memory: str = _config(work).get("duckdb_memory", _LINK_DUCKDB_MEMORY)
    return memory


def stage_link_exact(work: Path) -> tuple[int, str, float, Json]:
    import pyarrow.parquet as pq

    from linkage.match import link_exact

    campaign = pq.read_table(work / "tok_campaign.parquet")
    provider = pq.read_table(work / "tok_provider.parquet")
    with _engine(work) as engine:
        t0 = time.perf_counter()
        result = link_exact(campaign, provider, engine=engine)
        seconds = time.perf_counter() - t0
    extra = {
        "links": result.links.num_rows,
        "candidate_pairs": result.candidate_pairs,
        "engine": _config(work)["engine"],
    }
    return campaign.num_rows + provider.num_rows, "records", seconds, extra


def stage_anchor_duckdb_join(work: Path) -> tuple[int, str, float, Json]:
    import pyarrow.parquet as pq

    from linkage.match import DEFAULT_WEIGHTS, shared_keys

    c = pq.read_table(work / "tok_campaign.parquet")
    p = pq.read_table(work / "tok_provider.parquet")
    # Like for like with stage_link_exact: the same token files (every row),
    # the same key columns (shared_keys with the same weights), DuckDB on both
    # cores; the anchor's memory limit is --anchor-memory, with a spill directory.
    keys = shared_keys(c.schema, p.schema, DEFAULT_WEIGHTS)
    # The least any multi-key exact linkage must do: every key's equi-join,
    # materialised as (record, household) pairs; no weights, no resolution.
    sql = " UNION ALL ".join(f"SELECT c.rid, p.hp FROM c JOIN p ON c.{k} = p.{k}" for k in keys)
    con = _anchor_connection(work)
    con.register("c", c)
    con.register("p", p)
    t0 = time.perf_counter()
    pairs = con.sql(sql).to_arrow_table()
    seconds = time.perf_counter() - t0
    threads = con.execute("SELECT current_setting('threads')").fetchone()
    con.close()
    extra = {
        "pairs": pairs.num_rows,
        "keys": keys,
        "threads": threads[0] if threads else None,
        "memory_limit": _config(work).get("anchor_memory", _ANCHOR_MEMORY),
        "sql": sql,
    }
    return c.num_rows + p.num_rows, "records", seconds, extra


# Threads for our aggregate stage and every DuckDB anchor, so the ratio
# compares queries, not configurations (2 threads = this machine's cores).
_DUCKDB_THREADS = 2


def stage_aggregate(work: Path) -> tuple[int, str, float, Json]:
    import pyarrow.parquet as pq

    from linkage.engine import DuckDBEngine
    from linkage.measure import compute_viewership

    assignments = pq.read_table(work / "assignments.parquet")
    channels = pq.read_table(work / "channels.parquet")["channel"].to_pylist()
    viewing = work / "viewing.parquet"
    rows = pq.ParquetFile(viewing).metadata.num_rows
    engine = (
        DuckDBEngine(memory_limit=_our_memory(work), threads=_DUCKDB_THREADS)
        if _config(work)["engine"] == "duckdb"
        else _engine(work)
    )
    with engine:
        t0 = time.perf_counter()
        cells = compute_viewership(assignments, viewing, channels=channels, engine=engine)
        seconds = time.perf_counter() - t0
    return rows, "viewing_rows", seconds, {"cells": cells.num_rows}


# The core figure a DuckDB user would hand-write in one query: AQH crediting
# from the same viewing rows and the same assignments. Events are expanded to
# quarter-hours, tuned seconds summed per household/channel/slot and kept at
# >= 300 s (5 minutes, the default credit), joined to segments, then counted
# per (segment, channel, day type, quarter-hour): household-days / days of
# that type (AQH) and distinct households. It skips what compute_viewership
# adds on top: merging overlapping events of one household on one channel,
# the every-household ``*`` segment, HUT and share, the daypart and period
# grains with reach, and the zero-filled public grid.
_ANCHOR_AGGREGATE_SQL = """
WITH ev AS (
    SELECT household_id, channel,
           CAST(epoch("start") AS BIGINT) AS s, CAST(epoch("end") AS BIGINT) AS e
    FROM read_parquet('{path}')
    WHERE "end" > "start"
),
credited AS (
    SELECT household_id, channel, slot
    FROM (SELECT *, UNNEST(range(s // 900, (e - 1) // 900 + 1)) AS slot FROM ev)
    GROUP BY household_id, channel, slot
    HAVING SUM(LEAST(e, (slot + 1) * 900) - GREATEST(s, slot * 900)) >= 300
),
days AS (
    SELECT CASE WHEN (d + 3) % 7 >= 5 THEN 'weekend' ELSE 'weekday' END AS day_type,
           COUNT(*) AS n_days
    FROM (SELECT UNNEST(range(MIN(s) // 86400, (MAX(e) - 1) // 86400 + 1)) AS d FROM ev)
    GROUP BY day_type
),
cells AS (
    SELECT a.segment, c.channel,
           CASE WHEN (c.slot // 96 + 3) % 7 >= 5 THEN 'weekend' ELSE 'weekday' END AS day_type,
           c.slot % 96 AS quarter_hour,
           COUNT(*) AS household_days,
           COUNT(DISTINCT c.household_id) AS households
    FROM credited c JOIN a ON a.household_id = c.household_id
    GROUP BY ALL
)
SELECT c.segment, c.channel, c.day_type, c.quarter_hour,
       c.household_days / d.n_days AS aqh_households, c.households
FROM cells c JOIN days d ON d.day_type = c.day_type
"""


_AGGREGATE_NOTE = (
    "compute_viewership (all grains, HUT/share, reach, * segment, overlap merging, full grid) "
    "vs one hand-written DuckDB query computing AQH-credited households per (segment, channel, "
    "day type, quarter-hour) from the same viewing rows: quarter-hour expansion, >= 300 s "
    "credit, segment join, count(*) / days and count(distinct household)"
)


def stage_anchor_duckdb_aggregate(work: Path) -> tuple[int, str, float, Json]:
    import pyarrow.parquet as pq

    assignments = pq.read_table(work / "assignments.parquet")
    path = work / "viewing.parquet"
    rows = pq.ParquetFile(path).metadata.num_rows
    sql = _ANCHOR_AGGREGATE_SQL.format(path=str(path).replace("'", "''"))
    con = _anchor_connection(work)
    con.register("a", assignments)
    t0 = time.perf_counter()
    out = con.sql(sql).to_arrow_table()
    seconds = time.perf_counter() - t0
    return rows, "viewing_rows", seconds, {"cells": out.num_rows, "sql": " ".join(sql.split())}


# Stages of the growth run (--scale) ---------------------------------------------------
# They run the parties' own recipes (the shipped linkage schema, link_records,
# the DP release, the plan and the report) on the same seeded world.

# The segments the bench's campaign asks for: the voters' party, code = letter.
_PARTY_CODES = {"democrats": "D", "republicans": "R", "independents": "I"}
_PLAN_BUDGET = 250_000.0
_PLAN_TIME_LIMIT = 30.0


def stage_tokenize_payloads(work: Path) -> tuple[int, str, float, Json]:
    import pyarrow.parquet as pq

    from linkage.encode import encode_side, normalize_side, shipped_schema

    voters = pq.read_table(work / "voters.parquet")
    subscribers = pq.read_table(work / "subscribers.parquet")
    schema, key = _linkage_schema(work) or shipped_schema(), _key()
    t0 = time.perf_counter()
    campaign = encode_side(voters, schema, "a", key)
    t1 = time.perf_counter()
    provider = encode_side(subscribers, schema, "b", key)
    seconds = time.perf_counter() - t0
    pq.write_table(campaign.add_column(0, "rid", voters["voter_id"]), work / "tok_campaign.parquet")
    pq.write_table(
        provider.add_column(0, "hp", subscribers["household_id"]), work / "tok_provider.parquet"
    )
    # The normalised fields the encode stage and the clkhash anchor read (untimed).
    pq.write_table(normalize_side(voters, schema, "a"), work / "norm_campaign.parquet")
    pq.write_table(normalize_side(subscribers, schema, "b"), work / "norm_provider.parquet")
    extra = {
        "campaign_seconds": round(t1 - t0, 3),
        "provider_seconds": round(seconds - (t1 - t0), 3),
        "recipe": "encode_side with the shipped linkage schema (normalise, match keys, CLKs, "
        "blocking keys), one process",
        "columns": campaign.column_names,
    }
    return voters.num_rows + subscribers.num_rows, "records", seconds, extra


def _linkage_schema(work: Path) -> Any:
    """The ``--schema`` linkage schema, or None for the shipped one."""
    from linkage.encode import load_schema

    path = _config(work).get("schema")
    return None if path is None else load_schema(Path(path).read_text(), file=path)


def _match_settings(work: Path) -> Any:
    from linkage.encode import shipped_schema
    from linkage.match import MatchSettings

    return MatchSettings.from_schema(_linkage_schema(work) or shipped_schema())


def _truth_quality(work: Path, outcome: Any, campaign: Any, provider: Any) -> Json:
    """Pair completeness and P/R/F1 of ``outcome`` against the world's true pairs."""
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from linkage.match import linkage_quality

    truth = pq.read_table(work / "truth.parquet")
    ta = np.asarray(pc.index_in(truth["voter_id"], campaign["rid"]).to_numpy(False), np.int64)
    tb = np.asarray(pc.index_in(truth["household_id"], provider["hp"]).to_numpy(False), np.int64)
    links = outcome.links
    exact = links.filter(pc.equal(links["stage"], "exact"))
    la = np.asarray(pc.index_in(exact["rid"], campaign["rid"]).to_numpy(False), np.int64)
    lb = np.asarray(pc.index_in(exact["hp"], provider["hp"]).to_numpy(False), np.int64)
    # A true pair counts as found when blocking paired it or the exact stage
    # linked it (many-to-one blocking skips the exact stage's records).
    width = provider.num_rows
    considered = np.union1d(outcome.candidates.ia * width + outcome.candidates.ib, la * width + lb)
    found = np.isin(ta * width + tb, considered)
    quality = linkage_quality(
        set(zip(links["rid"].to_pylist(), links["hp"].to_pylist(), strict=True)),
        set(zip(truth["voter_id"].to_pylist(), truth["household_id"].to_pylist(), strict=True)),
    )
    return {
        "pair_completeness": round(float(found.mean()) if found.size else 1.0, 5),
        **{k: round(float(v), 5) for k, v in quality.items()},
        "true_pairs": int(ta.size),
    }


def stage_dice_vectors(work: Path) -> tuple[int, str, float, Json]:
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    os.environ["OMP_NUM_THREADS"] = "1"
    import pyarrow.parquet as pq

    from linkage.match import candidate_pairs, comparison_vectors, dice_all_pairs, warm_up

    campaign = pq.read_table(work / "tok_campaign.parquet")
    provider = pq.read_table(work / "tok_provider.parquet")
    settings = _match_settings(work)
    warm_up()
    with _engine(work) as engine:
        found = candidate_pairs(
            campaign,
            provider,
            engine=engine,
            max_block=settings.max_block,
            coarse=settings.coarse,
        )
    ia, ib = found.ia, found.ib
    comparison_vectors(campaign, provider, ia[:64], ib[:64], settings.features)  # JIT warm-up
    t0 = time.perf_counter()
    levels, _ = comparison_vectors(campaign, provider, ia, ib, settings.features)
    seconds = time.perf_counter() - t0
    # The like-for-like figure for anonlink: the all-pairs kernel on the same
    # rows the anchor gets, one thread each.
    a, b = _dice_sides(work)
    t1 = time.perf_counter()
    kernel_found, _, _ = dice_all_pairs(a, b, DICE_THRESHOLD)
    kernel_seconds = time.perf_counter() - t1
    extra = {
        "features": [f.column for f in settings.features],
        "levels_shape": list(levels.shape),
        "kernel_seconds": round(kernel_seconds, 4),
        "kernel_comparisons": len(a) * len(b),
        "kernel_pairs_found": len(kernel_found),
        "threshold": DICE_THRESHOLD,
        "candidate_pairs": found.count,
        "pairs_per_record": round(found.count / max(found.n_a + found.n_b, 1), 4),
        "blocking_caps": dict(zip(found.passes, found.caps, strict=True)),
    }
    return len(ia), "pairs", seconds, extra


def stage_link_fuzzy(work: Path) -> tuple[int, str, float, Json]:
    import pyarrow.parquet as pq

    from linkage.match import link_records
    from linkage.release import match_report

    campaign = pq.read_table(work / "tok_campaign.parquet")
    provider = pq.read_table(work / "tok_provider.parquet")
    marks: list[tuple[str, float]] = []

    def progress(stage: str, done: int | None = None, total: int | None = None) -> None:
        if not marks or marks[-1][0] != stage:
            marks.append((stage, time.perf_counter()))

    with _engine(work) as engine:
        t0 = time.perf_counter()
        outcome = link_records(
            campaign, provider, engine=engine, settings=_match_settings(work), progress=progress
        )
        end = time.perf_counter()
    # The fuzzy stage is everything after the exact keys: blocking, comparison
    # vectors, the model, resolution and household propagation.
    fuzzy_start = next((t for name, t in marks if name == "blocking"), t0)
    steps = {
        name: round(later - t, 3)
        for (name, t), later in zip(marks, [*(t for _, t in marks[1:]), end], strict=True)
    }
    pq.write_table(outcome.links, work / "links.parquet")
    report = match_report(outcome.links, evidence=outcome.evidence)
    pq.write_table(report, work / "match_report.parquet")
    extra = {
        "link_records_seconds": round(end - t0, 3),
        "steps_seconds": steps,
        "links": outcome.links.num_rows,
        "candidate_pairs": outcome.candidates.count,
        "blocking_caps": dict(zip(outcome.candidates.passes, outcome.candidates.caps, strict=True)),
        "est_pair_completeness": round(outcome.est_pair_completeness, 5),
        # Against the world's truth (untimed), so speed is never bought with recall.
        **(
            _truth_quality(work, outcome, campaign, provider)
            if (work / "truth.parquet").exists()
            else {}
        ),
    }
    return campaign.num_rows + provider.num_rows, "records", end - fuzzy_start, extra


def _period(work: Path) -> list[date]:
    from linkage.synth import WORLD_START

    return [WORLD_START + timedelta(days=i) for i in range(int(_config(work)["days"]))]


def stage_release(work: Path) -> tuple[int, str, float, Json]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from linkage.release import (
        DEFAULT_RELEASE_RHO,
        assemble_assignments,
        check_markets,
        release_grid,
        release_viewership,
    )

    links = pq.read_table(work / "links.parquet").select(["rid", "hp"])
    voters = pq.read_table(work / "voters.parquet", columns=["voter_id", "party"])
    segments = pa.table(
        {"rid": voters["voter_id"], "segments": [[p] for p in voters["party"].to_pylist()]}
    )
    channels = pq.read_table(work / "channels.parquet")["channel"].to_pylist()
    viewing = work / "viewing.parquet"
    with _engine(work) as engine:
        t0 = time.perf_counter()
        # The bench links households by id (no pseudonyms), so hp is the household.
        assigned = assemble_assignments(links, segments, links["hp"].to_pylist())
        grid = release_grid(viewing, channels=channels, engine=engine, period=_period(work))
        payload = release_viewership(
            assigned,
            viewing,
            grid,
            engine=engine,
            rho=DEFAULT_RELEASE_RHO,
            segments=sorted(_PARTY_CODES.values()),
            records=assigned,
            # As the provider releases by default in the demo: statewide and by market.
            markets=check_markets(pq.read_table(work / "markets.parquet")),
            lineups=pq.read_table(work / "lineups.parquet"),
        )
        seconds = time.perf_counter() - t0
    pq.write_table(payload, work / "release.parquet")
    rows = pq.ParquetFile(viewing).metadata.num_rows
    return rows, "viewing_rows", seconds, {"cells": payload.num_rows, "rho": DEFAULT_RELEASE_RHO}


def stage_plan(work: Path) -> tuple[int, str, float, Json]:
    import pyarrow.parquet as pq

    from linkage.plan import PlanRequest, make_plan, normalise_weights, parse_ratecard
    from linkage.report import decode_viewership

    payload = pq.read_table(work / "release.parquet")
    cells = parse_ratecard(pq.read_table(work / "ratecard.parquet"))
    request = PlanRequest(
        normalise_weights(["democrats", "independents"], None),
        _PLAN_BUDGET,
        time_limit=_PLAN_TIME_LIMIT,
    )
    t0 = time.perf_counter()
    decoded = decode_viewership(payload, _PARTY_CODES)
    result = make_plan(cells, decoded, request)
    seconds = time.perf_counter() - t0
    extra = {"spots": result.schedule.num_rows, "budget": _PLAN_BUDGET}
    return len(cells), "ratecard_cells", seconds, extra


def stage_report(work: Path) -> tuple[int, str, float, Json]:
    import pyarrow.parquet as pq

    from linkage.report import build_report

    payload = pq.read_table(work / "release.parquet")
    match = pq.read_table(work / "match_report.parquet")
    parties = pq.read_table(work / "voters.parquet", columns=["party"])["party"].to_pylist()
    voters = {name: parties.count(code) for name, code in _PARTY_CODES.items()}
    voters["all_matched"] = len(parties)
    t0 = time.perf_counter()
    report = build_report(
        "bench",
        _PARTY_CODES,
        match,
        payload,
        voters=voters,
        html=True,
        generated_at=datetime(2026, 1, 1),
    )
    seconds = time.perf_counter() - t0
    extra = {"tables": len(report.tables), "images": len(report.images)}
    return payload.num_rows, "cells", seconds, extra


# The weekly refresh: week 2 is a new exchange (new key) over a voter file that
# barely changed, tokenized with and without the normalised-field cache of week 1.
_REFRESH_SCORES = 0.01
_REFRESH_ADDRESSES = 0.005


def _refreshed_voters(voters: Any) -> Any:
    """Week 2's file: ~1% of rows get new scores, ~0.5% a new address (seeded)."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(SEED + 1)
    n = voters.num_rows
    rescored = rng.random(n) < _REFRESH_SCORES
    moved = np.flatnonzero(rng.random(n) < _REFRESH_ADDRESSES)
    for column in ("support_score", "turnout_score", "persuasion_score"):
        if column in voters.column_names:
            scores = voters[column].to_numpy().copy()
            scores[rescored] = rng.integers(1, 101, int(rescored.sum()))
            index = voters.column_names.index(column)
            voters = voters.set_column(index, column, pa.array(scores, voters[column].type))
    address = voters["address"].to_pylist()
    for i in moved:
        address[i] = f"{int(rng.integers(1, 9999))} Refresh Ave"
    index = voters.column_names.index("address")
    return voters.set_column(index, "address", pa.array(address, pa.string()))


def stage_weekly_refresh(work: Path) -> tuple[int, str, float, Json]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from linkage.encode import (
        column_kinds,
        default_workers,
        dummy_rows,
        encode_normalized_chunks,
        encode_side_chunks,
        evaluate,
        load_segments,
        normalize_reusing,
        shipped_schema,
    )
    from linkage.protocol import LinkageKey
    from linkage.synth import SEGMENTS_TOML

    week1 = pq.read_table(work / "voters.parquet")
    week2 = _refreshed_voters(week1)
    schema, workers = shipped_schema(), default_workers()
    rules = load_segments(SEGMENTS_TOML, columns=column_kinds(week1.schema), file="segments.toml")
    # Each week is its own exchange: its own key.
    key1 = LinkageKey(exchange_id="bench-week-1", _key=bytes(range(32)))
    key2 = LinkageKey(exchange_id="bench-week-2", _key=bytes(range(1, 33)))
    rids = pa.table({"rid": week2["voter_id"]})

    def tokenize(voters: Any, key: Any, cache: Any | None, use_cache: bool) -> tuple[Any, Any]:
        """What `campaign tokenize` computes (segments, tokens, dummies); sealing aside."""
        evaluate(rules, voters)
        reused = None
        if use_cache:
            reused = normalize_reusing(voters, schema, "a", cache, workers=workers)
            chunks = encode_normalized_chunks(reused.normalized, schema, key, workers=workers)
        else:
            chunks = encode_side_chunks(voters, schema, "a", key, workers=workers)
        tokens = pa.concat_tables(list(chunks))
        dummy_rows(voters, rids.slice(0, voters.num_rows), schema, "a", key, workers=workers)
        return tokens, reused

    t0 = time.perf_counter()
    _, first = tokenize(week1, key1, None, use_cache=True)
    t1 = time.perf_counter()
    uncached, _ = tokenize(week2, key2, None, use_cache=False)
    t2 = time.perf_counter()
    cached, second = tokenize(week2, key2, first.cache, use_cache=True)
    t3 = time.perf_counter()
    extra = {
        "week1_seconds": round(t1 - t0, 3),
        "week2_uncached_seconds": round(t2 - t1, 3),
        "week2_cached_seconds": round(t3 - t2, 3),
        "cached_vs_uncached": round((t3 - t2) / (t2 - t1), 3) if t2 > t1 else None,
        "cache_hits": second.hits,
        "cache_misses": second.misses,
        "identical_tokens": bool(cached.equals(uncached)),
        "workers": workers,
        "recipe": "week 2 of `campaign tokenize` under a new exchange key (segments, "
        "encode, dummies; sealing excluded) with and without week 1's normalised-field cache "
        f"({_REFRESH_SCORES:.1%} of rows rescored, {_REFRESH_ADDRESSES:.1%} moved)",
    }
    return week2.num_rows, "voters", t3 - t2, extra


STAGES: dict[str, Callable[[Path], tuple[int, str, float, Json]]] = {
    "synth": stage_synth,
    "tokenize": stage_tokenize,
    "encode": stage_encode,
    "dice": stage_dice,
    "link_exact": stage_link_exact,
    "anchor_duckdb_join": stage_anchor_duckdb_join,
    "aggregate": stage_aggregate,
    "anchor_duckdb_aggregate": stage_anchor_duckdb_aggregate,
    "tokenize_payloads": stage_tokenize_payloads,
    "dice_vectors": stage_dice_vectors,
    "link_fuzzy": stage_link_fuzzy,
    "release": stage_release,
    "plan": stage_plan,
    "report": stage_report,
    "weekly_refresh": stage_weekly_refresh,
}


def run_stage_here(name: str, work: Path) -> None:
    """Child side: run one stage and print its record as one JSON line."""
    count, unit, seconds, extra = STAGES[name](work)
    record = _record(count, unit, seconds, _peak_rss_mib(), extra)
    print(json.dumps(record))


def _record(count: int, unit: str, seconds: float, rss: float | None, extra: Json) -> Json:
    return {
        unit: count,
        "seconds": round(seconds, 4),
        "per_second": round(count / seconds, 1) if seconds > 0 else None,
        "unit": unit,
        "peak_rss_mib": rss,
        **extra,
    }


# --------------------------------------------------------------------------- driver


def _run_child(argv: list[str], python: str = sys.executable) -> Json:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [python, *argv], capture_output=True, text=True, env=env, check=False, cwd=ROOT
    )
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-3:]
        raise RuntimeError(f"{argv[:3]} failed: {' | '.join(tail)}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    result: Json = json.loads(lines[-1])
    return result


def _stage(name: str, work: Path) -> Json:
    return _run_child([str(Path(__file__).resolve()), "--stage", name, "--work", str(work)])


def _null(reason: str) -> Json:
    return {"value": None, "reason": reason}


def _skipped_stage(module: str, what: str) -> Json:
    if importlib.util.find_spec(module) is None:
        return _null(f"{module} does not exist yet")
    return _null(f"the default run does not drive {what}: bench.py --scale does")


# Anchors in their own environment --------------------------------------------------------

_CLKHASH_SCRIPT = r"""
import csv, json, resource, sys, time
from clkhash import clk
from clkhash.schema import from_json_dict
spec = json.loads(sys.argv[2])
with open(sys.argv[1], newline="") as f:
    rows = list(csv.reader(f))[1:]
schema = from_json_dict(spec)
t0 = time.perf_counter()
clks = clk.generate_clks(rows, schema, "bench-secret", validate=False)
seconds = time.perf_counter() - t0
print(json.dumps({"records": len(clks), "seconds": seconds,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

_ANONLINK_SCRIPT = r"""
import json, resource, sys, time
import numpy as np
from bitarray import bitarray
from anonlink.similarities import dice_coefficient_accelerated
def load(path):
    out = []
    for row in np.load(path):
        b = bitarray(endian="big"); b.frombytes(row.tobytes()); out.append(b)
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
t0 = time.perf_counter()
scores, (ia, ib) = dice_coefficient_accelerated((a, b), float(sys.argv[3]), None)
seconds = time.perf_counter() - t0
print(json.dumps({"comparisons": len(a) * len(b), "seconds": seconds, "pairs_found": len(scores),
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _clkhash_schema() -> Json:
    from linkage.encode import DEFAULT_BLOOM_SCHEMA

    features: list[Json] = [{"identifier": "rid", "ignored": True}]
    for field in DEFAULT_BLOOM_SCHEMA.fields:
        features.append(
            {
                "identifier": field.name,
                "format": {"type": "string", "encoding": "utf-8"},
                "hashing": {
                    "comparison": {"type": "ngram", "n": field.q, "positional": field.positional},
                    "strategy": {"bitsPerToken": field.bits},
                    "hash": {"type": "blakeHash"},
                },
            }
        )
    return {
        "version": 3,
        "clkConfig": {
            "l": DEFAULT_BLOOM_SCHEMA.length,
            "kdf": {"type": "HKDF", "hash": "SHA256", "keySize": 64},
        },
        "features": features,
    }


def _bench_python(venv: Path) -> tuple[str | None, str | None]:
    """The anchor venv's python, building it on first use; (python, why not)."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import clkhash, anonlink"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return str(python), None
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *ANCHOR_PACKAGES],
            check=True,
            capture_output=True,
            timeout=900,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        return (
            None,
            f"could not install {' '.join(ANCHOR_PACKAGES)} into {venv}: {type(exc).__name__}",
        )
    return str(python), None


def _anchor_clkhash(python: str, work: Path) -> Json:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    tables = [pq.read_table(work / f"norm_{side}.parquet") for side in ("campaign", "provider")]
    both = pa.concat_tables([t.select(list(CLK_FIELDS)) for t in tables])
    limit = _config(work).get("anchor_rows")
    if limit is not None:  # clkhash is slow: a sample gives its rate
        both = both.slice(0, int(limit))
    columns = {"rid": pa.array(range(both.num_rows), pa.int64())}
    for name in CLK_FIELDS:
        columns[name] = pc.fill_null(both[name], "")
    csv_path = work / "clkhash_input.csv"
    pacsv.write_csv(pa.table(columns), csv_path)
    out = _run_child(["-c", _CLKHASH_SCRIPT, str(csv_path), json.dumps(_clkhash_schema())], python)
    rec = _record(out["records"], "records", out["seconds"], round(out["peak_rss_mib"], 1), {})
    rec["processes"] = os.cpu_count()
    return rec


def _anchor_anonlink(python: str, work: Path) -> Json:
    import numpy as np

    a, b = _dice_sides(work)
    np.save(work / "dice_a.npy", a)
    np.save(work / "dice_b.npy", b)
    argv = [
        "-c",
        _ANONLINK_SCRIPT,
        str(work / "dice_a.npy"),
        str(work / "dice_b.npy"),
        str(DICE_THRESHOLD),
    ]
    out = _run_child(argv, python)
    extra = {"pairs_found": out["pairs_found"], "threshold": DICE_THRESHOLD, "threads": 1}
    return _record(
        out["comparisons"], "comparisons", out["seconds"], round(out["peak_rss_mib"], 1), extra
    )


# Ratios ---------------------------------------------------------------------------------


def _value(entry: Json | None) -> Json | None:
    if entry is None or entry.get("value", True) is None:
        return None
    return entry


def _ratio(ours: Json | None, theirs: Json | None, *, throughput: bool, label: str) -> Json:
    """``{"value": ours/theirs or None, "basis": ..., "reason": ... when None}``."""
    a, b = _value(ours), _value(theirs)
    basis = "throughput (higher is better)" if throughput else "time (lower is better)"
    if a is None or b is None:
        missing, entry = (label, theirs) if b is None else ("our stage", ours)
        return {
            "value": None,
            "basis": basis,
            "reason": f"{missing}: {(entry or {}).get('reason')}",
        }
    value = a["per_second"] / b["per_second"] if throughput else a["seconds"] / b["seconds"]
    return {"value": round(value, 3), "basis": basis}


def run_bench(args: argparse.Namespace) -> Json:
    """Driver side: run every stage and anchor, return the report."""
    voters, days, dice_rows = (
        (3_000, 2, 1_000) if args.quick else (args.voters, args.days, args.dice_rows)
    )
    stages: dict[str, Json | None] = {}
    anchors: dict[str, Json | None] = {}
    with tempfile.TemporaryDirectory(prefix="narwhal-bench-") as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        config = {
            "voters": voters,
            "days": days,
            "dice_rows": dice_rows,
            "engine": args.engine,
            "duckdb_memory": args.duckdb_memory,
            "anchor_memory": args.anchor_memory,
        }
        (work / "config.json").write_text(json.dumps(config))
        for name in ("synth", "tokenize", "encode", "dice", "link_exact"):
            stages[name] = _stage(name, work)
        stages["link_fuzzy"] = _skipped_stage("linkage.match", "the fuzzy stage")
        stages["aggregate"] = _stage("aggregate", work)
        stages["weekly_refresh"] = _stage("weekly_refresh", work)
        stages["plan"] = _skipped_stage("linkage.plan", "the plan stage")
        anchors["duckdb_token_join"] = _stage("anchor_duckdb_join", work)
        anchors["duckdb_join_count_distinct"] = _stage("anchor_duckdb_aggregate", work)
        if args.no_anchors:
            anchors["clkhash_encode"] = _null("--no-anchors")
            anchors["anonlink_dice"] = _null("--no-anchors")
        else:
            python, why = _bench_python(Path(args.bench_venv))
            if python is None:
                anchors["clkhash_encode"] = _null(why or "anchor venv unavailable")
                anchors["anonlink_dice"] = _null(why or "anchor venv unavailable")
            else:
                for label, measure in (
                    ("clkhash_encode", _anchor_clkhash),
                    ("anonlink_dice", _anchor_anonlink),
                ):
                    try:
                        anchors[label] = measure(python, work)
                    except RuntimeError as exc:
                        anchors[label] = _null(str(exc))
    detail = {
        "encode_vs_clkhash": _ratio(
            stages["encode"], anchors["clkhash_encode"], throughput=True, label="clkhash"
        ),
        "dice_vs_anonlink": {
            **_ratio(stages["dice"], anchors["anonlink_dice"], throughput=True, label="anonlink"),
            "like_for_like": (
                f"the same {dice_rows} x {dice_rows} CLK rows (1024-bit, uint8 vs bitarray), "
                f"all-pairs at threshold {DICE_THRESHOLD}, the same pairs found, one thread "
                "each (anonlink's C++ loop is single-threaded; ours is pinned to one)"
            ),
        },
        "link_vs_duckdb_join": {
            **_ratio(
                stages["link_exact"],
                anchors["duckdb_token_join"],
                throughput=False,
                label="duckdb join",
            ),
            "like_for_like": (
                "the same token files (every row), the same match-key columns, DuckDB with "
                "DuckDBEngine's memory limit and thread count; ours also scores, resolves "
                "and counts candidate pairs, the anchor only materialises the join pairs"
            ),
        },
        "aggregate_vs_duckdb_query": _ratio(
            stages["aggregate"],
            anchors["duckdb_join_count_distinct"],
            throughput=False,
            label="duckdb query",
        ),
    }
    detail["aggregate_vs_duckdb_query"]["note"] = _AGGREGATE_NOTE
    return {
        "bench": "narwhal",
        "command": " ".join(["python", "scripts/bench.py", *sys.argv[1:]]),
        "config": {**config, "quick": args.quick, "seed": SEED},
        "machine": _machine(),
        "method": (
            "each stage in its own subprocess; seconds = perf_counter around the core call "
            "(I/O excluded); peak_rss_mib = that process's ru_maxrss (interpreter, imports and "
            "inputs included)"
        ),
        "stages": stages,
        "anchors": anchors,
        "ratios": {name: entry["value"] for name, entry in detail.items()},
        "ratio_notes": detail,
    }


# The growth run (--scale) ----------------------------------------------------------------

# (reported name, child stage) in the order they run; each reads what the ones
# before it wrote into the size's work directory.
SCALE_STAGES: tuple[tuple[str, str], ...] = (
    ("synth", "synth"),
    ("tokenize", "tokenize_payloads"),
    ("weekly_refresh", "weekly_refresh"),
    ("encode", "encode"),
    ("dice", "dice_vectors"),
    ("link_exact", "link_exact"),
    ("link_fuzzy", "link_fuzzy"),
    ("aggregate", "aggregate"),
    ("release", "release"),
    ("plan", "plan"),
    ("report", "report"),
)

_SCALE_ANCHORS = {
    "encode": "clkhash CLK encoding (build/bench-venv) of the same normalised fields, "
    "timed on the first --anchor-rows records and scaled to ours by record count",
    "dice": "anonlink dice_coefficient_accelerated all-pairs on --dice-rows x --dice-rows "
    "CLKs; the ratio compares our all-pairs kernel on the same rows (kernel_seconds), "
    "one thread each; seconds is the comparison vectors over every candidate pair",
    "link_exact": "bare DuckDB equi-joins on the same match-key columns",
    "aggregate": "one hand-written DuckDB query (AQH credited households per cell)",
}


def _stage_in_process(name: str, work: Path) -> Json:
    try:
        count, unit, seconds, extra = STAGES[name](work)
    # A bench reports every failure in its JSON and goes on with the next stage.
    except Exception as exc:
        raise RuntimeError(f"{name}: {type(exc).__name__}: {exc}") from exc
    return _record(count, unit, seconds, _peak_rss_mib(), extra)


def _attempt(measure: Callable[[], Json]) -> Json:
    """``measure()``, or ``{"error": ...}`` when it fails: one stage never aborts the run."""
    try:
        return measure()
    except RuntimeError as exc:
        return {"error": str(exc)}


def _anchor_seconds(name: str, ours: Json, anchor: Json) -> tuple[float | None, float | None]:
    """(anchor seconds like for like with ours, ours / anchor as time)."""
    seconds = anchor.get("seconds")
    if "error" in ours or seconds is None or seconds <= 0:
        return None, None
    if name == "encode":  # the sample's rate, applied to our record count
        seconds = seconds * ours["records"] / anchor["records"]
        return round(seconds, 4), round(ours["seconds"] / seconds, 4)
    if name == "dice":  # the all-pairs kernel against anonlink on the same rows
        return round(seconds, 4), round(ours["kernel_seconds"] / seconds, 4)
    return round(seconds, 4), round(ours["seconds"] / seconds, 4)


def _scale_anchor(name: str, work: Path, run: Callable[[str, Path], Json], python: Json) -> Json:
    """The anchor of one stage at one size, or a reason it has none."""
    if name == "link_exact":
        return _attempt(functools.partial(run, "anchor_duckdb_join", work))
    if name == "aggregate":
        return _attempt(functools.partial(run, "anchor_duckdb_aggregate", work))
    if name in ("encode", "dice"):
        if python.get("python") is None:
            return {"error": python.get("reason", "anchor environment unavailable")}
        measure = _anchor_clkhash if name == "encode" else _anchor_anonlink
        return _attempt(functools.partial(measure, python["python"], work))
    return {"error": "no like-for-like anchor"}


def _scale_config(voters: object, args: argparse.Namespace) -> Json:
    """The settings every stage of a ``--scale`` size reads (and the JSON repeats)."""
    return {
        "voters": voters,
        "days": args.days,
        "dice_rows": args.dice_rows,
        "engine": args.engine,
        "duckdb_memory": args.duckdb_memory,
        "anchor_memory": args.anchor_memory,
        "anchor_rows": args.anchor_rows,
        "schema": None if args.schema is None else str(Path(args.schema).resolve()),
    }


def _size_report(voters: int, work: Path, args: argparse.Namespace, python: Json) -> Json:
    run = _stage_in_process if args.in_process else _stage
    config = _scale_config(voters, args)
    work.mkdir(parents=True, exist_ok=True)
    (work / "config.json").write_text(json.dumps(config))
    stages: Json = {}
    for name, child in SCALE_STAGES:
        _progress(f"{voters:,} voters: {name}")
        ours = _attempt(functools.partial(run, child, work))
        anchor = _scale_anchor(name, work, run, python) if name in _SCALE_ANCHORS else None
        anchor_seconds, ratio = (
            (None, None) if anchor is None else _anchor_seconds(name, ours, anchor)
        )
        entry: Json = {
            "seconds": ours.get("seconds"),
            "anchor_seconds": anchor_seconds,
            "ratio": ratio,
            **({"error": ours["error"]} if "error" in ours else {"detail": ours}),
        }
        if anchor is not None:
            entry["anchor"] = anchor
            entry["anchor_is"] = _SCALE_ANCHORS[name]
        stages[name] = entry
        _progress(f"{voters:,} voters: {name} {_brief(entry)}")
    return {"config": config, "stages": stages}


def _brief(entry: Json) -> str:
    if "error" in entry:
        return f"failed: {entry['error'][:200]}"
    ratio = "" if entry["ratio"] is None else f" (ratio {entry['ratio']})"
    return f"{entry['seconds']} s{ratio}"


def _progress(line: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def growth_exponents(sizes: Json) -> Json:
    """log(t2 / t1) / log(n2 / n1) of every stage between consecutive sizes (voters)."""
    ns = sorted(int(n) for n in sizes)
    out: Json = {}
    for n1, n2 in itertools.pairwise(ns):
        pair: Json = {}
        for name, _ in SCALE_STAGES:
            t1 = sizes[str(n1)]["stages"].get(name, {}).get("seconds")
            t2 = sizes[str(n2)]["stages"].get(name, {}).get("seconds")
            pair[name] = round(math.log(t2 / t1) / math.log(n2 / n1), 3) if t1 and t2 else None
        out[f"{n1}->{n2}"] = pair
    return out


def run_scale(args: argparse.Namespace) -> Json:
    """Driver side of ``--scale``: every stage and its anchor at each size, and the growth."""
    voters = sorted({int(v) for v in args.scale.split(",") if v.strip()})
    if not voters or voters[0] < 1:
        raise SystemExit("--scale needs voter counts, e.g. 100000,1000000")
    python: Json = {"python": None, "reason": "--no-anchors"}
    if not args.no_anchors:
        _progress("anchor environment (clkhash, anonlink)")
        found, why = _bench_python(Path(args.bench_venv))
        python = {"python": found, "reason": why}
    sizes: Json = {}
    with tempfile.TemporaryDirectory(prefix="narwhal-bench-") as tmp:
        root = Path(args.work) if args.work else Path(tmp)
        for n in voters:
            sizes[str(n)] = _size_report(n, root / f"voters-{n}", args, python)
    return {
        "bench": "narwhal",
        "mode": "scale",
        "command": " ".join(["python", "scripts/bench.py", *sys.argv[1:]]),
        "config": {**_scale_config(voters, args), "seed": SEED, "in_process": args.in_process},
        "machine": _machine(),
        "method": (
            "per size, each stage in its own subprocess (--in-process: in the driver); "
            "seconds = perf_counter around the core call (I/O excluded); anchor_seconds = "
            "the like-for-like anchor; ratio = ours / anchor as time (lower is better); "
            "growth = log(t2/t1) / log(n2/n1) between consecutive voter counts"
        ),
        "sizes": sizes,
        "growth": growth_exponents(sizes),
    }


def _machine() -> Json:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="CI-sized run (3k voters, 2 days)")
    parser.add_argument("--voters", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument(
        "--dice-rows", type=int, default=5_000, help="rows per side in the Dice all-pairs"
    )
    parser.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb")
    parser.add_argument("--no-anchors", action="store_true", help="skip clkhash and anonlink")
    parser.add_argument(
        "--bench-venv", default=str(BENCH_VENV), help="where the anchors are installed"
    )
    parser.add_argument(
        "--work", help="keep intermediate files here (default: a temporary directory)"
    )
    parser.add_argument(
        "--scale",
        help="comma-separated voter counts, e.g. 100000,1000000: every stage and its anchor "
        "at each size, and each stage's growth exponent between sizes",
    )
    parser.add_argument(
        "--duckdb-memory",
        # What make_engine would pick for a party.
        default=os.environ.get("NARWHAL_DUCKDB_MEMORY", _LINK_DUCKDB_MEMORY),
        help="our DuckDB stages' memory limit (default: $NARWHAL_DUCKDB_MEMORY or 1GB)",
    )
    parser.add_argument(
        "--anchor-memory",
        default=_ANCHOR_MEMORY,
        help="the bare DuckDB anchors' memory limit (they also spill to the work directory)",
    )
    parser.add_argument(
        "--anchor-rows",
        type=int,
        default=200_000,
        help="records clkhash encodes for its rate (--scale only; ours encodes every record)",
    )
    parser.add_argument(
        "--schema",
        help="a linkage schema TOML for tokenize, Dice and link (--scale only; default: shipped)",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the stages in this process (fast; peak RSS is then cumulative)",
    )
    parser.add_argument("--stage", choices=sorted(STAGES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:
        if not args.work:
            parser.error("--stage needs --work")
        run_stage_here(args.stage, Path(args.work))
        return 0
    report = run_scale(args) if args.scale else run_bench(args)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
