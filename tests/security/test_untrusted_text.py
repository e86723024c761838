"""Text that other clients or the user control never reaches the terminal as control characters.

A lock name travels %-escaped in ``application_name`` (database.lock), so any client can make ``dbtui locks`` and the
Locks tab show escape sequences that clear or retitle the terminal, a newline that forges a row, or Rich markup that
restyles (or breaks) the TUI. Both show them escaped. And a migration name becomes a file name: control characters,
a trailing newline included, are refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from rich.text import Text
from textual.widgets import DataTable

from database.lock import APPLICATION_NAME_PREFIX, lock_key
from dbtui.app import DbtuiApp
from dbtui.cli import main
from dbtui.context import Context
from dbtui.tabs.locks import COLUMNS

REPO = Path(__file__).resolve().parents[2]
# Short: PostgreSQL keeps 63 bytes of application_name, and every control character costs three (%1B).
HOSTILE = "\x1b]0;x\x07\x1b[2J\nrow\r[b]m[/"
KEY = lock_key(HOSTILE)
SHOWN = "\\x1b]0;x\\x07\\x1b[2J\\nrow\\r[b]m[/"


@pytest.fixture
def hostile_holder(session_database: str) -> Iterator[None]:
    """Another client holding an advisory lock under a name (and so an application_name) it chose."""
    with psycopg.connect(
        session_database, application_name=APPLICATION_NAME_PREFIX + quote(HOSTILE, safe=""), autocommit=True
    ) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (KEY,))
        yield


def test_dbtui_locks_shows_other_clients_text_escaped(capsys, session_database, hostile_holder):
    assert main(["--project", str(REPO), "--database-url", session_database, "locks"]) == 0
    out = capsys.readouterr().out
    assert not any(c in out for c in "\x1b\x07\r"), out
    rows = [line for line in out.splitlines() if str(KEY) in line]
    assert len(rows) == 1 and SHOWN in rows[0]  # one row: the newline forged nothing


def test_dbtui_locks_json_keeps_the_name_exact(capsys, session_database, hostile_holder):
    assert main(["--project", str(REPO), "--database-url", session_database, "locks", "--json"]) == 0
    locks = json.loads(capsys.readouterr().out)["locks"]
    assert [lock["name"] for lock in locks if lock["key"] == KEY] == [HOSTILE]


async def test_the_locks_tab_shows_other_clients_text_escaped(session_database, hostile_holder):
    app = DbtuiApp(Context(project_dir=REPO, database_url=session_database), heartbeat=0.05)
    async with app.run_test(size=(160, 36)) as pilot:
        app.action_show_tab("locks")
        await app.tab("locks")
        table = app.query_one("#locks-table", DataTable)
        row = None
        for _ in range(200):
            await pilot.pause(0.05)
            key = COLUMNS.index("key")
            row = next((r for r in range(table.row_count) if str(table.get_cell_at((r, key))) == str(KEY)), None)
            if row is not None:
                break
        assert row is not None, "the hostile lock never showed"
        name, application = (table.get_cell_at((row, COLUMNS.index(column))) for column in ("lock", "application"))
    # Cells are Text (never parsed as markup): what they hold is what the terminal shows.
    assert isinstance(name, Text) and isinstance(application, Text)
    assert name.plain == SHOWN  # escaped, and its brackets are text, not markup
    assert application.plain.startswith(APPLICATION_NAME_PREFIX)
    assert not any(c in application.plain for c in "\x1b\x07\r\n")


@pytest.mark.parametrize("name", ["add_things\n", "add\x1b[31mthings", "add_things\r", "add\tthings", "add\x00things"])
def test_new_migration_refuses_control_characters(capsys, project_copy, name):
    before = sorted(project_copy.migrations.iterdir())
    code = main(["--project", str(project_copy.root), "new-migration", name])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("dbtui: error:") and err.count("\n") == 1, err
    assert not any(c in err for c in "\x1b\x00\r\t"), err
    assert sorted(project_copy.migrations.iterdir()) == before
