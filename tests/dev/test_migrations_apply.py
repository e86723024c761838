"""Applying and rolling back against a real, empty database: plans, atomicity, file:line errors, edits, locks."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest
from migration_fixtures import BRANCHED, public_tables

from database.config import psycopg_dialect_url
from database.dev import migrations
from database.dev.migration_status import plan_migrate, read_status
from database.dev.migrations import MigrationDone, MigrationError, MigrationStarted, Notice
from database.errors import ConfigError


def apply_log(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT migration_id, operation FROM _yoyo_log ORDER BY created_at_utc").fetchall()


def test_status_of_a_fresh_database_is_all_pending_and_creates_nothing(empty_database: str, folder: Path) -> None:
    report = read_status(empty_database, folder)
    assert report.pending == ["0001_a", "0002_b", "0003_c", "0004_d", "0005_e"] and report.applied == []
    assert public_tables(empty_database) == set()  # no DDL: yoyo's tables do not exist after a status read


def test_migrate_a_target_applies_exactly_its_ancestors(empty_database: str, folder: Path) -> None:
    events = []
    result = migrations.migrate(empty_database, folder, "0004", on_event=events.append)
    assert result.done == ("0001_a", "0002_b", "0003_c", "0004_d")
    assert [e.id for e in events if isinstance(e, MigrationStarted)] == list(result.done)
    assert [e.id for e in events if isinstance(e, MigrationDone)] == list(result.done)
    assert {"a", "b", "c", "d"} <= public_tables(empty_database) and "e" not in public_tables(empty_database)
    report = read_status(empty_database, folder)
    assert report.pending == ["0005_e"]
    assert report["0004_d"].edited is False and report["0004_d"].applied_at is not None
    assert report.summary() == "applied 4, pending 1, edited 0"


def test_migrate_target_only_takes_its_own_branch(empty_database: str, folder: Path) -> None:
    assert migrations.migrate(empty_database, folder, "0003_c").done == ("0001_a", "0003_c")
    assert plan_migrate(read_status(empty_database, folder)) == ["0002_b", "0004_d", "0005_e"]


def test_rollback_takes_applied_descendants_newest_first(empty_database: str, folder: Path) -> None:
    migrations.migrate(empty_database, folder)
    plan = migrations.rollback_plan(read_status(empty_database, folder), "0003")
    result = migrations.rollback(empty_database, folder, "0003")
    assert list(result.done) == plan == ["0005_e", "0004_d", "0003_c"]
    assert public_tables(empty_database) >= {"a", "b"} and not public_tables(empty_database) & {"c", "d", "e"}
    assert read_status(empty_database, folder).applied == ["0001_a", "0002_b"]


def test_rollback_of_something_not_applied(empty_database: str, folder: Path) -> None:
    migrations.migrate(empty_database, folder, "0002_b")
    with pytest.raises(ConfigError, match="0003_c is not applied; nothing to roll back"):
        migrations.rollback(empty_database, folder, "0003_c")


def test_rollback_without_a_rollback_file_is_refused_unless_unmarked(empty_database: str, folder: Path) -> None:
    migrations.migrate(empty_database, folder)
    (folder / "0005_e.rollback.sql").unlink()
    with pytest.raises(ConfigError, match="0005_e has no rollback file, so nothing was rolled back"):
        migrations.rollback(empty_database, folder, "0004_d")
    assert read_status(empty_database, folder).pending == []
    events = []
    migrations.rollback(empty_database, folder, "0004_d", unmark=True, on_event=events.append)
    assert [(e.id, e.direction) for e in events if isinstance(e, MigrationStarted)] == [
        ("0005_e", "unmark"),
        ("0004_d", "rollback"),
    ]
    assert "e" in public_tables(empty_database) and "d" not in public_tables(
        empty_database
    )  # unmarked: the schema is unchanged
    assert read_status(empty_database, folder).pending == ["0004_d", "0005_e"]


def test_failing_migration_rolls_back_itself_and_names_file_and_line(empty_database: str, folder: Path) -> None:
    (folder / "0003_c.sql").write_text(
        "-- depends: 0001_a\nCREATE TABLE c (id BIGINT);\n\nINSERT INTO c\n  SELECT nope\n  FROM a;\n"
    )
    with pytest.raises(MigrationError) as raised:
        migrations.migrate(empty_database, folder)
    error = raised.value
    assert error.exit_code == 1 and error.migration_id == "0003_c" and error.done == ("0001_a", "0002_b")
    assert str(error).startswith(f'{folder / "0003_c.sql"}:5: column "nope" does not exist')
    assert public_tables(empty_database) == {
        "a",
        "b",
        "_yoyo_migration",
        "_yoyo_log",
        "_yoyo_version",
        "yoyo_lock",
        "_dbtui_migration",
    }
    assert read_status(empty_database, folder).applied == ["0001_a", "0002_b"]


def test_error_in_a_rollback_file_points_into_it(empty_database: str, folder: Path) -> None:
    migrations.migrate(empty_database, folder)
    (folder / "0005_e.rollback.sql").write_text("DROP TABLE e;\nDROP TABLE nope;\n")
    with pytest.raises(MigrationError, match=r"0005_e.rollback.sql:2: table \"nope\" does not exist"):
        migrations.rollback(empty_database, folder, "0005_e")
    assert "e" in public_tables(empty_database) and read_status(empty_database, folder).pending == []


def test_syntax_error_applies_nothing(empty_database: str, folder: Path) -> None:
    (folder / "0004_d.sql").write_text("-- depends: 0002_b 0003_c\nCREATE TABLE d (\n  id BIGINT,,\n);\n")
    with pytest.raises(
        ConfigError, match=r"0004_d.sql:3: syntax error at or near \",\"; nothing was applied"
    ) as raised:
        migrations.migrate(empty_database, folder)
    assert raised.value.exit_code == 2
    assert public_tables(empty_database) == set()


def test_edited_after_apply_is_flagged_and_warned(empty_database: str, folder: Path) -> None:
    migrations.migrate(empty_database, folder, "0002_b")
    with (folder / "0002_b.sql").open("a") as f:
        f.write("CREATE INDEX ON b(id);\n")
    report = read_status(empty_database, folder)
    assert report.edited == ["0002_b"] and report["0001_a"].edited is False
    events = []
    migrations.migrate(empty_database, folder, on_event=events.append)
    assert Notice("warning: 0002_b was edited after it was applied (its content differs from what ran)") in events


def test_applied_without_our_checksum_is_unknown_not_edited(empty_database: str, folder: Path) -> None:
    from yoyo import get_backend, read_migrations

    backend = get_backend(psycopg_dialect_url(empty_database))
    with backend.lock():
        backend.apply_migrations(backend.to_apply(read_migrations(str(folder))))
    backend.connection.close()
    report = read_status(empty_database, folder)
    assert report.pending == [] and {m.edited for m in report.migrations} == {None}


def test_edits_are_applied_by_a_long_running_process(server_url: str, folder: Path, empty_database: str) -> None:
    """yoyo's process-wide registry must not serve a stale copy of a file edited since the last run."""
    migrations.migrate(empty_database, folder)
    migrations.rollback(empty_database, folder, "0005_e")
    (folder / "0005_e.sql").write_text("-- depends: 0004_d\nCREATE TABLE e2 (id BIGINT);\n")
    (folder / "0005_e.rollback.sql").write_text("DROP TABLE e2;\n")
    migrations.migrate(empty_database, folder)
    assert "e2" in public_tables(empty_database) and "e" not in public_tables(empty_database)


