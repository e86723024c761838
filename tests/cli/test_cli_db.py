"""``dbtui db …`` through main(), against a real cluster in a scratch folder."""

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from database.config import Project
from dbtui.cli import main

SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None


@pytest.fixture
def project_dir(tmp_path, runtime):
    data = Path(tempfile.mkdtemp(prefix="dbtui-cli-", dir=SHM))
    os.chmod(data, 0o755)
    (tmp_path / "pyproject.toml").write_text(f'[tool.dbtui]\ndata_dir = "{data}/db"\n')
    yield tmp_path
    main(["--project", str(tmp_path), "db", "stop"])
    shutil.rmtree(data, ignore_errors=True)


def _data_dir(project: Path) -> Path:
    from database.config import Project

    return Project.load(project).data_dir


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
    assert "stopped the development cluster" in capsys.readouterr().out


def test_stop_creates_no_folder(project_dir, runtime, capsys):
    assert main(["--project", str(project_dir), "db", "stop", "--purge"]) == 0
    assert capsys.readouterr().out == "nothing to purge\n"
    assert list(runtime.iterdir()) == [] and not _data_dir(project_dir).exists()


def test_new_cluster_is_announced_with_its_place(project_dir, capsys):
    data = _data_dir(project_dir)
    assert main(["--project", str(project_dir), "db", "start"]) == 0
    err = capsys.readouterr().err
    assert err == f"dbtui: created a new, empty PostgreSQL cluster in {data}/pg/data (first use)\n"
    assert main(["--project", str(project_dir), "db", "stop"]) == 0
    shutil.rmtree(data / "pg" / "data")  # deleted by hand, or by a careless clean
    assert main(["--project", str(project_dir), "db", "start"]) == 0
    err = capsys.readouterr().err
    assert err == f"dbtui: the cluster in {data}/pg/data was gone: created a new, empty one there\n"


def test_status_lists_every_server_and_idle_ones_stop(project_dir, capsys):
    assert main(["--project", str(project_dir), "db", "url"]) == 0
    url = capsys.readouterr().out.strip()
    from database.dev import testdb

    testdb.server_url(Project.load(project_dir))  # the shared scratch server, started on demand
    listed = _servers(project_dir, capsys)
    assert sorted((s["kind"], s["state"], s["auto_started"], s["started_by"]) for s in listed) == [
        ("dev", "running", True, "dbtui db url"),
        ("scratch", "running", True, "pytest"),
    ]
    assert all(s["idle_timeout"] == 900 and s["memory_bytes"] > 0 and s["disk_bytes"] > 0 for s in listed)
    assert main(["--project", str(project_dir), "db", "status"]) == 0
    text = capsys.readouterr().out
    assert re.search(r"\n  shared scratch +running +\d+ +\d+ MB +\d+ MB +\d+ s of 15 min +pytest, ", text)
    assert re.search(rf"\n  {project_dir} +running +\d+ +\d+ MB +\d+ MB +\d+ s of 15 min +dbtui db url, ", text)

    assert main(["--project", str(project_dir), "db", "stop"]) == 0
    capsys.readouterr()
    (project_dir / "pyproject.toml").write_text((project_dir / "pyproject.toml").read_text() + "idle_timeout = 1\n")
    assert main(["--project", str(project_dir), "db", "url"]) == 0
    testdb.server_url(Project.load(project_dir))
    capsys.readouterr()
    idle_stopped = [("stopped", "stopped after 1 s without clients")] * 2
    deadline = time.time() + 60
    # The watcher records why a server stopped just after it stopped: wait for both, not for the state alone.
    while (
        time.time() < deadline
        and [(s["state"], s["stop_reason"]) for s in _servers(project_dir, capsys)] != idle_stopped
    ):
        time.sleep(0.2)
    assert [(s["state"], s["stop_reason"]) for s in _servers(project_dir, capsys)] == idle_stopped
    assert main(["--project", str(project_dir), "db", "url"]) == 0  # the next use starts it again
    assert capsys.readouterr().out.strip() == url
    assert main(["--project", str(project_dir), "db", "stop", "--purge"]) == 0
    out = capsys.readouterr().out
    assert "stopped the development cluster" in out and "purged the scratch server's files: " in out


def _servers(project_dir: Path, capsys) -> list[dict]:
    assert main(["--project", str(project_dir), "db", "status", "--json"]) == 0
    return json.loads(capsys.readouterr().out)["servers"]


def test_status_of_a_full_server_is_not_stopped(project_dir, capsys):
    import psycopg

    from database.dev import server

    cluster = server.dev_cluster(Project.load(project_dir))
    url = cluster.ensure_running()
    with open(cluster.data_dir / "postgresql.conf", "a") as conf:
        conf.write("max_connections = 3\nsuperuser_reserved_connections = 0\nreserved_connections = 0\n")
    cluster.stop()
    cluster.ensure_running()
    held = [psycopg.connect(url) for _ in range(3)]
    try:
        assert main(["--project", str(project_dir), "db", "status"]) == 0
        first = capsys.readouterr().out.splitlines()[0]
        assert first.startswith("cluster:  running (pid ") and "refusing new connections: " in first
        assert main(["--project", str(project_dir), "migrate"]) == 2
        err = capsys.readouterr().err
        assert "is running but refuses new connections" in err and "kill" not in err
    finally:
        for conn in held:
            conn.close()


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


def test_stop_leaves_the_shared_scratch_server_to_its_other_users(project_dir, capsys):
    import psycopg

    from database.dev import testdb

    url = testdb.server_url(Project.load(project_dir))
    with psycopg.connect(url):  # another worktree's test run, say
        assert main(["--project", str(project_dir), "db", "stop", "--purge"]) == 0
        out = capsys.readouterr().out
        assert "left the shared scratch server running: 1 client connected" in out and "nothing to purge" in out
    assert main(["--project", str(project_dir), "db", "stop"]) == 0
    assert capsys.readouterr().out == "stopped the shared scratch server\n"
