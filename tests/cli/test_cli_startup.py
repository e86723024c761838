"""The CLI starts fast: building the parser (``dbtui --help``, any ``dbtui X --help``) loads no heavy library.

Each command module imports its database.dev dependencies inside its handler; a top-level import of one of them
would pull psycopg/pglast/yaml/yoyo into every command's start-up again.
"""

import ast
import json
import subprocess
import sys

import pytest

HEAVY = ("psycopg", "pglast", "yaml", "textual", "sqlalchemy", "yoyo")

PROGRAM = """
import contextlib, io, json, sys
import dbtui.cli
dbtui.cli.build_parser()
with contextlib.redirect_stdout(io.StringIO()):
    code = dbtui.cli.main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _loaded(*argv: str) -> tuple[int, set[str]]:
    done = subprocess.run([sys.executable, "-c", PROGRAM, *argv], capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    return result["code"], {name.split(".")[0] for name in result["modules"]}


def test_importing_the_cli_loads_no_heavy_library():
    done = subprocess.run(
        [sys.executable, "-c", "import dbtui.cli, sys; print(sorted(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = {name.split(".")[0] for name in ast.literal_eval(done.stdout)}
    assert "dbtui" in loaded
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["migrate", "--help"],
        ["check", "--help"],
        ["codegen", "--help"],
        ["schema", "--help"],
        ["db", "status", "--help"],
        ["locks", "--help"],
    ],
)
def test_parser_and_help_load_no_heavy_library(argv):
    code, loaded = _loaded(*argv)
    assert code == 0
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_a_command_still_loads_what_it_needs(tmp_path):
    """The lazy imports happen: new-migration runs (and reads migrations with yoyo's metadata parser)."""
    (tmp_path / "pyproject.toml").write_text("[tool.dbtui]\n")
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001_init.sql").write_text("CREATE TABLE a_enum (value TEXT PRIMARY KEY);\n")
    code, loaded = _loaded("--project", str(tmp_path), "new-migration", "add_things")
    assert code == 0
    assert "yoyo" in loaded
    assert len(list((tmp_path / "migrations").glob("0002_add_things*"))) == 2


def test_lock_timeout_default_matches_the_migrator():
    from database.dev import migrations
    from dbtui.commands import migrations as command

    assert command.DEFAULT_LOCK_TIMEOUT == migrations.DEFAULT_LOCK_TIMEOUT
