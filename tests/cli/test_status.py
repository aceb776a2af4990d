"""`narwhal status` and the `next:` line: what a party has, sends, waits for and runs next.

Each stage of an exchange is rebuilt from the completed one by taking away
the files that stage had not made yet; the status must follow.
"""

from __future__ import annotations

from pathlib import Path

from linkage.io import PartyHome, exchange_ids, exchange_status
from tests.conftest import Exchange, cli


def status(ex: Exchange, role: str) -> tuple[PartyHome, str]:
    home = PartyHome(ex.home(role))
    return home, ex.exchange_id


def test_completed_exchange(exchange: Exchange) -> None:
    campaign = exchange_status(*status(exchange, "campaign"))
    assert campaign.done and campaign.role == "campaign"
    assert [(h.path, h.recipient) for h in campaign.send] == [
        (exchange.receipt("campaign", "outbox"), "matcher")
    ]
    assert campaign.send[0].name == "test-matcher"
    assert campaign.next_line() == (
        f"next: send {exchange.receipt('campaign', 'outbox')} to the matcher (test-matcher)"
    )
    matcher = exchange_status(*status(exchange, "matcher"))
    assert matcher.done and not matcher.send and not matcher.commands
    provider = exchange_status(*status(exchange, "provider"))
    assert {(h.path.name, h.recipient) for h in provider.send} == {
        (f"{exchange.exchange_id}.viewership.nwl", "campaign"),
        (f"{exchange.exchange_id}.release-receipt.json", "campaign"),
    }
    assert exchange_ids(PartyHome(exchange.home("provider"))) == [exchange.exchange_id]


def test_each_stage_names_what_to_send_wait_for_and_run(exchange_copy: Exchange) -> None:
    ex = exchange_copy
    x = ex.exchange_id

    # Matcher: the countersigned receipt arrived but is not witnessed yet.
    (ex.home("matcher") / "witness" / "receipts.jsonl").unlink()
    matcher = exchange_status(*status(ex, "matcher"))
    assert matcher.commands == (
        f"narwhal matcher witness --home {ex.home('matcher')} --receipt {ex.receipt('matcher')}",
    )
    # ... and before that, before linking, with one token message missing.
    for kind in ("assignments", "match-report"):
        ex.message("matcher", "outbox", kind).unlink()
    ex.message("matcher", "inbox", "provider-tokens").unlink()
    matcher = exchange_status(*status(ex, "matcher"))
    assert [(a.kind, a.sender) for a in matcher.waiting] == [("provider-tokens", "provider")]
    assert not matcher.commands

    # Campaign: planned, not reported yet -> the report is next.
    ex.receipt("campaign", "outbox").unlink()
    campaign = exchange_status(*status(ex, "campaign"))
    assert campaign.commands == (
        f"narwhal campaign report --home {ex.home('campaign')} --exchange {x} "
        "--ratecard RATECARD.csv --out REPORT_DIR",
    )
    # Without the release: send the codes to the provider, wait for its release.
    ex.message("campaign", "inbox", "viewership").unlink()
    campaign = exchange_status(*status(ex, "campaign"))
    assert [(h.path, h.recipient) for h in campaign.send] == [
        (ex.message("campaign", "outbox", "segments"), "provider")
    ]
    assert [(a.kind, a.sender) for a in campaign.waiting] == [("viewership", "provider")]
    assert campaign.next_line().startswith(
        f"next: send {ex.message('campaign', 'outbox', 'segments')} to the provider "
        "(test-provider); then wait for the viewership from the provider"
    )

    # Provider: both inputs in, nothing released -> aggregate.
    ex.message("provider", "outbox", "viewership").unlink()
    provider = exchange_status(*status(ex, "provider"))
    assert len(provider.commands) == 1
    assert provider.commands[0].startswith(
        f"narwhal provider aggregate --home {ex.home('provider')}"
    )
    # Without the matcher's links: send the tokens, wait for the links.
    ex.message("provider", "inbox", "assignments").unlink()
    provider = exchange_status(*status(ex, "provider"))
    assert [h.path for h in provider.send] == [ex.message("provider", "outbox", "provider-tokens")]
    assert [(a.kind, a.sender) for a in provider.waiting] == [("assignments", "matcher")]


def test_status_command(exchange_copy: Exchange, homes: Path) -> None:
    ex = exchange_copy
    ran = cli("status", "--home", ex.home("provider"), "--exchange", ex.exchange_id)
    assert ran.code == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert (
        lines[0]
        == f"provider home {ex.home('provider')}, exchange {ex.exchange_id}: done on this side"
    )
    assert f"  outbox: {ex.message('provider', 'outbox', 'viewership')}" in lines
    assert lines[-1].startswith(f"next: send {ex.message('provider', 'outbox', 'viewership')} ")

    # A home with no exchange yet: its first command.
    ran = cli("status", "--home", homes / "campaign")
    assert ran.code == 0, ran.stderr
    assert ran.stdout.splitlines() == [
        f"campaign home {homes / 'campaign'}: no exchange yet",
        f"next: run `narwhal campaign tokenize --home {homes / 'campaign'} --voters VOTERS "
        "--segments SEGMENTS.toml --exchange EXCHANGE`",
    ]
    ran = cli("status", "--home", homes / "nowhere")
    assert ran.code == 2 and len(ran.stderr.splitlines()) == 1
