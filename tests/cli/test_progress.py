"""Progress of the long steps: the library's stage callback, and what stderr shows.

The library tells a :class:`linkage.types.StageProgress` how far a step has
come; :class:`parties.progress.StepProgress` shows it: live on a terminal,
plain throttled lines (no escape codes) in a pipe or a log.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from linkage.encode import encode_side_chunks, shipped_schema
from linkage.protocol import LinkageKey
from linkage.synth import generate_world
from parties.cli import app
from parties.progress import INTERVAL_VARIABLE, StepProgress
from tests.conftest import WORLD_VOTERS

STEP_PREFIX = "narwhal: campaign tokenize: "
PLAIN_LINE = re.compile(
    r"(?P<stage>[a-z ]+?)"
    r"(?: (?P<done>[\d,]+)/(?P<total>[\d,]+) \(\d+%\), \d+:\d\d:\d\d elapsed"
    r"(?:, about \d+:\d\d:\d\d left)?| \(\d+:\d\d:\d\d elapsed\))?"
)


class FakeClock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def plain_console() -> tuple[Console, io.StringIO]:
    sink = io.StringIO()
    return Console(file=sink, width=200, color_system=None), sink


def test_tokenize_reports_monotone_row_counts_up_to_the_total() -> None:
    table = generate_world(voters=250, days=1, seed=4).voters
    key = LinkageKey(exchange_id="progress-test", _key=bytes(range(32)))
    calls: list[tuple[str, int, int | None]] = []
    chunks = encode_side_chunks(
        table,
        shipped_schema(),
        "a",
        key,
        workers=1,
        chunk_rows=60,
        progress=lambda stage, done, total: calls.append((stage, done, total)),
    )
    assert calls == []  # nothing is told before the first chunk is asked for
    seen = 0
    for chunk in chunks:
        seen += chunk.num_rows
        # Told as each chunk is handed over, never ahead of it.
        assert calls[-1][1] == seen
    assert {stage for stage, _, _ in calls} == {"tokenizing"}
    assert {total for _, _, total in calls} == {table.num_rows}
    done = [d for _, d, _ in calls]
    assert done == sorted(done)
    assert done[0] == 0
    assert done[-1] == table.num_rows
    assert len(done) == 1 + -(-table.num_rows // 60)  # the start, then once per chunk


def test_plain_lines_come_at_most_every_interval() -> None:
    on, sink = plain_console()
    clock = FakeClock()
    progress = StepProgress(
        "provider tokenize", on=on, interval=5.0, clock=clock, live=False, heartbeat=False
    )
    with progress as p:
        p.stage("pseudonymizing households")  # the step is 0 s old: held back
        clock.now += 3.0
        p("tokenizing", 0, 1000)  # 3 s: held back
        clock.now += 3.0
        p("tokenizing", 300, 1000)  # 6 s since the step started: shown, with an ETA
        clock.now += 2.0
        p("tokenizing", 600, 1000)  # 2 s after the last line: held back
        clock.now += 3.0
        p.tick()  # the heartbeat, 5 s after the last line: the running stage again
        clock.now += 1.0
        p("checking and sealing the payload", 0, None)  # held back
        clock.now += 8.0
        p.tick()
    assert sink.getvalue().splitlines() == [
        "narwhal: provider tokenize: tokenizing 300/1,000 (30%), 0:00:03 elapsed, "
        "about 0:00:07 left",
        "narwhal: provider tokenize: tokenizing 600/1,000 (60%), 0:00:08 elapsed, "
        "about 0:00:05 left",
        "narwhal: provider tokenize: checking and sealing the payload (0:00:08 elapsed)",
    ]


def test_a_step_shorter_than_the_interval_prints_nothing() -> None:
    on, sink = plain_console()
    with StepProgress("matcher link", on=on, interval=60.0, live=False) as progress:
        for stage in ("exact keys", "blocking", "households"):
            progress(stage, 0, None)
        progress("comparing candidate pairs", 10, 10)
    assert sink.getvalue() == ""


def test_the_heartbeat_names_a_long_stage_while_it_runs() -> None:
    on, sink = plain_console()
    with StepProgress("synth", on=on, interval=0.02, live=False) as progress:
        progress.stage("computing truth viewership")
        deadline = time.monotonic() + 10
        while sink.getvalue().count("\n") < 2 and time.monotonic() < deadline:
            time.sleep(0.01)  # the stage runs; no call tells the display anything
    lines = sink.getvalue().splitlines()
    assert len(lines) >= 2
    assert all(line.startswith("narwhal: synth: computing truth viewership") for line in lines)


def test_numbered_stages_run_on_across_blocks() -> None:
    on, sink = plain_console()
    steps = StepProgress("provider aggregate", on=on, stages=3, interval=0.0, live=False)
    for name in ("checking the viewing log", "viewing-intensity tiers", "aggregating viewership"):
        with steps.during(name):
            pass
    assert sink.getvalue().splitlines() == [
        "narwhal: provider aggregate: [1/3] checking the viewing log",
        "narwhal: provider aggregate: [2/3] viewing-intensity tiers",
        "narwhal: provider aggregate: [3/3] aggregating viewership",
    ]


def test_live_display_on_a_terminal_draws_and_clears_itself() -> None:
    sink = io.StringIO()
    on = Console(file=sink, width=100, force_terminal=True, color_system="standard")
    with StepProgress("matcher link", on=on) as progress:
        progress("exact keys", 0, None)
        progress("comparing candidate pairs", 0, 40)
        progress("comparing candidate pairs", 40, 40)
    drawn = sink.getvalue()
    assert "\x1b[" in drawn  # a terminal gets the live display ...
    assert "narwhal: matcher link" not in drawn  # ... not the plain lines
    assert "exact keys" in drawn


def test_a_step_in_a_pipe_prints_plain_stage_lines(world_dir: Path, homes: Path) -> None:
    args = [
        "campaign", "tokenize", "--home", homes / "campaign",
        "--voters", world_dir / "campaign/voters.parquet",
        "--segments", world_dir / "campaign/segments.toml",
        "--exchange", "progress-1", "--workers", "1",
    ]  # fmt: skip
    # Every update, not one per interval: the step is far shorter than the default.
    ran = CliRunner().invoke(app, [str(a) for a in args], env={INTERVAL_VARIABLE: "0"})
    assert ran.exit_code == 0, ran.stderr
    assert "\x1b" not in ran.stderr
    lines = ran.stderr.splitlines()
    assert all(line.startswith(STEP_PREFIX) for line in lines), lines
    parsed = [PLAIN_LINE.fullmatch(line.removeprefix(STEP_PREFIX)) for line in lines]
    assert all(parsed), lines
    stages = [m.group("stage") for m in parsed if m]
    assert stages == [
        "tokenizing",
        "tokenizing",
        "making dummy rows",
        "shuffling",
        "checking and sealing the payload",
    ]
    counts = [(m.group("done"), m.group("total")) for m in parsed if m and m.group("done")]
    assert counts == [("0", f"{WORLD_VOTERS:,}"), (f"{WORLD_VOTERS:,}", f"{WORLD_VOTERS:,}")]
    # Results stay on stdout; progress never goes there.
    assert STEP_PREFIX not in ran.stdout
