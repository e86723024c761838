"""One line per migration event, shared by a migrate/rollback run and the dry-run preview."""

from __future__ import annotations

from typing import Any

from rich.text import Text

VERBS = {"apply": "apply", "rollback": "roll back", "unmark": "unmark"}


def record_step(steps: list[Text], event: Any, seconds: float | None = None) -> None:
    """Add or update the line for ``event`` (a ``database.dev.migrations`` event): ``▶`` started, ``✓`` done (with
    ``seconds`` when given), ``✗`` failed with its ``file:line: message``, notices in yellow."""
    from database.dev import migrations as backend

    if isinstance(event, backend.MigrationStarted):
        steps.append(Text(f"▶ {VERBS[event.direction]} {event.id} …", style="bold"))
    elif isinstance(event, backend.MigrationDone):
        took = f"  {seconds:.2f} s" if seconds is not None else ""
        steps[-1] = Text(f"✓ {VERBS[event.direction]} {event.id}{took}", style="green")
    elif isinstance(event, backend.MigrationFailed):
        steps[-1] = Text(f"✗ {VERBS[event.direction]} {event.id}: {event.error}", style="bold red")
    elif isinstance(event, backend.Notice):
        steps.append(Text(event.message, style="yellow"))
