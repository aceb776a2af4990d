"""What the provider's two sides learn together: subscriber households labelled with segments.

The provider's measurement side joins the matcher's links with the
campaign's ``segments`` message (:func:`linkage.release.assemble_assignments`),
so it knows exactly which of its households are in which *coded* segment.
Codes are random, but its operator side holds every subscriber's name and
address, and the voter file is public. Colluding, the two sides:

1. join their subscribers to the public voter file on normalised name and
   address (the project's own normalisers; the first of several keys, from
   full name + address with unit down to surname + address without it, that
   names exactly one address), and take every voter at that address as the
   household's;
2. profile each code: for every public attribute of the voter file (party,
   ethnicity, gender, birth decade, city) the share of the code's member
   households holding a value, against the share of all list households.
   The value with the largest lift is the code's meaning. For a segment whose
   rule reads the campaign's private scores, no public column *is* the
   meaning; the best one is a proxy, and its lift says how sharp;
3. label every subscriber household in a decoded code's member set with that
   meaning.

:func:`decode_segments` is the attacker (no truth); :func:`provider_knowledge`
scores it with what only the auditor knows: which segment each code is (the
campaign's private code map) and true membership (the world's
voter -> household map and segment rules, as
:func:`linkage.synth.true_assignments_of` computes it).
:func:`audit_provider_knowledge` runs both on an exchange. It is
informational: it measures a leak the protocol has by design
(docs/THREAT_MODEL.md §2.8), so it never fails; it is SKIP without its inputs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from linkage.audit.exchange import CheckResult, Exchange, messages_of_kind, provider_secret
from linkage.encode import column_kinds, evaluate, load_segments, normalize_records
from linkage.protocol import OpenedMessage, households_of
from linkage.release import assemble_assignments
from linkage.synth import true_assignments_of
from linkage.tables import ALL_HOUSEHOLDS

__all__ = [
    "DEFINITION_JACCARD",
    "JOIN_KEYS",
    "MIN_LIFT",
    "MIN_SUPPORT",
    "PUBLIC_ATTRIBUTES",
    "CodeMeaning",
    "ProviderKnowledge",
    "SegmentDecoding",
    "audit_provider_knowledge",
    "decode_segments",
    "provider_knowledge",
    "provider_knowledge_of",
]

PUBLIC_ATTRIBUTES = ("party", "ethnicity", "gender", "birth_decade", "city")
"""The voter file's public attributes a code is profiled on (those the file has).

``birth_decade`` is derived from ``birth_date``; ``city`` is normalised. The
scores (``*_score``) are the campaign's own models, not public.
"""

JOIN_KEYS: tuple[tuple[str, ...], ...] = (
    ("given", "surname", "house_number", "street", "unit", "zip5"),
    ("given", "surname", "house_number", "street", "zip5"),
    ("surname", "house_number", "street", "unit", "zip5"),
    ("surname", "house_number", "street", "zip5"),
)
"""Normalised name + address keys, tried in order; a key must name exactly one address."""

MIN_SUPPORT = 0.25
"""Smallest share of a code's profiled members that must hold a value for it to be its meaning."""

MIN_LIFT = 1.25
"""A code whose best lift is below this is not decoded (its members look like the list)."""

DEFINITION_JACCARD = 0.9
"""Voter-level Jaccard above which a decoded value *is* the segment's rule, not a proxy."""

_SEP = "\x1f"
_HELD = pa.schema(
    [("household_id", pa.string()), ("attribute", pa.string()), ("value", pa.string())]
)
_BoolArray = npt.NDArray[np.bool_]


# --- the attack (no truth) -----------------------------------------------------------


@dataclass(frozen=True)
class SegmentDecoding:
    """What the colluding provider makes of one code.

    Attributes:
        code: The segment code (random per exchange).
        households: Subscriber households in the code.
        profiled: Those found in the public voter file.
        attribute: The public attribute of the best value (None: no value
            reaches :data:`MIN_SUPPORT`).
        value: The best value.
        support: Share of the profiled members holding it.
        base: Share of all profiled list households holding it.
    """

    code: str
    households: int
    profiled: int
    attribute: str | None
    value: str | None
    support: float
    base: float

    @property
    def lift(self) -> float:
        """How much more often members hold the value than list households (0 without one)."""
        return self.support / self.base if self.base else 0.0

    @property
    def decoded(self) -> bool:
        """Whether the code's members stand out enough to name it (lift >= :data:`MIN_LIFT`)."""
        return self.attribute is not None and self.lift >= MIN_LIFT


