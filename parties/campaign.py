"""The campaign role: tokenizes its voter file, later decodes the aggregates it gets back.

The campaign keeps ``rid -> voter_id``, ``code -> segment`` and its own record
counts per segment in its private state; what leaves is keyed tokens under
random references (to the matcher) and random segment codes under the same
references (to the provider, never through the matcher).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import typer
from rich.progress import (
    TaskID,
)
from rich.table import Table

from linkage.encode import (
    assign_codes,
    check_segment_sizes,
    column_kinds,
    evaluate,
    load_segments,
    membership_lists,
    near_duplicate_segments,
)
from linkage.errors import InputError, StateError
from linkage.io import (
    PRIVATE_MODE,
    PartyHome,
    atomic_write_bytes,
    atomic_write_csv,
    atomic_write_parquet,
    atomic_write_text,
    read_input_table,
    read_text,
    write_message,
)
from linkage.measure import project_to_voters, tier_codes
from linkage.plan import (
    PLAN_BASELINE_CSV,
    PLAN_COMPARISON_CSV,
    PLAN_CSV,
    PLAN_NAMES,
    RATECARD_COLUMNS,
    PlanRequest,
    PlanResult,
    check_feasible,
    check_targets,
    make_plan,
    normalise_weights,
    parse_ratecard,
    validate_request,
)
from linkage.protocol import random_refs, seal, validate_exchange_id
from linkage.release import (
    accept_receipt,
    countersign,
    load_heads,
    read_receipt,
    save_heads,
    write_receipt,
)
from linkage.report import (
    REPORT_HTML,
    build_report,
    decode_viewership,
    linkage_quality_note,
    match_rate_table,
)
from linkage.tables import ALL_MATCHED, DEFAULT_MIN_UNIVERSE
from parties.common import (
    ExchangeOpt,
    HomeOpt,
    SchemaOpt,
    TokenRun,
    WorkersOpt,
    make_app,
    out,
    progress_bar,
    require_home,
    write_token_message,
)
from parties.progress import StepProgress
from parties.status import print_next

app = make_app("campaign", "Campaign role: tokenize the voter file, read the results, plan.")

VOTER_COLUMNS = ("voter_id", "first_name", "last_name", "address", "city", "state", "zip")


@app.command("tokenize")
def tokenize(
    home: HomeOpt,
    voters: Annotated[Path, typer.Option("--voters", help="Voter file (Parquet or CSV).")],
    segments: Annotated[Path, typer.Option("--segments", help="Segment rules (TOML).")],
    exchange: ExchangeOpt,
    schema: SchemaOpt = None,
    workers: WorkersOpt = None,
    min_universe: Annotated[
        int,
        typer.Option(
            "--min-universe",
            min=1,
            help="Refuse a segment with fewer voters than the provider's minimum universe "
            "(households) it will release on.",
        ),
    ] = DEFAULT_MIN_UNIVERSE,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Start an exchange that was already tokenized over, with new references and "
            "codes: the messages already sent for it become invalid.",
        ),
    ] = False,
) -> None:
    """Turn the voter file into keyed tokens for the matcher and segment codes for the provider.

    A re-run for a tokenized exchange refuses (its messages are in the
    outbox already); one interrupted before both messages were written
    finishes them with the same references and codes.

    Example: narwhal campaign tokenize --home ./c --voters voters.parquet
    --segments segments.toml --exchange oh-2026-10
    """
    x = validate_exchange_id(exchange)
    h = require_home(home)
    run = TokenRun.start(h, x, "campaign-tokens", "a", peer="provider")
    provider = h.peer("provider")
    link_schema, table = run.read(
        voters, schema, id_column="voter_id", default_columns=VOTER_COLUMNS
    )
    rules_text = read_text(segments)
    inputs = _inputs_digest(
        table, rules_text, "" if schema is None else read_text(schema), run.key.fingerprint()
    )
    if force and run.target.is_file():
        # Same key, same real rows, fresh dummies: the matcher would keep the rows
        # both messages share (every real one) and strip the dummies.
        raise StateError(
            f"exchange {x} already has campaign tokens in {h.outbox}; --force cannot draw them "
            "again",
            hint="agree a new exchange id with the provider and tokenize under it: tokens of "
            "one id drawn twice let the matcher strip the dummy rows",
        )
    resumed = None if force else _interrupted_run(h, x, inputs, table)
    rules = load_segments(rules_text, columns=column_kinds(table.schema), file=str(segments))
    with out.status("evaluating segments"):
        masks = evaluate(rules, table)
    sizes = {name: int(mask.sum()) for name, mask in masks.items()}
    check_segment_sizes(sizes, min_universe=min_universe)
    rids, codes = (
        resumed if resumed is not None else (random_refs(table.num_rows), assign_codes(rules))
    )
    if set(codes) != set(sizes):
        raise StateError(
            "the segment codes of the interrupted run name other segments",
            file=str(h.segment_codes_path(x)),
            hint="run again with --force to start the exchange over",
        )
    known = pa.table({"rid": rids})
    # Sorted by the random rid: the row order says nothing about the voter file's.
    segment_rows = pa.table({"rid": rids, "segments": membership_lists(masks, codes)})
    segments_message = h.outbox_message(x, "segments")

    def write_segments() -> None:
        if segments_message.is_file() and resumed is not None:
            return  # the interrupted run's, with the same payload: left as sent
        to_provider = seal(
            segment_rows.sort_by("rid"),
            kind="segments",
            exchange_id=x,
            sender=h.identity(),
            recipient=provider,
        )
        write_message(segments_message, to_provider)

    def write_state() -> None:
        # Everything validated and computed: state first (segments.json, which
        # marks the exchange as started, last of it), then the messages; a
        # re-run after a crash anywhere in here finishes with the same refs and codes.
        if resumed is None:
            atomic_write_parquet(
                h.rid_map_path(x),
                pa.table({"rid": rids, "voter_id": table["voter_id"]}),
                mode=PRIVATE_MODE,
            )
            atomic_write_text(
                h.segment_codes_path(x),
                json.dumps(
                    {
                        "codes": codes,
                        "inputs": inputs,
                        "linkage_key": run.key.fingerprint(),
                        "voters": {ALL_MATCHED: table.num_rows, **sizes},
                    },
                    indent=2,
                ),
                mode=0o600,
            )
        write_segments()

    if resumed is not None and run.target.is_file():
        write_state()  # only the segments message was missing
    else:
        with StepProgress("campaign tokenize") as progress:
            write_token_message(
                run,
                link_schema,
                table,
                known,
                workers=workers,
                before_publish=write_state,
                progress=progress,
            )
    again = " (finished an interrupted run)" if resumed is not None else ""
    listed = ", ".join(f"{name} {count:,}" for name, count in sizes.items())
    out.print(f"tokenized {table.num_rows:,} voters{again}; voters per segment: {listed}")
    for overlap in near_duplicate_segments(masks):
        out.print(
            f"warning: segments {overlap.first} and {overlap.second} share "
            f"{overlap.share:.1%} of their voters; their difference singles out the few "
            "others (drop or merge one)",
            markup=False,
            highlight=False,
        )
    out.print(f"wrote {run.target} and {segments_message}", markup=False, highlight=False)
    print_next(h, x)


def _inputs_digest(table: pa.Table, *texts: str) -> str:
    """SHA-256 over the voter table (Arrow IPC, batch by batch) and the texts that shape a run."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(hashlib.sha256(text.encode("utf-8")).digest())
    for batch in table.to_batches(max_chunksize=1 << 16):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        digest.update(sink.getvalue())
    return digest.hexdigest()


