"""Keyed Bloom-filter encodings (CLKs) of quasi-identifiers for fuzzy matching.

A cryptographic long-term key (CLK, Schnell, Bachteler & Reiher 2011) maps
each record to one bit vector: every q-gram of every field sets ``k`` bit
positions chosen by a keyed hash. Two records that share many q-grams share
many bits, so the Dice coefficient of their CLKs approximates the q-gram
similarity of the underlying strings without revealing them to the matcher.

Differences from clkhash (same idea, different choices):

* **Keyed per exchange and per field.** Each field hashes under its own
  sub-key ``checked_subkey(keys, f"bloom:{field.name}")`` (HKDF from the exchange's
  linkage key). Without that key a dictionary of names gives no bit pattern
  to compare against, and CLKs from two exchanges are unlinkable.
* **Random hashing, not double hashing.** The ``k`` positions of a q-gram are
  read straight from HMAC-SHA256 output (32-bit big-endian chunks, mod
  ``length``; further blocks use a 4-byte counter prefix). Double hashing
  (``h1 + i*h2``) places the positions in an arithmetic progression, a
  structure the pattern-mining attacks of Niedermeyer et al. (2014) and
  Kroll & Steinmetzer (2015) exploit to re-identify q-grams; random hashing
  removes it and is no slower here because positions are computed once per
  *distinct* q-gram anyway. The modulo bias is below ``length / 2**32``.
* **Vectorised.** Work is done once per distinct value of each field (a
  voter file holds far fewer distinct surnames than rows), then rows are
  assembled with numpy gathers and ORs.

Representation: a CLK matrix is ``np.ndarray`` of ``uint8`` with shape
``(n, output_length // 8)``. Bit position ``p`` is bit ``7 - p % 8`` (MSB
first) of byte ``p // 8``, the ``np.packbits`` default and the order clkhash's
bitarrays serialise in, so ``bytes(row).hex()`` reads left to right.
:mod:`linkage.similarity` views rows as ``uint64`` words, which is why the
output length must be a multiple of 64.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from cryptography.hazmat.primitives import hashes, hmac

from linkage.errors import InputError, SchemaError
from linkage.hazmat import checked_subkey
from linkage.types import SubkeySource

__all__ = [
    "DEFAULT_BLOOM_SCHEMA",
    "PAD",
    "BloomSchema",
    "FieldEncoding",
    "Hardening",
    "SubkeySource",
    "encode_record_reference",
    "encode_records",
    "from_arrow",
    "qgrams",
    "to_arrow",
]

Hardening = Literal["none", "xor_fold", "balance"]
_HARDENINGS: tuple[str, ...] = get_args(Hardening)

PAD = "_"
"""Padding character around non-positional values (``"smith"`` -> ``"_smith_"`` for q=2)."""

_MAX_Q = 8
_MAX_K = 256
_MIN_LENGTH = 64
_MAX_LENGTH = 1 << 16
_POSITIONS_PER_BLOCK = 8  # one HMAC-SHA256 output = 8 x 32-bit positions
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Bounds the temporary bool matrices (values x length) to about 16 MB.
_BOOL_BUDGET = 1 << 24


def _int_in(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


@dataclass(frozen=True, slots=True)
class FieldEncoding:
    """How one normalised column contributes to the CLK.

    Attributes:
        name: Column name in the normalised table; also names the sub-key
            (``"bloom:<name>"``).
        q: q-gram length. 2 (bigrams) is the PPRL standard for names; 1 suits
            very short codes, 3 is stricter and sets fewer collisions.
        bits: Hash functions per q-gram (``k``), i.e. the field's weight in the
            Dice score. Privacy cost: a larger ``k`` makes a field's bits denser
            and more frequent, which is what frequency and pattern attacks feed
            on; keep the whole filter at or below about half full.
        positional: Tag each q-gram with its offset (``"0:19"``, ``"1:98"``...)
            and do not pad. Use for fixed-format values such as dates or ZIP
            codes, where "1980" and "1908" must not look alike.
    """

    name: str
    q: int = 2
    bits: int = 20
    positional: bool = False

    def problems(self) -> list[str]:
        """Return every problem with this field (empty when valid); never raises."""
        label = f"field '{self.name}'" if _NAME_RE.match(self.name) else "a field"
        found: list[str] = []
        if not _NAME_RE.match(self.name):
            found.append("a field name must be an identifier (letters, digits, underscore)")
        if not _int_in(self.q, 1, _MAX_Q):
            found.append(f"{label}: q must be between 1 and {_MAX_Q}")
        if not _int_in(self.bits, 1, _MAX_K):
            found.append(
                f"{label}: bits (hash functions per q-gram) must be between 1 and {_MAX_K}"
            )
        return found


@dataclass(frozen=True, slots=True)
class BloomSchema:
    """A validated CLK layout shared by both tokenizing parties.

    Both sides must use the identical schema (and linkage key), or their CLKs
    are incomparable.

    Attributes:
        fields: The encoded fields, in any order (order does not change bits).
        length: Filter length in bits before hardening; a multiple of 64
            (128 with ``xor_fold``), between 64 and 65536. Longer filters have
            fewer collisions (better precision) at proportional cost.
        hardening: Post-processing that trades match quality for resistance to
            cryptanalysis of the bit patterns (comparisons in Christen, Ranbaduge &
            Schnell, "Linking Sensitive Data", Springer 2020):

            * ``"none"`` — plain CLK of ``length`` bits. Best quality. The keyed
              hash already defeats dictionary attacks by anyone without the
              key; what remains is frequency and pattern mining by the matcher
              (frequent bits = frequent q-grams such as "an", "er"), which
              needs a large encoded database and side knowledge.
            * ``"xor_fold"`` — XOR the first half onto the second (Schnell &
              Borgs 2016, "XOR-folding for Bloom encryption"): output is
              ``length // 2`` bits. A bit no longer belongs to one set of
              q-grams, which breaks the bit-to-q-gram assignments pattern
              attacks rely on. Cost: more collisions and denser filters, so
              Dice is noisier; published experiments report a small loss of
              precision at equal recall, larger for short filters — use
              ``length >= 1024``.
            * ``"balance"`` — append the complement of the filter and permute
              all ``2 * length`` bits with a keyed permutation (sub-key
              ``"bloom:balance"``): the balanced Bloom filters of Schnell &
              Borgs (2016). Every CLK then has exactly ``length`` ones, hiding
              the Hamming weight (which leaks name length) and flattening bit
              frequencies. Cost: double size and cost per comparison, and Dice
              becomes ``1 - hamming / length`` of the unbalanced filters:
              scores crowd near 1 (most bits agree as zeros), so thresholds
              calibrated on plain CLKs do not carry over and must be
              re-estimated (ECM does this); ranking by Hamming distance is kept.

            Measured quality cost on this toolkit's full private path
            (``scripts/linkage_quality.py ... --hardening H``; F1 for none /
            xor_fold / balance): FEBRL4 without SSN 0.9993 / 0.9991 / 0.9982
            (fresh keys every run: +-0.0002); synthetic voters -> households
            (50k voters) 0.9936 / 0.9936 / 0.9936.
            Neither option changes the frequency attack on a filter that
            encodes one common field (both are deterministic); what defends
            against it is never encoding a name alone (see the audit's
            ``clk-frequency`` check and docs/THREAT_MODEL.md).
    """

    fields: tuple[FieldEncoding, ...]
    length: int = 1024
    hardening: Hardening = "none"

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise SchemaError(problems)

    def problems(self) -> list[str]:
        """Return every problem with this schema and its fields (empty when valid)."""
        found: list[str] = []
        if not isinstance(self.fields, tuple) or not all(
            isinstance(f, FieldEncoding) for f in self.fields
        ):
            return ["fields must be a tuple of FieldEncoding"]
        if not self.fields:
            found.append("at least one field is required")
        for f in self.fields:
            found.extend(f.problems())
        names = [f.name for f in self.fields]
        for name in sorted({n for n in names if names.count(n) > 1}):
            found.append(f"field '{name}' appears more than once")
        if self.hardening not in _HARDENINGS:
            found.append(f"hardening must be one of {', '.join(_HARDENINGS)}")
        multiple = 128 if self.hardening == "xor_fold" else 64
        if not (_int_in(self.length, _MIN_LENGTH, _MAX_LENGTH) and self.length % multiple == 0):
            found.append(
                f"length must be a multiple of {multiple} between {_MIN_LENGTH} and {_MAX_LENGTH}"
            )
        return found

    @property
    def output_length(self) -> int:
        """Bits per CLK after hardening: ``length``, ``length // 2`` or ``2 * length``."""
        if self.hardening == "xor_fold":
            return self.length // 2
        if self.hardening == "balance":
            return self.length * 2
        return self.length

    @property
    def output_bytes(self) -> int:
        """Bytes per CLK after hardening (the Arrow ``binary(n)`` width)."""
        return self.output_length // 8


