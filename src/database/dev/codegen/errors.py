"""The one error the compiler raises: a problem in queries.sql (or the schema) at ``file:line``; exit code 1."""

from __future__ import annotations

from pathlib import Path

from database.errors import ProblemFound


class CodegenError(ProblemFound):
    """A query that cannot be compiled; ``str()`` is ``queries.sql:LINE: message``; ``query`` is its text."""

    def __init__(
        self, message: str, *, path: str | Path | None = None, line: int | None = None, query: str | None = None
    ) -> None:
        super().__init__(message, path=path, line=line)
        self.query = query
