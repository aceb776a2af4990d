"""A check that saw no input says SKIP, never PASS."""

from __future__ import annotations

from pathlib import Path

from linkage.audit.checks import audit_allow_lists
from linkage.audit.exchange import Exchange
from linkage.audit.pii_scan import audit_pii


def test_allow_lists_and_pii_scan_skip_with_no_message(tmp_path: Path) -> None:
    empty = Exchange(homes={}, messages=[], errors=[])
    for result in (audit_allow_lists(empty), audit_pii(empty, tmp_path / "no-world")):
        assert result.status == "SKIP" and result.skipped
        assert result.detail.startswith("skipped:")
    # An allow-list violation recorded at load time is never skipped.
    broken = Exchange(homes={}, messages=[], errors=[], allow_list_errors=["bad column"])
    assert audit_allow_lists(broken).status == "FAIL"
