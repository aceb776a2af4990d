"""Chunked, multi-process mapping over Arrow tables: both cores, bounded memory.

Tokenization (normalisation, HMAC match keys, CLK encoding) is CPU-bound
Python and numpy; the GIL keeps it on one core. :func:`map_chunks` cuts a
table into record batches of at most ``chunk_rows`` rows, runs a function on
each in a pool of worker processes, and concatenates the results in input
order, so the output is the same whatever the number of workers or how the
work was scheduled.

Memory stays flat as the input grows: at most ``2 * workers`` chunks are in
flight at once (one computing and one queued per worker) besides the input
and the finished output.

The worker processes are started once per process and size and reused by
every later call (one tokenize run normalises, encodes and encodes its dummy
records: three maps, one pool). Starting a clean interpreter and importing
the encoders costs about a second of CPU per worker, so a fresh pool per map
cost a 200k-voter ``campaign tokenize`` about a third of its CPU time. The
pool stops when the process exits (or at :func:`shutdown_pools`); a worker
holds a key only while it computes a chunk for it.

The function must be picklable (a module-level function, or a
``functools.partial`` of one) and deterministic for equal chunks. Any key it
closes over is pickled to the workers through an anonymous pipe between
processes of the same user, never to disk.
"""

from __future__ import annotations

import atexit
import functools
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import pyarrow as pa

from linkage.encode.recipe import encode_chunk
from linkage.encode.schema import LinkageSchema, Side
from linkage.errors import StateError
from linkage.types import StageProgress, SubkeySource, no_progress

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "ChunkFunction",
    "default_workers",
    "encode_side_chunks",
    "encode_side_parallel",
    "imap_chunks",
    "iter_chunks",
    "join_row_columns",
    "map_chunks",
    "shutdown_pools",
]

DEFAULT_CHUNK_ROWS = 100_000
"""Rows per tokenization chunk: large enough to amortise IPC, small enough to stay flat."""

_TOKENIZE_STAGE = "tokenizing"
"""The stage :func:`encode_side_chunks` reports its rows under."""

ChunkFunction = Callable[[pa.Table], pa.Table]
"""What :func:`map_chunks` applies: one chunk in, one table (same rows or not) out."""


def iter_chunks(table: pa.Table, chunk_rows: int) -> Iterator[pa.Table]:
    """Consecutive zero-copy slices of ``table`` with at most ``chunk_rows`` rows.

    Raises:
        ValueError: ``chunk_rows`` is below 1.
    """
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    for offset in range(0, table.num_rows, chunk_rows):
        yield table.slice(offset, chunk_rows)


def _to_ipc(table: pa.Table) -> bytes:
    # Pickling a slice ships its whole parent buffers; the IPC writer
    # truncates them to the slice, so each chunk costs only its own bytes.
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _from_ipc(data: bytes) -> pa.Table:
    with pa.ipc.open_stream(data) as reader:
        return reader.read_all()


def _apply(func: ChunkFunction, data: bytes) -> bytes:
    """Worker side: decode a chunk, apply ``func``, encode the result."""
    return _to_ipc(func(_from_ipc(data)))


def _ignore_interrupt() -> None:
    """Worker initializer: Ctrl-C is the parent's to handle, not each worker's.

    A terminal sends SIGINT to the whole process group; a worker that took
    it would print its own traceback. The parent stops the pool instead.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)


_POOLS: dict[tuple[int, str], ProcessPoolExecutor] = {}
"""The live worker pools of this process, by (workers, start method)."""


def _pool(workers: int, start_method: str) -> ProcessPoolExecutor:
    """This process's pool of ``workers`` processes, started on first use."""
    pool = _POOLS.get((workers, start_method))
    if pool is not None and getattr(pool, "_broken", False):
        _discard(workers, start_method, terminate=True)
        pool = None
    if pool is None:
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context(start_method),
            initializer=_ignore_interrupt,
        )
        _POOLS[(workers, start_method)] = pool
    return pool