DEFAULT_BLOOM_SCHEMA = BloomSchema(
    fields=(
        FieldEncoding("given", q=2, bits=15),
        FieldEncoding("surname", q=2, bits=20),
        FieldEncoding("house_number", q=1, bits=10, positional=True),
        FieldEncoding("street", q=2, bits=8),
        FieldEncoding("zip5", q=1, bits=10, positional=True),
    ),
    length=1024,
)
"""Starting point over ``linkage.normalize`` output: about a third of the 1024 bits set.

Weights are a first guess (surname > given > address parts); tune them on the
synthetic world's ground truth. Changing them changes every CLK.
"""


def qgrams(value: str, q: int, *, positional: bool = False) -> tuple[str, ...]:
    """Distinct q-grams of ``value`` in first-occurrence order.

    Non-positional values are padded with ``q - 1`` copies of :data:`PAD` on
    each side so first and last letters weigh as much as inner ones. Positional
    q-grams are unpadded and prefixed ``"<offset>:"``; a value shorter than
    ``q`` yields itself as its only gram. The empty string yields nothing.

    Args:
        value: A normalised field value (not altered further here).
        q: Gram length, at least 1.
        positional: Tag grams with their offset instead of padding.

    Returns:
        The distinct grams.
    """
    if not value:
        return ()
    if positional:
        if len(value) < q:
            return (f"0:{value}",)
        grams = (f"{i}:{value[i : i + q]}" for i in range(len(value) - q + 1))
    else:
        padded = PAD * (q - 1) + value + PAD * (q - 1)
        grams = (padded[i : i + q] for i in range(len(padded) - q + 1))
    return tuple(dict.fromkeys(grams))


