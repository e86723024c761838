"""Codegen tab: run codegen now (``g``) or watch (``w``); every run with its time, duration and result.

Both use ``database.dev.codegen.watch``: ``g`` runs one ``run_once`` on a fresh compiler, ``w`` iterates the watch
loop in a thread worker (stopped with its ``stop_event``). Watch keeps going on other tabs and announces each
result as a toast. A failure shows ``queries.sql:LINE``, the message and the offending query.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Label, Static

from database.config import Project
from database.dev.paths import relative
from dbtui import messages
from dbtui.tabs.base import TabContent
from dbtui.widgets.lists import ListTable
from dbtui.widgets.sql_view import SqlView

if TYPE_CHECKING:
    from database.dev.codegen.watch import Failed, Finished

# database.dev.codegen is imported when codegen first runs: the first frame does not wait for it.


@dataclass
class Run:
    """One codegen run as the tab lists it."""

    at: datetime
    reason: str
    started: float
    result: Finished | Failed | None = None
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        from database.dev.codegen.watch import Failed  # imported already: a run has a result

        return isinstance(self.result, Failed)


class CodegenTab(TabContent):
    def __init__(self, project: Project) -> None:
        super().__init__()
        self.project = project
        self.runs: list[Run] = []
        self.stop_watch: threading.Event | None = None
        self.running = False  # a ``g`` run

    def compose(self) -> ComposeResult:
        with Vertical(id="codegen-left"):
            yield Label(self._status(), id="codegen-status")
            table: ListTable[Any] = ListTable(id="codegen-runs", cursor_type="row")
            # Fixed widths: a run's cells change when it finishes, and the layout must not jump.
            table.add_column("time", width=8)
            table.add_column("duration", width=8)
            table.add_column("trigger", width=20)
            table.add_column("result", width=30)
            yield table
        with VerticalScroll(id="codegen-detail"):
            yield Static("", id="codegen-result")
            yield SqlView(id="codegen-query")
            yield Static("", id="codegen-signatures")

    def on_unmount(self) -> None:
        if self.stop_watch is not None:
            self.stop_watch.set()  # the watch thread ends and drops its throwaway database

    @property
    def watching(self) -> bool:
        return self.stop_watch is not None

    def _status(self) -> str:
        queries = relative(self.project.queries, self.project.root)
        state = "[green]on[/green]: rerun on every change" if self.watching else "off"
        return f"{queries} · watch {state} · [b]g[/b] run now, [b]w[/b] watch on/off"

    def _show_status(self) -> None:
        self.query_one("#codegen-status", Label).update(self._status())

    # -- actions --------------------------------------------------------------------------------------------------

    def run_now(self) -> None:
        if self.running:
            self.app.notify("Codegen is already running.", severity="warning")
            return
        self.running = True
        self._run_once()

    @work(thread=True, exit_on_error=False, group="codegen")
    def _run_once(self) -> None:
        def job() -> None:
            from database.dev.codegen.runner import Compiler
            from database.dev.codegen.watch import run_once

            with Compiler(self.project) as compiler:
                for event in run_once(compiler, "g pressed"):
                    self._post(event)

        messages.deliver(self, job, lambda _: messages.CodegenIdle(), messages.CodegenCrashed)

    def toggle_watch(self) -> None:
        if self.stop_watch is not None:
            self.stop_watch.set()
            self.stop_watch = None
            self.app.notify("Codegen watch stopped.")
        else:
            self.stop_watch = threading.Event()
            self._watch(self.stop_watch)
            self.app.notify(f"Watching {self.project.queries.name} and {self.project.migrations.name}/.")
        self._show_status()

    @work(thread=True, exit_on_error=False, group="codegen watch")
    def _watch(self, stop: threading.Event) -> None:
        def job() -> None:
            from database.dev.codegen.watch import watch

            for event in watch(self.project, stop_event=stop):
                self._post(event)

        messages.deliver(self, job, lambda _: messages.CodegenIdle(), messages.CodegenCrashed)

    def _post(self, event: Any) -> None:
        """From the worker thread: hand the event to the UI, stamped with the app's clock."""
        self.post_message(messages.CodegenEvent(event, self.dbtui.clock.monotonic()))

    def on_codegen_idle(self, message: messages.CodegenIdle) -> None:
        message.stop()
        self.running = False

    def on_codegen_crashed(self, message: messages.CodegenCrashed) -> None:
        """The worker raised (the app's toast says why): watch is off, ``g`` works again."""
        self.running = False
        if self.stop_watch is not None:
            self.stop_watch.set()
            self.stop_watch = None
        self._show_status()

    # -- runs -----------------------------------------------------------------------------------------------------

    def on_codegen_event(self, message: messages.CodegenEvent) -> None:
        from database.dev.codegen.watch import Failed, Finished, Started

        message.stop()
        event = message.event
        if isinstance(event, Started):
            self.runs.append(Run(self.dbtui.clock.now(), event.reason, message.at))
        elif isinstance(event, (Finished, Failed)) and self.runs:
            run = self.runs[-1]
            run.result, run.seconds = event, message.at - run.started
            if self.watching:
                self._announce(run)
        self._show_runs()

    def _announce(self, run: Run) -> None:
        if run.failed:
            self.app.notify(str(run.result), title="Codegen failed", severity="error", timeout=8)
        elif run.result is not None:
            self.app.notify(self._summary(run.result), title="Codegen")

    @staticmethod
    def _summary(result: Finished | Failed | None) -> str:
        from database.dev.codegen.watch import Failed

        if result is None:
            return "running…"
        if isinstance(result, Failed):
            return f"error at {result.location}" if result.location else "error"
        if not result.written:
            return "up to date"
        return "wrote " + ", ".join(path.name for path in result.written)

    def _show_runs(self) -> None:
        table = self.query_one("#codegen-runs", ListTable)
        table.clear()
        for run in reversed(self.runs):
            style = "red" if run.failed else "green" if run.result else "yellow"
            duration = f"{run.seconds:.2f} s" if run.result else ""
            table.add_row(f"{run.at:%H:%M:%S}", duration, run.reason, Text(self._summary(run.result), style=style))
        table.move_cursor(row=0)
        self._show_run(self.runs[-1] if self.runs else None)

    def on_data_table_row_highlighted(self, event: ListTable.RowHighlighted) -> None:
        event.stop()
        if self.runs:
            self._show_run(self.runs[len(self.runs) - 1 - event.cursor_row])

    def edit_target(self) -> tuple[Path, int | None] | None:
        """``e`` on a run that failed: queries.sql at the error's line; otherwise queries.sql."""
        from database.dev.codegen.watch import Failed

        table = self.query_one("#codegen-runs", ListTable)
        if not self.runs or table.row_count == 0:
            return self.project.queries, None
        result = self.runs[len(self.runs) - 1 - table.cursor_row].result
        if isinstance(result, Failed) and result.location and result.location.rpartition(":")[2].isdigit():
            where, _, line = result.location.rpartition(":")
            return self.project.root / where, int(line)
        return self.project.queries, None

    def _show_run(self, run: Run | None) -> None:
        from database.dev.codegen.watch import Failed

        result = self.query_one("#codegen-result", Static)
        query = self.query_one("#codegen-query", SqlView)
        signatures = self.query_one("#codegen-signatures", Static)
        if run is None or run.result is None:
            result.update("Running…" if run else "No runs yet: press g.")
            query.show(None, placeholder="")
            signatures.update("")
        elif isinstance(run.result, Failed):
            text = Text()
            text.append(run.result.location or "error", style="bold red").append(f": {run.result.message}")
            text.append("\nThe previous output stays in place. e: open it in $EDITOR", style="dim")
            result.update(text)
            query.show(run.result.query, placeholder="")
            signatures.update("")
        else:
            count = len(run.result.signatures)
            text = Text(
                f"{count} function{'' if count == 1 else 's'} · {self._summary(run.result)}", style="bold green"
            )
            for warning in run.result.warnings:
                text.append(f"\n{warning}", style="yellow")
            result.update(text)
            query.show(None, placeholder="")
            signatures.update(Text("\n".join(run.result.signatures)))