def _key(norm: pa.Table, fields: Sequence[str]) -> pa.Array:
    """The fields joined with a separator; null when any field is."""
    parts = [pc.fill_null(norm[f], "") if f == "unit" else norm[f] for f in fields]
    return pc.binary_join_element_wise(*parts, _SEP)


def _address(norm: pa.Table) -> pa.Array:
    return _key(norm, ("house_number", "street", "unit", "zip5"))


def _join_public(subscribers: pa.Table, voters: pa.Table) -> pa.Table:
    """``household_id, voter_row``: every public voter at each subscriber's matched address."""
    public = normalize_records(voters)
    operator = normalize_records(subscribers)
    address = _address(public)
    matched = pa.nulls(subscribers.num_rows, pa.string())
    for fields in JOIN_KEYS:
        pairs = pa.table({"key": _key(public, fields), "address": address}).filter(
            pc.is_valid(pc.field("key")) & pc.is_valid(pc.field("address"))
        )
        distinct = pairs.group_by("key").aggregate(
            [("address", "count_distinct"), ("address", "min")]
        )
        unique = distinct.filter(pc.equal(distinct["address_count_distinct"], 1))
        at = pc.index_in(_key(operator, fields), value_set=unique["key"])
        found = unique["address_min"].combine_chunks().take(at)
        matched = pc.coalesce(matched, found)
    homes = pa.table({"household_id": subscribers["household_id"], "address": matched}).filter(
        pc.is_valid(pc.field("address"))
    )
    residents = pa.table(
        {"address": address, "voter_row": pa.array(np.arange(voters.num_rows), pa.int64())}
    )
    joined = homes.join(residents, keys="address", join_type="inner")
    return joined.select(["household_id", "voter_row"])


def _public_values(voters: pa.Table) -> dict[str, pa.Array]:
    """Attribute -> each voter's public value as text (only attributes the file has)."""
    values: dict[str, pa.Array] = {}
    names = set(voters.column_names)
    for attribute in PUBLIC_ATTRIBUTES:
        if attribute == "birth_decade" and "birth_date" in names:
            year = pc.year(voters["birth_date"])
            decade = pc.multiply(pc.divide(year, 10), 10)
            values[attribute] = pc.binary_join_element_wise(
                pc.cast(decade, pa.string()), pa.scalar("s"), ""
            ).combine_chunks()
        elif attribute == "city" and "city" in names:
            values[attribute] = normalize_records(voters.select(["city"]))["city"].combine_chunks()
        elif attribute in names:
            values[attribute] = pc.cast(voters[attribute], pa.string()).combine_chunks()
    return values


def _holdings(joined: pa.Table, values: Mapping[str, pa.Array]) -> pa.Table:
    """``household_id, attribute, value``: each value any of a household's voters holds."""
    rows = joined["voter_row"].combine_chunks()
    parts: list[pa.Table] = []
    for attribute, column in values.items():
        part = pa.table(
            {
                "household_id": joined["household_id"],
                "attribute": pa.array([attribute] * joined.num_rows, pa.string()),
                "value": column.take(rows),
            }
        )
        parts.append(part.filter(pc.is_valid(pc.field("value"))))
    held = pa.concat_tables(parts) if parts else _HELD.empty_table()
    return held.group_by(["household_id", "attribute", "value"]).aggregate([])


