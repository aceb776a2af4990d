"""TV markets (DMAs) in the plan: which rows of a release are whose, and per-market budgets.

Spot TV is bought per market, so a rate card may name one: its cells are then
``(market, channel, daypart)`` and each is valued on that market's own
released ratings (rows whose ``market`` is the market's code, measured on the
market's households). A release row whose ``market`` is
:data:`~linkage.tables.ALL_MARKETS` is statewide; a release without a
``market`` column is statewide throughout, as every release was before markets.

**One objective across markets.** A market's rating is a percentage of the
*market's* segment universe, so a point in Lima is worth far fewer households
than a point in Cleveland. The plan therefore counts every spot in
**statewide points**: target impressions (rating x the market's universe of
the segment) over the segment's statewide universe, x 100. The statewide
points of all markets add up to the statewide TRPs the plan would show had
it bought on statewide ratings, and maximising them is maximising weighted
target impressions. Per-market rows of the comparison report each market in
its own rating points instead, as a buyer in that market would read them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from linkage.errors import InputError
from linkage.measure import project_to_voters
from linkage.plan.ratecard import RateCell
from linkage.tables import ALL_MARKETS

__all__ = [
    "market_budgets_cents",
    "market_rows",
    "parse_market_budgets",
    "project_comparison",
    "ratecard_markets",
    "release_markets",
    "statewide_rows",
]


def _markets_of(decoded: pa.Table) -> pa.ChunkedArray | None:
    if "market" not in decoded.column_names:
        return None
    return pc.fill_null(decoded["market"].cast(pa.string()), ALL_MARKETS)


def release_markets(decoded: pa.Table) -> tuple[str, ...]:
    """The markets a release has rows for, sorted; empty for a statewide-only release."""
    markets = _markets_of(decoded)
    if markets is None:
        return ()
    return tuple(sorted(str(m) for m in pc.unique(markets).to_pylist() if m != ALL_MARKETS))


def statewide_rows(decoded: pa.Table) -> pa.Table:
    """The statewide rows of a release (``market == "*"``; all rows without a ``market`` column)."""
    markets = _markets_of(decoded)
    if markets is None:
        return decoded
    return decoded.filter(pc.equal(markets, ALL_MARKETS))


def market_rows(decoded: pa.Table, market: str) -> pa.Table:
    """One market's own rows of a release (empty when the release has none for it)."""
    markets = _markets_of(decoded)
    if markets is None:
        return decoded.slice(0, 0)
    return decoded.filter(pc.equal(markets, market))


def ratecard_markets(cells: Sequence[RateCell]) -> tuple[str, ...]:
    """The markets a rate card names, sorted; empty for a statewide card."""
    return tuple(sorted({c.market for c in cells if c.market != ALL_MARKETS}))


def parse_market_budgets(text: str) -> dict[str, float]:
    """``cleveland=100000,columbus=50000`` -> market -> budget in dollars.

    Raises:
        InputError: An entry that is not ``market=dollars``, a market named
            twice, or a budget that is not a positive number. Names the entry's
            position.
    """
    budgets: dict[str, float] = {}
    for position, part in enumerate(text.split(","), start=1):
        market, sep, amount = part.partition("=")
        market = market.strip()
        if not sep or not market:
            raise InputError(
                f"--market-budget: entry #{position} is not MARKET=DOLLARS",
                hint="e.g. --market-budget cleveland=100000,columbus=50000",
            )
        try:
            dollars = float(amount)
        except ValueError:
            dollars = math.nan
        if not math.isfinite(dollars) or dollars <= 0:
            raise InputError(f"--market-budget: budget #{position} must be a positive number")
        if market in budgets:
            raise InputError(f"--market-budget: market #{position} is named twice")
        budgets[market] = dollars
    return budgets


def market_budgets_cents(
    cells: Sequence[RateCell], budgets: Mapping[str, float] | None
) -> dict[str, int] | None:
    """Per-market budgets in whole cents, checked against the rate card's markets.

    Args:
        cells: The parsed rate card.
        budgets: Market -> dollars (:func:`parse_market_budgets`), or None.

    Returns:
        Market -> cents, or None without per-market budgets.

    Raises:
        InputError: The rate card names no market, or a budget names a market
            the rate card does not carry (one line, with the card's markets).
    """
    if budgets is None:
        return None
    known = ratecard_markets(cells)
    if not known:
        raise InputError(
            "--market-budget needs a rate card with a market column",
            hint="add a first column `market` to the rate card, or drop --market-budget",
        )
    for position, market in enumerate(budgets, start=1):
        if market not in known:
            raise InputError(
                f"--market-budget: market #{position} is not on the rate card",
                hint=f"rate-card markets: {', '.join(known)}",
            )
    return {m: math.floor(dollars * 100 + 1e-6) for m, dollars in budgets.items()}


def project_comparison(comparison: pa.Table, match_rates: pa.Table) -> pa.Table:
    """Project the comparison's reach to voters, statewide rows only.

    The campaign's voter counts are statewide: a market row's reach (a share
    of the market's households) has no voter count to scale, so its
    projection is left null rather than scaled by the whole state's voters.

    Args:
        comparison: :attr:`linkage.plan.PlanResult.comparison`.
        match_rates: :func:`linkage.report.match_rate_table` output.

    Returns:
        ``comparison`` with :func:`linkage.measure.project_to_voters`'s columns.
    """
    projected = project_to_voters(comparison, match_rates, columns=("reach",))
    if "market" not in projected.column_names:
        return projected
    statewide = pc.equal(projected["market"], ALL_MARKETS)
    for name in ("projected_reach_voters", "segment_voters", "match_rate"):
        if name in projected.column_names:
            column = projected[name]
            kept = pc.if_else(statewide, column, pa.scalar(None, column.type))
            projected = projected.set_column(projected.column_names.index(name), name, kept)
    return projected
