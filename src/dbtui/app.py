"""The ``dbtui`` terminal app: migrations, codegen, conventions, locks and schema in one screen.

The app holds no database logic. Every action calls a ``database.dev`` function (the same one the CLI calls) in a
thread worker; the worker reports back with one message class per outcome (``dbtui.messages``). A one-second
heartbeat lists the advisory locks, which doubles as the database health check: when it fails the header says so and
the heartbeat keeps retrying; when it answers again every tab reloads. A file watcher reloads what a save changed.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shlex
import subprocess
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from textual import events, on, work
from textual.app import App, ComposeResult, SuspendNotSupported
from textual.geometry import Size
from textual.screen import Screen
from textual.widget import AwaitMount, Widget
from textual.widgets import Header, Input, Static, TabbedContent, TabPane

from database.config import scrub
from database.errors import DbtuiError
from dbtui import messages
from dbtui.actions import ACTIONS, BINDINGS, TABS
from dbtui.context import Context
from dbtui.palette import ActionsProvider
from dbtui.tabs.base import TabContent
from dbtui.tabs.migrations import MigrationsTab
from dbtui.widgets.footer import KeysFooter
from dbtui.widgets.log_screen import LogEntry, LogScreen, Severity

if TYPE_CHECKING:
    from database.dev.locks import LockInfo
    from database.dev.migration_status import AppliedRecord
    from dbtui.tabs.codegen import CodegenTab
    from dbtui.tabs.conventions import ConventionsTab

MIN_WIDTH = 80
MIN_HEIGHT = 24
HEARTBEAT_SECONDS = 1.0
NAME_AFTER_SECONDS = 0.3  # the header names a database that has not answered yet after this long
# What gets the keys when a tab is shown.
MAIN_LISTS = "#migrations-table, #codegen-runs, #conventions-table, #locks-table, #schema-tables"
# The tabs after the first: imported and mounted when first needed, see tab().
LATER_TABS = [pane for pane in TABS if pane != "migrations"]


class Clock:
    """Wall clock and stopwatch; tests pass a frozen one so that snapshots do not change."""

    def now(self) -> datetime:
        return datetime.now().astimezone()

    def monotonic(self) -> float:
        return time.monotonic()


def database_label(url: str | None, *, embedded: bool = False, auto_started: bool = False) -> str:
    """What the header calls the database: its name and where it lives, never a password or a socket path; for the
    embedded cluster, whether a command started it on demand (it stops itself when idle)."""
    if url is None:
        return "embedded cluster"
    if embedded:  # its socket goes without saying; short enough for the header at 80 columns
        name = urlsplit(url).path.lstrip("/") or "postgres"
        return f"{name} · embedded{', auto-started' if auto_started else ''}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # unparsable: say so without echoing it (it may hold a password)
        return "database (invalid URL)"
    name = parts.path.lstrip("/") or "postgres"
    host = parts.hostname or (parse_qs(parts.query).get("host") or [""])[0]
    if not host or host.startswith("/"):
        return f"{name} (socket)"
    return f"{name} @ {host}{f':{port}' if port else ''}"


class ChosenTabs(TabbedContent):
    """Tabs that change only when chosen (a click, a key, the palette), never because a widget in another pane got
    focus. TabbedContent activates the pane of any widget that is focused: with two tab changes in flight, the
    earlier one's focusing of its list switched back to it after the later one, and each switch focused again."""

    def _on_tab_pane_focused(self, event: TabPane.Focused) -> None:
        event.prevent_default()  # TabbedContent's own handler would activate the pane
        event.stop()


class MainScreen(Screen):
    """The screen the tabs live on; it tells the app its size, for the too-small notice."""

    AUTO_FOCUS = "#migrations-table"  # focused as the screen starts (focusing it later restyles the tab bar twice)

    def on_resize(self, event: events.Resize) -> None:
        app = self.app
        if isinstance(app, DbtuiApp):
            app.check_size(event.size)


