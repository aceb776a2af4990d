"""Tests for ``narwhal schema check``: one party lints a schema against its own file."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from linkage.encode import lint_schema, load_schema
from parties.cli import app

GIVEN = ["james", "mary", "robert", "patricia", "john", "jennifer", "michael", "linda"]
SURNAMES = [
    f"{stem}{tail}"
    for stem in ("kowal", "brandt", "okafor", "lindqvist", "moreau")
    for tail in ("ski", "er", "son", "ez", "i", "o", "a", "us")
]

SCHEMA = """
[fields.given]
type = "given_name"
column = "first_name"

[fields.surname]
type = "surname"
column = "last_name"

[fields.dob]
type = "date"
column = "born"

[fields.job]
type = "free_text"
column = "occupation"

[compare.given_dob]
columns = { given = { q = 2, bits = 12 }, dob = { q = 1, bits = 2, positional = true } }

[compare.surname]
q = 2
bits = 12

[compare.job]
q = 2
bits = 8

[blocking]
bk_year = ["dob_year:value"]
bk_surname = ["surname:soundex", "dob:value"]

[resolution]
max_block = 50
"""


def _people(rows: int, *, shifted: float = 0.0, seed: int = 3) -> pa.Table:
    rng = random.Random(seed)
    given, surname, born, job = [], [], [], []
    for _ in range(rows):
        first = rng.choice(GIVEN)
        last = rng.choice(SURNAMES)
        if rng.random() < shifted:
            first, last = rng.choice(SURNAMES), first
        given.append(first.title())
        surname.append(last.upper())
        born.append(f"{rng.randint(1950, 1953)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}")
        job.append(None if rng.random() < 0.8 else "farm labourer")
    return pa.table({"first_name": given, "last_name": surname, "born": born, "occupation": job})


def _run(tmp_path: Path, table: pa.Table, *extra: str) -> tuple[int, str]:
    schema = tmp_path / "schema.toml"
    schema.write_text(SCHEMA, encoding="utf-8")
    data = tmp_path / "people.parquet"
    pq.write_table(table, data)
    result = CliRunner().invoke(app, ["schema", "check", str(schema), "--data", str(data), *extra])
    return result.exit_code, result.output


def test_check_warns_and_never_prints_a_value(tmp_path: Path) -> None:
    table = _people(600, shifted=0.3)
    code, output = _run(tmp_path, table, "--side", "a")
    assert code == 0, output
    assert "mostly-null: job" in output
    assert "low-entropy-filter: compare.surname" in output
    assert "huge-block: bk_year" in output
    assert "max_block >=" in output
    assert "shifted-column: surname" in output
    assert "low-entropy-filter: compare.given_dob" not in output
    lowered = output.lower()
    for value in [*GIVEN, *SURNAMES, "farm", "labourer", "1951"]:
        assert value not in lowered


def test_clean_file_has_no_shift_warning(tmp_path: Path) -> None:
    code, output = _run(tmp_path, _people(600))
    assert code == 0
    assert "shifted-column" not in output


def test_missing_column_is_an_error(tmp_path: Path) -> None:
    code, output = _run(tmp_path, _people(50).drop_columns(["born"]), "--side", "b")
    assert code == 2
    assert "error: missing-column: born" in output


def test_lint_reads_only_its_own_side(tmp_path: Path) -> None:
    schema = load_schema(SCHEMA.replace('column = "occupation"', 'a = "occupation"'))
    findings = lint_schema(schema, _people(100).drop_columns(["occupation"]), "b")
    assert not [f for f in findings if f.level == "error"]


def test_help_has_an_example() -> None:
    result = CliRunner().invoke(app, ["schema", "check", "--help"])
    assert result.exit_code == 0
    assert "Example: narwhal schema check" in result.output
