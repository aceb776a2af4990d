"""io: the only package that touches the filesystem.

Everything else in ``linkage`` takes and returns in-memory tables and
records; every file a party reads or writes goes through one of these
modules, so the rules (atomic replace, 0600 for private files, errors that
name the file but never a value) are kept in one place.

* :mod:`~linkage.io.atomic` -- atomic writes (bytes, text, Parquet, CSV,
  ``ParquetSink``), the durable ledger append, ``PRIVATE_MODE``/``PUBLIC_MODE``.
* :mod:`~linkage.io.scratch` -- private scratch directories removed on exit.
* :mod:`~linkage.io.private_cache` -- a party's caches reused across exchanges (0600).
* :mod:`~linkage.io.shuffle` -- ``ShuffledParquet``, the on-disk uniform shuffle.
* :mod:`~linkage.io.keystore` -- key files, secrets, party cards and contacts.
* :mod:`~linkage.io.messages` -- sealed message files, opening them via
  scratch, and the seen-message (replay guard) state.
* :mod:`~linkage.io.inputs` -- input tables and text, validated before use.
* :mod:`~linkage.io.ledger_files` -- the release ledger's files and lock.
* :mod:`~linkage.io.home` -- a party's home: where each of its files lives.
* :mod:`~linkage.io.status` -- where a party stands in an exchange, and what comes next.
"""

from linkage.io.atomic import (
    PRIVATE_MODE,
    PUBLIC_MODE,
    ParquetSink,
    append_jsonl,
    atomic_write_bytes,
    atomic_write_csv,
    atomic_write_parquet,
    atomic_write_text,
)
from linkage.io.home import PartyHome
from linkage.io.inputs import (
    INPUT_COLUMN_KINDS,
    MAX_FIELD_CHARS,
    InputColumnKind,
    check_input_file,
    read_input_table,
    read_text,
)
from linkage.io.keystore import (
    load_identity,
    load_secret,
    load_secret_from_env,
    read_card,
    read_contacts,
    save_identity,
    save_secret,
    write_card,
)
from linkage.io.ledger_files import (
    exclusive_lock,
    load_ledger_blob,
    load_ledger_table,
    read_ledger_head,
    read_ledger_lines,
    store_ledger_blob,
    store_ledger_table,
    write_ledger_head,
)
from linkage.io.messages import (
    ParquetColumns,
    copy_message,
    load_seen,
    open_message_file,
    opened_columns,
    read_message_bytes,
    save_seen,
    write_message,
    write_sealed_parquet,
)
from linkage.io.private_cache import (
    read_private_cache,
    remove_private_cache,
    write_private_cache,
)
from linkage.io.scratch import private_scratch
from linkage.io.shuffle import ShuffledParquet
from linkage.io.status import Awaited, ExchangeStatus, Handoff, exchange_ids, exchange_status

__all__ = [
    "INPUT_COLUMN_KINDS",
    "MAX_FIELD_CHARS",
    "PRIVATE_MODE",
    "PUBLIC_MODE",
    "Awaited",
    "ExchangeStatus",
    "Handoff",
    "InputColumnKind",
    "ParquetColumns",
    "ParquetSink",
    "PartyHome",
    "ShuffledParquet",
    "append_jsonl",
    "atomic_write_bytes",
    "atomic_write_csv",
    "atomic_write_parquet",
    "atomic_write_text",
    "check_input_file",
    "copy_message",
    "exchange_ids",
    "exchange_status",
    "exclusive_lock",
    "load_identity",
    "load_ledger_blob",
    "load_ledger_table",
    "load_secret",
    "load_secret_from_env",
    "load_seen",
    "open_message_file",
    "opened_columns",
    "private_scratch",
    "read_card",
    "read_contacts",
    "read_input_table",
    "read_ledger_head",
    "read_ledger_lines",
    "read_message_bytes",
    "read_private_cache",
    "read_text",
    "remove_private_cache",
    "save_identity",
    "save_secret",
    "save_seen",
    "store_ledger_blob",
    "store_ledger_table",
    "write_card",
    "write_ledger_head",
    "write_message",
    "write_private_cache",
    "write_sealed_parquet",
]
