"""Tooling that needs a whole session refuses a transaction-mode pooler (a real PgBouncer), in one line naming the
setting for a direct URL, exit 2, nothing applied; with DATABASE_DIRECT_URL it works while DATABASE_URL stays the
pooler's."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from database import config
from database.dev import pgbouncer, testdb
from dbtui.cli import main

pytestmark = pytest.mark.timeout(60)  # a refusal that fails would open the TUI and wait


@pytest.fixture
def tmp_project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\n\n[tool.dbtui]\n')
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001_base.sql").write_text("CREATE TABLE base (id BIGINT PRIMARY KEY);\n")
    (tmp_path / "migrations" / "0001_base.rollback.sql").write_text("DROP TABLE base;\n")
    (tmp_path / "queries.sql").write_text("-- name: Count :one\nSELECT count(*) FROM base;\n")
    return tmp_path


@pytest.fixture
def pooled(pooler: pgbouncer.PgBouncer, empty_database: str) -> str:
    return pooler.url(testdb.database_name(empty_database))


def _tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]


@pytest.mark.parametrize(
    "argv, what",
    [
        (["migrate"], "migrate"),
        (["migrate", "--dry-run"], "migrate"),
        (["rollback", "0001_base", "--yes"], "rollback"),
        (["codegen"], "codegen"),
        (["check", "--database"], "check"),
        ([], "the TUI"),
    ],
)
def test_session_tooling_refuses_the_pooler(
    tmp_project: Path, pooled: str, empty_database: str, argv, what, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_project)
    assert main(["--database-url", pooled, *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"dbtui: error: {what} needs a direct connection to PostgreSQL")
    assert "goes through a connection pooler" in err and "set DATABASE_DIRECT_URL" in err
    assert _tables(empty_database) == []  # nothing applied, not even yoyo's bookkeeping
    assert not (tmp_project / "schema.sql").exists()


def test_the_pooler_setting_refuses_without_connecting(tmp_project: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_project)
    monkeypatch.setattr(config, "_configured_url", None)  # as in a fresh process: the session database may be set
    monkeypatch.setenv("DATABASE_URL", f"postgresql://app:hunter2@127.0.0.1:{pgbouncer.free_port()}/app")
    monkeypatch.setenv("DATABASE_POOLER", "transaction")
    assert main(["migrate"]) == 2
    err = capsys.readouterr().err
    assert "goes through a transaction-mode pooler (DATABASE_POOLER=transaction)" in err
    assert "hunter2" not in err and "app:***@" in err


def test_the_direct_url_serves_tooling_while_the_app_uses_the_pooler(
    tmp_project: Path, pooled: str, empty_database: str, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_project)
    monkeypatch.setattr(config, "_configured_url", None)
    monkeypatch.setenv("DATABASE_URL", pooled)
    monkeypatch.setenv("DATABASE_POOLER", "transaction")
    monkeypatch.setenv("DATABASE_DIRECT_URL", empty_database)
    assert main(["migrate"]) == 0
    assert "applied 1 migration(s)" in capsys.readouterr().out
    assert "base" in _tables(empty_database)
    assert main(["status"]) == 0  # reading through the pooler is fine too, but tooling takes the direct URL
