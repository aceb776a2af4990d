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
from dataclasses import dataclass
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
    encode_normalized_chunks,
    evaluate,
    load_segments,
    membership_lists,
    near_duplicate_segments,
    normalize_reusing,
)
from linkage.engine import check_engine_name
from linkage.errors import InputError, StateError
from linkage.io import (
    PRIVATE_MODE,
    InputColumnKind,
    PartyHome,
    atomic_write_bytes,
    atomic_write_csv,
    atomic_write_parquet,
    atomic_write_text,
    open_message_file,
    read_input_table,
    read_private_cache,
    read_text,
    remove_private_cache,
    write_message,
    write_private_cache,
)
from linkage.measure import parse_period, tier_codes
from linkage.plan import (
    AIRED_COLUMNS,
    AIRED_OPTIONAL,
    PLAN_BASELINE_CSV,
    PLAN_COMPARISON_CSV,
    PLAN_CSV,
    PLAN_NAMES,
    RATECARD_COLUMNS,
    PlanRequest,
    PlanResult,
    aired_log,
    as_run,
    check_feasible,
    check_targets,
    make_plan,
    normalise_weights,
    parse_aired,
    parse_market_budgets,
    parse_ratecard,
    project_comparison,
    statewide_rows,
    validate_request,
)
from linkage.protocol import OpenedMessage, random_refs, seal, validate_exchange_id
from linkage.release import (
    Receipt,
    ReleaseHead,
    accept_receipt,
    countersign,
    load_heads,
    read_receipt,
    save_heads,
    write_receipt,
)
from linkage.report import (
    PLAN_DELIVERY_CSV,
    REPORT_HTML,
    WeeklyTrend,
    build_report,
    decode_retention,
    decode_viewership,
    linkage_quality_note,
    match_rate_table,
    week_to_week_map,
    weekly_trend,
)
from linkage.tables import ALL_MARKETS, ALL_MATCHED, DEFAULT_MIN_UNIVERSE
from parties.common import (
    EngineOpt,
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
    engine_name: EngineOpt = "duckdb",
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
    previous: Annotated[
        str | None,
        typer.Option(
            "--previous",
            help="The panel's previous week (exchange): also keep, in this exchange's private "
            "state, the map of its rids to this exchange's for voters in both (never sent).",
        ),
    ] = None,
    reuse_normalized: Annotated[
        bool,
        typer.Option(
            "--reuse-normalized/--no-reuse-normalized",
            help="Keep the voters' normalised names and addresses in HOME/state (PII at rest, "
            "0600, never sent) and reuse them next week: only changed rows are normalised "
            "again; the tokens are the same either way. --no-reuse-normalized deletes it.",
        ),
    ] = True,
) -> None:
    """Turn the voter file into keyed tokens for the matcher and segment codes for the provider.

    A re-run for a tokenized exchange refuses (its messages are in the
    outbox already); one interrupted before both messages were written
    finishes them with the same references and codes.

    Example: narwhal campaign tokenize --home ./c --voters voters.parquet
    --segments segments.toml --exchange oh-2026-10
    """
    check_engine_name(engine_name)
    x = validate_exchange_id(exchange)
    h = require_home(home)
    earlier_rids = None
    if previous is not None:
        if validate_exchange_id(previous) == x:
            raise InputError("--previous names this exchange", hint="give last week's exchange id")
        earlier_rids = read_input_table(h.rid_map_path(previous), required=("rid", "voter_id"))
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
        if earlier_rids is not None and previous is not None:
            # The campaign's own week-to-week map: it alone holds both rid maps.
            current = pa.table({"rid": rids, "voter_id": table["voter_id"]})
            atomic_write_parquet(
                h.week_map_path(x, previous),
                week_to_week_map(earlier_rids, current),
                mode=PRIVATE_MODE,
            )
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
        reused = None
        spark_tokens = None
        if engine_name == "spark":  # encoded on the executors (docs/SCALE.md); no cache
            from linkage.spark_jobs import spark_token_chunks

            spark_tokens = spark_token_chunks(voters, link_schema, run.side, run.key)
        elif reuse_normalized:
            with out.status("normalising (reusing the fields of unchanged voters)"):
                cached = read_private_cache(h.normalized_cache_path)
                reused = normalize_reusing(table, link_schema, "a", cached, workers=workers)
        else:
            remove_private_cache(h.normalized_cache_path)
        with StepProgress("campaign tokenize") as progress:
            write_token_message(
                run,
                link_schema,
                table,
                known,
                workers=workers,
                before_publish=write_state,
                progress=progress,
                tokens=spark_tokens
                if reused is None
                else encode_normalized_chunks(
                    reused.normalized, link_schema, run.key, workers=workers, progress=progress
                ),
            )
        if reused is not None:
            # After the message: the cache only saves next week's time.
            write_private_cache(h.normalized_cache_path, reused.cache)
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
    previous: Annotated[
        list[str] | None,
        typer.Option(
            "--previous",
            help="An earlier week (exchange) of the same panel, repeatable, oldest first: the "
            "page and trend.csv show every figure's change week over week.",
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
    post_buy = _post_buy(h, x, heads)
    heads = heads if post_buy is None else post_buy.heads
    plan_table, comparison = _read_plan(out_dir) if html_page else (None, None)
    trend, retention = _weekly_trend(h, x, previous or [], view.table, codes)
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
            trend=trend,
            delivery=None if post_buy is None else post_buy.message.table,
        )

    # Everything computed: now write.
    h.mark_consumed(x, match, view, *retention)
    save_heads(h.release_heads_path, heads)
    write_receipt(h.outbox_receipt(x), countersigned)  # for the matcher to witness
    if post_buy is not None:
        h.mark_consumed(x, post_buy.message)
        write_receipt(h.outbox_delivery_receipt(x), post_buy.countersigned)
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
    if post_buy is not None:
        out.print(
            f"post-buy: plan against delivery in {out_dir / PLAN_DELIVERY_CSV}; countersigned "
            f"delivery receipt for the matcher: {h.outbox_delivery_receipt(x)}",
            markup=False,
            highlight=False,
        )
    if report.trend is not None:
        out.print(
            f"weekly trend over {' -> '.join(report.trend.weeks)}: "
            + ", ".join(str(out_dir / name) for name in report.trend.tables),
            markup=False,
            highlight=False,
        )
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


@dataclass(frozen=True)
class _PostBuy:
    """A delivery in the inbox, its receipt checked and countersigned, and the heads seen since."""

    message: OpenedMessage
    countersigned: Receipt
    heads: list[ReleaseHead]


def _post_buy(h: PartyHome, x: str, heads: list[ReleaseHead]) -> _PostBuy | None:
    """The provider's delivery of the aired schedule, when one came (None before).

    A delivery is a ledger entry of its own, with its own receipt: its head
    must extend the heads seen so far, the viewership release's included.
    """
    if not h.inbox_message(x, "delivery").is_file():
        return None
    message = h.open_inbox(x, "delivery")
    receipt = read_receipt(h.inbox_delivery_receipt(x))
    seen = accept_receipt(
        receipt,
        heads,
        h.trusted(),
        me=h.card().fingerprint,
        exchange=x,
        provider=message.sender.fingerprint,
        file=str(h.inbox_delivery_receipt(x)),
    )
    return _PostBuy(message, countersign(receipt, h.identity(), h.peer("matcher")), seen)


def _weekly_trend(
    h: PartyHome, x: str, previous: list[str], current: pa.Table, codes: dict[str, str]
) -> tuple[WeeklyTrend | None, list[OpenedMessage]]:
    """The trend against earlier weeks (each decoded with its own codes) and this week's retention.

    Earlier weeks' releases were verified and consumed by their own report;
    they are read again here, not consumed again.
    """
    retention = [h.open_inbox(x, "retention")] if h.inbox_message(x, "retention").is_file() else []
    if not previous and not retention:
        return None, []
    if any(validate_exchange_id(week) == x for week in previous):
        raise InputError("--previous names this exchange", hint="give earlier weeks only")
    weeks: list[tuple[str, pa.Table]] = []
    for week in [*previous, x]:
        table = (
            current
            if week == x
            else open_message_file(
                h.inbox_message(week, "viewership"),
                me=h.identity(),
                contacts=h.trusted(),
                expected_kind="viewership",
                expected_exchange=week,
                scratch=h.root / "state",
            ).table
        )
        named = tier_codes(load_codes(h.segment_codes_path(week)))
        weeks.append((week, decode_viewership(table, named)))
    kept = decode_retention(retention[0].table, codes) if retention else None
    try:
        return weekly_trend(weeks, kept), retention
    except ValueError:
        raise InputError("an earlier week is given twice", hint="list each week once") from None


def _read_plan_csv(path: Path) -> pa.Table:
    """plan.csv; a plan that could buy nothing (a header, no rows) is a plan too."""
    text_of = path.read_bytes().decode("utf-8", errors="replace")  # bad bytes: its own error below
    lines = [line for line in text_of.splitlines() if line.strip()]
    if len(lines) != 1:
        return read_input_table(path, required=())  # rows, or the input's own error
    names = [name.strip('"') for name in lines[0].split(",")]
    text = {"market", "channel", "daypart"}
    return pa.schema([(n, pa.string() if n in text else pa.float64()) for n in names]).empty_table()


def _read_plan(out_dir: Path) -> tuple[pa.Table | None, pa.Table | None]:
    """plan.csv and plan_comparison.csv from the report directory, when `plan` wrote them."""
    plan_path, comparison_path = out_dir / PLAN_CSV, out_dir / PLAN_COMPARISON_CSV
    plan_table = _read_plan_csv(plan_path) if plan_path.is_file() else None
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
            help="Rate card (CSV or Parquet): [market,] channel, daypart, cost_per_spot, "
            "units_available. With a market column, spots are bought per market (DMA) on "
            "each market's own ratings.",
        ),
    ],
    target: Annotated[str, typer.Option("--target", help="Target segment(s), comma-separated.")],
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget",
            help="Budget in US dollars, split across markets by the optimizer "
            "(default: the sum of --market-budget).",
        ),
    ] = None,
    market_budget: Annotated[
        str | None,
        typer.Option(
            "--market-budget",
            help="Fixed budget per market, e.g. cleveland=100000,columbus=50000; markets "
            "not named get nothing. Needs a rate card with a market column.",
        ),
    ] = None,
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
    plan_all_households.csv and plan_comparison.csv (market first: `*` is the
    whole plan). A rate card with a market column buys per market (DMA) on
    each market's released ratings: --budget is split by the optimizer, or
    --market-budget fixes each market's share.

    Example: narwhal campaign plan --home ./c --exchange oh-2026-10
    --ratecard ratecard.csv --budget 250000 --target persuadable,turnout_target
    --weights 2,1 --light-priority 0.5 --min-channels 8 --out ./report
    """
    x = validate_exchange_id(exchange)
    h = require_home(home)
    codes = load_codes(h.segment_codes_path(x))
    targets = [t.strip() for t in target.split(",") if t.strip()]
    markets = None if market_budget is None else parse_market_budgets(market_budget)
    if budget is None and markets is None:
        raise InputError("no budget", hint="pass --budget DOLLARS or --market-budget M=DOLLARS,...")
    request = PlanRequest(
        normalise_weights(targets, _parse_weights(weights)),
        budget if budget is not None else sum((markets or {}).values()),
        light_priority=light_priority,
        min_channels=min_channels,
        time_limit=time_limit,
        market_budgets=markets,
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
        rates = match_rate_table(
            match.table, statewide_rows(decoded), load_voter_counts(h.segment_codes_path(x))
        )
        comparison = project_comparison(comparison, rates)

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
    rows = comparison.to_pylist()
    by = {(r["plan"], r["segment"]): r for r in rows if r["market"] == ALL_MARKETS}
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
    for r in rows:
        if r["plan"] == "optimized" and r["segment"] == main and r["market"] != ALL_MARKETS:
            out.print(
                f"market {r['market']}: {r['spots']:,} spots, {_dollars(r['cost'])}, "
                f"target TRPs {_num(r['trps'], 1)} (market points), "
                f"reach {_pct(r['reach'])} (est.)",
                markup=False,
                highlight=False,
            )
    for note in result.notes:
        out.print(f"note: {note}")


def _num(value: object, digits: int) -> str:
    return "—" if not isinstance(value, float) else f"{value:,.{digits}f}"


def _dollars(value: object) -> str:
    return "—" if not isinstance(value, float) else f"${value:,.0f}"


def _pct(value: object) -> str:
    return "—" if not isinstance(value, float) else f"{value:.1f}%"


@app.command("schedule")
def schedule_(
    home: HomeOpt,
    exchange: ExchangeOpt,
    aired: Annotated[
        Path,
        typer.Option(
            "--aired",
            help="The as-run log (CSV or Parquet), one row per spot that aired: market, "
            "channel, date (YYYY-MM-DD), time (HH:MM:SS, local), optionally spot_seconds "
            "(default 30); market '*' = aired in every market. With --from-plan: where the "
            "log is written (CSV).",
        ),
    ],
    from_plan: Annotated[
        Path | None,
        typer.Option(
            "--from-plan",
            help="Demo: write --aired from plan.csv as if every planned spot aired, spread "
            "over --period (a station's post-log stands in), then send it. A plan without "
            "a market column airs statewide ('*').",
        ),
    ] = None,
    period_text: Annotated[
        str | None,
        typer.Option("--period", help="With --from-plan: the dates the spots air, FIRST..LAST."),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="With --from-plan: seeds where each spot falls.")
    ] = 0,
) -> None:
    """Send the provider the schedule that aired, for a post-buy delivery measurement.

    The log is checked first (unknown columns, bad dates or times, a spot
    listed twice: one line naming the row), then sealed as `aired-schedule`
    to the exchange's provider, who answers with `narwhal provider deliver`.

    Example: narwhal campaign schedule --home ./c --exchange oh-2026-10 --aired aired.csv
    """
    x = validate_exchange_id(exchange)
    h = require_home(home)
    load_codes(h.segment_codes_path(x))  # a delivery is measured on this exchange's segments
    provider = h.peer("provider")
    if from_plan is not None:
        if period_text is None:
            raise InputError(
                "--from-plan needs --period", hint="e.g. --period 2026-10-05..2026-10-11"
            )
        plan = read_input_table(from_plan, required=("channel", "daypart", "spots"))
        atomic_write_csv(aired, aired_log(as_run(plan, parse_period(period_text), seed)))
        out.print(f"wrote the as-run log {aired}", markup=False, highlight=False)
    elif period_text is not None:
        raise InputError(
            "--period goes with --from-plan", hint="an as-run log's dates are its spots' own"
        )
    columns = (*AIRED_COLUMNS, *AIRED_OPTIONAL)
    # CSV cells stay text, so a bad date or time is reported by row, not by the CSV reader.
    text: InputColumnKind = "string"
    kinds = dict.fromkeys(columns, text) if aired.suffix.lower() == ".csv" else {}
    payload = parse_aired(
        read_input_table(aired, required=AIRED_COLUMNS, kinds=kinds), file=str(aired)
    )
    target = h.outbox_message(x, "aired-schedule")
    sealed = seal(
        payload, kind="aired-schedule", exchange_id=x, sender=h.identity(), recipient=provider
    )
    write_message(target, sealed)
    markets = sorted(set(payload["market"].to_pylist()))
    out.print(
        f"{payload.num_rows:,} spots in {len(markets)} market(s) "
        f"({', '.join(markets)}); wrote {target} for the provider",
        markup=False,
        highlight=False,
    )


if __name__ == "__main__":
    app()
