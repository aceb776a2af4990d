"""The matcher role: links campaign tokens to provider tokens without any key.

It holds nothing of its own; it sees keyed tokens, random record references
and household pseudonyms (never a segment code), and sends back only the links
(record reference, pseudonym) to the provider and one differentially private
row of global linkage statistics to the campaign.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated

import typer

from linkage.engine import make_engine
from linkage.errors import StateError
from linkage.io import PRIVATE_MODE, atomic_write_text, read_text, write_message
from linkage.protocol import seal, validate_exchange_id
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
from parties.progress import StepProgress
from parties.status import print_next

app = make_app("matcher", "Matcher role: link the two token files, send links and a DP report.")


@app.command("link")
def link(
    home: HomeOpt,
    exchange: ExchangeOpt,
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
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Re-link an exchange with other settings: the assignments already sent "
            "become invalid (the match report stays the one first issued).",
        ),
    ] = False,
) -> None:
    """Link the campaign's and the provider's tokens from the inbox.

    Sends the provider the links and the campaign a differentially private
    match report (rho fixed by the protocol). A re-run for the same exchange
    re-sends the report first issued, never fresh noise; one with another
    --schema or --threshold refuses unless --force.

    Example: narwhal matcher link --home ./m --exchange oh-2026-10
    """
    # The linker's libraries (recordlinkage, scikit-learn, numba) take two
    # seconds to import; init, trust and open do not need them.
    from linkage.match import MatchSettings, link_records
    from linkage.release import IssuedReport, match_report

    x = validate_exchange_id(exchange)
    h = require_home(home)
    link_schema = load_link_schema(schema)
    settings = MatchSettings.from_schema(link_schema, threshold=threshold)
    chosen = _settings_digest(None if schema is None else read_text(schema), threshold)
    settings_path = h.state(x) / "link-settings.json"
    linked_before = json.loads(read_text(settings_path)) if settings_path.is_file() else {}
    if linked_before and linked_before.get("settings") != chosen and not force:
        raise StateError(
            f"exchange {x} was linked with another --schema or --threshold",
            file=str(settings_path),
            hint="--force re-links it and invalidates the assignments already sent "
            "(the match report stays the one first issued)",
        )
    me = h.identity()
    with (
        h.inbox_columns(x, "campaign-tokens") as (campaign_msg, campaign),
        h.inbox_columns(x, "provider-tokens") as (provider_msg, provider),
        StepProgress("matcher link") as progress,
        make_engine(engine_name) as engine,
    ):
        # Stage by stage, column by column: the payloads stay on disk.
        result = link_records(
            campaign, provider, engine=engine, settings=settings, progress=progress
        )
        records = campaign.num_rows
    issued_path = h.issued_report_path(x)
    inputs = (campaign_msg.manifest.message_id, provider_msg.manifest.message_id)
    issued: IssuedReport | None = None
    if issued_path.is_file():
        rates = IssuedReport.from_json(read_text(issued_path), file=str(issued_path)).reuse_for(
            inputs, file=str(issued_path)
        )
    else:
        rates = match_report(result.links, evidence=result.evidence)
        issued = IssuedReport(inputs, rates)
    assignments = result.links.select(["rid", "hp"])
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
    if issued is not None:
        # State first, messages last: a crash re-sends this report, never redraws it.
        atomic_write_text(issued_path, issued.to_json(), mode=PRIVATE_MODE)
    atomic_write_text(settings_path, json.dumps({"settings": chosen}), mode=PRIVATE_MODE)
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
    for warning in result.warnings:
        out.print(f"warning: {warning}", markup=False, highlight=False)
    report = rates.to_pylist()[0]
    again = "" if issued is not None else " (re-sent as first issued)"
    out.print(
        f"match report{again}: about {report['linked_households']:,} households and "
        f"{report['linked_records']:,} records linked (95% +/- {report['households_ci']:.0f} "
        f"and {report['records_ci']:.0f}; rho {report['rho']:g})"
    )
    out.print(
        f"wrote {h.outbox_message(x, 'assignments')} and {h.outbox_message(x, 'match-report')}"
    )
    print_next(h, x)


def _settings_digest(schema_text: str | None, threshold: float | None) -> str:
    """What decides the links besides the two token messages: the schema and the threshold."""
    doc = json.dumps({"schema": schema_text, "threshold": threshold}, sort_keys=True)
    return hashlib.sha256(doc.encode("utf-8")).hexdigest()


@app.command("witness")
def witness_(
    home: HomeOpt,
    receipt_file: Annotated[
        Path,
        typer.Option("--receipt", help="A release receipt countersigned by the campaign."),
    ],
) -> None:
    """Verify a countersigned release receipt and keep it in the witness log (HOME/witness).

    The receipt is the provider's ledger head for one release, signed by the
    provider and countersigned by the campaign. It must extend every receipt
    witnessed before for the same organisation; the audit later fails a
    provider ledger that is behind any witnessed receipt.

    Example: narwhal matcher witness --home ./m --receipt ./m/inbox/oh-2026-10.release-receipt.json
    """
    from linkage.release import read_receipt, verify_countersigned, witness

    h = require_home(home)
    h.identity()
    receipt = read_receipt(receipt_file)
    verify_countersigned(receipt, h.trusted(), me=h.card().fingerprint, file=str(receipt_file))
    added = witness(h.witness_log, receipt)
    head = receipt.head
    state = "witnessed" if added else "already witnessed"
    out.print(
        f"{state}: release {head.seq} to {head.org} (rho {head.rho_spent:.4g} spent in total); "
        f"log {h.witness_log}"
    )
    print_next(h, head.exchange)


if __name__ == "__main__":
    app()
