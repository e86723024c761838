"""Errors with a one-line message a person can act on, and the exit code the CLI should use."""

from __future__ import annotations

from pathlib import Path


class DbtuiError(Exception):
    """Base of every error we raise on purpose; ``str()`` is the whole user-facing line.

    ``exit_code`` follows the CLI contract: 1 ran and found a problem, 2 bad usage, configuration or input.
    """

    exit_code = 2

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = Path(path) if path is not None else None
        self.line = line

    @property
    def location(self) -> str | None:
        """``file:line`` (or just ``file``) when the error points at a source file."""
        if self.path is None:
            return None
        return f"{self.path}:{self.line}" if self.line else str(self.path)

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class ConfigError(DbtuiError):
    """The project, its settings or the database URL are wrong or missing."""


class ServerError(DbtuiError):
    """The database server could not be started, reached or stopped."""


class ProblemFound(DbtuiError):
    """The command ran and found a problem (a failed migration, stale output, violations)."""

    exit_code = 1


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (libpq's carry DETAIL/HINT lines below), or its class name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