def _discard(workers: int, start_method: str, *, terminate: bool) -> None:
    """Forget a pool that is broken or interrupted; ``terminate`` stops its running workers."""
    pool = _POOLS.pop((workers, start_method), None)
    if pool is None:
        return
    pool.shutdown(wait=False, cancel_futures=True)
    if terminate:
        # The interpreter would otherwise wait for the running chunks on exit
        # (up to 20 s measured after a Ctrl-C).
        processes = getattr(pool, "_processes", None) or {}
        for process in list(processes.values()):
            process.terminate()


def shutdown_pools() -> None:
    """Stop every worker pool of this process (they restart on the next parallel call).

    Call it to free the workers' memory once their work is done (at interpreter
    exit the pools are stopped without waiting).
    """
    while _POOLS:
        pool = _POOLS.pop(next(iter(_POOLS)))
        pool.shutdown(wait=True, cancel_futures=True)


def _stop_at_exit() -> None:
    """At interpreter exit nothing waits for a pool: a chunk still running is abandoned work.

    (After a Ctrl-C between two chunks, waiting would block the exit on the
    running chunks.)
    """
    for workers, start_method in list(_POOLS):
        _discard(workers, start_method, terminate=True)


atexit.register(_stop_at_exit)


def _combine(parts: list[pa.Table], empty: Callable[[], pa.Table]) -> pa.Table:
    if not parts:
        return empty()
    return pa.concat_tables(parts)