def decode_segments(
    subscribers: pa.Table, voters: pa.Table, memberships: pa.Table
) -> tuple[frozenset[str], list[SegmentDecoding]]:
    """The colluding provider's attack: decode each code from its members' public attributes.

    Args:
        subscribers: The operator's subscriber file (``household_id``, names, address).
        voters: The public voter file.
        memberships: ``household_id, segment`` as the measurement side holds
            them (codes and ``*``, :func:`linkage.release.assemble_assignments`).

    Returns:
        The subscriber households found in the public file, and one decoding
        per code, sorted by code.
    """
    joined = _join_public(subscribers, voters)
    held = _holdings(joined, _public_values(voters))
    profiled = pa.table({"household_id": pc.unique(joined["household_id"])})
    members = memberships.join(profiled, keys="household_id", join_type="inner")
    per_code = {
        str(row["segment"]): int(row["household_id_count"])
        for row in members.group_by("segment").aggregate([("household_id", "count")]).to_pylist()
    }
    sizes = {
        str(row["segment"]): int(row["household_id_count"])
        for row in memberships.group_by("segment")
        .aggregate([("household_id", "count")])
        .to_pylist()
    }
    counted = members.join(held, keys="household_id", join_type="inner")
    counts = counted.group_by(["segment", "attribute", "value"]).aggregate(
        [("household_id", "count")]
    )
    shares: dict[str, dict[tuple[str, str], float]] = {}
    for row in counts.to_pylist():
        code = str(row["segment"])
        share = int(row["household_id_count"]) / per_code[code]
        shares.setdefault(code, {})[(str(row["attribute"]), str(row["value"]))] = share
    base = shares.get(ALL_HOUSEHOLDS, {})
    decodings: list[SegmentDecoding] = []
    for code in sorted(c for c in sizes if c != ALL_HOUSEHOLDS):
        candidates = [
            (support / base[item], support, item)
            for item, support in shares.get(code, {}).items()
            if support >= MIN_SUPPORT and base.get(item)
        ]
        best = max(candidates, default=None)
        decodings.append(
            SegmentDecoding(
                code=code,
                households=sizes[code],
                profiled=per_code.get(code, 0),
                attribute=best[2][0] if best else None,
                value=best[2][1] if best else None,
                support=best[1] if best else 0.0,
                base=base[best[2]] if best else 0.0,
            )
        )
    return frozenset(profiled["household_id"].to_pylist()), decodings


# --- the score (auditor's truth) -----------------------------------------------------


@dataclass(frozen=True)
class CodeMeaning:
    """One code's decoding, scored.

    Attributes:
        segment: The segment's real name (the campaign's code map).
        decoding: What the attacker made of the code.
        definition: Whether the decoded value is the segment's rule (voter-level
            Jaccard >= :data:`DEFINITION_JACCARD`) rather than a proxy for it.
        labelled: Subscriber households labelled with this code's meaning.
        correct: Those truly in the segment.
    """

    segment: str
    decoding: SegmentDecoding
    definition: bool
    labelled: int
    correct: int

    def describe(self) -> str:
        """``name = attribute value (lift, definition|proxy, households, precision)``."""
        d = self.decoding
        if d.attribute is None:
            return f"{self.segment}: no public value held by {MIN_SUPPORT:.0%} of members"
        sign = "=" if self.definition else "~"
        how = "definition" if self.definition else "proxy"
        labelled = (
            f"{self.labelled:,} labelled at {self.correct / self.labelled:.1%}"
            if d.decoded and self.labelled
            else "not decoded"
        )
        return (
            f"{self.segment} {sign} {d.attribute} {d.value} (lift {d.lift:.1f}, {how}, {labelled})"
        )


