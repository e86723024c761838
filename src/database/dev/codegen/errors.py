"""The one error the compiler raises: a problem in queries.sql (or the schema) at ``file:line``; exit code 1."""

from __future__ import annotations

from database.errors import ProblemFound


class CodegenError(ProblemFound):
    """A query that cannot be compiled; ``str()`` is ``queries.sql:LINE: message``."""
