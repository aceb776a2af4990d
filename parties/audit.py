"""Privacy audit of an exchange directory (a demo dir holding the three party homes).

The auditor is the one actor allowed to look at every home and at the world's
raw files: it checks that nothing that left a party breaks the rules of
DESIGN §5, and it runs the attacks an adversary would run on what was sent.
It prints one PASS/FAIL line per check, each with its figure, and returns 1 on
any failure.

Checks: signatures, recipients, allow-lists, pii-scan, key-separation,
dictionary (a dictionary attack on every token, without and with the key),
clk-frequency (frequency alignment of Bloom-filter patterns with the public
voter file's most common names), thresholds (no released cell under k) and
differencing (no two released segments a few households apart).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from cryptography.exceptions import InvalidTag
from rich.markup import escape

from linkage.encode import DEFAULT_RECIPES, encode_message, normalize_records, tokenize_records
from linkage.engine import DuckDBEngine
from linkage.errors import MessageError, NarwhalError
from linkage.io import load_secret, read_input_table, read_message_bytes
from linkage.measure import compute_viewership, cross_with_intensity, household_intensity
from linkage.protocol import (
    Identity,
    LinkageKey,
    OpenedMessage,
    PartyCard,
    agree_linkage_key,
    derive_linkage_key,
    open_message,
    pseudonymize,
    read_manifest,
    validate_payload,
)
from linkage.tables import DEFAULT_K
from linkage.types import SubkeySource
from parties.common import Home, out

#: kind -> (sender role, recipient role)
ROUTES: dict[str, tuple[str, str]] = {
    "campaign-tokens": ("campaign", "matcher"),
    "provider-tokens": ("provider", "matcher"),
    "assignments": ("matcher", "provider"),
    "match-report": ("matcher", "campaign"),
    "viewership": ("provider", "campaign"),
}

PII_COLUMNS = {
    "voters": ("voter_id", "first_name", "last_name", "address", "email", "phone"),
    "subscribers": (
        "household_id",
        "account_number",
        "first_name",
        "last_name",
        "address",
        "email",
        "phone",
    ),
}

ATTACK_SAMPLE = 2000
"""Voters of the public file the dictionary attack hashes (every variant of each)."""

CLK_TOP_PATTERNS = 50
"""How many of the most frequent CLK patterns the frequency attack aligns."""

MAX_REIDENTIFICATION = 0.01
"""Largest share of records the CLK frequency attack may re-identify before the check fails."""


@dataclass(frozen=True)
class CheckResult:
    """One audit line: the check's name, whether it passed, and its figure."""

    name: str
    passed: bool
    detail: str


@dataclass
class Exchange:
    """Everything the auditor loaded from a demo directory."""

    root: Path
    homes: dict[str, Home]
    messages: list[tuple[Path, str, OpenedMessage]]  # path, holder role, opened
    errors: list[str]
    allow_list_errors: list[str] = field(default_factory=list)


# --- loading -----------------------------------------------------------------------


def _open_unchecked(
    data: bytes, *, me: Identity, contacts: Mapping[str, PartyCard], file: str
) -> OpenedMessage:
    """Verify and decrypt a message whose payload failed its allow-list.

    ``open_message`` rightly refuses such a payload, but the auditor must still
    read it to say *what* leaked (a PII column is a pii-scan failure too).
    Signature, recipient, kind, exchange and payload hash are still verified.
    """
    manifest = read_manifest(data, file=file)
    return open_message(
        data,
        me=me,
        contacts=contacts,
        expected_kind=manifest.kind,
        expected_exchange=manifest.exchange_id,
        file=file,
        check_allow_list=False,
    )


def _load(root: Path) -> Exchange:
    homes = {r: Home(root / r) for r in ("campaign", "matcher", "provider")}
    ex = Exchange(root, homes, [], [])
    for role, home in homes.items():
        if not home.inbox.is_dir():
            ex.errors.append(f"{role}: no inbox")
            continue
        me = home.identity()
        contacts = home.trusted()
        for path in sorted(home.inbox.glob("*.nwl")):
            try:
                data = read_message_bytes(path)
                manifest = read_manifest(data, file=str(path))
                opened = open_message(
                    data,
                    me=me,
                    contacts=contacts,
                    expected_kind=manifest.kind,
                    expected_exchange=manifest.exchange_id,
                    file=str(path),
                )
            except MessageError as err:
                if err.column is None:
                    ex.errors.append(str(err))
                    continue
                # Only the allow-list names a column: everything before it verified.
                ex.allow_list_errors.append(str(err))
                try:
                    opened = _open_unchecked(data, me=me, contacts=contacts, file=str(path))
                except (NarwhalError, InvalidTag, pa.ArrowException) as inner:
                    ex.errors.append(f"{path.name}: cannot be read ({type(inner).__name__})")
                    continue
            except NarwhalError as err:
                ex.errors.append(str(err))
                continue
            ex.messages.append((path, role, opened))
    return ex


