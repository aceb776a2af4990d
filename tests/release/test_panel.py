"""Tests for linkage.release.panel: panel IDs, the week store, retention under zCDP."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from linkage.engine import DuckDBEngine
from linkage.errors import InputError, PrivacyError, StateError
from linkage.io import atomic_write_parquet, read_input_table
from linkage.protocol import panel_household_ids, pseudonymize
from linkage.release import (
    PANEL_STORE_SCHEMA,
    PanelStore,
    earlier_week,
    panel_week,
    plan_retention,
    release_retention,
    validate_panel_id,
    watched_channels,
)
from linkage.tables import RETENTION_SCHEMA

SECRET = b"\x07" * 32
CHANNELS = ("c1", "c2", "c3")
WEEK1 = tuple(date(2024, 3, d) for d in range(4, 11))
WEEK2 = tuple(date(2024, 3, d) for d in range(11, 18))
VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "keys.json").read_text(encoding="utf-8")
)


def no_noise(counts: Sequence[int], scale: float) -> list[int]:
    return list(counts)


def plus(offset: int) -> Any:
    def noise(counts: Sequence[int], scale: float) -> list[int]:
        return [c + offset for c in counts]

    return noise


def viewing(rows: list[tuple[str, str, datetime, datetime]]) -> pa.Table:
    return pa.table(
        {
            "household_id": pa.array([r[0] for r in rows], pa.string()),
            "channel": pa.array([r[1] for r in rows], pa.string()),
            "start": pa.array([r[2] for r in rows], pa.timestamp("s")),
            "end": pa.array([r[3] for r in rows], pa.timestamp("s")),
        }
    )


def two_weeks() -> pa.Table:
    """100 households: all watch c1 in week 1; the even ones watch c1 again in week 2.

    Households 0-9 also watch c2 for 3 minutes only (under the watched bar), and
    every household watches c3 in week 2 only.
    """
    rows = []
    for i in range(100):
        hid = f"HH{i:03d}"
        rows.append((hid, "c1", datetime(2024, 3, 5, 20), datetime(2024, 3, 5, 21)))
        if i % 2 == 0:
            rows.append((hid, "c1", datetime(2024, 3, 12, 20), datetime(2024, 3, 12, 20, 30)))
        if i < 10:
            rows.append((hid, "c2", datetime(2024, 3, 6, 20), datetime(2024, 3, 6, 20, 3)))
        rows.append((hid, "c3", datetime(2024, 3, 13, 19), datetime(2024, 3, 13, 19, 10)))
    return viewing(rows)


def test_golden_panel_ids_and_reference() -> None:
    vec = VECTORS["panel_household_ids"]
    secret = bytes.fromhex(vec["secret"])
    assert panel_household_ids(secret, vec["panel_id"], vec["ids"]) == vec["expected"]
    ref = [
        hmac.new(
            secret, b"narwhal/v1/panel-household\x1f" + f"{vec['panel_id']}\x1f{i}".encode(),
            hashlib.sha256,
        ).hexdigest()[:32]
        for i in vec["ids"]
    ]  # fmt: skip
    assert ref == vec["expected"]


def test_panel_ids_stable_within_a_panel_distinct_across_panels_and_exchanges() -> None:
    ids = [f"HH{i:06d}" for i in range(200)]
    one = panel_household_ids(SECRET, "panel-a", ids)
    assert one == panel_household_ids(SECRET, "panel-a", list(ids))
    assert len(set(one)) == len(ids)
    assert not set(one) & set(panel_household_ids(SECRET, "panel-b", ids))
    assert not set(one) & set(panel_household_ids(b"\x08" * 32, "panel-a", ids))
    assert not set(one) & set(pseudonymize(SECRET, "panel-a", ids))


def test_panel_id_validation() -> None:
    with pytest.raises(InputError):
        validate_panel_id("../escape")
    with pytest.raises(InputError):
        panel_household_ids(SECRET, "a/b", ["HH1"])
    assert validate_panel_id("oh-panel.1") == "oh-panel.1"


def test_store_round_trips_and_is_deterministic(tmp_path: Path) -> None:
    log = two_weeks()
    with DuckDBEngine() as engine:
        watched = watched_channels(log, CHANNELS, engine, WEEK1)
        shuffled = watched_channels(log.take(list(reversed(range(log.num_rows)))), CHANNELS,
                                    engine, WEEK1)  # fmt: skip
    # c2 was watched 3 minutes only: under the bar; week 2's tuning is outside the period.
    assert set(watched["channel"].to_pylist()) == {"c1"}
    assert watched.num_rows == 100
    store = panel_week(SECRET, "p1", watched)
    assert store.schema == PANEL_STORE_SCHEMA
    assert store.equals(panel_week(SECRET, "p1", shuffled))
    first, again = tmp_path / "a.parquet", tmp_path / "b.parquet"
    atomic_write_parquet(first, store)
    atomic_write_parquet(again, panel_week(SECRET, "p1", shuffled))
    assert first.read_bytes() == again.read_bytes()
    assert read_input_table(first, required=PANEL_STORE_SCHEMA.names).equals(store)
    assert set(store["panel_household"].to_pylist()) == set(
        panel_household_ids(SECRET, "p1", [f"HH{i:03d}" for i in range(100)])
    )


def test_earlier_week_is_the_latest_that_ends_before(tmp_path: Path) -> None:
    w0, w1, w2 = ((date(2024, 2, 26), date(2024, 3, 3)), (WEEK1[0], WEEK1[-1]),
                  (WEEK2[0], WEEK2[-1]))  # fmt: skip
    assert earlier_week((w0, w1, w2), WEEK2[0]) == w1
    assert earlier_week((w0, w1, w2), date(2024, 3, 18)) == w2
    assert earlier_week((w0, w1, w2), date(2024, 3, 10)) == w0  # w1 overlaps that period
    assert earlier_week((w0,), w0[0]) is None
    store = PanelStore(tmp_path / "panel")
    assert store.weeks() == () and store.earlier_week(WEEK2[0]) is None
    rows = pa.table({"panel_household": ["a", "b"], "channel": ["c1", "c1"]})
    store.save_week(w1, rows)
    store.save_week(w0, rows.slice(0, 1))
    assert store.weeks() == (w0, w1)
    assert store.load_week(store.earlier_week(WEEK2[0]) or w0).equals(rows)
    files = list((tmp_path / "panel" / "weeks").iterdir())
    assert len(files) == 2 and all(f.stat().st_mode & 0o077 == 0 for f in files)
    with pytest.raises(StateError):
        store.load_retention("ex-1")


def retention(noise: Any, k: int = 5, assignments: pa.Table | None = None) -> pa.Table:
    log = two_weeks()
    with DuckDBEngine() as engine:
        earlier = panel_week(SECRET, "p1", watched_channels(log, CHANNELS, engine, WEEK1))
        current = panel_week(SECRET, "p1", watched_channels(log, CHANNELS, engine, WEEK2))
    if assignments is None:
        # Segment "s1": households 0-59 (this week's membership); "s2": nobody.
        hids = [f"HH{i:03d}" for i in range(60)] + ["unseen:abc"]
        assignments = pa.table(
            {"household_id": hids + hids, "segment": ["s1"] * len(hids) + ["*"] * len(hids)}
        )
    return release_retention(
        assignments,
        earlier,
        current,
        secret=SECRET,
        panel_id="p1",
        segments=["s1", "s2", "s1:light"],
        channels=CHANNELS,
        earlier_period=(WEEK1[0], WEEK1[-1]),
        rho=0.01,
        k=k,
        noise=noise,
    )


def test_retention_exact_counts_with_no_noise() -> None:
    table = retention(no_noise)
    assert table.schema == RETENTION_SCHEMA
    rows = {(r["segment"], r["channel"]): r for r in table.to_pylist()}
    # Tiers are not released; every plain code and * is, on every channel.
    assert set(rows) == {(s, c) for s in ("*", "s1", "s2") for c in CHANNELS}
    s1 = rows[("s1", "c1")]
    assert (s1["earlier_households"], s1["both_households"]) == (60, 30)
    assert s1["retention"] == pytest.approx(50.0)
    assert s1["retention_ci"] > 0 and not s1["suppressed"]
    # Nobody watched c3 in week 1 or c2 above the bar: both under k, suppressed, null.
    for key in (("s1", "c2"), ("s1", "c3"), ("s2", "c1")):
        assert rows[key]["suppressed"] and rows[key]["retention"] is None
        assert rows[key]["earlier_households"] is None
    assert rows[("*", "c1")]["earlier_households"] == 60  # the unseen household is out
    assert set(table["rho"].to_pylist()) == {0.01}
    assert set(table["k"].to_pylist()) == {5}
    assert table["earlier_first_day"][0].as_py() == WEEK1[0]


def test_retention_reads_only_noisy_values() -> None:
    # +40 on every count: the empty cells pass k on noise alone, and retention is rebuilt
    # from the noisy counts (post-processing), clamped to both <= earlier.
    table = retention(plus(40), k=30)
    rows = {(r["segment"], r["channel"]): r for r in table.to_pylist()}
    s1 = rows[("s1", "c1")]
    assert (s1["earlier_households"], s1["both_households"]) == (100, 70)
    assert s1["retention"] == pytest.approx(70.0)
    assert not rows[("s2", "c3")]["suppressed"]
    assert rows[("s2", "c3")]["retention"] == pytest.approx(100.0)
    scale = plan_retention(["*", "s1", "s2"], CHANNELS, 0.01).scale
    var = scale**2 * ((100 / 100) ** 2 + (100 * 70 / 100**2) ** 2)
    assert s1["retention_ci"] == pytest.approx(1.959963984540054 * math.sqrt(var))


def test_plan_retention_sensitivity_and_rho() -> None:
    plan = plan_retention(["*", "s1", "s1:light", "s1:heavy"], CHANNELS, 0.01)
    # M: * and s1, plus one tier of s1 -> 3; C = 3 channels.
    assert plan.sensitivity == pytest.approx(3.0)
    assert plan.scale == pytest.approx(3 / math.sqrt(0.01), rel=1e-6)
    with pytest.raises(PrivacyError):
        plan_retention(["*"], CHANNELS, 0.0)


def test_store_file_is_parquet_with_the_schema(tmp_path: Path) -> None:
    with DuckDBEngine() as engine:
        store = panel_week(SECRET, "p1", watched_channels(two_weeks(), CHANNELS, engine, WEEK2))
    atomic_write_parquet(tmp_path / "w.parquet", store)
    assert pq.read_schema(tmp_path / "w.parquet").equals(PANEL_STORE_SCHEMA)
    # Week 2: every household watched c3 (10 min), the even ones c1: 150 rows.
    assert store.num_rows == 150
