"""The match report's fit warnings are fixed codes: free text cannot cross."""

from __future__ import annotations

import pyarrow as pa
import pytest

from linkage.errors import MessageError
from linkage.protocol.envelope.allow_lists import validate_payload
from linkage.release import match_report


def _report(codes: list[str]) -> pa.Table:
    links = pa.table({"rid": ["r0"], "hp": ["h0"]})
    table = match_report(links, noise=lambda values, scale: list(values))
    index = table.schema.get_field_index("fit_warnings")
    return table.set_column(index, "fit_warnings", pa.array([codes], pa.list_(pa.string())))


def test_fixed_codes_pass_and_free_text_is_refused() -> None:
    validate_payload("match-report", _report(["unstable"]))
    with pytest.raises(MessageError):
        validate_payload("match-report", _report(["voter Ada Byron lives at 12 Main St"]))