def _messages(ex: Exchange, kind: str) -> list[tuple[Path, OpenedMessage]]:
    return [(p, o) for p, _, o in ex.messages if o.manifest.kind == kind]


# --- envelope checks ---------------------------------------------------------------


def check_signatures(ex: Exchange) -> CheckResult:
    """Every inbox message verifies and decrypts for its holder."""
    ok = not ex.errors and len(ex.messages) > 0
    detail = f"{len(ex.messages)} messages verified and decrypted"
    if ex.errors:
        detail = f"{len(ex.errors)} rejected: {ex.errors[0]}"
    return CheckResult("signatures", ok, detail)


def check_recipients(ex: Exchange) -> CheckResult:
    """Every message went from the right role to the right role (DESIGN §3)."""
    bad: list[str] = []
    for path, holder, opened in ex.messages:
        kind = opened.manifest.kind
        sender_role, recipient_role = ROUTES.get(kind, ("?", "?"))
        own = ex.homes[holder].card()
        if holder != recipient_role or opened.manifest.recipient != own.fingerprint:
            bad.append(f"{path.name} held by {holder}")
        if opened.sender.role != sender_role:
            bad.append(f"{path.name} sent by a {opened.sender.role}")
    return CheckResult(
        "recipients", not bad, "every message routed as DESIGN §3" if not bad else "; ".join(bad)
    )


def check_allow_lists(ex: Exchange) -> CheckResult:
    """Every payload column is on its kind's allow-list."""
    bad = list(ex.allow_list_errors)
    for path, _, opened in ex.messages:
        try:
            validate_payload(opened.manifest.kind, opened.table, file=str(path))
        except NarwhalError as err:
            if str(err) not in bad:
                bad.append(str(err))
    columns = sum(m[2].table.num_columns for m in ex.messages)
    return CheckResult(
        "allow-lists",
        not bad,
        f"{columns} columns within allow-lists"
        if not bad
        else f"{len(bad)} violation(s): {bad[0]}",
    )


# --- PII scan ----------------------------------------------------------------------


def _pii_values(world: Path, public: set[str]) -> tuple[set[str], set[bytes]]:
    """Lower-cased PII strings, and unkeyed digests of them (SHA-256, MD5, SHA-1)."""
    strings: set[str] = set()
    for name, cols in PII_COLUMNS.items():
        path = world / ("campaign" if name == "voters" else "provider") / f"{name}.parquet"
        table = pq.read_table(path, columns=list(cols))
        for col in cols:
            for v in pc.unique(table[col]).to_pylist():
                if isinstance(v, str) and len(v.strip()) >= 3:
                    strings.add(v.strip().lower())
        if "phone" in cols:
            for v in pc.unique(table["phone"]).to_pylist():
                if isinstance(v, str):
                    digits = "".join(ch for ch in v if ch.isdigit())
                    if len(digits) >= 10:
                        strings.add(digits[-10:])
    strings -= public
    digests: set[bytes] = set()
    for s in strings:
        raw = s.encode()
        digests.add(hashlib.sha256(raw).digest())
        digests.add(hashlib.md5(raw, usedforsecurity=False).digest())
        digests.add(hashlib.sha1(raw, usedforsecurity=False).digest())
    return strings, digests


def _cells(table: pa.Table) -> Iterable[tuple[str, object]]:
    for col in table.column_names:
        arr = table[col]
        if pa.types.is_list(arr.type):
            arr = pc.list_flatten(arr)
        for v in pc.unique(arr).to_pylist():
            if v is not None:
                yield col, v


_PHONE_CHARS = frozenset("0123456789 +-().")


def _phone_digits(value: str) -> str | None:
    """The last ten digits of a value written like a phone number, else None.

    Only phone-shaped strings count: a random hex reference that happens to
    end in ten digits matching someone's number is not a leak.
    """
    if not value or not set(value) <= _PHONE_CHARS:
        return None
    digits = "".join(ch for ch in value if ch.isdigit())
    return digits[-10:] if len(digits) >= 10 else None


