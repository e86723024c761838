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


def test_every_command_is_named_with_its_module():
    """``dbtui.commands.COMMANDS`` (what lets a run register one module) lists each subcommand with the module that
    registers it, and nothing else."""
    import argparse
    import importlib

    from dbtui import commands

    found = {}
    for name in commands.MODULES:
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        importlib.import_module(f"dbtui.commands.{name}").register(sub)
        found |= dict.fromkeys(sub.choices, name)
    assert found == commands.COMMANDS


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["codegen", "--help"], "codegen"),
        (["--debug", "--project", "status", "watch", "--help"], "watch"),  # an option's value is not the command
        (["--database-url", "postgresql://x/y", "new-migration", "--help"], "new-migration"),
        (["--proj", "check", "--debug", "codegen", "--help"], "codegen"),  # an abbreviated option takes its value
    ],
)
def test_a_command_imports_only_its_own_command_module(argv, command):
    from dbtui.cli import command_of
    from dbtui.commands import COMMANDS

    assert command_of(argv) == command
    program = (
        "import contextlib, io, json, sys, dbtui.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    code = dbtui.cli.main(sys.argv[1:])\n"
        "print(json.dumps({'code': code, 'modules': sorted(sys.modules)}))\n"
    )
    done = subprocess.run([sys.executable, "-c", program, *argv], capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    assert result["code"] == 0
    loaded = {m.rsplit(".", 1)[1] for m in result["modules"] if m.startswith("dbtui.commands.")}
    assert loaded == {COMMANDS[command]}


def test_help_and_a_mistyped_command_still_list_every_command(capsys):
    from dbtui.cli import main
    from dbtui.commands import COMMANDS

    assert main(["--help"]) == 0
    shown = capsys.readouterr().out
    assert all(name in shown for name in COMMANDS)
    assert main(["codegn"]) == 2
    error = capsys.readouterr().err
    assert "invalid choice: 'codegn'" in error and "codegen" in error and "migrate" in error


EXIT_PROGRAM = """
import atexit, gc, sys
atexit.register(lambda: print("frozen" if gc.get_freeze_count() else "collected", gc.isenabled(), file=sys.stderr))
from dbtui.cli import run
run()
"""


def test_the_program_exits_with_mains_code_and_its_objects_frozen(tmp_path):
    """``run`` (the console script and ``python -m dbtui.cli``) exits with ``main``'s code and its whole output,
    after freezing what the run made: the collector's passes over them at exit cost ~0.1 s per command."""
    done = subprocess.run(
        [sys.executable, "-c", EXIT_PROGRAM, "--project", str(tmp_path / "missing"), "status"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"dbtui: error: --project {tmp_path / 'missing'}: no such folder",
        "frozen True",
    ]
    codegen = subprocess.run(  # one compile, then exit: the collector stays off (runner.collector_paused)
        [sys.executable, "-c", EXIT_PROGRAM, "--project", str(tmp_path / "missing"), "codegen"],
        capture_output=True,
        text=True,
    )
    assert codegen.returncode == 2 and codegen.stderr.splitlines()[-1] == "frozen False"
    help_text = subprocess.run([sys.executable, "-m", "dbtui.cli", "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0 and help_text.stdout.startswith("usage: dbtui")
