"""The TUI as a daily driver: keys pressed before the data arrives, live files, results in full, the keys people
expect (?, /, e, Home/End), confirmations that show what they will do, and a crash that says so."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from textual.widgets import DataTable

from dbtui.actions import ACTIONS
from dbtui.tabs.conventions import ConventionsTab
from dbtui.tabs.migrations import MigrationsTab
from dbtui.widgets.confirm import ConfirmScreen
from dbtui.widgets.help_screen import HelpScreen, help_text

from .conftest import REPO, SIZE, LateDatabase, make_app, text_of, wait_for

GADGETS = (
    "-- depends: 0006_row_level_security\nCREATE TABLE gadgets (\n    id integer PRIMARY KEY,\n    size smallint\n);\n"
)


async def ready(pilot, app) -> MigrationsTab:
    tab = app.query_one(MigrationsTab)
    await wait_for(pilot, lambda: tab.report is not None, what="migration status")
    return tab


async def test_migrate_pressed_before_the_database_answers(tui_project: Path, late_database: LateDatabase) -> None:
    """``m`` while the status is still ``…`` says "Loading…" and opens the confirmation once the database answers."""
    app = make_app(tui_project, late_database.url, heartbeat=0.2)
    async with app.run_test(size=SIZE) as pilot:
        tab = app.query_one(MigrationsTab)
        assert tab.report is None  # the status cannot have arrived: the database does not exist yet
        await pilot.press("m")
        assert any(n.message.startswith("Loading…") for n in app._notifications)
        assert not isinstance(app.screen, ConfirmScreen)
        late_database.create()
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        assert app.screen.steps == tab.migrations.ids
        await pilot.press("y")
        await wait_for(pilot, lambda: tab.report is not None and not tab.report.pending, what="applied")


async def test_files_saved_elsewhere_show_up(tui_project: Path, empty_database: str) -> None:
    """A migration created, then deleted, from another program appears and goes; ``ctrl+r`` reloads by hand."""
    app = make_app(tui_project, empty_database)
    async with app.run_test(size=SIZE) as pilot:
        tab = await ready(pilot, app)
        new = tui_project / "migrations" / "0007_gadgets.sql"
        new.write_text(GADGETS, encoding="utf-8")
        await wait_for(pilot, lambda: "0007_gadgets" in tab.migrations.ids, timeout=10, what="new file seen")
        await wait_for(pilot, lambda: tab.report is not None and "0007_gadgets" in tab.report.pending, what="status")
        new.unlink()
        await wait_for(pilot, lambda: "0007_gadgets" not in tab.migrations.ids, timeout=10, what="deleted file")
        app.stop_watching.set()  # from here only ctrl+r may notice
        new.write_text(GADGETS, encoding="utf-8")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: "0007_gadgets" in tab.migrations.ids, what="ctrl+r")


async def test_a_tree_read_overtaken_by_a_later_one_is_dropped(tui_project: Path, empty_database: str) -> None:
    """Two reads of the files in flight (the watcher's, then ctrl+r's) may finish in either order: the earlier
    request's tree, arriving last, does not replace the later one's."""
    from database.dev.migration_tree import load_tree
    from dbtui import messages

    app = make_app(tui_project, empty_database, watch_files=False)
    async with app.run_test(size=SIZE) as pilot:
        tab = app.query_one(MigrationsTab)
        stale = load_tree(tui_project / "migrations")
        (tui_project / "migrations" / "0007_gadgets.sql").write_text(GADGETS, encoding="utf-8")
        tab.load_tree()
        await wait_for(pilot, lambda: "0007_gadgets" in tab.migrations.ids, what="the later read")
        tab.post_message(messages.TreeLoaded(stale))  # as the start's read, arriving after the later one
        await pilot.pause(0.1)
        assert "0007_gadgets" in tab.migrations.ids


async def test_a_status_read_overtaken_by_a_later_one_is_dropped(tui_project: Path, empty_database: str) -> None:
    """A status read from before the migrations were applied, arriving after the read that follows them, does not
    put "pending" back on every row."""
    from database.dev.migration_status import read_status
    from database.dev.migrations import apply_all
    from dbtui import messages

    app = make_app(tui_project, empty_database, watch_files=False)
    async with app.run_test(size=SIZE) as pilot:
        tab = app.query_one(MigrationsTab)
        await wait_for(pilot, lambda: tab.report is not None, what="the first status")
        stale = read_status(empty_database, tui_project / "migrations")
        assert stale.pending and not stale.applied
        apply_all(empty_database, tui_project / "migrations")
        tab.load_status()
        await wait_for(pilot, lambda: tab.report is not None and not tab.report.pending, what="the later read")
        tab.post_message(messages.StatusLoaded(stale))  # as a read from before, arriving after the later one
        await pilot.pause(0.1)
        assert not tab.report.pending


async def test_failed_run_says_where_in_the_run_panel(tui_project: Path, empty_database: str) -> None:
    """The error's own line within a multi-line statement (the server's position), in the panel and the log."""
    (tui_project / "migrations" / "0007_broken.sql").write_text(
        "-- depends: 0006_row_level_security\n\nCREATE TABLE fine (x bigint);\nCREATE TABLE bad (\n    a bigint,\n"
        "    b no_such_type\n);\n",
        encoding="utf-8",
    )
    app = make_app(tui_project, empty_database)
    async with app.run_test(size=SIZE) as pilot:
        tab = await ready(pilot, app)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: text_of(app, "#migrations-run-title").startswith("Failed:"), what="failure")
        title = text_of(app, "#migrations-run-title")
        assert "migrations/0007_broken.sql:6: " in title and "no_such_type" in title
        await wait_for(
            pilot,
            lambda: tab.report is not None and "0006_row_level_security" in tab.report.applied,
            what="status after the failure",
        )
        await pilot.press("l")
        log = text_of(app.screen, "#log-text")
        assert "Migration run failed" in log and "0007_broken.sql:6" in log and "Traceback" in log


async def test_rollback_confirmation_shows_sql_and_dropped_tables(tui_project: Path, migrated_database: str) -> None:
    app = make_app(tui_project, migrated_database)
    async with app.run_test(size=SIZE) as pilot:
        tab = await ready(pilot, app)
        table = tab.query_one("#migrations-table", DataTable)
        table.move_cursor(row=tab.shown.index("0004_memberships"))
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        screen = app.screen
        assert "drops table memberships (and its data)" in screen.warnings
        assert [migration for migration, _ in screen.sql] == screen.steps  # each step's SQL, in the order it runs
        assert screen.steps[-2:] == ["0006_row_level_security", "0004_memberships"]
        assert "DROP TABLE memberships" in screen.sql[-1][1]
        await pilot.press("escape")


async def test_migrate_warns_of_convention_errors_and_goes_on(tui_project: Path, empty_database: str) -> None:
    (tui_project / "migrations" / "0007_gadgets.sql").write_text(GADGETS, encoding="utf-8")
    app = make_app(tui_project, empty_database)
    async with app.run_test(size=SIZE) as pilot:
        tab = await ready(pilot, app)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), timeout=60, what="confirmation")
        warnings = "\n".join(app.screen.warnings)
        assert "convention error" in warnings and "migrations/0007_gadgets.sql:3: bigint:" in warnings
        await pilot.press("y")
        await wait_for(pilot, lambda: tab.report is not None and "0007_gadgets" in tab.report.applied, what="applied")


async def test_keys_people_expect(tui_project: Path, empty_database: str) -> None:
    """``?`` help lists every key of the registry; ``/`` filters; Home/End go to the first/last row; 1-5 tabs."""
    app = make_app(tui_project, empty_database)
    async with app.run_test(size=SIZE) as pilot:
        tab = await ready(pilot, app)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        table = tab.query_one("#migrations-table", DataTable)
        await pilot.press("end")
        assert table.cursor_row == len(tab.migrations) - 1
        await pilot.press("home")
        assert table.cursor_row == 0
        await pilot.press("slash", *"proj")
        assert tab.shown == ["0005_projects"] and tab.selected_id() == "0005_projects"
        await pilot.press("enter")  # keeps the filter, back to the list
        assert app.focused is table and tab.shown == ["0005_projects"]
        await pilot.press("slash", "escape")  # clears it
        assert tab.shown == tab.migrations.ids and app.focused is table
        await pilot.press("4")
        assert app.query_one("TabbedContent").active == "locks"
        await pilot.press("s")  # only the project's own embedded cluster is started, never a configured database
        assert any("set explicitly" in n.message for n in app._notifications)


def test_help_and_docs_list_every_key() -> None:
    docs = (REPO / "docs" / "tui.md").read_text(encoding="utf-8")
    shown = help_text()
    for action in ACTIONS:
        for key in action.shown_keys.split(" / "):
            assert f"`{key}`" in shown, key
            assert f"`{key}`" in docs, f"docs/tui.md does not list {key}"


@pytest.fixture
def editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An $EDITOR that records its arguments and appends a line to the file it opens."""
    record = tmp_path / "editor-args"
    script = tmp_path / "editor"
    script.write_text(f'#!/bin/sh\necho "$@" > {record}\nfor f; do :; done\necho "-- edited" >> "$f"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("EDITOR", str(script))
    monkeypatch.delenv("VISUAL", raising=False)
    return record


async def test_edit_opens_the_finding_at_its_line(
    tui_project: Path, empty_database: str, server_url: str, editor: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", server_url)  # checks build their throwaway database there
    path = tui_project / "migrations" / "0007_gadgets.sql"
    path.write_text(GADGETS, encoding="utf-8")
    app = make_app(tui_project, empty_database, watch_files=False)
    async with app.run_test(size=SIZE) as pilot:
        tab = await ready(pilot, app)
        conventions = await app.tab("conventions")
        assert isinstance(conventions, ConventionsTab)
        await pilot.press("3")
        await wait_for(pilot, lambda: conventions.result is not None, timeout=60, what="checks")
        conventions.query_one("#conventions-table", DataTable).move_cursor(
            row=[f.column for f in conventions.shown].index("size")
        )
        await pilot.press("e")
        assert editor.read_text().split() == ["+4", str(path)]
        assert path.read_text().endswith("-- edited\n")
        await wait_for(pilot, lambda: "-- edited" in tab.migrations["0007_gadgets"].sql, what="reloaded")


async def test_crash_shows_traceback_logs_it_and_exits_1(
    tui_project: Path, empty_database: str, capfd: pytest.CaptureFixture[str]
) -> None:
    app = make_app(tui_project, empty_database)
    with pytest.raises(ZeroDivisionError):
        async with app.run_test(size=SIZE) as pilot:
            app.call_later(lambda: 1 / 0)
            await pilot.pause()
    assert app.return_code == 1
    assert app.crash_log == tui_project / ".dbtui" / "dbtui-crash.log"
    assert "ZeroDivisionError" in app.crash_log.read_text()
    shown = capfd.readouterr().err  # what the terminal shows once the app has given it back
    assert "dbtui crashed; please report this." in shown and "ZeroDivisionError" in shown
    assert "The traceback is also in" in shown  # (the path, wrapped to the terminal)


async def test_s_starts_the_embedded_cluster_after_it_stopped(tui_project: Path, runtime: Path) -> None:
    """No database URL: the app runs on the project's own embedded cluster. Stopped under it (``dbtui db stop`` from
    another shell), the app says so; ``s`` starts it again and the app reconnects."""
    import os
    import shutil
    import tempfile

    from database.config import Project
    from database.dev import server
    from dbtui.app import DbtuiApp
    from dbtui.context import Context

    data = Path(tempfile.mkdtemp(prefix="dbtui-tui-s-", dir=runtime))
    os.chmod(data, 0o755)  # the server's own account must reach its data folder
    pyproject = tui_project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + f'data_dir = "{data}/db"\n', encoding="utf-8")
    cluster = server.dev_cluster(Project.load(tui_project))
    app = DbtuiApp(Context(project_dir=tui_project), heartbeat=0.2, watch_files=False)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.database_ok is True, timeout=120, what="the embedded cluster")
            cluster.stop()
            await wait_for(pilot, lambda: app.database_ok is False, timeout=30, what="the outage noticed")
            await pilot.press("s")
            # Both, in either order: the heartbeat (every 0.2 s) may reach the server before the start's worker
            # reports that it is up. Toasts expire; the log keeps them.
            await wait_for(
                pilot,
                lambda: app.database_ok is True and any(entry.title == "Started" for entry in app.log_entries),
                timeout=120,
                what="the cluster started again, by s",
            )
        assert cluster.status().state == "running"
    finally:
        cluster.stop()
        shutil.rmtree(data, ignore_errors=True)
