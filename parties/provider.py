"""The provider role, in two halves that never share a process.

``tokenize`` runs at the operator that holds the subscriber file; ``aggregate``
runs where the viewing logs are and never reads a subscriber file. Household
pseudonyms are HMAC(provider secret, exchange id || household_id), so the
aggregate side recomputes them from the viewing log's own household ids and
needs no mapping file from the tokenize side.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import pyarrow.compute as pc
import typer

from linkage.engine import check_engine_name, make_engine
from linkage.errors import InputError, PrivacyError, StateError
from linkage.io import (
    PartyHome,
    check_input_file,
    load_secret,
    load_seen,
    open_message_file,
    private_scratch,
    read_input_table,
    save_seen,
    write_message,
)
from linkage.measure import (
    TIER_NAMES,
    distinct_values,
    parse_period,
    sanitize_viewing,
    sanitize_viewing_file,
    tier_code,
)
from linkage.plan import parse_aired
from linkage.protocol import (
    dummy_pseudonym_mask,
    dummy_pseudonyms,
    households_of,
    pseudonymize,
    seal,
    validate_exchange_id,
)
from linkage.release import (
    DEFAULT_DELIVERY_RHO,
    DEFAULT_FREQUENCY_CAP,
    DEFAULT_RELEASE_RHO,
    DEFAULT_RHO_LIFETIME,
    DEFAULT_RHO_PER_WEEK,
    MATCHER_REPORT_RHO,
    CellGrid,
    DeliveryGrid,
    HouseholdSet,
    Ledger,
    LedgerEntry,
    LedgerStore,
    PanelStep,
    PanelStore,
    PrivacyBudget,
    ReleaseHead,
    ReleaseRequest,
    assemble_assignments,
    check_markets,
    delivery_grid,
    issue_receipt,
    ledger_key,
    load_orgs,
    measure_delivery,
    noisy_delivery,
    plan_delivery_noise,
    release_grid,
    release_head,
    release_viewership,
    validate_panel_id,
    with_intensity_tiers,
    write_receipt,
)
from linkage.tables import ALL_HOUSEHOLDS, DEFAULT_K, DEFAULT_MIN_UNIVERSE
from parties.common import (
    EngineOpt,
    ExchangeOpt,
    HomeOpt,
    SchemaOpt,
    TokenRun,
    WorkersOpt,
    make_app,
    out,
    require_home,
    write_token_message,
)
from parties.progress import StepProgress
from parties.status import print_next

app = make_app(
    "provider",
    "Provider role: tokenize subscribers (at the operator), aggregate viewing (at measurement).",
)

SUBSCRIBER_COLUMNS = ("household_id", "first_name", "last_name", "address", "city", "state", "zip")
VIEWING_COLUMNS = ("household_id", "channel", "start", "end")


@app.command("tokenize")
def tokenize(
    home: HomeOpt,
    subscribers: Annotated[
        Path, typer.Option("--subscribers", help="Subscriber file (Parquet or CSV).")
    ],
    exchange: ExchangeOpt,
    schema: SchemaOpt = None,
    workers: WorkersOpt = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Tokenize an exchange again: the provider-tokens already sent become invalid.",
        ),
    ] = False,
    engine_name: EngineOpt = "duckdb",
) -> None:
    """Turn the subscriber file into keyed tokens and household pseudonyms for the matcher.

    A re-run for an exchange whose message is in the outbox refuses: its
    dummy rows and order are drawn afresh, so it would not be the message
    the matcher may already hold.

    Example: narwhal provider tokenize --home ./p --subscribers subscribers.parquet
    --exchange oh-2026-10
    """
    check_engine_name(engine_name)
    x = validate_exchange_id(exchange)
    h = require_home(home)
    sent = h.outbox_message(x, "provider-tokens")
    if sent.is_file():
        # The same key (it is the exchange's) and the same households with fresh
        # dummies: a matcher holding both messages keeps the rows they share,
        # every real one and no dummy, and the count-signature defence is gone.
        raise StateError(
            f"exchange {x} is already tokenized; send {sent} to the matcher",
            hint="to start over, agree a new exchange id with the campaign: tokens of one "
            "id drawn twice let the matcher strip the dummy rows"
            + (" (--force cannot)" if force else ""),
        )
    run = TokenRun.start(h, x, "provider-tokens", "b", peer="campaign")
    secret = load_secret(h.secret_path)
    link_schema, table = run.read(
        subscribers, schema, id_column="household_id", default_columns=SUBSCRIBER_COLUMNS
    )
    tokens = None
    if engine_name == "spark":  # encoded on the executors (docs/SCALE.md)
        from linkage.spark_jobs import spark_token_chunks

        tokens = spark_token_chunks(subscribers, link_schema, run.side, run.key)
    with StepProgress("provider tokenize") as progress:
        progress.stage("pseudonymizing households")
        hps = pseudonymize(secret, x, table["household_id"].to_pylist())
        known = pa.table({"hp": pa.array(hps, pa.string())})
        # Dummy households carry pseudonyms the measurement side can tell apart
        # (tagged with the secret), so a subscriber with no viewing is never
        # mistaken for one and still counts in its segments' universes.
        target = write_token_message(
            run,
            link_schema,
            table,
            known,
            workers=workers,
            dummy_ids=lambda n: dummy_pseudonyms(secret, x, n),
            progress=progress,
            tokens=tokens,
        )
    out.print(f"tokenized {table.num_rows:,} households")
    out.print(f"wrote {target}", markup=False, highlight=False)
    print_next(h, x)


def _sanitized(
    ctx: typer.Context,
    h: PartyHome,
    x: str,
    viewing: Path,
    period: Sequence[date],
    engine_name: str,
    steps: StepProgress,
) -> tuple[pa.Table | Path, list[str]]:
    """The viewing log checked for sense over ``period``, and the household ids it holds.

    A Parquet log is checked batch by batch, sanitised in bounded memory into a
    private scratch file (removed when the command ends) and scanned by the
    engine from there: a state's week of tuning does not fit in memory.
    """
    raw: pa.Table | Path
    if viewing.suffix.lower() == ".parquet":
        with steps.during("checking the viewing log"):
            check_input_file(viewing, required=VIEWING_COLUMNS)
        raw = viewing
    else:
        raw = read_input_table(viewing, required=VIEWING_COLUMNS)
    view: pa.Table | Path
    with steps.during("checking the viewing log for sense"), make_engine(engine_name) as scan:
        if isinstance(raw, Path):
            view = ctx.with_resource(private_scratch(h.state(x))) / "viewing.parquet"
            check = sanitize_viewing_file(raw, view, period, scan)
        else:
            view, check = sanitize_viewing(raw, period, scan)
        hids = distinct_values(view, "household_id", scan)
    out.print(check.summary())
    return view, hids


def _assembled(
    secret: bytes, x: str, links: pa.Table, segments: pa.Table, hids: Sequence[str]
) -> pa.Table:
    """(household_id, segment) of the real linked records: pseudonyms undone, dummies out."""
    hps = links["hp"].to_pylist()
    return assemble_assignments(
        links,
        segments,
        households_of(secret, x, hps, hids),
        dummies=dummy_pseudonym_mask(secret, x, hps),
    )


def _requested(segments: pa.Table, *, tiers: bool) -> tuple[list[str], list[str]]:
    """The campaign's codes, and every code a release measures: ``*``, each code, their tiers.

    Every code asked for is measured whether or not any household matched it:
    a missing segment would say that nobody in it subscribes.
    """
    codes = sorted({c for row in segments["segments"].to_pylist() for c in row or ()})
    wanted = [ALL_HOUSEHOLDS, *codes]
    if tiers:
        wanted += [tier_code(c, t) for c in list(wanted) for t in TIER_NAMES]
    return codes, wanted


def _request(
    org: str,
    campaign: str,
    exchange: str,
    message_id: str,
    grid: CellGrid | DeliveryGrid,
    *,
    rho: float | None,
    k: int,
    min_universe: int,
    sets: Mapping[str, HouseholdSet],
) -> ReleaseRequest:
    """The ledger request of one release on ``grid`` (the grid's digest and its period)."""
    return ReleaseRequest.build(
        org=org,
        campaign=campaign,
        exchange=exchange,
        message_id=message_id,
        grid=grid.digest(),
        first_day=grid.days[0],
        last_day=grid.days[-1],
        rho=rho,
        k=k,
        min_universe=min_universe,
        sets=sets,
        report_rho=MATCHER_REPORT_RHO,
    )


@app.command("aggregate")
def aggregate(
    ctx: typer.Context,
    home: HomeOpt,
    viewing: Annotated[Path, typer.Option("--viewing", help="Tuning events (Parquet).")],
    exchange: ExchangeOpt,
    channels_file: Annotated[
        Path,
        typer.Option("--channels", help="channels.csv: the public channel list of the grid."),
    ],
    period_text: Annotated[
        str,
        typer.Option(
            "--period",
            help="The public reporting period, FIRST..LAST (ISO dates, inclusive), "
            "e.g. 2026-10-05..2026-10-11. Never taken from the viewing data.",
        ),
    ],
    k: Annotated[
        int, typer.Option("--k", min=1, help="Minimum households per released cell.")
    ] = DEFAULT_K,
    min_universe: Annotated[
        int, typer.Option("--min-universe", min=1, help="Minimum households per segment.")
    ] = DEFAULT_MIN_UNIVERSE,
    rho: Annotated[
        float | None,
        typer.Option(
            "--rho",
            min=0.0,
            help=f"zCDP rho this release spends (default {DEFAULT_RELEASE_RHO:g}: the weekly "
            f"budget less the matcher's report).",
        ),
    ] = None,
    exact: Annotated[
        bool,
        typer.Option(
            "--exact",
            help="Release exact counts, without differential privacy. Breaks the privacy "
            "promise against a dishonest campaign; the audit reports it as a failure.",
        ),
    ] = False,
    tiers: Annotated[
        bool,
        typer.Option(
            "--tiers/--no-tiers",
            help="Also release each segment by viewing intensity (light < 2 h/day, medium, "
            "heavy); under DP a thin tier is suppressed on its noisy size.",
        ),
    ] = True,
    engine_name: EngineOpt = "duckdb",
    markets_file: Annotated[
        Path | None,
        typer.Option(
            "--markets",
            help="household_id,market (Parquet or CSV): each household's TV market (DMA). "
            "Adds each market's own daypart and period figures to the release.",
        ),
    ] = None,
    lineups_file: Annotated[
        Path | None,
        typer.Option(
            "--lineups",
            help="market,channel (CSV): the channels each market carries; a market's rows "
            "for a channel it does not carry are left out. Needs --markets.",
        ),
    ] = None,
    panel: Annotated[
        str | None,
        typer.Option(
            "--panel",
            help="A weekly panel with this campaign: keep this week's viewing per panel "
            "household (private, HOME/panels/PANEL) and, when the panel holds an earlier "
            "week, also release retention (DP, charged with this release).",
        ),
    ] = None,
    rho_per_week: Annotated[
        float | None,
        typer.Option(
            "--rho-per-week",
            help="The campaign organisation's zCDP rho per reporting week, fixed at its first "
            f"release (default {DEFAULT_RHO_PER_WEEK:g}).",
        ),
    ] = None,
    rho_lifetime: Annotated[
        float | None,
        typer.Option(
            "--rho-lifetime",
            help="The campaign organisation's total zCDP rho, fixed at its first release "
            f"(default {DEFAULT_RHO_LIFETIME:g}).",
        ),
    ] = None,
) -> None:
    """Join the matcher's links, the campaign's segment codes and viewing; release DP aggregates.

    Every figure is differentially private by default (zCDP, OpenDP): each
    segment the campaign asked for, and each of its viewing-intensity tiers,
    comes back on the public grid, suppressed on noisy values, never refused.
    The release is recorded in the provider's ledger (HOME/ledger), which
    refuses only an overspent budget (naming no segment), and a signed receipt
    of the ledger head goes to the campaign with the release.

    Example: narwhal provider aggregate --home ./p --viewing viewing.parquet
    --exchange oh-2026-10 --channels channels.csv --period 2026-10-05..2026-10-11
    """
    x = validate_exchange_id(exchange)
    h = require_home(home)
    panel_store = None if panel is None else PanelStore(h.panel_dir(validate_panel_id(panel)))
    me = h.identity()
    secret = load_secret(h.secret_path)
    target = h.outbox_message(x, "viewership")
    period = parse_period(period_text)
    if exact and rho is not None:
        raise PrivacyError(
            "--exact and --rho contradict each other", hint="a release is DP or exact, not both"
        )
    if not exact and rho is None:
        rho = DEFAULT_RELEASE_RHO
    if (lineups_file is None) != (markets_file is None):
        raise InputError(
            "--markets and --lineups go together",
            hint="the line-ups are the public list of markets; the households' markets "
            "never decide which markets a release lists",
        )
    markets = (
        None
        if markets_file is None
        else check_markets(
            read_input_table(markets_file, required=("household_id", "market")),
            file=str(markets_file),
        )
    )
    lineups = (
        None
        if lineups_file is None
        else read_input_table(lineups_file, required=("market", "channel"))
    )
    if rho is not None and rho <= 0:
        raise PrivacyError("--rho must be positive", hint=f"the default is {DEFAULT_RELEASE_RHO:g}")
    # Open without consuming: a refused release must leave the replay state untouched.
    # The matcher's links and the campaign's segment codes meet only here.
    source, segments_source = h.inbox_message(x, "assignments"), h.inbox_message(x, "segments")
    assignments, segments = (
        open_message_file(
            path, me=me, contacts=h.trusted(), expected_kind=kind, expected_exchange=x
        )
        for path, kind in ((source, "assignments"), (segments_source, "segments"))
    )
    # The release goes back to the card that sent the segment codes (an
    # organisation may have re-initialised its card: the budget is the org's).
    campaign = segments.sender
    seen_path = h.seen_path(x)
    guard = (
        load_seen(seen_path)
        .consume(assignments.manifest, file=str(source))
        .consume(segments.manifest, file=str(segments_source))
    )

    parquet = viewing.suffix.lower() == ".parquet"
    steps = StepProgress("provider aggregate", stages=2 + int(parquet) + int(tiers))
    channel_list = read_input_table(channels_file, required=("channel",))["channel"].to_pylist()
    view, hids = _sanitized(ctx, h, x, viewing, period, engine_name, steps)
    assigned = _assembled(secret, x, assignments.table, segments.table, hids)
    linked = assigned  # with each household's real linked records per segment
    # Every code the campaign asked for is released, matched or not, and with
    # tiers every tier of each: a missing segment would say who subscribes.
    # An exact release drops thin tiers instead (and is flagged).
    codes, wanted = _requested(segments.table, tiers=tiers and not exact)
    dropped: list[str] = []
    if tiers:
        with steps.during("viewing-intensity tiers"), make_engine(engine_name) as tier_engine:
            assigned, dropped = with_intensity_tiers(
                assigned, view, engine=tier_engine, k=k, min_universe=min_universe, prune=exact
            )

    store = LedgerStore(h.ledger, ledger_key(secret))
    org = load_orgs(h.orgs_path).org_of(campaign.fingerprint, home=h.root)
    asked = (
        None
        if rho_per_week is None and rho_lifetime is None
        else PrivacyBudget(
            rho_per_week=DEFAULT_RHO_PER_WEEK if rho_per_week is None else rho_per_week,
            rho_lifetime=DEFAULT_RHO_LIFETIME if rho_lifetime is None else rho_lifetime,
        )
    )
    with store.locked() as book:  # one release at a time per ledger
        sets = store.segment_sets(assigned)
        with steps.during("aggregating viewership"), make_engine(engine_name) as engine:
            grid = release_grid(view, channels=channel_list, engine=engine, period=period)
            step = (
                None
                if panel_store is None or panel is None
                else PanelStep.prepare(
                    panel_store,
                    secret=secret,
                    panel_id=panel,
                    viewing=view,
                    channels=grid.channels,
                    days=grid.days,
                    engine=engine,
                    dp=not exact,
                )
            )
            # Retention is charged with the release: one entry, one receipt for both.
            retention_rho = 0.0 if step is None else step.rho
            retained: list[pa.Table] = []

            def compute() -> pa.Table:
                payload = release_viewership(
                    assigned,
                    view,
                    grid,
                    engine=engine,
                    k=k,
                    min_universe=min_universe,
                    rho=rho,
                    exact=exact,
                    segments=wanted,
                    records=linked,
                    markets=markets,
                    lineups=lineups,
                )
                if step is not None:
                    kept = step.retention(
                        assigned, secret=secret, segments=codes, channels=grid.channels, k=k
                    )
                    retained.extend([] if kept is None else [kept])
                return payload

            request = _request(
                org, campaign.fingerprint, x, assignments.manifest.message_id, grid,
                rho=None if rho is None else rho + retention_rho, k=k,
                min_universe=min_universe, sets=sets,
            )  # fmt: skip
            pending = store.prepare(
                book,
                request,
                sets,
                budget=asked,
                compute=compute,
            )
        released = pending.payload
        if pending.replay and panel_store is not None and retention_rho:
            retained.append(panel_store.load_retention(x))  # re-sent, never redrawn
        retention = (
            seal(retained[0], kind="retention", exchange_id=x, sender=me, recipient=campaign)
            if retained
            else None
        )
        sealed = seal(released, kind="viewership", exchange_id=x, sender=me, recipient=campaign)
        heads: list[ReleaseHead] = []

        def deliver(ledger: Ledger, entry: LedgerEntry) -> None:
            # The receipt (this organisation's ledger head) before the message it vouches for.
            heads.append(release_head(ledger, entry, provider=me.fingerprint))
            save_seen(seen_path, guard)
            write_receipt(h.outbox_receipt(x), issue_receipt(heads[0], me))
            if step is not None and panel_store is not None:
                panel_store.save_week(step.week, step.rows)
                if retained and retention is not None:
                    panel_store.save_retention(x, retained[0])
                    write_message(h.outbox_message(x, "retention"), retention)
            write_message(target, sealed)

        book = store.commit(book, pending, deliver=deliver)
        n_sup = int(pc.sum(released["suppressed"]).as_py() or 0)
        out.print(f"released {released.num_rows:,} cells ({n_sup:,} suppressed under k={k})")
        if dropped:
            out.print(f"{len(dropped)} thin viewing-intensity tier(s) not released")
        in_force = book.budget_of(org) or PrivacyBudget()
        if step is not None:
            out.print(
                f"panel {panel}: week {step.week[0]}..{step.week[1]} stored; "
                + (
                    f"retention against {step.earlier[0][0]}..{step.earlier[0][1]} released "
                    f"(rho {retention_rho:g}, charged with this release)"
                    if step.earlier is not None
                    else "no earlier week, no retention"
                ),
                markup=False,
                highlight=False,
            )
        if pending.replay:
            out.print("exact replay of an earlier release: nothing new spent")
        elif rho is not None:
            out.print(
                f"differential privacy: rho {rho:g} spent (epsilon {in_force.epsilon(rho):.2f} "
                f"at delta {in_force.delta:g}); {org} has rho "
                f"{max(book.left_this_week(org, request), 0.0):.4g} left this week, "
                f"{max(in_force.rho_lifetime - book.spent(org), 0.0):.4g} in its lifetime"
            )
        out.print(f"ledger head for {org}: release {heads[0].seq}, budget {in_force.describe()}")
        out.print(f"wrote {target} and {h.outbox_receipt(x)}")
    print_next(h, x)


@app.command("deliver")
def deliver_(
    ctx: typer.Context,
    home: HomeOpt,
    exchange: ExchangeOpt,
    viewing: Annotated[Path, typer.Option("--viewing", help="Tuning events (Parquet).")],
    markets_file: Annotated[
        Path,
        typer.Option(
            "--markets", help="household_id,market (Parquet or CSV): each household's TV market."
        ),
    ],
    period_text: Annotated[
        str,
        typer.Option(
            "--period",
            help="The public period the spots aired in, FIRST..LAST (ISO dates, inclusive).",
        ),
    ],
    lineups_file: Annotated[
        Path | None,
        typer.Option(
            "--lineups",
            help="market,channel (CSV): the public list of markets; a spot aired in every "
            "market ('*') is measured in each of them. Needed for '*' spots.",
        ),
    ] = None,
    channels_file: Annotated[
        Path | None,
        typer.Option(
            "--channels", help="channels.csv: refuse a spot on a channel outside the list."
        ),
    ] = None,
    k: Annotated[
        int, typer.Option("--k", min=1, help="Minimum households reached per released row.")
    ] = DEFAULT_K,
    min_universe: Annotated[
        int, typer.Option("--min-universe", min=1, help="Minimum households per released row.")
    ] = DEFAULT_MIN_UNIVERSE,
    rho: Annotated[
        float,
        typer.Option("--rho", help="zCDP rho this delivery spends (charged to the campaign)."),
    ] = DEFAULT_DELIVERY_RHO,
    frequency_cap: Annotated[
        int,
        typer.Option(
            "--frequency-cap",
            min=1,
            help="Most impressions one household counts for over the period (public).",
        ),
    ] = DEFAULT_FREQUENCY_CAP,
    exact: Annotated[
        bool,
        typer.Option(
            "--exact", help="Not available: a delivery is released with differential privacy only."
        ),
    ] = False,
    tiers: Annotated[
        bool,
        typer.Option(
            "--tiers/--no-tiers",
            help="Also measure each segment's viewing-intensity tiers (light-viewer reach).",
        ),
    ] = True,
    engine_name: EngineOpt = "duckdb",
) -> None:
    """Measure what the aired schedule delivered to each segment, per market; release it under DP.

    Uses the exchange's links and segment codes (as `aggregate` does) and the
    campaign's `aired-schedule` message. Per market and segment: target
    impressions (at most --frequency-cap per household), TRPs, reach, average
    frequency and light-viewer reach, noisy, with 95% intervals, suppressed on
    noisy values under k. The delivery is charged to the campaign organisation's
    ledger before it is sealed, and a signed receipt goes with it.

    Example: narwhal provider deliver --home ./p --exchange oh-2026-10
    --viewing viewing.parquet --markets markets.parquet --period 2026-10-05..2026-10-11
    """
    x = validate_exchange_id(exchange)
    h = require_home(home)
    if exact:
        raise PrivacyError(
            "a delivery has no exact release: it is differentially private only",
            hint=f"drop --exact (the default spends rho {DEFAULT_DELIVERY_RHO:g})",
        )
    if not (math.isfinite(rho) and rho > 0):
        raise PrivacyError(
            "--rho must be positive", hint=f"the default is {DEFAULT_DELIVERY_RHO:g}"
        )
    me = h.identity()
    secret = load_secret(h.secret_path)
    target = h.outbox_message(x, "delivery")
    period = parse_period(period_text)
    markets = check_markets(
        read_input_table(markets_file, required=("household_id", "market")),
        file=str(markets_file),
    )
    market_list = (
        None
        if lineups_file is None
        else sorted(
            {
                str(m)
                for m in read_input_table(lineups_file, required=("market", "channel"))[
                    "market"
                ].to_pylist()
            }
        )
    )
    channel_list = (
        None
        if channels_file is None
        else read_input_table(channels_file, required=("channel",))["channel"].to_pylist()
    )
    schedule_path = h.inbox_message(x, "aired-schedule")
    if not schedule_path.is_file():
        raise StateError(
            f"no aired schedule for exchange {x}",
            file=str(schedule_path),
            hint="the campaign sends it with `narwhal campaign schedule`",
        )
    # Open without consuming: a refused delivery must leave the replay state untouched.
    sources = {kind: h.inbox_message(x, kind) for kind in ("assignments", "segments")}
    sources["aired-schedule"] = schedule_path
    opened = {
        kind: open_message_file(
            path, me=me, contacts=h.trusted(), expected_kind=kind, expected_exchange=x
        )
        for kind, path in sources.items()
    }
    assignments, segments, schedule = (
        opened[kind] for kind in ("assignments", "segments", "aired-schedule")
    )
    campaign = segments.sender
    if schedule.sender.fingerprint != campaign.fingerprint:
        raise StateError(
            "the aired schedule and the segment codes come from different campaign cards",
            file=str(schedule_path),
            hint="the delivery goes to the card that sent the segment codes",
        )
    seen_path = h.seen_path(x)
    guard = load_seen(seen_path)
    for kind, message in opened.items():
        guard = guard.consume(message.manifest, file=str(sources[kind]))
    aired = parse_aired(schedule.table, file=str(schedule_path))
    grid = delivery_grid(
        aired,
        markets,
        channel_list,
        period,
        frequency_cap,
        market_list=market_list,
        file=str(schedule_path),
    )

    parquet = viewing.suffix.lower() == ".parquet"
    steps = StepProgress("provider deliver", stages=2 + int(parquet) + int(tiers))
    view, hids = _sanitized(ctx, h, x, viewing, period, engine_name, steps)
    assigned = _assembled(secret, x, assignments.table, segments.table, hids)
    # Every code the campaign asked for (and each tier) is measured, matched or not.
    _, wanted = _requested(segments.table, tiers=tiers)
    if tiers:
        with steps.during("viewing-intensity tiers"), make_engine(engine_name) as tier_engine:
            assigned, _ = with_intensity_tiers(
                assigned, view, engine=tier_engine, k=k, min_universe=min_universe, prune=False
            )

    store = LedgerStore(h.ledger, ledger_key(secret))
    org = load_orgs(h.orgs_path).org_of(campaign.fingerprint, home=h.root)
    with store.locked() as book:  # one release at a time per ledger
        sets = store.segment_sets(assigned)
        request = _request(
            org, campaign.fingerprint, x, schedule.manifest.message_id, grid,
            rho=rho, k=k, min_universe=min_universe, sets=sets,
        )  # fmt: skip
        with steps.during("measuring delivery"), make_engine(engine_name) as engine:
            pending = store.prepare(
                book,
                request,
                sets,
                budget=None,
                compute=lambda: noisy_delivery(
                    measure_delivery(assigned, view, markets, grid, engine, wanted),
                    grid,
                    plan_delivery_noise(grid, wanted, rho),
                    k,
                    min_universe,
                ),
            )
        released = pending.payload
        sealed = seal(released, kind="delivery", exchange_id=x, sender=me, recipient=campaign)
        heads: list[ReleaseHead] = []

        def deliver(ledger: Ledger, entry: LedgerEntry) -> None:
            # The receipt (this organisation's ledger head) before the message it vouches for.
            heads.append(release_head(ledger, entry, provider=me.fingerprint))
            save_seen(seen_path, guard)
            write_receipt(h.outbox_delivery_receipt(x), issue_receipt(heads[0], me))
            write_message(target, sealed)

        book = store.commit(book, pending, deliver=deliver)
    n_sup = int(pc.sum(released["suppressed"]).as_py() or 0)
    markets_out = len(grid.released_markets) - 1
    out.print(
        f"delivered {released.num_rows:,} rows for {aired.num_rows:,} spots in {markets_out} "
        f"market(s) and statewide ({n_sup:,} suppressed under k={k})"
    )
    in_force = book.budget_of(org) or PrivacyBudget()
    if pending.replay:
        out.print("exact replay of an earlier delivery: nothing new spent")
    else:
        out.print(
            f"differential privacy: rho {rho:g} spent; {org} has rho "
            f"{max(book.left_this_week(org, request), 0.0):.4g} left this week, "
            f"{max(in_force.rho_lifetime - book.spent(org), 0.0):.4g} in its lifetime"
        )
    out.print(f"wrote {target} and {h.outbox_delivery_receipt(x)}", markup=False, highlight=False)


if __name__ == "__main__":
    app()