def imap_chunks(
    func: ChunkFunction,
    table: pa.Table,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    workers: int = 1,
    *,
    start_method: str = "spawn",
) -> Iterator[pa.Table]:
    """Yield ``func(chunk)`` for each chunk of ``table``, in input order, as each is ready.

    The streaming form of :func:`map_chunks`: a caller that writes each
    result away (to a file, a shuffle) holds only the chunks in flight, at
    most ``2 * workers``, never the whole output. An empty input yields
    nothing.

    Args:
        func: Picklable function from a chunk (a ``pa.Table`` slice) to a
            ``pa.Table``.
        table: Input rows.
        chunk_rows: Largest chunk.
        workers: Processes to use; 1 runs in this process (no pool, no pickling).
            More use this process's pool of that size, started on first use
            and kept for later calls (see the module docstring).
        start_method: ``multiprocessing`` start method for the pool. ``spawn``
            (the default) starts clean interpreters, safe even when this
            process holds threads (DuckDB, Arrow's pool), unlike ``fork``.

    Raises:
        ValueError: ``chunk_rows`` or ``workers`` is below 1.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    chunks = iter_chunks(table, chunk_rows)
    if workers == 1 or table.num_rows <= chunk_rows:
        yield from (func(chunk) for chunk in chunks)
        return
    pool = _pool(workers, start_method)
    pending: deque[Future[bytes]] = deque()
    try:
        for chunk in chunks:
            pending.append(pool.submit(_apply, func, _to_ipc(chunk)))
            # Collect in submission order once the window is full: order is
            # deterministic and at most 2 * workers chunks are held.
            if len(pending) >= 2 * workers:
                yield _from_ipc(pending.popleft().result())
        while pending:
            yield _from_ipc(pending.popleft().result())
    except BaseException as stop:
        # Ctrl-C, an error, or a caller that stopped early: drop this call's
        # queued chunks rather than compute them; the pool serves the next call.
        for future in pending:
            future.cancel()
        if isinstance(stop, KeyboardInterrupt | BrokenProcessPool | GeneratorExit):
            # Nothing of a chunk's work is kept (the step writes at its end).
            # A Ctrl-C in the caller between two chunks reaches this generator
            # as GeneratorExit, with the workers still computing.
            _discard(workers, start_method, terminate=True)
        raise


def map_chunks(
    func: ChunkFunction,
    table: pa.Table,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    workers: int = 1,
    *,
    start_method: str = "spawn",
) -> pa.Table:
    """Apply ``func`` to each chunk of ``table`` and concatenate the results in order.

    Args:
        func: Picklable function from a chunk (a ``pa.Table`` slice) to a
            ``pa.Table``. Every result must share one schema.
        table: Input rows.
        chunk_rows: Largest chunk; smaller chunks bound memory, larger ones
            amortise per-chunk overhead (tens of thousands of rows is plenty).
        workers: Processes to use; 1 runs in this process (no pool, no pickling).
        start_method: See :func:`imap_chunks`.

    Returns:
        The concatenation of ``func(chunk)`` over the chunks in input order.
        An empty input gives ``func`` of the empty table.

    Raises:
        ValueError: ``chunk_rows`` or ``workers`` is below 1.
    """
    parts = list(imap_chunks(func, table, chunk_rows, workers, start_method=start_method))
    return _combine(parts, lambda: func(table.slice(0, 0)))


def default_workers() -> int:
    """One worker per CPU this process may run on (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def encode_side_parallel(
    table: pa.Table,
    schema: LinkageSchema,
    side: Side,
    keys: SubkeySource,
    *,
    workers: int | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> pa.Table:
    """:func:`linkage.schema.encode_side` over chunks on ``workers`` processes.

    Encoding is row by row, so the result is byte-identical to the
    single-process call whatever ``workers`` and ``chunk_rows`` are. The key
    travels to the workers pickled over the pool's pipe, never to disk.

    Args:
        table: The side's raw records.
        schema: The shared linkage schema.
        side: ``"a"`` or ``"b"``.
        keys: The exchange's linkage key.
        workers: Processes; None means :func:`default_workers`.
        chunk_rows: Rows per chunk.

    Returns:
        ``encode_side(table, schema, side, keys)``.

    Raises:
        ValueError: ``workers`` or ``chunk_rows`` is below 1.
    """
    func = functools.partial(encode_chunk, schema, side, keys)
    n = default_workers() if workers is None else workers
    return map_chunks(func, table, chunk_rows=chunk_rows, workers=n)


def encode_side_chunks(
    table: pa.Table,
    schema: LinkageSchema,
    side: Side,
    keys: SubkeySource,
    *,
    workers: int | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: StageProgress = no_progress,
) -> Iterator[pa.Table]:
    """:func:`encode_side_parallel` chunk by chunk, in input order, for streaming writers.

    Concatenated, the chunks are exactly ``encode_side_parallel``'s table.
    ``progress`` is told ``("tokenizing", rows done, table rows)``: 0 before the
    first chunk, then after each chunk as it is yielded, up to every row.

    Raises:
        ValueError: ``workers`` or ``chunk_rows`` is below 1.
    """
    func = functools.partial(encode_chunk, schema, side, keys)
    n = default_workers() if workers is None else workers
    chunks = imap_chunks(func, table, chunk_rows=chunk_rows, workers=n)
    return _counted(chunks, table.num_rows, progress)


def _counted(chunks: Iterator[pa.Table], total: int, progress: StageProgress) -> Iterator[pa.Table]:
    """``chunks``, telling ``progress`` how many rows are done after each one."""
    done = 0
    progress(_TOKENIZE_STAGE, done, total)
    for chunk in chunks:
        done += chunk.num_rows
        progress(_TOKENIZE_STAGE, done, total)
        yield chunk


def join_row_columns(columns: pa.Table, chunks: Iterable[pa.Table]) -> Iterator[pa.Table]:
    """Each streamed token chunk with its rows of ``columns`` in front, in input order.

    ``columns`` holds the per-row values a role knows up front (``rid``,
    ``segments``, ``hp``); ``chunks`` are :func:`encode_side_chunks` output
    for consecutive row ranges. Memory holds one chunk, never the payload.

    Raises:
        StateError: The chunks did not cover exactly ``columns``' rows (checked
            once they are exhausted).
    """
    offset = 0
    for chunk in chunks:
        part = columns.slice(offset, chunk.num_rows)
        for name in chunk.column_names:
            part = part.append_column(name, chunk[name])
        yield part
        offset += chunk.num_rows
    if offset != columns.num_rows:
        raise StateError(f"tokenizer returned {offset} rows for {columns.num_rows}")
