"""`narwhal provider aggregate --panel`: the week store, retention with the release, replays.

Runs the real CLI in process on two hand-made weeks of viewing (the retention
of a known set of households is the point, which a synthetic world does not
name), in a copy of the session's introduced homes. Links and segment codes
are sealed with the matcher's and campaign's real keys, one exchange per week.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
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
from linkage.protocol import panel_household_ids, seal
from linkage.release import read_receipt
from linkage.tables import RETENTION_SCHEMA
from tests.cli.test_release_cli import World, send_assignments
from tests.conftest import Exchange, Ran, cli
from tests.release.test_dp import viewing_table

HOUSEHOLDS = [f"HH{i:04d}" for i in range(300)]
LOYAL = HOUSEHOLDS[:120]  # c1 in both weeks
WEEK1 = "2024-03-04..2024-03-10"
WEEK2 = "2024-03-11..2024-03-17"


@pytest.fixture(scope="module")
def world(introduced: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Every household watches c1 in week 1; the first 120 again in week 2; all c2 in week 2."""
    root = tmp_path_factory.mktemp("panel-cli")
    rows = []
    for i, hid in enumerate(HOUSEHOLDS):
        rows.append((hid, "c1", datetime(2024, 3, 5, 20), datetime(2024, 3, 5, 21)))
        if i < len(LOYAL):
            rows.append((hid, "c1", datetime(2024, 3, 12, 20), datetime(2024, 3, 12, 21)))
        rows.append((hid, "c2", datetime(2024, 3, 13, 21), datetime(2024, 3, 13, 22)))
    viewing = root / "viewing.parquet"
    pq.write_table(viewing_table(rows), viewing)
    channels = root / "channels.csv"
    pacsv.write_csv(pa.table({"channel": ["c1", "c2", "c3"]}), channels)
    yield World(introduced, viewing, channels)


@pytest.fixture
def provider(world: World, tmp_path: Path) -> Path:
    home = tmp_path / "provider"
    shutil.copytree(world.home("provider"), home)
    return home


def aggregate(world: World, provider: Path, exchange: str, period: str, *extra: str) -> Ran:
    return cli(
        "provider", "aggregate", "--home", provider, "--viewing", world.viewing,
        "--channels", world.channels, "--period", period, "--exchange", exchange,
        "--k", "5", "--min-universe", "20", "--rho", "0.2", "--no-tiers", *extra,
    )  # fmt: skip


def opened(world: World, provider: Path, exchange: str, kind: str) -> pa.Table:
    return open_message_file(
        provider / "outbox" / f"{exchange}.{kind}.nwl",
        me=load_identity(world.home("campaign") / "keys"),
        contacts=read_contacts(world.home("campaign") / "contacts"),
        expected_kind=kind,
        expected_exchange=exchange,
    ).table


def week_files(provider: Path, panel: str) -> list[Path]:
    return sorted((provider / "panels" / panel / "weeks").glob("*.parquet"))


def test_first_week_stores_and_releases_no_retention(world: World, provider: Path) -> None:
    send_assignments(world, provider, "w1", {"A": HOUSEHOLDS[:200]})
    code, out, err = aggregate(world, provider, "w1", WEEK1, "--panel", "p1")
    assert code == 0, err
    assert "no earlier week, no retention" in out
    assert not (provider / "outbox" / "w1.retention.nwl").exists()
    [stored] = week_files(provider, "p1")
    assert stored.name == "2024-03-04_2024-03-10.parquet"
    assert stored.stat().st_mode & 0o077 == 0
    first = stored.read_bytes()
    rows = pq.read_table(stored)
    assert rows.num_rows == len(HOUSEHOLDS)  # one (household, channel) each: c1 only
    secret = load_secret(provider / "keys" / "secret.key")
    assert set(rows["panel_household"].to_pylist()) == set(
        panel_household_ids(secret, "p1", HOUSEHOLDS)
    )
    # Only the release is charged: no retention this week.
    assert json.loads(read_ledger_lines(provider / "ledger" / "releases.jsonl")[0])["rho"] == 0.2
    # The same week again (a replay) reproduces the same file.
    code, out, err = aggregate(world, provider, "w1", WEEK1, "--panel", "p1")
    assert code == 0, err
    assert "exact replay" in out and stored.read_bytes() == first


