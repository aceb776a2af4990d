"""Narwhal's library: pure, typed record-linkage and privacy functions.

Nothing in this package prints, reads argv or knows about party roles. File
access is confined to :mod:`linkage.files`.
"""

__version__ = "0.1.0"
