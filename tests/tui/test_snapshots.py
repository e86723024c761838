"""SVG snapshots of every tab at 80×24 (the smallest size the app supports: detail panes below the lists) and 160×48
(side by side), and of the dialogs at 80×24; clock and durations frozen, against a database with a fixed name.

Update after an intended change with ``pytest tests/tui/test_snapshots.py --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from database.dev import migrations
from dbtui.app import DbtuiApp
from dbtui.tabs.codegen import CodegenTab
from dbtui.tabs.conventions import ConventionsTab
from dbtui.tabs.migrations import MigrationsTab
from dbtui.tabs.schema import SchemaTab

from .conftest import make_app, wait_for

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]
SMALL = (80, 24)


@pytest.fixture
def scratch_server(server_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", server_url)
    return server_url


def snapshot_app(project: Path, url: str) -> DbtuiApp:
    return make_app(project, url, watch_files=False)  # nothing changes the files here


async def _connected(pilot: Pilot) -> None:
    app = pilot.app
    tab = app.query_one(MigrationsTab)
    await wait_for(pilot, lambda: app.database_ok and tab.report is not None, what="status")


@pytest.mark.parametrize("size", SIZES)
def test_migrations_tab(size: tuple[int, int], snap_compare, tui_project: Path, fixed_database: str) -> None:
    assert snap_compare(snapshot_app(tui_project, fixed_database), terminal_size=size, run_before=_connected)


def test_migrations_confirm_dialog(snap_compare, tui_project: Path, fixed_database: str) -> None:
    async def before(pilot: Pilot) -> None:
        await _connected(pilot)
        await pilot.press("m")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "ConfirmScreen", what="dialog")

    assert snap_compare(snapshot_app(tui_project, fixed_database), terminal_size=SMALL, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_codegen_tab(
    size: tuple[int, int], snap_compare, tui_project: Path, fixed_database: str, scratch_server: str
) -> None:
    async def before(pilot: Pilot) -> None:
        await _connected(pilot)
        await pilot.press("g")
        tab: CodegenTab = await pilot.app.tab("codegen")
        await wait_for(pilot, lambda: tab.runs and tab.runs[-1].result is not None, what="codegen run")

    assert snap_compare(snapshot_app(tui_project, fixed_database), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_conventions_tab(
    size: tuple[int, int], snap_compare, tui_project: Path, fixed_database: str, scratch_server: str
) -> None:
    (tui_project / "migrations" / "0007_gadgets.sql").write_text(
        "-- depends: 0006_row_level_security\nCREATE TABLE gadgets (\n    id integer PRIMARY KEY,\n    size smallint\n);\n",
        encoding="utf-8",
    )

    async def before(pilot: Pilot) -> None:
        await _connected(pilot)
        await pilot.press("c")
        tab: ConventionsTab = await pilot.app.tab("conventions")
        await wait_for(pilot, lambda: tab.result is not None, timeout=60, what="checks")
        # The rows' column widths reach the header row on a later refresh: let it happen before the picture (under
        # load the header was once drawn with the widths of the empty table).
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.pause(0.1)

    assert snap_compare(snapshot_app(tui_project, fixed_database), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_locks_tab(size: tuple[int, int], snap_compare, tui_project: Path, fixed_database: str) -> None:
    async def before(pilot: Pilot) -> None:
        await _connected(pilot)
        pilot.app.action_show_tab("locks")
        await pilot.app.tab("locks")
        await pilot.pause()

    assert snap_compare(snapshot_app(tui_project, fixed_database), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_schema_tab(size: tuple[int, int], snap_compare, tui_project: Path, fixed_database: str) -> None:
    migrations.migrate(fixed_database, tui_project / "migrations")

    async def before(pilot: Pilot) -> None:
        await _connected(pilot)
        pilot.app.action_show_tab("schema")
        tab: SchemaTab = await pilot.app.tab("schema")
        await wait_for(pilot, lambda: tab.catalog is not None and "organizations" in tab.catalog.tables, what="schema")
        await pilot.press("down", "down")  # organizations: descriptions and foreign keys

    assert snap_compare(snapshot_app(tui_project, fixed_database), terminal_size=size, run_before=before)


def test_help_screen(snap_compare, tui_project: Path, fixed_database: str) -> None:
    async def before(pilot: Pilot) -> None:
        await _connected(pilot)
        await pilot.press("f1")

    assert snap_compare(snapshot_app(tui_project, fixed_database), terminal_size=SMALL, run_before=before)


def test_preview_screen(snap_compare, tui_project: Path, fixed_database: str) -> None:
    migrations.migrate(fixed_database, tui_project / "migrations", "0005_projects")

    async def before(pilot: Pilot) -> None:
        await _connected(pilot)
        await pilot.press("p")
        await wait_for(pilot, lambda: pilot.app.screen.result is not None, timeout=60, what="dry run")

    assert snap_compare(snapshot_app(tui_project, fixed_database), terminal_size=SMALL, run_before=before)
