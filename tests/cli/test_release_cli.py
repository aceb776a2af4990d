"""`narwhal provider aggregate` with the ledger: DP by default, budgets, exact releases, replays.

Runs the real CLI (typer's CliRunner on ``parties.cli.app``) on a tiny world
built here, with households the tests name one by one (a differencing attack
needs segments that differ by exactly one known household, which a synthetic
world does not offer), in the session's introduced homes (``tests/conftest.py``).
The assignments messages are sealed with the matcher's real keys, so the
provider sees exactly what a (possibly colluding) matcher could send.
Every refusal must exit 2 with one ``narwhal: error:`` line and leave the
provider's home byte-for-byte unchanged.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from linkage.io import (
    load_identity,
    load_secret,
    open_message_file,
    read_card,
    read_contacts,
    read_ledger_lines,
    write_message,
)
from linkage.protocol import pseudonymize, seal
from tests.conftest import Ran, cli
from tests.release.test_dp import viewing_table

HOUSEHOLDS = [f"HH{i:04d}" for i in range(300)]
A = HOUSEHOLDS[:150]
PERIOD = "2024-03-04..2024-03-04"
B = HOUSEHOLDS[100:250]


@dataclass
class World:
    root: Path
    viewing: Path
    channels: Path

    def home(self, role: str) -> Path:
        return self.root / role


@pytest.fixture(scope="module")
def world(introduced: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Hand-made viewing in a directory of its own; the homes are read-only (copy to write)."""
    root = tmp_path_factory.mktemp("release-cli")
    rows = []
    for i, hid in enumerate(HOUSEHOLDS):
        rows.append((hid, "c1", datetime(2024, 3, 4, 20), datetime(2024, 3, 4, 21)))
        if i % 2:
            rows.append((hid, "c2", datetime(2024, 3, 4, 21), datetime(2024, 3, 4, 22)))
    viewing = root / "viewing.parquet"
    pq.write_table(viewing_table(rows), viewing)
    channels = root / "channels.csv"
    pacsv.write_csv(pa.table({"channel": ["c1", "c2", "c3"]}), channels)
    yield World(introduced, viewing, channels)


@pytest.fixture
def provider(world: World, tmp_path: Path) -> Path:
    """A fresh copy of the provider home (empty ledger) for each test."""
    home = tmp_path / "provider"
    shutil.copytree(world.home("provider"), home)
    return home


def send_assignments(
    world: World, provider: Path, exchange: str, segments: dict[str, Sequence[str]]
) -> None:
    """Seal the matcher's links and the campaign's segment codes to ``provider``.

    One linked record per household, holding every code the household is given.
    """
    secret = load_secret(provider / "keys" / "secret.key")
    codes: dict[str, list[str]] = {}
    for code, hids in segments.items():
        for hid in hids:
            codes.setdefault(hid, []).append(code)
    rids = [f"r{i:04d}" for i in range(len(codes))]
    links = pa.table(
        {"rid": rids, "hp": pa.array(pseudonymize(secret, exchange, list(codes)), pa.string())}
    )
    rows = pa.table(
        {"rid": rids, "segments": pa.array(list(codes.values()), pa.list_(pa.string()))}
    )
    for kind, table, sender in (("assignments", links, "matcher"), ("segments", rows, "campaign")):
        sealed = seal(
            table,
            kind=kind,
            exchange_id=exchange,
            sender=load_identity(world.home(sender) / "keys"),
            recipient=read_card(provider / "card.json"),
        )
        write_message(provider / "inbox" / f"{exchange}.{kind}.nwl", sealed)


def aggregate(world: World, provider: Path, exchange: str, *extra: str) -> Ran:
    return cli(
        "provider",
        "aggregate",
        "--home",
        provider,
        "--viewing",
        world.viewing,
        "--channels",
        world.channels,
        "--period",
        PERIOD,
        "--exchange",
        exchange,
        "--k",
        "5",
        "--min-universe",
        "20",
        *extra,
    )


def snapshot(home: Path) -> dict[str, str]:
    return {
        str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(home.rglob("*"))
        if p.is_file()
    }


def assert_refused(
    result: tuple[int, str, str], before: dict[str, str], home: Path, *needles: str
) -> None:
    code, _, stderr = result
    assert code == 2, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("narwhal: error: "), stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "HH0" not in stderr and "Traceback" not in stderr
    assert snapshot(home) == before  # nothing written: no message, ledger, state


def ledger_lines(home: Path) -> list[str]:
    return read_ledger_lines(home / "ledger" / "releases.jsonl")


def released(world: World, provider: Path, exchange: str) -> pa.Table:
    opened = open_message_file(
        provider / "outbox" / f"{exchange}.viewership.nwl",
        me=load_identity(world.home("campaign") / "keys"),
        contacts=read_contacts(world.home("campaign") / "contacts"),
        expected_kind="viewership",
        expected_exchange=exchange,
    )
    return opened.table