class DbtuiApp(App[int]):
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "dbtui"
    COMMANDS = App.COMMANDS | {ActionsProvider}
    BINDINGS = BINDINGS
    # Narrow terminals stack the detail panes below the lists (app.tcss: ``.-narrow``).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    # Actions that touch the main screen: not while a dialog is open (so q or m there do nothing).
    MAIN_SCREEN_ACTIONS = {action.action.split("(")[0] for action in ACTIONS}

    def __init__(
        self,
        ctx: Context,
        *,
        clock: Clock | None = None,
        heartbeat: float = HEARTBEAT_SECONDS,
        watch_files: bool = True,
    ) -> None:
        super().__init__()
        self.ctx = ctx
        self.clock = clock or Clock()
        self.heartbeat_seconds = heartbeat
        self.watch_files = watch_files
        self.database_ok: bool | None = None  # None: not asked yet
        self.database_detail = ""
        self.url: str | None = None
        self.label = "database"
        self.locks: list[LockInfo] = []  # what the heartbeat last saw
        self.mounting: dict[str, AwaitMount] = {}  # tabs mounted (or being mounted), by pane id
        self.waiting: dict[str, Callable[[str], object]] = {}  # actions pressed before the database answered
        self.log_entries: list[LogEntry] = []
        self.crash_log: Path | None = None
        self.stop_watching = threading.Event()
        self.probing = threading.Event()  # the first heartbeat's worker is running (see first_answer)
        self.answered: Future[messages.HeartbeatOk | None] = Future()  # its answer (None: it failed)

    # -- layout ---------------------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        """Only the Migrations tab has content in the first frame; the other tabs are mounted when first needed."""
        yield Header(icon="◆")
        with ChosenTabs(id="tabs", initial="migrations"):
            with TabPane(TABS["migrations"], id="migrations"):
                yield MigrationsTab(self.ctx.project)
            for pane_id in LATER_TABS:
                yield TabPane(TABS[pane_id], id=pane_id)
        yield Input(placeholder="filter: type to narrow the list · enter keep · escape clear", id="filter")
        yield KeysFooter(compact=True)  # every key of the footer fits 80 columns
        yield Static("", id="too-small")

    def on_load(self) -> None:
        """No garbage collection until the first frame: the start allocates a lot and frees little, and Python
        would otherwise pause it several times (~60 ms, one full collection) to find nothing.

        The database is asked at once (see ``first_answer``)."""
        gc.disable()
        self.heartbeat()

    def on_mount(self) -> None:
        self._show_health()
        self.check_size()

    def on_ready(self) -> None:
        """The first frame is on the terminal (with the migration list, read from the files on mount): now the
        selected migration's SQL, the database, and the file watcher.

        What the start allocated lives as long as the app: it is frozen out of the collector's reach (``gc.freeze``)
        before collection resumes, or the first collection would walk all of it (~40 ms with 2,000 migrations
        listed) while the status is on its way."""
        gc.freeze()
        gc.enable()
        self.query_one(MigrationsTab).first_frame_shown()
        self.set_timer(NAME_AFTER_SECONDS, self._name_database)
        self.set_interval(self.heartbeat_seconds, self.heartbeat)
        if self.watch_files:
            self.watch_project()

    def _name_database(self) -> None:
        """The header's name for the database while it does not answer (an answer names it). Not before the first
        frame: checking a URL imports psycopg (~50 ms), which the heartbeat's worker needs anyway; and not at once
        after it: a database that answers at once is named by its answer, with one redraw of the header fewer."""
        if self.database_ok is not None:
            return  # the heartbeat has named it already
        try:
            self.label = database_label(self.ctx.explicit_url())
        except DbtuiError:  # an invalid URL: the heartbeat reports why, in the header
            self.label = "database (invalid URL)"
        self._show_health()

    def on_unmount(self) -> None:
        self.stop_watching.set()

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

    async def tab(self, pane_id: str) -> Widget:
        """The content of tab ``pane_id``; the tabs after the first are mounted when first shown or used (nobody
        pays for a tab they never look at)."""
        return await self._content(self.query_one(f"#{pane_id}", TabPane))

    async def codegen_tab(self) -> CodegenTab:
        from dbtui.tabs.codegen import CodegenTab

        tab = await self.tab("codegen")
        assert isinstance(tab, CodegenTab)
        return tab

    async def conventions_tab(self) -> ConventionsTab:
        from dbtui.tabs.conventions import ConventionsTab

        tab = await self.tab("conventions")
        assert isinstance(tab, ConventionsTab)
        return tab

    async def _content(self, pane: TabPane) -> Widget:
        pane_id = str(pane.id)
        if pane_id in LATER_TABS and pane_id not in self.mounting and pane.is_attached:
            self.mounting[pane_id] = pane.mount(self.new_tab(pane_id))
        if pane_id in self.mounting:
            await self.mounting[pane_id]
        return pane.children[0]

    def get_default_screen(self) -> Screen:
        """The main screen, with its breakpoint class (``-wide``, ``-narrow``) from the start: Textual sets it on the
        screen's first resize event, after the first frame, which was then drawn narrow and laid out again."""
        width = self.size.width
        wide = [name for threshold, name in sorted(self.HORIZONTAL_BREAKPOINTS, reverse=True) if width >= threshold]
        return MainScreen(id="_default", classes=" ".join(wide[:1]))

    def check_size(self, size: Size | None = None) -> None:
        width, height = size or self.size
        small = width < MIN_WIDTH or height < MIN_HEIGHT
        if small:  # the notice is shown only then (updating it lays the screen out again)
            self.query_one("#too-small", Static).update(
                f"The terminal is {width}×{height}; dbtui needs at least {MIN_WIDTH}×{MIN_HEIGHT}.\n"
                "Make the window larger, or press q to quit."
            )
        self.screen.set_class(small, "-too-small")

    # -- crashes --------------------------------------------------------------------------------------------------

    def _handle_exception(self, error: Exception) -> None:
        """An exception nothing handled: write it to ``<data_dir>/dbtui-crash.log``, show it (scrubbed, without
        Textual's local variables, which may hold a database URL) when the screen is given back, exit 1."""
        text = scrub("".join(traceback.format_exception(error)))
        try:
            log = self.ctx.project.data_dir / "dbtui-crash.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("a", encoding="utf-8") as handle:
                handle.write(f"--- {self.clock.now().isoformat()}\n{text}\n")
            self.crash_log = log
            where = f"The traceback is also in {log}."
        except OSError as exc:
            where = f"(could not write the crash log: {exc})"
        self._return_code = 1
        if self._exception is None:  # Pilot re-raises it in tests
            self._exception = error
            self._exception_event.set()
        self.bell()
        self._exit_renderables.append(f"dbtui crashed; please report this.\n\n{text}\n{where}")
        self._close_messages_no_wait()

    # -- notifications and the log --------------------------------------------------------------------------------

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: Severity = "information",
        timeout: float | None = None,
        markup: bool = True,
        detail: str = "",
    ) -> None:
        """Every toast also goes to the log screen (``l``), where it can be read in full."""
        self.log_entries.append(LogEntry(self.clock.now(), title, message, severity, detail))
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    @on(messages.Failure)
    def _record_failure(self, message: messages.Failure) -> None:
        """Every failed job: a toast naming what failed, and the traceback in the log."""
        if isinstance(message, messages.HeartbeatFailed):
            return  # the heartbeat reports a change of health itself, not every second
        self.notify(
            message.error, title=message.title, severity="error", timeout=8, markup=False, detail=message.traceback
        )

    def action_show_log(self) -> None:
        self.push_screen(LogScreen(self.log_entries))

    # -- the database ---------------------------------------------------------------------------------------------

    def heartbeat(self) -> None:
        """List the locks (cheap) once a second; success or failure is also the database's health."""
        if any(worker.group == "heartbeat" and not worker.is_finished for worker in self.workers):
            return
        self._probe(with_status=self.database_ok is not True)

    @work(thread=True, exit_on_error=False, group="heartbeat", description="heartbeat")
    def _probe(self, *, with_status: bool) -> None:
        """``with_status``: the database has not answered yet (or not since it failed): then every tab reloads, and
        the migration status is read here, on the heartbeat's connection (one connection, not two in a row)."""

        def probe() -> messages.HeartbeatOk:
            from database.dev import pg
            from database.dev.locks import held_locks
            from database.dev.migration_status import applied_records

            url = self.ctx.url()  # may start the embedded cluster: only ever in this worker
            with pg.connect(url, connect_timeout=5) as conn:
                held = held_locks(conn)
                applied = applied_records(conn) if with_status else None
            record = None
            if self.ctx.explicit_url() is None:  # the embedded cluster (the server module is not needed otherwise)
                from database.dev import server

                record = server.dev_cluster(self.ctx.project).read_record()
            return messages.HeartbeatOk(url, held, applied, auto_started=bool(record and record.auto_started))

        def first(ok: messages.HeartbeatOk | None) -> None:
            if not self.answered.done():
                self.answered.set_result(ok)

        def answer() -> messages.HeartbeatOk:
            self.probing.set()
            try:
                ok = probe()
            except BaseException:
                first(None)
                raise
            first(ok)
            return ok

        messages.deliver(self, answer, lambda ok: ok, messages.HeartbeatFailed)

    async def first_answer(self, timeout: float) -> messages.HeartbeatOk | None:
        """The database's first answer (asked on load), which brings the migration status: waited for up to
        ``timeout`` seconds (None: no answer by then, or it failed; the heartbeat goes on either way). The Migrations
        tab waits for it before reading its files: the first frame then shows the status, instead of the whole screen
        being drawn again for it a moment later.

        The wait blocks the app (nothing is on the screen yet): the worker has the interpreter to itself. With the
        files read side by side with it, the start took longer in all: each of thousands of reads handed the
        interpreter lock to the worker importing psycopg and back (2,000 migrations: ~0.15 s more CPU before the
        first frame)."""
        if not self.probing.is_set():
            self.heartbeat()  # (asked on load: nothing, unless that worker has not even started)
            await asyncio.sleep(0)  # the worker's thread is started by its task
        started = time.monotonic()
        if not self.probing.wait(timeout):
            return None
        try:
            return self.answered.result(max(0.0, timeout - (time.monotonic() - started)))
        except TimeoutError:
            return None

    def on_heartbeat_ok(self, message: messages.HeartbeatOk) -> None:
        self.locks = message.locks
        for tab in self.query(TabContent):  # the Locks tab, once mounted
            tab.heartbeat(message.locks, None)
        was_ok = self.database_ok
        self.url = message.url
        self.database_ok = True
        self.label = database_label(
            message.url, embedded=self.ctx.explicit_url() is None, auto_started=message.auto_started
        )
        self._show_health()
        if not was_ok:
            if was_ok is False:
                self.notify("The database answers again.", title="Reconnected")
            self.reload_all(message.applied)
            waiting, self.waiting = self.waiting, {}
            for run in waiting.values():  # keys pressed while it was away: now
                run(message.url)

    def on_heartbeat_failed(self, message: messages.HeartbeatFailed) -> None:
        if self.database_ok is None:
            self._name_database()
        was_ok = self.database_ok
        self.database_ok = False
        self.database_detail = message.error
        self._show_health()
        for tab in self.query(TabContent):
            tab.heartbeat(None, message.error)
        if was_ok is not False:  # the first failure, or a change: once, with the reason in the log
            self.notify(
                message.error,
                title="Database unreachable",
                severity="error",
                timeout=6,
                markup=False,
                detail=message.traceback,
            )

    def _show_health(self) -> None:
        """Short words that fit the header at 80 columns; the reason in full is in the log (``l``)."""
        if self.database_ok is None:
            health = "connecting…"
        elif self.database_ok:
            health = "● connected"
        else:
            health = "✗ unreachable · retrying · l: why"
        self.sub_title = f"{self.label} · {health}"

    def when_database(self, what: str, run: Callable[[str], object]) -> None:
        """Run ``run(url)`` now if the database answers, else as soon as it does: a key pressed while the status
        loads is never dropped."""
        if self.database_ok and self.url:
            run(self.url)
            return
        self.waiting[what] = run
        state = "is still connecting" if self.database_ok is None else "does not answer (l: why)"
        self.notify(f"Loading… the database {state}; {what} runs as soon as it answers.", title="Waiting")

    def reload_all(self, applied: dict[str, AppliedRecord] | None = None) -> None:
        """The database answered (first time or after an outage), or ``ctrl+r``: every tab asks again (``applied``:
        the migration status, when the heartbeat's answer brought it)."""
        assert self.url is not None
        for tab in self.query(TabContent):
            tab.database_ready(self.url, applied)

    def action_start_database(self) -> None:
        if self.ctx.explicit_url() is not None:
            self.notify(
                "The database URL is set explicitly: dbtui starts only its own embedded cluster.", severity="warning"
            )
            return
        if self.database_ok:
            self.notify("The embedded database is running.")
            return
        self.notify("Starting the embedded database…")
        self._start_database()

    @work(thread=True, exclusive=True, exit_on_error=False, group="start database")
    def _start_database(self) -> None:
        def start() -> None:
            from database.dev import server

            server.dev_cluster(self.ctx.project).ensure_running()

        messages.deliver(self, start, lambda _: messages.DatabaseStarted(), messages.StartFailed)

    def on_database_started(self) -> None:
        self.notify("The embedded database is running.", title="Started")
        self.heartbeat()

    # -- live files -----------------------------------------------------------------------------------------------

    @work(thread=True, exit_on_error=False, group="file watch")
    def watch_project(self) -> None:
        """Post FilesChanged for every save to migrations/, queries.sql or schema_annotations.yaml."""
        from database.dev.project_watch import watch_project

        try:
            for changes in watch_project(self.ctx.project, stop_event=self.stop_watching):
                self.post_message(messages.FilesChanged(changes))
        except Exception as exc:  # the watcher is a convenience: say it stopped, keep the app
            self.post_message(messages.WatchFailed.from_exception(exc))

    def on_files_changed(self, message: messages.FilesChanged) -> None:
        """A save in the editor: the tabs that read those files read them again (codegen has its own watch)."""
        for tab in self.query(TabContent):
            tab.files_changed(message.changes)

    def action_refresh(self) -> None:
        """``ctrl+r``: files and database, everything, now."""
        from database.dev.project_watch import ProjectChanges

        everything = ProjectChanges.everything()
        for tab in self.query(TabContent):
            tab.files_changed(everything)
        if self.database_ok and self.url:
            self.reload_all()
        else:
            self.heartbeat()
        self.notify("Reloading files and database.", title="Refresh")

    # -- actions --------------------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action not in self.MAIN_SCREEN_ACTIONS or isinstance(self.screen, MainScreen)

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    async def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """Keys go to the tab's main list, not the tab bar, so the arrows move through rows at once.

        Only while the pane is still the active one: focusing a widget in a pane makes TabbedContent activate that
        pane, so focusing the list of a tab that a quicker click has already left would switch back to it, post
        another TabActivated, and two bursts of clicks would keep the tabs flipping forever."""
        pane = event.pane
        await self._content(pane)  # may wait for the tab to be mounted: by then another tab may be active
        if event.tabbed_content.active != pane.id or not isinstance(self.screen, MainScreen):
            return
        focused = self.focused
        if focused is not None and pane in focused.ancestors:
            return
        for widget in pane.query(MAIN_LISTS):
            widget.focus()
            break

    def active_tab(self) -> TabContent | None:
        pane = self.query_one(TabbedContent).active_pane
        content = pane.children[0] if pane is not None and pane.children else None
        return content if isinstance(content, TabContent) else None

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
        (await self.codegen_tab()).run_now()

    async def action_toggle_watch(self) -> None:
        (await self.codegen_tab()).toggle_watch()

    async def action_check(self) -> None:
        self.action_show_tab("conventions")
        (await self.conventions_tab()).run_checks()

    def action_help(self) -> None:
        from dbtui.widgets.help_screen import HelpScreen  # Markdown: imported when first asked for

        self.push_screen(HelpScreen())

    def action_filter(self) -> None:
        """``/``: narrow the active tab's list as you type (migrations, findings, schema tables)."""
        tab = self.active_tab()
        if tab is None or not tab.apply_filter(""):
            self.notify("This tab has no list to filter.", severity="warning")
            return
        box = self.query_one("#filter", Input)
        box.add_class("-shown")
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        tab = self.active_tab()
        if tab is not None:
            tab.apply_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        self._close_filter(clear=False)

    def on_key(self, event: events.Key) -> None:
        if event.key == "escape" and self.focused is self.query_one("#filter", Input):
            event.stop()
            self._close_filter(clear=True)

    def _close_filter(self, *, clear: bool) -> None:
        box = self.query_one("#filter", Input)
        if clear:
            box.value = ""
            tab = self.active_tab()
            if tab is not None:
                tab.apply_filter("")
        box.set_class(bool(box.value), "-shown")
        pane = self.query_one(TabbedContent).active_pane
        if pane is not None:
            for widget in pane.query(MAIN_LISTS):
                widget.focus()
                break

    def action_edit(self) -> None:
        """``e``: the selection's file in ``$EDITOR`` at its line; everything it may have changed reloads after."""
        tab = self.active_tab()
        where = tab.edit_target() if tab is not None else None
        if where is None:
            self.notify("Nothing here to open in an editor.", severity="warning")
            return
        path, line = where
        command = editor_command(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi", path, line)
        try:
            with self.suspend():
                subprocess.run(command, check=False)
        except SuspendNotSupported:  # no terminal to hand over (tests, some web terminals): run it as is
            subprocess.run(command, check=False, stdin=subprocess.DEVNULL)
        except OSError as exc:
            self.notify(f"{command[0]}: {exc.strerror}", title="Editor", severity="error")
            return
        self.action_refresh()

    def on_schema_changed(self) -> None:
        if self.url:
            for tab in self.query(TabContent):
                tab.schema_changed(self.url)

    def on_jump_to_source(self, message: messages.JumpToSource) -> None:
        self._migrations().select(message.migration, message.line)


def editor_command(editor: str, path: Path, line: int | None) -> list[str]:
    """``$EDITOR`` at ``path:line``: ``+LINE`` works for vi, vim, nvim, nano, emacs, micro, helix and kakoune;
    VS Code-like editors take ``--goto path:line``."""
    words = shlex.split(editor)
    name = Path(words[0]).name
    if line is None:
        return [*words, str(path)]
    if name in ("code", "codium", "cursor"):
        return [*words, "--goto", f"{path}:{line}"]
    if name in ("subl", "zed"):
        return [*words, f"{path}:{line}"]
    return [*words, f"+{line}", str(path)]


def run_app(ctx: Context) -> int:
    """``dbtui`` with no subcommand. A broken project or database URL fails here, as one line, before the screen is
    taken; a database that is merely down is shown in the app, which keeps retrying. A crash exits 1."""
    _ = ctx.project  # loaded now: a broken pyproject.toml is one line here, not a crash inside the app
    ctx.require_session("the TUI", unreachable_ok=True)
    app = DbtuiApp(ctx)
    app.run()
    return app.return_code or 0
