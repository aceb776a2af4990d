"""The CLI around the steps: version, completion, plain output, Ctrl-C, wrong homes, audit, demo.

Each test runs the real ``narwhal`` app, through Typer's ``CliRunner`` or as
a subprocess where the terminal itself matters (a pipe, a signal).
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
from typer.testing import CliRunner

from linkage.encode import map_chunks
from parties.cli import app
from parties.common import EXIT_INTERRUPTED, INTERRUPTED, NarwhalApp

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _narwhal(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``narwhal ARGS`` as its own process, stdout and stderr pipes (not terminals)."""
    return subprocess.run(
        [sys.executable, "-m", "parties.cli", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "80"},
    )


def test_version_is_the_installed_package_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"narwhal {importlib.metadata.version('narwhal')}"


def test_shell_completion_is_offered() -> None:
    assert "--install-completion" in runner.invoke(app, ["--help"]).output
    result = runner.invoke(app, ["--show-completion", "bash"])
    assert result.exit_code == 0, result.output
    assert "complete" in result.output


def test_synth_prints_each_partys_files_unwrapped_in_a_pipe(tmp_path: Path) -> None:
    world = tmp_path / ("a-directory-name-long-enough-to-wrap-" * 3) / "world"
    proc = _narwhal("synth", "--out", world, "--voters", "120", "--days", "1", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "\x1b[" not in proc.stdout  # no colour codes in a pipe
    assert f"world written to {world}" in lines
    # Every path printed is whole on its line, and names a file synth wrote.
    printed = [Path(m) for m in re.findall(r"(/\S+\.(?:parquet|toml|csv|txt))\b", proc.stdout)]
    assert len(printed) >= 7
    for path in printed:
        assert path.is_file(), path
    voters = world / "campaign" / "voters.parquet"
    assert any(line.split() == ["voter", "file", str(voters)] for line in lines)
    assert any(line.split()[:2] == ["viewing", "log"] for line in lines)
    assert "narwhal campaign init --home campaign --name my-campaign" in proc.stdout
    assert "narwhal provider init --home provider --name my-provider" in proc.stdout
    assert f"--voters {voters}" in proc.stdout


def test_a_role_refuses_another_roles_home_in_one_line(tmp_path: Path) -> None:
    matcher = tmp_path / "M"
    assert (
        runner.invoke(app, ["matcher", "init", "--home", str(matcher), "--name", "m"]).exit_code
        == 0
    )
    result = runner.invoke(
        app,
        [
            "campaign",
            "tokenize",
            "--home",
            str(matcher),
            "--voters",
            str(tmp_path / "voters.parquet"),
            "--segments",
            str(tmp_path / "segments.toml"),
            "--exchange",
            "x1",
        ],
    )
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert "\n" not in message
    assert "this is the matcher's home, not a campaign's" in message
    assert "`narwhal matcher`" in message and "<role>" not in message


def _trio(root: Path, names: tuple[str, str, str]) -> dict[str, Path]:
    """Three initialised homes (no exchange yet) under names that are not their roles."""
    homes = dict(zip(("campaign", "matcher", "provider"), (root / n for n in names), strict=True))
    for role, home in homes.items():
        result = runner.invoke(app, [role, "init", "--home", str(home), "--name", role])
        assert result.exit_code == 0, result.output
    return homes


def test_audit_takes_three_named_homes_and_never_passes_on_nothing(tmp_path: Path) -> None:
    homes = _trio(tmp_path, ("C", "M", "P"))
    world = tmp_path / "world"
    # The old one-directory form cannot tell which home is which here: refused.
    by_dir = runner.invoke(app, ["audit", str(tmp_path)])
    assert by_dir.exit_code == 1
    assert "PASS" not in by_dir.stdout
    assert "--campaign C --matcher M --provider P" in by_dir.stdout
    # Named, but the homes have exchanged nothing: nothing to audit, nothing passes.
    flags = [f"--{role}={path}" for role, path in homes.items()]
    named = runner.invoke(app, ["audit", *flags, "--world", str(world)])
    assert named.exit_code == 1
    assert "PASS" not in named.stdout
    assert "nothing to audit" in named.stdout
    # A home given as another role's is named as such.
    swapped = [f"--campaign={homes['matcher']}", f"--matcher={homes['campaign']}", flags[2]]
    result = runner.invoke(app, ["audit", *swapped, "--world", str(world)])
    assert result.exit_code == 1
    assert "this is a matcher's home, given as the campaign's" in result.stdout
    # Half of each form is neither.
    partial = runner.invoke(app, ["audit", flags[0], "--world", str(world)])
    assert partial.exit_code == 2
    assert "all of --campaign, --matcher, --provider and --world" in partial.stderr


def test_demo_refuses_worlds_below_its_stated_minimum(tmp_path: Path) -> None:
    from parties.demo import MIN_VOTERS  # here: the pool test's workers import this module

    assert f"at least {MIN_VOTERS:,}" in " ".join(
        runner.invoke(app, ["demo", "--help"]).output.split()
    )
    out = tmp_path / "d"
    result = runner.invoke(app, ["demo", "--out", str(out), "--voters", str(MIN_VOTERS - 1)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert f"at least {MIN_VOTERS:,} voters" in result.stderr
    assert not out.exists()


# Ctrl-C: a step with a pool of workers, as a terminal delivers it (to the whole group).


def _slow_chunk(chunk: pa.Table) -> pa.Table:
    """Worker side: say this worker runs (its initializer has run), then work slowly."""
    (Path(os.environ["NARWHAL_TEST_MARKER"]) / str(os.getpid())).touch()
    time.sleep(0.2)
    return chunk


_pool_app = NarwhalApp(name="pool", help="A step that keeps a process pool busy.")


@_pool_app.callback()
def _pool() -> None:
    """A group, so ``work`` is named on the command line as a role's step is."""


@_pool_app.command("work")
def _work() -> None:
    map_chunks(_slow_chunk, pa.table({"n": list(range(400))}), chunk_rows=1, workers=2)


def _default_interrupt() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def pool_step() -> None:
    """Entry point of the subprocess below."""
    _pool_app(args=["work"], prog_name="pool")


def test_ctrl_c_in_a_pooled_step_prints_one_line_and_exits_130(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    marker.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from tests.cli.test_cli_polish import pool_step; pool_step()"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "NARWHAL_TEST_MARKER": str(marker)},
        start_new_session=True,  # its own process group, as a terminal's job
        # A terminal's job has Ctrl-C at its default, whatever ran this test: a
        # harness started in the background passes SIGINT down ignored.
        preexec_fn=_default_interrupt,
    )
    try:
        deadline = time.monotonic() + 30
        while len(list(marker.iterdir())) < 2:  # both workers busy
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the pool never started"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == EXIT_INTERRUPTED
    assert stderr.splitlines() == [INTERRUPTED]
    assert "Traceback" not in stdout + stderr
