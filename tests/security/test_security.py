"""Process-level security properties: secrets never on argv, keys only from 0600 files,
and a run killed with SIGKILL never leaves a partial message under a message name.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer.main

from linkage.errors import MessageError
from linkage.io import PartyHome
from linkage.protocol import open_message
from parties.cli import app
from tests.conftest import ROLES, cli, copy_homes

pytestmark = pytest.mark.security

SECRET_WORDS = re.compile(r"key|secret|passw|passphrase|token|credential|private", re.IGNORECASE)


def all_commands(command: object, path: str = "narwhal") -> Iterator[tuple[str, object]]:
    subs = getattr(command, "commands", None)
    if isinstance(subs, dict):
        for name, sub in subs.items():
            yield from all_commands(sub, f"{path} {name}")
    else:
        yield path, command


def test_no_command_accepts_a_key_on_argv() -> None:
    commands = list(all_commands(typer.main.get_command(app)))
    assert len(commands) >= 15
    offenders = [
        f"{path} {param.name}"
        for path, command in commands
        for param in getattr(command, "params", [])
        if SECRET_WORDS.search(" ".join([param.name or "", *getattr(param, "opts", [])]))
        or getattr(param, "envvar", None)
    ]
    # Keys live in HOME/keys (0600); a key on argv would sit in `ps` and shell history.
    assert offenders == []


@dataclass
class Homes:
    root: Path
    world: Path

    def home(self, role: str) -> PartyHome:
        return PartyHome(self.root / role)


@pytest.fixture
def homes(introduced: Path, world_dir: Path, tmp_path: Path) -> Homes:
    """This test's own copy of the session's introduced homes, on the session world.

    (Replaces the harness's plain ``homes`` here: these tests chmod, kill and
    tokenize in them.)
    """
    return Homes(copy_homes(introduced, tmp_path), world_dir)


def test_private_key_files_are_0600(introduced: Path) -> None:
    # The homes exactly as `init` left them, not a copy.
    for role in ROLES:
        keys = PartyHome(introduced / role).keys
        for path in keys.iterdir():
            assert path.stat().st_mode & 0o777 == 0o600, path.name


def test_a_widened_secret_file_is_refused(homes: Homes, tmp_path: Path) -> None:
    secret = homes.home("provider").keys / "secret.key"
    secret.chmod(0o644)
    try:
        code, _, err = cli(
            "provider", "tokenize", "--home", homes.home("provider").root,
            "--subscribers", homes.world / "provider/subscribers.parquet", "--exchange", "sec-perm",
        )  # fmt: skip
    finally:
        secret.chmod(0o600)
    assert code == 2
    assert err.startswith("narwhal: error: ") and "permissions too open" in err
    assert not homes.home("provider").outbox_message("sec-perm", "provider-tokens").exists()


# --- SIGKILL mid-write ----------------------------------------------------------------


def big_voter_file(homes: Homes, rows: int) -> Path:
    """The world's voters tiled to ``rows`` rows with fresh ids: slow enough to kill mid-run."""
    path = homes.root / "big-voters.parquet"
    if path.exists():
        return path
    base = pq.read_table(homes.world / "campaign" / "voters.parquet")
    copies = -(-rows // base.num_rows)
    table = pa.concat_tables([base] * copies).slice(0, rows)
    ids = pa.array([f"XX{i:09d}" for i in range(rows)], pa.string())
    table = table.set_column(table.column_names.index("voter_id"), "voter_id", ids)
    pq.write_table(table, path)
    return path


def start_tokenize(homes: Homes, voters: Path, exchange: str) -> subprocess.Popen[bytes]:
    args = [
        sys.executable, "-m", "parties.cli", "campaign", "tokenize",
        "--home", str(homes.home("campaign").root), "--voters", str(voters),
        "--segments", str(homes.world / "campaign/segments.toml"), "--exchange", exchange,
    ]  # fmt: skip
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill_when(proc: subprocess.Popen[bytes], seen: Path, pattern: str) -> bool:
    """SIGKILL ``proc`` as soon as a file matching ``pattern`` appears in ``seen``.

    Returns:
        True if the kill happened before the process finished on its own.
    """
    while proc.poll() is None:
        if seen.is_dir() and any(seen.glob(pattern)):
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.002)
    return False


def assert_outbox_consistent(homes: Homes, exchange: str) -> str:
    """Either no message or a complete, verifiable one; temp files never use the message name."""
    outbox = homes.home("campaign").outbox
    name = f"{exchange}.campaign-tokens.nwl"
    visible = [p.name for p in outbox.iterdir() if not p.name.startswith(".")]
    # The provider's segment codes are published before the matcher's tokens.
    segments = f"{exchange}.segments.nwl"
    mine = sorted(n for n in visible if n.startswith(exchange))
    assert mine in ([], [segments], sorted([segments, name]))
    for stray in outbox.glob(f".{name}.*"):
        assert stray.name.endswith(".tmp")  # hidden, and no reader globs *.tmp
    message = outbox / name
    if not message.exists():
        return "nothing"
    matcher = homes.home("matcher")
    opened = open_message(
        message.read_bytes(), me=matcher.identity(), contacts=matcher.trusted(),
        expected_kind="campaign-tokens", expected_exchange=exchange,
    )  # fmt: skip
    assert opened.table.num_rows == opened.manifest.rows
    return "complete"


@pytest.mark.heavy  # in `make heavy` (CI), outside make test's four minutes
@pytest.mark.slow
def test_sigkill_never_leaves_a_partial_message(homes: Homes) -> None:
    voters = big_voter_file(homes, 60_000)
    campaign = homes.home("campaign")
    outcomes: dict[str, str] = {}

    # Kill points defined by events, not by timing: as soon as the process runs,
    # once the private state is being written, and while the message's temp file exists.
    def points(x: str) -> dict[str, tuple[Path, str]]:
        return {
            "started": (campaign.keys, "*"),
            "state-written": (campaign.state(x), "*"),
            "message-mid-write": (campaign.outbox, f".{x}.campaign-tokens.nwl.*"),
        }

    killed = 0
    for point in ("started", "state-written", "message-mid-write"):
        exchange = f"kill-{point}"
        where, pattern = points(exchange)[point]
        proc = start_tokenize(homes, voters, exchange)
        killed += kill_when(proc, where, pattern)
        outcomes[point] = assert_outbox_consistent(homes, exchange)
    assert killed >= 2, outcomes
    assert outcomes["started"] == "nothing"
    # The control: left alone, the same command completes a verifiable message.
    proc = start_tokenize(homes, voters, "kill-none")
    assert proc.wait(timeout=600) == 0
    assert assert_outbox_consistent(homes, "kill-none") == "complete"


def test_a_partial_message_is_rejected_if_one_ever_appeared(homes: Homes, tmp_path: Path) -> None:
    voters = homes.world / "campaign" / "voters.parquet"
    code, _, err = cli(
        "campaign", "tokenize", "--home", homes.home("campaign").root, "--voters", voters,
        "--segments", homes.world / "campaign/segments.toml", "--exchange", "sec-part",
    )  # fmt: skip
    assert code == 0, err
    data = homes.home("campaign").outbox_message("sec-part", "campaign-tokens").read_bytes()
    matcher = homes.home("matcher")
    for cut in (1, 100, len(data) // 2, len(data) - 1):
        with pytest.raises(MessageError):
            open_message(
                data[:cut], me=matcher.identity(), contacts=matcher.trusted(),
                expected_kind="campaign-tokens", expected_exchange="sec-part",
            )  # fmt: skip