def test_non_transactional_migration(empty_database: str, folder: Path) -> None:
    (folder / "0006_concurrently.sql").write_text(
        "-- depends: 0005_e\n-- transactional: false\nCREATE INDEX CONCURRENTLY e_id ON e(id);\n"
    )
    assert migrations.migrate(empty_database, folder).done[-1] == "0006_concurrently"
    assert read_status(empty_database, folder).pending == []


def test_stale_yoyo_lock_of_a_dead_process_is_removed(empty_database: str, folder: Path) -> None:
    migrations.migrate(empty_database, folder, "0001_a")
    dead = subprocess.Popen(["true"])
    dead.wait()
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute("INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, now(), %s)", (dead.pid,))
    events = []
    migrations.migrate(empty_database, folder, on_event=events.append, lock_timeout=5)
    assert any(
        isinstance(e, Notice) and f"by process {dead.pid}, which is no longer running" in e.message for e in events
    )
    assert read_status(empty_database, folder).pending == []


def test_nothing_pending_runs_no_ddl(empty_database: str, folder: Path) -> None:
    (folder / "0001_a.sql").unlink()
    for f in folder.glob("000[2-5]*"):
        f.unlink()
    (folder / "0001_a.rollback.sql").unlink()
    assert migrations.migrate(empty_database, folder).done == ()
    assert public_tables(empty_database) == set()


