"""The matcher's keyless attacks (linkage.audit.matcher_attacks) on a small in-memory world.

The campaign's tokens are built with a real key the attacks never see; the
public file is the world's voter file. Row order is shuffled (as the payload's is).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pytest

from linkage.audit import (
    MAX_REIDENTIFICATION,
    count_signature_attack,
    graph_matching_attack,
    pattern_mining_attack,
    score_guesses,
)
from linkage.audit.matcher_attacks import NOT_PUBLIC, NOT_REAL, Guesses
from linkage.encode import encode_side, load_schema, shipped_schema
from linkage.protocol import LinkageKey
from linkage.synth import generate_world


@pytest.fixture(scope="module")
def world() -> tuple[pa.Table, pa.Table, np.ndarray]:
    """Public voter file, the campaign's shuffled tokens, and each token row's voter row."""
    voters = generate_world(voters=1500, days=1, seed=5).voters
    key = LinkageKey(exchange_id="attack-test", _key=hashlib.sha256(b"real key").digest())
    order = np.random.default_rng(3).permutation(voters.num_rows)
    tokens = encode_side(voters, shipped_schema(), "a", key).take(pa.array(order))
    return voters, tokens, order.astype(np.int64)


def test_count_signatures_reidentify_undefended_tokens(
    world: tuple[pa.Table, pa.Table, np.ndarray],
) -> None:
    voters, tokens, truth = world
    result = count_signature_attack(tokens, voters, shipped_schema(), truth)
    assert result.records == voters.num_rows
    assert result.gate_rate > MAX_REIDENTIFICATION
    assert result.precision >= 0.9
    assert result.rounds >= 2  # propagation adds matches after the first round


def test_count_signatures_do_not_count_dummies_and_name_them_wrong(
    world: tuple[pa.Table, pa.Table, np.ndarray],
) -> None:
    voters, tokens, truth = world
    # Half the public file gone: its records are real but cannot be re-identified.
    public = voters.slice(0, voters.num_rows // 2)
    gone = np.where(truth < public.num_rows, truth, NOT_PUBLIC)
    result = count_signature_attack(tokens, public, shipped_schema(), gone)
    assert result.records == voters.num_rows
    assert result.correct <= int((gone >= 0).sum())
    dummies = np.full_like(truth, NOT_REAL)
    as_dummies = count_signature_attack(tokens, voters, shipped_schema(), dummies)
    assert as_dummies.records == 0
    assert as_dummies.correct == 0
    assert as_dummies.gate_rate == 0.0


def test_graph_matching_is_precise_when_it_names_anyone(
    world: tuple[pa.Table, pa.Table, np.ndarray],
) -> None:
    voters, tokens, truth = world
    result = graph_matching_attack(tokens, voters, shipped_schema(), truth)
    assert result.records == voters.num_rows
    assert result.guessed > 0
    assert result.precision >= 0.9


def test_score_on_a_toy_case() -> None:
    # Rows 0..4 are voters 10..14, row 5 is a dummy.
    truth = np.array([10, 11, 12, 13, NOT_PUBLIC, NOT_REAL])
    guesses = Guesses(
        rows=np.array([0, 1, 2, 3, 5]),
        public=np.array([10, 11, 99, 13, 7]),
        confidence=np.array([3.0, 3.0, 2.0, 1.0, 1.0]),
    )
    result = score_guesses("toy", guesses, truth)
    assert (result.records, result.guessed, result.correct) == (5, 5, 3)
    assert result.rate == pytest.approx(1.0)
    assert result.precision == pytest.approx(0.6)
    # Cut-offs: {0,1} 2/2; {0,1,2} 2/3; all 3/5. Only the first reaches 90%.
    assert (result.confident, result.confident_correct) == (2, 2)
    assert result.gate_rate == pytest.approx(0.4)
    assert score_guesses("toy", guesses, truth, min_precision=0.6).confident == 5


def test_score_never_splits_a_confidence_tie() -> None:
    truth = np.array([0, 1, 2])
    guesses = Guesses(np.array([0, 1, 2]), np.array([0, 5, 2]), np.array([1.0, 1.0, 1.0]))
    result = score_guesses("tie", guesses, truth)
    assert result.confident == 0
    assert result.gate_rate == 0.0


# An undefended encoding: one Bloom filter per name field (given, surname), plain
# random hashing under the real key, k = 20 per bigram, 1024 bits, no salt, no hardening.
FIELD_LEVEL_NAMES = """
[schema]
name = "field_level_names"
bloom_length = 1024

[fields.given]
type = "given_name"
column = "first_name"

[fields.surname]
type = "surname"
column = "last_name"

[compare.given]
method = "dice"
q = 2
bits = 20

[compare.surname]
method = "dice"
q = 2
bits = 20

[blocking]
bk_surname = ["surname:soundex"]
"""


@pytest.mark.heavy  # in `make heavy` (CI), outside make test's four minutes
def test_pattern_mining_reidentifies_field_level_name_filters() -> None:
    voters = generate_world(voters=3000, days=1, seed=5).voters
    schema = load_schema(FIELD_LEVEL_NAMES)
    key = LinkageKey(exchange_id="attack-test", _key=hashlib.sha256(b"real key").digest())
    order = np.random.default_rng(3).permutation(voters.num_rows)
    tokens = encode_side(voters, schema, "a", key).take(pa.array(order))
    result = pattern_mining_attack(tokens, voters, schema, order)
    assert result.records == voters.num_rows
    assert result.rounds >= 30  # q-grams decoded from bit patterns alone
    assert result.gate_rate > 0.05
    assert result.gate_precision >= 0.9
