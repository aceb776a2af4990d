"""The ``narwhal`` entry point: one sub-app per role, plus synth, demo and audit.

``narwhal <role> ...`` imports only that role's module: a party step is its
own process, and loading the other roles' libraries (the matcher's
recordlinkage and numba, the campaign's matplotlib and CBC) cost seconds per
step. ``narwhal --help`` and the other commands load everything.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import sys
from pathlib import Path
from typing import Annotated

import typer

from linkage.errors import StateError
from parties.common import EXIT_INTERRUPTED, INTERRUPTED, NarwhalApp, out

ROLE_MODULES = {
    "campaign": "parties.campaign",
    "matcher": "parties.matcher",
    "provider": "parties.provider",
}

_app = NarwhalApp(
    name="narwhal",
    help=(
        "Privacy-preserving record linkage for TV audience measurement.\n\n"
        "Three parties (campaign, matcher, provider) each run their own role and exchange "
        "only keyed tokens, random codes and pseudonyms in encrypted, signed files.\n\n"
        "Example: narwhal demo --out build/demo"
    ),
    add_completion=True,
)


def _version(show: bool) -> None:
    if show:
        out.print(f"narwhal {importlib.metadata.version('narwhal')}", highlight=False)
        raise typer.Exit()


@_app.callback()
def _top(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Print the installed version and exit.",
        ),
    ] = False,
) -> None:
    """Privacy-preserving record linkage for TV audience measurement."""


def _role_app(role: str) -> typer.Typer:
    module = importlib.import_module(ROLE_MODULES[role])
    role_app: typer.Typer = module.app
    return role_app


@functools.cache
def full_app() -> typer.Typer:
    """The whole CLI: synth, demo, audit and every role's sub-app (imports them all)."""
    for role in ROLE_MODULES:
        _app.add_typer(_role_app(role), name=role)
    from parties import schema_check

    _app.add_typer(schema_check.app, name="schema")
    return _app


def __getattr__(name: str) -> typer.Typer:
    # ``from parties.cli import app`` (tests, embedding) gets the whole CLI;
    # only the console entry point takes the one-role shortcut.
    if name == "app":
        return full_app()
    raise AttributeError(name)


@_app.command("synth")
def synth(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the world.")],
    voters: Annotated[int, typer.Option("--voters", min=1, help="Registered voters.")] = 50_000,
    days: Annotated[
        int,
        typer.Option(
            "--days",
            min=1,
            help="Days of tuning events; every 7 days after the first week add that week's "
            "refreshed voter file (voters_week2.parquet, ...).",
        ),
    ] = 7,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same world).")] = 0,
) -> None:
    """Make a reproducible synthetic world with ground truth; print each party's files.

    Example: narwhal synth --out world --voters 50000 --days 7 --seed 1
    """
    from parties import world

    world.make_world(out_dir, voters=voters, days=days, seed=seed)
    for line in world.world_guide(out_dir, days=days):
        out.print(line, soft_wrap=True, markup=False, highlight=False)


@_app.command("demo")
def demo_(
    out_dir: Annotated[Path, typer.Option("--out", help="Demo directory.")] = Path("build/demo"),
    voters: Annotated[
        int,
        typer.Option(
            "--voters",
            help="Registered voters, at least 3,000. The default is large enough for "
            "differentially private figures to be useful for the main segments; small worlds "
            "give mostly noise.",
        ),
    ] = 200_000,
    days: Annotated[
        int,
        typer.Option(
            "--days",
            min=1,
            help="Days of tuning events. From 14 on, the demo runs a two-week panel: week 1's "
            "plan airs in week 2, which brings the trend, retention and post-buy delivery.",
        ),
    ] = 14,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 7,
) -> None:
    """Run the whole exchange: synth, three party homes, every step as its own process.

    Example: narwhal demo --out build/demo --voters 200000
    """
    from parties import demo

    demo.run_demo(out_dir, voters=voters, days=days, seed=seed)


@_app.command("status")
def status_(
    home: Annotated[Path, typer.Option("--home", help="The party's home directory.")],
    exchange: Annotated[
        str | None, typer.Option("--exchange", help="One exchange (default: every one found).")
    ] = None,
) -> None:
    """Say what a party has for an exchange, what to send to whom, and the next command.

    Example: narwhal status --home ./campaign --exchange oh-2026-10
    """
    from parties import status

    status.show_status(home, exchange)


@_app.command("audit")
def audit(
    directory: Annotated[
        Path | None,
        typer.Argument(
            help="Shorthand: a demo directory holding campaign/, matcher/, provider/ and "
            "world/ (as `narwhal demo` lays it out).",
            show_default=False,
        ),
    ] = None,
    campaign: Annotated[
        Path | None, typer.Option("--campaign", help="The campaign's home.")
    ] = None,
    matcher: Annotated[Path | None, typer.Option("--matcher", help="The matcher's home.")] = None,
    provider: Annotated[
        Path | None, typer.Option("--provider", help="The provider's home.")
    ] = None,
    world: Annotated[
        Path | None,
        typer.Option(
            "--world", help="The synthetic world (the auditor's truth); default DIRECTORY/world."
        ),
    ] = None,
) -> None:
    """Privacy audit of an exchange: one PASS/FAIL/SKIP line per check, exit 1 on any failure.

    A check that had nothing to check says SKIP and why; it never passes.

    Example: narwhal audit --campaign c --matcher m --provider p --world world
    """
    from parties import audit as audit_mod

    named = {"campaign": campaign, "matcher": matcher, "provider": provider}
    homes = {role: path for role, path in named.items() if path is not None}
    if directory is not None and not homes:
        raise typer.Exit(audit_mod.run_audit(directory, world))
    if directory is not None or len(homes) != len(named) or world is None:
        raise StateError(
            "give either a demo DIRECTORY, or all of --campaign, --matcher, --provider and --world",
            hint="narwhal audit --campaign C --matcher M --provider P --world W",
        )
    raise typer.Exit(audit_mod.run_homes_audit(homes, world))


def main() -> None:
    """Console-script entry point.

    Ctrl-C inside a command is the command's (one line, exit 130); this
    catches it anywhere else (importing, parsing) the same way.
    """
    args = sys.argv[1:]
    try:
        if args and args[0] in ROLE_MODULES:
            _role_app(args[0])(args=args[1:], prog_name=f"narwhal {args[0]}")
            return
        full_app()()
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