def check_pii(ex: Exchange, world: Path) -> CheckResult:
    """No raw identifier (or its unkeyed digest) in any outbound payload."""
    public = {c.lower() for c in _public_strings(world)}
    strings, digests = _pii_values(world, public)
    hits: list[str] = []
    scanned = 0
    for path, _, opened in ex.messages:
        for col, v in _cells(opened.table):
            scanned += 1
            if isinstance(v, str):
                low = v.strip().lower()
                if low in strings or _phone_digits(low) in strings:
                    hits.append(f"{path.name} column '{col}'")
            elif isinstance(v, bytes) and (v in digests or v[:32] in digests):
                hits.append(f"{path.name} column '{col}' (unkeyed digest)")
    uniq = sorted(set(hits))
    detail = (
        f"{scanned:,} distinct outbound values scanned against {len(strings):,} PII values "
        "and their unkeyed digests: 0 hits"
        if not uniq
        else f"{len(hits)} PII hit(s): {', '.join(uniq[:5])}"
    )
    return CheckResult("pii-scan", not uniq, detail)


def _public_strings(world: Path) -> set[str]:
    """Values that are public by design (channel codes and names, dayparts)."""
    path = world / "provider" / "channels.csv"
    vals: set[str] = set()
    if path.exists():
        table = read_input_table(path, required=("channel",))
        for col in table.column_names:
            vals.update(str(v) for v in table[col].to_pylist() if v is not None)
    return vals


# --- key separation ----------------------------------------------------------------


def _exchanges(ex: Exchange) -> list[str]:
    return sorted({opened.manifest.exchange_id for _, _, opened in ex.messages})


def _linkage_key(ex: Exchange, exchange_id: str) -> LinkageKey:
    """The real campaign/provider key, derived as the auditor (campaign keys + provider card)."""
    return agree_linkage_key(
        ex.homes["campaign"].identity(), ex.homes["provider"].card(), exchange_id
    )


def _matcher_keys(ex: Exchange, exchange_id: str) -> list[LinkageKey]:
    """Every key the matcher could derive on its own: its agreement with either party."""
    mine = ex.homes["matcher"].identity()
    return [
        derive_linkage_key(
            mine.exchange_key, other.exchange_public, exchange_id, own_public=mine.exchange_public
        )
        for other in (ex.homes["campaign"].card(), ex.homes["provider"].card())
    ]


def check_key_separation(ex: Exchange) -> CheckResult:
    """No linkage key, sub-key or pseudonym secret in the matcher's home, nor derivable by it."""
    c, m, p = ex.homes["campaign"], ex.homes["matcher"], ex.homes["provider"]
    exchanges = _exchanges(ex)
    secrets_: list[bytes] = []
    fingerprints: set[str] = set()
    for x in exchanges:
        key = agree_linkage_key(c.identity(), p.card(), x)
        fingerprints.add(key.fingerprint())
        secrets_.extend(key.subkey(f"match:{r.name}") for r in DEFAULT_RECIPES)
    provider_secret = load_secret(p.keys / "secret.key")
    secrets_.append(provider_secret)
    needles = list(secrets_) + [s.hex().encode() for s in secrets_]
    found: list[str] = []
    for path in sorted(m.root.rglob("*")):
        if path.is_file():
            blob = path.read_bytes()
            if any(n in blob for n in needles):
                found.append(str(path.relative_to(m.root)))
    for x in exchanges:
        for k in _matcher_keys(ex, x):
            if k.fingerprint() in fingerprints:
                found.append("derivable linkage key")
    detail = (
        f"no linkage key, sub-key or pseudonym secret in {sum(1 for _ in m.root.rglob('*'))} "
        "matcher files"
        if not found
        else f"key material found in matcher home: {', '.join(found[:3])}"
    )
    return CheckResult("key-separation", not found, detail)


# --- attack (a): dictionary attack on tokens ---------------------------------------


@dataclass(frozen=True)
class _FixedKey:
    """A guessed key used for every purpose (what a lazy implementation might do)."""

    key: bytes

    def subkey(self, purpose: str) -> bytes:
        return self.key


_SEPARATORS = ("", " ", "|", ",", ";", ":", "_", "-", "\t")
_GUESSED_KEYS = (b"", b"key", b"secret", b"narwhal", b"password", b"salt", b"\x00" * 32)
_RAW_FIELD_SETS: tuple[tuple[str, ...], ...] = (
    ("first_name", "last_name"),
    ("last_name", "first_name"),
    ("first_name",),
    ("last_name",),
    ("address",),
    ("phone",),
    ("email",),
    ("first_name", "last_name", "address", "zip"),
    ("last_name", "address", "zip"),
    ("address", "zip"),
)
_NORM_FIELD_SETS: tuple[tuple[str, ...], ...] = (
    *(r.fields for r in DEFAULT_RECIPES),
    ("given", "surname"),
    ("given_raw", "surname"),
    ("surname", "given"),
    ("given",),
    ("given_raw",),
    ("surname",),
    ("zip5",),
    ("given", "surname", "zip5"),
    ("surname", "zip5"),
)


