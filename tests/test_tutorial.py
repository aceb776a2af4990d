"""docs/TUTORIAL.md replayed: every ``sh`` block in order, in an empty directory.

The tutorial is the newcomer's path through the exchange, so it must keep
working as the commands change. Each ``sh`` block runs in ``bash`` with the
working directory an empty temporary one and the running interpreter's
``bin`` (``.venv/bin``) first on ``PATH``, as a reader's shell would be after
``make`` and activating ``.venv``. A block must exit 0 and write every file
its **Writes:** paragraph names (a ``*`` pattern must match at least one
file); those files must not exist before it runs. A block preceded by ``<!-- expect-fail -->`` is a
failure the tutorial shows on purpose: it must exit non-zero with one line
and no traceback, and change nothing in the directory.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TUTORIAL = REPO / "docs" / "TUTORIAL.md"
EXPECT_FAIL = "<!-- expect-fail -->"
WRITES = "**Writes:**"

_FENCE = re.compile(r"^```(\S*)\s*$")
_PATH = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Block:
    """One ``sh`` block of the tutorial and what the text around it promises."""

    line: int
    script: str
    expect_fail: bool
    writes: tuple[str, ...]


def parse_tutorial(text: str) -> list[Block]:
    """Every ``sh`` block in order, with its expect-fail mark and the files it writes.

    A **Writes:** paragraph (to the next blank line) belongs to the nearest
    ``sh`` block above it; each backquoted word in it is a path. An
    expect-fail mark belongs to the block that follows it, blank lines apart.

    Raises:
        ValueError: An expect-fail mark not followed by an ``sh`` block, a
            **Writes:** line before any block, or a fence left open.
    """
    blocks: list[Block] = []
    lines = text.splitlines()
    marked_at: int | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
            if end is None:
                raise ValueError(f"line {i + 1}: code fence never closed")
            if fence.group(1) == "sh":
                script = "\n".join(lines[i + 1 : end])
                blocks.append(Block(i + 1, script, marked_at is not None, ()))
            elif marked_at is not None:
                raise ValueError(f"line {marked_at}: {EXPECT_FAIL} before a non-sh block")
            marked_at = None
            i = end + 1
            continue
        stripped = line.strip()
        if stripped == EXPECT_FAIL:
            marked_at = i + 1
        elif stripped and marked_at is not None:
            raise ValueError(f"line {marked_at}: {EXPECT_FAIL} not followed by an sh block")
        if stripped.startswith(WRITES):
            if not blocks:
                raise ValueError(f"line {i + 1}: {WRITES} before any sh block")
            # The paragraph may wrap: it ends at a blank line or a fence.
            end = next(
                (
                    j
                    for j in range(i + 1, len(lines))
                    if not lines[j].strip() or _FENCE.match(lines[j])
                ),
                len(lines),
            )
            paths = tuple(_PATH.findall(" ".join(lines[i:end])))
            blocks[-1] = replace(blocks[-1], writes=blocks[-1].writes + paths)
            i = end
            continue
        i += 1
    if marked_at is not None:
        raise ValueError(f"line {marked_at}: {EXPECT_FAIL} at the end of the file")
    return blocks


def _written(root: Path, pattern: str) -> list[Path]:
    """The files under ``root`` a **Writes:** entry names (a ``*`` pattern may match many)."""
    if "*" in pattern:
        return sorted(root.glob(pattern))
    return [root / pattern] if (root / pattern).is_file() else []


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


def _run(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_the_tutorial_walks_the_whole_exchange() -> None:
    # Fast: the page parses, and no edit quietly dropped a step of the exchange.
    blocks = parse_tutorial(TUTORIAL.read_text(encoding="utf-8"))
    ran = [b.script for b in blocks if not b.expect_fail]
    steps = [
        "narwhal synth",
        "narwhal campaign init",
        "narwhal matcher init",
        "narwhal provider init",
        "narwhal campaign trust",
        "narwhal provider trust",
        "narwhal campaign tokenize",
        "narwhal provider tokenize",
        "narwhal matcher link",
        "narwhal provider aggregate",
        "narwhal campaign plan",
        "narwhal campaign report",
        "narwhal matcher witness",
        "narwhal audit",
    ]
    positions = [next((i for i, s in enumerate(ran) if step in s), -1) for step in steps]
    missing = [step for step, at in zip(steps, positions, strict=True) if at < 0]
    assert not missing, f"the tutorial never runs: {missing}"
    assert positions == sorted(positions), "the tutorial runs the exchange's steps out of order"
    assert any(b.expect_fail for b in blocks)
    for block in blocks:
        assert not block.expect_fail or not block.writes, f"line {block.line}: a failure writes"
        for path in block.writes:
            assert not Path(path).is_absolute() and ".." not in Path(path).parts, path


def test_the_parser_reads_marks_and_writes() -> None:
    text = (
        "```sh\ntouch a\n```\n**Writes:** `a`\n`b/*.json`\n\n"
        f"{EXPECT_FAIL}\n\n```sh\nfalse\n```\n```text\nnot run\n```\n"
    )
    assert parse_tutorial(text) == [
        Block(1, "touch a", False, ("a", "b/*.json")),
        Block(9, "false", True, ()),
    ]
    with pytest.raises(ValueError, match="not followed"):
        parse_tutorial(f"{EXPECT_FAIL}\nprose\n```sh\ntrue\n```\n")
    with pytest.raises(ValueError, match="never closed"):
        parse_tutorial("```sh\ntrue\n")


@pytest.mark.slow
@pytest.mark.heavy  # about 75 s: in `make heavy` (CI), outside make test's budget
def test_the_tutorial_runs_top_to_bottom(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "narwhal").exists(), f"no narwhal next to {sys.executable}; run make"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    for block in parse_tutorial(TUTORIAL.read_text(encoding="utf-8")):
        where = f"docs/TUTORIAL.md line {block.line}"
        for path in block.writes:
            assert not _written(tmp_path, path), f"{where}: {path} exists before the block runs"
        before = _snapshot(tmp_path)
        proc = _run(block.script, tmp_path, env)
        if block.expect_fail:
            assert proc.returncode != 0, f"{where}: expected to fail, exited 0"
            assert "Traceback" not in proc.stderr, f"{where}:\n{proc.stderr}"
            assert len(proc.stderr.strip().splitlines()) == 1, f"{where}:\n{proc.stderr}"
            assert _snapshot(tmp_path) == before, f"{where}: a refused command changed files"
            continue
        assert proc.returncode == 0, f"{where} exited {proc.returncode}:\n{proc.stderr}"
        missing = [path for path in block.writes if not _written(tmp_path, path)]
        assert not missing, f"{where}: the tutorial says it writes {missing}"
