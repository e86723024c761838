"""Migrations tab: the migration graph with each migration's state, its SQL and rollback, and the actions on it.

The list comes from the files first (no database needed), then the status fills in when the database answers.
Every action plans first (what exactly would run, read fresh from the database), asks, then runs with one progress
line per migration. Failures stay on screen as ``file:line: message``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Label, Static

from database.config import Project
from dbtui import messages
from dbtui.widgets.confirm import ConfirmScreen
from dbtui.widgets.prompt import PromptScreen
from dbtui.widgets.sql_view import SqlView
from dbtui.widgets.steps import record_step

if TYPE_CHECKING:
    from database.dev.migration_status import StatusReport
    from database.dev.migration_tree import MigrationTree
    from database.dev.migrations import RunResult

# The backends (yoyo, psycopg) are imported inside the workers: the first frame does not wait for them.


def graph_rows(tree: MigrationTree) -> dict[str, str]:
    """A ``git log --graph``-like prefix per migration, oldest first: ``●`` the migration, ``│`` a branch passing
    by, ``╮`` a branch forking off after it, ``╯`` a branch merging into it."""
    lanes: list[str | None] = []  # each lane waits for the migration it leads to
    rows: dict[str, str] = {}
    for node in tree:
        hits = [i for i, want in enumerate(lanes) if want == node.id]
        if hits:
            column = hits[0]
        elif None in lanes:
            column = lanes.index(None)
        else:
            column = len(lanes)
            lanes.append(None)
        before = list(lanes)
        for merged in hits[1:]:
            lanes[merged] = None
        children = [c for c in tree.ids if c in node.children]
        lanes[column] = children[0] if children else None
        forks: list[int] = []
        for child in children[1:]:
            slot = next((i for i, want in enumerate(lanes) if want is None and i > column), None)
            if slot is None:
                lanes.append(child)
                slot = len(lanes) - 1
            else:
                lanes[slot] = child
            forks.append(slot)
        cells = []
        for i in range(max(len(before), len(lanes))):
            if i == column:
                cells.append("●")
            elif i in hits[1:]:
                cells.append("╯")
            elif i in forks:
                cells.append("╮")
            elif i < len(before) and before[i] is not None:
                cells.append("│")
            else:
                cells.append(" ")
        while lanes and lanes[-1] is None:
            lanes.pop()
        rows[node.id] = " ".join(cells).rstrip()
    return rows


def shown_path(path: Path, root: Path) -> Path:
    """``path`` relative to the project when it is inside it (the migrations folder may live elsewhere)."""
    return path.relative_to(root) if path.is_relative_to(root) else path


def state_text(report: StatusReport | None, migration_id: str, has_rollback: bool) -> Text:
    """``applied``/``pending`` plus ``edited`` and ``no rollback`` flags, coloured."""
    text = Text()
    if report is None:
        text.append("…", style="dim")
    else:
        status = report[migration_id]
        text.append("applied" if status.applied else "pending", style="green" if status.applied else "yellow")
        if status.edited:
            text.append(" edited", style="bold red")
    if not has_rollback:
        text.append(" no-rollback", style="magenta")
    return text


class MigrationsTab(Horizontal):
    def __init__(self, project: Project) -> None:
        super().__init__()
        self.project = project
        self.migrations: MigrationTree | None = None
        self.report: StatusReport | None = None
        self.url: str | None = None
        self.started_at: dict[str, float] = {}
        self.pending_select: tuple[str, int | None] | None = None
        self.steps: list[Text] = []
        self.painted = False  # the app's first frame is on the terminal

    def compose(self) -> ComposeResult:
        with Vertical(id="migrations-left"):
            yield Label("Reading migrations…", id="migrations-summary")
            table: DataTable[Any] = DataTable(id="migrations-table", cursor_type="row")
            # Labels and cells as Text: a str is parsed as Rich markup, which imports Rich's emoji table (~7 ms).
            table.add_column(Text(), key="graph")
            table.add_column(Text("migration"), key="id")
            # Fixed widths: these cells change when the status arrives, and the layout must not jump.
            table.add_column(Text("state"), key="state", width=19)
            table.add_column(Text("applied at"), key="applied", width=16)
            yield table
            # #migrations-run, the progress of a run, is mounted under the table by the first run (_show_run).
        with VerticalScroll(id="migrations-detail"):
            yield Static("", id="migration-info")
            yield Label("[b]SQL[/b]")
            yield SqlView(id="migration-sql")
            yield Label("[b]Rollback[/b]")
            yield SqlView(id="migration-rollback")

    def on_mount(self) -> None:
        self.load_tree(wait=True)  # before the first frame: reading the files takes less than starting a thread

    # -- loading --------------------------------------------------------------------------------------------------

    def load_tree(self, *, wait: bool = False) -> None:
        """From the files alone: fast, and shown before the database answers."""
        directory = self.project.migrations

        def load() -> MigrationTree:
            from database.dev.migration_tree import load_tree

            return load_tree(directory)

        self.app.run_task(self, "migration tree", load, wait=wait)  # type: ignore[attr-defined]

    def database_ready(self, url: str) -> None:
        self.url = url
        self.load_status()

    def load_status(self) -> None:
        if self.url is None:
            return
        url, directory = self.url, self.project.migrations

        def load() -> StatusReport:
            from database.dev.migration_status import read_status

            return read_status(url, directory)

        self.app.run_task(self, "migration status", load)  # type: ignore[attr-defined]

    def on_task_done(self, message: messages.TaskDone) -> None:
        handler = {
            "migration tree": self._tree_loaded,
            "migration status": self._status_loaded,
            "new migration": self._created,
            "plan migrate": self._planned,
            "plan rollback": self._planned,
            "migrate": self._ran,
            "rollback": self._ran,
        }.get(message.task)
        if handler is not None:
            message.stop()
            handler(message.result)

    def on_task_failed(self, message: messages.TaskFailed) -> None:
        if message.task in ("migration tree", "migration status"):
            self.query_one("#migrations-summary", Label).update(Text(message.error, style="red"))
        if message.task in ("migrate", "rollback"):
            self.load_status()  # the run may have applied some before failing
        if message.task in ("plan migrate", "plan rollback"):  # refused before anything ran: say so, nothing more
            message.stop()
            title = "Rollback refused" if message.task == "plan rollback" else "Cannot migrate"
            self.app.notify(message.error, title=title, severity="error", timeout=10)
        # Other failures bubble on to the app, which shows them as a notification too.

    def _tree_loaded(self, tree: MigrationTree) -> None:
        self.migrations = tree
        if self.report is not None and self.report.tree.ids != tree.ids:
            self.report = None
        self._show_rows()
        self.load_status()

    def _status_loaded(self, report: StatusReport) -> None:
        self.migrations = report.tree
        self.report = report
        self._show_rows()

    def _show_rows(self) -> None:
        assert self.migrations is not None
        table = self.query_one("#migrations-table", DataTable)
        keep = self.selected_id()
        table.clear()
        graph = graph_rows(self.migrations)
        for node in self.migrations:
            applied_at = ""
            if self.report is not None and self.report[node.id].applied_at is not None:
                applied_at = f"{self.report[node.id].applied_at.astimezone():%Y-%m-%d %H:%M}"
            table.add_row(Text(graph[node.id]), Text(node.id), state_text(self.report, node.id, node.has_rollback),
                          Text(applied_at), key=node.id)
        summary = f"{len(self.migrations)} migrations in {self.project.migrations.name}/"
        if self.report is not None:
            summary += f" · {self.report.summary()}"
        elif self.url is None:
            summary += " · status: waiting for the database"
        self.query_one("#migrations-summary", Label).update(summary)
        target = self.pending_select[0] if self.pending_select else keep
        if target in self.migrations:
            table.move_cursor(row=self.migrations.position(target))
        line = None
        if self.pending_select and self.pending_select[0] in self.migrations:
            line = self.pending_select[1]
            self.pending_select = None
        self.call_after_refresh(self._show_detail, line)

    def first_frame_shown(self) -> None:
        """The app's first frame (with the list) is on the terminal: now the selected migration's SQL."""
        self.painted = True
        self._show_detail()

    # -- the detail pane ------------------------------------------------------------------------------------------

    def selected_id(self) -> str | None:
        table = self.query_one("#migrations-table", DataTable)
        if self.migrations is None or table.row_count == 0:
            return None
        return self.migrations.ids[min(table.cursor_row, len(self.migrations) - 1)]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_detail()

    def _show_detail(self, highlight: int | None = None) -> None:
        migration_id = self.selected_id()
        if migration_id is None or self.migrations is None or not self.painted:
            return  # before the first frame: the list is painted first, highlighting SQL takes a moment
        node = self.migrations[migration_id]
        info = Text()
        info.append(migration_id, style="bold").append("  ").append_text(state_text(self.report, migration_id, node.has_rollback))
        if self.report is not None and self.report[migration_id].applied_at is not None:
            info.append(f"\napplied at {self.report[migration_id].applied_at.astimezone():%Y-%m-%d %H:%M:%S}")
        info.append(f"\nfile:      {shown_path(node.path, self.project.root)}")
        info.append(f"\ndepends:   {', '.join(node.depends) or '(root)'}")
        info.append(f"\nchildren:  {', '.join(node.children) or '(head)'}")
        if not node.transactional:
            info.append("\nruns outside a transaction", style="yellow")
        self.query_one("#migration-info", Static).update(info)
        self.query_one("#migration-sql", SqlView).show(node.sql, highlight=highlight)
        self.query_one("#migration-rollback", SqlView).show(node.rollback_sql, placeholder="(no rollback file: rollback is refused)")

    def select(self, migration: str, line: int | None) -> None:
        """Move to ``migration`` (and mark ``line`` of its SQL): where a convention finding came from."""
        self.pending_select = (migration, line)
        if self.migrations is not None and migration in self.migrations:
            self._show_rows()
            self.query_one("#migrations-table", DataTable).focus()

    # -- actions --------------------------------------------------------------------------------------------------

    def _busy(self) -> bool:
        app = self.app
        if any(app.task_running(task) for task in ("plan migrate", "plan rollback", "migrate", "rollback")):  # type: ignore[attr-defined]
            app.notify("A migration run is already in progress.", severity="warning")
            return True
        return False

    def migrate_all(self) -> None:
        self._plan("migrate", None)

    def apply_selected(self) -> None:
        if (migration_id := self.selected_id()) is not None:
            self._plan("migrate", migration_id)

    def rollback_selected(self) -> None:
        if (migration_id := self.selected_id()) is not None:
            self._plan("rollback", migration_id)

    def _plan(self, direction: str, target: str | None) -> None:
        """Read the status fresh and work out exactly what would run, with the CLI's own planners (a rollback of a
        migration without a rollback file is refused here, as ``dbtui rollback`` refuses it); the answer opens the
        confirmation."""
        url = self.app.require_database()  # type: ignore[attr-defined]
        if url is None or self._busy():
            return
        directory = self.project.migrations

        def plan() -> tuple[str, str | None, StatusReport, list[str]]:
            from database.dev.migration_status import plan_migrate, read_status
            from database.dev.migrations import rollback_plan

            report = read_status(url, directory)
            ids = plan_migrate(report, target) if direction == "migrate" else rollback_plan(report, target or "")
            return direction, target, report, ids

        self.app.run_task(self, f"plan {direction}", plan)  # type: ignore[attr-defined]

    def _planned(self, result: tuple[str, str | None, StatusReport, list[str]]) -> None:
        direction, target, report, ids = result
        self._status_loaded(report)
        if not ids:
            self.app.notify("Nothing to apply: every migration is applied." if target is None else f"{target} is already applied.")
            return
        count = f"{len(ids)} migration{'s' if len(ids) != 1 else ''}"
        if direction == "migrate":
            title = f"Apply {count}" + (f" (for {target})" if target else "") + "?"
        else:
            title = f"Roll back {count}, newest first?"
        self.app.push_screen(ConfirmScreen(title, ids), partial(self._confirmed, direction, target))

    def preview(self) -> None:
        """The schema change of every pending migration, from a dry run on a throwaway clone (``p``)."""
        url = self.app.require_database()  # type: ignore[attr-defined]
        if url is None:
            return
        from dbtui.widgets.preview import PreviewScreen

        self.app.push_screen(PreviewScreen(url, self.project.migrations))

    async def _confirmed(self, direction: str, target: str | None, yes: bool | None) -> None:
        if not yes:
            self.app.notify("Cancelled; nothing ran.")
            return
        url = self.app.require_database()  # type: ignore[attr-defined]
        if url is None:
            return
        from database.dev import migrations as backend

        run: Callable[..., RunResult] = backend.migrate if direction == "migrate" else backend.rollback
        args = (url, self.project.migrations) if direction == "migrate" and target is None else (url, self.project.migrations, target)
        clock = self.app.clock  # type: ignore[attr-defined]

        def progress(event: Any) -> None:
            self.post_message(messages.MigrationProgress(event, clock.monotonic()))

        await self._show_run(f"[b]{'Applying' if direction == 'migrate' else 'Rolling back'}…[/b]")
        self.steps = []
        self.app.run_task(self, direction, lambda: run(*args, on_event=progress))  # type: ignore[attr-defined]

    async def _show_run(self, title: str) -> None:
        """The run's title, progress bar and steps under the table. The first run mounts them: the first frame has
        no use for them (nor for importing ProgressBar)."""
        from textual.widgets import ProgressBar

        if not self.query("#migrations-run"):
            panel = Vertical(Label(id="migrations-run-title"), ProgressBar(id="migrations-progress", show_eta=False),
                             Static(id="migrations-steps"), id="migrations-run")
            await self.query_one("#migrations-left").mount(panel)
        self.query_one("#migrations-run-title", Label).update(title)
        self.query_one("#migrations-steps", Static).update("")
        self.query_one("#migrations-progress", ProgressBar).update(total=None, progress=0)

    def on_migration_progress(self, message: messages.MigrationProgress) -> None:
        from textual.widgets import ProgressBar

        from database.dev.migrations import MigrationDone, MigrationStarted

        message.stop()
        event = message.event
        bar = self.query_one("#migrations-progress", ProgressBar)
        seconds = None
        if isinstance(event, MigrationStarted):
            bar.update(total=event.total, progress=event.index)
            self.started_at[event.id] = message.at
        elif isinstance(event, MigrationDone):
            seconds = message.at - self.started_at.get(event.id, message.at)
            bar.advance(1)
        record_step(self.steps, event, seconds)
        self.query_one("#migrations-steps", Static).update(Text("\n").join(self.steps))

    def _ran(self, result: RunResult) -> None:
        done = len(result.done)
        word = "applied" if result.direction == "apply" else "rolled back"
        self.query_one("#migrations-run-title", Label).update(f"[b]Done:[/b] {done} {word}")
        self.app.notify(f"{done} migration{'s' if done != 1 else ''} {word}.", title="Migrations")
        self.load_status()
        self.app.post_message(messages.SchemaChanged())

    def new_migration(self) -> None:
        self.app.push_screen(
            PromptScreen("Name of the new migration", placeholder="add_invoices", hint="lowercase letters, digits and _ · [b]enter[/b] create · [b]escape[/b] cancel"),
            self._named,
        )

    def _named(self, name: str | None) -> None:
        if not name:
            return
        directory = self.project.migrations

        def create() -> Any:
            from database.dev.migration_tree import new_migration

            return new_migration(directory, name)

        self.app.run_task(self, "new migration", create)  # type: ignore[attr-defined]

    def _created(self, created: Any) -> None:
        merged = f", merging {', '.join(created.depends)}" if len(created.depends) > 1 else ""
        self.app.notify(f"Created {created.path.name} and {created.rollback_path.name}{merged}.", title="New migration")
        self.pending_select = (created.path.name.removesuffix(".sql"), None)
        self.load_tree()
