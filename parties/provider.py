"""The provider role, in two halves that never share a process.

``tokenize`` runs at the operator that holds the subscriber file; ``aggregate``
runs where the viewing logs are and never reads a subscriber file. Household
pseudonyms are HMAC(provider secret, exchange id || household_id), so the
aggregate side recomputes them from the viewing log's own household ids and
needs no mapping file from the tokenize side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pyarrow as pa
import pyarrow.compute as pc
import typer

from linkage.engine import make_engine
from linkage.errors import PrivacyError
from linkage.io import (
    check_input_file,
    load_secret,
    load_seen,
    open_message_file,
    read_input_table,
    save_seen,
    write_message,
)
from linkage.measure import distinct_values
from linkage.protocol import households_of, pseudonymize, seal, validate_exchange_id
from linkage.release import (
    DEFAULT_BUDGET,
    LedgerStore,
    ReleaseRequest,
    ledger_key,
    release_grid,
    release_viewership,
    with_intensity_tiers,
)
from linkage.tables import DEFAULT_K, DEFAULT_MIN_UNIVERSE
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
) -> None:
    """Turn the subscriber file into keyed tokens and household pseudonyms for the matcher.

    Example: narwhal provider tokenize --home ./p --subscribers subscribers.parquet
    --exchange oh-2026-10
    """
    x = validate_exchange_id(exchange)
    h = require_home(home)
    run = TokenRun.start(h, x, "provider-tokens", "b", peer="campaign")
    secret = load_secret(h.secret_path)
    link_schema, table = run.read(
        subscribers, schema, id_column="household_id", default_columns=SUBSCRIBER_COLUMNS
    )
    with out.status("pseudonymizing households"):
        hps = pseudonymize(secret, x, table["household_id"].to_pylist())
    known = pa.table({"hp": pa.array(hps, pa.string())})
    target = write_token_message(run, link_schema, table, known, workers=workers)
    out.print(f"tokenized {table.num_rows:,} households")
    out.print(f"wrote {target}")


@app.command("aggregate")
def aggregate(
    home: HomeOpt,
    viewing: Annotated[Path, typer.Option("--viewing", help="Tuning events (Parquet).")],
    exchange: ExchangeOpt,
    k: Annotated[
        int, typer.Option("--k", min=1, help="Minimum households per released cell.")
    ] = DEFAULT_K,
    min_universe: Annotated[
        int, typer.Option("--min-universe", min=1, help="Minimum households per segment.")
    ] = DEFAULT_MIN_UNIVERSE,
    channels_file: Annotated[
        Path | None,
        typer.Option(
            "--channels", help="channels.csv (the public cell grid); default: channels seen."
        ),
    ] = None,
    epsilon: Annotated[
        float | None,
        typer.Option(
            "--epsilon",
            help="Differential privacy: epsilon spent by this release (default: exact release).",
        ),
    ] = None,
    tiers: Annotated[
        bool,
        typer.Option(
            "--tiers/--no-tiers",
            help="Also release each segment by viewing intensity (light < 2 h/day, medium, "
            "heavy); thin tiers are dropped, never released.",
        ),
    ] = True,
    engine_name: EngineOpt = "duckdb",
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget",
            help=f"The campaign's total epsilon, fixed at its first release "
            f"(default {DEFAULT_BUDGET:g}).",
        ),
    ] = None,
) -> None:
    """Join the matcher's assignments with viewing logs and release safe aggregates.

    Every release is recorded in the provider's ledger (HOME/ledger), which
    refuses an overspent privacy budget, a re-query of the same cells and a
    segment too close to one released earlier to the same campaign.

    Example: narwhal provider aggregate --home ./p --viewing viewing.parquet
    --exchange oh-2026-10 --k 50 --channels channels.csv --epsilon 1
    """
    x = validate_exchange_id(exchange)
    h = require_home(home)
    me = h.identity()
    secret = load_secret(h.secret_path)
    campaign = h.peer("campaign")
    target = h.outbox_message(x, "viewership")
    if epsilon is not None and channels_file is None:
        raise PrivacyError(
            "differential privacy needs the public channel list",
            hint="pass --channels channels.csv",
        )
    # Open without consuming: a refused release must leave the replay state untouched.
    source = h.inbox_message(x, "assignments")
    assignments = open_message_file(
        source,
        me=me,
        contacts=h.trusted(),
        expected_kind="assignments",
        expected_exchange=x,
    )
    seen_path = h.seen_path(x)
    guard = load_seen(seen_path).consume(assignments.manifest, file=str(source))

    # A Parquet log is checked batch by batch and scanned by the engine from
    # the file: a state's week of tuning does not fit in memory.
    view: pa.Table | Path
    if viewing.suffix.lower() == ".parquet":
        with out.status("checking the viewing log"):
            check_input_file(viewing, required=VIEWING_COLUMNS)
        view = viewing
    else:
        view = read_input_table(viewing, required=VIEWING_COLUMNS)
    with make_engine(engine_name) as scan:
        if channels_file is not None:
            channel_list = read_input_table(channels_file, required=("channel",))[
                "channel"
            ].to_pylist()
        else:
            channel_list = distinct_values(view, "channel", scan)
        hids = distinct_values(view, "household_id", scan)

    household = households_of(secret, x, assignments.table["hp"].to_pylist(), hids)
    assigned = pa.table(
        {"household_id": pa.array(household, pa.string()), "segment": assignments.table["segment"]}
    )
    dropped: list[str] = []
    if tiers:
        with make_engine(engine_name) as tier_engine:
            assigned, dropped = with_intensity_tiers(
                assigned, view, engine=tier_engine, k=k, min_universe=min_universe
            )

    store = LedgerStore(h.ledger, ledger_key(secret))
    with store.locked() as book:  # one release at a time per ledger
        sets = store.segment_sets(assigned)
        with out.status("aggregating viewership"), make_engine(engine_name) as engine:
            grid = release_grid(view, channels=channel_list, engine=engine)
            request = ReleaseRequest.build(
                campaign=campaign.fingerprint,
                exchange=x,
                message_id=assignments.manifest.message_id,
                grid=grid.digest(),
                epsilon=epsilon,
                k=k,
                min_universe=min_universe,
                sets=sets,
            )
            pending = store.prepare(
                book,
                request,
                sets,
                budget=budget,
                compute=lambda: release_viewership(
                    assigned,
                    view,
                    grid,
                    engine=engine,
                    k=k,
                    min_universe=min_universe,
                    epsilon=epsilon,
                ),
            )
        released = pending.payload
        sealed = seal(released, kind="viewership", exchange_id=x, sender=me, recipient=campaign)

        def deliver() -> None:
            save_seen(seen_path, guard)
            write_message(target, sealed)

        book = store.commit(book, pending, deliver=deliver)
        n_sup = int(pc.sum(released["suppressed"]).as_py() or 0)
        out.print(f"released {released.num_rows:,} cells ({n_sup:,} suppressed under k={k})")
        if dropped:
            out.print(f"{len(dropped)} thin viewing-intensity tier(s) not released")
        fp = campaign.fingerprint
        if pending.replay:
            out.print("exact replay of an earlier release: nothing new spent")
        elif epsilon is not None:
            left = (book.budget_of(fp) or DEFAULT_BUDGET) - book.spent(fp)
            out.print(f"differential privacy: epsilon={epsilon:g} spent, {max(left, 0.0):g} left")
        out.print(f"wrote {target}")


if __name__ == "__main__":
    app()