def _digests(message: bytes) -> Iterable[bytes]:
    yield hashlib.sha256(message).digest()
    yield hashlib.sha3_256(message).digest()
    yield hashlib.blake2b(message, digest_size=32).digest()
    yield hashlib.md5(message, usedforsecurity=False).digest()
    yield hashlib.sha1(message, usedforsecurity=False).digest()


def _joins(values: Sequence[str | None]) -> Iterable[str]:
    if any(v is None for v in values):
        return
    parts = [v for v in values if v is not None]
    for sep in _SEPARATORS:
        joined = sep.join(parts)
        yield joined
        yield joined.lower()
        yield joined.upper()


def unkeyed_dictionary(
    raw: pa.Table,
    normalized: pa.Table,
    *,
    exchange_ids: Sequence[str],
    wrong_keys: Sequence[SubkeySource] = (),
) -> set[bytes]:
    """Every token an attacker without the linkage key can compute from a public voter file.

    Unkeyed hashes (SHA-256, SHA3-256, BLAKE2b-256, MD5, SHA-1) of raw and
    normalised fields joined with common separators in three cases; HMACs
    under guessed keys (constants, the exchange id) of the same strings and of
    the recipes' exact messages; and the real recipes computed under each
    ``wrong_keys`` entry (a :class:`linkage.matchkeys.SubkeySource`, e.g. the
    keys the matcher can agree on its own).

    Args:
        raw: Public voter records (``first_name``, ``last_name``, ...).
        normalized: ``normalize_records(raw)``.
        exchange_ids: Exchange ids (public: they are in every manifest).
        wrong_keys: Key sources that are not the linkage key.

    Returns:
        The set of candidate token bytes.
    """
    guesses: set[bytes] = set()
    keys = [*_GUESSED_KEYS, *(x.encode() for x in exchange_ids)]
    keys += [hashlib.sha256(k).digest() for k in list(keys)]
    raw_rows = raw.select([c for c in raw.column_names if c in _all_raw_fields()]).to_pylist()
    norm_rows = normalized.to_pylist()
    strings: set[str] = set()
    messages: set[bytes] = set()
    for row in raw_rows:
        for fields in _RAW_FIELD_SETS:
            strings.update(_joins([_str_or_none(row.get(f)) for f in fields]))
    for row in norm_rows:
        for fields in _NORM_FIELD_SETS:
            strings.update(_joins([row.get(f) for f in fields]))
        for recipe in DEFAULT_RECIPES:
            encoded = encode_message(recipe, row)
            if encoded is not None:
                messages.add(encoded)
    for text in strings:
        guesses.update(_digests(text.encode("utf-8")))
    # HMAC under guessed keys: the exact recipe messages and the plainest joins.
    plain: set[bytes] = set()
    for row in norm_rows:
        for fields in _NORM_FIELD_SETS:
            values = [row.get(f) for f in fields]
            if all(isinstance(v, str) for v in values):
                plain.add("".join(str(v) for v in values).encode("utf-8"))
                plain.add("|".join(str(v) for v in values).encode("utf-8"))
    for key in keys:
        base = hmac.new(key, digestmod=hashlib.sha256)
        for message in messages | plain:
            mac = base.copy()
            mac.update(message)
            guesses.add(mac.digest())
    sources: list[SubkeySource] = [_FixedKey(hashlib.sha256(k).digest()) for k in keys]
    # A guessable linkage key behind the proper HKDF sub-keys is no better.
    sources += [
        LinkageKey(exchange_id=x, _key=k)
        for x in exchange_ids
        for k in {*(k for k in keys if len(k) == 32), *(hashlib.sha256(k).digest() for k in keys)}
    ]
    for key_source in [*sources, *wrong_keys]:
        tokens = tokenize_records(normalized, key_source)
        for name in tokens.column_names:
            guesses.update(v for v in tokens[name].to_pylist() if v is not None)
    return guesses


def _all_raw_fields() -> set[str]:
    return {f for fields in _RAW_FIELD_SETS for f in fields}


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _binary_values(table: pa.Table) -> dict[str, set[bytes]]:
    found: dict[str, set[bytes]] = {}
    for name in table.column_names:
        col = table[name]
        if pa.types.is_binary(col.type) or pa.types.is_fixed_size_binary(col.type):
            found[name] = {v for v in pc.unique(col).to_pylist() if v is not None}
    return found


