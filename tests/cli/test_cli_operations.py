"""Operation rules from the command line: ``dbtui check`` (text, JSON, --all, exemptions) and the confirmation
``dbtui migrate`` asks before running risky statements on a database that is not the embedded development one."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import psycopg
import pytest

from database.config import Project
from database.dev import server
from database.dev.operation_rules import is_dev_cluster
from dbtui.cli import main

BASE = (
    "CREATE TABLE events (id BIGINT, kind TEXT);\nINSERT INTO events SELECT g, 'k' FROM generate_series(1, 1000) g;\n"
)
RISKY = "-- depends: 0001_base\nSET LOCAL lock_timeout = '5s';\nCREATE INDEX events_kind_idx ON events (kind);\n"


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.dbtui]\n")
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001_base.sql").write_text(BASE)
    (tmp_path / "migrations" / "0002_index.sql").write_text(RISKY)
    return tmp_path


def run(capsys: pytest.CaptureFixture, project: Path, url: str, *argv: str) -> tuple[int, str, str]:
    code = main(["--project", str(project), "--database-url", url, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def applied(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [i for (i,) in conn.execute("SELECT migration_id FROM _yoyo_migration ORDER BY migration_id")]


def index_exists(url: str) -> bool:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT to_regclass('events_kind_idx') IS NOT NULL").fetchone()[0]


class Terminal(io.StringIO):
    """A stdin that says it is a terminal, with the answer typed in advance."""

    def isatty(self) -> bool:
        return True


def test_check_reports_the_pending_risky_statement_with_lock_and_size(
    project_dir: Path, empty_database: str, capsys
) -> None:
    assert run(capsys, project_dir, empty_database, "migrate", "0001")[0] == 0
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute("ANALYZE events")
    code, out, _ = run(capsys, project_dir, empty_database, "check")
    assert code == 1
    lines = out.splitlines()
    assert "0002_index (statements that lock or rewrite live tables):" in lines
    finding = next(line for line in lines if "require-concurrent-index-creation" in line)
    assert finding.startswith(
        "  migrations/0002_index.sql:3: require-concurrent-index-creation [SHARE]: CREATE INDEX "
        "blocks writes to events (~1.0 k rows, "
    )
    assert "      fix: CREATE INDEX CONCURRENTLY events_kind_idx ON events (kind);" in lines
    assert lines[-1].endswith("; operations: 1 risky statement in 1 pending migration")

    code, out, _ = run(capsys, project_dir, empty_database, "check", "--json")
    assert code == 1
    violations = json.loads(out)["violations"]
    for violation in violations:  # the existing fields stay; lock, rows and bytes are added to every finding
        assert set(violation) >= {
            "rule",
            "severity",
            "table",
            "column",
            "message",
            "migration",
            "line",
            "lock",
            "rows",
            "bytes",
        }
    index = next(v for v in violations if v["rule"] == "require-concurrent-index-creation")
    assert (index["migration"], index["line"], index["table"], index["lock"], index["rows"]) == (
        "migrations/0002_index.sql",
        3,
        "events",
        "SHARE",
        1000,
    )
    assert index["bytes"] > 8192
    conventions = [v for v in violations if v["rule"] != "require-concurrent-index-creation"]
    assert conventions and all(v["lock"] is None and v["rows"] is None for v in conventions)


def test_check_all_judges_applied_migrations_too(project_dir: Path, empty_database: str, capsys) -> None:
    assert run(capsys, project_dir, empty_database, "migrate", "--yes")[0] == 0
    code, out, _ = run(capsys, project_dir, empty_database, "check")
    assert "operations: 0 risky statements in 0 pending migrations" in out
    code, out, _ = run(capsys, project_dir, empty_database, "check", "--all")
    assert "operations: 1 risky statement in all 2 migrations" in out
    assert "  migrations/0002_index.sql:3: require-concurrent-index-creation [SHARE]: " in out


def test_exemptions_in_the_file_and_in_the_annotations(project_dir: Path, empty_database: str, capsys) -> None:
    path = project_dir / "migrations" / "0002_index.sql"
    path.write_text(
        RISKY.replace("CREATE INDEX", "-- dbtui:ignore require-concurrent-index-creation: events is tiny\nCREATE INDEX")
    )
    code, out, _ = run(capsys, project_dir, empty_database, "check")
    assert "require-concurrent-index-creation" not in out and "0 risky statements" in out
    path.write_text(RISKY)
    (project_dir / "schema_annotations.yaml").write_text(
        "migrations:\n  0002_index:\n    ignore:\n      require-concurrent-index-creation: events is tiny.\n"
        "  0009_gone:\n    ignore:\n      ban-drop-table: typo.\n"
    )
    code, out, _ = run(capsys, project_dir, empty_database, "check")
    assert "require-concurrent-index-creation [" not in out
    assert "  schema_annotations.yaml:5: annotation-unknown: annotated migration 0009_gone does not exist" in out
    path.write_text(RISKY.replace("CREATE INDEX", "-- dbtui:ignore require-concurrent-index-creation\nCREATE INDEX"))
    code, _, err = run(capsys, project_dir, empty_database, "check")
    assert code == 2
    assert (
        err.startswith("dbtui: error: ")
        and "0002_index.sql:3: -- dbtui:ignore require-concurrent-index-creation needs a reason" in err
        and err.count("\n") == 1
    )


def test_migrate_without_a_terminal_refuses_risky_statements_and_applies_nothing(
    project_dir: Path, empty_database: str, capsys, monkeypatch
) -> None:
    assert run(capsys, project_dir, empty_database, "migrate", "0001")[0] == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, out, err = run(capsys, project_dir, empty_database, "migrate")
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "0002_index.sql:3: 1 statement(s) would lock or rewrite live tables of " in err
    assert "(require-concurrent-index-creation); pass --yes to apply anyway" in err and "nothing was applied" in err
    assert applied(empty_database) == ["0001_base"] and not index_exists(empty_database)


def test_migrate_asks_on_a_terminal(project_dir: Path, empty_database: str, capsys, monkeypatch) -> None:
    assert run(capsys, project_dir, empty_database, "migrate", "0001")[0] == 0
    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    code, out, _ = run(capsys, project_dir, empty_database, "migrate")
    assert code == 0
    assert "  migrations/0002_index.sql:3: require-concurrent-index-creation [SHARE]: " in out
    assert "apply 1 migration(s) with 1 risky statement(s) to " in out and out.rstrip().endswith("nothing applied")
    assert applied(empty_database) == ["0001_base"]
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    assert run(capsys, project_dir, empty_database, "migrate")[0] == 0
    assert applied(empty_database) == ["0001_base", "0002_index"] and index_exists(empty_database)


def test_migrate_yes_applies_without_asking(project_dir: Path, empty_database: str, capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, out, _ = run(capsys, project_dir, empty_database, "migrate", "--yes")
    assert code == 0 and "applied 2 migration(s)" in out
    assert index_exists(empty_database)


def test_only_the_embedded_development_cluster_is_exempt_from_asking(project_dir: Path, server_url: str) -> None:
    project = Project.load(project_dir)
    assert is_dev_cluster(server.dev_cluster(project).url("app"), project)
    assert not is_dev_cluster(server_url, project)
    assert not is_dev_cluster("postgresql://app@db.example.com/app", project)
