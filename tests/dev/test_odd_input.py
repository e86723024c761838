"""Odd migration files get one true line each: a statement cut off, a ``.SQL`` name, a byte order mark, UTF-16.

Every command that reads the migrations (migrate, its dry run, codegen, check, watch, and the function the TUI
calls) gives the same ``file:line`` answer, exit 2, and applies nothing.
"""

from __future__ import annotations

import codecs
import secrets

import pytest
from migration_fixtures import public_tables

from database.config import Project
from database.dev import migrations
from database.dev.codegen.runner import Compiler
from database.dev.codegen.watch import Failed, run_once
from database.dev.migration_tree import load_tree
from database.dev.source_map import build_source_map
from database.errors import ConfigError
from dbtui.cli import main

CUT = "-- depends: 0006_row_level_security\nCREATE TABLE w (id int\n"


@pytest.fixture
def cut_project(project_copy: Project) -> Project:
    # a table name of its own: other processes on the shared scratch server never build the same template
    (project_copy.migrations / "0007_cut.sql").write_text(CUT.replace(" w ", f" w_{secrets.token_hex(4)} "))
    return project_copy


def test_cut_off_migration_is_a_syntax_error_at_its_last_line(cut_project: Project, empty_database: str) -> None:
    with pytest.raises(ConfigError) as raised:  # what the TUI's Migrations tab calls
        migrations.migrate(empty_database, cut_project.migrations)
    assert str(raised.value).endswith("0007_cut.sql:2: syntax error at end of input; nothing was applied")
    assert raised.value.exit_code == 2
    assert public_tables(empty_database) == set()


@pytest.mark.parametrize("command", [["migrate"], ["migrate", "--dry-run"], ["codegen"], ["check"]])
def test_every_command_reports_the_cut_off_migration_in_one_line(
    cut_project: Project, empty_database: str, command: list[str], capsys
) -> None:
    code = main(["--project", str(cut_project.root), "--database-url", empty_database, *command])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("dbtui: error: "), err
    assert "0007_cut.sql:2: syntax error at end of input" in err
    assert public_tables(empty_database) == set()


def test_watch_reports_the_cut_off_migration_and_goes_on(cut_project: Project, server_url: str) -> None:
    with Compiler(cut_project, url=server_url) as compiler:
        events = list(run_once(compiler, "test"))
    failed = events[-1]
    assert isinstance(failed, Failed) and not failed.server_down
    assert failed.location.endswith("0007_cut.sql:2") and failed.message.startswith("syntax error at end of input")


@pytest.mark.parametrize("name", ["0007_upper.SQL", "0007_upper.Sql", "0006_row_level_security.ROLLBACK.SQL"])
def test_a_migration_named_in_upper_case_is_refused_not_ignored(project_copy: Project, name: str) -> None:
    (project_copy.migrations / name).write_text("-- depends: 0006_row_level_security\nCREATE TABLE u (id BIGINT);\n")
    fixed = "0006_row_level_security.rollback.sql" if "ROLLBACK" in name else "0007_upper.sql"
    with pytest.raises(ConfigError, match=rf"{name}: migration files end in lowercase \.sql; rename it to {fixed}"):
        load_tree(project_copy.migrations)


def test_a_byte_order_mark_does_not_hide_the_depends_line(project_copy: Project, empty_database: str) -> None:
    [head] = load_tree(project_copy.migrations).heads
    path = project_copy.migrations / "0099_bom.sql"
    path.write_bytes(codecs.BOM_UTF8 + f"-- depends: {head}\nCREATE TABLE bom (id BIGINT);\n".encode())
    tree = load_tree(project_copy.migrations)
    assert tree["0099_bom"].depends == (head,)
    assert tree.heads == ["0099_bom"]
    assert migrations.migrate(empty_database, project_copy.migrations).done[-1] == "0099_bom"
    assert "bom" in public_tables(empty_database)  # the mark is not sent to the server either


def test_a_byte_order_mark_does_not_hide_a_table_from_the_source_map(project_copy: Project) -> None:
    """``check`` names the file and line that created a table: a BOM before it must not make that unknown."""
    path = project_copy.migrations / "0003_organizations_users.sql"
    path.write_bytes(codecs.BOM_UTF8 + path.read_bytes())
    origin = build_source_map(project_copy.migrations).tables["organizations"]
    assert (origin.path.name, origin.line) == (path.name, 3)


def test_a_byte_order_mark_does_not_hide_the_first_query(project_copy: Project, server_url: str) -> None:
    with Compiler(project_copy, url=server_url) as compiler:
        plain = compiler.compile().signatures
    project_copy.queries.write_bytes(codecs.BOM_UTF8 + project_copy.queries.read_bytes())
    with Compiler(project_copy, url=server_url) as compiler:
        assert compiler.compile().signatures == plain


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_file_says_so(project_copy: Project, encoding: str) -> None:
    data = "-- depends: 0006_row_level_security\nCREATE TABLE u (id BIGINT);\n".encode(encoding)
    if not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        data = codecs.BOM_UTF16_BE + data
    (project_copy.migrations / "0007_wide.sql").write_bytes(data)
    with pytest.raises(ConfigError, match=r"0007_wide\.sql:1: UTF-16 text .*: save it as UTF-8"):
        load_tree(project_copy.migrations)