def test_second_week_releases_retention_charged_with_the_release(
    world: World, provider: Path
) -> None:
    send_assignments(world, provider, "w1", {"A": HOUSEHOLDS[:200]})
    assert aggregate(world, provider, "w1", WEEK1, "--panel", "p1").code == 0
    # Week 2: segments change (B is new), membership is this week's.
    send_assignments(world, provider, "w2", {"A": HOUSEHOLDS[:150], "B": HOUSEHOLDS[100:300]})
    code, out, err = aggregate(world, provider, "w2", WEEK2, "--panel", "p1")
    assert code == 0, err
    assert "retention against 2024-03-04..2024-03-10 released (rho 0.01" in out
    assert len(week_files(provider, "p1")) == 2
    table = opened(world, provider, "w2", "retention")
    assert table.schema == RETENTION_SCHEMA
    rows = {(r["segment"], r["channel"]): r for r in table.to_pylist()}
    assert set(rows) == {(s, c) for s in ("*", "A", "B") for c in ("c1", "c2", "c3")}
    a = rows[("A", "c1")]
    # Truth: 150 in A watched c1 in week 1, 120 of them in week 2 (80%); noise at rho 0.01.
    assert not a["suppressed"]
    assert abs(a["retention"] - 80.0) <= 3 * a["retention_ci"]
    # Nobody in A watched c2 in week 1: suppressed, or a count within five noise sd of 0.
    assert rows[("A", "c2")]["suppressed"] or rows[("A", "c2")]["earlier_households"] < 150
    entries = [
        json.loads(line) for line in read_ledger_lines(provider / "ledger" / "releases.jsonl")
    ]
    assert len(entries) == 2 and entries[1]["rho"] == pytest.approx(0.21)
    # One entry, one receipt for both: the release's rho and the retention's.
    receipt = read_receipt(provider / "outbox" / "w2.release-receipt.json")
    assert receipt.head.rho == pytest.approx(0.21)

    # No sealed message carries a panel ID (nor a household id).
    secret = load_secret(provider / "keys" / "secret.key")
    panel_ids = set(panel_household_ids(secret, "p1", HOUSEHOLDS))
    for exchange in ("w1", "w2"):
        for kind in ("viewership", "retention"):
            path = provider / "outbox" / f"{exchange}.{kind}.nwl"
            if not path.exists():
                continue
            payload = opened(world, provider, exchange, kind)
            values = {
                str(v)
                for name in payload.column_names
                if pa.types.is_string(payload.schema.field(name).type)
                for v in payload[name].to_pylist()
            }
            assert not values & panel_ids and not values & set(HOUSEHOLDS)

    # A replay re-sends the retention released, never a fresh draw.
    code, out, err = aggregate(world, provider, "w2", WEEK2, "--panel", "p1")
    assert code == 0, err
    assert "exact replay" in out
    assert opened(world, provider, "w2", "retention").equals(table)
    assert len(read_ledger_lines(provider / "ledger" / "releases.jsonl")) == 2


def test_without_panel_nothing_is_stored_and_bad_panel_ids_are_refused(
    world: World, provider: Path
) -> None:
    send_assignments(world, provider, "w1", {"A": HOUSEHOLDS[:200]})
    bad = aggregate(world, provider, "w1", WEEK1, "--panel", "../x")
    assert bad.code == 2 and "invalid panel id" in bad.stderr
    code, _, err = aggregate(world, provider, "w1", WEEK1)
    assert code == 0, err
    assert not (provider / "panels").exists()


