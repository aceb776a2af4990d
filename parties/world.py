"""Writing a synthetic world to disk, with its truth files, chunk by chunk.

The world is generated as a :class:`~linkage.synth.WorldStream` and each chunk
is appended to its Parquet files as soon as it exists, so memory depends on
the chunk size, not the world size. Worlds of at most
:data:`~linkage.synth.DEFAULT_CHUNK_VOTERS` voters are one chunk and
identical to :func:`~linkage.synth.generate_world`'s.

The truth viewership is computed by the same aggregation code the provider
runs, from the *true* voter -> household map and with nothing suppressed, so
the end-to-end error of a real exchange can be measured cell by cell. DuckDB
reads the viewing from the Parquet file just written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.encode import evaluate, load_segments
from linkage.engine import DuckDBEngine
from linkage.io import ParquetSink, atomic_write_csv, atomic_write_text
from linkage.measure import compute_viewership
from linkage.report import decode_viewership, viewership_csv_table
from linkage.synth import (
    DEFAULT_CHUNK_VOTERS,
    SUBSCRIBERS_SCHEMA,
    VIEWING_SCHEMA,
    VOTER_HOUSEHOLD_SCHEMA,
    VOTERS_SCHEMA,
    World,
    WorldStream,
)
from linkage.tables import ALL_HOUSEHOLDS
from parties.campaign import column_kinds
from parties.common import out


def make_world(
    root: Path,
    *,
    voters: int,
    days: int,
    seed: int,
    chunk_voters: int = DEFAULT_CHUNK_VOTERS,
) -> None:
    """Generate a world chunk by chunk and write it in the layout of DESIGN §8."""
    stream = WorldStream(voters=voters, days=days, seed=seed, chunk_voters=chunk_voters)
    camp, prov, tru = root / "campaign", root / "provider", root / "truth"
    viewing_path = prov / "viewing.parquet"
    parts: list[pa.Table] = []
    with (
        ParquetSink(camp / "voters.parquet", VOTERS_SCHEMA) as voter_sink,
        ParquetSink(prov / "subscribers.parquet", SUBSCRIBERS_SCHEMA) as sub_sink,
        ParquetSink(viewing_path, VIEWING_SCHEMA) as viewing_sink,
        ParquetSink(tru / "voter_household.parquet", VOTER_HOUSEHOLD_SCHEMA) as vh_sink,
    ):
        for i, chunk in enumerate(stream.chunks(), start=1):
            with out.status(
                f"synthesising {voters:,} voters, {days} days of viewing"
                f" (chunk {i}/{stream.n_chunks})"
            ):
                voter_sink.write(chunk.voters)
                sub_sink.write(chunk.subscribers)
                viewing_sink.write(chunk.viewing)
                vh_sink.write(chunk.voter_household)
                # Households never straddle chunks: per-chunk assignments are final.
                parts.append(
                    true_assignments_of(chunk.voters, chunk.voter_household, stream.segments_toml)
                )
    with out.status("computing truth viewership"):
        truth = _truth_cells(pa.concat_tables(parts), viewing_path, stream.channels)
    atomic_write_text(camp / "segments.toml", stream.segments_toml)
    atomic_write_csv(camp / "ratecard.csv", stream.ratecard())
    atomic_write_csv(prov / "channels.csv", stream.channels)
    atomic_write_csv(tru / "viewership.csv", truth)


def true_assignments_of(
    voters: pa.Table, voter_household: pa.Table, segments_toml: str
) -> pa.Table:
    """(household_id, segment name) from the true voter -> household map, plus ``*`` rows."""
    rules = load_segments(segments_toml, columns=column_kinds(voters.schema), file="segments.toml")
    masks = evaluate(rules, voters)
    vh = voter_household
    index = pc.index_in(vh["voter_id"], value_set=voters["voter_id"]).to_numpy(zero_copy_only=False)
    households = vh["household_id"]
    parts = [
        pa.table({"household_id": households, "segment": pa.array([ALL_HOUSEHOLDS] * vh.num_rows)})
    ]
    for name, mask in masks.items():
        sel = np.asarray(mask)[index]
        hh = households.filter(pa.array(sel))
        parts.append(pa.table({"household_id": hh, "segment": pa.array([name] * len(hh))}))
    table = pa.concat_tables(parts)
    return table.group_by(["household_id", "segment"]).aggregate([])


def true_assignments(world: World) -> pa.Table:
    """:func:`true_assignments_of` for an in-memory world."""
    return true_assignments_of(world.voters, world.voter_household, world.segments_toml)


def _truth_cells(assignments: pa.Table, viewing: pa.Table | Path, channels: pa.Table) -> pa.Table:
    with DuckDBEngine() as engine:
        cells = compute_viewership(
            assignments, viewing, channels=channels["channel"].to_pylist(), engine=engine
        )
    cells = cells.drop_columns(["contributors"])
    # Truth is keyed by segment name already: decode with the identity mapping.
    names = {s for s in cells["segment"].to_pylist() if s != ALL_HOUSEHOLDS}
    return viewership_csv_table(decode_viewership(cells, {n: n for n in names}))


def truth_viewership(world: World) -> pa.Table:
    """The viewership.csv table computed from truth, every cell released."""
    return _truth_cells(true_assignments(world), world.viewing, world.channels)
