"""``narwhal schema check``: one party lints a linkage schema against its own file.

The library does the checking (:func:`linkage.encode.lint_schema`); this
command reads the two files, prints one line per finding and exits 0 when
there are only warnings, 2 on any error. No data value is ever printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from linkage.encode import Side, lint_schema, load_schema
from linkage.io import read_input_table, read_text
from parties.common import NarwhalApp, out

app = NarwhalApp(
    name="schema",
    help=(
        "Check a linkage schema (docs/SCHEMA.md) before an exchange.\n\n"
        "Example: narwhal schema check schema.toml --data voters.parquet --side a"
    ),
)

SideOption = Literal["a", "b"]


@app.command("check")
def check(
    schema_file: Annotated[Path, typer.Argument(help="The linkage schema (TOML).")],
    data: Annotated[
        Path,
        typer.Option("--data", help="YOUR records (.parquet or .csv); never the other party's."),
    ],
    side: Annotated[
        SideOption,
        typer.Option(
            "--side", help="Which side of the schema the file is: a (campaign/left) or b."
        ),
    ] = "a",
) -> None:
    """Lint a schema against your own file: one line per finding, values never shown.

    Errors (exit 2): a column the schema reads is missing from the file.
    Warnings (exit 0): a mostly-null column, a low-entropy Bloom filter, a
    blocking pass with huge blocks (with a max_block suggestion from your
    data), given and surname columns that look shifted.

    Example: narwhal schema check schema.toml --data voters.parquet --side a
    """
    schema = load_schema(read_text(schema_file), file=str(schema_file))
    chosen: Side = side
    table = read_input_table(
        data,
        required=(),
        kinds=schema.input_kinds(chosen),
    )
    findings = lint_schema(schema, table, chosen)
    for finding in findings:
        out.print(str(finding), markup=False, highlight=False, soft_wrap=True)
    errors = sum(f.level == "error" for f in findings)
    out.print(
        f"{len(findings) - errors} warning(s), {errors} error(s) for side {chosen} "
        f"({table.num_rows} rows)",
        markup=False,
        highlight=False,
    )
    if errors:
        raise typer.Exit(2)