def _interrupted_run(
    h: PartyHome, x: str, inputs: str, table: pa.Table
) -> tuple[pa.Array, dict[str, str]] | None:
    """The refs and codes of a run that stopped before both messages were written.

    Returns:
        None when the exchange has no state yet (a fresh start).

    Raises:
        StateError: The exchange is tokenized already, or was started from
            other inputs: a re-run would replace references and codes the
            other parties may hold, so it needs ``--force``.
    """
    state = h.segment_codes_path(x)
    if not state.is_file():
        return None
    if h.outbox_message(x, "campaign-tokens").is_file():
        # Tokens drawn twice under one id let the matcher strip the dummy rows:
        # past this point only a new exchange id starts over.
        force = (
            "to start over, agree a new exchange id with the provider: tokens of one id "
            "drawn twice let the matcher strip the dummy rows"
        )
    else:
        force = (
            f"--force starts exchange {x} over and invalidates the segments message already written"
        )
    recorded = json.loads(read_text(state)).get("inputs")
    if recorded != inputs:
        raise StateError(
            f"exchange {x} was already tokenized from other inputs", file=str(state), hint=force
        )
    sent = (h.outbox_message(x, "campaign-tokens"), h.outbox_message(x, "segments"))
    if all(path.is_file() for path in sent):
        raise StateError(
            f"exchange {x} is already tokenized; send the messages in {h.outbox}",
            hint=force,
        )
    rid_map = read_input_table(h.rid_map_path(x), required=("rid", "voter_id"))
    if not rid_map["voter_id"].equals(table["voter_id"]):
        raise StateError(
            "the interrupted run's record map does not fit the voter file",
            file=str(h.rid_map_path(x)),
            hint=force,
        )
    return rid_map["rid"].combine_chunks(), load_codes(state)


