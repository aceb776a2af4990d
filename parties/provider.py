"""The provider role, in two halves that never share a process.

``tokenize`` runs at the operator that holds the subscriber file; ``aggregate``
runs where the viewing logs are and never reads a subscriber file. Household
pseudonyms are HMAC(provider secret, exchange id || household_id), so the
aggregate side recomputes them from the viewing log's own household ids and
needs no mapping file from the tokenize side.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import pyarrow.compute as pc
import typer

from linkage import files
from linkage.engine import DuckDBEngine
from linkage.envelope import seal
from linkage.keys import pseudonymize, validate_exchange_id
from linkage.matchkeys import tokenize_records
from linkage.normalize import normalize_records
from linkage.privacy import release_viewership
from linkage.refs import shuffle
from parties.common import ExchangeOpt, HomeOpt, fail_cleanly, make_app, out, require_home

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
) -> None:
    """Turn the subscriber file into keyed tokens and household pseudonyms for the matcher.

    Example: narwhal provider tokenize --home ./p --subscribers subscribers.parquet
    --exchange oh-2026-10
    """
    x = validate_exchange_id(exchange)
    h = require_home(home)
    me = h.identity()
    matcher = h.peer("matcher")
    key = h.linkage_key("campaign", x)
    secret = files.load_secret(h.keys / "secret.key")
    target = h.outbox_message(x, "provider-tokens")

    table = files.read_input_table(subscribers, required=SUBSCRIBER_COLUMNS, unique="household_id")
    with out.status(f"normalising and tokenizing {table.num_rows:,} households"):
        tokens = tokenize_records(normalize_records(table), key)
        hps = pseudonymize(secret, x, table["household_id"].to_pylist())
    payload = pa.table({"hp": pa.array(hps, pa.string())})
    for name in tokens.column_names:
        payload = payload.append_column(name, tokens[name])
    payload = shuffle(payload)
    sealed = seal(payload, kind="provider-tokens", exchange_id=x, sender=me, recipient=matcher)
    files.write_message(target, sealed)
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
    ] = 50,
    min_universe: Annotated[
        int, typer.Option("--min-universe", min=1, help="Minimum households per segment.")
    ] = 100,
    channels_file: Annotated[
        Path | None,
        typer.Option(
            "--channels", help="channels.csv (the public cell grid); default: channels seen."
        ),
    ] = None,
) -> None:
    """Join the matcher's assignments with viewing logs and release safe aggregates.

    Example: narwhal provider aggregate --home ./p --viewing viewing.parquet
    --exchange oh-2026-10 --k 50
    """
    x = validate_exchange_id(exchange)
    h = require_home(home)
    me = h.identity()
    secret = files.load_secret(h.keys / "secret.key")
    assignments = h.open_inbox(x, "assignments")
    campaign = h.peer("campaign")
    target = h.outbox_message(x, "viewership")

    view = files.read_input_table(viewing, required=VIEWING_COLUMNS)
    if channels_file is not None:
        channel_list = files.read_input_table(channels_file, required=("channel",))[
            "channel"
        ].to_pylist()
    else:
        channel_list = sorted(pc.unique(view["channel"]).to_pylist())

    # Map pseudonyms back to household ids using the viewing log's own ids.
    hids = pc.unique(view["household_id"]).to_pylist()
    back = dict(zip(pseudonymize(secret, x, hids), hids, strict=True))
    hp_list = assignments.table["hp"].to_pylist()
    household = [back.get(hp, "unseen:" + hp) for hp in hp_list]
    assigned = pa.table(
        {"household_id": pa.array(household, pa.string()), "segment": assignments.table["segment"]}
    )
    with out.status("aggregating viewership"), DuckDBEngine() as engine:
        released = release_viewership(
            assigned,
            view,
            channels=channel_list,
            engine=engine,
            k=k,
            min_universe=min_universe,
        )
    sealed = seal(released, kind="viewership", exchange_id=x, sender=me, recipient=campaign)
    record = {
        "exchange": x,
        "campaign": campaign.fingerprint,
        "released_at": datetime.now(UTC).isoformat(),
        "k": k,
        "min_universe": min_universe,
        "segments": sorted(set(assignments.table["segment"].to_pylist())),
    }
    files.append_jsonl(h.ledger / "releases.jsonl", json.dumps(record, sort_keys=True))
    files.write_message(target, sealed)
    n_sup = int(pc.sum(released["suppressed"]).as_py() or 0)
    out.print(f"released {released.num_rows:,} cells ({n_sup:,} suppressed under k={k})")
    out.print(f"wrote {target}")


if __name__ == "__main__":
    app()
