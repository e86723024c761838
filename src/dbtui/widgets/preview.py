"""``p``: the schema change the pending migrations would make, from ``migrate --dry-run`` on a throwaway clone.

The dry run (``database.dev.migration_preview.dry_run``) builds a clone of the database's applied state, applies
the pending migrations there, and diffs the schema before and after; the real database is never touched. It runs in
a worker: the screen says what it is doing and lists each migration as the clone applies it, then shows the unified
diff, coloured. ``escape``, ``q`` or ``p`` closes it (the clone is dropped either way).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from dbtui import messages
from dbtui.widgets.steps import record_step

if TYPE_CHECKING:
    from database.dev.migration_preview import DryRun

DIFF_STYLES = (("+++", "bold"), ("---", "bold"), ("@@", "cyan"), ("+", "green"), ("-", "red"))


def diff_text(diff: str) -> Text:
    """A unified diff coloured like ``git diff``: additions green, removals red, hunk headers cyan."""
    text = Text()
    for line in diff.splitlines():
        style = next((style for prefix, style in DIFF_STYLES if line.startswith(prefix)), "")
        text.append(line + "\n", style=style)
    text.rstrip()
    return text


class PreviewScreen(ModalScreen[None]):
    """Runs the dry run for ``url`` and ``directory`` when shown; ``result`` holds the ``DryRun`` once it is done."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("q", "close", "Close", show=False),
        Binding("p", "close", "Close", show=False),
    ]

    def __init__(self, url: str, directory: Path) -> None:
        super().__init__()
        self.url = url
        self.directory = directory
        self.result: DryRun | None = None
        self.steps: list[Text] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="preview"):
            yield Label("Schema change of the pending migrations", id="preview-title")
            yield Static("Computing… building a throwaway copy of the database's applied state.", id="preview-status")
            yield Static("", id="preview-steps")
            with VerticalScroll(id="preview-body"):
                yield Static("", id="preview-diff")
            yield Label("[b]escape[/b] close · arrows scroll · nothing is applied to the database", id="preview-keys")

    def on_mount(self) -> None:
        self.query_one("#preview").border_title = "preview: migrate --dry-run"
        self.query_one("#preview-body").focus()
        self._dry_run()

    @work(thread=True, exclusive=True, exit_on_error=False, group="preview")
    def _dry_run(self) -> None:
        from database.dev.migration_preview import dry_run

        url, directory = self.url, self.directory

        def progress(event: Any) -> None:
            self.post_message(messages.MigrationProgress(event, 0.0))  # the preview shows no durations

        messages.deliver(
            self, lambda: dry_run(url, directory, on_event=progress), messages.PreviewDone, messages.PreviewFailed
        )

    def on_migration_progress(self, message: messages.MigrationProgress) -> None:
        """The clone applying one migration (or a notice): one line each, like a migrate run."""
        from database.dev.migrations import MigrationStarted

        message.stop()
        if isinstance(message.event, MigrationStarted):
            self.query_one("#preview-status", Static).update(
                f"Computing… applying {message.event.index + 1}/{message.event.total} to the throwaway copy."
            )
        record_step(self.steps, message.event)
        self.query_one("#preview-steps", Static).update(Text("\n").join(self.steps))

    def on_preview_done(self, message: messages.PreviewDone) -> None:
        message.stop()
        self.result = result = message.result
        status = self.query_one("#preview-status", Static)
        if not result.planned:
            status.update(Text("Nothing pending: every migration is applied.", style="green"))
            return
        count = len(result.planned)
        self.query_one("#preview-title", Label).update(
            f"Schema change of {count} pending migration{'s' if count != 1 else ''}: {', '.join(result.planned)}"
        )
        if not result.diff:
            status.update(Text("The pending migrations do not change the schema.", style="green"))
            return
        added = sum(1 for line in result.diff.splitlines() if line.startswith("+") and not line.startswith("+++"))
        removed = sum(1 for line in result.diff.splitlines() if line.startswith("-") and not line.startswith("---"))
        status.update(Text(f"schema.sql would change: +{added} −{removed} lines", style="bold"))
        self.query_one("#preview-diff", Static).update(diff_text(result.diff))

    def on_preview_failed(self, message: messages.PreviewFailed) -> None:
        self.query_one("#preview-status", Static).update(Text(f"The dry run failed: {message.error}", style="bold red"))

    def action_close(self) -> None:
        self.dismiss()