def _hmac(key: bytes, message: bytes) -> bytes:
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(message)
    return mac.finalize()


def _hmac_many(key: bytes, messages: Sequence[bytes]) -> bytes:
    """Concatenated HMAC-SHA256 tags; the keyed state is set up once and copied."""
    base = hmac.HMAC(key, hashes.SHA256())
    tags = []
    for message in messages:
        mac = base.copy()
        mac.update(message)
        tags.append(mac.finalize())
    return b"".join(tags)


def _gram_positions(key: bytes, grams: Sequence[str], k: int, length: int) -> npt.NDArray[np.int64]:
    """Bit positions (len(grams), k) of each gram under ``key`` (random hashing)."""
    blocks = -(-k // _POSITIONS_PER_BLOCK)
    prefixes = [b.to_bytes(4, "big") for b in range(blocks)]
    digests = _hmac_many(key, [p + g.encode("utf-8") for g in grams for p in prefixes])
    words = np.frombuffer(digests, dtype=">u4").reshape(len(grams), blocks * _POSITIONS_PER_BLOCK)
    return (words[:, :k] % length).astype(np.int64)


def _gram_windows(
    values: Sequence[str], field: FieldEncoding
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], list[str]]:
    """All q-gram occurrences of ``values``, vectorised over code points.

    Equivalent to calling :func:`qgrams` on each value (without the
    de-duplication, which cannot change bits), but the per-character work
    runs in numpy instead of the interpreter.

    Returns:
        ``(owner, gram_id, grams)``: occurrence ``t`` belongs to value
        ``owner[t]`` and is the gram ``grams[gram_id[t]]``.
    """
    q = field.q
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    width = int(lengths.max(initial=0))
    if width == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), []
    # UTF-32 code points, zero-filled to the widest value; lengths come from
    # len(), so a value's own trailing NULs are still counted correctly.
    text = np.array(values, dtype=f"<U{width}").view(np.uint32).reshape(len(values), width)
    pad = q - 1
    codes = np.zeros((len(values), width + 2 * pad), dtype=np.int64)
    if field.positional:
        codes[:, :width] = text
        counts = np.where(lengths >= q, lengths - q + 1, np.minimum(lengths, 1))
    else:
        codes[:, pad : pad + width] = text
        if pad:
            codes[:, :pad] = ord(PAD)
            tail = pad + lengths[:, None] + np.arange(pad)
            codes[np.arange(len(values))[:, None], tail] = ord(PAD)
        counts = np.where(lengths > 0, lengths + pad, 0)
    windows = np.lib.stride_tricks.sliding_window_view(codes, q, axis=1)
    mask = np.arange(windows.shape[1])[None, :] < counts[:, None]
    owner, offset = np.nonzero(mask)
    keys = windows[owner, offset]
    if field.positional:
        # Offset and true gram length make short values ("0:7" for q=2) unambiguous.
        glen = np.minimum(lengths[owner], q)
        keys = np.column_stack((offset, glen, keys))
    gram_id, first = _row_ids(keys)
    unique = keys[first].tolist()
    if field.positional:
        grams = [f"{row[0]}:{''.join(map(chr, row[2 : 2 + row[1]]))}" for row in unique]
    else:
        grams = ["".join(map(chr, row)) for row in unique]
    return owner.astype(np.int64), gram_id, grams


