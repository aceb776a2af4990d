"""``narwhal audit``: run the privacy audit on a demo directory and print one line per check.

The checks and attacks are library code (:mod:`linkage.audit`); this module
only knows the demo directory's layout (one home per role beside ``world/``)
and the terminal. Each line is PASS, FAIL or SKIP (a check that had nothing
to check), the check's name and its figure; the exit code is 1 on any failure.
"""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape

from linkage.audit import AUDITED_ROLES, CheckResult, audit
from linkage.errors import NarwhalError
from linkage.io import PartyHome
from parties.common import out


def audit_directory(root: Path, world: Path | None = None) -> list[CheckResult]:
    """Run every check on a demo directory and return the results (no printing).

    Args:
        root: The directory holding the campaign, matcher and provider homes.
        world: The synthetic world's directory; default ``root / "world"``.

    Raises:
        NarwhalError: The directory cannot be loaded at all (no homes, bad keys).
    """
    homes = {role: PartyHome(root / role) for role in AUDITED_ROLES}
    return audit(homes, world or root / "world")


def run_audit(root: Path, world: Path | None = None) -> int:
    """Run every check; print one line each; return the exit code (0 all pass, 1 any fail)."""
    try:
        results = audit_directory(root, world)
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


__all__ = ["audit_directory", "run_audit"]
