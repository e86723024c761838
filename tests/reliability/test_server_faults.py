"""The database server stops under a running dbtui: watch says so and carries on; migrate says what happened.

The server is the fault suite's own cluster (``own_cluster``): these tests stop and start it.
"""

from __future__ import annotations

import contextlib
import os
import queue
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from needs import unavailable
from psycopg import sql

from database.config import Project
from database.dev import migrations, server, testdb
from database.dev.codegen.watch import Event, Failed, Finished, Started, watch
from database.dev.migrations import MigrationError, Notice
from database.errors import ServerError

pytestmark = pytest.mark.timeout(120)

OUTCOME_TIMEOUT = 30


class Watching:
    """``watch()`` running in a thread, its events in a queue, stopped at the end."""

    def __init__(self, project: Project, url: str) -> None:
        self.events: queue.Queue[Event | BaseException] = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(project, url), daemon=True)
        self.thread.start()

    def _run(self, project: Project, url: str) -> None:
        try:
            for event in watch(project, url=url, stop_event=self.stop):
                self.events.put(event)
        except BaseException as exc:  # the watch must never end on its own: the test reports what ended it
            self.events.put(exc)

    def outcome(self) -> list[Event]:
        """The events up to and including the next Finished or Failed."""
        seen: list[Event] = []
        while True:
            event = self.events.get(timeout=OUTCOME_TIMEOUT)
            if isinstance(event, BaseException):
                raise AssertionError(f"watch ended with {event!r}") from event
            seen.append(event)
            if isinstance(event, (Finished, Failed)):
                return seen


@pytest.fixture
def watching(project_copy: Project, own_cluster: server.Cluster) -> Iterator[Watching]:
    watcher = Watching(project_copy, own_cluster.ensure_running())
    first = watcher.outcome()
    assert isinstance(first[-1], Finished), first
    yield watcher
    watcher.stop.set()
    watcher.thread.join(timeout=OUTCOME_TIMEOUT)
    own_cluster.ensure_running()


def _add_query(project: Project, name: str) -> None:
    """A query the codegen cache has never seen: compiling it needs the database."""
    with open(project.queries, "a", encoding="utf-8") as handle:
        handle.write(f"\n-- name: {name} :one\nSELECT count(*) AS n FROM projects WHERE name = @name;\n")


def test_watch_waits_for_a_stopped_server_and_compiles_when_it_is_back(
    watching: Watching, project_copy: Project, own_cluster: server.Cluster
) -> None:
    own_cluster.stop()
    _add_query(project_copy, "CountWhileDown")
    failed = watching.outcome()[-1]
    assert isinstance(failed, Failed) and failed.server_down, failed
    assert "the database server does not answer" in failed.message and "waiting for it" in failed.message
    assert "\n" not in str(failed)

    own_cluster.ensure_running()  # no save: the watch notices the server by itself
    events = watching.outcome()
    assert isinstance(events[0], Started) and events[0].reason == "the database server answers again", events
    assert isinstance(events[-1], Finished), events
    assert "def count_while_down(" in project_copy.orm.read_text()


def test_watch_recovers_from_a_restart_between_saves(
    watching: Watching, project_copy: Project, own_cluster: server.Cluster
) -> None:
    _add_query(project_copy, "CountBefore")
    assert isinstance(watching.outcome()[-1], Finished)
    own_cluster.stop()
    own_cluster.ensure_running()  # the watch's connection died with the old server
    _add_query(project_copy, "CountAfterRestart")
    events = watching.outcome()
    assert isinstance(events[-1], Failed) and events[-1].message.endswith(
        "; the database server answers now: compiling again"
    ), events
    events = watching.outcome()
    assert isinstance(events[-1], Finished), events
    assert "def count_after_restart(" in project_copy.orm.read_text()


@pytest.fixture
def database_on_own_cluster(own_cluster: server.Cluster) -> Iterator[str]:
    url = testdb.with_database(own_cluster.ensure_running(), f"faults_{os.getpid()}_{secrets.token_hex(3)}")
    with psycopg.connect(testdb.with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(testdb.database_name(url))))
    yield url
    own_cluster.ensure_running()
    with psycopg.connect(testdb.with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(testdb.database_name(url))))


def _migrate_in_thread(url: str, folder: Path) -> tuple[threading.Thread, list[BaseException]]:
    raised: list[BaseException] = []

    def run() -> None:
        try:
            migrations.migrate(url, folder)
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, raised


def _wait_for_query(url: str, text: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(OUTCOME_TIMEOUT * 10):
            if conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s AND pid <> pg_backend_pid()", (f"%{text}%",)
            ).fetchone()[0]:
                return
            time.sleep(0.1)
    raise AssertionError(f"{text!r} never ran")


