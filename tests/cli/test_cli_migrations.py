"""``dbtui status|migrate|rollback|new-migration`` on a tmp project against an empty database; two real migrator
processes racing, and one killed with SIGKILL mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from dbtui.cli import main

DBTUI = str(Path(sys.executable).with_name("dbtui"))


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text)


@pytest.fixture
def tmp_project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\n\n[tool.dbtui]\n')
    folder = tmp_path / "migrations"
    folder.mkdir()
    write(folder, "0001_base.sql", "CREATE TABLE base (id BIGINT PRIMARY KEY);\n")
    write(folder, "0001_base.rollback.sql", "DROP TABLE base;\n")
    write(folder, "0002_left.sql", "-- depends: 0001_base\nCREATE TABLE l (id BIGINT);\n")
    write(folder, "0002_left.rollback.sql", "DROP TABLE l;\n")
    write(folder, "0003_right.sql", "-- depends: 0001_base\nCREATE TABLE r (id BIGINT);\n")
    write(folder, "0003_right.rollback.sql", "DROP TABLE r;\n")
    return tmp_path


def dbtui(project: Path, url: str, *args: str) -> int:
    return main(["--project", str(project), "--database-url", url, *args])


def test_status_json_fields(tmp_project: Path, empty_database: str, capsys) -> None:
    assert dbtui(tmp_project, empty_database, "migrate", "0002") == 0
    capsys.readouterr()
    assert dbtui(tmp_project, empty_database, "status", "--json") == 0
    rows = json.loads(capsys.readouterr().out)["migrations"]
    assert [(r["id"], r["applied"], r["depends"], r["rollback"], r["edited"], r["head"]) for r in rows] == [
        ("0001_base", True, [], True, False, False),
        ("0002_left", True, ["0001_base"], True, False, True),
        ("0003_right", False, ["0001_base"], True, False, True),
    ]
    assert rows[0]["applied_at"] and rows[2]["applied_at"] is None


def test_human_status_shows_the_branch_and_a_summary(tmp_project: Path, empty_database: str, capsys) -> None:
    assert dbtui(tmp_project, empty_database, "migrate", "0003_right") == 0
    capsys.readouterr()
    assert dbtui(tmp_project, empty_database, "status") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("●   0001_base") and lines[1] == "├─╮"
    assert lines[2].startswith("○ │ 0002_left") and "pending, head" in lines[2]
    assert lines[3].startswith("  ● 0003_right") and lines[-1] == "applied 2, pending 1, edited 0"


def test_migrate_rollback_and_new_migration(tmp_project: Path, empty_database: str, capsys) -> None:
    assert dbtui(tmp_project, empty_database, "migrate") == 0
    out = capsys.readouterr().out
    assert "[3/3] applying 0003_right … ok" in out and "applied 3 migration(s)" in out
    assert dbtui(tmp_project, empty_database, "migrate") == 0
    assert "nothing to apply: up to date" in capsys.readouterr().out
    assert dbtui(tmp_project, empty_database, "rollback", "0001", "--yes") == 0
    assert "rolled back 3 migration(s)" in capsys.readouterr().out
    assert dbtui(tmp_project, empty_database, "new-migration", "merge_them") == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0].endswith("migrations/0004_merge_them.sql")
    assert "merges them: 0002_left, 0003_right" in captured.err


@pytest.mark.parametrize(
    "args, message",
    [
        (["migrate", "0009"], "no migration '0009'"),
        (["migrate", "000"], "'000' is ambiguous"),
        (["rollback", "0002", "--yes"], "0002_left is not applied; nothing to roll back"),
        (["rollback", "0002"], "0002_left is not applied"),
        (["new-migration", "Bad Name"], "bad migration name 'Bad Name'"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_project: Path, empty_database: str, capsys, args, message) -> None:
    assert dbtui(tmp_project, empty_database, *args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_rollback_without_yes_and_without_a_terminal_is_refused(
    tmp_project: Path, empty_database: str, capsys, monkeypatch
) -> None:
    assert dbtui(tmp_project, empty_database, "migrate") == 0
    with open(os.devnull) as no_terminal:
        monkeypatch.setattr(sys, "stdin", no_terminal)
        assert dbtui(tmp_project, empty_database, "rollback", "0002") == 2
    assert "rollback would undo 0002_left; pass --yes" in capsys.readouterr().err


def test_failed_migration_exits_1_with_file_and_line(tmp_project: Path, empty_database: str, capsys) -> None:
    write(
        tmp_project / "migrations",
        "0004_bad.sql",
        "-- depends: 0002_left\nCREATE TABLE ok (id BIGINT);\nDROP TABLE missing;\n",
    )
    assert dbtui(tmp_project, empty_database, "migrate") == 1
    err = capsys.readouterr().err
    assert '0004_bad.sql:3: table "missing" does not exist' in err
    assert "[0004_bad rolled back; done before it: 0001_base, 0002_left, 0003_right]" in err


def test_dry_run_changes_nothing(tmp_project: Path, empty_database: str, capsys) -> None:
    assert dbtui(tmp_project, empty_database, "migrate", "0001") == 0
    capsys.readouterr()
    assert dbtui(tmp_project, empty_database, "migrate", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "+CREATE TABLE public.l (" in out and "the database was not changed" in out
    assert dbtui(tmp_project, empty_database, "status", "--json") == 0
    assert [r["applied"] for r in json.loads(capsys.readouterr().out)["migrations"]] == [True, False, False]
    with psycopg.connect(empty_database) as conn:
        assert conn.execute("SELECT to_regclass('l'), to_regclass('r')").fetchone() == (None, None)


def test_verify_finds_a_rollback_that_does_not_restore(tmp_project: Path, empty_database: str, capsys) -> None:
    write(
        tmp_project / "migrations",
        "0003_right.sql",
        "-- depends: 0001_base\nCREATE TABLE r (id BIGINT);\nCREATE INDEX r_id ON r(id);\n",
    )
    write(tmp_project / "migrations", "0002_left.rollback.sql", "DROP TABLE l;\nCREATE TABLE leftover (id BIGINT);\n")
    assert dbtui(tmp_project, empty_database, "migrate", "--verify") == 1
    captured = capsys.readouterr()
    assert "FAIL 0002_left: rollback does not restore the schema" in captured.out
    assert "+CREATE TABLE public.leftover (" in captured.out and "ok   0003_right" in captured.out
    assert "1 of 3 migration(s) do not round-trip: 0002_left" in captured.err
    with psycopg.connect(empty_database) as conn:
        assert conn.execute("SELECT to_regclass('_yoyo_migration')").fetchone() == (None,)


def spawn_migrate(project: Path, url: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [DBTUI, "--project", str(project), "--database-url", url, "migrate", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(url: str, query: str, *params: object) -> None:
    """Until ``query`` (about this database's other sessions) returns true: the migrators got that far."""
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(1200):
            if conn.execute(query, params).fetchone()[0]:
                return
            time.sleep(0.05)
    raise AssertionError(f"never true: {query} {params}")


def running(url: str, fragment: str) -> None:
    wait_until(
        url,
        "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND query LIKE %s",
        f"%{fragment}%",
    )


def waiting_on_advisory_locks(url: str, count: int) -> None:
    wait_until(
        url,
        "SELECT count(*) >= %s FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        count,
    )


def test_two_migrators_apply_each_migration_exactly_once(tmp_project: Path, empty_database: str) -> None:
    # the first migrator stops inside 0002 on a lock the test holds, so the second surely finds it running
    write(
        tmp_project / "migrations",
        "0002_left.sql",
        "-- depends: 0001_base\nCREATE TABLE l (id BIGINT);\nSELECT pg_advisory_xact_lock(42);\n",
    )
    with psycopg.connect(empty_database, autocommit=True) as gate:
        gate.execute("SELECT pg_advisory_lock(42)")
        first = spawn_migrate(tmp_project, empty_database)
        waiting_on_advisory_locks(empty_database, 1)
        second = spawn_migrate(tmp_project, empty_database)
        waiting_on_advisory_locks(empty_database, 2)  # the second waits for the dbtui:migrate lock
        gate.execute("SELECT pg_advisory_unlock(42)")
        outs = [p.communicate(timeout=60) for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outs
    assert "waiting for another migrator" in outs[1][1] and "nothing to apply: up to date" in outs[1][0]
    with psycopg.connect(empty_database) as conn:
        applies = conn.execute(
            "SELECT migration_id, count(*) FROM _yoyo_log WHERE operation = 'apply' GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert applies == [("0001_base", 1), ("0002_left", 1), ("0003_right", 1)]


def test_killed_migrator_leaves_no_lock_that_blocks_the_next(tmp_project: Path, empty_database: str) -> None:
    sleeper = tmp_project / "migrations" / "0003_right.sql"
    sleeper.write_text("-- depends: 0001_base\nCREATE TABLE r (id BIGINT);\nSELECT pg_sleep(120);\n")
    victim = spawn_migrate(tmp_project, empty_database)
    running(empty_database, "pg_sleep(120)")
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    sleeper.write_text("-- depends: 0001_base\nCREATE TABLE r (id BIGINT);\n")
    # a lock held until the killed run's statement ended would make this exceed its 20 s lock timeout and exit 1
    done = subprocess.run(
        [DBTUI, "--project", str(tmp_project), "--database-url", empty_database, "migrate", "--lock-timeout", "20"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "removed yoyo's lock left since" in done.stderr and f"by process {victim.pid}" in done.stderr
    assert "applying 0003_right … ok" in done.stdout
    with psycopg.connect(empty_database) as conn:
        assert conn.execute("SELECT count(*) FROM _yoyo_migration").fetchone() == (3,)
