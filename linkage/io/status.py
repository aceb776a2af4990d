"""Where a party stands in an exchange: what it has, what to send, what comes next.

:func:`exchange_status` reads a party home (file names and the replay
guard; never a payload, so no key is needed and nothing is decrypted) and
returns a small :class:`ExchangeStatus`. ``narwhal status`` prints it, and
every party step ends with its :meth:`ExchangeStatus.next_line`, so the path
through an exchange is told the same way everywhere.

Each role's path, as the home shows it:

* campaign: ``tokenize`` (state, then ``segments`` and ``campaign-tokens``
  in the outbox) -> the ``match-report`` from the matcher, the
  ``viewership`` and release receipt from the provider -> ``plan``
  (optional) -> ``report`` (a countersigned receipt for the matcher).
* matcher: both token messages -> ``link`` (``assignments`` for the
  provider, ``match-report`` for the campaign) -> the countersigned receipt
  from the campaign -> ``witness``.
* provider: ``tokenize`` (``provider-tokens`` for the matcher) -> the
  ``segments`` from the campaign and the ``assignments`` from the matcher
  -> ``aggregate`` (``viewership`` and a receipt for the campaign).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from linkage.errors import StateError
from linkage.io.home import PartyHome
from linkage.io.messages import load_seen

__all__ = ["Awaited", "ExchangeStatus", "Handoff", "exchange_ids", "exchange_status"]

_MESSAGE_NAME = re.compile(r"(?P<exchange>.+)\.(?P<kind>[a-z-]+)\.(nwl|json)")


@dataclass(frozen=True)
class Handoff:
    """A file in the outbox that goes to another party.

    Attributes:
        path: The file.
        recipient: The recipient's role.
        name: The recipient's name on its trusted card (None when this home
            trusts no single card of that role).
    """

    path: Path
    recipient: str
    name: str | None = None

    def describe(self) -> str:
        """``PATH to the ROLE (NAME)``."""
        who = f"the {self.recipient}" + (f" ({self.name})" if self.name else "")
        return f"{self.path} to {who}"


@dataclass(frozen=True)
class Awaited:
    """A message this party waits for.

    Attributes:
        kind: Message kind (``viewership``, ``release-receipt``, ...).
        sender: The sender's role.
        path: Where it is expected (the inbox file name).
    """

    kind: str
    sender: str
    path: Path

    def describe(self) -> str:
        """``the KIND from the ROLE``."""
        return f"the {self.kind} from the {self.sender}"


@dataclass(frozen=True)
class ExchangeStatus:
    """One party's view of one exchange.

    Attributes:
        role: The party's role (from its card).
        exchange: The exchange id.
        have: What the home holds for the exchange, one phrase each
            (``"state: ..."``, ``"inbox: ..."``, ``"outbox: ..."``).
        send: Outbox files still to hand on, with their recipients.
        waiting: Messages the next step needs and the inbox lacks.
        commands: The next commands, in order (placeholders in capitals).
        done: This side of the exchange has nothing left to run.
    """

    role: str
    exchange: str
    have: tuple[str, ...]
    send: tuple[Handoff, ...]
    waiting: tuple[Awaited, ...]
    commands: tuple[str, ...]
    done: bool = False

    def next_line(self) -> str:
        """The one line a step ends with: ``next: send X to the provider; then run ...``."""
        parts: list[str] = []
        if self.send:
            parts.append("send " + _and(h.describe() for h in self.send))
        if self.waiting:
            parts.append("wait for " + _and(a.describe() for a in self.waiting))
        if self.commands:
            parts.append("run " + _and((f"`{c}`" for c in self.commands), "; then "))
        if not parts:
            return f"next: nothing; exchange {self.exchange} is done on the {self.role}'s side"
        return "next: " + "; then ".join(parts)


def _and(items: Iterable[str], last: str = " and ") -> str:
    words = list(items)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + last + words[-1]


def exchange_ids(home: PartyHome) -> list[str]:
    """Every exchange the home has state or messages for, sorted."""
    found: set[str] = set()
    state = home.root / "state"
    if state.is_dir():
        found.update(p.name for p in state.iterdir() if p.is_dir() and not p.name.startswith("."))
    for box in (home.inbox, home.outbox):
        if box.is_dir():
            for p in box.iterdir():
                match = _MESSAGE_NAME.fullmatch(p.name)
                if match and not p.name.startswith("."):
                    found.add(match["exchange"])
    return sorted(found)


def exchange_status(home: PartyHome, exchange: str) -> ExchangeStatus:
    """What ``home`` has for ``exchange``, what it should send to whom, and what comes next.

    Reads file names, the replay guard and (matcher) the witness log; opens
    no message.

    Raises:
        StateError: ``home`` is not an initialised party home.
    """
    if not home.card_path.is_file():
        raise StateError(
            "not a party home (no card.json)",
            file=str(home.root),
            hint="run `narwhal <role> init --home DIR --name NAME` first",
        )
    role = json.loads(home.card_path.read_text(encoding="utf-8")).get("role")
    views = {"campaign": _campaign, "matcher": _matcher, "provider": _provider}
    if role not in views:
        raise StateError("card.json names no known role", file=str(home.card_path))
    return views[role](_View(home, exchange))


@dataclass(frozen=True)
class _View:
    """The home's files for one exchange, and the phrases and commands built from them."""

    home: PartyHome
    exchange: str

    def outbox(self, kind: str) -> Path:
        if kind == "release-receipt":
            return self.home.outbox_receipt(self.exchange)
        return self.home.outbox_message(self.exchange, kind)

    def inbox(self, kind: str) -> Path:
        if kind == "release-receipt":
            return self.home.inbox_receipt(self.exchange)
        return self.home.inbox_message(self.exchange, kind)

    def consumed(self, kind: str) -> bool:
        """Some step already consumed a ``kind`` message of this exchange."""
        guard = load_seen(self.home.seen_path(self.exchange))
        return any(e.exchange_id == self.exchange and e.kind == kind for e in guard.entries)

    def have(self) -> list[str]:
        held = []
        state = self.home.state(self.exchange)
        if state.is_dir():
            held += [f"state: {p}" for p in sorted(state.iterdir()) if not p.name.startswith(".")]
        for box, label in ((self.home.inbox, "inbox"), (self.home.outbox, "outbox")):
            if box.is_dir():
                held += [
                    f"{label}: {p}"
                    for p in sorted(box.glob(f"{self.exchange}.*"))
                    if _MESSAGE_NAME.fullmatch(p.name)
                ]
        return held

    def handoff(self, kind: str, recipient: str) -> Handoff:
        cards = [c for c in _trusted_cards(self.home) if c[0] == recipient]
        return Handoff(self.outbox(kind), recipient, cards[0][1] if len(cards) == 1 else None)

    def awaited(self, kind: str, sender: str) -> Awaited:
        return Awaited(kind, sender, self.inbox(kind))

    def command(self, role: str, verb: str, *options: str) -> str:
        words = ["narwhal", role, verb, "--home", shlex.quote(str(self.home.root)), *options]
        return " ".join(words)

    def status(
        self,
        role: str,
        send: list[Handoff],
        waiting: list[Awaited],
        commands: list[str],
        *,
        done: bool = False,
    ) -> ExchangeStatus:
        return ExchangeStatus(
            role, self.exchange, tuple(self.have()), tuple(send), tuple(waiting),
            tuple(commands), done,
        )  # fmt: skip