def test_campaign_report_with_a_previous_week_and_retention(
    exchange_copy: Exchange, tmp_path: Path
) -> None:
    """The session's exchange as this week; last week is its release re-sealed under `prev`."""
    ex = exchange_copy
    campaign, provider = ex.home("campaign"), ex.home("provider")
    me = load_identity(campaign / "keys")
    view = open_message_file(
        ex.message("campaign", "inbox", "viewership"),
        me=me,
        contacts=read_contacts(campaign / "contacts"),
        expected_kind="viewership",
        expected_exchange=ex.exchange_id,
    ).table
    (campaign / "state" / "prev").mkdir()
    state = campaign / "state" / ex.exchange_id / "segments.json"
    shutil.copyfile(state, campaign / "state" / "prev" / "segments.json")
    codes: dict[str, str] = json.loads(state.read_text())["codes"]
    sender = load_identity(provider / "keys")
    card = read_card(campaign / "card.json")
    write_message(
        campaign / "inbox" / "prev.viewership.nwl",
        seal(view, kind="viewership", exchange_id="prev", sender=sender, recipient=card),
    )
    code = sorted(codes.values())[0]
    rows = 2
    retention = pa.table(
        {
            "segment": ["*", code],
            "channel": ["CNN", "CNN"],
            "earlier_first_day": pa.array([datetime(2024, 3, 4).date()] * rows, pa.date32()),
            "earlier_last_day": pa.array([datetime(2024, 3, 10).date()] * rows, pa.date32()),
            "earlier_households": pa.array([900, None], pa.int64()),
            "both_households": pa.array([600, None], pa.int64()),
            "retention": pa.array([66.7, None], pa.float64()),
            "retention_ci": pa.array([4.0, None], pa.float64()),
            "suppressed": [False, True],
            "k": pa.array([5] * rows, pa.int64()),
            "rho": pa.array([0.01] * rows, pa.float64()),
        },
        schema=RETENTION_SCHEMA,
    )
    write_message(
        ex.message("campaign", "inbox", "retention"),
        seal(retention, kind="retention", exchange_id=ex.exchange_id, sender=sender,
             recipient=card),
    )  # fmt: skip
    out = tmp_path / "report"
    same = cli("campaign", "report", "--home", campaign, "--exchange", ex.exchange_id,
               "--previous", ex.exchange_id, "--out", out)  # fmt: skip
    assert same.code == 2 and "--previous names this exchange" in same.stderr
    ran = cli("campaign", "report", "--home", campaign, "--exchange", ex.exchange_id,
              "--previous", "prev", "--out", out)  # fmt: skip
    assert ran.code == 0, ran.stderr
    assert f"weekly trend over prev -> {ex.exchange_id}" in ran.stdout
    trend = pacsv.read_csv(out / "trend.csv")
    # The same release twice: every change is 0, with a combined interval.
    changes = [v for v in trend["rating_change"].to_pylist() if v is not None]
    assert changes and all(v == pytest.approx(0.0) for v in changes)
    assert set(trend["previous_exchange"].to_pylist()) == {"prev"}
    kept = pacsv.read_csv(out / "retention.csv")
    assert set(kept["segment"].to_pylist()) >= {"all_matched"}
    page = (out / "report.html").read_text()
    assert 'id="trend-table"' in page and 'id="retention-table"' in page


def test_campaign_tokenize_keeps_its_own_week_to_week_map(exchange_copy: Exchange) -> None:
    ex = exchange_copy
    campaign = ex.home("campaign")
    voters = ex.world / "campaign" / "voters.parquet"
    ran = cli("campaign", "tokenize", "--home", campaign, "--voters", voters,
              "--segments", ex.world / "campaign" / "segments.toml", "--exchange", "week-2",
              "--previous", ex.exchange_id)  # fmt: skip
    assert ran.code == 0, ran.stderr
    mapped = pq.read_table(campaign / "state" / "week-2" / f"rids-from-{ex.exchange_id}.parquet")
    assert mapped.column_names == ["previous_rid", "rid"]
    assert (campaign / "state" / "week-2" / f"rids-from-{ex.exchange_id}.parquet").stat(
    ).st_mode & 0o077 == 0  # fmt: skip
    before = pq.read_table(campaign / "state" / ex.exchange_id / "rids.parquet")
    after = pq.read_table(campaign / "state" / "week-2" / "rids.parquet")
    # The same voter file: every voter maps, and through the voter id, never by position.
    assert mapped.num_rows == before.num_rows
    by_voter = dict(zip(before["voter_id"].to_pylist(), before["rid"].to_pylist(), strict=True))
    now = dict(zip(after["rid"].to_pylist(), after["voter_id"].to_pylist(), strict=True))
    assert all(by_voter[now[r]] == p for p, r in zip(
        mapped["previous_rid"].to_pylist(), mapped["rid"].to_pylist(), strict=True))  # fmt: skip
    assert not set(mapped["rid"].to_pylist()) & set(before["rid"].to_pylist())
    # Nothing sent carries the map: the outbox holds this week's rids only.
    assert not any("rids-from" in p.name for p in (campaign / "outbox").iterdir())