def test_dp_is_the_default_and_an_overspend_is_refused(world: World, provider: Path) -> None:
    send_assignments(world, provider, "x1", {"A": A, "B": B})
    code, out, err = aggregate(world, provider, "x1", "--rho", "0.2")
    assert code == 0, err
    assert "rho 0.2" in out
    table = released(world, provider, "x1")
    shown = table.filter(pa.compute.invert(table["suppressed"]))
    assert shown.num_rows and shown["rating_ci"].null_count == 0  # noisy, with intervals
    assert len(ledger_lines(provider)) == 1

    # The week's budget (0.25 by default) has 0.05 left: a second release that week is refused.
    send_assignments(world, provider, "x2", {"A": A, "B": B})
    before = snapshot(provider)
    result = aggregate(world, provider, "x2", "--rho", "0.2")
    assert_refused(result, before, provider, "privacy budget would be exceeded", "this week")
    # Raising the budget after the fact is refused too.
    result = aggregate(world, provider, "x2", "--rho", "0.2", "--rho-per-week", "1")
    assert_refused(result, before, provider, "fixed at its first release")


def test_dp_refuses_no_segment_so_refusals_answer_nothing(world: World, provider: Path) -> None:
    # A segment one household away from another, and a segment of three households:
    # exact counts refuse both (a one-bit answer), DP releases them noisy.
    send_assignments(world, provider, "x1", {"A": A, "A2": A[1:], "tiny": A[:3]})
    code, _, err = aggregate(world, provider, "x1")
    assert code == 0, err
    table = released(world, provider, "x1")
    assert {"A", "A2", "tiny"} <= set(table["segment"].to_pylist())
    # Whether "tiny" is blanked is decided on its noisy universe: random, not an answer.
    tiny = table.filter(pa.compute.equal(table["segment"], "tiny"))
    assert tiny.num_rows == table.filter(pa.compute.equal(table["segment"], "A")).num_rows


def test_differencing_across_exact_releases_is_refused(world: World, provider: Path) -> None:
    send_assignments(world, provider, "x1", {"A": A, "B": B})
    code, _, err = aggregate(world, provider, "x1", "--exact")
    assert code == 0, err
    # The next exchange's segment is the earlier A minus one household.
    send_assignments(world, provider, "x2", {"A2": A[1:], "B": B})
    before = snapshot(provider)
    result = aggregate(world, provider, "x2", "--exact")
    assert_refused(result, before, provider, "differencing")
    assert len(ledger_lines(provider)) == 1


def test_differencing_within_one_exact_release_is_refused(world: World, provider: Path) -> None:
    send_assignments(world, provider, "x1", {"A": A, "A2": A[1:]})
    before = snapshot(provider)
    assert_refused(aggregate(world, provider, "x1", "--exact"), before, provider, "differ")


def test_a_rerun_replays_the_release_and_buys_no_fresh_noise(world: World, provider: Path) -> None:
    send_assignments(world, provider, "x1", {"A": A, "B": B})
    code, _, err = aggregate(world, provider, "x1", "--rho", "0.1")
    assert code == 0, err
    first = released(world, provider, "x1")

    # Same exchange, same messages, same parameters: the stored release goes out again.
    code, out, err = aggregate(world, provider, "x1", "--rho", "0.1")
    assert code == 0, err
    assert "exact replay" in out
    assert released(world, provider, "x1").equals(first)
    assert len(ledger_lines(provider)) == 1

    # Another rho on the same cells is a new release, charged to the week's budget.
    code, out, err = aggregate(world, provider, "x1", "--rho", "0.05")
    assert code == 0, err
    assert "exact replay" not in out
    assert len(ledger_lines(provider)) == 2


def test_exact_and_rho_contradict(world: World, provider: Path) -> None:
    send_assignments(world, provider, "x1", {"A": A, "B": B})
    before = snapshot(provider)
    result = aggregate(world, provider, "x1", "--exact", "--rho", "0.1")
    assert_refused(result, before, provider, "--exact and --rho")


def test_the_period_is_public_and_required(world: World, provider: Path) -> None:
    send_assignments(world, provider, "x1", {"A": A, "B": B})
    before = snapshot(provider)
    result = cli(
        "provider", "aggregate", "--home", provider, "--viewing", world.viewing,
        "--channels", world.channels, "--exchange", "x1",
    )  # fmt: skip
    assert result[0] == 2 and "--period" in result[2]
    assert snapshot(provider) == before
    result = aggregate(world, provider, "x1", "--period", "2024-03-09..2024-03-04")
    assert_refused(result, before, provider, "period")


def test_tampered_ledger_stops_releases(world: World, provider: Path) -> None:
    send_assignments(world, provider, "x1", {"A": A, "B": B})
    assert aggregate(world, provider, "x1", "--rho", "0.1")[0] == 0
    ledger = provider / "ledger" / "releases.jsonl"
    text = ledger.read_text()
    assert '"rho": 0.1' in text
    ledger.write_text(text.replace('"rho": 0.1', '"rho": 0.01'))
    send_assignments(world, provider, "x2", {"A": A, "B": B})
    before = snapshot(provider)
    result = aggregate(world, provider, "x2", "--rho", "0.1")
    assert_refused(result, before, provider, "hash chain is broken")
