"""The campaign role: tokenizes its voter file, later decodes the aggregates it gets back.

The campaign keeps ``rid -> voter_id`` and ``code -> segment`` in its private
state; what leaves is keyed tokens, random references and random segment codes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import typer
from rich.table import Table

from linkage import files, report
from linkage.envelope import seal
from linkage.errors import StateError
from linkage.keys import validate_exchange_id
from linkage.matchkeys import tokenize_records
from linkage.normalize import normalize_records
from linkage.refs import random_refs, shuffle
from linkage.segments import assign_codes, evaluate, load_segments, membership_lists
from parties.common import ExchangeOpt, HomeOpt, fail_cleanly, make_app, out, require_home

app = make_app("campaign", "Campaign role: tokenize the voter file, read the results, plan.")

VOTER_COLUMNS = ("voter_id", "first_name", "last_name", "address", "city", "state", "zip")


def column_kinds(schema: pa.Schema) -> dict[str, str]:
    """Column -> "number" / "string" for the segment-rule checker."""
    kinds: dict[str, str] = {}
    for field in schema:
        if pa.types.is_integer(field.type) or pa.types.is_floating(field.type):
            kinds[field.name] = "number"
        elif pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            kinds[field.name] = "string"
    return kinds


@app.command("tokenize")
@fail_cleanly
def tokenize(
    home: HomeOpt,
    voters: Annotated[Path, typer.Option("--voters", help="Voter file (Parquet or CSV).")],
    segments: Annotated[Path, typer.Option("--segments", help="Segment rules (TOML).")],
    exchange: ExchangeOpt,
) -> None:
    """Turn the voter file into keyed tokens and segment codes for the matcher.

    Example: narwhal campaign tokenize --home ./c --voters voters.parquet
    --segments segments.toml --exchange oh-2026-10
    """
    x = validate_exchange_id(exchange)
    h = require_home(home)
    me = h.identity()
    matcher = h.peer("matcher")
    key = h.linkage_key("provider", x)
    state = h.state(x)
    target = h.outbox_message(x, "campaign-tokens")

    table = files.read_input_table(voters, required=VOTER_COLUMNS, unique="voter_id")
    rules = load_segments(
        files.read_text(segments), columns=column_kinds(table.schema), file=str(segments)
    )
    with out.status("evaluating segments"):
        masks = evaluate(rules, table)
        codes = assign_codes(rules)
    with out.status(f"normalising and tokenizing {table.num_rows:,} voters"):
        tokens = tokenize_records(normalize_records(table), key)
    rids = random_refs(table.num_rows)
    payload = pa.table({"rid": rids, "segments": membership_lists(masks, codes)})
    for name in tokens.column_names:
        payload = payload.append_column(name, tokens[name])
    payload = shuffle(payload)
    sealed = seal(payload, kind="campaign-tokens", exchange_id=x, sender=me, recipient=matcher)

    # Everything validated and computed: now write (state first, message last).
    files.atomic_write_parquet(
        state / "rids.parquet", pa.table({"rid": rids, "voter_id": table["voter_id"]})
    )
    files.atomic_write_text(
        state / "segments.json",
        json.dumps({"codes": codes, "linkage_key": key.fingerprint()}, indent=2),
        mode=0o600,
    )
    files.write_message(target, sealed)
    sizes = {name: int(mask.sum()) for name, mask in masks.items()}
    out.print(f"tokenized {table.num_rows:,} voters; segments: {sizes}")
    out.print(f"wrote {target}")


def load_codes(state: Path) -> dict[str, str]:
    """segment name -> code, from this exchange's private state."""
    path = state / "segments.json"
    if not path.exists():
        raise StateError(
            "no segment codes for this exchange",
            file=str(path),
            hint="run `narwhal campaign tokenize` for this exchange first",
        )
    data = json.loads(files.read_text(path))
    codes = data.get("codes")
    if not isinstance(codes, dict):
        raise StateError("segment-code state is malformed", file=str(path))
    return {str(k): str(v) for k, v in codes.items()}


@app.command("report")
@fail_cleanly
def report_(
    home: HomeOpt,
    exchange: ExchangeOpt,
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the report files.")],
) -> None:
    """Decode the released viewership and write tables, heatmaps and a summary.

    Example: narwhal campaign report --home ./c --exchange oh-2026-10 --out ./report
    """
    x = validate_exchange_id(exchange)
    h = require_home(home)
    codes = load_codes(h.state(x))
    match = h.open_inbox(x, "match-report")
    view = h.open_inbox(x, "viewership")

    decoded = report.decode_viewership(view.table, codes)
    csv_table = report.viewership_csv_table(decoded)
    rates = report.match_rate_table(match.table, codes)
    index = report.index_table(decoded)
    day_types = [d for d in ("weekday", "weekend") if d in set(index["day_type"].to_pylist())]
    top = report.top_by_index(index, per_segment=3, day_type=day_types[0])
    figures = {
        f"{name}_{day_type}": report.heatmap_figure(index, name, day_type=day_type)
        for name in sorted(codes)
        for day_type in day_types
    }

    out_dir.mkdir(parents=True, exist_ok=True)
    files.atomic_write_csv(out_dir / "viewership.csv", csv_table)
    files.atomic_write_csv(out_dir / "match_rates.csv", rates)
    files.atomic_write_csv(out_dir / "index.csv", index)
    for name, fig in figures.items():
        files.atomic_write_figure(out_dir / f"heatmap_{name}.png", fig)

    t = Table(title="Match rates")
    for col in rates.column_names:
        t.add_column(col)
    for row in rates.to_pylist():
        t.add_row(*(_fmt(v) for v in row.values()))
    out.print(t)
    best = Table(
        title=f"Top channel x daypart per segment ({day_types[0]}), "
        "by index vs all matched households"
    )
    for col in ("segment", "channel", "daypart", "index", "rating"):
        best.add_column(col)
    for row in top:
        best.add_row(row.segment, row.channel, row.daypart, _fmt(row.index), _fmt(row.rating))
    out.print(best)
    out.print(f"report written to {out_dir}")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    return "—" if value is None else str(value)


if __name__ == "__main__":
    app()
