"""The smallest linkage schema the field and schema tests start from.

One field, ``surname``, read from column ``last`` on side a and
``family_name`` on side b; compared on bigrams and blocked on its Soundex.
"""

from __future__ import annotations

MINIMAL = """
[fields.surname]
type = "surname"
a = "last"
b = "family_name"

[compare.surname]
q = 2
bits = 10

[blocking]
bk_s = ["surname:soundex"]
"""
