"""``dbtui codegen [--check]`` end to end: files written atomically, byte-stable, stale detection, bad input."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from database.config import Project
from database.dev import schema_dump
from dbtui.cli import main

REPO = Path(__file__).resolve().parents[3]


def _codegen(project: Project, server_url: str, *args: str) -> int:
    return main(["--project", str(project.root), "--database-url", server_url, "codegen", *args])


@pytest.mark.pinned_server
def test_this_repo_is_up_to_date(server_url: str, capsys) -> None:
    assert main(["--project", str(REPO), "--database-url", server_url, "codegen", "--check"]) == 0
    assert capsys.readouterr().out.strip() == "up to date"


@pytest.mark.pinned_server
def test_two_runs_give_identical_bytes_and_check_catches_a_query_edit(
    project_copy: Project, server_url: str, capsys
) -> None:
    assert _codegen(project_copy, server_url) == 0
    first = (project_copy.schema.read_bytes(), project_copy.orm.read_bytes())
    assert first == ((REPO / "schema.sql").read_bytes(), (REPO / "src/database/orm.py").read_bytes())
    project_copy.orm.unlink()
    assert _codegen(project_copy, server_url) == 0
    assert (project_copy.schema.read_bytes(), project_copy.orm.read_bytes()) == first
    assert _codegen(project_copy, server_url, "--check") == 0
    capsys.readouterr()

    queries = project_copy.queries.read_text()
    project_copy.queries.write_text(queries.replace("ORDER BY created_at, id;", "ORDER BY name;"))
    assert _codegen(project_copy, server_url, "--check") == 1
    assert "stale: orm.py" in capsys.readouterr().err
    assert project_copy.orm.read_bytes() == first[1]  # --check writes nothing
    assert not list(project_copy.root.glob(".*.tmp"))


def test_bad_query_exits_1_with_its_line_and_keeps_the_old_output(
    project_copy: Project, server_url: str, capsys
) -> None:
    assert _codegen(project_copy, server_url) == 0
    before = project_copy.orm.read_bytes()
    text = project_copy.queries.read_text()
    project_copy.queries.write_text(text + "\n-- name: Broken :many\nSELECT nosuch\nFROM users;\n")
    line = text.count("\n") + 3
    assert _codegen(project_copy, server_url) == 1
    err = capsys.readouterr().err
    assert err == f'dbtui: error: queries.sql:{line}: Broken: column "nosuch" does not exist\n'
    assert project_copy.orm.read_bytes() == before


@pytest.mark.parametrize(
    ("orm", "message"),
    [
        ("orm", "cannot read {root}/orm: Is a directory"),
        ("/proc/no/orm.py", "cannot write /proc/no/orm.py: No such file or directory"),
    ],
)
def test_an_orm_path_that_cannot_be_written_is_one_line(
    project_copy: Project, server_url: str, capsys, orm: str, message: str
) -> None:
    (project_copy.root / "orm").mkdir()
    (project_copy.root / "pyproject.toml").write_text(f'[tool.dbtui]\norm = "{orm}"\ndata_dir = ".dbtui"\n')
    project = Project.load(project_copy.root)
    assert _codegen(project, server_url) == 2
    assert capsys.readouterr().err == f"dbtui: error: {message.format(root=project.root)}\n"
    assert not project.schema.exists()  # nothing half-written: schema.sql waits for the ORM


def test_two_queries_with_one_method_name_are_refused_at_the_second(
    project_copy: Project, server_url: str, capsys
) -> None:
    text = project_copy.queries.read_text()
    project_copy.queries.write_text(text + "\n-- name: user_get_by_email :one\nSELECT id FROM users WHERE id = $1;\n")
    line = text.count("\n") + 2
    first = 1 + next(i for i, row in enumerate(text.splitlines()) if row.startswith("-- name: UserGetByEmail "))
    assert _codegen(project_copy, server_url) == 1
    assert capsys.readouterr().err == (
        f"dbtui: error: queries.sql:{line}: user_get_by_email: gives the method name 'user_get_by_email', as UserGetByEmail does"
        f" (line {first}); rename one of them\n"
    )


@pytest.mark.pinned_server
def test_schema_sql_loads_into_an_empty_database_and_matches(empty_database: str) -> None:
    committed = (REPO / "schema.sql").read_text()
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute(committed)
    assert schema_dump.dump_schema(empty_database) == committed


def test_schema_sql_keeps_the_details_that_matter() -> None:
    committed = (REPO / "schema.sql").read_text()
    for detail in (
        'COLLATE pg_catalog."C"',
        "CHECK ((id ~~ 'org_%'::text))",
        "DEFAULT public.generate_id('org'::text)",
        "CREATE TRIGGER updated_at",
        "CREATE POLICY customer_access",
        "CREATE FUNCTION public.generate_id",
        "CREATE INDEX projects_organization_id_idx",
        'INSERT INTO "public"."project_status_enum"',
    ):
        assert detail in committed
    for volatile in ("\\restrict", "Dumped from", "_yoyo", "yoyo_lock", "OWNER TO", "GRANT "):
        assert volatile not in committed


def test_the_pooler_check_runs_only_when_the_database_is_needed(
    project_copy: Project, server_url: str, monkeypatch
) -> None:
    """Asking whether the URL is a pooler means a connection: a run the cache answers makes none."""
    from database.dev import session

    asked: list[str] = []
    monkeypatch.setattr(session, "behind_pooler", lambda url: asked.append(url) or False)
    assert _codegen(project_copy, server_url) == 0 and len(asked) == 1  # described every query
    project_copy.orm.unlink()
    assert _codegen(project_copy, server_url) == 0 and len(asked) == 1  # from the cache: no connection
    project_copy.queries.write_text(project_copy.queries.read_text() + "\n-- name: Extra :one\nSELECT 1 AS one;\n")
    assert _codegen(project_copy, server_url) == 0 and len(asked) == 2  # a new query: checked again
