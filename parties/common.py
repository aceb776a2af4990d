"""What every role shares: the party home, error handling and the common verbs.

A role command builds what it needs from the home and passes it down to
``linkage``; nothing here knows what a campaign or a provider does.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import pyarrow as pa
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from linkage.encode import (
    DEFAULT_DUMMY_RATE,
    LinkageSchema,
    Side,
    dummy_rows,
    encode_side_chunks,
    join_row_columns,
    load_schema,
    shipped_schema,
    shutdown_pools,
)
from linkage.errors import MessageError, NarwhalError, StateError
from linkage.io import (
    INPUT_COLUMN_KINDS,
    PartyHome,
    ShuffledParquet,
    copy_message,
    private_scratch,
    read_card,
    read_input_table,
    read_message_bytes,
    read_text,
    save_identity,
    save_secret,
    write_card,
    write_sealed_parquet,
)
from linkage.protocol import (
    LinkageKey,
    OpenedMessage,
    PartyCard,
    generate_identity,
    open_message,
    read_manifest,
)
from linkage.types import StageProgress, no_progress

ROLES = ("campaign", "matcher", "provider")

PIPE_WIDTH = 10_000
"""Console width when the stream is not a terminal: tables never wrap, text never does."""


def make_console(*, stderr: bool = False) -> Console:
    """A console for stdout (or stderr) that is plain when that stream is not a terminal.

    On a terminal, rich's defaults: colour, the terminal's width. In a pipe or
    a file, nothing a script has to undo: no colour, no markup codes, and no
    wrapping at 80 columns, so a long path stays on its one line.
    """
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, soft_wrap=True, width=PIPE_WIDTH, color_system=None, emoji=False)


console = make_console(stderr=True)
out = make_console()

P = ParamSpec("P")
R = TypeVar("R")


INTERRUPTED = (
    "narwhal: interrupted; the step stopped before it finished "
    "(no file is left half-written): run it again"
)
"""The one line Ctrl-C prints, whatever the step was doing (files are written atomically)."""

EXIT_INTERRUPTED = 130
"""The shell's convention for a process ended by SIGINT (128 + 2)."""


def check_home_role(home: Path, role: str) -> None:
    """Refuse a home that belongs to another role, before a command reads anything in it.

    A home that is not initialised (no card) or whose card cannot be read is
    left to the command, which says what is missing.

    Raises:
        StateError: The home's card names another role.
    """
    party = PartyHome(home)
    if not party.card_path.is_file():
        return
    try:
        owner = party.card().role
    except NarwhalError:
        return
    if owner != role:
        raise StateError(
            f"this is the {owner}'s home, not a {role}'s",
            file=str(home),
            hint=f"it is for `narwhal {owner}` steps; `narwhal {role}` takes the {role}'s --home",
        )


def _one_line_errors(func: Callable[P, R], role: str | None = None) -> Callable[P, R]:
    """Turn a NarwhalError or Ctrl-C into one line on stderr and its exit code (no traceback).

    On a role's app, a ``home`` of another role is refused first (:func:`check_home_role`).
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            home = kwargs.get("home")
            if role is not None and isinstance(home, Path):
                check_home_role(home, role)
            return func(*args, **kwargs)
        except NarwhalError as err:
            print(f"narwhal: error: {err}", file=sys.stderr)
            raise typer.Exit(err.exit_code) from None
        except KeyboardInterrupt:
            print(INTERRUPTED, file=sys.stderr)
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper


class NarwhalApp(typer.Typer):
    """A Typer app whose every command maps errors to exit codes the same way.

    Errors reach exit codes here, once, for every command registered on the
    app: a command cannot forget it. A :class:`NarwhalError` becomes one line
    on stderr (never a traceback, which could show a value) and its
    ``exit_code``; Ctrl-C becomes :data:`INTERRUPTED` and exit code 130;
    anything else is a bug and keeps its traceback, without locals. A role's
    app (``role`` set) also refuses a ``--home`` that belongs to another role.
    """

    def __init__(
        self, *, name: str, help: str, role: str | None = None, add_completion: bool = False
    ) -> None:
        self.role = role
        super().__init__(
            name=name,
            help=help,
            no_args_is_help=True,
            pretty_exceptions_show_locals=False,
            add_completion=add_completion,
        )

    def command(  # type: ignore[override]
        self, name: str | None = None, **settings: Any
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Register a command, wrapped so its errors become one line and an exit code."""
        register = super().command(name, **settings)

        def decorator(func: Callable[P, R]) -> Callable[P, R]:
            register(_one_line_errors(func, self.role))
            return func

        return decorator


