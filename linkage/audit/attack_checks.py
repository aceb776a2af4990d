"""The attacks run on the exchange itself: the dictionary attack and the CLK frequency attack.

Each check plays the adversary with the functions of :mod:`linkage.audit.attacks`
on the payloads the exchange really carried, with the world's public voter
file as the attacker's side knowledge, and scores the result with what only
the auditor knows (the real linkage key; which record is behind each row).
The thresholds that turn an attack's figure into PASS or FAIL are here.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from linkage.audit.attacks import (
    CLK_TOP_PATTERNS,
    FrequencyAttack,
    frequency_attack,
    unkeyed_dictionary,
    weight_length_correlation,
)
from linkage.audit.exchange import (
    CheckResult,
    Exchange,
    exchange_ids,
    linkage_key,
    matcher_keys,
    provider_secret,
)
from linkage.audit.matcher_attacks import (
    NOT_PUBLIC,
    NOT_REAL,
    AttackResult,
    count_signature_attack,
    graph_matching_attack,
    pattern_mining_attack,
)
from linkage.encode import normalize_records, shipped_schema, tokenize_records
from linkage.protocol import OpenedMessage, pseudonymize

ATTACK_SAMPLE = 2000
"""Voters of the public file the dictionary attack hashes (every variant of each)."""

MAX_REIDENTIFICATION = 0.01
"""Largest share of records the CLK frequency attack may re-identify before the check fails."""

MATCHER_ATTACK_GATE = True
"""Run the matcher's keyless attacks (count signatures, pattern mining, graph matching)."""


def _binary_values(table: pa.Table) -> dict[str, set[bytes]]:
    """Distinct values of each binary column: the tokens a payload carries."""
    found: dict[str, set[bytes]] = {}
    for name in table.column_names:
        col = table[name]
        if pa.types.is_binary(col.type) or pa.types.is_fixed_size_binary(col.type):
            found[name] = {v for v in pc.unique(col).to_pylist() if v is not None}
    return found


def audit_dictionary(ex: Exchange, world: Path) -> CheckResult:
    """Attack (a): re-identify tokens with the public voter file, without and with the key."""
    voters = pq.read_table(world / "campaign" / "voters.parquet")
    sample = voters.slice(0, ATTACK_SAMPLE)
    normalized = normalize_records(sample)
    exchanges = exchange_ids(ex)
    wrong = [k for x in exchanges for k in matcher_keys(ex, x)]
    guesses = unkeyed_dictionary(sample, normalized, exchange_ids=exchanges, wrong_keys=wrong)
    tokens = 0
    no_key_hits: Counter[str] = Counter()
    with_key_hits = 0
    for path, _, opened in ex.messages:
        values = _binary_values(opened.table)
        if not values:
            continue
        real = tokenize_records(normalized, linkage_key(ex, opened.manifest.exchange_id))
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


_CLK_TARGETS: dict[str, tuple[str, ...]] = {
    "clk_name": ("given", "surname"),
    "clk_address": ("house_number", "street", "unit"),
    "clk_street": ("house_number", "street", "unit"),
}
"""What a CLK column encodes when its name is not a single normalised field."""


def _clk_target(column: str, normalized: pa.Table) -> list[str | None]:
    """The value each record's CLK column encodes, as the attacker would guess it.

    A field's own column (``clk_surname``), a known combination (``clk_name``),
    or, for a record-level ``clk``, the full name.
    """
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
    """The raw records behind each payload row, in payload order (auditor's ground truth).

    A dummy row (a rid or pseudonym its sender never issued for a real
    record) has an all-null record: the attacker sees its pattern, and any
    guess on it is wrong.
    """
    x = opened.manifest.exchange_id
    if opened.manifest.kind == "campaign-tokens":
        rid_file = ex.homes["campaign"].rid_map_path(x)
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
        secret = provider_secret(ex)
        hids = subs["household_id"].to_pylist()
        row_of = {hp: i for i, hp in enumerate(pseudonymize(secret, x, hids))}
        index = [row_of.get(hp, -1) for hp in opened.table["hp"].to_pylist()]
        source = subs
    else:
        return None
    if all(i < 0 for i in index):
        return None
    return source.take(pa.array([i if i >= 0 else None for i in index], pa.int64()))


def audit_clk_frequency(ex: Exchange, world: Path) -> CheckResult:
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


def _campaign_truth(ex: Exchange, opened: OpenedMessage, voters: pa.Table) -> list[int]:
    """Each campaign-token row's voter-file row (auditor's truth from the campaign's rid map).

    A rid the map does not hold is no voter (a dummy); a voter missing from the
    public file cannot be re-identified.
    """
    rids = pq.read_table(ex.homes["campaign"].rid_map_path(opened.manifest.exchange_id))
    by_rid = dict(zip(rids["rid"].to_pylist(), rids["voter_id"].to_pylist(), strict=True))
    row_of = {v: i for i, v in enumerate(voters["voter_id"].to_pylist())}
    return [
        NOT_REAL if r not in by_rid else row_of.get(by_rid[r], NOT_PUBLIC)
        for r in opened.table["rid"].to_pylist()
    ]


def _attack_line(result: AttackResult) -> str:
    return (
        f"{result.attack} {result.rate:.1%} at {result.precision:.1%} precision "
        f"({result.gate_rate:.1%} at >= 90%)"
    )


def audit_matcher_attacks(ex: Exchange, world: Path) -> CheckResult:
    """Attack (c): the matcher's keyless attacks on the campaign tokens, with the public file.

    Count signatures, CLK pattern mining and similarity-graph matching each
    play the matcher holding its inbox, the public schema and the world's voter
    file; the check fails when any of them re-identifies more than
    :data:`MAX_REIDENTIFICATION` of the records at 90% precision or better.
    """
    voters = pq.read_table(world / "campaign" / "voters.parquet")
    schema = shipped_schema()
    lines: list[str] = []
    worst = 0.0
    for path, _, opened in ex.messages:
        if opened.manifest.kind != "campaign-tokens":
            continue
        if not ex.homes["campaign"].rid_map_path(opened.manifest.exchange_id).exists():
            return CheckResult("matcher-attacks", False, f"{path.name}: no ground truth for rows")
        truth = _campaign_truth(ex, opened, voters)
        for attack in (count_signature_attack, pattern_mining_attack, graph_matching_attack):
            result = attack(opened.table, voters, schema, truth)
            worst = max(worst, result.gate_rate)
            lines.append(_attack_line(result))
    if not lines:
        return CheckResult("matcher-attacks", True, "n/a: no campaign tokens in any message")
    detail = f"{'; '.join(lines)}; limit {MAX_REIDENTIFICATION:.0%} at 90% precision"
    return CheckResult("matcher-attacks", worst <= MAX_REIDENTIFICATION, detail)
