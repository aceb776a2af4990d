"""The whole exchange at state scale, timed and memory-measured step by step, as one JSON object.

Usage::

    python scripts/state_scale.py --voters 8000000 --days 7 --out build/state_scale
    python scripts/state_scale.py --voters 1000000 --days 7    # a smaller rehearsal

Runs exactly the steps of ``narwhal demo`` (:func:`parties.demo.demo_steps`):
``narwhal synth`` (streamed chunk by chunk), then the three parties' init and
trust, campaign and provider tokenize (on every CPU), matcher link, provider
aggregate, campaign plan and campaign report, each as its own ``python -m
parties.cli`` process, with the courier's message deliveries in between.

Per step it records:

* ``seconds``: wall time of the process (start to exit),
* ``max_rss_mib``: the largest resident set of any single process of the
  step (``os.wait4`` rusage ``ru_maxrss``; covers worker processes too),
* ``tree_rss_mib``: the largest *sum* of resident sets of the step's process
  tree, sampled from ``/proc`` every 0.2 s (what the machine must hold at
  once when tokenize runs two workers; sampling can miss a short spike).

``peak_rss_mib`` is the largest ``tree_rss_mib`` (or ``max_rss_mib``, if
larger) over all steps: the memory the machine needs for the exchange.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq

from parties.common import deliver
from parties.demo import Step, demo_steps, prepare

_SAMPLE_S = 0.2
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            out += [int(p) for p in (task / "children").read_text(encoding="ascii").split()]
    except OSError:  # the process exited between listing and reading
        pass
    return out


def _rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text(encoding="ascii").split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants, now."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += _rss_bytes(p)
        todo += _children(p)
    return total


class _Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak = pid, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self.done.wait(_SAMPLE_S)


def run_step(step: Step) -> dict[str, object]:
    """Run one party command as its own process; measure wall time and memory."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "parties.cli", *step.args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sampler = _Sampler(proc.pid)
    sampler.start()
    # communicate() drains the pipes; wait4 afterwards reaps the child with its rusage.
    stdout, stderr = _drain(proc)
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - start
    sampler.done.set()
    sampler.join()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.stderr.write(stdout + stderr)
        raise SystemExit(f"step '{step.label}' failed with exit code {code}")
    for src, inbox in step.deliveries:
        deliver(src, inbox)
    max_rss = usage.ru_maxrss * 1024  # KiB on Linux
    return {
        "step": step.label,
        "seconds": round(took, 2),
        "max_rss_mib": round(max_rss / 2**20, 1),
        "tree_rss_mib": round(max(sampler.peak, max_rss) / 2**20, 1),
    }


def _drain(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Read stdout and stderr to the end without reaping the process."""
    assert proc.stdout is not None and proc.stderr is not None
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.append(proc.stderr.read() if proc.stderr else ""))
    reader.start()
    out = proc.stdout.read()
    reader.join()
    return out, "".join(err)


def _rows(path: Path) -> int:
    return int(pq.ParquetFile(path).metadata.num_rows)


def run(
    root: Path, *, voters: int, days: int, seed: int, world: Path | None = None
) -> dict[str, object]:
    """Run every step under ``root`` and return the measurements.

    With ``world``, that already-generated world is used (linked, not copied)
    and the synth step is skipped: the exchange is timed on its own.
    """
    prepare(root)
    steps = demo_steps(root, voters=voters, days=days, seed=seed)
    if world is not None:
        (root / "world").symlink_to(world.resolve(), target_is_directory=True)
        steps = [s for s in steps if s.label != "synth"]
    t0 = time.perf_counter()
    results = []
    for step in steps:
        results.append(run_step(step))
        # Progress on stderr: a state-scale run takes a while.
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    total = time.perf_counter() - t0
    world = root / "world"
    subscribers = _rows(world / "provider/subscribers.parquet")
    return {
        "voters": voters,
        "days": days,
        "seed": seed,
        "subscriber_households": subscribers,
        "viewing_events": _rows(world / "provider/viewing.parquet"),
        "total_seconds": round(total, 1),
        "peak_rss_mib": max(float(str(r["tree_rss_mib"])) for r in results),
        "steps": results,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the exchange, print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--voters", type=int, default=8_000_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("build/state_scale"))
    parser.add_argument(
        "--world",
        type=Path,
        default=None,
        help="reuse a world made by `narwhal synth` (skips the synth step; "
        "--voters/--days/--seed must describe it)",
    )
    args = parser.parse_args(argv)
    if args.world is not None and not (args.world / "campaign" / "voters.parquet").is_file():
        parser.error(f"--world {args.world}: not a world made by `narwhal synth`")
    result = run(args.out, voters=args.voters, days=args.days, seed=args.seed, world=args.world)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
