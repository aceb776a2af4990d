"""The campaign's segment file the segment and membership tests load, and its loader."""

from __future__ import annotations

from linkage.encode import SegmentSet, load_segments

COLUMNS = {
    "persuasion_score": "number",
    "support_score": "number",
    "turnout_score": "number",
    "party": "string",
    "ethnicity": "string",
    "last_name": "string",
}

GOOD = """
# the campaign's targets
[segments.persuadable]
description = "Movable voters"
rule = "persuasion_score >= 70 and 35 <= support_score <= 65"

[segments.base_dems]
rule = "party in ['D', 'I'] and not (turnout_score < 50)"

[segments.everyone]
rule = "True"
"""


def load(text: str) -> SegmentSet:
    """Compile ``text`` against :data:`COLUMNS`, as ``segments.toml``."""
    return load_segments(text, columns=COLUMNS, file="segments.toml")
