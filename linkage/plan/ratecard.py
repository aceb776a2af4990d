"""The rate card: what the campaign may buy, one validated cell per channel x daypart.

A rate card arrives as a CSV or Parquet file someone typed up, so every row is
checked before any planning starts and an error names the row and column,
never the value. Costs are kept in whole cents (:attr:`RateCell.cost_cents`)
so the integer program's budget constraint is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pyarrow as pa

from linkage.errors import InputError
from linkage.measure import DAYPART_NAMES

__all__ = ["RATECARD_COLUMNS", "RateCell", "parse_ratecard"]

RATECARD_COLUMNS = ("channel", "daypart", "cost_per_spot", "units_available")
"""The columns a rate card must have."""


@dataclass(frozen=True, slots=True)
class RateCell:
    """One rate-card row: a 30-s spot in ``daypart`` on ``channel``."""

    channel: str
    daypart: str
    cost_cents: int
    units: int

    @property
    def cost(self) -> float:
        """Cost per spot in dollars."""
        return self.cost_cents / 100.0


def parse_ratecard(table: pa.Table, *, file: str | None = None) -> tuple[RateCell, ...]:
    """Validate a rate card and return its cells.

    Args:
        table: Columns ``channel, daypart, cost_per_spot, units_available``.
        file: Path for error messages.

    Returns:
        One :class:`RateCell` per row, costs rounded to cents.

    Raises:
        InputError: Missing column, no rows, a null, an unknown daypart, a cost
            that is not a positive number, units that are not a whole number
            >= 0, or a repeated (channel, daypart). Names the row (1 = first data
            row), never the value.
    """
    for column in RATECARD_COLUMNS:
        if column not in table.column_names:
            raise InputError(
                "rate card has no such column",
                file=file,
                column=column,
                hint=f"expected {', '.join(RATECARD_COLUMNS)}",
            )
    if table.num_rows == 0:
        raise InputError("rate card has no rows", file=file)
    known = set(DAYPART_NAMES)
    cells: list[RateCell] = []
    seen: set[tuple[str, str]] = set()
    rows = zip(*(table[c].to_pylist() for c in RATECARD_COLUMNS), strict=True)
    for row, (channel, daypart, cost, units) in enumerate(rows, start=1):
        if not isinstance(channel, str) or not channel:
            raise InputError("channel is missing", file=file, column="channel", row=row)
        if daypart not in known:
            raise InputError(
                "unknown daypart",
                file=file,
                column="daypart",
                row=row,
                hint=f"use one of {', '.join(DAYPART_NAMES)}",
            )
        price = _number(cost)
        if price is None or not math.isfinite(price) or price <= 0:
            raise InputError(
                "cost_per_spot must be a positive number",
                file=file,
                column="cost_per_spot",
                row=row,
            )
        count = _number(units)
        if count is None or not math.isfinite(count) or count < 0 or count != int(count):
            raise InputError(
                "units_available must be a whole number >= 0",
                file=file,
                column="units_available",
                row=row,
            )
        key = (channel, str(daypart))
        if key in seen:
            raise InputError("repeated channel and daypart", file=file, row=row)
        seen.add(key)
        cells.append(RateCell(channel, str(daypart), max(1, round(price * 100)), int(count)))
    return tuple(cells)


def _number(value: object) -> float | None:
    """A cell as a number, from a typed column or text; None when it is not one."""
    # bool is an int to Python, but a true/false cost is a typo, not 1 or 0.
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None