def _trusted_cards(home: PartyHome) -> list[tuple[str, str]]:
    """(role, name) of every trusted card; an unreadable card is left out."""
    if not home.contacts.is_dir():
        return []
    cards = []
    for path in sorted(home.contacts.glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict):
            cards.append((str(doc.get("role")), str(doc.get("name"))))
    return cards


def _campaign(v: _View) -> ExchangeStatus:
    x = v.exchange
    tokenize = v.command(
        "campaign", "tokenize", "--voters VOTERS --segments SEGMENTS.toml", f"--exchange {x}"
    )
    sent = [v.handoff("campaign-tokens", "matcher"), v.handoff("segments", "provider")]
    if not v.home.segment_codes_path(x).is_file() or not all(h.path.is_file() for h in sent):
        return v.status("campaign", [], [], [tokenize])
    if v.outbox("release-receipt").is_file():
        # Reported: the countersigned receipt is the campaign's last hand-off.
        return v.status("campaign", [v.handoff("release-receipt", "matcher")], [], [], done=True)
    expected = [
        v.awaited("match-report", "matcher"),
        v.awaited("viewership", "provider"),
        v.awaited("release-receipt", "provider"),
    ]
    waiting = [a for a in expected if not a.path.is_file()]
    # A message back from a peer shows it got what it needed from this side.
    send = [
        h
        for h, answer in zip(sent, ("match-report", "viewership"), strict=True)
        if not v.inbox(answer).is_file()
    ]
    report = v.command(
        "campaign", "report", f"--exchange {x} --ratecard RATECARD.csv --out REPORT_DIR"
    )
    if waiting:
        return v.status("campaign", send, waiting, [])
    if v.consumed("viewership"):  # planned already; the report is next
        return v.status("campaign", [], [], [report])
    plan = v.command(
        "campaign", "plan", f"--exchange {x}",
        "--ratecard RATECARD.csv --budget USD --target SEGMENTS --out REPORT_DIR",
    )  # fmt: skip
    return v.status("campaign", [], [], [plan, report])


