"""Writing a synthetic world to disk, with its truth files.

The truth viewership is computed by the same aggregation code the provider
runs, from the *true* voter -> household map and with nothing suppressed, so
the end-to-end error of a real exchange can be measured cell by cell.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage import files, report
from linkage.aggregation import compute_viewership
from linkage.engine import DuckDBEngine
from linkage.segments import evaluate, load_segments
from linkage.synth import World, generate_world
from parties.campaign import column_kinds
from parties.common import out

ALL = "*"


def make_world(root: Path, *, voters: int, days: int, seed: int) -> World:
    """Generate a world and write it in the layout of DESIGN §8."""
    with out.status(f"synthesising {voters:,} voters, {days} days of viewing"):
        world = generate_world(voters=voters, days=days, seed=seed)
    with out.status("computing truth viewership"):
        truth = truth_viewership(world)
    camp, prov, tru = root / "campaign", root / "provider", root / "truth"
    files.atomic_write_parquet(camp / "voters.parquet", world.voters)
    files.atomic_write_text(camp / "segments.toml", world.segments_toml)
    files.atomic_write_csv(camp / "ratecard.csv", world.ratecard)
    files.atomic_write_parquet(prov / "subscribers.parquet", world.subscribers)
    files.atomic_write_parquet(prov / "viewing.parquet", world.viewing)
    files.atomic_write_csv(prov / "channels.csv", world.channels)
    files.atomic_write_parquet(tru / "voter_household.parquet", world.voter_household)
    files.atomic_write_csv(tru / "viewership.csv", truth)
    return world


def true_assignments(world: World) -> pa.Table:
    """(household_id, segment name) from the true voter -> household map, plus ``*`` rows."""
    rules = load_segments(
        world.segments_toml, columns=column_kinds(world.voters.schema), file="segments.toml"
    )
    masks = evaluate(rules, world.voters)
    vh = world.voter_household
    voter_ids = world.voters["voter_id"]
    index = pc.index_in(vh["voter_id"], value_set=voter_ids).to_numpy(zero_copy_only=False)
    households = vh["household_id"]
    parts = [pa.table({"household_id": households, "segment": pa.array([ALL] * vh.num_rows)})]
    for name, mask in masks.items():
        sel = np.asarray(mask)[index]
        hh = households.filter(pa.array(sel))
        parts.append(pa.table({"household_id": hh, "segment": pa.array([name] * len(hh))}))
    table = pa.concat_tables(parts)
    return table.group_by(["household_id", "segment"]).aggregate([])


def truth_viewership(world: World) -> pa.Table:
    """The viewership.csv table computed from truth, every cell released."""
    channels = world.channels["channel"].to_pylist()
    with DuckDBEngine() as engine:
        cells = compute_viewership(
            true_assignments(world), world.viewing, channels=channels, engine=engine
        )
    cells = cells.drop_columns(["contributors"])
    # Truth is keyed by segment name already: decode with the identity mapping.
    names = {s for s in cells["segment"].to_pylist() if s != ALL}
    return report.viewership_csv_table(report.decode_viewership(cells, {n: n for n in names}))