@dataclass(frozen=True)
class ProviderKnowledge:
    """What the provider's operator and measurement sides learn together, scored.

    Attributes:
        subscribers: Subscriber households (the operator's file).
        on_list: Of them, households with a linked record (``*``).
        profiled: List households found in the public voter file.
        labelled: Subscriber households labelled with at least one segment meaning.
        labelled_unprofiled: Of them, households the public file did not give.
        beyond_public: Of them, households with a label the public file alone
            would not give: a proxy-decoded segment (the campaign's private
            scores), or any label on a household not in the file.
        labels: (household, segment) labels.
        correct: Labels true against the world's segment membership.
        codes: Per code, its decoding and score.
    """

    subscribers: int
    on_list: int
    profiled: int
    labelled: int
    labelled_unprofiled: int
    beyond_public: int
    labels: int
    correct: int
    codes: tuple[CodeMeaning, ...]

    @property
    def on_list_share(self) -> float:
        """Share of subscriber households on the campaign's list."""
        return self.on_list / self.subscribers if self.subscribers else 0.0

    @property
    def labelled_share(self) -> float:
        """Share of subscriber households labelled with at least one segment meaning."""
        return self.labelled / self.subscribers if self.subscribers else 0.0

    @property
    def precision(self) -> float:
        """Share of labels that are true (1.0 when there is none)."""
        return self.correct / self.labels if self.labels else 1.0

    def describe(self) -> str:
        """The audit line's figure."""
        return (
            f"{self.on_list:,} of {self.subscribers:,} subscriber households on the list "
            f"({self.on_list_share:.1%}), {self.profiled:,} found in the public voter file; "
            f"{self.labelled:,} ({self.labelled_share:.1%}) labelled with >= 1 segment meaning "
            f"at {self.precision:.1%} precision ({self.labels:,} labels; "
            f"{self.labelled_unprofiled:,} households not in the public file, "
            f"{self.beyond_public:,} with a label the public file does not give); "
            + "; ".join(c.describe() for c in self.codes)
        )


def _value_mask(public: Mapping[str, pa.Array], attribute: str, value: str) -> _BoolArray:
    column = public[attribute]
    return np.asarray(pc.fill_null(pc.equal(column, value), False).to_numpy(zero_copy_only=False))


def _jaccard(a: _BoolArray, b: _BoolArray) -> float:
    union = int((a | b).sum())
    return int((a & b).sum()) / union if union else 0.0


def provider_knowledge(
    subscribers: pa.Table,
    voters: pa.Table,
    memberships: pa.Table,
    *,
    names: Mapping[str, str],
    voter_household: pa.Table,
    segments_toml: str,
) -> ProviderKnowledge:
    """Run :func:`decode_segments` and score its labels against the truth.

    Args:
        subscribers: The operator's subscriber file.
        voters: The public voter file (here also the campaign's, for the truth).
        memberships: ``household_id, segment`` (codes and ``*``) the measurement side holds.
        names: Code -> segment name (the campaign's private map).
        voter_household: The world's true ``voter_id, household_id`` map.
        segments_toml: The campaign's segment rules.
    """
    found, decodings = decode_segments(subscribers, voters, memberships)
    truth = true_assignments_of(voters, voter_household, segments_toml)
    true_pairs = set(
        zip(truth["household_id"].to_pylist(), truth["segment"].to_pylist(), strict=True)
    )
    rules = load_segments(segments_toml, columns=column_kinds(voters.schema), file="segments.toml")
    masks = evaluate(rules, voters)
    public = _public_values(voters)
    subscriber_ids = set(subscribers["household_id"].to_pylist())
    by_code: dict[str, list[str]] = {}
    for h, c in zip(
        memberships["household_id"].to_pylist(), memberships["segment"].to_pylist(), strict=True
    ):
        if h in subscriber_ids:
            by_code.setdefault(c, []).append(h)
    labelled: set[str] = set()
    by_proxy: set[str] = set()
    labels = correct = 0
    codes: list[CodeMeaning] = []
    for d in decodings:
        name = names.get(d.code, d.code)
        definition = bool(
            d.attribute is not None
            and d.value is not None
            and name in masks
            and _jaccard(_value_mask(public, d.attribute, d.value), np.asarray(masks[name]))
            >= DEFINITION_JACCARD
        )
        members = by_code.get(d.code, []) if d.decoded else []
        right = sum((h, name) in true_pairs for h in members)
        labelled.update(members)
        if not definition:
            by_proxy.update(members)
        labels += len(members)
        correct += right
        codes.append(CodeMeaning(name, d, definition, len(members), right))
    on_list = set(by_code.get(ALL_HOUSEHOLDS, []))
    return ProviderKnowledge(
        subscribers=len(subscriber_ids),
        on_list=len(on_list),
        profiled=len(on_list & found),
        labelled=len(labelled),
        labelled_unprofiled=len(labelled - found),
        beyond_public=len(by_proxy | (labelled - found)),
        labels=labels,
        correct=correct,
        codes=tuple(sorted(codes, key=lambda c: c.segment)),
    )


