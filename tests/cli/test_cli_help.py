"""Every narwhal command answers --help with a usage example."""

from __future__ import annotations

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from parties.cli import app


def _paths(group: TyperGroup, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, TyperGroup):
            found += _paths(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


ROOT = typer.main.get_group(app)
assert isinstance(ROOT, TyperGroup)
COMMANDS = _paths(ROOT)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "narwhal")
def test_help_has_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example: narwhal" in result.output, " ".join(path)
