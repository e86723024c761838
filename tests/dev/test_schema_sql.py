"""schema.sql is a file a reviewer can load: it applies cleanly to an empty database on the test server.

The second-server-version run of CI (DBTUI_PG_BIN, see .ci/run) makes this "loads into PostgreSQL 15 too".
"""

from __future__ import annotations

import subprocess

import psycopg

from database.config import Project
from database.dev import server


def test_schema_sql_loads_into_an_empty_database(project: Project, empty_database: str) -> None:
    psql = server.find_binaries().tool("psql")
    done = subprocess.run(
        [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", empty_database, "-f", str(project.schema)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    with psycopg.connect(empty_database) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        statuses = conn.execute("SELECT count(*) FROM project_status_enum").fetchone()
    assert {"organizations", "users", "memberships", "projects"} <= tables
    assert statuses is not None and statuses[0] > 0