def check_dictionary(ex: Exchange, world: Path) -> CheckResult:
    """Attack (a): re-identify tokens with the public voter file, without and with the key."""
    voters = pq.read_table(world / "campaign" / "voters.parquet")
    sample = voters.slice(0, ATTACK_SAMPLE)
    normalized = normalize_records(sample)
    exchanges = _exchanges(ex)
    wrong = [k for x in exchanges for k in _matcher_keys(ex, x)]
    guesses = unkeyed_dictionary(sample, normalized, exchange_ids=exchanges, wrong_keys=wrong)
    tokens = 0
    no_key_hits: Counter[str] = Counter()
    with_key_hits = 0
    for path, _, opened in ex.messages:
        values = _binary_values(opened.table)
        if not values:
            continue
        real = tokenize_records(normalized, _linkage_key(ex, opened.manifest.exchange_id))
        known = {v for n in real.column_names for v in real[n].to_pylist() if v is not None}
        for name, vals in values.items():
            tokens += len(vals)
            hits = len(vals & guesses)
            if hits:
                no_key_hits[f"{path.name} column '{name}'"] += hits
            with_key_hits += len(vals & known)
    if tokens == 0:
        return CheckResult("dictionary", True, "n/a: no tokens in any message")
    summary = (
        f"{tokens:,} tokens vs {len(guesses):,} unkeyed/wrong-key guesses from "
        f"{sample.num_rows:,} public voters: {sum(no_key_hits.values())} hits; "
        f"with the linkage key: {with_key_hits:,} hits"
    )
    if no_key_hits:
        where = ", ".join(sorted(no_key_hits)[:3])
        return CheckResult("dictionary", False, f"{summary} — keyless hits in {where}")
    if with_key_hits == 0:
        return CheckResult("dictionary", False, f"{summary} — the attack could not be validated")
    return CheckResult("dictionary", True, summary)


# --- attack (b): frequency attack on Bloom-filter encodings ------------------------


@dataclass(frozen=True)
class FrequencyAttack:
    """Outcome of aligning frequent encoded patterns with frequent public values.

    Attributes:
        records: Encoded records attacked.
        aligned: Patterns given a guess (the ``top`` most frequent).
        correct: Aligned patterns whose guess was right.
        reidentified: Records whose value the attacker now knows.
    """

    records: int
    aligned: int
    correct: int
    reidentified: int

    @property
    def rate(self) -> float:
        """Share of records re-identified."""
        return self.reidentified / self.records if self.records else 0.0


def frequency_attack(
    patterns: Sequence[bytes | None],
    truth: Sequence[str | None],
    public_values: Iterable[str | None],
    *,
    top: int = CLK_TOP_PATTERNS,
) -> FrequencyAttack:
    """Rank-align the ``top`` most frequent patterns with the most frequent public values.

    The attacker (a curious matcher) sees only ``patterns``; it ranks them by
    frequency, ranks the public file's values the same way, and guesses that
    the i-th most frequent pattern encodes the i-th most frequent value.
    ``truth`` (known to the auditor only) scores the guesses.

    Args:
        patterns: One encoding per record (None = missing).
        truth: The value each record really encodes.
        public_values: The attacker's side knowledge (e.g. the public voter file).
        top: How many patterns to align.

    Returns:
        The attack's outcome.
    """
    counts = Counter(p for p in patterns if p is not None)
    ranked_patterns = sorted(counts, key=lambda p: (-counts[p], p))[:top]
    public = Counter(v for v in public_values if v)
    ranked_values = sorted(public, key=lambda v: (-public[v], v))[:top]
    guess = dict(zip(ranked_patterns, ranked_values, strict=False))
    right_pattern: dict[bytes, bool] = {}
    reidentified = 0
    for p, t in zip(patterns, truth, strict=True):
        if p is None or p not in guess:
            continue
        ok = t is not None and guess[p] == t
        right_pattern[p] = right_pattern.get(p, False) or ok
        reidentified += ok
    return FrequencyAttack(
        records=sum(1 for p in patterns if p is not None),
        aligned=len(guess),
        correct=sum(right_pattern.values()),
        reidentified=reidentified,
    )