# --- the audit check -----------------------------------------------------------------


def _code_names(path: Path) -> dict[str, str] | None:
    """Code -> segment name from the campaign's private state; None when it has none."""
    if not path.exists():
        return None
    try:
        codes = json.loads(path.read_text()).get("codes")
    except (ValueError, AttributeError):
        return None
    if not isinstance(codes, dict):
        return None
    return {str(code): str(name) for name, code in codes.items()}


_WORLD_FILES = {
    "subscribers": ("provider", "subscribers.parquet"),
    "voters": ("campaign", "voters.parquet"),
    "truth": ("truth", "voter_household.parquet"),
    "rules": ("campaign", "segments.toml"),
}
"""The world's files the measure reads: the attacker's two files and the auditor's truth."""


def _exchanges(ex: Exchange) -> list[str]:
    """Exchanges whose links and segment codes both reached the provider."""
    links = {o.manifest.exchange_id for _, o in messages_of_kind(ex, "assignments")}
    codes = {o.manifest.exchange_id for _, o in messages_of_kind(ex, "segments")}
    return sorted(links & codes)


def _latest(ex: Exchange, kind: str, exchange_id: str) -> OpenedMessage:
    return [o for _, o in messages_of_kind(ex, kind) if o.manifest.exchange_id == exchange_id][-1]


def provider_knowledge_of(ex: Exchange, world: Path) -> dict[str, ProviderKnowledge]:
    """:func:`provider_knowledge` of every exchange the auditor can score.

    An exchange needs the provider's links and segment codes, the campaign's
    code map and the world's files; one without them is left out.

    Args:
        ex: The loaded exchange.
        world: The synthetic world's directory.

    Returns:
        Exchange id -> what the provider's two sides learn ({} when none can be scored).
    """
    paths = {label: world.joinpath(*parts) for label, parts in _WORLD_FILES.items()}
    exchanges = _exchanges(ex)
    if not exchanges or not all(path.exists() for path in paths.values()):
        return {}
    subscribers = pq.read_table(paths["subscribers"])
    voters = pq.read_table(paths["voters"])
    truth = pq.read_table(paths["truth"])
    rules = paths["rules"].read_text()
    subscriber_ids = subscribers["household_id"].to_pylist()
    secret = provider_secret(ex)
    found: dict[str, ProviderKnowledge] = {}
    for x in exchanges:
        names = _code_names(ex.homes["campaign"].segment_codes_path(x))
        if names is None:
            continue
        links = _latest(ex, "assignments", x)
        households = households_of(secret, x, links.table["hp"].to_pylist(), subscriber_ids)
        memberships = assemble_assignments(
            links.table, _latest(ex, "segments", x).table, households
        )
        found[x] = provider_knowledge(
            subscribers,
            voters,
            memberships,
            names=names,
            voter_household=truth,
            segments_toml=rules,
        )
    return found


def audit_provider_knowledge(ex: Exchange, world: Path) -> CheckResult:
    """Informational: subscriber households the provider's two sides can label, and how well.

    Never FAIL: the leak is the protocol's, by design (docs/THREAT_MODEL.md
    §2.8). SKIP without the provider's links and segment codes, the world's
    files or the campaign's code map.
    """
    name = "provider-knowledge"
    if not _exchanges(ex):
        return CheckResult(
            name, True, "skipped: no links and segment codes at the provider", skipped=True
        )
    missing = [
        label for label, parts in _WORLD_FILES.items() if not world.joinpath(*parts).exists()
    ]
    if missing:
        return CheckResult(name, True, f"skipped: world has no {', '.join(missing)}", skipped=True)
    found = provider_knowledge_of(ex, world)
    if not found:
        return CheckResult(name, True, "skipped: no campaign code map", skipped=True)
    several = len(found) > 1
    lines = [f"{x}: {k.describe()}" if several else k.describe() for x, k in found.items()]
    return CheckResult(name, True, f"informational: {'; '.join(lines)}")
