"""`narwhal demo`: the whole exchange on a synthetic world, each step its own process.

The demo plays courier: it copies each message from the sender's outbox to
the recipient's inbox. Each party command runs as a separate ``python -m
parties.cli`` process with only its own home, exactly as three organisations
would run it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.csv as pacsv

from linkage import files
from linkage.errors import NarwhalError, StateError
from linkage.evaluation import rating_error
from parties.common import Home, deliver, out

EXCHANGE = "demo-2026"
MARKER = ".narwhal-demo"


def _run(step: str, args: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "parties.cli", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise NarwhalError(f"demo step '{step}' failed with exit code {proc.returncode}")
    out.print(f"[green]✓[/green] {step} [dim]({took:.1f}s)[/dim]")
    return took


def prepare(root: Path) -> None:
    """Start from an empty demo directory; refuse to wipe anything that is not a demo."""
    if root.exists():
        if not (root / MARKER).exists() and any(root.iterdir()):
            raise StateError(
                "directory exists and is not a narwhal demo",
                file=str(root),
                hint="choose another --out",
            )
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / MARKER).write_text("narwhal demo directory; `narwhal demo` may delete it\n")


def run_demo(root: Path, *, voters: int, days: int, seed: int) -> None:
    """Run synth and the full exchange under ``root``; print the summary."""
    prepare(root)
    world = root / "world"
    homes = {role: root / role for role in ("campaign", "matcher", "provider")}
    x = EXCHANGE
    t0 = time.perf_counter()
    _run(
        "synth",
        [
            "synth",
            "--out",
            str(world),
            "--voters",
            str(voters),
            "--days",
            str(days),
            "--seed",
            str(seed),
        ],
    )
    for role, home in homes.items():
        _run(f"{role} init", [role, "init", "--home", str(home), "--name", f"demo-{role}"])
    for role, home in homes.items():
        for other, other_home in homes.items():
            if other != role:
                _run(
                    f"{role} trusts {other}",
                    [role, "trust", "--home", str(home), str(other_home / "card.json")],
                )
    c, m, p = (Home(homes[r]) for r in ("campaign", "matcher", "provider"))
    _run(
        "campaign tokenize",
        [
            "campaign",
            "tokenize",
            "--home",
            str(c.root),
            "--voters",
            str(world / "campaign/voters.parquet"),
            "--segments",
            str(world / "campaign/segments.toml"),
            "--exchange",
            x,
        ],
    )
    deliver(c.outbox_message(x, "campaign-tokens"), m.inbox)
    _run(
        "provider tokenize (operator side)",
        [
            "provider",
            "tokenize",
            "--home",
            str(p.root),
            "--subscribers",
            str(world / "provider/subscribers.parquet"),
            "--exchange",
            x,
        ],
    )
    deliver(p.outbox_message(x, "provider-tokens"), m.inbox)
    _run("matcher link", ["matcher", "link", "--home", str(m.root), "--exchange", x])
    deliver(m.outbox_message(x, "assignments"), p.inbox)
    deliver(m.outbox_message(x, "match-report"), c.inbox)
    _run(
        "provider aggregate (measurement side)",
        [
            "provider",
            "aggregate",
            "--home",
            str(p.root),
            "--viewing",
            str(world / "provider/viewing.parquet"),
            "--channels",
            str(world / "provider/channels.csv"),
            "--exchange",
            x,
        ],
    )
    deliver(p.outbox_message(x, "viewership"), c.inbox)
    report_dir = root / "report"
    _run(
        "campaign report",
        ["campaign", "report", "--home", str(c.root), "--exchange", x, "--out", str(report_dir)],
    )
    elapsed = time.perf_counter() - t0

    released = pacsv.read_csv(report_dir / "viewership.csv")
    truth = pacsv.read_csv(world / "truth/viewership.csv")
    err = rating_error(released, truth)
    rates = pacsv.read_csv(report_dir / "match_rates.csv").to_pylist()
    out.print()
    out.print("[bold]Match rates[/bold] (from the matcher's report):")
    for row in rates:
        rate = row.get("match_rate")
        shown = "suppressed" if rate is None else f"{float(rate):.1%}"
        out.print(f"  {row['segment']:<20} voters {row['voters']:>8,}  matched {shown}")
    out.print(
        f"[bold]Released ratings vs truth[/bold]: {err.cells:,} released cells, mean absolute "
        f"error {err.mean_abs_error:.3f} rating points (max {err.max_abs_error:.2f}); "
        f"{err.suppressed_share:.1%} of cells suppressed"
    )
    out.print(f"Report: {report_dir}   Audit: python scripts/audit.py {root}")
    out.print(f"demo finished in {elapsed:.0f}s")
    files.atomic_write_text(root / "summary.txt", f"mean_abs_error={err.mean_abs_error:.6f}\n")
