"""Codegen and Conventions tabs against real databases: a codegen error shown at queries.sql:LINE and its recovery,
watch announcing a broken save; convention findings, filtering, and jumping to the migration that caused one."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Select

from database.dev.codegen.watch import Failed, Finished
from database.dev.migration_tree import load_tree
from dbtui.tabs.codegen import CodegenTab
from dbtui.tabs.conventions import ConventionsTab
from dbtui.tabs.migrations import MigrationsTab

from .conftest import SIZE, make_app, text_of, wait_for

QUERIES = """\
-- name: OrganizationGet :one
SELECT * FROM organizations WHERE id = $1;

-- name: UserNames :many
SELECT name FROM users ORDER BY name;
"""
BROKEN = (
    QUERIES
    + """
-- name: Nope :many
SELECT missing_column FROM users;
"""
)


@pytest.fixture
def scratch_server(server_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Codegen and checks build throwaway databases where the CLI would: here, the test server."""
    monkeypatch.setenv("DATABASE_URL", server_url)
    return server_url


async def test_codegen_error_then_recovery(tui_project: Path, empty_database: str, scratch_server: str) -> None:
    (tui_project / "queries.sql").write_text(QUERIES, encoding="utf-8")
    app = make_app(tui_project, empty_database)
    async with app.run_test(size=SIZE) as pilot:
        tab: CodegenTab = await app.tab("codegen")
        await pilot.press("g")
        # The run is over when the tab is idle again (its result shows a moment before): g meanwhile is refused.
        await wait_for(
            pilot, lambda: tab.runs and tab.runs[-1].result is not None and not tab.running, what="first run"
        )
        assert isinstance(tab.runs[-1].result, Finished)
        signatures = text_of(app, "#codegen-signatures")
        assert "organization_get(*, id: str) -> Organization | None" in signatures
        assert "user_names() -> list[str]" in signatures
        orm = (tui_project / "src/database/orm.py").read_text(encoding="utf-8")

        (tui_project / "queries.sql").write_text(BROKEN, encoding="utf-8")
        await pilot.press("g")
        await wait_for(
            pilot,
            lambda: len(tab.runs) == 2 and tab.runs[-1].result is not None and not tab.running,
            what="failing run",
        )
        failed = tab.runs[-1].result
        assert isinstance(failed, Failed)
        shown = text_of(app, "#codegen-result")
        assert shown.startswith("queries.sql:8: ") and "missing_column" in shown
        assert (tui_project / "src/database/orm.py").read_text(encoding="utf-8") == orm  # previous output kept
        assert app.query_one("#codegen-runs", DataTable).get_row_at(0)[1] == "0.00 s"  # frozen clock

        (tui_project / "queries.sql").write_text(QUERIES, encoding="utf-8")
        await pilot.press("g")
        await wait_for(pilot, lambda: len(tab.runs) == 3 and tab.runs[-1].result is not None, what="recovery")
        assert isinstance(tab.runs[-1].result, Finished)


async def test_watch_announces_results_on_other_tabs(
    tui_project: Path, empty_database: str, scratch_server: str
) -> None:
    (tui_project / "queries.sql").write_text(QUERIES, encoding="utf-8")
    app = make_app(tui_project, empty_database)
    async with app.run_test(size=SIZE) as pilot:
        tab: CodegenTab = await app.tab("codegen")
        await pilot.press("w")
        await wait_for(pilot, lambda: tab.runs and tab.runs[-1].result is not None, what="first watch run")
        app.action_show_tab("locks")
        (tui_project / "queries.sql").write_text(BROKEN, encoding="utf-8")
        await wait_for(pilot, lambda: isinstance(tab.runs[-1].result, Failed), what="broken save noticed")
        await wait_for(pilot, lambda: any(n.title == "Codegen failed" for n in app._notifications), what="toast")
        assert tab.runs[-1].reason == "queries.sql changed"
        (tui_project / "queries.sql").write_text(QUERIES, encoding="utf-8")
        await wait_for(pilot, lambda: isinstance(tab.runs[-1].result, Finished), what="fixed save noticed")
        await pilot.press("w")
        assert not tab.watching


async def test_findings_filter_and_jump_to_migration(
    tui_project: Path, empty_database: str, scratch_server: str
) -> None:
    (tui_project / "migrations" / "0007_gadgets.sql").write_text(
        "-- depends: 0006_row_level_security\nCREATE TABLE gadgets (\n    id integer PRIMARY KEY,\n    size smallint\n);\n",
        encoding="utf-8",
    )
    app = make_app(tui_project, empty_database)
    async with app.run_test(size=SIZE) as pilot:
        tab: ConventionsTab = await app.tab("conventions")
        await pilot.press("c")
        await wait_for(pilot, lambda: tab.result is not None, timeout=60, what="checks")
        assert not tab.result.ok
        assert "error" in text_of(app, "#conventions-summary")
        assert {f.table for f in tab.shown} == {"gadgets"}
        app.query_one("#filter-rule", Select).value = "bigint"
        await wait_for(pilot, lambda: tab.shown and all(f.rule == "bigint" for f in tab.shown), what="filter")
        assert sorted(f.column for f in tab.shown) == ["id", "size"]
        table = app.query_one("#conventions-table", DataTable)
        table.focus()
        row = [f.column for f in tab.shown].index("size")
        table.move_cursor(row=row)
        await pilot.press("enter")
        migrations = app.query_one(MigrationsTab)
        await wait_for(pilot, lambda: migrations.selected_id() == "0007_gadgets", what="jump")
        assert app.query_one("TabbedContent").active == "migrations"


async def test_risky_pending_statements_show_their_lock(
    tui_project: Path, empty_database: str, scratch_server: str
) -> None:
    (tui_project / "migrations" / "0007_index.sql").write_text(
        "-- depends: 0006_row_level_security\nSET LOCAL lock_timeout = '5s';\nCREATE INDEX ON projects (name);\n",
        encoding="utf-8",
    )
    app = make_app(tui_project, empty_database)
    async with app.run_test(size=SIZE) as pilot:
        tab: ConventionsTab = await app.tab("conventions")
        await pilot.press("c")
        await wait_for(pilot, lambda: tab.result is not None and tab.result.operations_scope, timeout=60, what="checks")
        pending = len(load_tree(tui_project / "migrations"))
        assert f"operations: 1 risky statement in {pending} pending migrations" in text_of(app, "#conventions-summary")
        app.query_one("#filter-migration", Select).value = "migrations/0007_index.sql"
        await wait_for(
            pilot, lambda: tab.shown and all(f.migration.endswith("0007_index.sql") for f in tab.shown), what="filter"
        )
        [finding] = tab.shown
        assert (finding.rule, finding.lock, finding.line) == ("require-concurrent-index-creation", "SHARE", 3)
        table = app.query_one("#conventions-table", DataTable)
        assert [str(cell) for cell in table.get_row_at(0)][1:4] == [
            "require-concurrent-index-creation",
            "SHARE",
            "projects",
        ]
        assert "takes SHARE" in str(app.query_one("#finding-message").render())
