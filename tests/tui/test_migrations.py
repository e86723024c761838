"""Migrations tab actions against real databases: migrate with confirm, apply one, roll back (cancel and confirm),
new migration (and a bad name), a migration that fails mid-run."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Input

from database.dev import migrations
from database.dev.migration_status import read_status
from database.dev.migration_tree import load_tree
from database.dev.migrations import rollback_plan
from dbtui.tabs.migrations import MigrationsTab, graph_rows
from dbtui.widgets.confirm import ConfirmScreen
from dbtui.widgets.preview import PreviewScreen
from dbtui.widgets.prompt import PromptScreen

from .conftest import SIZE, LateDatabase, make_app, text_of, wait_for


def applied(url: str, project: Path) -> list[str]:
    return read_status(url, project / "migrations").applied


async def ready(pilot, app) -> MigrationsTab:
    tab = app.query_one(MigrationsTab)
    await wait_for(pilot, lambda: tab.report is not None, what="migration status")
    return tab


def select(tab: MigrationsTab, migration_id: str) -> None:
    tab.query_one("#migrations-table", DataTable).move_cursor(row=tab.migrations.position(migration_id))


def test_graph_shows_branch_and_merge(tui_project: Path) -> None:
    rows = graph_rows(load_tree(tui_project / "migrations"))
    assert rows["0001_functions"] == "●"
    assert rows["0003_organizations_users"] == "● ╮"  # 0004 and 0005 both depend on 0003
    assert rows["0005_projects"] == "│ ●"
    assert rows["0006_row_level_security"] == "● ╯"  # depends on 0004 and 0005


async def test_status_fills_the_listed_rows_in_place(tui_project: Path, late_database: LateDatabase) -> None:
    """The rows listed from the files stay when the status arrives: only their state and applied-at cells change
    (the table is not filled a second time, and the row the cursor was moved to while loading stays selected)."""
    app = make_app(tui_project, late_database.url, heartbeat=0.2)
    async with app.run_test(size=SIZE) as pilot:
        tab = app.query_one(MigrationsTab)
        table = tab.query_one("#migrations-table", DataTable)
        await wait_for(pilot, lambda: app.database_ok is False, what="the database reported missing")
        ids = tab.migrations.ids
        rows = dict(table.rows)
        assert [table.get_cell(i, "state").plain.split()[0] for i in ids] == ["…"] * len(ids)
        await pilot.press("end")
        late_database.create()
        await ready(pilot, app)
        assert all(table.rows[key] is row for key, row in rows.items()) and len(table.rows) == len(rows)
        assert tab.selected_id() == ids[-1]
        assert [table.get_cell(i, "state").plain.split()[0] for i in ids] == ["pending"] * len(ids)


async def test_migrate_all_asks_lists_and_applies(tui_project: Path, empty_database: str) -> None:
    app = make_app(tui_project, empty_database)
    async with app.run_test(size=SIZE) as pilot:
        tab = await ready(pilot, app)
        assert tab.report.pending == tab.migrations.ids
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        assert app.screen.steps == tab.migrations.ids  # exactly what will run, in order
        await pilot.press("y")
        await wait_for(pilot, lambda: tab.report is not None and not tab.report.pending, what="all applied")
        steps = text_of(app, "#migrations-steps")
        assert "✓ apply 0001_functions  0.00 s" in steps and "✓ apply 0006_row_level_security" in steps
    assert applied(empty_database, tui_project) == load_tree(tui_project / "migrations").ids


async def test_apply_selected_takes_only_its_ancestors(tui_project: Path, empty_database: str) -> None:
    app = make_app(tui_project, empty_database)
    async with app.run_test(size=SIZE) as pilot:
        tab = await ready(pilot, app)
        select(tab, "0005_projects")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        assert app.screen.steps == ["0001_functions", "0002_customer_role", "0003_organizations_users", "0005_projects"]
        await pilot.press("y")
        await wait_for(pilot, lambda: tab.report is not None and "0005_projects" in tab.report.applied, what="applied")
    assert "0004_memberships" not in applied(empty_database, tui_project)


async def test_rollback_cancel_then_confirm(tui_project: Path, migrated_database: str) -> None:
    app = make_app(tui_project, migrated_database)
    async with app.run_test(size=SIZE) as pilot:
        tab = await ready(pilot, app)
        select(tab, "0004_memberships")
        for cancel in ("n", "escape"):
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
            steps = app.screen.steps  # descendants first, newest first: later migrations of the repo, then these
            assert steps[-2:] == ["0006_row_level_security", "0004_memberships"]
            assert steps == rollback_plan(
                read_status(migrated_database, tui_project / "migrations"), "0004_memberships"
            )
            await pilot.press(cancel)
            await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen), what="dialog closed")
            assert app.is_running  # n in the dialog cancels; it does not open "new migration"
            assert not isinstance(app.screen, PromptScreen)
        assert "0004_memberships" in applied(migrated_database, tui_project)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        await pilot.press("y")
        await wait_for(
            pilot, lambda: tab.report is not None and "0004_memberships" in tab.report.pending, what="rolled back"
        )
    now = applied(migrated_database, tui_project)
    assert "0004_memberships" not in now and "0006_row_level_security" not in now and "0005_projects" in now


async def test_new_migration_and_bad_name(tui_project: Path, empty_database: str) -> None:
    app = make_app(tui_project, empty_database)
    async with app.run_test(size=SIZE) as pilot:
        tab = await ready(pilot, app)
        before = sorted((tui_project / "migrations").iterdir())
        heads, new_id = tuple(tab.migrations.heads), f"{len(tab.migrations) + 1:04d}_invoices"
        await pilot.press("n")
        assert isinstance(app.screen, PromptScreen)
        await pilot.press(*"Bad!", "enter")
        assert isinstance(app.screen, PromptScreen)  # the prompt stays, with the reason and what was typed
        assert "bad migration name 'Bad!'" in text_of(app.screen, "#prompt-error")
        assert app.screen.query_one(Input).value == "Bad!"
        assert sorted((tui_project / "migrations").iterdir()) == before
        await pilot.press("backspace", "backspace", "backspace", "backspace", *"invoices", "enter")
        assert not isinstance(app.screen, PromptScreen)
        await wait_for(pilot, lambda: tab.migrations is not None and new_id in tab.migrations, what="new row")
        await wait_for(pilot, lambda: tab.selected_id() == new_id, what="selected")
        assert tab.migrations[new_id].depends == heads  # on every head: a merge when there are two
    assert (tui_project / "migrations" / f"{new_id}.rollback.sql").is_file()


async def test_failing_migration_shows_file_and_line(tui_project: Path, empty_database: str) -> None:
    (tui_project / "migrations" / "0007_broken.sql").write_text(
        "-- depends: 0006_row_level_security\nCREATE TABLE fine (x bigint);\nSELECT * FROM no_such_table;\n",
        encoding="utf-8",
    )
    app = make_app(tui_project, empty_database)
    async with app.run_test(size=SIZE) as pilot:
        tab = await ready(pilot, app)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        assert any("conventions not checked: " in w and "0007_broken.sql:3" in w for w in app.screen.warnings)
        await pilot.press("y")
        await wait_for(pilot, lambda: "✗" in text_of(app, "#migrations-steps"), what="failure shown")
        steps = text_of(app, "#migrations-steps")
        assert "migrations/0007_broken.sql:3:" in steps and "no_such_table" in steps
        await wait_for(
            pilot, lambda: tab.report is not None and "0006_row_level_security" in tab.report.applied, what="status"
        )
        assert app.is_running
    now = applied(empty_database, tui_project)
    assert "0006_row_level_security" in now and "0007_broken" not in now


async def test_preview_shows_schema_diff_without_applying(tui_project: Path, empty_database: str) -> None:
    """``p``: a dry run on a throwaway copy; the real database keeps its pending migrations."""
    migrations.migrate(empty_database, tui_project / "migrations", "0005_projects")
    app = make_app(tui_project, empty_database)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("p")
        assert isinstance(app.screen, PreviewScreen)
        await wait_for(pilot, lambda: app.screen.result is not None, timeout=60, what="dry run")
        planned = app.screen.result.planned
        assert planned[:2] == ("0004_memberships", "0006_row_level_security")  # then later ones of this repo
        assert planned == tuple(read_status(empty_database, tui_project / "migrations").pending)
        diff = text_of(app.screen, "#preview-diff")
        assert (
            "+CREATE TABLE public.memberships (" in diff
            and "+ALTER TABLE public.projects ENABLE ROW LEVEL SECURITY;" in diff
        )
        assert "✓ apply 0004_memberships" in text_of(app.screen, "#preview-steps")
        await pilot.press("escape")
        assert not isinstance(app.screen, PreviewScreen)
    assert applied(empty_database, tui_project) == [
        "0001_functions",
        "0002_customer_role",
        "0003_organizations_users",
        "0005_projects",
    ]


async def test_rollback_without_rollback_file_is_refused(tui_project: Path, empty_database: str) -> None:
    """Like ``dbtui rollback``: no confirmation, one clear message, nothing rolled back."""
    (tui_project / "migrations" / "0007_no_undo.sql").write_text(
        "-- depends: 0006_row_level_security\nCREATE INDEX projects_name ON projects (name);\n", encoding="utf-8"
    )
    migrations.migrate(empty_database, tui_project / "migrations")
    app = make_app(tui_project, empty_database)
    async with app.run_test(size=SIZE) as pilot:
        tab = await ready(pilot, app)
        select(tab, "0006_row_level_security")  # its descendant 0007 has no rollback file
        await pilot.press("r")
        await wait_for(pilot, lambda: any(n.title == "Rollback refused" for n in app._notifications), what="refusal")
        refusal = next(n for n in app._notifications if n.title == "Rollback refused")
        assert refusal.message.startswith("0007_no_undo has no rollback file, so nothing was rolled back")
        assert not isinstance(app.screen, ConfirmScreen)
        assert app.is_running
    assert "0007_no_undo" in applied(empty_database, tui_project)


async def test_the_summary_counts_in_the_singular_too(tui_project: Path, empty_database: str) -> None:
    for path in (tui_project / "migrations").glob("*"):
        if not path.name.startswith("0001_"):
            path.unlink()
    app = make_app(tui_project, empty_database)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        assert text_of(app, "#migrations-summary").startswith("1 migration in migrations/ · ")
