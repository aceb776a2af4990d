"""The three roles as separate processes in separate homes, on a small seeded world."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from linkage.measure import rating_error
from tests.parties_setup import introduce

pytestmark = pytest.mark.integration

X = "it-2026"


def narwhal(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "parties.cli", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def ok(*args: str | Path) -> subprocess.CompletedProcess[str]:
    proc = narwhal(*args)
    assert proc.returncode == 0, f"{args[:2]} failed: {proc.stderr}"
    return proc


@dataclass
class Run:
    root: Path
    world: Path

    def home(self, role: str) -> Path:
        return self.root / role

    def msg(self, role: str, box: str, kind: str) -> Path:
        return self.home(role) / box / f"{X}.{kind}.nwl"


def deliver(src: Path, dst_home: Path) -> None:
    shutil.copyfile(src, dst_home / "inbox" / src.name)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    root = tmp_path_factory.mktemp("exchange")
    world = root / "world"
    ok("synth", "--out", world, "--voters", "6000", "--days", "3", "--seed", "11")
    r = Run(root, world)
    introduce(r.root, ok, "test")
    ok(
        "campaign",
        "tokenize",
        "--home",
        r.home("campaign"),
        "--voters",
        world / "campaign/voters.parquet",
        "--segments",
        world / "campaign/segments.toml",
        "--exchange",
        X,
    )
    deliver(r.msg("campaign", "outbox", "campaign-tokens"), r.home("matcher"))
    ok(
        "provider",
        "tokenize",
        "--home",
        r.home("provider"),
        "--subscribers",
        world / "provider/subscribers.parquet",
        "--exchange",
        X,
    )
    deliver(r.msg("provider", "outbox", "provider-tokens"), r.home("matcher"))
    ok("matcher", "link", "--home", r.home("matcher"), "--exchange", X, "--k", "5")
    deliver(r.msg("matcher", "outbox", "assignments"), r.home("provider"))
    deliver(r.msg("matcher", "outbox", "match-report"), r.home("campaign"))
    ok(
        "provider",
        "aggregate",
        "--home",
        r.home("provider"),
        "--viewing",
        world / "provider/viewing.parquet",
        "--channels",
        world / "provider/channels.csv",
        "--exchange",
        X,
        "--k",
        "5",
        "--min-universe",
        "20",
    )
    deliver(r.msg("provider", "outbox", "viewership"), r.home("campaign"))
    ok(
        "campaign",
        "report",
        "--home",
        r.home("campaign"),
        "--exchange",
        X,
        "--out",
        root / "report",
    )
    yield r


def test_report_files_and_columns(run: Run) -> None:
    report = run.root / "report"
    table = pacsv.read_csv(report / "viewership.csv")
    # DESIGN §8 spelled out on purpose: importing the constant could not catch a drift.
    assert table.column_names[:9] == [
        "segment",
        "channel",
        "day_type",
        "quarter_hour",
        "universe",
        "aqh_households",
        "rating",
        "share",
        "suppressed",
    ]
    segments = set(table["segment"].to_pylist())
    assert {"persuadable", "turnout_target", "latino", "african_american"} <= segments
    assert list(report.glob("heatmap_*.png"))


def test_released_ratings_close_to_truth(run: Run) -> None:
    released = pacsv.read_csv(run.root / "report" / "viewership.csv")
    truth = pacsv.read_csv(run.world / "truth" / "viewership.csv")
    err = rating_error(released, truth)
    assert err.cells > 1000
    assert err.mean_abs_error < 0.5


def test_matcher_sees_no_pii(run: Run) -> None:
    voters = pq.read_table(run.world / "campaign/voters.parquet")
    subs = pq.read_table(run.world / "provider/subscribers.parquet")
    forbidden_cols = {
        "first_name",
        "last_name",
        "address",
        "phone",
        "email",
        "voter_id",
        "household_id",
        "zip",
        "birth_date",
        "account_number",
    }
    samples = {str(v).lower() for v in voters["last_name"].to_pylist()[:200]}
    samples |= {str(v).lower() for v in voters["voter_id"].to_pylist()[:200]}
    samples |= {str(v).lower() for v in subs["household_id"].to_pylist()[:200]}
    for kind in ("campaign-tokens", "provider-tokens"):
        proc = ok(
            "matcher", "open", "--home", run.home("matcher"), run.msg("matcher", "inbox", kind)
        )
        text = proc.stdout.lower()
        assert "verified" in text
        header = next(line for line in proc.stdout.splitlines() if line.startswith("│ columns"))
        for col in forbidden_cols:
            assert f" {col}," not in header and not header.rstrip(" │").endswith(col)
        words = set(text.replace("│", " ").split())
        assert not (words & samples)


@pytest.mark.parametrize(
    ("kind", "holder", "step"),
    [
        ("campaign-tokens", "matcher", ["matcher", "link"]),
        ("provider-tokens", "matcher", ["matcher", "link"]),
        ("assignments", "provider", ["provider", "aggregate"]),
        ("viewership", "campaign", ["campaign", "report"]),
    ],
)
def test_flipped_byte_rejected_with_one_line_and_nothing_written(
    run: Run, tmp_path: Path, kind: str, holder: str, step: list[str]
) -> None:
    # Work on a copy of the exchange so the other tests keep the good one.
    copy = tmp_path / "copy"
    shutil.copytree(run.root, copy, ignore=shutil.ignore_patterns("world"))
    home = copy / holder
    target = home / "inbox" / f"{X}.{kind}.nwl"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    outbox_before = sorted(p.name for p in (home / "outbox").iterdir())
    for p in (home / "outbox").iterdir():
        p.unlink()
    args: list[str | Path] = [*step, "--home", home, "--exchange", X]
    if step[1] == "aggregate":
        args += ["--viewing", run.world / "provider/viewing.parquet"]
    if step[1] == "report":
        args += ["--out", copy / "report2"]
    proc = narwhal(*args)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("narwhal: error:"), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list((home / "outbox").iterdir()), outbox_before
    assert not (copy / "report2").exists()


def test_audit_passes_on_the_exchange(run: Run) -> None:
    proc = subprocess.run(
        [sys.executable, "scripts/audit.py", str(run.root)],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PASS") >= 6
