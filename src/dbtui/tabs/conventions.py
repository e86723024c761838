"""Conventions tab: ``dbtui check`` findings in a table, filtered by rule, severity, table or migration, with the
fix hint; ``enter`` jumps to the migration that created the offending table or column (or holds the risky statement);
``c`` reruns. Shows annotation coverage. Checks run like the CLI's: on a throwaway database migrated from the
project's files, and the operation rules on the migrations pending on the app's database (the ``lock`` column).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Label, Select, Static

from database.config import Project
from dbtui import messages
from dbtui.tabs.base import TabContent
from dbtui.widgets.lists import ListTable
from dbtui.widgets.sql_view import SqlView

if TYPE_CHECKING:
    from database.dev.conventions import CheckResult, Finding
    from database.dev.migration_status import AppliedRecord
    from database.dev.project_watch import ProjectChanges

FILTERS = ("rule", "severity", "table", "migration")


def matches(finding: Finding, text: str) -> bool:
    """``/`` on findings: the text anywhere in the rule, severity, table, column, file or message."""
    fields = (finding.rule, finding.severity, finding.table, finding.column, finding.location, finding.message)
    return any(text in (value or "").lower() for value in fields)


class ConventionsTab(TabContent):
    def __init__(self, project: Project) -> None:
        super().__init__()
        self.project = project
        self.result: CheckResult | None = None
        self.shown: list[Finding] = []
        self.url: str | None = None  # the app's database: operation rules judge what is pending there
        self.filter = ""
        self.checking = False
        self.again = False  # files changed while checking: check once more after

    def compose(self) -> ComposeResult:
        yield Label("Checks have not run yet: press c.", id="conventions-summary")
        with Horizontal(id="conventions-filters"):
            for name in FILTERS:
                yield Select[str]([], prompt=f"any {name}", id=f"filter-{name}", allow_blank=True)
        with Horizontal(id="conventions-body"):
            table: ListTable[Any] = ListTable(id="conventions-table", cursor_type="row", zebra_stripes=True)
            table.add_columns("severity", "rule", "lock", "table", "column", "where")
            yield table
            with VerticalScroll(id="conventions-detail"):
                yield Static("", id="finding-message")
                yield SqlView(id="finding-fix")

    def database_ready(self, url: str, applied: dict[str, AppliedRecord] | None = None) -> None:
        """Checks use their own throwaway database; they run on ``c`` or when the tab is first shown. The app's
        database says which migrations are pending."""
        self.url = url

    def on_mount(self) -> None:
        """Mounted when first shown or when ``c`` is pressed: either way, check (against the app's database when it
        has answered already: the tab was not there to be told)."""
        app = self.dbtui
        if app.database_ok and app.url:
            self.url = app.url
        self.run_checks()

    def on_show(self) -> None:
        if self.result is None:  # shown again after the checks failed to run
            self.run_checks()

    def files_changed(self, changed: ProjectChanges) -> None:
        if changed.migrations or changed.annotations:
            self.run_checks(files_changed=True)

    def run_checks(self, *, files_changed: bool = False) -> None:
        """Check now; while a check runs, once more after it when files changed since it started."""
        if self.checking:
            self.again = self.again or files_changed
            return
        self.checking = True
        self.query_one("#conventions-summary", Label).update("Checking…")
        self._check(self.url)

    @work(thread=True, exit_on_error=False, group="checks")
    def _check(self, url: str | None) -> None:
        from database.dev.conventions import check  # pglast: imported on first use, not at start
        from database.dev.operation_rules import check_all

        project = self.project
        job = (lambda: check_all(project, target=url)) if url else (lambda: check(project))
        messages.deliver(self, job, messages.ChecksDone, messages.ChecksFailed)

    def _checked(self) -> None:
        self.checking = False
        if self.again:
            self.again = False
            self.run_checks()

    def on_checks_done(self, message: messages.ChecksDone) -> None:
        self._checked()
        self.result = message.result
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

    def on_checks_failed(self, message: messages.ChecksFailed) -> None:
        self._checked()
        self.query_one("#conventions-summary", Label).update(Text(message.error, style="bold red"))

    def apply_filter(self, text: str) -> bool:
        self.filter = text.strip().lower()
        self._show_findings()
        return True

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._show_findings()

    def _show_findings(self) -> None:
        if self.result is None:
            return
        wanted = {name: self.query_one(f"#filter-{name}", Select).value for name in FILTERS}
        self.shown = [
            f
            for f in self.result.findings
            if all(value is Select.NULL or getattr(f, name) == value for name, value in wanted.items())
            and matches(f, self.filter)
        ]
        table = self.query_one("#conventions-table", ListTable)
        table.clear()
        for finding in self.shown:
            severity = Text(finding.severity, style="red" if finding.severity == "error" else "yellow")
            # The file name and line: the folder is the same for every finding (the detail pane has the path).
            where = Path(finding.location).name if finding.location else ""
            table.add_row(severity, finding.rule, finding.lock or "", finding.table or "", finding.column or "", where)
        self._show_detail(self.shown[0] if self.shown else None)

    def on_data_table_row_highlighted(self, event: ListTable.RowHighlighted) -> None:
        event.stop()
        if 0 <= event.cursor_row < len(self.shown):
            self._show_detail(self.shown[event.cursor_row])

    def _show_detail(self, finding: Finding | None) -> None:
        message = self.query_one("#finding-message", Static)
        fix = self.query_one("#finding-fix", SqlView)
        if finding is None:
            message.update(
                "No findings." if self.result and not self.result.findings else "Nothing matches the filters."
            )
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

    def edit_target(self) -> tuple[Path, int | None] | None:
        table = self.query_one("#conventions-table", ListTable)
        if not 0 <= table.cursor_row < len(self.shown) or self.shown[table.cursor_row].migration is None:
            return None
        finding = self.shown[table.cursor_row]
        return self.project.root / str(finding.migration), finding.line

    def on_data_table_row_selected(self, event: ListTable.RowSelected) -> None:
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