def load_codes(path: Path) -> dict[str, str]:
    """segment name -> code, from this exchange's private state (``segments.json``)."""
    if not path.exists():
        raise StateError(
            "no segment codes for this exchange",
            file=str(path),
            hint="run `narwhal campaign tokenize` for this exchange first",
        )
    data = json.loads(read_text(path))
    codes = data.get("codes")
    if not isinstance(codes, dict):
        raise StateError("segment-code state is malformed", file=str(path))
    return {str(k): str(v) for k, v in codes.items()}


def load_voter_counts(path: Path) -> dict[str, int]:
    """segment name -> the campaign's own record count (``all_matched``: the whole file)."""
    data = json.loads(read_text(path)) if path.exists() else {}
    voters = data.get("voters")
    if not isinstance(voters, dict):
        raise StateError(
            "no record counts per segment for this exchange",
            file=str(path),
            hint="run `narwhal campaign tokenize` for this exchange again",
        )
    return {str(k): int(v) for k, v in voters.items()}


@app.command("report")
def report_(
    home: HomeOpt,
    exchange: ExchangeOpt,
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the report files.")],
    html_page: Annotated[
        bool,
        typer.Option(
            "--html/--no-html",
            help="Also write report.html (self-contained; picks up plan.csv and "
            "plan_comparison.csv already in --out).",
        ),
    ] = True,
    ratecard: Annotated[
        Path | None,
        typer.Option(
            "--ratecard",
            help="Rate card (CSV or Parquet), as for `plan`: the page ranks the best buys "
            "per target segment by cost per target point.",
        ),
    ] = None,
) -> None:
    """Decode the released viewership and write tables, heatmaps and an HTML report.

    Re-running it after `narwhal campaign plan --out` into the same directory
    adds the plan to report.html.

    Example: narwhal campaign report --home ./c --exchange oh-2026-10 --out ./report
    """
    x = validate_exchange_id(exchange)
    h = require_home(home)
    codes = load_codes(h.segment_codes_path(x))
    voters = load_voter_counts(h.segment_codes_path(x))
    match = h.open_inbox(x, "match-report")
    view = h.open_inbox(x, "viewership")
    # The provider's ledger head must extend every head seen before (no rewound ledger).
    receipt = read_receipt(h.inbox_receipt(x))
    heads = accept_receipt(
        receipt,
        load_heads(h.release_heads_path),
        h.trusted(),
        me=h.card().fingerprint,
        exchange=x,
        provider=view.sender.fingerprint,
        file=str(h.inbox_receipt(x)),
    )
    countersigned = countersign(receipt, h.identity(), h.peer("matcher"))
    plan_table, comparison = _read_plan(out_dir) if html_page else (None, None)
    with progress_bar() as progress:
        task: TaskID | None = None

        def drawn(done: int, total: int) -> None:
            nonlocal task
            if task is None:
                task = progress.add_task("drawing heatmaps", total=total)
            progress.update(task, completed=done)

        report = build_report(
            x,
            codes,
            match.table,
            view.table,
            voters=voters,
            plan=plan_table,
            plan_comparison=comparison,
            ratecard=None
            if ratecard is None
            else parse_ratecard(
                read_input_table(ratecard, required=RATECARD_COLUMNS), file=str(ratecard)
            ),
            receipt=receipt.head,
            html=html_page,
            progress=drawn,
        )

    # Everything computed: now write.
    h.mark_consumed(x, match, view)
    save_heads(h.release_heads_path, heads)
    write_receipt(h.outbox_receipt(x), countersigned)  # for the matcher to witness
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, table in report.tables.items():
        atomic_write_csv(out_dir / name, table)
    for name, png in report.images.items():
        atomic_write_bytes(out_dir / name, png)
    if report.html is not None:
        atomic_write_text(out_dir / REPORT_HTML, report.html)

    rates = Table(title="Match rates")
    for col in report.match_rates.column_names:
        rates.add_column(col)
    for row in report.match_rates.to_pylist():
        rates.add_row(*(_fmt(v) for v in row.values()))
    out.print(rates)
    note, fit_warnings = linkage_quality_note(match.table)
    out.print(note, markup=False, highlight=False)
    for warning in fit_warnings:
        out.print(f"warning from the matcher: {warning}", markup=False, highlight=False)
    best = Table(
        title=f"Top channel x daypart per segment ({report.top_day_type}), "
        "by index vs all matched households"
    )
    for col in ("segment", "channel", "daypart", "index", "rating"):
        best.add_column(col)
    for row in report.top:
        best.add_row(row.segment, row.channel, row.daypart, _fmt(row.index), _fmt(row.rating))
    out.print(best)
    out.print(f"report written to {out_dir}")
    if report.html is not None:
        where = "with the plan" if report.with_plan else "no plan yet"
        out.print(f"HTML report ({where}): {out_dir / REPORT_HTML}")
    head = receipt.head
    out.print(
        f"provider's ledger: release {head.seq} to {head.org}, rho {head.rho:g} "
        f"(rho {head.rho_spent:.4g} spent in total); countersigned receipt for the "
        f"matcher: {h.outbox_receipt(x)}"
    )
    print_next(h, x)


