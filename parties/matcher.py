"""The matcher role: links campaign tokens to provider tokens without any key.

It holds nothing of its own; it sees keyed tokens, random record references,
random segment codes and household pseudonyms, and sends back only
(pseudonym, segment code) pairs and aggregate match rates.
"""

from __future__ import annotations

from typing import Annotated

import typer

from linkage.engine import make_engine
from linkage.io import write_message
from linkage.protocol import seal, validate_exchange_id
from linkage.tables import DEFAULT_K
from parties.common import (
    EngineOpt,
    ExchangeOpt,
    HomeOpt,
    SchemaOpt,
    load_link_schema,
    make_app,
    out,
    require_home,
)

app = make_app("matcher", "Matcher role: link the two token files, send assignments and rates.")


@app.command("link")
def link(
    home: HomeOpt,
    exchange: ExchangeOpt,
    k: Annotated[
        int, typer.Option("--k", min=1, help="Suppress match-report counts below k.")
    ] = DEFAULT_K,
    report_epsilon: Annotated[
        float,
        typer.Option(
            "--report-epsilon",
            min=0.0,
            help="Differential privacy on the match report's counts (OpenDP); 0 = exact.",
        ),
    ] = 1.0,
    schema: SchemaOpt = None,
    engine_name: EngineOpt = "duckdb",
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            min=0.0,
            max=1.0,
            help="Posterior cut for fuzzy links; default: chosen from the fitted model.",
        ),
    ] = None,
) -> None:
    """Link the campaign's and the provider's tokens from the inbox.

    Example: narwhal matcher link --home ./m --exchange oh-2026-10
    """
    # The linker's libraries (recordlinkage, scikit-learn, numba) take two
    # seconds to import; init, trust and open do not need them.
    from linkage.match import MatchSettings, assignments_from_links, link_records
    from linkage.release import match_report

    x = validate_exchange_id(exchange)
    h = require_home(home)
    link_schema = load_link_schema(schema)
    settings = MatchSettings.from_schema(link_schema, threshold=threshold)
    me = h.identity()
    with (
        h.inbox_columns(x, "campaign-tokens") as (campaign_msg, campaign),
        h.inbox_columns(x, "provider-tokens") as (provider_msg, provider),
        out.status("linking") as status,
        make_engine(engine_name) as engine,
    ):
        head = f"linking {campaign.num_rows:,} records to {provider.num_rows:,} households"

        def stage(name: str) -> None:
            status.update(f"{head}: {name}")

        # Stage by stage, column by column: the payloads stay on disk.
        result = link_records(campaign, provider, engine=engine, settings=settings, progress=stage)
        segments = campaign.read(["rid", "segments"])
        assignments = assignments_from_links(segments, result.links, engine=engine)
        rates = match_report(
            segments,
            result.links,
            engine=engine,
            k=k,
            epsilon=report_epsilon or None,
            evidence=result.evidence,
        )
        records = campaign.num_rows
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
    h.mark_consumed(x, campaign_msg, provider_msg)
    write_message(h.outbox_message(x, "assignments"), to_provider)
    write_message(h.outbox_message(x, "match-report"), to_campaign)
    rate = result.links.num_rows / max(records, 1)
    out.print(
        f"linked {result.links.num_rows:,} of {records:,} records ({rate:.1%}): "
        f"{result.exact_links:,} exact, {result.fuzzy_links:,} fuzzy, "
        f"{result.group_links:,} by household; {result.ambiguous:,} ambiguous left unlinked"
    )
    out.print(
        f"fuzzy stage: {result.candidates.count:,} candidate pairs "
        f"(reduction ratio {result.candidates.reduction_ratio:.5f}), "
        f"threshold {result.threshold:.3f}; model estimates precision "
        f"{result.est_precision:.3f}, recall {result.est_recall:.3f}"
    )
    out.print(
        f"wrote {h.outbox_message(x, 'assignments')} and {h.outbox_message(x, 'match-report')}"
    )


if __name__ == "__main__":
    app()
