"""``dbtui migrate`` killed with -9 in the middle of a migration, and two migrators started at once.

Real ``dbtui`` processes against a real database. The middle migration waits while the gate table the test fills
has a row, until another session waits for an advisory lock (the second migrator) or 20 s pass: the same unedited
file is slow on the run that gets killed, holds the first migrator until the second one queues, and is instant on
re-runs with the gate empty.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from database.dev.migration_status import read_status

pytestmark = pytest.mark.timeout(90)

DBTUI = str(Path(sys.executable).parent / "dbtui")

MIGRATIONS = {
    "0001_first": "CREATE TABLE first (id BIGINT PRIMARY KEY);\nINSERT INTO migration_runs VALUES ('0001_first');",
    "0002_slow": (
        "-- depends: 0001_first\n"
        "CREATE TABLE second (id BIGINT PRIMARY KEY);\n"
        "DO $$ BEGIN\n"
        "    FOR i IN 1..(SELECT count(*) * 400 FROM slow_gate) LOOP\n"
        "        EXIT WHEN EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted\n"
        "                          AND database = (SELECT oid FROM pg_database WHERE datname = current_database()));\n"
        "        PERFORM pg_sleep(0.05);\n"
        "    END LOOP;\n"
        "END $$;\n"
        "INSERT INTO migration_runs VALUES ('0002_slow');"
    ),
    "0003_last": "-- depends: 0002_slow\nCREATE TABLE last (id BIGINT PRIMARY KEY);\nINSERT INTO migration_runs VALUES ('0003_last');",
}


@pytest.fixture
def tmp_project(tmp_path: Path, empty_database: str) -> tuple[Path, str]:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "crash"\n\n[tool.dbtui]\n')
    folder = tmp_path / "migrations"
    folder.mkdir()
    for migration_id, body in MIGRATIONS.items():
        (folder / f"{migration_id}.sql").write_text(body + "\n")
    with psycopg.connect(empty_database, autocommit=True) as conn:
        # Outside the migrations: what the test uses to slow them down and to count how often each ran.
        conn.execute("CREATE TABLE slow_gate (open BOOLEAN); CREATE TABLE migration_runs (id TEXT NOT NULL)")
    return tmp_path, empty_database


def _dbtui(project: Path, url: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [DBTUI, "--project", str(project), "--database-url", url, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _sql(url: str, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def _wait_for_sleeping_backend(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        if _sql(
            url,
            "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query LIKE %s AND state = 'active'"
            " AND pid <> pg_backend_pid()",
            ("%slow_gate%",),
        ):
            return
        time.sleep(0.05)
    raise AssertionError(f"the migrator never reached the slow migration: {proc.communicate(timeout=5)}")


def _runs(url: str) -> list[str]:
    return sorted(row[0] for row in _sql(url, "SELECT id FROM migration_runs"))


def _applied(project: Path, url: str) -> dict[str, bool]:
    """What ``dbtui status`` would report (read in-process: a CLI start costs seconds on a busy machine)."""
    return {m.id: m.applied for m in read_status(url, project / "migrations").migrations}


def test_kill_9_mid_migration_then_a_clean_rerun(tmp_project):
    project, url = tmp_project
    _sql(url, "INSERT INTO slow_gate VALUES (true)")
    victim = _dbtui(project, url, "migrate")
    try:
        _wait_for_sleeping_backend(url, victim)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
    finally:
        if victim.poll() is None:
            victim.kill()

    # What committed before the kill stays; the migration it was in left nothing behind.
    assert _runs(url) == ["0001_first"]
    assert _sql(url, "SELECT to_regclass('second') IS NULL") == [(True,)]
    assert _applied(project, url) == {"0001_first": True, "0002_slow": False, "0003_last": False}

    _sql(url, "DELETE FROM slow_gate")
    rerun = _dbtui(project, url, "migrate", "--lock-timeout", "20")
    out, err = rerun.communicate(timeout=40)  # the orphaned server backend must not block it for long
    assert rerun.returncode == 0, err
    assert "applied 2 migration(s)" in out
    assert _runs(url) == ["0001_first", "0002_slow", "0003_last"]
    assert _applied(project, url) == {"0001_first": True, "0002_slow": True, "0003_last": True}
    assert "Traceback" not in err


def test_two_concurrent_migrators_apply_each_migration_exactly_once(tmp_project):
    project, url = tmp_project
    _sql(url, "INSERT INTO slow_gate VALUES (true)")  # the first migrator waits in 0002 until the second queues
    first = _dbtui(project, url, "migrate")
    _wait_for_sleeping_backend(url, first)
    second = _dbtui(project, url, "migrate")
    results = [proc.communicate(timeout=60) for proc in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], results
    assert "applied 3 migration(s)" in results[0][0]
    assert "nothing to apply: up to date" in results[1][0]
    assert "waiting for another migrator" in results[1][1]
    assert _runs(url) == ["0001_first", "0002_slow", "0003_last"]
    assert _sql(url, "SELECT count(*), count(DISTINCT migration_id) FROM _yoyo_migration") == [(3, 3)]
    assert _applied(project, url) == {"0001_first": True, "0002_slow": True, "0003_last": True}


def test_many_migrators_racing_from_the_start(tmp_project):
    project, url = tmp_project
    racers = [_dbtui(project, url, "migrate") for _ in range(3)]
    results = [proc.communicate(timeout=60) for proc in racers]
    assert [proc.returncode for proc in racers] == [0, 0, 0], results
    assert sum("applied 3 migration(s)" in out for out, _ in results) == 1
    assert _runs(url) == ["0001_first", "0002_slow", "0003_last"]
