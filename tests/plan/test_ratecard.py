"""The rate card: cents, row-named errors, no echoed values."""

from __future__ import annotations

import pyarrow as pa
import pytest

from linkage.errors import InputError
from linkage.plan import RateCell, parse_ratecard


def ratecard_table(**override: list[object]) -> pa.Table:
    columns: dict[str, list[object]] = {
        "channel": ["A", "A", "B"],
        "daypart": ["prime", "daytime", "prime"],
        "cost_per_spot": [1200.5, 300.0, 800.0],
        "units_available": [4, 10, 0],
    }
    columns.update(override)
    return pa.table(columns)


def test_parse_ratecard_rounds_to_cents() -> None:
    cells = parse_ratecard(ratecard_table())
    assert cells[0] == RateCell("A", "prime", 120050, 4)
    assert cells[2].units == 0 and cells[0].cost == pytest.approx(1200.5)


@pytest.mark.parametrize(
    ("override", "column", "row"),
    [
        ({"daypart": ["prime", "brunch", "prime"]}, "daypart", 2),
        ({"cost_per_spot": [1.0, -3.0, 2.0]}, "cost_per_spot", 2),
        ({"cost_per_spot": ["1", "2", "lots"]}, "cost_per_spot", 3),
        ({"units_available": [1, 2.5, 3]}, "units_available", 2),
        ({"channel": ["A", None, "B"]}, "channel", 2),
    ],
)
def test_parse_ratecard_names_the_bad_row(
    override: dict[str, list[object]], column: str, row: int
) -> None:
    with pytest.raises(InputError) as info:
        parse_ratecard(ratecard_table(**override), file="rc.csv")
    assert info.value.column == column and info.value.row == row


def test_parse_ratecard_rejects_duplicates_and_missing_columns() -> None:
    with pytest.raises(InputError, match="repeated"):
        parse_ratecard(ratecard_table(daypart=["prime", "prime", "prime"]))
    with pytest.raises(InputError, match="column"):
        parse_ratecard(ratecard_table().drop_columns(["units_available"]))
