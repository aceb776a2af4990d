"""The on-disk uniform shuffle: a Parquet file whose row order reveals nothing.

Token payloads leave a party in random order so that row position cannot be
joined back to the input file's order (which often sorts by name or
address). The payloads can be larger than memory, so the shuffle is the
classic two-pass scatter: rows go to uniformly random bucket files, then
each bucket is permuted in memory and appended to the output. With i.i.d.
uniform buckets and a uniform permutation inside each, every order of the
rows is equally likely.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from linkage.io.atomic import PRIVATE_MODE, atomic_write


class ShuffledParquet:
    """A Parquet file whose rows come out in a uniformly random order, in bounded memory.

    Each appended row goes to one of ``buckets`` files chosen uniformly at
    random; on a clean exit every bucket is read back, permuted at random and
    appended to ``path`` (zstd, atomically through :func:`atomic_write`). With
    i.i.d. uniform buckets and uniform permutations inside them, every order
    of the rows is equally likely, whatever order they were appended in, and
    memory holds one appended table plus one bucket. Bucket files live in
    ``scratch`` (use :func:`linkage.io.private_scratch`) and are deleted as
    they are consumed.

    Args:
        path: The output file.
        scratch: A private directory for the bucket files.
        rng: Randomness for buckets and permutations; default seeded from
            the OS (pass a seeded one in tests).
        buckets: Number of bucket files; the largest in-memory step is about
            1/``buckets`` of the output.
        mode: Permission bits of the output.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        scratch: str | os.PathLike[str],
        *,
        rng: np.random.Generator | None = None,
        buckets: int = 32,
        mode: int = PRIVATE_MODE,
    ) -> None:
        """Remember the target; bucket files are created on the first write."""
        if buckets < 1:
            raise ValueError("buckets must be at least 1")
        self.path, self.scratch, self.mode, self.buckets = Path(path), Path(scratch), mode, buckets
        self.rng = rng if rng is not None else np.random.default_rng(secrets.randbits(128))
        self.rows = 0
        self.schema: pa.Schema | None = None
        self._writers: list[pq.ParquetWriter] = []

    def _bucket(self, index: int) -> Path:
        return self.scratch / f"bucket-{index:04d}.parquet"

    def __enter__(self) -> ShuffledParquet:
        """Nothing to open until the schema is known."""
        return self

    def write(self, table: pa.Table) -> None:
        """Scatter ``table``'s rows over the buckets (every table must share one schema)."""
        if self.schema is None:
            self.schema = table.schema
            self._writers = [
                # Uncompressed: buckets live seconds, and tokens do not compress.
                pq.ParquetWriter(
                    self._bucket(i), table.schema, compression="none", use_dictionary=False
                )
                for i in range(self.buckets)
            ]
        bucket = self.rng.integers(0, self.buckets, table.num_rows)
        order = np.argsort(bucket, kind="stable")
        ends = np.cumsum(np.bincount(bucket, minlength=self.buckets))
        grouped = table.take(pa.array(order))
        start = 0
        for writer, end in zip(self._writers, ends.tolist(), strict=True):
            if end > start:
                writer.write_table(grouped.slice(start, end - start))
            start = end
        self.rows += table.num_rows

    def __exit__(self, kind: type[BaseException] | None, error: object, tb: object) -> None:
        """On success, write ``path`` bucket by bucket; always remove the buckets."""
        writers, self._writers = self._writers, []
        try:
            for writer in writers:
                writer.close()
            schema = self.schema
            if kind is None and schema is not None:
                atomic_write(
                    self.path, self.mode, lambda handle: self._drain(handle, schema, len(writers))
                )
        finally:
            for i in range(len(writers)):
                self._bucket(i).unlink(missing_ok=True)

    def _drain(self, handle: IO[bytes], schema: pa.Schema, buckets: int) -> None:
        """Each bucket, permuted, into ``handle``, deleting it once read."""
        with pq.ParquetWriter(handle, schema, compression="zstd", use_dictionary=False) as writer:
            for i in range(buckets):
                part = pq.read_table(self._bucket(i))
                self._bucket(i).unlink()
                writer.write_table(part.take(pa.array(self.rng.permutation(part.num_rows))))
