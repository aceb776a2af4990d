"""Post-buy through the real CLI: `campaign schedule`, `provider deliver`, report, witness.

Runs on a private copy of the session's completed exchange (``tests/conftest.py``),
in-process (``cli``): the campaign sends a schedule made from its own plan, the
provider measures and releases the delivery, the campaign's report sets plan
against delivery and countersigns the delivery's receipt, and the matcher
witnesses it. The refusals exit 2 with one line and leave the homes unchanged.
"""

from __future__ import annotations

import hashlib
import shutil
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from linkage.audit import audit_delivery, audit_ledger, load_exchange
from linkage.io import (
    PartyHome,
    load_identity,
    open_message_file,
    read_card,
    read_contacts,
    write_message,
)
from linkage.protocol import seal
from linkage.release import ENTRIES_FILE
from linkage.tables import DELIVERY_SCHEMA
from tests.conftest import MIN_UNIVERSE, Exchange, K, Ran, cli

MARKETS = ("cleveland", "columbus", "lima")


def markets_file(ex: Exchange, dst: Path) -> Path:
    """The world's market file; without one, each household in one of three, by a hash."""
    if (ex.world / "provider/markets.parquet").is_file():
        return ex.world / "provider/markets.parquet"
    hids = pq.read_table(ex.world / "provider/subscribers.parquet")["household_id"].to_pylist()
    pick = [MARKETS[zlib.crc32(h.encode()) % len(MARKETS)] for h in hids]
    pq.write_table(pa.table({"household_id": hids, "market": pick}), dst)
    return dst


def period(ex: Exchange) -> str:
    return (ex.world / "provider/period.txt").read_text().strip()


def schedule(ex: Exchange, aired: Path, *extra: str | Path) -> Ran:
    return cli("campaign", "schedule", "--home", ex.home("campaign"), "--exchange",
               ex.exchange_id, "--aired", aired, *extra)  # fmt: skip


def deliver(ex: Exchange, markets: Path, *extra: str | Path) -> Ran:
    return cli(
        "provider", "deliver", "--home", ex.home("provider"), "--exchange", ex.exchange_id,
        "--viewing", ex.world / "provider/viewing.parquet", "--markets", markets,
        "--period", period(ex), "--k", str(K), "--min-universe", str(MIN_UNIVERSE), *extra,
    )  # fmt: skip


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()


