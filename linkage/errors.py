"""One exception hierarchy for the whole toolkit.

Every error carries *where* (file, column, row) and *what to do next*, never
the offending value: inputs are voter files, and a value in an error message
ends up in logs, tickets and terminal scroll-back.
"""

from __future__ import annotations


class NarwhalError(Exception):
    """Base class. ``exit_code`` is what a CLI exits with (2: bad input or rejected)."""

    exit_code: int = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        column: str | None = None,
        row: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.column = column
        self.row = row
        self.hint = hint

    def __str__(self) -> str:
        where = []
        if self.file is not None:
            where.append(self.file)
        if self.column is not None:
            where.append(f"column '{self.column}'")
        if self.row is not None:
            where.append(f"row {self.row}")
        text = f"{', '.join(where)}: {self.message}" if where else self.message
        if self.hint:
            text = f"{text} ({self.hint})"
        return text


class InputError(NarwhalError):
    """An input file (voters, subscribers, viewing, rate card) is unusable."""


class SchemaError(NarwhalError):
    """A declarative file (segments, linkage schema) has one or more problems.

    All problems are collected and raised together so the user fixes the file once.
    """

    def __init__(self, problems: list[str], *, file: str | None = None) -> None:
        self.problems = list(problems)
        summary = "; ".join(self.problems)
        super().__init__(f"{len(self.problems)} problem(s): {summary}", file=file)


class MessageError(NarwhalError):
    """An exchanged message was rejected (signature, recipient, exchange, allow-list...)."""


class KeyMaterialError(NarwhalError):
    """Keys are missing, unreadable or stored with unsafe permissions."""


class StateError(NarwhalError):
    """A party's home or per-exchange state is missing or inconsistent."""


class PrivacyError(NarwhalError):
    """A release was refused by a privacy rule (k, minimum universe, differencing, budget)."""
