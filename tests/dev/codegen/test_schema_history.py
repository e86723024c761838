"""A schema with a history: columns dropped, re-added, renamed and retyped, checked through the generated methods.

Result columns are looked up by (table oid, attnum) as PostgreSQL describes them; ``DROP COLUMN`` leaves a hole in
the attribute numbers, so looking them up by position typed every column after the hole as its neighbour.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from database.config import Project
from database.dev import testdb
from database.dev.codegen import generate

HISTORY = {
    "0001_tables": (
        "",
        """
CREATE TABLE status_enum (value TEXT PRIMARY KEY);
INSERT INTO status_enum VALUES ('open'), ('closed'), ('on-hold');
CREATE TABLE tickets (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    legacy INTEGER,
    title TEXT NOT NULL,
    old_note TEXT,
    priority SMALLINT,
    status TEXT NOT NULL REFERENCES status_enum(value),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);""",
        None,
    ),
    "0002_history": (
        "0001_tables",
        """
ALTER TABLE tickets DROP COLUMN legacy;
ALTER TABLE tickets DROP COLUMN old_note;
ALTER TABLE tickets ADD COLUMN old_note JSONB;
ALTER TABLE tickets RENAME COLUMN title TO subject;
ALTER TABLE tickets ALTER COLUMN priority TYPE NUMERIC(4, 1);
ALTER TABLE tickets ALTER COLUMN priority SET NOT NULL;
ALTER TABLE tickets DROP COLUMN status;
ALTER TABLE tickets ADD COLUMN status TEXT REFERENCES status_enum(value);
ALTER TABLE tickets ADD COLUMN closed_at TIMESTAMPTZ NOT NULL DEFAULT now();""",
        None,
    ),
}

QUERIES = """
-- name: TicketCreate :one
INSERT INTO tickets (subject, priority, status, old_note) VALUES ($1, $2, $3, $4) RETURNING *;

-- name: TicketGet :one
SELECT * FROM tickets WHERE id = $1;

-- name: TicketTimes :one
SELECT created_at, closed_at, status, subject FROM tickets WHERE id = $1;

-- name: TicketsByStatus :many
SELECT t.id, t.status, t.closed_at FROM tickets t WHERE t.status = $1 ORDER BY t.id;
"""


def write_migrations(folder: Path, spec: dict[str, tuple[str, str, None]]) -> None:
    folder.mkdir()
    for name, (depends, up, _) in spec.items():
        (folder / f"{name}.sql").write_text((f"-- depends: {depends}\n" if depends else "") + up + "\n")


def _load(path: Path):
    spec = importlib.util.spec_from_file_location("history_orm", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def history_project(tmp_path: Path) -> Project:
    write_migrations(tmp_path / "migrations", HISTORY)
    (tmp_path / "queries.sql").write_text(QUERIES)
    (tmp_path / "pyproject.toml").write_text('[tool.dbtui]\norm = "orm.py"\ndata_dir = ".dbtui"\n')
    return Project.load(tmp_path)


def test_generated_methods_are_right_after_drop_readd_rename_and_retype(
    history_project: Project, server_url: str
) -> None:
    generate(history_project, url=server_url)
    orm = _load(history_project.orm)
    assert orm.Ticket.__annotations__ == {  # in attnum order, with the holes of the dropped columns
        "id": "int",
        "subject": "str",
        "priority": "Decimal",
        "created_at": "datetime",
        "old_note": "Any | None",
        "status": "Status | None",
        "closed_at": "datetime",
    }
    assert list(orm.Ticket.__annotations__) == [
        "id",
        "subject",
        "priority",
        "created_at",
        "old_note",
        "status",
        "closed_at",
    ]
    times = orm.TicketTimesRow.__annotations__
    assert times == {"created_at": "datetime", "closed_at": "datetime", "status": "Status | None", "subject": "str"}
    url = testdb.create_database(project=history_project, url=server_url)
    try:

        async def run() -> None:
            async with await psycopg.AsyncConnection.connect(url) as conn:
                q = orm.AsyncQuerier(conn)
                made = await q.ticket_create(
                    subject="Printer",
                    priority=__import__("decimal").Decimal("2.5"),
                    status=orm.Status.ON_HOLD,
                    old_note={"from": "email"},
                )
                assert isinstance(made, orm.Ticket) and made.status is orm.Status.ON_HOLD
                assert made.old_note == {"from": "email"} and isinstance(made.closed_at, datetime)
                assert await q.ticket_get(id=made.id) == made
                times = await q.ticket_times(id=made.id)
                assert times.status is orm.Status.ON_HOLD and times.subject == "Printer"
                listed = await q.tickets_by_status(status=orm.Status.ON_HOLD)
                assert [(r.id, r.status) for r in listed] == [(made.id, orm.Status.ON_HOLD)]

        asyncio.run(run())
    finally:
        testdb.drop_database(url)
