"""Conventions tab: ``dbtui check`` findings in a table, filtered by rule, severity, table or migration, with the
fix hint; ``enter`` jumps to the migration that created the offending table or column (or holds the risky statement);
``c`` reruns. Shows annotation coverage. Checks run like the CLI's: on a throwaway database migrated from the
project's files, and the operation rules on the migrations pending on the app's database (the ``lock`` column).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Label, Select, Static

from database.config import Project
from dbtui import messages
from dbtui.widgets.sql_view import SqlView

if TYPE_CHECKING:
    from database.dev.conventions import CheckResult, Finding

FILTERS = ("rule", "severity", "table", "migration")


class ConventionsTab(Vertical):
    def __init__(self, project: Project) -> None:
        super().__init__()
        self.project = project
        self.result: CheckResult | None = None
        self.shown: list[Finding] = []
        self.url: str | None = None  # the app's database: operation rules judge what is pending there

    def compose(self) -> ComposeResult:
        yield Label("Checks have not run yet: press c.", id="conventions-summary")
        with Horizontal(id="conventions-filters"):
            for name in FILTERS:
                yield Select[str]([], prompt=f"any {name}", id=f"filter-{name}", allow_blank=True)
        with Horizontal(id="conventions-body"):
            table: DataTable[Any] = DataTable(id="conventions-table", cursor_type="row", zebra_stripes=True)
            table.add_columns("severity", "rule", "lock", "table", "column", "where")
            yield table
            with VerticalScroll(id="conventions-detail"):
                yield Static("", id="finding-message")
                yield SqlView(id="finding-fix")

    def database_ready(self, url: str) -> None:
        """Checks use their own throwaway database; they run on ``c`` or when the tab is first shown. The app's
        database says which migrations are pending."""
        self.url = url

    def on_mount(self) -> None:
        """Mounted when first shown or when ``c`` is pressed: either way, check."""
        self.run_checks()

    def on_show(self) -> None:
        if self.result is None:  # shown again after the checks failed to run
            self.run_checks()

    def run_checks(self) -> None:
        if self.app.task_running("checks"):  # type: ignore[attr-defined]
            return
        self.query_one("#conventions-summary", Label).update("Checking…")
        project, url = self.project, self.url

        def job() -> CheckResult:
            from database.dev.conventions import check  # pglast: imported on first use, not at start
            from database.dev.operation_rules import check_all

            return check_all(project, target=url) if url else check(project)

        self.app.run_task(self, "checks", job)  # type: ignore[attr-defined]

    def on_task_done(self, message: messages.TaskDone) -> None:
        if message.task != "checks":
            return
        message.stop()
        self.result = message.result
        assert self.result is not None
        self.query_one("#conventions-summary", Label).update(
            Text(self.result.summary(), style="green" if self.result.ok else "bold red")
        )
        for name in FILTERS:
            values = sorted({getattr(f, name) for f in self.result.findings if getattr(f, name)})
            select = self.query_one(f"#filter-{name}", Select)
            keep = select.value
            select.set_options([(value, value) for value in values])
            if keep in values:
                select.value = keep
        self._show_findings()

    def on_task_failed(self, message: messages.TaskFailed) -> None:
        if message.task == "checks":
            self.query_one("#conventions-summary", Label).update(Text(message.error, style="bold red"))

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._show_findings()

    def _show_findings(self) -> None:
        if self.result is None:
            return
        wanted = {name: self.query_one(f"#filter-{name}", Select).value for name in FILTERS}
        self.shown = [
            f for f in self.result.findings
            if all(value is Select.NULL or getattr(f, name) == value for name, value in wanted.items())
        ]
        table = self.query_one("#conventions-table", DataTable)
        table.clear()
        for finding in self.shown:
            severity = Text(finding.severity, style="red" if finding.severity == "error" else "yellow")
            table.add_row(severity, finding.rule, finding.lock or "", finding.table or "", finding.column or "",
                          finding.location or "")
        self._show_detail(self.shown[0] if self.shown else None)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if 0 <= event.cursor_row < len(self.shown):
            self._show_detail(self.shown[event.cursor_row])

    def _show_detail(self, finding: Finding | None) -> None:
        message = self.query_one("#finding-message", Static)
        fix = self.query_one("#finding-fix", SqlView)
        if finding is None:
            message.update("No findings." if self.result and not self.result.findings else "Nothing matches the filters.")
            fix.show(None, placeholder="")
            return
        text = Text()
        text.append(f"{finding.rule}", style="bold").append(f" ({finding.severity})\n")
        if finding.lock:
            text.append(f"takes {finding.lock}\n", style="bold yellow")
        text.append(finding.message)
        if finding.location:
            text.append(f"\n\n{finding.location}", style="cyan").append("  enter: show the migration", style="dim")
        text.append("\n\nFix:" if finding.fix else "")
        message.update(text)
        fix.show(finding.fix, placeholder="")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """``enter`` on a finding: the migration that created its table or column, at that line."""
        event.stop()
        if not 0 <= event.cursor_row < len(self.shown):
            return
        finding = self.shown[event.cursor_row]
        if finding.migration is None:
            self.app.notify("Where this came from is unknown.", severity="warning")
            return
        path = self.project.root / finding.migration
        if path.parent != self.project.migrations:
            self.app.notify(f"See {finding.location}.")
            return
        self.post_message(messages.JumpToSource(Path(finding.migration).name.removesuffix(".sql"), finding.line))
