"""What the provider's two sides learn together (linkage.audit.provider_knowledge).

The colluding operator (subscriber names and addresses) and measurement side
(household -> coded segments) decode each code with the public voter file and
label subscriber households with its meaning. Run on the session's completed
exchange (``tests/conftest.py``, 3,000 voters); the audit line is
informational, and SKIP without its input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from linkage.audit import (
    AUDITED_ROLES,
    Exchange,
    ProviderKnowledge,
    audit_provider_knowledge,
    decode_segments,
    load_exchange,
    provider_knowledge_of,
)
from linkage.io import PartyHome
from linkage.tables import ALL_HOUSEHOLDS
from tests.conftest import Exchange as Demo


def _load(root: Path) -> Exchange:
    return load_exchange({role: PartyHome(root / role) for role in AUDITED_ROLES})


@pytest.fixture(scope="module")
def knowledge(exchange: Demo) -> ProviderKnowledge:
    found = provider_knowledge_of(_load(exchange.root), exchange.world)
    assert list(found) == [exchange.exchange_id]
    return found[exchange.exchange_id]


def test_colluding_sides_label_subscribers_with_high_precision(
    knowledge: ProviderKnowledge,
) -> None:
    assert knowledge.subscribers > 0
    assert knowledge.on_list_share > 0.5
    # Most list households are found in the public file by name + address.
    assert knowledge.profiled > 0.8 * knowledge.on_list
    assert knowledge.labelled_share > 0.3
    assert knowledge.precision >= 0.95
    assert knowledge.labels >= knowledge.labelled


def test_codes_of_public_rules_decode_to_their_definition(
    knowledge: ProviderKnowledge,
) -> None:
    by_name = {c.segment: c for c in knowledge.codes}
    assert set(by_name) == {"persuadable", "turnout_target", "latino", "african_american"}
    for name, value in (("latino", "hispanic"), ("african_american", "black")):
        code = by_name[name]
        assert code.decoding.decoded and code.definition
        assert (code.decoding.attribute, code.decoding.value) == ("ethnicity", value)
        assert code.decoding.lift > 3
        assert code.labelled == code.decoding.households
    # Score rules have no public column: what decodes them is a proxy, but it labels.
    persuadable = by_name["persuadable"]
    assert not persuadable.definition
    assert persuadable.decoding.decoded and persuadable.labelled > 0
    assert persuadable.correct / persuadable.labelled >= 0.95
    # Its labels come from the campaign's private scores: no public file gives them.
    assert knowledge.beyond_public >= persuadable.labelled


def test_a_code_of_random_households_is_not_decoded(exchange: Demo) -> None:
    world = exchange.world
    subscribers = pq.read_table(world / "provider" / "subscribers.parquet")
    voters = pq.read_table(world / "campaign" / "voters.parquet")
    truth = pq.read_table(world / "truth" / "voter_household.parquet")
    listed = pc.unique(truth["household_id"]).to_numpy(zero_copy_only=False)
    chosen = np.random.default_rng(12).choice(listed, size=len(listed) // 3, replace=False)
    memberships = pa.table(
        {
            "household_id": pa.array([*listed, *chosen], pa.string()),
            "segment": pa.array([ALL_HOUSEHOLDS] * len(listed) + ["random"] * len(chosen)),
        }
    )
    found, decodings = decode_segments(subscribers, voters, memberships)
    assert len(found) > 0.8 * len(listed)
    (random,) = decodings
    assert random.households == len(chosen)
    assert random.lift < 1.25 and not random.decoded


def test_check_is_informational_on_the_exchange(exchange: Demo) -> None:
    result = audit_provider_knowledge(_load(exchange.root), exchange.world)
    assert result.status == "PASS" and not result.skipped
    assert result.detail.startswith("informational: ")
    assert "labelled with >= 1 segment meaning" in result.detail


def test_check_is_skipped_without_input(homes: Path, exchange: Demo, tmp_path: Path) -> None:
    nothing = audit_provider_knowledge(_load(homes), tmp_path)
    assert nothing.status == "SKIP" and "no links" in nothing.detail
    no_world = audit_provider_knowledge(_load(exchange.root), tmp_path)
    assert no_world.status == "SKIP" and "world has no" in no_world.detail