def _read_plan(out_dir: Path) -> tuple[pa.Table | None, pa.Table | None]:
    """plan.csv and plan_comparison.csv from the report directory, when `plan` wrote them."""
    plan_path, comparison_path = out_dir / PLAN_CSV, out_dir / PLAN_COMPARISON_CSV
    plan_table = read_input_table(plan_path, required=()) if plan_path.is_file() else None
    comparison = (
        read_input_table(comparison_path, required=()) if comparison_path.is_file() else None
    )
    return plan_table, comparison


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    return "—" if value is None else str(value)


@app.command("plan")
def plan_(
    home: HomeOpt,
    exchange: ExchangeOpt,
    ratecard: Annotated[
        Path,
        typer.Option(
            "--ratecard",
            help="Rate card (CSV or Parquet): channel, daypart, cost_per_spot, units_available.",
        ),
    ],
    budget: Annotated[float, typer.Option("--budget", help="Budget in US dollars.")],
    target: Annotated[str, typer.Option("--target", help="Target segment(s), comma-separated.")],
    weights: Annotated[
        str | None,
        typer.Option("--weights", help="One weight per target, comma-separated (default: equal)."),
    ] = None,
    light_priority: Annotated[
        float,
        typer.Option(
            "--light-priority",
            help="Extra weight on light viewers (< 2 h/day) of each target: 1.0 counts "
            "an impression on a light viewer twice. Needs the provider's tier release.",
        ),
    ] = 0.0,
    min_channels: Annotated[
        int, typer.Option("--min-channels", help="Put spots on at least this many channels.")
    ] = 0,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Directory for plan.csv and plan_comparison.csv.")
    ] = Path("plan"),
    time_limit: Annotated[
        float, typer.Option("--time-limit", help="Seconds the solver may search per plan.")
    ] = 60.0,
) -> None:
    """Choose spots that maximise target rating points for the budget (CBC solver).

    Compares the plan with the ratio-rule (greedy) plan and with a plan bought
    on all-household ratings under the same budget; writes plan.csv,
    plan_all_households.csv and plan_comparison.csv.

    Example: narwhal campaign plan --home ./c --exchange oh-2026-10
    --ratecard ratecard.csv --budget 250000 --target persuadable,turnout_target
    --weights 2,1 --light-priority 0.5 --min-channels 8 --out ./report
    """
    x = validate_exchange_id(exchange)
    h = require_home(home)
    codes = load_codes(h.segment_codes_path(x))
    targets = [t.strip() for t in target.split(",") if t.strip()]
    request = PlanRequest(
        normalise_weights(targets, _parse_weights(weights)),
        budget,
        light_priority=light_priority,
        min_channels=min_channels,
        time_limit=time_limit,
    )
    validate_request(request)
    check_targets(targets, codes)
    cells = parse_ratecard(
        read_input_table(ratecard, required=RATECARD_COLUMNS), file=str(ratecard)
    )
    check_feasible(cells, request)

    view = h.open_inbox(x, "viewership")
    decoded = decode_viewership(view.table, tier_codes(codes))
    with out.status("solving the spot-selection program (CBC)"):
        result = make_plan(cells, decoded, request)
    comparison = result.comparison
    consumed = [view]
    if h.inbox_message(x, "match-report").is_file():
        match = h.open_inbox(x, "match-report")
        consumed.append(match)
        rates = match_rate_table(match.table, decoded, load_voter_counts(h.segment_codes_path(x)))
        comparison = project_to_voters(comparison, rates, columns=("reach",))

    h.mark_consumed(x, *consumed)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_csv(out_dir / PLAN_CSV, result.schedule)
    atomic_write_csv(out_dir / PLAN_BASELINE_CSV, result.baseline_schedule)
    atomic_write_csv(out_dir / PLAN_COMPARISON_CSV, comparison)
    _print_plan(result, comparison, request, targets)
    out.print(f"plan written to {out_dir / PLAN_CSV} (comparison: {PLAN_COMPARISON_CSV})")
    print_next(h, x)


