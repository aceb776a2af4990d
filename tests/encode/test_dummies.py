"""Dummy records (linkage.encode.dummies): shape, copies, no displacement, and what they hide."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from linkage.audit import MAX_REIDENTIFICATION, count_signature_attack
from linkage.audit.matcher_attacks import NOT_REAL, surname_outliers
from linkage.encode import encode_side, shipped_schema
from linkage.encode.dummies import (
    MAX_DUMMY_RATE,
    dummy_count,
    dummy_records,
    dummy_rows,
    field_groups,
)
from linkage.engine import DuckDBEngine
from linkage.errors import InputError
from linkage.match import MatchSettings, link_records
from linkage.protocol import LinkageKey, random_refs
from linkage.synth import generate_world

SCHEMA = shipped_schema()
HOUSEHOLD = ("address", "city", "state", "zip", "phone", "email")


def _key(seed: bytes = b"dummy test key") -> LinkageKey:
    return LinkageKey(exchange_id="dummy-test", _key=hashlib.sha256(seed).digest())


@pytest.fixture(scope="module")
def world() -> tuple[pa.Table, pa.Table]:
    """A small synthetic world: voters and subscribers."""
    made = generate_world(voters=1500, days=1, seed=5)
    return made.voters, made.subscribers


def _rows(table: pa.Table, columns: tuple[str, ...]) -> set[tuple[object, ...]]:
    return set(zip(*(table[c].to_pylist() for c in columns), strict=True))


def test_rate_is_capped_at_one_dummy_per_row() -> None:
    assert dummy_count(1000, 0.5) == 500
    assert dummy_count(1000, MAX_DUMMY_RATE) == 1000
    assert dummy_count(1000, 0.0) == 0
    with pytest.raises(InputError):
        dummy_count(1000, 1.01)
    with pytest.raises(InputError):
        dummy_count(1000, -0.1)


def test_field_groups_keep_a_campaign_household_together() -> None:
    campaign = field_groups(SCHEMA, "a")
    assert campaign[0] == HOUSEHOLD
    assert ("first_name",) in campaign and ("last_name",) in campaign
    provider = field_groups(SCHEMA, "b")
    assert all(len(g) == 1 for g in provider)
    assert sorted(c for g in provider for c in g) == sorted(SCHEMA.side_columns("b"))


def test_each_group_of_a_dummy_is_a_real_records_group(world: tuple[pa.Table, pa.Table]) -> None:
    voters, _ = world
    fake = dummy_records(voters, SCHEMA, "a", 400, rng=np.random.default_rng(1))
    assert fake.num_rows == 400
    assert fake.schema == voters.schema
    assert _rows(fake, HOUSEHOLD) <= _rows(voters, HOUSEHOLD)
    assert set(fake["last_name"].to_pylist()) <= set(voters["last_name"].to_pylist())
    # Groups are drawn independently: dummies are new combinations, not copies.
    whole = ("first_name", "last_name", *HOUSEHOLD)
    assert len(_rows(fake, whole) - _rows(voters, whole)) > 350
    # Columns the schema does not read (ids, scores) are never copied.
    assert fake["voter_id"].null_count == 400
    assert fake["party"].null_count == 400
    again = dummy_records(voters, SCHEMA, "a", 400, rng=np.random.default_rng(1))
    assert again.equals(fake)


def test_rare_values_get_as_many_dummies_as_common_ones(world: tuple[pa.Table, pa.Table]) -> None:
    voters, _ = world
    fake = dummy_records(voters, SCHEMA, "a", 20_000, rng=np.random.default_rng(2))
    real = pc.value_counts(voters["last_name"]).to_pylist()
    made = {v["values"]: v["counts"] for v in pc.value_counts(fake["last_name"]).to_pylist()}
    common = max(real, key=lambda v: v["counts"])["values"]
    rare = [v["values"] for v in real if v["counts"] == 1]
    mean_rare = np.mean([made.get(v, 0) for v in rare])
    # Uniform over distinct values: the noise does not grow with the count.
    assert made.get(common, 0) < 3 * mean_rare


def test_dummy_rows_look_like_the_payload(world: tuple[pa.Table, pa.Table]) -> None:
    voters, subscribers = world
    key = _key()
    rids = random_refs(voters.num_rows)
    columns = pa.table(
        {"rid": rids, "segments": pa.array([["s1"]] * voters.num_rows, pa.list_(pa.string()))}
    )
    made = dummy_rows(voters, columns, SCHEMA, "a", key, rate=0.5, rng=np.random.default_rng(3))
    real = encode_side(voters, SCHEMA, "a", key)
    assert made.payload.num_rows == 750
    assert made.payload.column_names == ["rid", "segments", *real.column_names]
    assert made.payload.select(real.column_names).schema == real.schema
    assert made.payload["rid"].equals(pa.chunked_array([made.ids]))
    assert all(len(r) == len(rids[0].as_py()) and r.startswith("r") for r in made.ids.to_pylist())
    assert not pc.any(pc.is_in(made.ids, value_set=rids)).as_py()
    assert pc.list_value_length(made.payload["segments"]).to_pylist() == [0] * 750
    # A campaign dummy lives at a real household: its address tokens are real ones.
    assert set(made.payload["mk_addr"].to_pylist()) <= set(real["mk_addr"].to_pylist())

    hps = pa.table({"hp": pa.array([f"{i:032x}" for i in range(subscribers.num_rows)])})
    made_b = dummy_rows(subscribers, hps, SCHEMA, "b", key, rate=1.0, rng=np.random.default_rng(4))
    real_b = encode_side(subscribers, SCHEMA, "b", key)
    assert made_b.payload.num_rows == subscribers.num_rows
    assert all(len(h) == 32 and int(h, 16) >= 0 for h in made_b.ids.to_pylist())
    for name in real_b.column_names:
        ours = set(made_b.payload[name].drop_null().to_pylist())
        theirs = set(real_b[name].drop_null().to_pylist()) | set(real[name].drop_null().to_pylist())
        if name.startswith("mk_") and not name.startswith("mk_f_"):
            # A provider dummy's exact-stage keys agree with nothing.
            assert not ours & theirs, name
        elif name in ("bk_name", "bk_phone", "bk_email", "mk_f_phone", "mk_f_email"):
            # One-group tokens are copies: the noise lands on real classes.
            assert ours & theirs, name


def test_production_randomness_needs_no_seed(world: tuple[pa.Table, pa.Table]) -> None:
    voters, _ = world
    columns = pa.table({"rid": random_refs(voters.num_rows)})
    first = dummy_rows(voters, columns, SCHEMA, "a", _key(), rate=0.2)
    second = dummy_rows(voters, columns, SCHEMA, "a", _key(), rate=0.2)
    assert first.ids.to_pylist() != second.ids.to_pylist()
    assert len(set(first.ids.to_pylist())) == 300
    with pytest.raises(InputError):
        dummy_rows(voters, pa.table({"voter": columns["rid"]}), SCHEMA, "a", _key())


def _links(campaign: pa.Table, provider: pa.Table) -> dict[str, str]:
    with DuckDBEngine() as engine:
        outcome = link_records(
            campaign, provider, engine=engine, settings=MatchSettings.from_schema(SCHEMA)
        )
    return dict(zip(outcome.links["rid"].to_pylist(), outcome.links["hp"].to_pylist(), strict=True))


def _beside(ids: pa.Table, tokens: pa.Table) -> pa.Table:
    for name in tokens.column_names:
        ids = ids.append_column(name, tokens[name])
    return ids


def test_dummies_never_displace_a_real_link(world: tuple[pa.Table, pa.Table]) -> None:
    voters, subscribers = world
    key = _key()
    rids = pa.table({"rid": pa.array([f"real{i}" for i in range(voters.num_rows)])})
    hps = pa.table({"hp": pa.array([f"{i:032x}" for i in range(subscribers.num_rows)])})
    campaign = _beside(rids, encode_side(voters, SCHEMA, "a", key))
    provider = _beside(hps, encode_side(subscribers, SCHEMA, "b", key))
    before = _links(campaign, provider)
    assert len(before) > 500
    rng = np.random.default_rng(6)
    # The cap, on both sides: the most dummies there can be.
    fake_a = dummy_rows(voters, rids, SCHEMA, "a", key, rate=MAX_DUMMY_RATE, rng=rng)
    fake_b = dummy_rows(subscribers, hps, SCHEMA, "b", key, rate=MAX_DUMMY_RATE, rng=rng)
    after = _links(
        pa.concat_tables([campaign, fake_a.payload]), pa.concat_tables([provider, fake_b.payload])
    )
    dummy_hps = set(fake_b.ids.to_pylist())
    real_after = {r: h for r, h in after.items() if r.startswith("real")}
    assert real_after == before
    assert not dummy_hps & set(real_after.values())


def test_dummies_defeat_the_count_signature_attack() -> None:
    # A world where the undefended attack clearly works (over 2% re-identified; it
    # varies with the draw between about 2% and 3.5% at this size).
    voters = generate_world(voters=1500, days=1, seed=6).voters
    key = _key()
    real = encode_side(voters, SCHEMA, "a", key)
    undefended = count_signature_attack(real, voters, SCHEMA, np.arange(voters.num_rows))
    assert undefended.gate_rate > 2 * MAX_REIDENTIFICATION  # the attack works here
    columns = pa.table({"rid": random_refs(voters.num_rows)})
    fake = dummy_rows(voters, columns, SCHEMA, "a", key, rng=np.random.default_rng(7))
    payload = pa.concat_tables([real, fake.payload.select(real.column_names)])
    order = np.random.default_rng(8).permutation(payload.num_rows)
    truth = np.r_[np.arange(voters.num_rows), np.full(fake.payload.num_rows, NOT_REAL)]
    defended = count_signature_attack(
        payload.take(pa.array(order)), voters, SCHEMA, truth[order].astype(np.int64)
    )
    assert defended.records == voters.num_rows
    assert defended.gate_rate <= MAX_REIDENTIFICATION


def test_stripping_suspected_dummies_first_does_not_bring_the_attack_back(
    world: tuple[pa.Table, pa.Table],
) -> None:
    voters, _ = world
    key = _key(b"strip test key")
    real = encode_side(voters, SCHEMA, "a", key)
    columns = pa.table({"rid": random_refs(voters.num_rows)})
    fake = dummy_rows(voters, columns, SCHEMA, "a", key, rng=np.random.default_rng(9))
    payload = pa.concat_tables([real, fake.payload.select(real.column_names)])
    truth = np.r_[np.arange(voters.num_rows), np.full(fake.payload.num_rows, NOT_REAL)]
    flagged = surname_outliers(payload)
    dummy = truth == NOT_REAL
    # The heuristic finds most dummies, and many real records with them ...
    assert (flagged & dummy).sum() > 0.9 * dummy.sum()
    assert (flagged & ~dummy).sum() > 0.1 * (~dummy).sum()
    # ... so the counts left are wrong both ways, and the attack stays under the gate.
    kept = ~flagged
    stripped = count_signature_attack(
        payload.filter(pa.array(kept)), voters, SCHEMA, truth[kept].astype(np.int64)
    )
    assert stripped.gate_rate <= MAX_REIDENTIFICATION
