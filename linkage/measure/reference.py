"""The slow, obviously-correct twin of :func:`~linkage.measure.aggregation.compute_viewership`.

It walks every tuned second of every event in plain Python, straight from the
crediting rule's definition, with none of the SQL's tricks (packed keys,
membership patterns, piece sums before the interval sweep). Tests run both
and compare every cell; use it on a few hundred events at most.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta

import pyarrow as pa

from linkage.measure.aggregation import CELL_ORDER, unique_channels
from linkage.measure.calendar import DAYPARTS, EPOCH, QUARTER_HOURS_PER_DAY, day_type, daypart_of
from linkage.tables import ALL_HOUSEHOLDS, CELLS_SCHEMA

__all__ = ["reference_viewership"]


def _seconds(ts: datetime) -> int:
    return int((ts - EPOCH).total_seconds())


def reference_viewership(
    assignments: pa.Table,
    viewing: pa.Table,
    *,
    channels: Sequence[str],
    period: Sequence[date] | None = None,
    credit_minutes: int = 5,
) -> pa.Table:
    """Slow, obviously-correct twin of :func:`~linkage.measure.aggregation.compute_viewership`.

    For tests only: walks every tuned second of every event in plain Python;
    use on a few hundred events at most.
    """
    members: dict[str, set[str]] = defaultdict(set)
    for row in assignments.select(["household_id", "segment"]).to_pylist():
        if row["segment"] != ALL_HOUSEHOLDS:
            members[row["segment"]].add(row["household_id"])
        members[ALL_HOUSEHOLDS].add(row["household_id"])
    events = viewing.select(["household_id", "channel", "start", "end"]).to_pylist()
    if period is None:
        first = min(e["start"] for e in events).date()
        last = max(max(e["end"] - timedelta(seconds=1), e["start"]) for e in events).date()
        days = {first + timedelta(days=i) for i in range((last - first).days + 1)}
    else:
        days = set(period)
    n_days = {t: sum(1 for d in days if day_type(d) == t) for t in ("weekday", "weekend")}

    tuned: dict[tuple[str, str, date, int], set[int]] = defaultdict(set)
    for e in events:
        for second in range(_seconds(e["start"]), _seconds(e["end"])):
            moment = EPOCH + timedelta(seconds=second)
            if moment.date() in days:
                qh = (moment.hour * 60 + moment.minute) // 15
                tuned[(e["household_id"], e["channel"], moment.date(), qh)].add(second)
    credited = {key for key, secs in tuned.items() if len(secs) >= credit_minutes * 60}
    hut = {(hh, day, qh) for hh, _, day, qh in credited}

    rows: list[dict[str, object]] = []
    channel_list = unique_channels(channels)

    def figures(n: int, slots: int, hut_n: int, universe: int) -> dict[str, object]:
        aqh = n / slots
        return {
            "aqh_households": aqh,
            "rating": aqh * 100.0 / universe,
            "share": n * 100.0 / hut_n if hut_n else 0.0,
        }

    for segment, households in members.items():
        universe = len(households)
        for channel in channel_list:
            seg = {
                (hh, day, qh) for hh, ch, day, qh in credited if ch == channel and hh in households
            }
            seg_hut = {(hh, day, qh) for hh, day, qh in hut if hh in households}
            base = {"segment": segment, "channel": channel, "universe": universe}
            for kind, nd in n_days.items():
                if not nd:
                    continue
                typed = {(hh, qh) for hh, day, qh in seg if day_type(day) == kind}
                typed_n = [x for x in seg if day_type(x[1]) == kind]
                typed_hut = [x for x in seg_hut if day_type(x[1]) == kind]
                for qh in range(QUARTER_HOURS_PER_DAY):
                    n = sum(1 for x in typed_n if x[2] == qh)
                    rows.append(
                        {
                            **base,
                            "grain": "quarter_hour",
                            "day_type": kind,
                            "daypart": daypart_of(qh),
                            "quarter_hour": qh,
                            **figures(n, nd, sum(1 for x in typed_hut if x[2] == qh), universe),
                            "contributors": len({hh for hh, q in typed if q == qh}),
                        }
                    )
                for dp in DAYPARTS:
                    qhs = set(dp.quarter_hours())
                    n = sum(1 for x in typed_n if x[2] in qhs)
                    hut_n = sum(1 for x in typed_hut if x[2] in qhs)
                    rows.append(
                        {
                            **base,
                            "grain": "daypart",
                            "day_type": kind,
                            "daypart": dp.name,
                            "quarter_hour": None,
                            **figures(n, nd * len(qhs), hut_n, universe),
                            "contributors": len({hh for hh, q in typed if q in qhs}),
                        }
                    )
            reach = len({hh for hh, _, _ in seg})
            rows.append(
                {
                    **base,
                    "grain": "period",
                    "day_type": "all",
                    "daypart": "all",
                    "quarter_hour": None,
                    **figures(len(seg), len(days) * QUARTER_HOURS_PER_DAY, len(seg_hut), universe),
                    "reach_households": reach,
                    "reach": reach * 100.0 / universe,
                    "contributors": reach,
                }
            )
    for row in rows:
        row.setdefault("reach_households", None)
        row.setdefault("reach", None)
        row["suppressed"] = False
    return pa.Table.from_pylist(rows, schema=CELLS_SCHEMA).sort_by(CELL_ORDER)
