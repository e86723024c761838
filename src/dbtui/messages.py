"""Every event of the app in one place: workers post these, tabs and the app handle them.

Workers run ``database.dev`` calls in threads and report back only through these messages, so a reader learns
what the app can hear by reading this file. Payloads are the backend's own result objects, passed through.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message


class DatabaseHealth(Message):
    """The database answered (``ok``) or did not; ``detail`` says why not, in one line."""

    def __init__(self, ok: bool, detail: str = "") -> None:
        super().__init__()
        self.ok = ok
        self.detail = detail


class TaskFailed(Message):
    """A background task raised: ``task`` names it, ``error`` is one line (``file:line: message`` when known)."""

    def __init__(self, task: str, error: str) -> None:
        super().__init__()
        self.task = task
        self.error = error


class TaskDone(Message):
    """A background task returned ``result``; ``task`` names it, ``seconds`` is how long it took."""

    def __init__(self, task: str, result: Any, seconds: float) -> None:
        super().__init__()
        self.task = task
        self.result = result
        self.seconds = seconds


class MigrationProgress(Message):
    """A migrate or rollback run reported an event (started, done or failed one migration, or a notice).

    ``event`` is a ``database.dev.migrations`` event; ``at`` is the app clock's stopwatch when it arrived, so the
    progress display measures durations with the app's (freezable) clock.
    """

    def __init__(self, event: Any, at: float) -> None:
        super().__init__()
        self.event = event
        self.at = at


class SchemaChanged(Message):
    """Migrations were applied or rolled back: what shows the schema should read it again."""


class CodegenEvent(Message):
    """A codegen run started, finished or failed (``database.dev.codegen.watch`` events); ``at`` as above."""

    def __init__(self, event: Any, at: float) -> None:
        super().__init__()
        self.event = event
        self.at = at


class JumpToSource(Message):
    """Show this migration in the Migrations tab (from a convention finding)."""

    def __init__(self, migration: str, line: int | None) -> None:
        super().__init__()
        self.migration = migration
        self.line = line
