"""The envelope: how a payload table travels between two parties.

- :mod:`.container`: the NWL2 wire format (chunked AES-GCM, hash-then-sign;
  described once, in its docstring) with seal and open.
- :mod:`.manifest`: the signed, cleartext description of a message.
- :mod:`.allow_lists`: which columns each message kind may carry.
"""

from linkage.protocol.envelope.allow_lists import (
    KIND_SPECS,
    KINDS,
    ColumnRule,
    KindSpec,
    validate_payload,
    validate_payload_file,
)
from linkage.protocol.envelope.container import (
    CHUNK_BYTES,
    MAGIC,
    OpenedMessage,
    VerifiedMessage,
    check_payload,
    encode_payload,
    open_message,
    open_stream,
    read_manifest,
    read_manifest_stream,
    read_payload,
    seal,
    seal_parquet,
)
from linkage.protocol.envelope.manifest import FORMAT_VERSION, Manifest, format_time, parse_time

__all__ = [
    "CHUNK_BYTES",
    "FORMAT_VERSION",
    "KINDS",
    "KIND_SPECS",
    "MAGIC",
    "ColumnRule",
    "KindSpec",
    "Manifest",
    "OpenedMessage",
    "VerifiedMessage",
    "check_payload",
    "encode_payload",
    "format_time",
    "open_message",
    "open_stream",
    "parse_time",
    "read_manifest",
    "read_manifest_stream",
    "read_payload",
    "seal",
    "seal_parquet",
    "validate_payload",
    "validate_payload_file",
]
