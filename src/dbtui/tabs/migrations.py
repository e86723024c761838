"""Migrations tab: the migration graph with each migration's state, its SQL and rollback, and the actions on it.

The list comes from the files first (no database needed), then the status fills in when the database answers.
Every action plans first (what exactly would run, read fresh from the database), asks, then runs with one progress
line per migration. Failures stay on screen as ``file:line: message``.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache, lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Label, Static

from database.config import Project
from database.dev.paths import relative
from dbtui import messages
from dbtui.tabs.base import TabContent
from dbtui.widgets.confirm import ConfirmScreen
from dbtui.widgets.lists import ListTable
from dbtui.widgets.prompt import PromptScreen
from dbtui.widgets.sql_view import SqlView
from dbtui.widgets.steps import record_step

if TYPE_CHECKING:
    from database.dev.migration_status import AppliedRecord, StatusReport
    from database.dev.migration_tree import MigrationTree
    from database.dev.project_watch import ProjectChanges
    from database.dev.run_plan import Plan
    from dbtui.messages import HeartbeatOk

# The backends (yoyo, psycopg) are imported inside the workers: the first frame does not wait for them.

DETAIL_AFTER_SECONDS = 1.0  # the SQL pane waits this long for the status at most
FIRST_ANSWER_WAIT = 0.15  # the first frame waits this long at most for the database's first answer


def graph_rows(tree: MigrationTree) -> dict[str, str]:
    """One ``git log --graph``-like prefix per migration (a table row each), oldest first: ``●`` the migration,
    ``│`` a branch passing by, ``╮`` a branch forking off after it, ``╯`` a branch merging into it."""
    from database.dev.migration_tree import graph_steps

    rows: dict[str, str] = {}
    for step in graph_steps(tree):
        cells = []
        for i in range(max(len(step.arriving), len(step.leaving))):
            if i == step.column:
                cells.append("●")
            elif i in step.merged:
                cells.append("╯")
            elif i in step.forked:
                cells.append("╮")
            elif i < len(step.arriving) and step.arriving[i] is not None:
                cells.append("│")
            else:
                cells.append(" ")
        rows[step.id] = " ".join(cells).rstrip()
    return rows


def state_text(report: StatusReport | None, migration_id: str, has_rollback: bool) -> Text:
    """``applied``/``pending`` plus ``edited`` and ``no rollback`` flags, coloured. One of a handful of shared texts
    (not to be changed): 2,000 rows made 2,000 of them, twice."""
    if report is None:
        return _state_text(None, False, has_rollback)
    status = report[migration_id]
    return _state_text(status.applied, bool(status.edited), has_rollback)


@cache
def _state_text(applied: bool | None, edited: bool, has_rollback: bool) -> Text:
    text = Text()
    if applied is None:
        text.append("…", style="dim")
    else:
        text.append("applied" if applied else "pending", style="green" if applied else "yellow")
        if edited:
            text.append(" edited", style="bold red")
    if not has_rollback:
        text.append(" no-rollback", style="magenta")
    return text


@lru_cache(maxsize=4096)
def minute_text(minute: datetime) -> Text:
    """``minute`` in local time, as the list shows it; shared (not to be changed). Databases are often migrated in
    one go, their migrations applied within a few minutes: converting each time to local time (~5 µs) was most of the
    time 2,000 rows of status took."""
    return Text(f"{minute.astimezone():%Y-%m-%d %H:%M}")


NOT_APPLIED = Text()


class MigrationsTab(TabContent):
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
        self.status_tried = False  # the status arrived or failed, or the detail pane stopped waiting for it
        self.tree_asked = 0  # the number of the latest request to read the tree (see load_tree)
        self.status_asked = 0  # likewise for the status: one read before a migrate may finish after one after it
        self.joined: dict[str, AppliedRecord] | None = None  # the first answer's status, listed before the first frame
        self.first: HeartbeatOk | None = None  # the database's first answer, if it came before the list was read
        self.filter = ""
        self.shown: list[str] = []  # the ids listed, in order (all of them unless filtered)
        self.running = False  # a plan or a run is under way

    def compose(self) -> ComposeResult:
        with Vertical(id="migrations-left"):
            yield Label("Reading migrations…", id="migrations-summary")
            table: ListTable[Any] = ListTable(id="migrations-table", cursor_type="row")
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

    async def on_mount(self) -> None:
        """Before the first frame: the database's first answer, which brings the status, is waited for a moment
        (``App.first_answer``); then the files are read (that takes less than starting a thread), and the list is
        filled once, with the status."""
        self.first = await self.dbtui.first_answer(FIRST_ANSWER_WAIT)
        messages.deliver(self, self._read_tree, messages.TreeLoaded, messages.TreeFailed)

    # -- loading --------------------------------------------------------------------------------------------------

    def _read_tree(self) -> MigrationTree:
        from database.dev.migration_tree import load_tree

        return load_tree(self.project.migrations, cache_dir=self.project.data_dir / "cache")

    def load_tree(self) -> None:
        """From the files alone: fast, and shown before the database answers. Each request is numbered: two reads
        in flight (a save seen by the watcher, then ``ctrl+r``) may finish in either order, and only the latest
        request's tree is shown (a cancelled thread worker still runs to its end and posts its result)."""
        self.tree_asked += 1
        self._load_tree(self.tree_asked)

    @work(thread=True, exclusive=True, exit_on_error=False, group="migration tree")
    def _load_tree(self, asked: int) -> None:
        messages.deliver(self, self._read_tree, lambda tree: messages.TreeLoaded(tree, asked), messages.TreeFailed)

    def database_ready(self, url: str, applied: dict[str, AppliedRecord] | None = None) -> None:
        """``applied`` came with the database's first answer: joined to the tree listed, without a second read."""
        self.url = url
        if applied is not None and applied is self.joined:
            return  # the first answer, listed with the tree already (see on_tree_loaded)
        if applied is None or self.migrations is None:
            self.load_status()
            return
        from database.dev.migration_status import join_status

        self.status_asked += 1  # newer than any status read still on its way
        self._status_loaded(join_status(self.migrations, applied))

    def files_changed(self, changed: ProjectChanges) -> None:
        if changed.migrations:
            self.load_tree()

    def load_status(self) -> None:
        if self.url is not None:
            # The tree shown is the one on disk (a change reloads it, then the status): not read a second time.
            self.status_asked += 1
            self._load_status(self.url, self.migrations or self.project.migrations, self.status_asked)

    @work(thread=True, exclusive=True, exit_on_error=False, group="migration status", description="migration status")
    def _load_status(self, url: str, tree: MigrationTree | Path, asked: int) -> None:
        from database.dev.migration_status import read_status

        messages.deliver(
            self,
            lambda: read_status(url, tree),
            lambda report: messages.StatusLoaded(report, asked),
            messages.StatusFailed,
        )

    def on_tree_loaded(self, message: messages.TreeLoaded) -> None:
        if message.asked < self.tree_asked:
            return  # read before the files changed again: the later request's tree is on its way
        self.migrations = message.tree
        if self.report is not None and self.report.tree.ids != message.tree.ids:
            self.report = None
        first, self.first = self.first, None
        if first is not None and first.applied is not None:  # the database answered before the first frame
            from database.dev.migration_status import join_status

            self.url, self.joined = first.url, first.applied
            self.status_asked += 1
            self.status_tried = True
            self.report = join_status(message.tree, first.applied)
            self._show_rows()
            return
        self._show_rows()
        self.load_status()

    def on_tree_failed(self, message: messages.TreeFailed) -> None:
        self.query_one("#migrations-summary", Label).update(Text(message.error, style="red"))

    def on_status_loaded(self, message: messages.StatusLoaded) -> None:
        if message.asked < self.status_asked:
            return  # read before a later request (after a migrate, a file change): its answer is on its way
        self._status_loaded(message.report)

    def on_status_failed(self, message: messages.StatusFailed) -> None:
        self.query_one("#migrations-summary", Label).update(Text(message.error, style="red"))
        self._stop_waiting()

    def _status_loaded(self, report: StatusReport) -> None:
        self.status_tried = True
        same_rows = report.tree == self.migrations  # the tree listed (the TUI reads the status against it)
        self.migrations = report.tree
        self.report = report
        if same_rows and self.query_one("#migrations-table", ListTable).row_count == len(self.shown):
            self._show_states()
        else:
            self._show_rows()

    def _show_rows(self) -> None:
        assert self.migrations is not None
        table = self.query_one("#migrations-table", ListTable)
        keep = self.selected_id()
        table.clear()
        graph = graph_rows(self.migrations)
        shown = [node for node in self.migrations if self.filter in node.id.lower()]
        self.shown = [node.id for node in shown]
        table.add_lines(
            (
                node.id,
                (
                    Text(graph[node.id]),
                    Text(node.id),
                    state_text(self.report, node.id, node.has_rollback),
                    self._applied_at(node.id),
                ),
            )
            for node in shown
        )
        self._show_summary()
        target = self.pending_select[0] if self.pending_select else keep
        if target in self.shown:
            table.move_cursor(row=self.shown.index(target))
        line = None
        if self.pending_select and self.pending_select[0] in self.shown:
            line = self.pending_select[1]
            self.pending_select = None
        self.call_after_refresh(self._show_detail, line)

    def _show_states(self) -> None:
        """The status arrived for the rows already listed: only their state and applied-at cells change (filling
        the table again would add and measure every row a second time: ~0.1 ms per migration)."""
        assert self.migrations is not None
        table = self.query_one("#migrations-table", ListTable)
        tree, report = self.migrations, self.report
        table.update_lines(
            cell
            for migration_id in self.shown
            for cell in (
                (migration_id, "state", state_text(report, migration_id, tree[migration_id].has_rollback)),
                (migration_id, "applied", self._applied_at(migration_id)),
            )
        )
        self._show_summary()
        self.call_after_refresh(self._show_detail)

    def _applied_at(self, migration_id: str) -> Text:
        at = self.report[migration_id].applied_at if self.report is not None else None
        return minute_text(at.replace(second=0, microsecond=0)) if at is not None else NOT_APPLIED

    def _show_summary(self) -> None:
        assert self.migrations is not None
        count = len(self.migrations)
        summary = f"{count} migration{'' if count == 1 else 's'} in {self.project.migrations.name}/"
        if self.filter:
            summary = f"{len(self.shown)} of {summary} match “{self.filter}”"
        if self.report is not None:
            summary += f" · {self.report.summary()}"
        elif self.url is None:
            summary += " · status: waiting for the database"
        self.query_one("#migrations-summary", Label).update(summary)

    def first_frame_shown(self) -> None:
        """The app's first frame (with the list) is on the terminal. The selected migration's SQL follows the status
        (highlighting it, ~50-100 ms of Pygments, would hold up the status, which the keys wait for), or a moment
        later when the database is slow to answer."""
        self.painted = True
        if not self.status_tried:
            self.set_timer(DETAIL_AFTER_SECONDS, self._stop_waiting)
        self._show_detail()

    def _stop_waiting(self) -> None:
        self.status_tried = True
        self._show_detail()

    def apply_filter(self, text: str) -> bool:
        self.filter = text.strip().lower()
        if self.migrations is not None:
            self._show_rows()
        return True

    def edit_target(self) -> tuple[Path, int | None] | None:
        migration_id = self.selected_id()
        if migration_id is None or self.migrations is None:
            return None
        return self.migrations[migration_id].path, None

    # -- the detail pane ------------------------------------------------------------------------------------------

    def selected_id(self) -> str | None:
        table = self.query_one("#migrations-table", ListTable)
        if self.migrations is None or table.row_count == 0 or not self.shown:
            return None
        return self.shown[min(table.cursor_row, len(self.shown) - 1)]

    def on_data_table_row_highlighted(self, event: ListTable.RowHighlighted) -> None:
        event.stop()
        self._show_detail()

    def _show_detail(self, highlight: int | None = None) -> None:
        migration_id = self.selected_id()
        if migration_id is None or self.migrations is None or migration_id not in self.migrations:
            return
        if not (self.painted and self.status_tried):
            return  # the list is painted first, then the status: highlighting SQL takes a moment
        node = self.migrations[migration_id]
        info = Text()
        info.append(migration_id, style="bold").append("  ").append_text(
            state_text(self.report, migration_id, node.has_rollback)
        )
        at = self.report[migration_id].applied_at if self.report is not None else None
        if at is not None:
            info.append(f"\napplied at {at.astimezone():%Y-%m-%d %H:%M:%S}")
        info.append(f"\nfile:      {relative(node.path, self.project.root)}")
        info.append(f"\ndepends:   {', '.join(node.depends) or '(root)'}")
        info.append(f"\nchildren:  {', '.join(node.children) or '(head)'}")
        if not node.transactional:
            info.append("\nruns outside a transaction", style="yellow")
        self.query_one("#migration-info", Static).update(info)
        self.query_one("#migration-sql", SqlView).show(node.sql, highlight=highlight)
        self.query_one("#migration-rollback", SqlView).show(
            node.rollback_sql, placeholder="(no rollback file: rollback is refused)"
        )

    def select(self, migration: str, line: int | None) -> None:
        """Move to ``migration`` (and mark ``line`` of its SQL): where a convention finding came from."""
        self.pending_select = (migration, line)
        if self.migrations is not None and migration in self.migrations:
            if migration not in self.shown:
                self.filter = ""
            self._show_rows()
            self.query_one("#migrations-table", ListTable).focus()

    # -- actions --------------------------------------------------------------------------------------------------

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
        confirmation. Pressed before the database answered, it runs when it does."""
        what = {"migrate": "migrate" if target is None else f"apply {target}", "rollback": f"roll back {target}"}[
            direction
        ]
        self.dbtui.when_database(what, partial(self._start_plan, direction, target))

    def _start_plan(self, direction: str, target: str | None, url: str) -> None:
        if self.running:
            self.app.notify("A migration run is already in progress.", severity="warning")
            return
        self.running = True
        self._plan_worker(url, direction, target)

    @work(thread=True, exit_on_error=False, group="migration run")
    def _plan_worker(self, url: str, direction: str, target: str | None) -> None:
        from database.dev.run_plan import plan_run

        project = self.project
        refused = messages.MigrateRefused if direction == "migrate" else messages.RollbackRefused
        messages.deliver(self, lambda: plan_run(url, project, direction, target), messages.PlanReady, refused)

    @on(messages.PlanRefused)
    def _refused(self, message: messages.PlanRefused) -> None:
        """Refused before anything ran: the app's toast says why (titled like the CLI's refusal)."""
        self.running = False

    def on_plan_ready(self, message: messages.PlanReady) -> None:
        plan = message.plan
        self.running = False
        self.status_asked += 1  # the plan's report is newer than any status read still on its way
        self._status_loaded(plan.report)
        if not plan.ids:
            self.app.notify(
                "Nothing to apply: every migration is applied."
                if plan.target is None
                else f"{plan.target} is already applied."
            )
            return
        count = f"{len(plan.ids)} migration{'s' if len(plan.ids) != 1 else ''}"
        if plan.direction == "migrate":
            title = f"Apply {count}" + (f" (for {plan.target})" if plan.target else "") + "?"
        else:
            title = f"Roll back {count}, newest first?"
        self.app.push_screen(
            ConfirmScreen(title, plan.ids, warnings=confirm_warnings(plan), sql=plan.statements),
            partial(self._confirmed, plan),
        )

    def preview(self) -> None:
        """The schema change of every pending migration, from a dry run on a throwaway clone (``p``)."""
        self.dbtui.when_database("preview", self._open_preview)

    def _open_preview(self, url: str) -> None:
        from dbtui.widgets.preview import PreviewScreen

        self.app.push_screen(PreviewScreen(url, self.project.migrations))

    async def _confirmed(self, plan: Plan, yes: bool | None) -> None:
        if not yes:
            self.app.notify("Cancelled; nothing ran.")
            return
        if self.running:
            return
        self.running = True
        await self._show_run(f"[b]{'Applying' if plan.direction == 'migrate' else 'Rolling back'}…[/b]")
        self.steps = []
        assert self.dbtui.url is not None
        self._run_worker(self.dbtui.url, plan.direction, plan.target)

    @work(thread=True, exit_on_error=False, group="migration run")
    def _run_worker(self, url: str, direction: str, target: str | None) -> None:
        from database.dev import migrations as backend

        clock = self.dbtui.clock
        directory = self.project.migrations

        def progress(event: Any) -> None:
            self.post_message(messages.MigrationProgress(event, clock.monotonic()))

        def run() -> Any:
            if direction == "migrate":
                return backend.migrate(url, directory, target, on_event=progress)
            return backend.rollback(url, directory, target or "", on_event=progress)

        messages.deliver(self, run, messages.RunFinished, messages.RunFailed)

    async def _show_run(self, title: str) -> None:
        """The run's title, progress bar and steps under the table. The first run mounts them: the first frame has
        no use for them (nor for importing ProgressBar)."""
        from textual.widgets import ProgressBar

        if not self.query("#migrations-run"):
            panel = Vertical(
                Label(id="migrations-run-title"),
                ProgressBar(id="migrations-progress", show_eta=False),
                Static(id="migrations-steps"),
                id="migrations-run",
            )
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

    def on_run_finished(self, message: messages.RunFinished) -> None:
        self.running = False
        result = message.result
        done = len(result.done)
        word = "applied" if result.direction == "apply" else "rolled back"
        self.query_one("#migrations-run-title", Label).update(f"[b]Done:[/b] {done} {word}")
        self.app.notify(f"{done} migration{'s' if done != 1 else ''} {word}.", title="Migrations")
        self.load_status()
        self.app.post_message(messages.SchemaChanged())

    def on_run_failed(self, message: messages.RunFailed) -> None:
        """The run panel says it failed, where (``file:line``) and why; the status shows what did get applied."""
        self.running = False
        title = Text("Failed: ", style="bold red").append(message.error, style="red")
        self.query_one("#migrations-run-title", Label).update(title)
        self.load_status()  # the run may have applied some before failing
        self.app.post_message(messages.SchemaChanged())

    def new_migration(self) -> None:
        self.app.push_screen(
            PromptScreen(
                "Name of the new migration",
                self._create,
                placeholder="add_invoices",
                hint="lowercase letters, digits and _ · [b]enter[/b] create · [b]escape[/b] cancel",
            ),
        )

    def _create(self, name: str) -> str | None:
        """Create the files (a few milliseconds of file writes); a bad name is an error the prompt shows, keeping
        what was typed."""
        from database.dev.migration_tree import new_migration
        from database.errors import DbtuiError

        try:
            created = new_migration(self.project.migrations, name)
        except (DbtuiError, OSError) as exc:
            return messages.describe_error(exc)
        merged = f", merging {', '.join(created.depends)}" if len(created.depends) > 1 else ""
        self.app.notify(f"Created {created.path.name} and {created.rollback_path.name}{merged}.", title="New migration")
        self.pending_select = (created.path.name.removesuffix(".sql"), None)
        self.load_tree()
        return None


def confirm_warnings(plan: Plan) -> list[str]:
    """What the confirmation warns of: data a rollback drops, statements that lock live tables, convention errors
    the pending migrations bring."""
    warnings = [f"drops {dropped} (and its data)" for dropped in plan.drops]
    if plan.risky:
        warnings.append(
            f"{len(plan.risky)} statement{'s' if len(plan.risky) != 1 else ''} would lock or rewrite live tables:"
        )
        warnings.extend(f"  {risky}" for risky in plan.risky)
    if plan.warnings:
        warnings.append(
            f"{len(plan.warnings)} convention error{'s' if len(plan.warnings) != 1 else ''} "
            "(dbtui check) in these migrations; y applies them anyway:"
        )
        warnings.extend(f"  {warning}" for warning in plan.warnings)
    if plan.unchecked:
        warnings.append(f"conventions not checked: {plan.unchecked}")
    return warnings
