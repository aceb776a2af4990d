"""``narwhal audit``: run the privacy audit on three party homes and print one line per check.

The checks and attacks are library code (:mod:`linkage.audit`); this module
only finds the homes and knows the terminal. The homes are named explicitly
(``--campaign``, ``--matcher``, ``--provider`` and the world), or, as a
shorthand, a demo directory that holds ``campaign/``, ``matcher/`` and
``provider/`` homes beside ``world/``; anything else is refused rather than
audited as empty. Each line is PASS, FAIL or SKIP (a check that had nothing
to check), the check's name and its figure; the exit code is 1 on any failure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from rich.markup import escape

from linkage.audit import AUDITED_ROLES, CheckResult, audit
from linkage.errors import NarwhalError, StateError
from linkage.io import PartyHome
from parties.common import out


def load_homes(paths: Mapping[str, Path]) -> dict[str, PartyHome]:
    """Each audited role's home, checked to be a party home of that role.

    Raises:
        StateError: A role has no path, or its path is not that role's party home.
    """
    homes: dict[str, PartyHome] = {}
    for role in AUDITED_ROLES:
        if role not in paths:
            raise StateError(f"no {role} home given", hint=f"pass --{role} HOME")
        home = PartyHome(paths[role])
        if not home.card_path.is_file():
            raise StateError(
                f"not a party home (no card.json), so not the {role}'s",
                file=str(home.root),
                hint=f"pass the {role}'s home with --{role}",
            )
        owner = home.card().role
        if owner != role:
            raise StateError(
                f"this is a {owner}'s home, given as the {role}'s",
                file=str(home.root),
                hint=f"pass the {role}'s home with --{role}",
            )
        homes[role] = home
    return homes


def directory_homes(root: Path) -> dict[str, Path]:
    """The demo layout's homes (``root/campaign`` ...), when ``root`` holds all three.

    Raises:
        StateError: ``root`` does not hold one party home per role under the role's
            name; the homes must then be named explicitly.
    """
    paths = {role: root / role for role in AUDITED_ROLES}
    missing = [role for role, path in paths.items() if not (path / "card.json").is_file()]
    if missing:
        raise StateError(
            f"holds no {', '.join(missing)} home under that name",
            file=str(root),
            hint="name the homes: narwhal audit --campaign C --matcher M --provider P --world W",
        )
    return paths


def audit_homes(homes: Mapping[str, PartyHome], world: Path) -> list[CheckResult]:
    """Run every check on the three homes and return the results (no printing).

    Raises:
        StateError: No home holds an inbox message: there is nothing to audit,
            and every check would pass on no input.
        NarwhalError: The homes cannot be loaded at all (bad keys).
    """
    if not any(home.inbox.is_dir() and any(home.inbox.glob("*.nwl")) for home in homes.values()):
        raise StateError(
            "nothing to audit: no home's inbox holds a message",
            hint="run the exchange first, or name the homes that ran it",
        )
    return audit(homes, world)


def audit_directory(root: Path, world: Path | None = None) -> list[CheckResult]:
    """Run every check on a demo directory and return the results (no printing).

    Args:
        root: The directory holding the campaign, matcher and provider homes.
        world: The synthetic world's directory; default ``root / "world"``.

    Raises:
        NarwhalError: The directory does not hold the three homes, or they
            cannot be loaded at all.
    """
    return audit_homes(load_homes(directory_homes(root)), world or root / "world")


def run_audit(root: Path, world: Path | None = None) -> int:
    """Audit a demo directory; print one line per check; return the exit code (0 or 1)."""
    return _report(lambda: audit_directory(root, world))


def run_homes_audit(paths: Mapping[str, Path], world: Path) -> int:
    """Audit three named homes; print one line per check; return the exit code (0 or 1)."""
    return _report(lambda: audit_homes(load_homes(paths), world))


def _report(run: Callable[[], list[CheckResult]]) -> int:
    try:
        results = run()
    except NarwhalError as err:
        out.print(f"FAIL load: {escape(str(err))}", soft_wrap=True, highlight=False)
        return 1
    colour = {"PASS": "green", "FAIL": "red", "SKIP": "yellow"}
    for result in results:
        mark = f"[{colour[result.status]}]{result.status}[/{colour[result.status]}]"
        line = f"{mark} {result.name:<15} {escape(result.detail)}"
        out.print(line, soft_wrap=True, highlight=False)
    failed = sum(r.status == "FAIL" for r in results)
    skipped = sum(r.status == "SKIP" for r in results)
    tail = f", {skipped} skipped (nothing to check)" if skipped else ""
    passed = len(results) - failed - skipped
    out.print(f"{passed}/{len(results)} checks passed{tail}", soft_wrap=True)
    return 1 if failed else 0


__all__ = [
    "audit_directory",
    "audit_homes",
    "directory_homes",
    "load_homes",
    "run_audit",
    "run_homes_audit",
]
