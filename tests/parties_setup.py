"""Shared test set-up: three party homes that know each other."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

ROLES = ("campaign", "matcher", "provider")


def introduce(root: Path, run: Callable[..., object], prefix: str) -> None:
    """``init`` a home per role under ``root`` and have each trust the other two.

    ``run`` invokes the CLI with the given arguments and fails the test itself
    on a non-zero exit (subprocess or CliRunner, as the caller prefers).
    """
    for role in ROLES:
        run(role, "init", "--home", root / role, "--name", f"{prefix}-{role}")
    for role in ROLES:
        for other in ROLES:
            if other != role:
                run(role, "trust", "--home", root / role, root / other / "card.json")


def assert_ok(result: tuple[object, ...]) -> None:
    """For CLI helpers returning ``(exit_code, ...)``: fail unless it is 0."""
    assert result[0] == 0, result