def make_app(role: str, help_text: str) -> NarwhalApp:
    """A role's app with the verbs every role has (init, trust, open)."""
    app = NarwhalApp(
        name=role,
        role=role,
        help=f"{help_text}\n\nExample: narwhal {role} init --home ./{role} --name my-{role}",
    )
    _add_common_commands(app, role)
    return app


HomeOpt = Annotated[Path, typer.Option("--home", help="The party's home directory.")]
ExchangeOpt = Annotated[
    str, typer.Option("--exchange", help="Exchange id agreed out of band (e.g. oh-2026-10).")
]
SchemaOpt = Annotated[
    Path | None,
    typer.Option(
        "--schema",
        help="Linkage schema (TOML) both tokenizers use; default: the shipped voters_subscribers.",
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", min=1, help="Processes for tokenizing; default: one per CPU."),
]
EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine",
        help="duckdb (default) or spark: the master in $NARWHAL_SPARK_MASTER (default "
        "local[2]), shared scratch in $NARWHAL_SPARK_SCRATCH (docs/SCALE.md).",
    ),
]


def load_link_schema(path: Path | None) -> LinkageSchema:
    """The linkage schema at ``path``, or the shipped voters_subscribers schema."""
    if path is None:
        return shipped_schema()
    return load_schema(read_text(path), file=str(path))


