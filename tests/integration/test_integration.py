"""The three roles as separate processes in separate homes, on a small seeded world.

The exchange itself is the session's (``tests/conftest.py``): each step ran as
its own ``python -m parties.cli`` process in its own home.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from linkage.synth import rating_error
from tests.conftest import REPO, Exchange, narwhal, ok

pytestmark = pytest.mark.integration


def test_report_files_and_columns(exchange: Exchange) -> None:
    report = exchange.report
    table = pacsv.read_csv(report / "viewership.csv")
    # The world layout (docs/ARCHITECTURE.md) spelled out on purpose: importing
    # the constant could not catch a drift.
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


def test_released_ratings_are_noisy_and_their_intervals_cover_the_truth(
    exchange: Exchange,
) -> None:
    # The session world is tiny (a few hundred households a segment), so DP noise
    # is several rating points: what must hold is that the stated 95% intervals
    # mean what they say. Linkage errors and the contribution cap add a little bias.
    released = pacsv.read_csv(exchange.report / "viewership.csv")
    truth = pacsv.read_csv(exchange.world / "truth" / "viewership.csv")
    assert "rating_ci" in released.column_names
    keys = ["segment", "channel", "day_type", "quarter_hour"]
    shown = released.filter(pc.invert(released["suppressed"]))
    joined = shown.join(truth.select([*keys, "rating"]), keys, right_suffix="_true")
    err = pc.abs(pc.subtract(joined["rating"], joined["rating_true"]))
    covered = pc.mean(pc.cast(pc.less_equal(err, joined["rating_ci"]), pa.float64())).as_py()
    assert joined.num_rows > 200
    assert covered is not None and 0.80 <= covered <= 1.0, covered
    assert rating_error(released, truth).mean_abs_error > 0  # noise is there


def test_matcher_sees_no_pii(exchange: Exchange) -> None:
    voters = pq.read_table(exchange.world / "campaign/voters.parquet")
    subs = pq.read_table(exchange.world / "provider/subscribers.parquet")
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
            "matcher",
            "open",
            "--home",
            exchange.home("matcher"),
            exchange.message("matcher", "inbox", kind),
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
        ("segments", "provider", ["provider", "aggregate"]),
        ("viewership", "campaign", ["campaign", "report"]),
    ],
)
def test_flipped_byte_rejected_with_one_line_and_nothing_written(
    exchange_copy: Exchange, kind: str, holder: str, step: list[str]
) -> None:
    copy = exchange_copy.root
    home = exchange_copy.home(holder)
    target = exchange_copy.message(holder, "inbox", kind)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    outbox_before = sorted(p.name for p in (home / "outbox").iterdir())
    for p in (home / "outbox").iterdir():
        p.unlink()
    args: list[str | Path] = [*step, "--home", home, "--exchange", exchange_copy.exchange_id]
    if step[1] == "aggregate":
        world = exchange_copy.world / "provider"
        period = (world / "period.txt").read_text().strip()
        args += ["--viewing", world / "viewing.parquet", "--channels", world / "channels.csv"]
        args += ["--period", period]
    if step[1] == "report":
        args += ["--out", copy / "report2"]
    proc = narwhal(*args)
    assert proc.code == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("narwhal: error:"), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list((home / "outbox").iterdir()), outbox_before
    assert not (copy / "report2").exists()


def test_audit_passes_on_the_exchange(exchange: Exchange) -> None:
    proc = subprocess.run(
        [sys.executable, "scripts/audit.py", str(exchange.root)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PASS") >= 6
