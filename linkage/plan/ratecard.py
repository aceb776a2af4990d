"""The rate card: what the campaign may buy, one validated cell per (market,) channel x daypart.

A rate card arrives as a CSV or Parquet file someone typed up, so every row is
checked before any planning starts and an error names the row and column,
never the value. Costs are kept in whole cents (:attr:`RateCell.cost_cents`)
so the integer program's budget constraint is exact.

Spot TV is bought per market (DMA): a rate card whose first column is
``market`` has one row per market, channel and daypart the market carries,
and costs differ by market. A card without it is one statewide market
(:data:`~linkage.tables.ALL_MARKETS`), exactly as before markets.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pyarrow as pa

from linkage.errors import InputError
from linkage.measure import DAYPART_NAMES
from linkage.tables import ALL_MARKETS

__all__ = ["MARKET_COLUMN", "RATECARD_COLUMNS", "RateCell", "parse_ratecard"]

RATECARD_COLUMNS = ("channel", "daypart", "cost_per_spot", "units_available")
"""The columns a rate card must have."""
MARKET_COLUMN = "market"
"""The optional first column of a rate card: the market (DMA) code a row's spots air in."""


@dataclass(frozen=True, slots=True)
class RateCell:
    """One rate-card row: a 30-s spot in ``daypart`` on ``channel`` in ``market``.

    ``market`` is :data:`~linkage.tables.ALL_MARKETS` on a card without markets.
    """

    channel: str
    daypart: str
    cost_cents: int
    units: int
    market: str = ALL_MARKETS

    @property
    def cost(self) -> float:
        """Cost per spot in dollars."""
        return self.cost_cents / 100.0


def parse_ratecard(table: pa.Table, *, file: str | None = None) -> tuple[RateCell, ...]:
    """Validate a rate card and return its cells.

    Args:
        table: Columns ``channel, daypart, cost_per_spot, units_available``,
            optionally ``market`` (lowercase codes such as ``cleveland``).
        file: Path for error messages.

    Returns:
        One :class:`RateCell` per row, costs rounded to cents.

    Raises:
        InputError: Missing column, no rows, a null, an unknown daypart, a cost
            that is not a positive number, units that are not a whole number
            >= 0, a market that is not a lowercase code, or a repeated
            (market, channel, daypart). Names the row (1 = first data row),
            never the value.
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
    seen: set[tuple[str, str, str]] = set()
    markets = (
        table[MARKET_COLUMN].to_pylist()
        if MARKET_COLUMN in table.column_names
        else [ALL_MARKETS] * table.num_rows
    )
    rows = zip(markets, *(table[c].to_pylist() for c in RATECARD_COLUMNS), strict=True)
    for row, (market, channel, daypart, cost, units) in enumerate(rows, start=1):
        if market != ALL_MARKETS and not (
            isinstance(market, str) and _MARKET_CODE.fullmatch(market)
        ):
            raise InputError(
                "market must be a lowercase market code",
                file=file,
                column=MARKET_COLUMN,
                row=row,
                hint="e.g. cleveland, columbus, cincinnati",
            )
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
        key = (str(market), channel, str(daypart))
        if key in seen:
            raise InputError("repeated market, channel and daypart", file=file, row=row)
        seen.add(key)
        cells.append(
            RateCell(channel, str(daypart), max(1, round(price * 100)), int(count), str(market))
        )
    named = {c.market for c in cells}
    if ALL_MARKETS in named and len(named) > 1:
        raise InputError(
            "a rate card names a market on every row or on none",
            file=file,
            column=MARKET_COLUMN,
            hint=f"{ALL_MARKETS!r} (statewide) cannot sit beside market codes",
        )
    return tuple(cells)


_MARKET_CODE = re.compile(r"[a-z][a-z0-9_]*")


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