def test_server_stopped_during_migrate_is_named_with_its_log(
    database_on_own_cluster: str, own_cluster: server.Cluster, tmp_path: Path, recwarn
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_a.sql").write_text("CREATE TABLE a (id BIGINT);\n")
    (folder / "0002_slow.sql").write_text("-- depends: 0001_a\nSELECT pg_sleep(60);\n")
    (folder / "0003_c.sql").write_text("-- depends: 0002_slow\nCREATE TABLE c (id BIGINT);\n")
    thread, raised = _migrate_in_thread(database_on_own_cluster, folder)
    _wait_for_query(database_on_own_cluster, "pg_sleep(60)")
    own_cluster.stop()
    thread.join(OUTCOME_TIMEOUT)
    [error] = raised
    assert isinstance(error, MigrationError), repr(error)
    message = str(error)
    assert message.startswith("lost the connection to the server while applying 0002_slow"), message
    assert (
        f"; it was stopped (its log {own_cluster.log_file} says: received fast shutdown request); it does not"
        " answer now ["
    ) in message
    assert "0002_slow is not marked applied" in message and "done before it: 0001_a; 1 not run" in message
    assert error.exit_code == 1 and "\n" not in message
    assert not [w for w in recwarn if "yoyo" in str(w.filename)]  # no yoyo warnings about the dead connection

    own_cluster.ensure_running()
    (folder / "0002_slow.sql").write_text("-- depends: 0001_a\nSELECT 1;\n")
    # The same process migrates again, as the TUI does: the yoyo lock row it left on the stopped server is its own
    # and stale (it holds the advisory lock), so it is removed, not waited for.
    events: list = []
    assert migrations.migrate(database_on_own_cluster, folder, on_event=events.append, lock_timeout=5).done == (
        "0002_slow",
        "0003_c",
    )
    assert any(isinstance(e, Notice) and "removed yoyo's lock" in e.message for e in events), events


@contextlib.contextmanager
def _small_tmpfs(megabytes: int) -> Iterator[Path]:
    """A tmpfs of ``megabytes`` mounted for the test (a full disk on demand); skipped where mounting is impossible."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        unavailable("mounting a small tmpfs needs root and mount(8)")
    where = Path(tempfile.mkdtemp(prefix="dbtui-full-", dir="/tmp"))
    os.chmod(where, 0o755)  # the server account walks into it
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m,mode=755", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        where.rmdir()
        unavailable(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "--lazy", str(where)], check=True)
        where.rmdir()


def _stop_now(cluster: server.Cluster) -> None:
    """Immediate shutdown: a server whose disk is full cannot write the checkpoint a clean stop waits for."""
    pid = cluster._pid_from_file()  # none when the server shut itself down
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT)
        for _ in range(OUTCOME_TIMEOUT * 20):
            if not server.process_alive(pid):
                break
            time.sleep(0.05)
    shutil.rmtree(cluster.socket_dir, ignore_errors=True)


def test_full_disk_during_migrate_says_the_server_crashed_and_why(tmp_path: Path) -> None:
    with _small_tmpfs(120) as disk:
        cluster = server.Cluster(disk / "c")  # durable, so WAL as large as the data: the WAL write fails, a PANIC
        try:
            url = testdb.with_database(cluster.ensure_running(), "postgres")
            folder = tmp_path / "migrations"
            folder.mkdir()
            (folder / "0001_fill.sql").write_text(
                "CREATE TABLE a (id BIGINT, pad TEXT);\n"
                "INSERT INTO a SELECT g, repeat('x', 200) FROM generate_series(1, 400000) g;\n"
            )
            with pytest.raises(MigrationError) as raised:
                migrations.migrate(url, folder)
        finally:
            _stop_now(cluster)
    message = str(raised.value)
    assert message.startswith("lost the connection to the server while applying 0001_fill"), message
    assert f"it crashed; its log {cluster.log_file} says: " in message
    assert "No space left on device (the disk is full: free some space, then start it again)" in message
    assert "the connection is closed" not in message and "\n" not in message


def test_initdb_on_a_full_disk_says_how_much_is_needed() -> None:
    with _small_tmpfs(16) as disk:
        cluster = server.Cluster(disk / "c", fast=True)
        with pytest.raises(ServerError) as raised:
            cluster.ensure_running()
        shutil.rmtree(cluster.socket_dir, ignore_errors=True)
    message = str(raised.value)
    assert message.startswith(f"{disk / 'c'} is full ("), message
    assert f"MB free; a new cluster needs about {server.CLUSTER_MB} MB)" in message
    assert "No space left on device" in message and "removing data directory" not in message
