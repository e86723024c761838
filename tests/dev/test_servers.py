"""Every dbtui server of a user: one shared scratch server for all checkouts, idle servers stop and come back,
deleted projects' servers and folders are collected. Each test gets its own user folder ($DBTUI_RUNTIME_DIR)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from database.config import Project
from database.dev import server, servers, testdb
from dbtui.cli import main


@pytest.fixture
def folder() -> Iterator[Path]:
    """Where the test's projects live: a folder the server account can reach (pytest's tmp_path is root-only), on
    tmpfs where there is one (initdb's final sync of a development cluster takes seconds on a busy disk)."""
    made = Path(tempfile.mkdtemp(prefix="dbtui-test-projects-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    os.chmod(made, 0o755)
    yield made
    shutil.rmtree(made, ignore_errors=True)


def _project(root: Path, table: str, *, idle_timeout: int = 0) -> Project:
    (root / "migrations").mkdir(parents=True)
    (root / "migrations" / "0001_one.sql").write_text(f"CREATE TABLE {table}_enum (value TEXT PRIMARY KEY);\n")
    (root / "pyproject.toml").write_text(f"[tool.dbtui]\nidle_timeout = {idle_timeout}\n")
    return Project.load(root)


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def test_two_projects_and_a_worktree_share_one_scratch_server(runtime, folder):
    first = _project(folder / "first", "shared")
    _git("init", "-q", cwd=first.root)
    _git("add", ".", cwd=first.root)
    _git("commit", "-qm", "init", cwd=first.root)
    _git("worktree", "add", "-q", str(folder / "first-wt"), cwd=first.root)
    worktree = Project.load(folder / "first-wt")
    second = _project(folder / "second", "other")
    projects = [first, worktree, second]

    assert len({testdb.server_url(p) for p in projects}) == 1
    urls = [testdb.create_database(project=p) for p in projects]
    try:
        templates = [testdb.template_name(testdb._FolderMigrator(p.migrations)) for p in projects]
        assert templates[0] == templates[1] != templates[2]  # same migrations share a template, others do not
        with psycopg.connect(urls[2]) as conn:
            assert conn.execute("SELECT to_regclass('other_enum') IS NOT NULL").fetchone() == (True,)
    finally:
        for url in urls:
            testdb.drop_database(url)
    listed = servers.list_servers()
    assert [(v.kind, v.project, v.state) for v in listed] == [("scratch", "shared scratch", "running")]
    assert listed[0].memory_bytes and listed[0].disk_bytes and listed[0].started_by == "pytest"
    assert server.scratch_cluster().base == runtime / f"dbtui-{os.geteuid()}" / "scratch"
    assert oct(server.scratch_cluster().socket_dir.stat().st_mode & 0o777) == "0o700"


def _watchers(runtime: Path) -> list[int]:
    """The idle watcher processes of the user folder ``runtime``."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
            env = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"watch-idle" in args and f"DBTUI_RUNTIME_DIR={runtime}".encode() in env:
            found.append(int(proc.name))
    return found


def _wait_until(condition, timeout: float = 60) -> bool:
    deadline = time.time() + timeout
    while not condition() and time.time() < deadline:
        time.sleep(0.1)
    return condition()


def test_idle_scratch_server_stops_and_starts_again_on_demand(runtime, folder):
    project = _project(folder / "idle", "idle", idle_timeout=1)
    url = testdb.server_url(project)
    scratch = server.scratch_cluster(project)
    pid = scratch.read_record().pid
    assert len(_watchers(runtime)) == 1  # one per user, whatever the number of servers
    with psycopg.connect(url) as client:  # a connected client: never idle, however long (ten looks at it here)
        time.sleep(2)
        assert client.execute("SELECT 1").fetchone() == (1,)
    assert _wait_until(lambda: scratch.read_record().stop_reason is not None)
    assert scratch.read_record().stop_reason == "stopped after 1 s without clients"
    assert not scratch.answers() and not server.process_alive(pid)
    assert _wait_until(lambda: not _watchers(runtime))  # nothing left to watch: it ends
    assert testdb.server_url(project) == url and scratch.answers()  # the next use starts it again
    assert scratch.read_record().pid != pid


def test_deleted_projects_server_and_folders_are_collected(runtime, folder, capsys):
    doomed, kept = _project(folder / "doomed", "doomed"), _project(folder / "kept", "kept")
    doomed_cluster, kept_cluster = server.dev_cluster(doomed), server.dev_cluster(kept)
    doomed_cluster.ensure_running()
    kept_cluster.ensure_running()
    doomed_pid = doomed_cluster.read_record().pid
    legacy = runtime / f"dbtui-{os.geteuid()}-0123456789"  # a per-project scratch folder of an older dbtui
    (legacy / "pg").mkdir(parents=True)
    (legacy / "pg" / "filler").write_bytes(b"x" * 2**20)

    shutil.rmtree(doomed.root)  # the server keeps running on deleted files, holding memory
    assert main(["--project", str(kept.root), "db", "gc"]) == 0
    out = capsys.readouterr().out
    assert f"the server of deleted project {doomed.root} (pid {doomed_pid}, stopped)" in out
    assert f"an old per-project scratch folder {legacy}" in out and "in all" in out
    assert not server.process_alive(doomed_pid)
    assert not legacy.exists() and not doomed_cluster.socket_dir.exists() and not doomed_cluster.record_path.exists()
    assert kept_cluster.answers()  # an existing project's server stays
    assert main(["--project", str(kept.root), "db", "gc"]) == 0
    assert capsys.readouterr().out == "nothing to free\n"
