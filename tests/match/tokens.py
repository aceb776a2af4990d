"""Hand-made token tables for the matcher's exact stage and the match report.

Rows are plain dicts: ``rid`` (and ``segments``) for the campaign, ``hp``
for the provider, and a label per match key (``addr``, ``name``, ``phone``);
equal labels become equal tokens, a missing label a null token.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import cast

import pyarrow as pa

# Label in a row -> match-key column, in the tables' column order.
KEY_COLUMNS = {"addr": "mk_addr", "name": "mk_name_addr", "phone": "mk_phone"}
ALL_KEYS = tuple(KEY_COLUMNS)
ADDRESS_ONLY = ("addr",)


def tok(label: str | None) -> bytes | None:
    """The token of ``label`` (its SHA-256), or null."""
    return None if label is None else hashlib.sha256(label.encode()).digest()


def token_columns(rows: list[dict[str, object]], keys: Sequence[str]) -> dict[str, pa.Array]:
    """One ``binary(32)`` match-key column per label in ``keys``."""
    return {
        KEY_COLUMNS[key]: pa.array(
            [tok(cast("str | None", r.get(key))) for r in rows], pa.binary(32)
        )
        for key in keys
    }


def campaign_table(rows: list[dict[str, object]], keys: Sequence[str] = ALL_KEYS) -> pa.Table:
    """The campaign's tokens: ``rid``, ``segments`` and the match keys ``keys``."""
    return pa.table(
        {
            "rid": pa.array([r["rid"] for r in rows], pa.string()),
            "segments": pa.array([r.get("segments", []) for r in rows], pa.list_(pa.string())),
            **token_columns(rows, keys),
        }
    )


def provider_table(rows: list[dict[str, object]], keys: Sequence[str] = ALL_KEYS) -> pa.Table:
    """The provider's tokens: ``hp`` and the match keys ``keys``."""
    return pa.table(
        {
            "hp": pa.array([r["hp"] for r in rows], pa.string()),
            **token_columns(rows, keys),
        }
    )
