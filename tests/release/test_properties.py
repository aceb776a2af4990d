"""Property: no released figure is backed by fewer than k households.

The k rule is the release's main promise, so it is checked on the very count
the rule decides on: ``compute_viewership``'s ``contributors`` (distinct
households credited in the cell), computed on the same inputs before
suppression. Hypothesis draws small assignment and viewing tables (a handful
of households, overlapping segments, a light tier, viewing that straddles
quarter-hours and days) and every k from 1 to 6. Derandomized, so a failure
reproduces on every run.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pyarrow as pa
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from linkage.engine import DuckDBEngine
from linkage.errors import PrivacyError
from linkage.measure import compute_viewership
from linkage.release import SUPPRESSIBLE_COLUMNS, release_grid, release_viewership
from linkage.tables import TIER_SEPARATOR

PROPERTY = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
ENGINE = DuckDBEngine(memory_limit="512MB", threads=1)
CHANNELS = ("c1", "c2")
MONDAY = date(2024, 3, 4)
DAYS = (MONDAY, MONDAY + timedelta(days=5))  # a weekday and a Saturday
CELL_KEY = ("grain", "segment", "channel", "day_type", "daypart", "quarter_hour")


@st.composite
def exchanges(draw: st.DrawFn) -> tuple[pa.Table, pa.Table]:
    """Assignments (segments, one with a light tier) and viewing over up to 30 households."""
    n = draw(st.integers(4, 30))
    ids = [f"H{i:02d}" for i in range(n)]
    rows: list[tuple[str, str]] = []
    for segment in ("s1", "s2"):
        members = draw(st.sets(st.sampled_from(ids), min_size=1))
        rows += [(h, segment) for h in sorted(members)]
        if segment == "s1" and draw(st.booleans()):
            light = draw(st.sets(st.sampled_from(sorted(members)), min_size=1))
            rows += [(h, f"s1{TIER_SEPARATOR}light") for h in sorted(light)]
    # One tuning event: household, channel, day, start minute after 20:00, minutes watched.
    event = st.tuples(
        st.integers(0, n - 1),
        st.sampled_from(CHANNELS),
        st.sampled_from(DAYS),
        st.integers(0, 90),
        st.integers(1, 45),
    )
    events = draw(st.lists(event, min_size=1, max_size=60))
    starts = [datetime.combine(day, datetime.min.time()) + timedelta(hours=20, minutes=m)
              for _, _, day, m, _ in events]  # fmt: skip
    assignments = pa.table(
        {
            "household_id": pa.array([h for h, _ in rows], pa.string()),
            "segment": pa.array([s for _, s in rows], pa.string()),
        }
    )
    viewing = pa.table(
        {
            "household_id": pa.array([ids[e[0]] for e in events], pa.string()),
            "channel": pa.array([e[1] for e in events], pa.string()),
            "start": pa.array(starts, pa.timestamp("s")),
            "end": pa.array(
                [s + timedelta(minutes=e[4]) for s, e in zip(starts, events, strict=True)],
                pa.timestamp("s"),
            ),
        }
    )
    return assignments, viewing


@PROPERTY
@given(exchanges(), st.integers(1, 6))
def test_every_exactly_released_cell_is_backed_by_at_least_k_households(
    exchange: tuple[pa.Table, pa.Table], k: int
) -> None:
    assignments, viewing = exchange
    try:
        grid = release_grid(viewing, channels=CHANNELS, engine=ENGINE)
        release = release_viewership(
            assignments, viewing, grid, engine=ENGINE, k=k, min_universe=1, exact=True
        )
    except PrivacyError:
        assume(False)  # refused outright (differencing): nothing is released
        return
    cells = compute_viewership(assignments, viewing, channels=CHANNELS, engine=ENGINE)
    contributors = {
        tuple(row[c] for c in CELL_KEY): row["contributors"] for row in cells.to_pylist()
    }

    assert "contributors" not in release.column_names  # the exact count never leaves
    assert release.num_rows == len(contributors)
    for row in release.to_pylist():
        backed_by = contributors[tuple(row[c] for c in CELL_KEY)]
        if not row["suppressed"]:
            assert backed_by >= k, row
        if backed_by < k:  # the same promise from the other side: every figure blank
            assert row["suppressed"], row
            assert all(row[c] is None for c in SUPPRESSIBLE_COLUMNS), row