def _parse_weights(text: str | None) -> list[float] | None:
    if text is None:
        return None
    weights: list[float] = []
    for position, part in enumerate(text.split(","), start=1):
        try:
            weights.append(float(part))
        except ValueError:
            raise InputError(f"--weights: weight #{position} is not a number") from None
    return weights


def _print_plan(
    result: PlanResult, comparison: pa.Table, request: PlanRequest, targets: list[str]
) -> None:
    by = {(r["plan"], r["segment"]): r for r in comparison.to_pylist()}
    main = targets[0] if len(targets) == 1 else "weighted_target"
    light = [f"{t}:light" for t in targets if ("optimized", f"{t}:light") in by]
    t = Table(title=f"Plan vs baselines, same budget (${request.budget:,.0f})")
    t.add_column("")
    for plan_name in PLAN_NAMES:
        t.add_column(plan_name.replace("_", " "), justify="right")

    def line(label: str, segment: str, show: Callable[[dict[str, object]], str]) -> None:
        t.add_row(label, *(show(by[(p, segment)]) for p in PLAN_NAMES))

    line("spots", main, lambda r: f"{r['spots']:,}")
    line("channels", main, lambda r: str(r["channels"]))
    line("cost", main, lambda r: _dollars(r["cost"]))
    line("target TRPs", main, lambda r: _num(r["trps"], 1))
    line("target TRPs per $1,000", main, lambda r: _num(r["trps_per_1000_usd"], 3))
    line("cost per target point", main, lambda r: _dollars(r["cost_per_trp"]))
    for name in (*targets, *light):
        line(f"reach {name} (est.)", name, lambda r: _pct(r["reach"]))
        line(f"avg frequency {name}", name, lambda r: _num(r["avg_frequency"], 1))
    for name in targets:
        if "projected_reach_voters" in comparison.column_names:
            line(
                f"{name} voters (projection)",
                name,
                lambda r: _num(r["projected_reach_voters"], 0),
            )
    line("all-household GRPs", ALL_MATCHED, lambda r: _num(r["trps"], 1))
    out.print(t)
    best, greedy = result.optimized, result.greedy
    status = "proven optimal" if best.optimal else "best found within the time limit"
    out.print(
        f"optimizer ({status}): objective {best.objective:,.2f}, greedy {greedy.objective:,.2f}"
    )
    gain = by[("optimized", main)]["trps"] / max(by[("all_households", main)]["trps"], 1e-9)
    caveat = f" (caveat: {result.caveat})" if result.caveat else ""
    out.print(f"target TRPs vs the all-household plan: {100.0 * (gain - 1.0):+.1f}%{caveat}")
    for note in result.notes:
        out.print(f"note: {note}")


def _num(value: object, digits: int) -> str:
    return "—" if not isinstance(value, float) else f"{value:,.{digits}f}"


def _dollars(value: object) -> str:
    return "—" if not isinstance(value, float) else f"${value:,.0f}"


def _pct(value: object) -> str:
    return "—" if not isinstance(value, float) else f"{value:.1f}%"


if __name__ == "__main__":
    app()