def test_apply_all_keeps_working_for_testdb(empty_database: str, folder: Path) -> None:
    assert migrations.apply_all(empty_database, folder) == ["0001_a", "0002_b", "0003_c", "0004_d", "0005_e"]
    assert [op for _, op in apply_log(empty_database)] == ["apply"] * 5


def test_yoyo_sees_what_dbtui_applied_and_rolled_back(empty_database: str, folder: Path) -> None:
    """We write yoyo's rows ourselves (one statement per migration): yoyo must read them as its own."""
    from yoyo import get_backend, read_migrations

    migrations.migrate(empty_database, folder)
    migrations.rollback(empty_database, folder, "0005_e")
    backend = get_backend(psycopg_dialect_url(empty_database))
    try:
        pending = [m.id for m in backend.to_apply(read_migrations(str(folder)))]
        log = backend.execute(
            "SELECT migration_id, operation, username, hostname FROM _yoyo_log ORDER BY created_at_utc"
        ).fetchall()
    finally:
        backend.connection.close()
    assert pending == ["0005_e"]
    assert [(m, op) for m, op, *_ in log] == [*((m, "apply") for m in BRANCHED), ("0005_e", "rollback")]
    assert all(user and host for *_, user, host in log)


def test_statement_without_error_position_is_located_in_a_transactional_migration(
    empty_database: str, folder: Path
) -> None:
    (folder / "0006_f.sql").write_text(
        "-- depends: 0005_e\nCREATE TABLE f (id BIGINT);\n\nDROP TABLE nope;\nCREATE TABLE g (id BIGINT);\n"
    )
    with pytest.raises(MigrationError, match=r"0006_f.sql:4: table \"nope\" does not exist"):
        migrations.migrate(empty_database, folder)
    assert "f" not in public_tables(empty_database) and read_status(empty_database, folder).pending == ["0006_f"]


def test_non_transactional_failure_keeps_earlier_statements_and_names_the_line(
    empty_database: str, folder: Path
) -> None:
    (folder / "0006_f.sql").write_text(
        "-- depends: 0005_e\n-- transactional: false\nCREATE TABLE f (id BIGINT);\nDROP TABLE nope;\n"
    )
    with pytest.raises(MigrationError, match=r"0006_f.sql:4: table \"nope\" does not exist"):
        migrations.migrate(empty_database, folder)
    assert "f" in public_tables(empty_database) and read_status(empty_database, folder).pending == ["0006_f"]


def test_transaction_control_in_a_transactional_migration_is_refused_before_anything_runs(
    empty_database: str, folder: Path
) -> None:
    (folder / "0006_f.sql").write_text("-- depends: 0005_e\nCREATE TABLE f (id BIGINT);\n  /* done */ COMMIT;\n")
    with pytest.raises(ConfigError, match=r"0006_f.sql:3: COMMIT in a transactional migration"):
        migrations.migrate(empty_database, folder)
    assert public_tables(empty_database) == set()


def test_applied_records_and_locks_on_one_connection_match_their_own_reads(empty_database: str, folder: Path) -> None:
    """The TUI's heartbeat reads the locks and the applied migrations on one connection (its first answer fills the
    status): the same answers as reading each on its own connection, with nothing applied and with some applied."""
    from database import lock
    from database.dev import pg
    from database.dev.locks import held_locks, list_locks
    from database.dev.migration_status import applied_records, read_applied

    for target in (None, "0002_b"):
        if target is not None:
            migrations.migrate(empty_database, folder, target)
        with psycopg.connect(empty_database, autocommit=True) as holder:
            holder.execute("SELECT pg_advisory_lock(%s)", (lock.lock_key("test:one-connection"),))
            with pg.connect(empty_database) as conn:
                locks, applied = held_locks(conn), applied_records(conn)
            assert [(x.key, x.pid, x.granted) for x in locks] == [
                (x.key, x.pid, x.granted) for x in list_locks(empty_database)
            ]
            assert lock.lock_key("test:one-connection") in {x.key for x in locks}
        assert applied == read_applied(empty_database)
        assert sorted(applied) == ([] if target is None else ["0001_a", "0002_b"])
