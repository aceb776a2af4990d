#!/usr/bin/env python3
"""What dummy records cost a tokenizer, in time and bytes, as JSON.

Encodes a voter file (the campaign's side) with the shipped schema under a
fresh key on ``--workers`` processes, then makes its dummy rows at the
default rate, and prints the rows, seconds and in-memory sizes of both.

Example (the figures in docs/THREAT_MODEL.md)::

    narwhal synth --out build/w1m --voters 1000000 --days 1 --seed 3
    python scripts/dummy_cost.py build/w1m/campaign/voters.parquet
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from linkage.encode import DEFAULT_DUMMY_RATE, dummy_rows, encode_side_parallel, shipped_schema
from linkage.protocol import agree_linkage_key, generate_identity, random_refs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("voters", type=Path, help="a voter file (Parquet)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=DEFAULT_DUMMY_RATE)
    args = parser.parse_args(argv)
    voters = pq.read_table(args.voters)
    schema = shipped_schema()
    campaign = generate_identity("cost-campaign", "campaign")
    provider = generate_identity("cost-provider", "provider")
    key = agree_linkage_key(campaign, provider.card(), "dummy-cost")
    start = time.perf_counter()
    tokens = encode_side_parallel(voters, schema, "a", key, workers=args.workers)
    encode_seconds = time.perf_counter() - start
    refs = pa.table({"rid": random_refs(voters.num_rows)})
    start = time.perf_counter()
    dummies = dummy_rows(voters, refs, schema, "a", key, rate=args.rate, workers=args.workers)
    dummy_seconds = time.perf_counter() - start
    report = {
        "voters": voters.num_rows,
        "rate": args.rate,
        "dummy_rows": dummies.payload.num_rows,
        "encode_seconds": round(encode_seconds, 1),
        "dummy_seconds": round(dummy_seconds, 1),
        "token_mb": round(tokens.nbytes / 1e6, 1),
        "dummy_mb": round(dummies.payload.nbytes / 1e6, 1),
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
