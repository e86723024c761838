"""The app shell: header health and reconnecting, help, palette, the too-small notice, the Locks and Schema tabs."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import psycopg
from textual.command import CommandList, CommandPalette
from textual.widgets import DataTable, OptionList

from database.dev import testdb
from database.dev.migration_tree import load_tree
from database.lock import pg_advisory_lock
from dbtui.app import database_label
from dbtui.palette import ACTIONS, ActionsProvider
from dbtui.widgets.help_screen import HelpScreen
from dbtui.widgets.preview import PreviewScreen

from .conftest import SIZE, LateDatabase, make_app, text_of, wait_for


async def test_header_names_database_and_health(tui_project: Path, empty_database: str) -> None:
    app = make_app(tui_project, empty_database)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.database_ok, what="database health")
        assert app.sub_title.endswith("(socket) · ● connected")
        assert testdb.database_name(empty_database) in app.sub_title
        assert gc.isenabled()  # paused for the start only, until the first frame
        assert app.focused is app.query_one("#migrations-table")  # the screen's AUTO_FOCUS


async def test_database_away_and_back(tui_project: Path, late_database: LateDatabase) -> None:
    """Start with no database: the app opens and says so; it reconnects when the database appears, and again later."""
    app = make_app(tui_project, late_database.url, heartbeat=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.database_ok is False, what="unreachable")
        assert app.sub_title.endswith("✗ unreachable · retrying · l: why")  # fits 80 columns
        assert app.sub_title.startswith(f"{late_database.name} (socket)")  # named, though it never answered
        assert "does not exist" in app.log_entries[-1].message  # the reason in full: the log screen (l)
        await pilot.press("l")
        assert "does not exist" in text_of(app.screen, "#log-text")
        await pilot.press("escape")
        assert "Database unreachable" in text_of(await app.tab("locks"), "#locks-summary")
        late_database.create()
        await wait_for(pilot, lambda: app.database_ok, what="reconnect")
        assert app.sub_title.endswith("● connected")
        late_database.drop()
        await wait_for(pilot, lambda: app.database_ok is False, what="second outage")
        late_database.create()
        await wait_for(pilot, lambda: app.database_ok, what="second reconnect")


async def test_help_opens_and_any_key_closes(tui_project: Path, empty_database: str) -> None:
    app = make_app(tui_project, empty_database)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("q")  # closes help; does not quit
        assert not isinstance(app.screen, HelpScreen)
        assert app.is_running


async def test_palette_offers_every_action(tui_project: Path, empty_database: str) -> None:
    """Every action is in the palette; choosing the preview there runs it like ``p``."""
    app = make_app(tui_project, empty_database)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.database_ok, what="database")
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        hits = [hit async for hit in ActionsProvider(app.screen).discover()]
        assert [hit.display for hit in hits] == [action.title for action in ACTIONS]
        assert {binding.action for binding in app.BINDINGS} <= {action.action for action in ACTIONS}  # every key
        await pilot.press(*"prev")
        results = app.screen.query_one(CommandList)
        await wait_for(pilot, lambda: results.option_count > 0, what="palette hits")
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PreviewScreen), what="preview")
        await wait_for(pilot, lambda: app.screen.result is not None, timeout=60, what="dry run")
        assert len(app.screen.result.planned) == len(load_tree(tui_project / "migrations"))


async def test_too_small_terminal_says_so(tui_project: Path, empty_database: str) -> None:
    app = make_app(tui_project, empty_database)
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        assert app.screen.has_class("-too-small")
        assert "needs at least 80×24" in text_of(app, "#too-small")
        await pilot.resize_terminal(*SIZE)
        await wait_for(pilot, lambda: not app.screen.has_class("-too-small"), what="notice gone")


async def test_lock_taken_elsewhere_shows_by_name(tui_project: Path, empty_database: str, monkeypatch) -> None:
    monkeypatch.setattr("database.config._configured_url", empty_database)  # the lock below is taken there
    app = make_app(tui_project, empty_database, heartbeat=0.2)
    async with app.run_test(size=SIZE) as pilot:
        app.action_show_tab("locks")  # (the palette's own test goes to a tab by name)
        await app.tab("locks")
        await wait_for(pilot, lambda: app.database_ok, what="database")
        table = app.query_one("#locks-table", DataTable)
        assert table.row_count == 0
        held = asyncio.Event()
        release = asyncio.Event()

        async def holder() -> None:
            async with pg_advisory_lock("tui-test-lock"):
                held.set()
                await release.wait()

        task = asyncio.create_task(holder())
        try:
            await asyncio.wait_for(held.wait(), 10)
            await wait_for(pilot, lambda: table.row_count == 1, what="lock row")
            lock, state, application, client, pid = map(str, table.get_row_at(0)[:5])
            assert (lock, state, client) == ("tui-test-lock", "held", "local")  # local: the Unix socket
            with psycopg.connect(empty_database) as conn:  # the holder as it names itself, by backend pid
                row = conn.execute(
                    "SELECT application_name FROM pg_stat_activity WHERE pid = %s", (int(pid),)
                ).fetchone()
            assert row is not None and application == row[0]
        finally:
            release.set()
            await task
        await wait_for(pilot, lambda: table.row_count == 0, what="lock released")


async def test_schema_tab_lists_tables_with_columns(tui_project: Path, migrated_database: str) -> None:
    app = make_app(tui_project, migrated_database)
    async with app.run_test(size=SIZE) as pilot:
        app.action_show_tab("schema")
        await app.tab("schema")
        tables = app.query_one("#schema-tables", OptionList)
        await wait_for(pilot, lambda: tables.option_count > 0, what="tables")
        names = [tables.get_option_at_index(i).id for i in range(tables.option_count)]
        assert "organizations" in names and "memberships" in names
        tables.highlighted = names.index("organizations")
        await pilot.pause()
        columns = app.query_one("#schema-columns", DataTable)
        column_names = [columns.get_row_at(i)[0] for i in range(columns.row_count)]
        assert column_names[0] == "id" and "created_at" in column_names
        assert "generate_id" in str(columns.get_row_at(0)[3])


def test_the_embedded_header_fits_80_columns() -> None:
    """The header centres its text between the icon and the right edge: about 64 of 80 columns."""
    label = database_label("postgresql://postgres@/postgres?host=/tmp/dbtui-0-abc", embedded=True, auto_started=True)
    assert label == "postgres · embedded, auto-started"
    assert len(f"dbtui — {label} · ● connected") <= 64
