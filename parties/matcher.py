"""The matcher role: links campaign tokens to provider tokens without any key.

It holds nothing of its own; it sees keyed tokens, random record references,
random segment codes and household pseudonyms, and sends back only
(pseudonym, segment code) pairs and aggregate match rates.
"""

from __future__ import annotations

from typing import Annotated

import typer

from linkage import files
from linkage.engine import DuckDBEngine
from linkage.envelope import seal
from linkage.keys import validate_exchange_id
from linkage.matching import assignments_from_links, link_exact, match_report
from parties.common import ExchangeOpt, HomeOpt, fail_cleanly, make_app, out, require_home

app = make_app("matcher", "Matcher role: link the two token files, send assignments and rates.")


@app.command("link")
@fail_cleanly
def link(
    home: HomeOpt,
    exchange: ExchangeOpt,
    k: Annotated[
        int, typer.Option("--k", min=1, help="Suppress match-report counts below k.")
    ] = 50,
) -> None:
    """Link the campaign's and the provider's tokens from the inbox.

    Example: narwhal matcher link --home ./m --exchange oh-2026-10
    """
    x = validate_exchange_id(exchange)
    h = require_home(home)
    me = h.identity()
    campaign_msg = h.open_inbox(x, "campaign-tokens")
    provider_msg = h.open_inbox(x, "provider-tokens")
    campaign, provider = campaign_msg.table, provider_msg.table
    with (
        out.status(f"linking {campaign.num_rows:,} records to {provider.num_rows:,} households"),
        DuckDBEngine() as engine,
    ):
        result = link_exact(campaign, provider, engine=engine)
        assignments = assignments_from_links(campaign, result.links, engine=engine)
        rates = match_report(campaign, result.links, engine=engine, k=k)
    to_provider = seal(
        assignments,
        kind="assignments",
        exchange_id=x,
        sender=me,
        recipient=provider_msg.sender,
    )
    to_campaign = seal(
        rates, kind="match-report", exchange_id=x, sender=me, recipient=campaign_msg.sender
    )
    files.write_message(h.outbox_message(x, "assignments"), to_provider)
    files.write_message(h.outbox_message(x, "match-report"), to_campaign)
    rate = result.links.num_rows / max(campaign.num_rows, 1)
    out.print(
        f"linked {result.links.num_rows:,} of {campaign.num_rows:,} records ({rate:.1%}); "
        f"{result.candidate_pairs:,} candidate pairs, {result.ambiguous:,} ambiguous left unlinked"
    )
    out.print(
        f"wrote {h.outbox_message(x, 'assignments')} and {h.outbox_message(x, 'match-report')}"
    )


if __name__ == "__main__":
    app()