def _matcher(v: _View) -> ExchangeStatus:
    x = v.exchange
    outputs = [v.handoff("assignments", "provider"), v.handoff("match-report", "campaign")]
    if not all(h.path.is_file() for h in outputs):
        expected = [
            v.awaited("campaign-tokens", "campaign"),
            v.awaited("provider-tokens", "provider"),
        ]
        waiting = [a for a in expected if not a.path.is_file()]
        link = v.command("matcher", "link", f"--exchange {x}")
        return v.status("matcher", [], waiting, [] if waiting else [link])
    receipt = v.inbox("release-receipt")
    if not receipt.is_file():
        return v.status("matcher", outputs, [v.awaited("release-receipt", "campaign")], [])
    if _witnessed(v.home.witness_log, receipt):
        return v.status("matcher", [], [], [], done=True)
    witness = v.command("matcher", "witness", "--receipt", shlex.quote(str(receipt)))
    return v.status("matcher", [], [], [witness])


def _witnessed(log: Path, receipt: Path) -> bool:
    """The receipt's countersignature is already in the witness log."""
    try:
        signature = json.loads(receipt.read_text(encoding="utf-8")).get("campaign_signature")
        lines = log.read_text(encoding="utf-8").splitlines() if log.is_file() else []
    except (OSError, ValueError, AttributeError):
        return False
    for line in lines:
        try:
            if signature and json.loads(line).get("campaign_signature") == signature:
                return True
        except (ValueError, AttributeError):
            continue
    return False


def _provider(v: _View) -> ExchangeStatus:
    x = v.exchange
    released = [v.handoff("viewership", "campaign"), v.handoff("release-receipt", "campaign")]
    if all(h.path.is_file() for h in released):
        return v.status("provider", released, [], [], done=True)
    tokens = v.handoff("provider-tokens", "matcher")
    tokenize = v.command("provider", "tokenize", "--subscribers SUBSCRIBERS", f"--exchange {x}")
    expected = [v.awaited("segments", "campaign"), v.awaited("assignments", "matcher")]
    waiting = [a for a in expected if not a.path.is_file()]
    if not waiting:
        aggregate = v.command(
            "provider", "aggregate", "--viewing VIEWING --channels CHANNELS.csv",
            f"--period FIRST..LAST --exchange {x}",
        )  # fmt: skip
        return v.status("provider", [], [], [aggregate])
    if not tokens.path.is_file():
        return v.status("provider", [], [], [tokenize])
    # The matcher's links show it has the tokens already.
    send = [] if v.inbox("assignments").is_file() else [tokens]
    return v.status("provider", send, waiting, [])
