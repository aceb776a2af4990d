"""Private scratch directories: intermediate files that never outlive a command.

Shuffle buckets and decrypted payloads are as sensitive as a party's state
but must never be published, so they live in a fresh 0700 directory that is
removed, contents and all, however the command ends. The parent is the
caller's choice (the parties use their own state directory) so that large
intermediates land on the disk sized for them, not in a shared ``/tmp``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def private_scratch(parent: str | os.PathLike[str]) -> Iterator[Path]:
    """A fresh 0700 directory under ``parent``, removed with its contents on exit.

    For intermediate files of one command (shuffle buckets, a payload before
    it is sealed): nothing in it outlives the command, whether it succeeds or
    fails.
    """
    root = Path(parent)
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=".scratch-", dir=root))  # mkdtemp: 0700
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
