"""The ``narwhal`` entry point: one sub-app per role, plus synth, demo and audit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from parties import audit as audit_mod
from parties import campaign, demo, matcher, provider, world
from parties.common import fail_cleanly, out

app = typer.Typer(
    name="narwhal",
    help=(
        "Privacy-preserving record linkage for TV audience measurement.\n\n"
        "Three parties (campaign, matcher, provider) each run their own role and exchange "
        "only keyed tokens, random codes and pseudonyms in encrypted, signed files.\n\n"
        "Example: narwhal demo --out build/demo"
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
app.add_typer(campaign.app, name="campaign")
app.add_typer(matcher.app, name="matcher")
app.add_typer(provider.app, name="provider")


@app.command("synth")
@fail_cleanly
def synth(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the world.")],
    voters: Annotated[int, typer.Option("--voters", min=1, help="Registered voters.")] = 50_000,
    days: Annotated[int, typer.Option("--days", min=1, help="Days of tuning events.")] = 7,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same world).")] = 0,
) -> None:
    """Make a reproducible synthetic world with ground truth.

    Example: narwhal synth --out world --voters 50000 --days 7 --seed 1
    """
    world.make_world(out_dir, voters=voters, days=days, seed=seed)
    out.print(f"world written to {out_dir}")


@app.command("demo")
@fail_cleanly
def demo_(
    out_dir: Annotated[Path, typer.Option("--out", help="Demo directory.")] = Path("build/demo"),
    voters: Annotated[int, typer.Option("--voters", min=100, help="Registered voters.")] = 40_000,
    days: Annotated[int, typer.Option("--days", min=1, help="Days of tuning events.")] = 7,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 7,
) -> None:
    """Run the whole exchange: synth, three party homes, every step as its own process.

    Example: narwhal demo --out build/demo --voters 40000
    """
    demo.run_demo(out_dir, voters=voters, days=days, seed=seed)


@app.command("audit")
def audit(
    directory: Annotated[Path, typer.Argument(help="A demo directory holding party homes.")],
) -> None:
    """Privacy audit of an exchange: one pass/fail line per check, exit 1 on any failure.

    Example: narwhal audit build/demo
    """
    raise typer.Exit(audit_mod.run_audit(directory))


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
