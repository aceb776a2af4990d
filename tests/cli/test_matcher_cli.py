"""`narwhal matcher link` on the session's exchange: what the matcher sees and sends.

Segment codes go campaign -> provider and never through the matcher; the
matcher's report to the campaign is one noisy row, issued once per exchange.
"""

from __future__ import annotations

import stat

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from linkage.io import PartyHome, open_message_file
from linkage.protocol import OpenedMessage
from tests.conftest import Exchange, cli

# kind -> the role whose inbox holds it: everything the matcher receives or sends.
MATCHER_MESSAGES = {
    "campaign-tokens": "matcher",
    "provider-tokens": "matcher",
    "assignments": "provider",
    "match-report": "campaign",
}


def opened(ex: Exchange, kind: str, holder: str) -> OpenedMessage:
    home = PartyHome(ex.home(holder))
    return open_message_file(
        ex.message(holder, "inbox", kind),
        me=home.identity(),
        contacts=home.trusted(),
        expected_kind=kind,
        expected_exchange=ex.exchange_id,
    )


@pytest.mark.parametrize("kind", sorted(MATCHER_MESSAGES))
def test_no_message_the_matcher_receives_or_sends_holds_a_segment(
    exchange: Exchange, kind: str
) -> None:
    message = opened(exchange, kind, MATCHER_MESSAGES[kind])
    columns = [c.lower() for c in (*message.manifest.columns, *message.table.column_names)]
    assert columns
    assert not [c for c in columns if "segment" in c], kind
    # Nor a value that is a segment code: the codes the campaign issued for the exchange.
    codes = set(
        opened(exchange, "segments", "provider")
        .table["segments"]
        .combine_chunks()
        .flatten()
        .to_pylist()
    )
    for name in message.table.column_names:
        column = message.table[name]
        if pa.types.is_string(column.type):
            assert not codes & set(pc.unique(column).to_pylist()), (kind, name)


def test_the_provider_gets_links_and_segments_and_matches_them_by_rid(exchange: Exchange) -> None:
    links = opened(exchange, "assignments", "provider").table
    segments = opened(exchange, "segments", "provider").table
    assert links.column_names == ["rid", "hp"]
    assert segments.column_names == ["rid", "segments"]
    # One segments row per real record (the campaign's rid map); a linked rid without one
    # is a dummy record, which the provider drops.
    rid_map = pq.read_table(PartyHome(exchange.home("campaign")).rid_map_path(exchange.exchange_id))
    assert set(segments["rid"].to_pylist()) == set(rid_map["rid"].to_pylist())
    real = set(links["rid"].to_pylist()) & set(segments["rid"].to_pylist())
    assert 0 < len(real) < segments.num_rows
    report = opened(exchange, "match-report", "campaign").table.to_pylist()
    assert len(report) == 1
    # The noisy household count is near the true one (3 sd of the noise is well inside 15%).
    households = pc.count_distinct(links["hp"]).as_py()
    assert abs(report[0]["linked_households"] - households) < 0.15 * households


def test_a_rerun_resends_the_report_first_issued(exchange_copy: Exchange) -> None:
    ex = exchange_copy
    first = opened(ex, "match-report", "campaign")
    issued = PartyHome(ex.home("matcher")).issued_report_path(ex.exchange_id)
    assert stat.S_IMODE(issued.stat().st_mode) == 0o600
    ran = cli("matcher", "link", "--home", ex.home("matcher"), "--exchange", ex.exchange_id)
    assert ran.code == 0, ran.stderr
    assert "re-sent as first issued" in ran.stdout
    ex.deliver("matcher", "match-report", "campaign")
    again = opened(ex, "match-report", "campaign")
    assert again.manifest.message_id != first.manifest.message_id
    assert again.table.equals(first.table)
