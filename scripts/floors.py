"""The physical floor of each exchange step on this machine, as one JSON object.

Usage::

    python scripts/floors.py                             # --rows 1000000
    python scripts/floors.py --quick                     # test-sized, a few seconds
    python scripts/floors.py --model-voters 8000000 --days 7

It measures the primitives the exchange cannot do without, each on one core
and on both (two processes side by side, or DuckDB with two threads):

* **HMAC-SHA256** calls per second on short messages
  (:func:`linkage.hazmat.hmac_sha256_many`, the primitive under match keys and
  blocking keys), on messages as long as the shipped recipe's;
* **CLK encodes** per second of the shipped schema's ``dice`` comparisons
  (:func:`linkage.encode.encode_records` on normalised synthetic voters);
* **Parquet write** of a token table shaped like the campaign payload (MB/s
  and rows/s, zstd as the payload is written);
* **seal** (:func:`linkage.protocol.seal_parquet`: allow-list check, SHA-256,
  AES-GCM and hash-then-sign), MB/s of payload;
* a bare **DuckDB** equi-join on 32-byte tokens and a bare aggregate of
  viewing-like events in the shape of ``bench.py``'s anchor (rows/s).

Rates are per CPU-second (a core that is ours) beside per wall-second (what
the shared machine gave); the floors use the former.

HMACs per record are counted, not guessed: the shipped schema's recipe
(:func:`linkage.encode.encode_side`) runs on a synthetic sample with its
HMAC calls counted. From the rates it derives each step's floor at
``--model-voters`` (e.g. tokenize = records x HMACs per record / HMAC rate on
both cores + records / CLK rate on both cores + bytes / write rate + bytes /
seal rate). Every assumption behind a floor is listed in ``assumptions``.
Normalising names and addresses is measured (``rates.normalize``) but left
out of the floor: it is this toolkit's Python, not a limit of the machine.

Progress goes to stderr; stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import linkage.encode.blocking_keys as blocking_keys_module
import linkage.encode.bloom as bloom_module
import linkage.encode.matchkeys as matchkeys_module
from linkage.encode import (
    DEFAULT_DUMMY_RATE,
    LinkageSchema,
    Side,
    encode_records,
    encode_side,
    normalize_side,
    shipped_schema,
)
from linkage.hazmat import hmac_sha256_many
from linkage.protocol import LinkageKey, agree_linkage_key, generate_identity, seal_parquet
from linkage.synth import generate_world

# Published 8M-voter run (README "State scale"): 2,311,140 subscriber households
# and 78,319,443 tuning events over 7 days for 8,000,000 voters.
HOUSEHOLDS_PER_VOTER: Final = 2_311_140 / 8_000_000
EVENTS_PER_VOTER_DAY: Final = 78_319_443 / 8_000_000 / 7
JOIN_KEYS: Final = 5
"""Exact-stage keys the matcher joins on (the shipped schema's ``mk_*``)."""


def _log(message: str) -> None:
    print(f"floors: {message}", file=sys.stderr, flush=True)


def _timed(work: Callable[[], object], units: int, seconds: float) -> dict[str, float]:
    """Units per CPU-second and per wall-second of ``work``, repeated for ``seconds``.

    One untimed call first (imports, caches, page faults); then, in a pool,
    every process waits at the barrier so that all of them are timed at once.
    CPU time (this process's, all its threads) is what a core delivers when
    it is ours; wall time also counts the other jobs of a shared machine.
    """
    work()
    if _BARRIER is not None:
        _BARRIER.wait(timeout=600)
    done, start, cpu = 0, time.perf_counter(), time.process_time()
    while True:
        work()
        done += units
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            used = max(time.process_time() - cpu, 1e-9)
            return {"cpu": done / used, "wall": done / elapsed}


_BARRIER: Any = None
"""Set in pool workers: the start line every worker of a measurement waits at."""


def _start_worker(barrier: Any) -> None:
    global _BARRIER  # a pool initializer can hand state to its worker only this way
    _BARRIER = barrier


# ----------------------------------------------------------------- the sample


def _exchange_key() -> LinkageKey:
    campaign = generate_identity("floors-campaign", "campaign")
    provider = generate_identity("floors-provider", "provider")
    return agree_linkage_key(campaign, provider.card(), "floors")


class _HmacCounter:
    """Counts the messages each HMAC primitive is given while active."""

    def __init__(self) -> None:
        self.counts = {"match_keys": 0, "blocking_keys": 0, "clk_grams": 0}
        self.lengths: list[int] = []

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        patched = [
            (matchkeys_module, "hmac_sha256_many", "match_keys"),
            (blocking_keys_module, "hmac_sha256_many", "blocking_keys"),
            (bloom_module, "_hmac_many", "clk_grams"),
        ]
        saved = [(module, name, getattr(module, name)) for module, name, _ in patched]
        for module, name, label in patched:
            setattr(module, name, self._counting(getattr(module, name), label))
        try:
            yield
        finally:
            for module, name, original in saved:
                setattr(module, name, original)

    def _counting(self, function: Callable[..., Any], label: str) -> Callable[..., Any]:
        @functools.wraps(function)
        def counted(key: bytes, messages: Sequence[bytes | None]) -> Any:
            present = [m for m in messages if m is not None]
            self.counts[label] += len(present)
            if label == "match_keys":
                self.lengths.extend(len(m) for m in present)
            return function(key, messages)

        return counted


def _recipe_counts(
    records: pa.Table, schema: LinkageSchema, side: Side, keys: LinkageKey
) -> tuple[dict[str, float], float, pa.Table]:
    """HMACs per record by family, the mean match-key message length, and the tokens."""
    counter = _HmacCounter()
    with counter.active():
        tokens = encode_side(records, schema, side, keys)
    rows = max(1, records.num_rows)
    per_record = {k: v / rows for k, v in counter.counts.items()}
    per_record["total"] = sum(counter.counts.values()) / rows
    mean_length = float(np.mean(counter.lengths)) if counter.lengths else 64.0
    return per_record, mean_length, tokens


# ------------------------------------------------------------- the primitives


def _hmac_rate(seconds: float, calls: int, length: int) -> dict[str, float]:
    messages: list[bytes | None] = [os.urandom(length) for _ in range(calls)]
    key = os.urandom(32)
    return _timed(lambda: hmac_sha256_many(key, messages), calls, seconds)


def _clk_rate(seconds: float, normalized_path: str) -> dict[str, float]:
    normalized = pq.read_table(normalized_path)
    schema, keys = shipped_schema(), _exchange_key()
    dice = [schema.bloom_schema(s) for s in schema.compare if s.method == "dice"]

    def encode() -> None:
        for bloom in dice:
            encode_records(normalized, bloom, keys)

    return _timed(encode, normalized.num_rows, seconds)


def _normalize_rate(seconds: float, voters_path: str) -> dict[str, float]:
    voters = pq.read_table(voters_path)
    schema = shipped_schema()
    return _timed(lambda: normalize_side(voters, schema, "a"), voters.num_rows, seconds)


def token_table(like: pa.Table, rows: int, seed: int = 0) -> pa.Table:
    """``rows`` random rows with ``like``'s token columns and null rates, and a ``rid``.

    Tokens are uniformly random bytes, as keyed tokens are to anyone without
    the key, so compression and dictionary encoding gain what they would on
    the real payload.
    """
    rng = np.random.default_rng(seed)
    rids = [f"r{value:024x}" for value in rng.integers(0, 2**62, rows, dtype=np.int64)]
    columns: dict[str, pa.Array] = {"rid": pa.array(rids, pa.string())}
    for name in like.column_names:
        kind = like.schema.field(name).type
        width = kind.byte_width
        data = pa.py_buffer(rng.bytes(width * rows))
        null_rate = like.column(name).null_count / max(1, like.num_rows)
        valid = rng.random(rows) >= null_rate
        mask = pa.array(valid).buffers()[1] if null_rate else None
        nulls = int((~valid).sum()) if null_rate else 0
        columns[name] = pa.FixedSizeBinaryArray.from_buffers(kind, rows, [mask, data], nulls)
    return pa.table(columns)


def _write_rate(seconds: float, like_path: str, rows: int, scratch: str) -> dict[str, float]:
    """Rows per second of writing a ``rows``-row token table as zstd Parquet, and its row size."""
    table = token_table(pq.read_table(like_path), rows, seed=os.getpid())
    target = Path(scratch) / f"write-{os.getpid()}.parquet"

    def write() -> None:
        pq.write_table(table, target, compression="zstd")

    rate = _timed(write, rows, seconds)
    rate["bytes_per_row"] = target.stat().st_size / rows
    target.unlink()
    return rate


def _seal_rate(seconds: float, payload_path: str, scratch: str) -> dict[str, float]:
    """MB/s of payload sealed (allow-list check, SHA-256, AES-GCM, Ed25519 over SHA-512)."""
    sender = generate_identity("floors-campaign", "campaign")
    recipient = generate_identity("floors-matcher", "matcher").card()
    size = Path(payload_path).stat().st_size
    target = Path(scratch) / f"sealed-{os.getpid()}.nwl"

    def seal() -> None:
        with Path(payload_path).open("rb") as src, target.open("wb") as dst:
            seal_parquet(
                src,
                dst,
                kind="campaign-tokens",
                exchange_id="floors",
                sender=sender,
                recipient=recipient,
            )

    rate = {k: v / 1e6 for k, v in _timed(seal, size, seconds).items()}
    target.unlink()
    return rate


def _measure(job: tuple[str, tuple[Any, ...]]) -> dict[str, float]:
    """One measurement by name (the unit a worker process runs)."""
    name, args = job
    if name == "hmac":
        return _hmac_rate(*args)
    if name == "clk":
        return _clk_rate(*args)
    if name == "normalize":
        return _normalize_rate(*args)
    if name == "write":
        return _write_rate(*args)
    if name == "seal":
        return _seal_rate(*args)
    raise ValueError(f"unknown measurement {name}")


def _rates(job: tuple[str, tuple[Any, ...]], pool: Any, cores: int) -> dict[str, float]:
    """``job`` on one core (this process), then in ``cores`` pool processes at once.

    ``per_core`` and ``all_cores`` are per CPU-second (summed over the
    processes); the ``wall_`` figures are per second of wall time.
    """
    single = _measure(job)
    together: list[dict[str, float]] = (
        pool.map(_measure, [job] * cores) if pool is not None else [single]
    )
    rates = {
        "per_core": single["cpu"],
        "all_cores": float(sum(r["cpu"] for r in together)),
        "wall_per_core": single["wall"],
        "wall_all_cores": float(sum(r["wall"] for r in together)),
    }
    if "bytes_per_row" in single:
        # Parquet: rows/s above; the same in MB/s of file written.
        for name in list(rates):
            rates[f"{name}_mb_s"] = rates[name] * single["bytes_per_row"] / 1e6
    return rates


def _duckdb_rates(rows: int, threads: int, seconds: float) -> dict[str, float]:
    """Bare DuckDB join and aggregate, rows per second (input rows of both sides)."""
    connection = duckdb.connect(config={"threads": threads})
    try:
        connection.execute(
            "CREATE TABLE a AS SELECT sha256(i::VARCHAR)::BLOB AS t FROM range(?) r(i)", [rows]
        )
        connection.execute(
            "CREATE TABLE b AS SELECT sha256((i * 2)::VARCHAR)::BLOB AS t FROM range(?) r(i)",
            [rows],
        )
        connection.execute(
            "CREATE TABLE ev AS SELECT (i * 7919) % ? AS hh, i % 120 AS channel, "
            "TIMESTAMP '2026-10-05' + to_seconds((i * 104729) % 604800) AS start, "
            "60 + (i % 3600) AS secs FROM range(?) r(i)",
            [max(1, rows // 10), rows],
        )
        connection.execute(
            "CREATE TABLE seg AS SELECT i AS hh, (i % 8)::VARCHAR AS segment FROM range(?) r(i)",
            [max(1, rows // 10)],
        )

        def join() -> None:
            connection.execute("SELECT count(*) FROM a JOIN b USING (t)").fetchall()

        def aggregate() -> None:
            # The shape of bench.py's aggregate anchor: every event cut into
            # the quarter-hours it touches, a household credited with a
            # quarter-hour of a channel at 300 s, then counted per segment.
            connection.execute(
                "WITH e AS (SELECT hh, channel, epoch(start)::BIGINT AS s, "
                "epoch(start)::BIGINT + secs AS f FROM ev), "
                "q AS (SELECT hh, channel, slot FROM (SELECT *, "
                "UNNEST(range(s // 900, (f - 1) // 900 + 1)) AS slot FROM e) "
                "GROUP BY hh, channel, slot "
                "HAVING sum(least(f, (slot + 1) * 900) - greatest(s, slot * 900)) >= 300) "
                "SELECT segment, channel, slot % 96 AS qh, count(DISTINCT q.hh), count(*) "
                "FROM q JOIN seg USING (hh) GROUP BY ALL"
            ).fetchall()

        join_rate = _timed(join, 2 * rows, seconds)
        aggregate_rate = _timed(aggregate, rows, seconds)
        # Per CPU-second of all threads: times the threads, the rate when
        # each has a core of its own.
        return {
            "join_rows_s": join_rate["cpu"] * threads,
            "aggregate_rows_s": aggregate_rate["cpu"] * threads,
            "wall_join_rows_s": join_rate["wall"],
            "wall_aggregate_rows_s": aggregate_rate["wall"],
        }
    finally:
        connection.close()


# ------------------------------------------------------------------- the model


def _floors(
    config: argparse.Namespace,
    rates: dict[str, dict[str, float]],
    hmacs: dict[str, dict[str, float]],
    bytes_per_record: dict[str, float],
) -> dict[str, dict[str, Any]]:
    voters = config.model_voters
    dummies = 1 + DEFAULT_DUMMY_RATE
    campaign = voters * dummies
    provider = voters * HOUSEHOLDS_PER_VOTER * dummies
    events = voters * EVENTS_PER_VOTER_DAY * config.days
    hmac_rate = rates["hmac"]["all_cores"]
    clk_rate = rates["clk"]["all_cores"]
    write_rate = rates["parquet_write"]["per_core_mb_s"] * 1e6
    seal_rate = rates["seal"]["per_core"] * 1e6
    duck = rates["duckdb"]

    def tokenize(records: float, side: str) -> dict[str, Any]:
        payload = records * bytes_per_record[side]
        parts = {
            "hmac": records * hmacs[side]["match_keys"] / hmac_rate
            + records * hmacs[side]["blocking_keys"] / hmac_rate,
            "clk": records / clk_rate,
            "parquet_write": payload / write_rate,
            "seal": payload / seal_rate,
        }
        return {"records": records, "payload_bytes": payload, "components": parts}

    payload_bytes = campaign * bytes_per_record["a"] + provider * bytes_per_record["b"]
    steps: dict[str, dict[str, Any]] = {
        "campaign_tokenize": tokenize(campaign, "a"),
        "provider_tokenize": tokenize(provider, "b"),
        "link": {
            "records": campaign + provider,
            "components": {
                "open": payload_bytes / seal_rate,
                "join": JOIN_KEYS * (campaign + provider) / duck["join_rows_s_all_cores"],
            },
        },
        "aggregate": {
            "events": events,
            "components": {"aggregate": events / duck["aggregate_rows_s_all_cores"]},
        },
    }
    for step in steps.values():
        step["seconds"] = sum(step["components"].values())
    steps["exchange"] = {"seconds": sum(s["seconds"] for s in steps.values())}
    return steps


def assumptions(config: argparse.Namespace) -> list[str]:
    """What the floors take for granted, in words (printed with them)."""
    return [
        f"records = voters x (1 + dummy rate {DEFAULT_DUMMY_RATE}) on each side "
        "(the default dummy records)",
        f"provider households = voters x {HOUSEHOLDS_PER_VOTER:.4f} and tuning events = voters "
        f"x {EVENTS_PER_VOTER_DAY:.3f} per day x {config.days} days, the ratios of the "
        "published 8M-voter world",
        "HMACs per record were counted on a synthetic sample of "
        f"{config.sample} voters; blocking-key and CLK-gram HMACs run once per distinct "
        "value, so a larger file needs fewer per record and the floor is conservative",
        "HMAC and CLK work splits evenly over all cores (rates measured on all cores at "
        "once); Parquet writing and sealing are one stream each (one-core rates)",
        "every floor uses rates per CPU-second (a core that is ours); the wall_ rates beside "
        "them are what the shared machine gave while it was measured. DuckDB's all_cores "
        "rates are its rate per CPU-second of all threads times the threads",
        "the payload is written once and sealed once (no shuffle pass) and opened at the "
        "sealing rate",
        "CLK cost is encode_records' own rate on the sample (its gram HMACs included), "
        "so clk_grams HMACs are not counted again",
        f"link = opening both payloads + {JOIN_KEYS} equi-joins of every record on 32-byte "
        "tokens at the bare DuckDB join rate; blocking, Dice and resolution are left out",
        "aggregate = every tuning event through bench.py's bare DuckDB anchor shape (cut "
        "into quarter-hours, credited at 300 s, joined to segments, counted per segment, "
        "channel and quarter-hour) on synthetic events of 1 to 61 minutes; the release's "
        "other grains, tiers, reach, overlap merging and noise are left out",
        "normalising names and addresses is not a physical limit and is not in any floor "
        "(its measured rate is in rates.normalize)",
        "payload bytes per record are measured on random tokens with the sample's columns "
        "and null rates, zstd-compressed as the payload is written",
        "rates were measured on a shared machine; the load average is in machine.loadavg",
    ]


def run(config: argparse.Namespace) -> dict[str, Any]:
    """Measure, model and return the report."""
    cores = max(1, len(os.sched_getaffinity(0)))
    keys = _exchange_key()
    schema = shipped_schema()
    _log(f"drawing a {config.sample}-voter sample world")
    world = generate_world(voters=config.sample, days=1, seed=config.seed)
    voters = world.voters
    subscribers = world.subscribers
    with tempfile.TemporaryDirectory(prefix="floors-") as scratch:
        hmacs: dict[str, dict[str, float]] = {}
        lengths: list[float] = []
        tokens: dict[str, pa.Table] = {}
        for side in ("a", "b"):
            table = voters if side == "a" else subscribers
            hmacs[side], length, tokens[side] = _recipe_counts(table, schema, side, keys)
            lengths.append(length)
        paths = {
            "voters": str(Path(scratch) / "voters.parquet"),
            "normalized": str(Path(scratch) / "normalized.parquet"),
            "tokens": str(Path(scratch) / "tokens.parquet"),
            "payload": str(Path(scratch) / "payload.parquet"),
        }
        pq.write_table(voters, paths["voters"])
        pq.write_table(normalize_side(voters, schema, "a"), paths["normalized"])
        pq.write_table(tokens["a"], paths["tokens"])
        bytes_per_record: dict[str, float] = {}
        for side in ("a", "b"):
            sample = token_table(tokens[side], config.rows, seed=1)
            target = Path(scratch) / f"payload-{side}.parquet"
            pq.write_table(sample, target, compression="zstd")
            bytes_per_record[side] = target.stat().st_size / config.rows
        (Path(scratch) / "payload-a.parquet").replace(paths["payload"])
        rates: dict[str, dict[str, float]] = {}
        length = max(1, round(float(np.mean(lengths))))
        jobs = {
            "hmac": ("hmac", (config.seconds, config.rows, length)),
            "clk": ("clk", (config.seconds, paths["normalized"])),
            "normalize": ("normalize", (config.seconds, paths["voters"])),
            "parquet_write": ("write", (config.seconds, paths["tokens"], config.rows, scratch)),
            "seal": ("seal", (config.seconds, paths["payload"], scratch)),
        }
        context = multiprocessing.get_context("spawn")
        with contextlib.ExitStack() as stack:
            pool = None
            if cores > 1:
                barrier = context.Barrier(cores)
                pool = stack.enter_context(
                    context.Pool(cores, initializer=_start_worker, initargs=(barrier,))
                )
            for name, job in jobs.items():
                _log(f"{name} on one core, then on {cores}")
                rates[name] = _rates(job, pool, cores)
        _log("DuckDB join and aggregate")
        one = _duckdb_rates(config.rows, 1, config.seconds)
        every = _duckdb_rates(config.rows, cores, config.seconds)
        rates["duckdb"] = {
            f"{name}_{where}": figures[name]
            for where, figures in (("per_core", one), ("all_cores", every))
            for name in figures
        }
    return {
        "config": {
            "rows": config.rows,
            "sample": config.sample,
            "model_voters": config.model_voters,
            "days": config.days,
            "seconds": config.seconds,
            "quick": config.quick,
        },
        "machine": {"cores": cores, "loadavg": list(os.getloadavg())},
        "rates": rates,
        "recipe": {
            "hmacs_per_record": {"campaign": hmacs["a"], "provider": hmacs["b"]},
            "match_key_message_bytes": length,
            "payload_bytes_per_record": {
                "campaign": bytes_per_record["a"],
                "provider": bytes_per_record["b"],
            },
        },
        "floors": _floors(config, rates, hmacs, bytes_per_record),
        "assumptions": assumptions(config),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per measurement")
    parser.add_argument("--sample", type=int, default=100_000, help="voters in the sample world")
    parser.add_argument("--model-voters", type=int, default=8_000_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0, help="how long each rate is timed")
    parser.add_argument(
        "--quick", action="store_true", help="test-sized: 5k rows, 500 voters, 0.05 s per rate"
    )
    config = parser.parse_args(argv)
    if config.quick:
        config.rows, config.sample, config.seconds = 5_000, 500, 0.05
    if min(config.rows, config.sample, config.model_voters, config.days) < 1:
        parser.error("--rows, --sample, --model-voters and --days must be at least 1")
    if not config.seconds > 0:
        parser.error("--seconds must be positive")
    return config


def main(argv: Sequence[str] | None = None) -> int:
    """Print the floors JSON; 0 on success."""
    report = run(parse_args(argv))
    finite = all(
        math.isfinite(step["seconds"]) and step["seconds"] > 0 for step in report["floors"].values()
    )
    print(json.dumps(report, indent=2))
    return 0 if finite else 1


if __name__ == "__main__":
    raise SystemExit(main())
