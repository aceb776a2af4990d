"""Identities the io tests seal, write and read keys for (generated once per module)."""

from __future__ import annotations

import pytest

from linkage.protocol import Identity, generate_identity


@pytest.fixture(scope="module")
def campaign() -> Identity:
    return generate_identity("campaign", "campaign")


@pytest.fixture(scope="module")
def matcher() -> Identity:
    return generate_identity("matcher", "matcher")