def weight_length_correlation(
    patterns: Sequence[bytes | None], values: Sequence[str | None]
) -> float | None:
    """Pearson r between each encoding's Hamming weight and the length of the value it encodes.

    A plain Bloom filter sets more bits for longer names, so the weight alone
    narrows down the name; balanced filters have a constant weight (r is None).

    Returns:
        r, or None when either side is constant or fewer than two pairs exist.
    """
    pairs = [(p, v) for p, v in zip(patterns, values, strict=True) if p is not None and v]
    if len(pairs) < 2:
        return None
    weights = np.array([int.from_bytes(p, "big").bit_count() for p, _ in pairs], dtype=float)
    lengths = np.array([len(v) for _, v in pairs], dtype=float)
    if weights.std() == 0 or lengths.std() == 0:
        return None
    return float(np.corrcoef(weights, lengths)[0, 1])


_CLK_TARGETS: dict[str, tuple[str, ...]] = {
    "clk_name": ("given", "surname"),
    "clk_address": ("house_number", "street", "unit"),
    "clk_street": ("house_number", "street", "unit"),
}
"""What a CLK column encodes when its name is not a single normalised field."""


def _clk_target(column: str, normalized: pa.Table) -> list[str | None]:
    """What a CLK column encodes: its field (``clk_surname``), a known combination, or
    (record-level ``clk``) the full name."""
    field_name = column.removeprefix("clk_")
    if column.startswith("clk_") and field_name in normalized.column_names:
        fields: tuple[str, ...] = (field_name,)
    else:
        fields = _CLK_TARGETS.get(column, ("given", "surname"))
    columns = [normalized[f].to_pylist() for f in fields]
    return [
        " ".join(v for v in values if isinstance(v, str)) or None
        for values in zip(*columns, strict=True)
    ]


def _truth_rows(ex: Exchange, world: Path, opened: OpenedMessage) -> pa.Table | None:
    """The raw records behind each payload row, in payload order (auditor's ground truth)."""
    x = opened.manifest.exchange_id
    if opened.manifest.kind == "campaign-tokens":
        rid_file = ex.homes["campaign"].state(x) / "rids.parquet"
        if not rid_file.exists():
            return None
        rids = pq.read_table(rid_file)
        voters = pq.read_table(world / "campaign" / "voters.parquet")
        by_rid = dict(zip(rids["rid"].to_pylist(), rids["voter_id"].to_pylist(), strict=True))
        row_of = {v: i for i, v in enumerate(voters["voter_id"].to_pylist())}
        index = [row_of.get(by_rid.get(r, ""), -1) for r in opened.table["rid"].to_pylist()]
        source = voters
    elif opened.manifest.kind == "provider-tokens":
        subs = pq.read_table(world / "provider" / "subscribers.parquet")
        secret = load_secret(ex.homes["provider"].keys / "secret.key")
        hids = subs["household_id"].to_pylist()
        row_of = {hp: i for i, hp in enumerate(pseudonymize(secret, x, hids))}
        index = [row_of.get(hp, -1) for hp in opened.table["hp"].to_pylist()]
        source = subs
    else:
        return None
    if any(i < 0 for i in index):
        return None
    return source.take(pa.array(index, pa.int64()))


def check_clk_frequency(ex: Exchange, world: Path) -> CheckResult:
    """Attack (b): frequency alignment of CLK patterns with the public voter file."""
    results: list[tuple[str, FrequencyAttack, float | None]] = []
    public = normalize_records(pq.read_table(world / "campaign" / "voters.parquet"))
    for path, _, opened in ex.messages:
        columns = [c for c in opened.table.column_names if c == "clk" or c.startswith("clk_")]
        if not columns:
            continue
        rows = _truth_rows(ex, world, opened)
        if rows is None:
            return CheckResult("clk-frequency", False, f"{path.name}: no ground truth for rows")
        truth_norm = normalize_records(rows)
        for column in columns:
            patterns = opened.table[column].to_pylist()
            truth = _clk_target(column, truth_norm)
            attack = frequency_attack(patterns, truth, _clk_target(column, public))
            r = weight_length_correlation(patterns, truth)
            results.append((f"{path.name}:{column}", attack, r))
    if not results:
        return CheckResult("clk-frequency", True, "n/a: no CLK columns in any message")
    worst_name, worst, r = max(results, key=lambda item: item[1].rate)
    weight = "constant" if r is None else f"r={r:.2f}"
    detail = (
        f"{len(results)} CLK column(s); top-{CLK_TOP_PATTERNS} frequency alignment re-identifies "
        f"at most {worst.rate:.2%} of records ({worst.reidentified:,} of {worst.records:,}, "
        f"{worst.correct}/{worst.aligned} patterns right, {worst_name}; Hamming weight vs "
        f"length {weight}); limit {MAX_REIDENTIFICATION:.0%}"
    )
    return CheckResult("clk-frequency", worst.rate <= MAX_REIDENTIFICATION, detail)


