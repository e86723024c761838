"""``dbtui db …`` through main(), against a real cluster in a scratch folder."""

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from dbtui.cli import main


@pytest.fixture
def project_dir(tmp_path):
    data = Path(tempfile.mkdtemp(prefix="dbtui-cli-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    os.chmod(data, 0o755)
    (tmp_path / "pyproject.toml").write_text(f'[tool.dbtui]\ndata_dir = "{data}"\n')
    yield tmp_path
    main(["--project", str(tmp_path), "db", "stop"])
    shutil.rmtree(data, ignore_errors=True)


def test_start_status_url_stop(project_dir, capsys):
    assert main(["--project", str(project_dir), "db", "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["running"] is False
    assert main(["--project", str(project_dir), "db", "start"]) == 0
    assert capsys.readouterr().out.startswith("started: postgresql://")
    assert main(["--project", str(project_dir), "db", "start"]) == 0
    assert capsys.readouterr().out.startswith("already running")
    assert main(["--project", str(project_dir), "db", "url"]) == 0
    url = capsys.readouterr().out.strip()
    assert main(["--project", str(project_dir), "db", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["running"] is True and status["url"] == url and status["version"] == "18"
    assert main(["--project", str(project_dir), "db", "stop"]) == 0
    assert "stopped" in capsys.readouterr().out


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the cluster to another account")
def test_unreachable_data_dir_says_what_to_do(tmp_path, capsys):
    hidden = tmp_path / "private"
    hidden.mkdir(mode=0o700)
    (hidden / "pyproject.toml").write_text("[tool.dbtui]\n")
    os.chmod(tmp_path, 0o700)
    assert main(["--project", str(hidden), "db", "start"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dbtui: error: the '") and "cannot reach" in err and "DATABASE_URL" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--project", "/nonexistent", "db", "status"], "--project /nonexistent: no such folder"),
        (["db"], "the following arguments are required"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("dbtui: error: ") and message in err and err.count("\n") == 1


def test_broken_pyproject_names_file_and_line(tmp_path, capsys):
    (tmp_path / "pyproject.toml").write_text('[tool.dbtui]\nmigrations = "m"\nschema = \n')
    assert main(["--project", str(tmp_path), "db", "status"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path}/pyproject.toml:3: invalid TOML" in err


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["locks"], {"DATABASE_URL": "bogus"}, "DATABASE_URL is not a PostgreSQL URL"),
        (["--database-url", "mysql://u:pw@h/x", "locks"], {}, "--database-url is not a PostgreSQL URL"),
        (["--database-url", "postgresql://u:pw@127.0.0.1:1/x", "locks"], {}, "cannot connect to the database: "),
    ],
)
def test_bad_database_urls_are_one_line_exit_2(argv, env, message, monkeypatch, capsys):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr("database.config._configured_url", None)
    assert main(["--project", str(Path(__file__).resolve().parents[2]), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dbtui: error: ") and message in err and err.count("\n") == 1 and "pw@" not in err