def refused(ran: Ran) -> str:
    assert ran.code == 2, ran.stdout + ran.stderr
    lines = [line for line in ran.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("narwhal: error:"), ran.stderr
    return lines[0]


@pytest.fixture
def scheduled(exchange_copy: Exchange, tmp_path: Path) -> tuple[Exchange, Path]:
    """The exchange with the plan's spots sent as aired and carried to the provider."""
    ex = exchange_copy
    aired = tmp_path / "aired.csv"
    # A fixed buy from the rate card (the session's tiny world often plans nothing
    # once cells are valued at the low end of their noisy intervals).
    card = pacsv.read_csv(ex.world / "campaign/ratecard.csv")
    bought = card.filter(pc.is_in(card["market"], pa.array(["cleveland", "columbus"]))).slice(0, 40)
    plan = tmp_path / "plan.csv"
    pacsv.write_csv(
        bought.select(["market", "channel", "daypart"]).append_column(
            "spots", pa.array([2] * bought.num_rows, pa.int64())
        ),
        plan,
    )
    ran = schedule(ex, aired, "--from-plan", plan, "--period", period(ex))
    assert ran.code == 0, ran.stderr
    ex.deliver("campaign", "aired-schedule", "provider")
    return ex, markets_file(ex, tmp_path / "markets.parquet")


def test_post_buy_end_to_end(scheduled: tuple[Exchange, Path], tmp_path: Path) -> None:
    ex, markets = scheduled
    ran = deliver(ex, markets)
    assert ran.code == 0, ran.stderr
    provider = ex.home("provider")
    me = load_identity(ex.home("campaign") / "keys")
    opened = open_message_file(
        ex.message("provider", "outbox", "delivery"),
        me=me,
        contacts=read_contacts(ex.home("campaign") / "contacts"),
        expected_kind="delivery",
        expected_exchange=ex.exchange_id,
    )
    payload = opened.table
    assert payload.schema == DELIVERY_SCHEMA
    assert "*" in payload["market"].to_pylist()
    released = payload.filter(pa.compute.invert(payload["suppressed"]))
    assert released.num_rows > 0
    assert min(released["reach_households"].to_pylist()) >= K  # k on noisy values
    assert "household_id" not in payload.column_names
    entries = (provider / "ledger" / ENTRIES_FILE).read_text().splitlines()
    assert len(entries) == 2 and '"rho": 0.02' in entries[-1]

    # The same schedule again: an exact replay, nothing new spent.
    assert deliver(ex, markets).code == 0
    assert len((provider / "ledger" / ENTRIES_FILE).read_text().splitlines()) == 2

    ex.deliver("provider", "delivery", "campaign")
    receipt = f"{ex.exchange_id}.delivery-receipt.json"
    shutil.copyfile(provider / "outbox" / receipt, ex.home("campaign") / "inbox" / receipt)
    ran = cli("campaign", "report", "--home", ex.home("campaign"), "--exchange", ex.exchange_id,
              "--out", ex.report)  # fmt: skip
    assert ran.code == 0, ran.stderr
    versus = pacsv.read_csv(ex.report / "plan_delivery.csv")
    assert {"planned_trps", "delivered_trps", "cost_per_delivered_point"} <= set(
        versus.column_names
    )
    assert "all_matched" in versus["segment"].to_pylist()
    assert 'id="delivery-table"' in (ex.report / "report.html").read_text()

    # The matcher witnesses the countersigned delivery receipt like a release's.
    witnessed = ex.home("matcher") / "inbox" / receipt
    shutil.copyfile(ex.home("campaign") / "outbox" / receipt, witnessed)
    ran = cli("matcher", "witness", "--home", ex.home("matcher"), "--receipt", witnessed)
    assert ran.code == 0, ran.stderr

    # The audit: the delivery's k, grid and ledger charge; the ledger matches the witness.
    homes = {role: PartyHome(ex.home(role)) for role in ("campaign", "matcher", "provider")}
    checked = load_exchange(homes)
    result = audit_delivery(checked, ex.world)
    assert result.passed and not result.skipped, result.detail
    assert audit_ledger(checked, ex.world).passed
    # A delivery showing a row reached by fewer than k households fails it.
    rows = payload.to_pylist()
    shown = next(i for i, r in enumerate(rows) if not r["suppressed"])
    rows[shown]["reach_households"] = K - 1
    leaky = seal(
        pa.Table.from_pylist(rows, schema=DELIVERY_SCHEMA),
        kind="delivery",
        exchange_id=ex.exchange_id,
        sender=load_identity(provider / "keys"),
        recipient=read_card(ex.home("campaign") / "card.json"),
    )
    write_message(ex.message("campaign", "inbox", "delivery"), leaky)
    failed = audit_delivery(load_exchange(homes), ex.world)
    assert not failed.passed and f"fewer than k={K}" in failed.detail


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (("--exact",), "differentially private only"),
        (("--rho", "0"), "--rho must be positive"),
        (("--rho", "5"), "privacy budget would be exceeded"),
        (("--channels", "missing.csv"), ""),
    ],
)
def test_deliver_refusals_change_nothing(
    scheduled: tuple[Exchange, Path], extra: tuple[str, ...], says: str
) -> None:
    ex, markets = scheduled
    before = tree_digest(ex.home("provider"))
    line = refused(deliver(ex, markets, *extra))
    assert says in line
    assert tree_digest(ex.home("provider")) == before


def test_deliver_without_a_schedule_says_what_to_do(
    exchange_copy: Exchange, tmp_path: Path
) -> None:
    line = refused(deliver(exchange_copy, markets_file(exchange_copy, tmp_path / "m.parquet")))
    assert "no aired schedule" in line and "campaign schedule" in line


def test_schedule_refusals_name_the_row(exchange_copy: Exchange, tmp_path: Path) -> None:
    ex = exchange_copy
    bad = tmp_path / "aired.csv"
    bad.write_text(
        "market,channel,date,time\ncleveland,WKYC,2026-10-05,20:15:00\n"
        "cleveland,WKYC,2026-10-05,8pm-ish\n"
    )
    line = refused(schedule(ex, bad))
    assert "column 'time', row 2" in line and "8pm" not in line
    assert not ex.message("campaign", "outbox", "aired-schedule").exists()
    assert "--from-plan" in refused(schedule(ex, bad, "--period", period(ex)))
    missing = refused(schedule(ex, bad, "--from-plan", ex.report / "plan.csv"))
    assert "--period" in missing
