"""Tests for linkage.parallel: chunking, order, worker pools and real tokenization."""

from __future__ import annotations

import functools
import os

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from linkage.encode import (
    default_workers,
    encode_side,
    encode_side_chunks,
    encode_side_parallel,
    iter_chunks,
    map_chunks,
    normalize_records,
    shipped_schema,
    shutdown_pools,
    tokenize_records,
)
from linkage.encode.parallel import _to_ipc
from linkage.protocol import LinkageKey
from linkage.synth import generate_world


def tag_chunk(chunk: pa.Table) -> pa.Table:
    """Doubles ``x`` and records the chunk's first value, to see the chunking."""
    first = chunk["x"][0].as_py() if chunk.num_rows else -1
    return pa.table(
        {
            "x2": pc.multiply(chunk["x"], 2),
            "first": pa.array([first] * chunk.num_rows, pa.int64()),
        }
    )


def keep_even(chunk: pa.Table) -> pa.Table:
    return chunk.filter(pc.equal(pc.bit_wise_and(chunk["x"], 1), 0))


def fail_on_seven(chunk: pa.Table) -> pa.Table:
    if 7 in chunk["x"].to_pylist():
        raise ValueError("chunk holding 7")
    return chunk


def tokenize_chunk(key: LinkageKey, chunk: pa.Table) -> pa.Table:
    return tokenize_records(normalize_records(chunk), key)


def worker_pid(chunk: pa.Table) -> pa.Table:
    return pa.table({"pid": pa.array([os.getpid()] * chunk.num_rows, pa.int64())})


def numbers(n: int) -> pa.Table:
    return pa.table({"x": pa.array(range(n), pa.int64())})


def test_iter_chunks_covers_every_row_once() -> None:
    sizes = [c.num_rows for c in iter_chunks(numbers(10), 4)]
    assert sizes == [4, 4, 2]
    assert list(iter_chunks(numbers(0), 4)) == []
    with pytest.raises(ValueError, match="chunk_rows"):
        list(iter_chunks(numbers(3), 0))


def test_in_process_map_is_chunked_and_ordered() -> None:
    out = map_chunks(tag_chunk, numbers(10), chunk_rows=4, workers=1)
    assert out["x2"].to_pylist() == [2 * i for i in range(10)]
    assert out["first"].to_pylist() == [0] * 4 + [4] * 4 + [8] * 2


def test_empty_input_gives_func_of_empty_table() -> None:
    out = map_chunks(tag_chunk, numbers(0), chunk_rows=4, workers=2)
    assert out.num_rows == 0
    assert out.column_names == ["x2", "first"]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="workers"):
        map_chunks(tag_chunk, numbers(3), chunk_rows=2, workers=0)
    with pytest.raises(ValueError, match="chunk_rows"):
        map_chunks(tag_chunk, numbers(3), chunk_rows=0, workers=1)


def test_ipc_chunk_carries_only_its_slice() -> None:
    big = pa.table({"s": pa.array([f"value-{i}" for i in range(100_000)])})
    assert len(_to_ipc(big.slice(50_000, 10))) < 2_000


def test_pool_keeps_input_order_and_propagates_errors() -> None:
    table = numbers(1_000)
    # Many more chunks than the in-flight window (2 * workers).
    pooled = map_chunks(keep_even, table, chunk_rows=37, workers=2)
    assert pooled.equals(map_chunks(keep_even, table, chunk_rows=37, workers=1))
    assert pooled["x"].to_pylist() == list(range(0, 1_000, 2))
    with pytest.raises(ValueError, match="chunk holding 7"):
        map_chunks(fail_on_seven, numbers(20), chunk_rows=3, workers=2)


def test_pool_is_started_once_and_reused_until_shut_down() -> None:
    def pids() -> set[int]:
        return set(map_chunks(worker_pid, numbers(40), chunk_rows=5, workers=2)["pid"].to_pylist())

    seen = pids()
    assert os.getpid() not in seen
    # An error in one map leaves the pool to the next (only Ctrl-C stops it).
    with pytest.raises(ValueError, match="chunk holding 7"):
        map_chunks(fail_on_seven, numbers(20), chunk_rows=3, workers=2)
    seen |= pids() | pids()
    assert len(seen) <= 2  # fresh pools would show new processes each time
    shutdown_pools()
    assert not pids() & seen
    shutdown_pools()


def test_parallel_tokenization_equals_whole_table() -> None:
    voters = generate_world(voters=300, days=1, seed=3).voters
    key = LinkageKey(exchange_id="parallel-test", _key=bytes(range(32)))
    whole = tokenize_records(normalize_records(voters), key)
    func = functools.partial(tokenize_chunk, key)
    chunked = map_chunks(func, voters, chunk_rows=64, workers=2)
    assert chunked.equals(whole)
    assert whole["mk_addr"].null_count < whole.num_rows


@pytest.mark.parametrize("side", ["a", "b"])
def test_parallel_encode_side_is_byte_identical(side: str) -> None:
    world = generate_world(voters=400, days=1, seed=9)
    table = world.voters if side == "a" else world.subscribers
    schema = shipped_schema()
    key = LinkageKey(exchange_id="parallel-test", _key=bytes(range(32)))
    whole = encode_side(table, schema, "a" if side == "a" else "b", key)
    pooled = encode_side_parallel(
        table, schema, "a" if side == "a" else "b", key, workers=2, chunk_rows=97
    )
    assert pooled.equals(whole)
    assert pooled.schema == whole.schema
    streamed = list(
        encode_side_chunks(
            table, schema, "a" if side == "a" else "b", key, workers=2, chunk_rows=97
        )
    )
    assert [c.num_rows for c in streamed] == [97] * (table.num_rows // 97) + [table.num_rows % 97]
    assert pa.concat_tables(streamed).equals(whole)
    # CLK and match-key columns really carry data, so equality is not vacuous.
    assert any(name.startswith("clk_") for name in whole.column_names)
    assert whole.num_rows == table.num_rows


def test_default_workers_is_positive() -> None:
    assert default_workers() >= 1
