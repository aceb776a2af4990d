"""The ``narwhal`` entry point: one sub-app per role, plus synth, demo and audit.

``narwhal <role> ...`` imports only that role's module: a party step is its
own process, and loading the other roles' libraries (the matcher's
recordlinkage and numba, the campaign's matplotlib and CBC) cost seconds per
step. ``narwhal --help`` and the other commands load everything.
"""

from __future__ import annotations

import functools
import importlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from parties.common import NarwhalApp, out

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
)


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
    days: Annotated[int, typer.Option("--days", min=1, help="Days of tuning events.")] = 7,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same world).")] = 0,
) -> None:
    """Make a reproducible synthetic world with ground truth.

    Example: narwhal synth --out world --voters 50000 --days 7 --seed 1
    """
    from parties import world

    world.make_world(out_dir, voters=voters, days=days, seed=seed)
    out.print(f"world written to {out_dir}")


@_app.command("demo")
def demo_(
    out_dir: Annotated[Path, typer.Option("--out", help="Demo directory.")] = Path("build/demo"),
    voters: Annotated[
        int,
        typer.Option(
            "--voters",
            min=100,
            help="Registered voters. The default is large enough for differentially private "
            "figures to be useful for the main segments; small worlds give mostly noise.",
        ),
    ] = 200_000,
    days: Annotated[int, typer.Option("--days", min=1, help="Days of tuning events.")] = 7,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 7,
) -> None:
    """Run the whole exchange: synth, three party homes, every step as its own process.

    Example: narwhal demo --out build/demo --voters 200000
    """
    from parties import demo

    demo.run_demo(out_dir, voters=voters, days=days, seed=seed)


@_app.command("audit")
def audit(
    directory: Annotated[Path, typer.Argument(help="A demo directory holding party homes.")],
) -> None:
    """Privacy audit of an exchange: one pass/fail line per check, exit 1 on any failure.

    Example: narwhal audit build/demo
    """
    from parties import audit as audit_mod

    raise typer.Exit(audit_mod.run_audit(directory))


def main() -> None:
    """Console-script entry point."""
    args = sys.argv[1:]
    if args and args[0] in ROLE_MODULES:
        _role_app(args[0])(args=args[1:], prog_name=f"narwhal {args[0]}")
        return
    full_app()()


if __name__ == "__main__":
    main()
