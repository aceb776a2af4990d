"""Per-executor throughput of the Spark jobs on a local standalone cluster (prints JSON).

Starts a Spark standalone master and workers from pyspark's own scripts
(``$SPARK_HOME/sbin/spark-daemon.sh``, the script ``start-master.sh`` and
``start-worker.sh`` call; the pip package ships the daemon script, not those
two wrappers), each worker with one core, and measures on a seeded world:

* tokenize (:func:`linkage.spark_jobs.tokenize_parquet`): voter records per second;
* Dice and comparison vectors (:func:`linkage.spark_jobs.compare_pairs`):
  candidate pairs per second (blocking apart);
* the aggregate (:func:`linkage.measure.compute_viewership` on the Spark engine
  over the viewing Parquet): tuning events per second;

first with one worker, then with two, so the JSON shows per-executor rates
and how they add up. Every figure in docs/SCALE.md comes from this script:

    .venv/bin/python scripts/spark_throughput.py --voters 20000 --days 2

Each step is timed after a warm-up run of the same job on the same data
(the JVM, Python workers and the Dice kernel's compilation are paid once per
executor, not per record).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

_MASTER = "org.apache.spark.deploy.master.Master"
_WORKER = "org.apache.spark.deploy.worker.Worker"


def spark_home() -> Path:
    """The pyspark package directory: its ``bin``, ``sbin`` and ``jars`` are a Spark install."""
    import pyspark

    return Path(pyspark.__file__).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _alive_workers(ui_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as page:
            state: dict[str, Any] = json.load(page)
    except OSError:
        return -1
    return int(state.get("aliveworkers", 0))


@contextmanager
def standalone_cluster(
    root: Path,
    *,
    workers: int = 2,
    cores: int = 1,
    memory: str = "1g",
    secret: str | None = None,
    timeout: float = 90.0,
) -> Iterator[str]:
    """A master and ``workers`` workers on 127.0.0.1; yields the master URL; always stopped.

    Logs, pid files, worker directories and executors' local (shuffle and
    spill) directories all live under ``root``. With ``secret``, the daemons
    run with ``spark.authenticate`` and that shared secret, so only an
    application holding it can use the cluster.
    """
    daemon = spark_home() / "sbin" / "spark-daemon.sh"
    for sub in ("log", "pid", "work", "local"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(root / "log"),
        "SPARK_PID_DIR": str(root / "pid"),
        "SPARK_WORKER_DIR": str(root / "work"),
        "SPARK_LOCAL_DIRS": str(root / "local"),
        "SPARK_IDENT_STRING": f"narwhal{os.getpid()}",
    }
    if secret is not None:
        env["SPARK_DAEMON_JAVA_OPTS"] = (
            f"-Dspark.authenticate=true -Dspark.authenticate.secret={secret}"
        )
    port, ui_port = _free_port(), _free_port()
    url = f"spark://127.0.0.1:{port}"
    started: list[tuple[str, int]] = []

    def run(*args: str) -> None:
        subprocess.run([str(daemon), *args], env=env, check=True, capture_output=True)

    try:
        run("start", _MASTER, "1", "--host", "127.0.0.1", "--port", str(port),
            "--webui-port", str(ui_port))  # fmt: skip
        started.append((_MASTER, 1))
        for number in range(1, workers + 1):
            run("start", _WORKER, str(number), "--host", "127.0.0.1", "--cores", str(cores),
                "--memory", memory, "--webui-port", str(_free_port()), url)  # fmt: skip
            started.append((_WORKER, number))
        deadline = time.monotonic() + timeout
        while _alive_workers(ui_port) < workers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"standalone cluster not up within {timeout:.0f} s (see {root})")
            time.sleep(0.5)
        yield url
    finally:
        for name, number in reversed(started):
            subprocess.run(
                [str(daemon), "stop", name, str(number)], env=env, check=False, capture_output=True
            )


def cluster_conf(executor_memory: str = "512m", secret: str | None = None) -> dict[str, str]:
    """Settings of an application on the local cluster: small, encrypted, a low result cap."""
    conf = {
        "spark.executor.memory": executor_memory,
        "spark.executor.cores": "1",
        # A collect of any table that grows with the input fails instead of passing.
        "spark.driver.maxResultSize": "8m",
        # Shuffle and spill files hold plaintext tokens: encrypted at rest.
        "spark.io.encryption.enabled": "true",
    }
    if secret is not None:
        conf |= {
            "spark.authenticate": "true",
            "spark.authenticate.secret": secret,
            "spark.network.crypto.enabled": "true",
        }
    return conf


def _timed(job: Any) -> float:
    job()  # warm-up: JVM code paths, Python workers, compiled kernels
    start = time.perf_counter()
    job()
    return time.perf_counter() - start


def measure(
    url: str, scratch: Path, inputs: Mapping[str, Any], conf: Mapping[str, str]
) -> dict[str, float]:
    """Records/s tokenize, pairs/s compare, events/s aggregate on the cluster at ``url``."""
    from linkage.encode import shipped_schema
    from linkage.engine import SparkEngine
    from linkage.match.comparison import comparison_features
    from linkage.measure import compute_viewership
    from linkage.spark_jobs import block_pairs, compare_pairs, executor_keys, tokenize_parquet

    schema = shipped_schema()
    keys = executor_keys(schema, "a", inputs["key"])
    work = scratch / "jobs"
    with SparkEngine(
        master=url, shuffle_partitions=4, driver_memory="1g", scratch=str(scratch), conf=conf
    ) as engine:
        session = engine.session
        voters, payload_a, payload_b = inputs["voters"], inputs["a"], inputs["b"]
        tokenize = _timed(
            lambda: tokenize_parquet(
                session, str(voters), str(work / "tok"), schema, "a", keys, partitions=4
            )
        )
        passes = [c for c in pq.read_schema(payload_a).names if c.startswith("bk_")]
        pairs = block_pairs(session, str(payload_a), str(payload_b), passes, str(work / "pairs"))
        features = comparison_features(pq.read_schema(payload_a), pq.read_schema(payload_b))
        compare = _timed(
            lambda: compare_pairs(
                session,
                str(payload_a),
                str(payload_b),
                str(work / "pairs"),
                features,
                str(work / "cmp"),
            )
        )
        aggregate = _timed(
            lambda: compute_viewership(
                inputs["assignments"],
                inputs["viewing"],
                channels=inputs["channels"],
                engine=engine,
            )
        )
    return {
        "tokenize_records_per_s": inputs["records"] / tokenize,
        "compare_pairs_per_s": pairs / compare,
        "aggregate_events_per_s": inputs["events"] / aggregate,
        "tokenize_s": tokenize,
        "compare_s": compare,
        "aggregate_s": aggregate,
        "pairs": float(pairs),
    }


def _inputs(root: Path, voters: int, days: int, seed: int) -> dict[str, Any]:
    from linkage.encode import encode_side, shipped_schema
    from linkage.protocol import LinkageKey
    from linkage.synth import generate_world

    world = generate_world(voters=voters, days=days, seed=seed, start=date(2026, 10, 9))
    key = LinkageKey(exchange_id="throughput", _key=secrets.token_bytes(32))
    schema = shipped_schema()
    paths = {name: root / f"{name}.parquet" for name in ("voters", "a", "b", "viewing")}
    rows = 1 + voters // 8  # row groups for eight-way parallel reads
    pq.write_table(world.voters, paths["voters"], row_group_size=rows)
    pq.write_table(encode_side(world.voters, schema, "a", key), paths["a"], row_group_size=rows)
    pq.write_table(
        encode_side(world.subscribers, schema, "b", key), paths["b"], row_group_size=rows
    )
    pq.write_table(world.viewing, paths["viewing"], row_group_size=1 + world.viewing.num_rows // 8)
    joined = world.voter_household.join(world.voters.select(["voter_id", "party"]), "voter_id")
    assignments = pa.table({"household_id": joined["household_id"], "segment": joined["party"]})
    return {
        **paths,
        "key": key,
        "records": world.voters.num_rows,
        "events": world.viewing.num_rows,
        "assignments": assignments.group_by(["household_id", "segment"]).aggregate([]),
        "channels": world.channels["channel"].to_pylist(),
    }


NATION = {"voters": 200_000_000, "households": 30_000_000, "events": 1_000_000_000}
"""The national run docs/SCALE.md models: a voter file, a provider's households, a week's events."""


def nation(
    rates: Mapping[str, float],
    pairs_per_voter: float,
    executors: list[int],
    price_per_executor_hour: float,
) -> dict[str, Any]:
    """The national run's executor-hours, wall time on each N and cost, from per-executor rates.

    Assumes rates add up linearly over executors (the 1-worker and 2-worker
    runs show how far they do here), candidate pairs per voter as measured,
    and the price given (an assumption, not a quote).
    """
    work = {
        "tokenize_records": NATION["voters"] + NATION["households"],
        "compare_pairs": pairs_per_voter * NATION["voters"],
        "aggregate_events": NATION["events"],
    }
    hours = {
        "tokenize": work["tokenize_records"] / rates["tokenize_records_per_s"] / 3600.0,
        "compare": work["compare_pairs"] / rates["compare_pairs_per_s"] / 3600.0,
        "aggregate": work["aggregate_events"] / rates["aggregate_events_per_s"] / 3600.0,
    }
    total = sum(hours.values())
    return {
        "work": work,
        "executor_hours": hours,
        "executor_hours_total": total,
        "price_per_executor_hour_assumed": price_per_executor_hour,
        "cost_total": total * price_per_executor_hour,
        "wall_hours_on": {str(n): total / n for n in executors},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voters", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", default="1,2", help="Worker counts to run, e.g. 1,2.")
    parser.add_argument(
        "--executors", default="100,500", help="Executor counts the national model prices."
    )
    parser.add_argument(
        "--price",
        type=float,
        default=0.05,
        help="Assumed on-demand price of one executor (1 core, 4 GiB) per hour, in USD.",
    )
    args = parser.parse_args()
    # A plain kill must still stop the daemons (the cluster's finally block).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with tempfile.TemporaryDirectory(prefix="narwhal-throughput-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        inputs = _inputs(root, args.voters, args.days, args.seed)
        runs: dict[str, dict[str, float]] = {}
        for count in (int(n) for n in args.workers.split(",")):
            secret = secrets.token_hex(16)
            cluster_root = root / f"cluster{count}"
            with standalone_cluster(cluster_root, workers=count, secret=secret) as url:
                runs[str(count)] = measure(
                    url, cluster_root / "scratch", inputs, cluster_conf(secret=secret)
                )
        most = runs[max(runs, key=int)]
        workers = int(max(runs, key=int))
        per_executor = {
            name: most[name] / workers
            for name in ("tokenize_records_per_s", "compare_pairs_per_s", "aggregate_events_per_s")
        }
        result = {
            "voters": args.voters,
            "days": args.days,
            "seed": args.seed,
            "records": inputs["records"],
            "events": inputs["events"],
            "cores_on_host": os.cpu_count(),
            # Other work on the host skews every rate: report what it was.
            "load_average_1m_at_end": os.getloadavg()[0],
            "executor": {"cores": 1, "memory": "512m"},
            "workers": runs,
            "per_executor": per_executor,
            "nation": nation(
                per_executor,
                most["pairs"] / inputs["records"],
                [int(n) for n in args.executors.split(",")],
                args.price,
            ),
            "wall_s": time.perf_counter() - started,
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
