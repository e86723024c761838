"""The start of the app: what the first frame has, what the first answer of the database brings, and work that the
start no longer repeats (each of these once cost the time the status was on its way)."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets._footer import FooterKey

from database.dev.migration_status import read_applied, read_status
from database.dev.migrations import apply_all
from dbtui import messages
from dbtui.app import DbtuiApp
from dbtui.context import Context
from dbtui.tabs.migrations import MigrationsTab
from dbtui.widgets.lists import ListTable

from .conftest import SIZE, FrozenClock, text_of, wait_for


class RecordingApp(DbtuiApp):
    """The app, noting what it had at moments the tests ask about (real app, real database: only notes added)."""

    def __init__(self, project: Path, url: str) -> None:
        super().__init__(Context(project_dir=project, database_url=url), clock=FrozenClock(), watch_files=False)
        self.classes_at_mount: set[str] = set()
        self.footer_keys_at_ready = 0
        self.status_at_ready = False  # the first frame showed the status
        self.answers: list[tuple[bool, bool]] = []  # per heartbeat answer: it brought the status, the list had it

    def on_mount(self) -> None:
        self.classes_at_mount = set(self.screen.classes)
        super().on_mount()

    def on_ready(self) -> None:
        self.footer_keys_at_ready = len(self.query(FooterKey))
        self.status_at_ready = self.query_one(MigrationsTab).report is not None
        super().on_ready()

    def on_heartbeat_ok(self, message: messages.HeartbeatOk) -> None:
        super().on_heartbeat_ok(message)
        self.answers.append((message.applied is not None, self.query_one(MigrationsTab).report is not None))


async def test_the_first_answer_brings_the_status(tui_project: Path, empty_database: str) -> None:
    """The heartbeat's first answer reads the migration status on its own connection, and the list, filled once the
    answer is in, shows it in the first frame (no second connection, no second worker, no second drawing); later
    beats do not read it again."""
    apply_all(empty_database, tui_project / "migrations")
    app = RecordingApp(tui_project, empty_database)
    app.heartbeat_seconds = 0.2
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.answers) >= 3, what="three heartbeats")
        assert app.status_at_ready
        assert app.answers[0] == (True, True)
        assert all(not brought for brought, _ in app.answers[1:])
        tab = app.query_one(MigrationsTab)
        assert tab.report is not None and not tab.report.pending
        assert "applied" in text_of(app, "#migrations-summary")


async def test_a_status_read_from_before_the_answer_is_dropped(tui_project: Path, empty_database: str) -> None:
    """The status the database's answer brings (on reconnecting) is newer than a read still on its way."""
    app = DbtuiApp(Context(project_dir=tui_project, database_url=empty_database), watch_files=False)
    async with app.run_test(size=SIZE) as pilot:
        tab = app.query_one(MigrationsTab)
        await wait_for(pilot, lambda: tab.report is not None, what="the first status")
        stale = read_status(empty_database, tui_project / "migrations")
        asked = tab.status_asked
        apply_all(empty_database, tui_project / "migrations")
        tab.database_ready(empty_database, read_applied(empty_database))  # as the answer after an outage
        assert tab.report is not None and not tab.report.pending
        tab.post_message(messages.StatusLoaded(stale, asked))  # a read asked before it, arriving after it
        await pilot.pause(0.1)
        assert not tab.report.pending


async def test_first_frame_layout_and_footer(tui_project: Path, empty_database: str) -> None:
    """The screen's breakpoint class is there when the app mounts (it came with the first resize, after the first
    frame, which was drawn narrow and laid out again); the footer has its keys in the first frame and keeps them
    (the same widgets) when the focus moves, and is rebuilt when a key changes."""
    for width, expected in ((160, "-wide"), (100, "-narrow")):
        app = RecordingApp(tui_project, empty_database)
        async with app.run_test(size=(width, 40)) as pilot:
            assert expected in app.classes_at_mount
            assert app.footer_keys_at_ready > 0
            keys = list(app.query(FooterKey))
            table = app.query_one("#migrations-table")
            app.screen.set_focus(None)  # the focus moves (each move publishes the bindings), the keys shown stay
            await pilot.pause(0.1)
            table.focus()
            await pilot.pause(0.1)
            assert app.focused is table
            assert list(app.query(FooterKey)) == keys and all(key.is_attached for key in keys)
            app.set_keymap({"migrate": "M"})
            await pilot.pause(0.1)
            assert [key.key for key in app.query(FooterKey) if key.action == "migrate"] == ["M"]


class OneTable(App[None]):
    def compose(self) -> ComposeResult:
        table: ListTable[Text] = ListTable(id="t")
        table.add_column(Text("id"), key="id")
        table.add_column(Text("state"), key="state", width=7)
        yield table


async def test_list_table_lines_sized_once_and_updated_in_place() -> None:
    """``add_lines`` sizes the columns from the texts (DataTable's idle pass would measure every cell again: it has
    nothing left to measure); ``update_lines`` replaces texts in place and the table shows them."""
    app = OneTable()
    async with app.run_test(size=(40, 10)) as pilot:
        table = app.query_one(ListTable)
        table.add_lines((f"r{i}", (Text("x" * (i + 1)), Text("…"))) for i in range(5))
        assert not table._new_rows  # what DataTable's idle pass would measure: nothing
        await pilot.pause()
        assert table.ordered_columns[0].content_width == 5
        assert table.virtual_size.height == 6  # the header and five rows
        table.update_lines((f"r{i}", "state", Text("applied" if i % 2 else "pending")) for i in range(5))
        await pilot.pause()
        assert [table.get_cell(f"r{i}", "state").plain for i in range(5)] == [  # type: ignore[attr-defined]
            "pending",
            "applied",
            "pending",
            "applied",
            "pending",
        ]
        assert "applied" in "".join(segment.text for segment in table.render_line(2))
        table.clear()
        assert table.lines == {}
