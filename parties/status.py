"""``narwhal status``: where a party stands in its exchanges, and the line every step ends with.

The reading is :func:`linkage.io.exchange_status`'s; this module only prints
it, so ``status`` and the last line of each step say the same thing.
"""

from __future__ import annotations

from pathlib import Path

from linkage.errors import InputError
from linkage.io import ExchangeStatus, PartyHome, exchange_ids, exchange_status
from linkage.protocol import validate_exchange_id
from parties.common import out, require_home

# Stands in for the id in the commands shown before any exchange has started.
_NO_EXCHANGE = "EXCHANGE"


def print_next(home: PartyHome, exchange: str) -> None:
    """The one line a step ends with: what to send to whom, and the next command."""
    _line(exchange_status(home, exchange).next_line())


def show_status(home: Path, exchange: str | None) -> None:
    """Print, per exchange of ``home`` (or just ``exchange``), what it has and what comes next."""
    h = require_home(home)
    known = exchange_ids(h)
    if exchange is not None and validate_exchange_id(exchange) not in known and known:
        # A typo'd id would read as "nothing yet" and send the user to start over.
        raise InputError(
            "this home has no exchange of that id",
            hint=f"its exchanges: {', '.join(known)}",
        )
    ids = [exchange] if exchange is not None else known
    if not ids:
        first = exchange_status(h, _NO_EXCHANGE)
        _line(f"{first.role} home {h.root}: no exchange yet")
        _line(first.next_line())
        return
    for position, x in enumerate(ids):
        if position:
            _line("")
        _show(h, exchange_status(h, x))


def _show(h: PartyHome, status: ExchangeStatus) -> None:
    state = "done on this side" if status.done else "in progress"
    _line(f"{status.role} home {h.root}, exchange {status.exchange}: {state}")
    _section("has", status.have or ("nothing yet",))
    _section("send", [handoff.describe() for handoff in status.send])
    _section("waiting for", [f"{a.describe()} (expected at {a.path})" for a in status.waiting])
    _line(status.next_line())


def _section(title: str, lines: tuple[str, ...] | list[str]) -> None:
    if lines:
        _line(f"{title}:")
        for text in lines:
            _line(f"  {text}")


def _line(text: str) -> None:
    # Paths must survive a copy and paste: no markup, no highlighting, no wrapping.
    out.print(text, markup=False, highlight=False, soft_wrap=True)
