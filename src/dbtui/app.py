"""The ``dbtui`` terminal app: migrations, codegen, conventions, locks and schema in one screen.

The app holds no database logic. Every action calls a ``database.dev`` function (the same one the CLI calls) in a
thread worker; the worker reports back with a message from ``dbtui.messages``. A one-second heartbeat lists the
advisory locks, which doubles as the database health check: when it fails the header says so and the heartbeat
keeps retrying; when it answers again every tab reloads.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.geometry import Size
from textual.message_pump import MessagePump
from textual.screen import Screen
from textual.widget import AwaitMount, Widget
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane
from textual.worker import Worker

from database.config import scrub
from database.errors import DbtuiError
from dbtui import messages
from dbtui.context import Context
from dbtui.palette import ACTIONS, ActionsProvider
from dbtui.tabs.migrations import MigrationsTab

MIN_WIDTH = 80
MIN_HEIGHT = 24
HEARTBEAT_SECONDS = 1.0
# What gets the keys when a tab is shown.
MAIN_LISTS = "#migrations-table, #codegen-runs, #conventions-table, #locks-table, #schema-tables"
# The tabs after the first (pane id: title): imported and mounted when first needed, see tab().
LATER_TABS = {"codegen": "Codegen", "conventions": "Conventions", "locks": "Locks", "schema": "Schema"}


class Clock:
    """Wall clock and stopwatch; tests pass a frozen one so that snapshots do not change."""

    def now(self) -> datetime:
        return datetime.now().astimezone()

    def monotonic(self) -> float:
        return time.monotonic()


def describe_error(exc: BaseException) -> str:
    """One line for the user, passwords scrubbed: our errors already read ``file:line: message``; others keep
    their first line."""
    if isinstance(exc, DbtuiError):
        return scrub(str(exc))
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return scrub(f"{type(exc).__name__}: {first}" if first else type(exc).__name__)


def database_label(url: str | None, *, embedded: bool = False) -> str:
    """What the header calls the database: its name and where it lives, never a password or a socket path."""
    if url is None:
        return "embedded cluster"
    if embedded:
        return f"embedded cluster · {database_label(url)}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # unparsable: say so without echoing it (it may hold a password)
        return "database (invalid URL)"
    name = parts.path.lstrip("/") or "postgres"
    host = parts.hostname or (parse_qs(parts.query).get("host") or [""])[0]
    if not host or host.startswith("/"):
        return f"{name} (local socket)"
    return f"{name} @ {host}{f':{port}' if port else ''}"


class MainScreen(Screen):
    """The screen the tabs live on; it tells the app its size, for the too-small notice."""

    AUTO_FOCUS = "#migrations-table"  # focused as the screen starts (focusing it later restyles the tab bar twice)

    def on_resize(self, event: events.Resize) -> None:
        self.app.check_size(event.size)  # type: ignore[attr-defined]


class DbtuiApp(App[int]):
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "dbtui"
    COMMANDS = App.COMMANDS | {ActionsProvider}
    BINDINGS: ClassVar = [
        Binding("m", "migrate", "Migrate"),
        Binding("a", "apply", "Apply"),
        Binding("r", "rollback", "Roll back"),
        Binding("n", "new_migration", "New"),
        Binding("p", "preview", "Preview"),
        Binding("g", "codegen", "Codegen"),
        Binding("w", "toggle_watch", "Watch"),
        Binding("c", "check", "Check"),
        Binding("f1", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]
    # Actions that touch the main screen: not while one of our dialogs is open (so q or m there do nothing).
    # Dialogs by name: the help and preview screens are imported only when first opened.
    MAIN_SCREEN_ACTIONS = {a.name.split("(")[0] for a in ACTIONS}
    DIALOGS = {"ConfirmScreen", "PromptScreen", "HelpScreen", "PreviewScreen"}

    def __init__(self, ctx: Context, *, clock: Clock | None = None, heartbeat: float = HEARTBEAT_SECONDS) -> None:
        super().__init__()
        self.ctx = ctx
        self.clock = clock or Clock()
        self.heartbeat_seconds = heartbeat
        self.database_ok: bool | None = None  # None: not asked yet
        self.database_detail = "connecting…"
        self.url: str | None = None
        self.locks: list[Any] = []  # what the heartbeat last saw (database.dev.locks.LockInfo)
        self.mounting: dict[str, AwaitMount] = {}  # tabs mounted (or being mounted), by pane id

    # -- layout ---------------------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        """Only the Migrations tab has content in the first frame; the other tabs are mounted right after it."""
        yield Header(icon="◆")
        with TabbedContent(id="tabs", initial="migrations"):
            with TabPane("Migrations", id="migrations"):
                yield MigrationsTab(self.ctx.project)
            for pane_id, title in LATER_TABS.items():
                yield TabPane(title, id=pane_id)
        yield Footer()
        yield Static("", id="too-small")

    def on_load(self) -> None:
        """No garbage collection until the first frame: the start allocates a lot and frees little, and Python
        would otherwise pause it several times (~60 ms, one full collection) to find nothing."""
        gc.disable()

    def on_mount(self) -> None:
        try:
            self.label = database_label(self.ctx.explicit_url())
        except DbtuiError:  # an invalid URL: the heartbeat reports why, in the header
            self.label = "database (invalid URL)"
        self._show_health()
        self.check_size()

    def on_ready(self) -> None:
        """The first frame is on the terminal (with the migration list, read from the files on mount): now the
        selected migration's SQL, and the database."""
        gc.enable()
        self.query_one(MigrationsTab).first_frame_shown()
        self.heartbeat()
        self.set_interval(self.heartbeat_seconds, self.heartbeat)

    def new_tab(self, pane_id: str) -> Widget:
        """The content of one of LATER_TABS (its module, and the widgets it uses, are imported here)."""
        project = self.ctx.project
        if pane_id == "codegen":
            from dbtui.tabs.codegen import CodegenTab

            return CodegenTab(project)
        if pane_id == "conventions":
            from dbtui.tabs.conventions import ConventionsTab

            return ConventionsTab(project)
        if pane_id == "locks":
            from dbtui.tabs.locks import LocksTab

            return LocksTab()
        from dbtui.tabs.schema import SchemaTab

        return SchemaTab(project)

    async def tab(self, pane_id: str) -> Any:
        """The content of tab ``pane_id``; the tabs after the first are mounted when first shown or used (nobody
        pays for a tab they never look at)."""
        return await self._content(self.query_one(f"#{pane_id}", TabPane))

    async def _content(self, pane: TabPane) -> Any:
        pane_id = str(pane.id)
        if pane_id in LATER_TABS and pane_id not in self.mounting and pane.is_attached:
            self.mounting[pane_id] = pane.mount(self.new_tab(pane_id))
        if pane_id in self.mounting:
            await self.mounting[pane_id]
        return pane.children[0] if pane.children else None

    def get_default_screen(self) -> Screen:
        return MainScreen(id="_default")

    def check_size(self, size: Size | None = None) -> None:
        width, height = size or self.size
        small = width < MIN_WIDTH or height < MIN_HEIGHT
        self.query_one("#too-small", Static).update(
            f"The terminal is {width}×{height}; dbtui needs at least {MIN_WIDTH}×{MIN_HEIGHT}.\nMake the window larger, or press q to quit."
        )
        self.screen.set_class(small, "-too-small")

    # -- background work ------------------------------------------------------------------------------------------

    def run_task(self, target: MessagePump, task: str, job: Callable[[], Any], *, wait: bool = False) -> Worker[None] | None:
        """Run ``job`` in a thread; ``target`` receives TaskDone or TaskFailed (which bubble up to the app).

        ``wait`` runs it right here instead, for the few milliseconds of work the first frame should not wait for a
        thread to get going (the migration list from the files)."""
        clock = self.clock

        def work() -> None:
            start = clock.monotonic()
            try:
                result = job()
            except Exception as exc:  # every failure becomes a message, never a crash
                target.post_message(messages.TaskFailed(task, describe_error(exc)))
            else:
                target.post_message(messages.TaskDone(task, result, clock.monotonic() - start))

        if wait:
            work()
            return None
        return self.run_worker(work, name=task, group=task, thread=True, exit_on_error=False)

    def task_running(self, task: str) -> bool:
        return any(w.name == task and not w.is_finished for w in self.workers)

    def heartbeat(self) -> None:
        """List the locks (cheap) once a second; success or failure is also the database's health."""
        if self.task_running("heartbeat"):
            return
        self.run_task(self, "heartbeat", self._probe)

    def _probe(self) -> Any:
        from database.dev import locks

        url = self.ctx.url()  # may start the embedded cluster: only ever in this worker
        return url, locks.list_locks(url)

    def on_task_done(self, message: messages.TaskDone) -> None:
        if message.task != "heartbeat":
            return
        url, held = message.result
        self.locks = held
        for locks in self.query("LocksTab"):  # none before it is mounted or while the app shuts down
            locks.show_locks(held)
        was_ok = self.database_ok
        self.url = url
        self.database_ok = True
        self.label = database_label(url, embedded=self.ctx.explicit_url() is None)
        self._show_health()
        if not was_ok:
            if was_ok is False:
                self.notify("The database answers again.", title="Reconnected")
            self.reload_all()

    def on_task_failed(self, message: messages.TaskFailed) -> None:
        if message.task == "heartbeat":
            was_ok = self.database_ok
            self.database_ok = False
            self.database_detail = message.error
            self._show_health()
            for locks in self.query("LocksTab"):
                locks.show_unreachable(message.error)
            if was_ok:
                self.notify(message.error, title="Database unreachable", severity="error", timeout=6)
            return
        self.notify(message.error, title=f"{message.task} failed", severity="error", timeout=8)

    def _show_health(self) -> None:
        if self.database_ok is None:
            health = "connecting…"
        elif self.database_ok:
            health = "● connected"
        else:
            health = f"✗ unreachable, retrying: {self.database_detail}"
        self.sub_title = f"{self.label} · {health}"

    def reload_all(self) -> None:
        """The database answered (first time or after an outage): every tab asks again."""
        assert self.url is not None
        for tab in self.query("MigrationsTab, CodegenTab, ConventionsTab, SchemaTab"):
            tab.database_ready(self.url)  # type: ignore[attr-defined]

    # -- actions --------------------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.MAIN_SCREEN_ACTIONS and type(self.screen).__name__ in self.DIALOGS:
            return False
        return True

    def require_database(self) -> str | None:
        """The URL when the database answers; otherwise say so and return None."""
        if self.database_ok and self.url:
            return self.url
        self.notify("The database is not reachable yet; the header shows why. Retrying every second.", severity="warning")
        return None

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    async def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """Keys go to the tab's main list, not the tab bar, so the arrows move through rows at once."""
        await self._content(event.pane)
        for widget in event.pane.query(MAIN_LISTS):
            widget.focus()
            break

    def _migrations(self) -> MigrationsTab:
        self.action_show_tab("migrations")
        return self.query_one(MigrationsTab)

    def action_migrate(self) -> None:
        self._migrations().migrate_all()

    def action_apply(self) -> None:
        self._migrations().apply_selected()

    def action_rollback(self) -> None:
        self._migrations().rollback_selected()

    def action_new_migration(self) -> None:
        self._migrations().new_migration()

    def action_preview(self) -> None:
        self._migrations().preview()

    async def action_codegen(self) -> None:
        self.action_show_tab("codegen")
        (await self.tab("codegen")).run_now()

    async def action_toggle_watch(self) -> None:
        (await self.tab("codegen")).toggle_watch()

    async def action_check(self) -> None:
        self.action_show_tab("conventions")
        (await self.tab("conventions")).run_checks()

    def action_refresh(self) -> None:
        if self.require_database():
            self.reload_all()

    def action_help(self) -> None:
        from dbtui.widgets.help_screen import HelpScreen  # Markdown: imported when first asked for

        self.push_screen(HelpScreen())

    def on_schema_changed(self) -> None:
        if self.url:
            for schema in self.query("SchemaTab"):
                schema.database_ready(self.url)  # type: ignore[attr-defined]

    def on_jump_to_source(self, message: messages.JumpToSource) -> None:
        self._migrations().select(message.migration, message.line)


def run_app(ctx: Context) -> int:
    """``dbtui`` with no subcommand. A broken project or database URL fails here, as one line, before the screen is
    taken; a database that is merely down is shown in the app, which keeps retrying."""
    ctx.project
    ctx.require_session("the TUI", unreachable_ok=True)
    app = DbtuiApp(ctx)
    app.run()
    return app.return_code or 0