def progress_bar(on: Console = console, *, bold: bool = False) -> Progress:
    """A transient progress bar (count, elapsed); on stderr unless told otherwise.

    Results go to stdout, so by default progress stays out of a pipe's way.
    """
    return Progress(
        TextColumn("[bold]{task.description}" if bold else "{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=on,
        transient=True,
    )


@dataclass(frozen=True)
class TokenRun:
    """One side's tokenize run: who seals, for whom, under which key.

    Both tokenizers are one skeleton around one role-specific step (segment
    codes, household pseudonyms): :meth:`start` checks the keys and the
    matcher's card before the long work, :meth:`read` reads and checks the
    side's file, and :func:`write_token_message` encodes and seals it.

    Attributes:
        home: The sender's home.
        exchange: Exchange id (validated).
        kind: Message kind (``campaign-tokens`` / ``provider-tokens``).
        side: The side of the linkage schema this role reads (``a`` / ``b``).
        key: The linkage key agreed with the other data holder.
        recipient: The matcher's card.
    """

    home: PartyHome
    exchange: str
    kind: str
    side: Side
    key: LinkageKey
    recipient: PartyCard

    @classmethod
    def start(cls, h: PartyHome, exchange: str, kind: str, side: Side, peer: str) -> TokenRun:
        """Check this party's keys and the matcher's card; agree the key with ``peer``."""
        h.identity()  # fail before the long work if the keys are unreadable
        recipient = h.peer("matcher")
        key = h.linkage_key(peer, exchange)
        return cls(h, exchange, kind, side, key, recipient)

    @property
    def target(self) -> Path:
        """The outbox message this run writes."""
        return self.home.outbox_message(self.exchange, self.kind)

    def read(
        self,
        records: Path,
        schema: Path | None,
        *,
        id_column: str,
        default_columns: tuple[str, ...],
    ) -> tuple[LinkageSchema, pa.Table]:
        """The linkage schema and the side's checked records (``id_column`` unique)."""
        link_schema = load_link_schema(schema)
        table = read_input_table(
            records,
            # The default schema's phone and e-mail columns are optional, as before.
            required=(
                default_columns
                if schema is None
                else (id_column, *link_schema.side_columns(self.side))
            ),
            unique=id_column,
            # A column a custom schema reads is typed by its field (a birth date
            # given as text is parsed, messy or not), not by its name.
            kinds=INPUT_COLUMN_KINDS if schema is None else link_schema.input_kinds(self.side),
        )
        return link_schema, table


def write_token_message(
    run: TokenRun,
    link_schema: LinkageSchema,
    table: pa.Table,
    columns: pa.Table,
    *,
    workers: int | None,
    before_publish: Callable[[], None] = lambda: None,
    dummy_rate: float = DEFAULT_DUMMY_RATE,
    keep_dummies: Callable[[pa.Array], None] = lambda ids: None,
    dummy_ids: Callable[[int], Sequence[str]] | None = None,
    progress: StageProgress = no_progress,
    tokens: Iterable[pa.Table] | None = None,
) -> Path:
    """Encode ``table`` and seal it, joined row by row with ``columns``, into the outbox.

    Rows go through a private on-disk shuffle (every order equally likely, so
    the payload's order leaks no sort key of the input) and are sealed
    chunk by chunk: memory holds one token chunk and one shuffle bucket,
    not the payload. Nothing is published until the whole payload has been
    built and checked against the kind's allow-list; ``before_publish`` then
    writes the command's own state, and the message is written last.

    Dummy rows (:func:`linkage.encode.dummy_rows`, ``dummy_rate`` per real
    row) are shuffled in with the real ones, so each token's row count the
    matcher sees is noisy; a dummy's id is random, in the real ids' format,
    and is mapped to no voter or household in the sender's state.

    Args:
        run: The started run (keys, recipient, side).
        link_schema: The linkage schema both sides use.
        table: The side's records (row order matches ``columns``).
        columns: Per-row columns known up front (``rid``, ``segments``, ``hp``).
        workers: Tokenizing processes; None: one per CPU.
        before_publish: Writes that must precede the message.
        dummy_rate: Dummies per real row, at most 1 (0: none).
        keep_dummies: Given the dummies' ids before ``before_publish``, to
            keep them in the sender's private state (they are never sent).
        progress: Told each stage (rows tokenized of all, then the uncounted rest).
        tokens: ``table``'s token chunks in row order, already encoded under
            ``run.key`` (e.g. :func:`linkage.encode.encode_normalized_chunks` of
            fields reused from last week); None: encoded here.

    Returns:
        The message path.
    """
    if tokens is None:
        tokens = encode_side_chunks(
            table, link_schema, run.side, run.key, workers=workers, progress=progress
        )
    with private_scratch(run.home.root / "state") as scratch:
        payload = scratch / "payload.parquet"
        with ShuffledParquet(payload, scratch) as shuffled:
            for part in join_row_columns(columns, tokens):
                shuffled.write(part)
            progress("making dummy rows", 0, None)
            dummies = dummy_rows(
                table,
                columns,
                link_schema,
                run.side,
                run.key,
                rate=dummy_rate,
                workers=workers,
                make_ids=dummy_ids,
            )
            # The encoding is done: the workers' memory is not needed to shuffle and seal.
            shutdown_pools()
            if dummies.payload.num_rows:
                shuffled.write(dummies.payload)
            progress("shuffling", 0, None)

        def publish() -> None:
            keep_dummies(dummies.ids)
            before_publish()

        progress("checking and sealing the payload", 0, None)
        write_sealed_parquet(
            run.target,
            payload,
            kind=run.kind,
            exchange_id=run.exchange,
            sender=run.home.identity(),
            recipient=run.recipient,
            before_publish=publish,
        )
    return run.target


def require_home(home: Path) -> PartyHome:
    h = PartyHome(home)
    if not h.root.is_dir():
        raise StateError("home directory does not exist", file=str(home))
    return h


def _add_common_commands(app: typer.Typer, role: str) -> None:
    @app.command(
        "init",
        help="Create signing and key-agreement keys (mode 0600) and a public card.\n\n"
        f"Example: narwhal {role} init --home ./{role} --name my-{role}",
    )
    def init(
        home: HomeOpt,
        name: Annotated[str, typer.Option("--name", help="Your organisation's name.")],
    ) -> None:
        h = PartyHome(home)
        if h.card_path.exists():
            raise StateError(
                "home already initialised",
                file=str(home),
                hint="use a new --home directory; there is no --force: new keys would "
                "invalidate the card every other party trusts and every exchange in progress",
            )
        h.create_dirs()
        identity = generate_identity(name, role)
        save_identity(h.keys, identity)
        if role == "provider":
            from linkage.release import LedgerStore  # the provider's alone: DP libraries

            save_secret(h.secret_path)
            LedgerStore.initialise(h.ledger)
        write_card(h.card_path, identity.card())
        out.print(f"{role} home ready: {h.card_path} (fingerprint {identity.card().fingerprint})")

    @app.command(
        "trust",
        help="Import another party's public card (exchanged out of band).\n\n"
        f"Example: narwhal {role} trust --home ./{role} ../other/card.json",
    )
    def trust(
        home: HomeOpt,
        card: Annotated[Path, typer.Argument(help="Another party's card.json.")],
        org: Annotated[
            str | None,
            typer.Option(
                "--org",
                help="Provider only: register a campaign card under this organisation id; "
                "every card of one organisation spends one privacy budget.",
            ),
        ] = None,
    ) -> None:
        h = require_home(home)
        h.identity()
        theirs = read_card(card)
        if theirs.fingerprint == h.card().fingerprint:
            raise StateError("that is this party's own card", file=str(card))
        registry = None
        if org is not None:
            if role != "provider" or theirs.role != "campaign":
                raise StateError("--org registers a campaign card with a provider only")
            from linkage.release import load_orgs  # the provider's alone: DP libraries

            registry = load_orgs(h.orgs_path).register(theirs.fingerprint, org)
        elif role == "provider" and theirs.role == "campaign":
            from linkage.release import load_orgs

            if theirs.fingerprint not in load_orgs(h.orgs_path).cards:
                # Without an organisation its releases have no budget to spend:
                # refused here, not after aggregate has read the viewing log.
                raise StateError(
                    "a campaign card needs its organisation at the provider (one privacy "
                    "budget per organisation)",
                    hint=f"run `narwhal provider trust --home {home} {card} --org NAME`",
                )
        target = h.contacts / f"{theirs.role}-{theirs.fingerprint}.json"
        if theirs.role in ("matcher", "provider"):
            # Each step needs exactly one matcher and one provider (a provider
            # may serve many campaigns): a second card would fail the next step.
            others = [p for p in h.contacts.glob(f"{theirs.role}-*.json") if p != target]
            if others:
                raise StateError(
                    f"this home already trusts a {theirs.role} card ({others[0].name})",
                    file=str(card),
                    hint=f"delete {others[0]} first to replace it",
                )
        write_card(target, theirs)
        if registry is not None:
            from linkage.release import save_orgs

            save_orgs(h.orgs_path, registry)
        joined = f" in organisation {org}" if org is not None else ""
        out.print(f"trusted {theirs.role} {theirs.name!r} ({theirs.fingerprint}){joined}")
        out.print(f"next: `narwhal status --home {home}` says what this party does next")

    @app.command(
        "open",
        help="Verify a message addressed to this party; show its manifest and first rows.\n\n"
        f"Example: narwhal {role} open --home ./{role} ./{role}/inbox/x1.viewership.nwl",
    )
    def open_(
        home: HomeOpt,
        message: Annotated[Path, typer.Argument(help="A .nwl message addressed to this party.")],
        rows: Annotated[int, typer.Option("--rows", help="Payload rows to show.")] = 5,
    ) -> None:
        h = require_home(home)
        data = read_message_bytes(message)
        manifest = read_manifest(data, file=str(message))
        opened = open_message(
            data,
            me=h.identity(),
            contacts=h.trusted(),
            expected_kind=manifest.kind,
            expected_exchange=manifest.exchange_id,
            file=str(message),
        )
        show_opened(opened, rows=rows)


def show_opened(opened: OpenedMessage, *, rows: int = 5) -> None:
    m = opened.manifest
    out.print(f"[bold]verified[/bold] {m.kind} for exchange {m.exchange_id}")
    meta = Table(show_header=False)
    for key, value in (
        ("sender", f"{opened.sender.name} ({opened.sender.role}, {m.sender})"),
        ("recipient", m.recipient),
        ("rows", str(m.rows)),
        ("columns", ", ".join(m.columns)),
        ("created", m.created_at.isoformat()),
        ("sha256", m.payload_sha256),
    ):
        meta.add_row(key, value)
    out.print(meta)
    head = opened.table.slice(0, max(rows, 0))
    preview = Table(*head.column_names)
    for row in head.to_pylist():
        preview.add_row(*(_cell(v) for v in row.values()))
    out.print(preview)


def _cell(value: object) -> str:
    if isinstance(value, bytes):
        return value.hex()[:16] + "…"
    return str(value)


def deliver(src: Path, dst_inbox: Path) -> Path:
    """Copy a message from an outbox to an inbox (stands in for SFTP/e-mail)."""
    if not src.exists():
        raise MessageError("message not found", file=str(src))
    target = dst_inbox / src.name
    copy_message(src, target)
    return target
