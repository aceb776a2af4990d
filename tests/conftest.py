"""The one test harness: a seeded world, three introduced homes, one completed exchange.

Building a world and running the three roles end to end is the slowest thing
the suite does, and six test modules used to do it each for themselves. Here
it happens once per session (once per worker under xdist), through the real
command line, and tests share it:

* :func:`world_dir` -- a small synthetic world (``narwhal synth``), seeded.
* :func:`introduced` -- three party homes that trust each other and hold
  nothing else (keys, cards, contacts).
* :func:`exchange` -- the completed exchange on that world: tokenize, link,
  aggregate, plan and report, each step its own ``python -m parties.cli``
  process in its own home, with the messages carried between inboxes.

Besides, :func:`engine` is one DuckDB engine per test module, for the measure
and release tests' SQL (a module may still define its own, as the match tests do).

The session objects are read-only. A test that writes (injects a leak,
tampers with a message, re-runs a step, starts another exchange id) takes its
own copy: :func:`exchange_copy` or :func:`homes`, or ``copy_to`` from a module
fixture, so no test can see another's changes and test order never matters.

:func:`narwhal` / :func:`ok` run the CLI as a subprocess (the real process:
exit code, stderr, signals); :func:`cli` runs it in-process
through Typer's ``CliRunner``, for the many short refusals where a fresh
interpreter per call would dominate the suite's time. Both return
``(code, stdout, stderr)``. :func:`introduce` inits three homes and has them
trust each other.

Size: 3,000 voters over 2 days (``WORLD_*``). That is enough for every user:
integration ``rating_error`` needs > 1,000 released cells and segments large
enough that one mislinked household moves a rating little; the audit's
dictionary attack samples 300 voters; the report needs four heat maps and the
plan a rate card; k = 5 and a minimum universe of 20 leave both released and
suppressed quarter-hour cells. Tests whose point needs their own data
(``test_release_cli``'s hand-made households, ``test_attacks``' in-memory
world, the scripts' own worlds) still build it, and say why.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pytest
from typer.testing import CliRunner

from linkage.engine import DuckDBEngine
from parties.cli import app

REPO = Path(__file__).resolve().parents[1]
ROLES = ("campaign", "matcher", "provider")

WORLD_VOTERS = 3000
WORLD_DAYS = 2
WORLD_SEED = 11

EXCHANGE_ID = "it-2026"
ORG = "test-campaign"
K = 5
MIN_UNIVERSE = 20
PLAN_BUDGET = 100_000
PLAN_TARGETS = "persuadable,turnout_target"


# --------------------------------------------------------------------------- runners


class Ran(NamedTuple):
    """What one CLI invocation left: exit code, stdout, stderr."""

    code: int
    stdout: str
    stderr: str


def narwhal(
    *args: str | Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> Ran:
    """Run ``python -m parties.cli ARGS`` as its own process.

    Args:
        args: The command line after ``narwhal``.
        cwd: Working directory (default: the test's).
        env: Variables set on top of the test's environment.
        timeout: Seconds before the process is killed and the test fails.
    """
    proc = subprocess.run(
        [sys.executable, "-m", "parties.cli", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=None if env is None else {**os.environ, **env},
        timeout=timeout,
    )
    return Ran(proc.returncode, proc.stdout, proc.stderr)


def ok(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> Ran:
    """:func:`narwhal`, failing the test with the command's stderr unless it exits 0."""
    ran = narwhal(*args, cwd=cwd, env=env)
    if ran.code != 0:
        pytest.fail(f"narwhal {_words(args)} exited {ran.code}:\n{ran.stderr}", pytrace=False)
    return ran


def ok_together(*commands: tuple[str | Path, ...]) -> None:
    """Run independent commands as concurrent processes; fail the test unless all exit 0.

    For steps that touch different homes (or different files of one): the
    suite runs on two cores, and these processes are mostly interpreter start.
    """
    procs = [
        (args, subprocess.Popen(
            [sys.executable, "-m", "parties.cli", *map(str, args)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
        for args in commands
    ]  # fmt: skip
    failed = []
    for args, proc in procs:
        _, stderr = proc.communicate(timeout=600)
        if proc.returncode != 0:
            failed.append(f"narwhal {_words(args)} exited {proc.returncode}:\n{stderr}")
    if failed:
        pytest.fail("\n".join(failed), pytrace=False)


def cli(*args: str | Path) -> Ran:
    """Run the CLI in this process (Typer's ``CliRunner``); exceptions become exit codes."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    return Ran(result.exit_code, result.stdout, result.stderr)


def _words(args: tuple[str | Path, ...]) -> str:
    # Role and command only: the rest may be paths to files with PII in them.
    return " ".join(str(a) for a in args[:2])


def introduce(root: Path, prefix: str = "test") -> None:
    """``init`` a home per role under ``root`` and have each trust the other two.

    Each command is its own process, as three organisations would run them;
    the three inits, then the six trusts, run concurrently.
    """
    ok_together(
        *((role, "init", "--home", root / role, "--name", f"{prefix}-{role}") for role in ROLES)
    )
    ok_together(
        *(
            (role, "trust", "--home", root / role, root / other / "card.json")
            # The provider registers the campaign as an organisation (budgets are the org's).
            + (("--org", ORG) if (role, other) == ("provider", "campaign") else ())
            for role in ROLES
            for other in ROLES
            if other != role
        )
    )


def copy_homes(src: Path, dst: Path) -> Path:
    """Copy the three homes under ``src`` to ``dst`` (modes kept: keys stay 0600)."""
    for role in ROLES:
        shutil.copytree(src / role, dst / role, symlinks=True)
    return dst


# --------------------------------------------------------------------------- the exchange


@dataclass(frozen=True)
class Exchange:
    """A directory in the demo's layout: ``world/``, one home per role, ``report/``."""

    root: Path
    exchange_id: str = EXCHANGE_ID

    @property
    def world(self) -> Path:
        return self.root / "world"

    @property
    def report(self) -> Path:
        return self.root / "report"

    def home(self, role: str) -> Path:
        return self.root / role

    def message(self, role: str, box: str, kind: str) -> Path:
        """``ROLE/BOX/EXCHANGE.KIND.nwl``."""
        return self.home(role) / box / f"{self.exchange_id}.{kind}.nwl"

    def deliver(self, sender: str, kind: str, recipient: str) -> None:
        """Play courier: the sender's outbox message into the recipient's inbox."""
        shutil.copyfile(
            self.message(sender, "outbox", kind), self.message(recipient, "inbox", kind)
        )

    def receipt(self, role: str, box: str = "inbox") -> Path:
        """``ROLE/BOX/EXCHANGE.release-receipt.json``: the ledger head a release carries."""
        return self.home(role) / box / f"{self.exchange_id}.release-receipt.json"

    def deliver_receipt(self, sender: str, recipient: str) -> None:
        """Play courier for a release receipt (provider -> campaign -> matcher)."""
        shutil.copyfile(self.receipt(sender, "outbox"), self.receipt(recipient))

    def copy_to(self, dst: Path) -> Exchange:
        """A private copy; ``world`` stays a link to the shared, read-only world."""
        shutil.copytree(self.root, dst, symlinks=True)
        return Exchange(dst, self.exchange_id)


def built_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]
) -> Path:
    """A read-only directory ``build`` fills once per test run, shared by every xdist worker.

    Under ``pytest -n`` each worker has its own session, and each used to
    build the world and the completed exchange again (four times on four
    workers). The first worker to get the lock builds; the others wait and
    reuse it. A build that failed leaves no ``.built`` mark and is redone.
    """
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's directory, above every worker's
    target = root / f"shared-{name}"
    with (root / f"shared-{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / ".built").exists():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            build(target)
            (target / ".built").touch()
    return target


# --------------------------------------------------------------------------- heavy runs


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--heavy",
        action="store_true",
        help="run the tests marked heavy (`make heavy`, in .ci/run); without it they are left out",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the heavy tests out of a run unless --heavy asks for them (make test stays short).

    An option, not ``-m "not heavy"`` in the Makefile: a quoted recipe runs under
    ``/bin/sh``, which the shell-completion test would then detect as the shell.
    """
    if config.getoption("--heavy"):
        return
    kept = [item for item in items if item.get_closest_marker("heavy") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's synthetic world (read-only)."""

    def build(root: Path) -> None:
        ok(
            "synth", "--out", root / "world", "--voters", str(WORLD_VOTERS),
            "--days", str(WORLD_DAYS), "--seed", str(WORLD_SEED),
        )  # fmt: skip

    return built_once(tmp_path_factory, "world", build) / "world"


@pytest.fixture(scope="session")
def introduced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three homes that trust each other and hold nothing else (read-only; copy to use)."""
    return built_once(tmp_path_factory, "introduced", lambda root: introduce(root, "test"))


@pytest.fixture
def homes(introduced: Path, tmp_path: Path) -> Path:
    """This test's own copy of the three introduced homes."""
    return copy_homes(introduced, tmp_path / "homes")


@pytest.fixture(scope="session")
def exchange(
    world_dir: Path, introduced: Path, tmp_path_factory: pytest.TempPathFactory
) -> Exchange:
    """The completed exchange (read-only: use :func:`exchange_copy` to change anything)."""
    return Exchange(
        built_once(
            tmp_path_factory, "exchange", lambda root: _complete(root, world_dir, introduced)
        )
        / "exchange"
    )


def _complete(root: Path, world_dir: Path, introduced: Path) -> None:
    """Run the whole exchange in ``root/exchange``: every step, every delivery."""
    ex = Exchange(copy_homes(introduced, root / "exchange"))
    ex.world.symlink_to(world_dir, target_is_directory=True)
    x, w = ex.exchange_id, ex.world
    # The two sides tokenize independently (each in its own home), so at once.
    ok_together(
        (
            "campaign", "tokenize", "--home", ex.home("campaign"),
            "--voters", w / "campaign/voters.parquet", "--segments", w / "campaign/segments.toml",
            "--exchange", x,
        ),
        (
            "provider", "tokenize", "--home", ex.home("provider"),
            "--subscribers", w / "provider/subscribers.parquet", "--exchange", x,
        ),
    )  # fmt: skip
    ex.deliver("campaign", "campaign-tokens", "matcher")
    ex.deliver("campaign", "segments", "provider")
    ex.deliver("provider", "provider-tokens", "matcher")
    ok("matcher", "link", "--home", ex.home("matcher"), "--exchange", x)
    ex.deliver("matcher", "assignments", "provider")
    ex.deliver("matcher", "match-report", "campaign")
    ok(
        "provider", "aggregate", "--home", ex.home("provider"),
        "--viewing", w / "provider/viewing.parquet", "--channels", w / "provider/channels.csv",
        "--period", (w / "provider/period.txt").read_text().strip(),
        "--exchange", x, "--k", str(K), "--min-universe", str(MIN_UNIVERSE),
        "--markets", w / "provider/markets.parquet", "--lineups", w / "provider/lineups.csv",
    )  # fmt: skip
    ex.deliver("provider", "viewership", "campaign")
    ex.deliver_receipt("provider", "campaign")
    # The plan reads only the campaign's inbox; run first, the report shows it.
    ok(
        "campaign", "plan", "--home", ex.home("campaign"), "--exchange", x,
        "--ratecard", w / "campaign/ratecard.csv", "--budget", str(PLAN_BUDGET),
        "--target", PLAN_TARGETS, "--out", ex.report,
    )  # fmt: skip
    ok(
        "campaign", "report", "--home", ex.home("campaign"), "--exchange", x,
        "--ratecard", w / "campaign/ratecard.csv", "--out", ex.report,
    )  # fmt: skip
    # The campaign countersigned the provider's ledger head; the matcher witnesses it.
    ex.deliver_receipt("campaign", "matcher")
    ok("matcher", "witness", "--home", ex.home("matcher"), "--receipt", ex.receipt("matcher"))


@pytest.fixture
def exchange_copy(exchange: Exchange, tmp_path: Path) -> Exchange:
    """This test's own copy of the completed exchange, free to tamper with."""
    return exchange.copy_to(tmp_path / "exchange")


# --------------------------------------------------------------------------- engine


@pytest.fixture(scope="module")
def engine() -> Iterator[DuckDBEngine]:
    """One DuckDB engine per test module (512 MB, two threads), closed after it."""
    with DuckDBEngine(memory_limit="512MB", threads=2) as eng:
        yield eng
