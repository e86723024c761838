"""``dbtui check`` and ``dbtui schema`` from the command line: output, JSON shape, exit codes, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from database.dev import testdb
from database.dev.migration_tree import load_tree
from dbtui.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """A copy of this repo's migrations and annotations as a project of its own."""
    (tmp_path / "pyproject.toml").write_text("[tool.dbtui]\n")
    shutil.copytree(REPO / "migrations", tmp_path / "migrations")
    shutil.copy(REPO / "schema_annotations.yaml", tmp_path / "schema_annotations.yaml")
    return tmp_path


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def add_migration(project_dir: Path, text: str) -> Path:
    path = project_dir / "migrations" / "0099_widgets.sql"
    path.write_text("-- depends: 0006_row_level_security\n" + text)
    return path


def test_clean_schema_exits_0_with_a_summary(project_dir: Path, server_url: str, capsys) -> None:
    code, out, err = run(capsys, "--project", str(project_dir), "--database-url", server_url, "check")
    assert code == 0, err
    pending = len(load_tree(project_dir / "migrations"))  # the server's postgres database has none applied
    assert out.strip().splitlines()[-1] == (
        "no findings in 6 tables; annotations: 6/6 tables, 34/34 columns described;"
        f" operations: 0 risky statements in {pending} pending migrations"
    )


def test_violation_exits_1_grouped_by_table_with_file_line_and_fix(project_dir: Path, server_url: str, capsys) -> None:
    add_migration(project_dir, "CREATE TABLE widgets (\n    id TEXT PRIMARY KEY,\n    n INTEGER\n);\n")
    code, out, _ = run(capsys, "--project", str(project_dir), "--database-url", server_url, "check")
    assert code == 1
    lines = out.splitlines()
    assert "widgets:" in lines
    assert "  migrations/0099_widgets.sql:4: bigint: widgets.n is integer; use bigint" in lines
    assert "      fix: ALTER TABLE widgets ALTER COLUMN n TYPE BIGINT;" in lines
    assert any(line.startswith("  migrations/0099_widgets.sql:2: annotation-missing (warning): ") for line in lines)
    assert lines[-1].startswith("9 errors, 1 warning in 7 tables;")


def test_json_shape(project_dir: Path, server_url: str, capsys) -> None:
    add_migration(project_dir, "CREATE TABLE widgets (\n    id TEXT PRIMARY KEY,\n    n INTEGER\n);\n")
    code, out, _ = run(capsys, "--project", str(project_dir), "--database-url", server_url, "check", "--json")
    assert code == 1
    data = json.loads(out)
    assert set(data) >= {"violations", "coverage"}
    for violation in data["violations"]:
        assert set(violation) >= {"rule", "severity", "table", "column", "message", "migration", "line"}
    bigint = next(v for v in data["violations"] if v["rule"] == "bigint")
    assert (bigint["table"], bigint["column"], bigint["migration"], bigint["line"], bigint["severity"]) == (
        "widgets",
        "n",
        "migrations/0099_widgets.sql",
        4,
        "error",
    )
    assert data["coverage"] == {"tables": 7, "tables_described": 6, "columns": 36, "columns_described": 34}


def test_warnings_alone_do_not_fail(project_dir: Path, server_url: str, capsys) -> None:
    text = (project_dir / "schema_annotations.yaml").read_text()
    (project_dir / "schema_annotations.yaml").write_text(
        text.replace("    description: Work an organization tracks. The example domain table.\n", "")
    )
    code, out, _ = run(capsys, "--project", str(project_dir), "--database-url", server_url, "check")
    assert code == 0
    assert "annotation-missing (warning): projects has no description" in out


def test_database_flag_checks_that_database(project_dir: Path, server_url: str, capsys) -> None:
    url = testdb.create_database(migrations_dir=project_dir / "migrations", url=server_url)
    try:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP INDEX projects_owner_id_idx")
        code, out, _ = run(capsys, "--project", str(project_dir), "--database-url", url, "check", "--database")
    finally:
        testdb.drop_database(url)
    assert code == 1
    assert "  migrations/0005_projects.sql:14: fk-index: foreign key projects(owner_id) → users has no index" in out


def test_bad_annotations_exit_2_with_file_and_line(project_dir: Path, server_url: str, capsys) -> None:
    (project_dir / "schema_annotations.yaml").write_text("tables:\n  users:\n    ignore:\n      bigint:\n")
    code, out, err = run(capsys, "--project", str(project_dir), "--database-url", server_url, "check")
    assert code == 2 and out == ""
    assert (
        err
        == f"dbtui: error: {project_dir / 'schema_annotations.yaml'}:4: exemption of 'users' from 'bigint' needs a reason\n"
    )


def test_table_pglast_cannot_follow_has_an_unknown_source_line(project_dir: Path, server_url: str, capsys) -> None:
    """A table created inside a DO block is in the catalog (and checked) but no statement names it."""
    add_migration(project_dir, "DO $$ BEGIN EXECUTE 'CREATE TABLE hidden (n INTEGER)'; END $$;\n")
    code, out, _ = run(capsys, "--project", str(project_dir), "--database-url", server_url, "check")
    assert code == 1
    assert "  (source line unknown): bigint: hidden.n is integer; use bigint" in out


def test_schema_annotated_prints_schema_sql_with_comments(project_dir: Path, server_url: str, capsys) -> None:
    (project_dir / "schema.sql").write_text("CREATE TABLE public.users (\n    email text NOT NULL\n);\n")
    code, out, _ = run(capsys, "--project", str(project_dir), "--database-url", server_url, "schema", "--annotated")
    assert code == 0
    assert out.splitlines() == [
        "-- users: People who can sign in. A user joins organizations through memberships.",
        "CREATE TABLE public.users (",
        "    email text NOT NULL  -- Sign-in address, unique case-insensitively (citext).",
        ");",
    ]


def test_schema_json_has_tables_and_descriptions(project_dir: Path, server_url: str, capsys) -> None:
    url = testdb.create_database(migrations_dir=project_dir / "migrations", url=server_url)
    try:
        code, out, _ = run(capsys, "--project", str(project_dir), "--database-url", url, "schema", "--json")
    finally:
        testdb.drop_database(url)
    assert code == 0
    tables = {t["name"]: t for t in json.loads(out)["tables"]}
    assert set(tables) == {
        "organizations",
        "users",
        "memberships",
        "membership_role_enum",
        "projects",
        "project_status_enum",
    }
    assert tables["users"]["description"].startswith("People who can sign in")
    assert {i["name"] for i in tables["projects"]["indexes"]} >= {"projects_owner_id_idx"}
