"""Text basics every normaliser stands on: one folding, one word split, one table reader.

Names, cities and street addresses must fold accents, case and joiners the
same way, or "Zoë O'Brien" on one side and "ZOE OBRIEN" on the other would
hash apart; so the folding lives here once and :mod:`linkage.encode.normalize`
and :mod:`linkage.encode.address` both use it. The reference tables (USPS
Publication 28, state codes, nickname overrides) ship as CSV in
:mod:`linkage.data` and are read through :func:`read_csv`.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from importlib import resources
from typing import Final

__all__ = ["JOINERS", "NAME_WORDS", "fold", "read_csv", "split_words"]

# Letters NFKD does not decompose into ASCII + combining marks.
_SPECIAL_LETTERS: Final = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
)
JOINERS: Final = re.compile(r"['’‘`´.\-‐‑‒–—]")
"""Apostrophes, hyphens and periods join their neighbours (``"O'Brien"`` -> ``"obrien"``)."""
_NON_WORD: Final = re.compile(r"[^\w\s]|_")

NAME_WORDS: Final = {"saint": "st", "mount": "mt", "fort": "ft"}
"""Name words USPS abbreviates inside street and city names alike."""


def read_csv(name: str) -> list[dict[str, str]]:
    """Rows of a CSV shipped in :mod:`linkage.data` (lines starting ``"# "`` are comments)."""
    text = resources.files("linkage.data").joinpath(name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("# ")]
    return list(csv.DictReader(io.StringIO("\n".join(lines))))


def fold(text: str) -> str:
    """NFKD, accents stripped, case-folded (``"Zoë"`` -> ``"zoe"``)."""
    if text.isascii():
        return text.lower()  # NFKD and casefold are the identity/lower() on ASCII
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.casefold().translate(_SPECIAL_LETTERS)


def split_words(text: str, joiners: re.Pattern[str] = JOINERS) -> list[str]:
    """Folded words: ``joiners`` removed, any other punctuation splits."""
    folded = joiners.sub("", fold(text))
    return _NON_WORD.sub(" ", folded).split()