# --- release checks ----------------------------------------------------------------


def _ledger(ex: Exchange) -> list[dict[str, object]] | None:
    path = ex.homes["provider"].ledger / "releases.jsonl"
    if not path.exists():
        return None
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _k_for(records: Sequence[Mapping[str, object]], exchange_id: str) -> int:
    ks = [r.get("k") for r in records if r.get("exchange") == exchange_id]
    last = ks[-1] if ks else None
    return int(last) if isinstance(last, int) else DEFAULT_K


def _households(world: Path, secret: bytes, exchange_id: str) -> dict[str, str]:
    """hp -> household_id, recomputed from the viewing log's own ids (as the provider does)."""
    viewing = pq.read_table(world / "provider" / "viewing.parquet", columns=["household_id"])
    hids = pc.unique(viewing["household_id"]).to_pylist()
    return dict(zip(pseudonymize(secret, exchange_id, hids), hids, strict=True))


def check_thresholds(ex: Exchange, world: Path) -> CheckResult:
    """No released figure rests on fewer than k households; the match report honours k too."""
    records = _ledger(ex)
    if records is None:
        return CheckResult("thresholds", False, "provider ledger missing")
    bad = 0
    checked = 0
    secret = load_secret(ex.homes["provider"].keys / "secret.key")
    viewing = pq.read_table(world / "provider" / "viewing.parquet")
    for _, opened in _messages(ex, "match-report"):
        t = opened.table.filter(pc.invert(opened.table["suppressed"]))
        k_rep = max([1, *(int(str(r.get("k", 1))) for r in records)])
        checked += t.num_rows
        bad += int(pc.sum(pc.less(t["matched_voters"], k_rep)).as_py() or 0)
    for path, opened in _messages(ex, "viewership"):
        x = opened.manifest.exchange_id
        if not any(r.get("exchange") == x for r in records):
            return CheckResult("thresholds", False, f"{path.name}: no ledger entry")
        k = _k_for(records, x)
        assigned_msg = next(
            (o for _, o in _messages(ex, "assignments") if o.manifest.exchange_id == x), None
        )
        if assigned_msg is None:
            return CheckResult("thresholds", False, "assignments for the release not found")
        back = _households(world, secret, x)
        household = [back.get(h, "unseen:" + h) for h in assigned_msg.table["hp"].to_pylist()]
        assigned = pa.table(
            {
                "household_id": pa.array(household, pa.string()),
                "segment": assigned_msg.table["segment"],
            }
        )
        channels = sorted(set(opened.table["channel"].to_pylist()))
        with DuckDBEngine() as engine:
            if any(":" in str(seg) for seg in pc.unique(opened.table["segment"]).to_pylist()):
                # The provider also released viewing-intensity tiers: rebuild them the same way.
                assigned = cross_with_intensity(
                    assigned, household_intensity(viewing, engine=engine)
                )
            truth = compute_viewership(assigned, viewing, channels=channels, engine=engine)
            unverified = engine.query(
                """
                SELECT COUNT(*) AS n FROM r
                WHERE NOT r.suppressed AND NOT EXISTS (
                    SELECT 1 FROM t
                    WHERE r.grain = t.grain AND r.segment = t.segment AND r.channel = t.channel
                      AND r.day_type = t.day_type AND r.daypart IS NOT DISTINCT FROM t.daypart
                      AND r.quarter_hour IS NOT DISTINCT FROM t.quarter_hour)
                """,
                {"r": opened.table, "t": truth},
            ).to_pylist()[0]["n"]
            bad += int(unverified or 0)
            res = engine.query(
                f"""
                SELECT COUNT(*) AS released,
                       SUM(CASE WHEN t.contributors < {int(k)} THEN 1 ELSE 0 END) AS under_k
                FROM r JOIN t
                  ON r.grain = t.grain AND r.segment = t.segment AND r.channel = t.channel
                 AND r.day_type = t.day_type AND r.daypart IS NOT DISTINCT FROM t.daypart
                 AND r.quarter_hour IS NOT DISTINCT FROM t.quarter_hour
                WHERE NOT r.suppressed
                """,
                {"r": opened.table, "t": truth},
            ).to_pylist()[0]
        checked += int(res["released"] or 0)
        bad += int(res["under_k"] or 0)
    return CheckResult(
        "thresholds",
        bad == 0 and checked > 0,
        f"{checked:,} released figures, {bad} below k" if checked else "nothing released",
    )