def _dense(values: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], int]:
    """Rank non-negative ints densely (0..card-1, order-preserving); return ranks and card."""
    top = int(values.max(initial=0)) + 1
    if top <= max(1 << 16, 4 * len(values)):
        # Small range (code points, offsets): a lookup table, no sort.
        present = np.zeros(top, dtype=bool)
        present[values] = True
        table = np.cumsum(present, dtype=np.int64) - 1
        return table[values], int(table[-1]) + 1
    distinct, rank = np.unique(values, return_inverse=True)
    return rank.ravel().astype(np.int64), len(distinct)


def _row_ids(
    rows: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Dense ids of the distinct rows of a 2-D non-negative int matrix, and one row per id.

    Same grouping as ``np.unique(rows, axis=0)``, but built from per-column
    dense ranks combined as mixed-radix keys, which avoids numpy's slow
    lexicographic row sort.
    """
    ids = np.zeros(rows.shape[0], dtype=np.int64)
    cardinality = 1
    for column in rows.T:
        rank, count = _dense(column)
        if cardinality * count >= 1 << 62:
            ids, cardinality = _dense(ids)
        ids = ids * count + rank
        cardinality *= count
    ids, cardinality = _dense(ids)
    representative = np.empty(cardinality, dtype=np.int64)
    representative[ids] = np.arange(len(ids), dtype=np.int64)
    return ids, representative


def _value_filters(
    values: Sequence[str],
    field: FieldEncoding,
    key: bytes,
    length: int,
    maps: Sequence[npt.NDArray[np.int64] | None],
    out_length: int,
) -> list[npt.NDArray[np.uint8]]:
    """Packed filters for distinct ``values``, one table per position map.

    Each table has ``len(values) + 1`` rows of ``out_length // 8`` bytes; the
    extra last row is empty (where nulls point). A raw position ``p`` lands on
    bit ``m[p]`` of the table built with map ``m`` (``None``: bit ``p``).
    """
    tables = [np.zeros((len(values) + 1, out_length // 8), dtype=np.uint8) for _ in maps]
    step = max(1, _BOOL_BUDGET // out_length)
    cache: dict[str, npt.NDArray[np.int64]] = {}
    for start in range(0, len(values), step):
        chunk = values[start : start + step]
        owner, gram_id, grams = _gram_windows(chunk, field)
        if not grams:
            continue
        fresh = [g for g in grams if g not in cache]
        if fresh:
            cache.update(zip(fresh, _gram_positions(key, fresh, field.bits, length), strict=True))
        positions = np.stack([cache[g] for g in grams])[gram_id]
        base = owner[:, None] * out_length
        for table, position_map in zip(tables, maps, strict=True):
            mapped = positions if position_map is None else position_map[positions]
            bits = np.zeros(len(chunk) * out_length, dtype=bool)
            bits[(base + mapped).ravel()] = True
            table[start : start + len(chunk)] = np.packbits(bits).reshape(len(chunk), -1)
    return tables


def _string_column(table: Any, name: str) -> Any:
    """The column as one pa.string() array (dates cast to ISO text)."""
    column = table.column(name)
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_date(kind):
        return column.cast(pa.string())
    raise InputError(
        "CLK fields must be string (or date) columns",
        column=name,
        hint="encode the output of linkage.normalize",
    )


def _balance_permutation(key: bytes, size: int) -> npt.NDArray[np.int64]:
    """Keyed permutation of ``range(size)``: sort indices by HMAC(key, index)."""
    tags = np.frombuffer(_hmac_many(key, [i.to_bytes(4, "big") for i in range(size)]), ">u8")
    return np.argsort(tags.reshape(size, 4)[:, 0], kind="stable").astype(np.int64)


def encode_records(table: Any, schema: BloomSchema, keys: SubkeySource) -> npt.NDArray[np.uint8]:
    """Encode every row of a normalised table as a keyed CLK.

    A null or empty value contributes no bits; a row with every field null is
    the all-zero filter (Dice 0.0 against anything, see
    :func:`linkage.similarity.dice_pairs`).

    Args:
        table: ``pyarrow.Table`` with one string column per schema field
            (``linkage.normalize`` output); other columns are ignored.
        schema: The shared CLK layout.
        keys: Source of the per-field sub-keys ``"bloom:<field>"`` (and
            ``"bloom:balance"`` for balanced hardening).

    Returns:
        ``uint8`` matrix of shape ``(table.num_rows, schema.output_bytes)``,
        row order preserved.

    Raises:
        InputError: A schema field is missing from the table or is not text.
    """
    missing = [f.name for f in schema.fields if f.name not in table.column_names]
    if missing:
        raise InputError(
            f"table lacks CLK field column(s): {', '.join(missing)}",
            hint="both parties must encode the same normalised fields",
        )
    length = schema.length
    if schema.hardening == "balance":
        # Balancing is done per distinct value, not per row: with the keyed
        # permutation P, balanced(x) = P(x, 0) | (P(0, 1) & ~P(0, x)), and both
        # P(x, 0) and P(0, x) are ORs of per-field, per-value filters.
        perm = _balance_permutation(checked_subkey(keys, "bloom:balance"), 2 * length)
        inverse = np.argsort(perm).astype(np.int64)
        maps: list[npt.NDArray[np.int64] | None] = [inverse[:length], inverse[length:]]
        out_length = 2 * length
    else:
        maps = [None]
        out_length = length
    parts = [np.zeros((table.num_rows, out_length // 8), dtype=np.uint8) for _ in maps]
    for field in schema.fields:
        encoded = _string_column(table, field.name).dictionary_encode()
        values: list[str] = encoded.dictionary.to_pylist()
        key = checked_subkey(keys, f"bloom:{field.name}")
        tables = _value_filters(values, field, key, length, maps, out_length)
        # Nulls point at the trailing all-zero filter row.
        index = pc.fill_null(encoded.indices, len(values)).to_numpy(zero_copy_only=False)
        for part, filters in zip(parts, tables, strict=True):
            part |= filters[index]
    if schema.hardening == "balance":
        complement = np.zeros(out_length, dtype=bool)
        complement[inverse[length:]] = True
        mask = np.packbits(complement)
        balanced: npt.NDArray[np.uint8] = parts[0] | (mask & ~parts[1])
        return balanced
    if schema.hardening == "xor_fold":
        half = length // 16
        return np.ascontiguousarray(parts[0][:, :half] ^ parts[0][:, half:])
    return parts[0]


def encode_record_reference(
    record: Mapping[str, str | None], schema: BloomSchema, keys: SubkeySource
) -> bytes:
    """Slow, obviously-correct encoding of one record (tests and audits only).

    Mirrors :func:`encode_records` step by step with Python ints and lists, so
    the two can be checked against each other.

    Args:
        record: Field name -> normalised value (``None`` or absent = null).
        schema: The CLK layout.
        keys: Sub-key source.

    Returns:
        The CLK bytes (``schema.output_bytes`` long).
    """
    length = schema.length
    bits = [0] * length
    for field in schema.fields:
        value = record.get(field.name)
        if value is None:
            continue
        key = checked_subkey(keys, f"bloom:{field.name}")
        for gram in qgrams(value, field.q, positional=field.positional):
            positions: list[int] = []
            block = 0
            while len(positions) < field.bits:
                digest = _hmac(key, block.to_bytes(4, "big") + gram.encode("utf-8"))
                for j in range(0, 32, 4):
                    positions.append(int.from_bytes(digest[j : j + 4], "big") % length)
                block += 1
            for p in positions[: field.bits]:
                bits[p] = 1
    if schema.hardening == "xor_fold":
        half = length // 2
        bits = [bits[i] ^ bits[half + i] for i in range(half)]
    elif schema.hardening == "balance":
        full = bits + [1 - b for b in bits]
        key = checked_subkey(keys, "bloom:balance")
        order = sorted(
            range(2 * length),
            key=lambda i: (int.from_bytes(_hmac(key, i.to_bytes(4, "big"))[:8], "big"), i),
        )
        bits = [full[i] for i in order]
    return bytes(
        sum(bit << (7 - j) for j, bit in enumerate(bits[i : i + 8])) for i in range(0, len(bits), 8)
    )


def to_arrow(clks: npt.NDArray[np.uint8]) -> Any:
    """CLK matrix -> ``pyarrow`` array of ``binary(width)`` (one value per row, no nulls).

    Args:
        clks: ``uint8`` matrix ``(n, width)`` as returned by :func:`encode_records`.

    Returns:
        A ``pa.FixedSizeBinaryArray`` (a copy; later changes to ``clks`` do not show).
    """
    if clks.ndim != 2 or clks.dtype != np.uint8:
        raise InputError("a CLK matrix must be a 2-D uint8 array")
    n, width = clks.shape
    data = pa.py_buffer(np.ascontiguousarray(clks).tobytes())
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n, [None, data])


def from_arrow(array: Any) -> npt.NDArray[np.uint8]:
    """``binary(width)`` array or chunked array -> CLK matrix ``(n, width)`` ``uint8``.

    Null entries become all-zero rows (an empty filter).

    Args:
        array: ``pa.FixedSizeBinaryArray`` or ``pa.ChunkedArray`` of one.

    Returns:
        A new, writable ``uint8`` matrix.

    Raises:
        InputError: The array is not fixed-size binary.
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not pa.types.is_fixed_size_binary(array.type):
        raise InputError("CLK column must be fixed-size binary", hint="write it with to_arrow")
    width: int = array.type.byte_width
    n = len(array)
    if n == 0:
        return np.zeros((0, width), dtype=np.uint8)
    raw = np.frombuffer(array.buffers()[1], dtype=np.uint8)
    out = raw[array.offset * width : (array.offset + n) * width].reshape(n, width).copy()
    if array.null_count:
        out[array.is_null().to_numpy(zero_copy_only=False)] = 0
    return out
