"""The matcher's keyless attacks on a demo exchange, as JSON.

Usage: python scripts/matcher_attacks.py DIR   (the party homes and world/, e.g. build/demo)

Plays the matcher holding its inbox (the campaign's tokens), the public schema and
the world's voter file, and prints each attack's rate, precision, gate figure
(re-identified at >= 90% precision) and seconds. Exit 2 on bad usage.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

from linkage.audit import (
    AUDITED_ROLES,
    count_signature_attack,
    graph_matching_attack,
    load_exchange,
    pattern_mining_attack,
)
from linkage.encode import shipped_schema
from linkage.io import PartyHome


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] in {"-h", "--help"}:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    root = Path(argv[0])
    if not root.is_dir():
        print(f"matcher_attacks: error: {root}: not a directory", file=sys.stderr)
        return 2
    ex = load_exchange({role: PartyHome(root / role) for role in AUDITED_ROLES})
    voters = pq.read_table(root / "world" / "campaign" / "voters.parquet")
    schema = shipped_schema()
    report: list[dict[str, object]] = []
    for path, _, opened in ex.messages:
        if opened.manifest.kind != "campaign-tokens":
            continue
        rids = pq.read_table(ex.homes["campaign"].rid_map_path(opened.manifest.exchange_id))
        by_rid = dict(zip(rids["rid"].to_pylist(), rids["voter_id"].to_pylist(), strict=True))
        row_of = {v: i for i, v in enumerate(voters["voter_id"].to_pylist())}
        truth = [
            -2 if r not in by_rid else row_of.get(by_rid[r], -1)
            for r in opened.table["rid"].to_pylist()
        ]
        for attack in (count_signature_attack, pattern_mining_attack, graph_matching_attack):
            start = time.perf_counter()
            result = attack(opened.table, voters, schema, truth)
            report.append(
                {
                    "message": path.name,
                    "attack": result.attack,
                    "records": result.records,
                    "reidentified": result.guessed,
                    "correct": result.correct,
                    "rate": round(result.rate, 4),
                    "precision": round(result.precision, 4),
                    "rate_at_90_precision": round(result.gate_rate, 4),
                    "rounds": result.rounds,
                    "seconds": round(time.perf_counter() - start, 2),
                }
            )
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