def segment_differences(segments: Mapping[str, set[str]], k: int) -> list[tuple[str, str, int]]:
    """Pairs of segments whose household sets differ by 1 to ``k - 1`` households.

    Args:
        segments: Segment label -> set of household ids.
        k: Minimum difference.

    Returns:
        ``(a, b, |A △ B|)`` for every offending pair, sorted.
    """
    names = sorted(segments)
    bad: list[tuple[str, str, int]] = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            diff = len(segments[a] ^ segments[b])
            if 0 < diff < k:
                bad.append((a, b, diff))
    return bad


def check_differencing(ex: Exchange, world: Path) -> CheckResult:
    """Attack (c): no two released segments (any exchange here) differ by < k households."""
    records = _ledger(ex)
    if records is None:
        return CheckResult("differencing", False, "provider ledger missing")
    secret = load_secret(ex.homes["provider"].keys / "secret.key")
    released = {o.manifest.exchange_id for _, o in _messages(ex, "viewership")}
    segments: dict[str, set[str]] = {}
    k = DEFAULT_K
    for _, opened in _messages(ex, "assignments"):
        x = opened.manifest.exchange_id
        if x not in released:
            continue
        k = min(k, _k_for(records, x)) if segments else _k_for(records, x)
        back = _households(world, secret, x)
        everyone: set[str] = set()
        for hp, code in zip(
            opened.table["hp"].to_pylist(), opened.table["segment"].to_pylist(), strict=True
        ):
            household = back.get(hp, "unseen:" + hp)
            segments.setdefault(f"{x}/{code}", set()).add(household)
            everyone.add(household)
        segments[f"{x}/*"] = everyone
    if not segments:
        return CheckResult("differencing", True, "n/a: nothing released")
    bad = segment_differences(segments, k)
    pairs = len(segments) * (len(segments) - 1) // 2
    if bad:
        a, b, diff = bad[0]
        return CheckResult(
            "differencing",
            False,
            f"{len(bad)} of {pairs} segment pairs differ by fewer than k={k} households "
            f"(first: {a} vs {b}, {diff})",
        )
    smallest = min(
        (len(segments[a] ^ segments[b]) for a in segments for b in segments if a < b),
        default=0,
    )
    return CheckResult(
        "differencing",
        True,
        f"{len(segments)} released segments, {pairs} pairs, smallest non-zero difference "
        f"{smallest:,} households (k={k}); ledger has {len(records)} release(s)",
    )


CHECKS: tuple[tuple[str, Callable[[Exchange, Path], CheckResult]], ...] = (
    ("signatures", lambda ex, w: check_signatures(ex)),
    ("recipients", lambda ex, w: check_recipients(ex)),
    ("allow-lists", lambda ex, w: check_allow_lists(ex)),
    ("pii-scan", check_pii),
    ("key-separation", lambda ex, w: check_key_separation(ex)),
    ("dictionary", check_dictionary),
    ("clk-frequency", check_clk_frequency),
    ("thresholds", check_thresholds),
    ("differencing", check_differencing),
)


def audit(root: Path, world: Path | None = None) -> list[CheckResult]:
    """Run every check on a demo directory and return the results (no printing).

    Raises:
        NarwhalError: The directory cannot be loaded at all (no homes, bad keys).
    """
    world = world or root / "world"
    ex = _load(root)
    results: list[CheckResult] = []
    for name, check in CHECKS:
        try:
            result = check(ex, world)
        except NarwhalError as err:
            result = CheckResult(name, False, str(err))
        except (OSError, pa.ArrowException) as err:
            result = CheckResult(name, False, f"cannot read an input ({type(err).__name__})")
        results.append(result)
    return results


def run_audit(root: Path, world: Path | None = None) -> int:
    """Run every check; print one line each; return the exit code (0 all pass, 1 any fail)."""
    try:
        results = audit(root, world)
    except NarwhalError as err:
        out.print(f"FAIL load: {escape(str(err))}", soft_wrap=True, highlight=False)
        return 1
    for result in results:
        mark = "[green]PASS[/green]" if result.passed else "[red]FAIL[/red]"
        line = f"{mark} {result.name:<15} {escape(result.detail)}"
        out.print(line, soft_wrap=True, highlight=False)
    failed = sum(not r.passed for r in results)
    out.print(f"{len(results) - failed}/{len(results)} checks passed", soft_wrap=True)
    return 1 if failed else 0


__all__ = [
    "CheckResult",
    "FrequencyAttack",
    "audit",
    "frequency_attack",
    "run_audit",
    "segment_differences",
    "unkeyed_dictionary",
    "weight_length_correlation",
]
