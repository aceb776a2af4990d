"""Privacy audit of an exchange directory.

Usage: python scripts/audit.py DIR   (DIR holds campaign/, matcher/, provider/ and world/,
as `narwhal demo` lays it out, e.g. build/demo; for homes named otherwise use
`narwhal audit --campaign C --matcher M --provider P --world W`)

Prints one PASS/FAIL/SKIP line per check and exits 1 if any check fails, 2 on bad usage.
"""

from __future__ import annotations

import sys
from pathlib import Path

from parties.audit import run_audit


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] in {"-h", "--help"}:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    root = Path(argv[0])
    if not root.is_dir():
        print(f"audit: error: {root}: not a directory", file=sys.stderr)
        return 2
    return run_audit(root)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
