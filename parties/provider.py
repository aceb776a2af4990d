"""The provider role, in two halves that never share a process.

``tokenize`` runs at the operator that holds the subscriber file; ``aggregate``
runs where the viewing logs are and never reads a subscriber file. Household
pseudonyms are HMAC(provider secret, exchange id || household_id), so the
aggregate side recomputes them from the viewing log's own household ids and
needs no mapping file from the tokenize side.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import pyarrow.compute as pc
import typer

from linkage.encode import encode_side_chunks
from linkage.engine import make_engine
from linkage.errors import PrivacyError
from linkage.io import (
    append_jsonl,
    check_input_file,
    exclusive_lock,
    load_ledger_blob,
    load_ledger_table,
    load_secret,
    load_seen,
    open_message_file,
    read_input_table,
    read_ledger_head,
    read_ledger_lines,
    save_seen,
    store_ledger_blob,
    store_ledger_table,
    write_ledger_head,
    write_message,
)
from linkage.measure import cross_with_intensity, distinct_values, household_intensity
from linkage.protocol import pseudonymize, seal, validate_exchange_id
from linkage.release import (
    DEFAULT_BUDGET,
    HouseholdSet,
    Ledger,
    ReleaseRequest,
    ledger_key,
    prune_derived_segments,
    release_grid,
    release_viewership,
    segment_sets,
)
from linkage.tables import DEFAULT_K, DEFAULT_MIN_UNIVERSE
from parties.common import (
    EngineOpt,
    ExchangeOpt,
    HomeOpt,
    SchemaOpt,
    WorkersOpt,
    fail_cleanly,
    load_link_schema,
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
@fail_cleanly
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
    h.identity()  # fail before the long work if the keys are unreadable
    matcher = h.peer("matcher")
    key = h.linkage_key("campaign", x)
    secret = load_secret(h.keys / "secret.key")
    target = h.outbox_message(x, "provider-tokens")

    link_schema = load_link_schema(schema)
    table = read_input_table(
        subscribers,
        # The default schema's phone and e-mail columns are optional, as before.
        required=(
            SUBSCRIBER_COLUMNS
            if schema is None
            else ("household_id", *link_schema.side_columns("b"))
        ),
        unique="household_id",
    )
    with out.status("pseudonymizing households"):
        hps = pseudonymize(secret, x, table["household_id"].to_pylist())
    known = pa.table({"hp": pa.array(hps, pa.string())})
    tokens = encode_side_chunks(table, link_schema, "b", key, workers=workers)
    write_token_message(h, x, "provider-tokens", matcher, known, tokens)
    out.print(f"tokenized {table.num_rows:,} households")
    out.print(f"wrote {target}")


@app.command("aggregate")
@fail_cleanly
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
    secret = load_secret(h.keys / "secret.key")
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
    seen_path = h.state(x) / "seen.json"
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

    # Map pseudonyms back to household ids using the viewing log's own ids.
    back = dict(zip(pseudonymize(secret, x, hids), hids, strict=True))
    hp_list = assignments.table["hp"].to_pylist()
    household = [back.get(hp, "unseen:" + hp) for hp in hp_list]
    assigned = pa.table(
        {"household_id": pa.array(household, pa.string()), "segment": assignments.table["segment"]}
    )

    dropped: list[str] = []
    if tiers:
        with make_engine(engine_name) as tier_engine:
            intensity = household_intensity(view, engine=tier_engine)
        assigned, dropped = prune_derived_segments(
            cross_with_intensity(assigned, intensity), k=k, min_universe=min_universe
        )

    # One release at a time per ledger: check-then-append must not interleave.
    with exclusive_lock(h.ledger / ".lock"):
        key = ledger_key(secret)
        ledger_file, head_file = h.ledger / "releases.jsonl", h.ledger / "head.json"
        sets_dir, payloads_dir = h.ledger / "sets", h.ledger / "payloads"
        book = Ledger.load(
            read_ledger_lines(ledger_file),
            key,
            head=read_ledger_head(head_file),
            file=str(ledger_file),
        )
        sets = segment_sets(key, assigned)
        total = budget
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
            replay = book.replay_of(request)
            if replay is not None:
                released = load_ledger_table(payloads_dir, replay.payload)
            else:
                known = {
                    d: HouseholdSet.from_bytes(
                        load_ledger_blob(sets_dir, d), file=str(sets_dir / d)
                    )
                    for d in book.set_digests(campaign.fingerprint)
                }
                known.update({s.digest: s for s in sets.values()})
                total = book.check(request, known, budget=budget)
                released = release_viewership(
                    assigned,
                    view,
                    channels=grid.channels,
                    engine=engine,
                    k=k,
                    min_universe=min_universe,
                    period=grid.days,
                    epsilon=epsilon,
                )
        sealed = seal(released, kind="viewership", exchange_id=x, sender=me, recipient=campaign)
        if replay is None:
            # Ledger first, message last: a crash in between over-counts the budget, never under.
            for household_set in sets.values():
                store_ledger_blob(sets_dir, household_set.to_bytes())
            payload = store_ledger_table(payloads_dir, released)
            book, entry = book.append(
                request,
                budget=total if total is not None else DEFAULT_BUDGET,
                payload=payload,
                released_at=datetime.now(UTC).isoformat(),
                key=key,
            )
            append_jsonl(ledger_file, entry.to_line())
            write_ledger_head(head_file, book.head_json())
        save_seen(seen_path, guard)
        write_message(target, sealed)
        n_sup = int(pc.sum(released["suppressed"]).as_py() or 0)
        out.print(f"released {released.num_rows:,} cells ({n_sup:,} suppressed under k={k})")
        if dropped:
            out.print(f"{len(dropped)} thin viewing-intensity tier(s) not released")
        fp = campaign.fingerprint
        if replay is not None:
            out.print("exact replay of an earlier release: nothing new spent")
        elif epsilon is not None:
            left = (book.budget_of(fp) or DEFAULT_BUDGET) - book.spent(fp)
            out.print(f"differential privacy: epsilon={epsilon:g} spent, {max(left, 0.0):g} left")
        out.print(f"wrote {target}")


if __name__ == "__main__":
    app()
