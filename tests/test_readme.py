"""The README's two set-up commands stay true: CI runs the test command verbatim."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    setup = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", setup)


def test_two_set_up_commands_install_then_run():
    run_app, run_tests = _commands()[:2]
    assert run_app.endswith("&& dbtui") and "pip install" in run_app
    assert run_tests.endswith("&& pytest") and "'.[dev]'" in run_tests


def test_ci_runs_the_readme_test_command_verbatim():
    run_tests = _commands()[1]
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert run_tests in ci


def test_justfile_recipes_call_dbtui():
    justfile = (REPO / "justfile").read_text()
    for recipe, command in [
        ("migrate", "dbtui migrate"),
        ("new-migration NAME", "dbtui new-migration"),
        ("codegen-db", "dbtui codegen"),
        ("check", "dbtui check"),
        ("test", "pytest"),
    ]:
        assert re.search(rf"^{re.escape(recipe)}:\n    {re.escape(command)}", justfile, re.M), recipe
