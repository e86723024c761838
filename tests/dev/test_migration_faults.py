"""What ``migrate`` says when a run goes wrong halfway: it is true about what took effect and says what to do."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest
from migration_fixtures import public_tables

from database import lock
from database.dev import migrations
from database.dev.migration_status import read_status
from database.dev.migrations import MigrationError
from database.errors import ProblemFound
from dbtui.cli import main

NON_TRANSACTIONAL = """\
-- depends: 0005_e
-- transactional: false
CREATE TABLE f (id BIGINT);
INSERT INTO f VALUES (1);
CREATE INDEX f_id ON f (id);
DROP TABLE nope;
CREATE TABLE g (id BIGINT);
"""


def test_failed_non_transactional_migration_says_which_statements_took_effect(
    empty_database: str, folder: Path
) -> None:
    (folder / "0006_f.sql").write_text(NON_TRANSACTIONAL)
    with pytest.raises(MigrationError) as raised:
        migrations.migrate(empty_database, folder)
    message = str(raised.value)
    assert message.startswith(f'{folder / "0006_f.sql"}:6: table "nope" does not exist')
    assert "rolled back" not in message  # it was not: the table, its row and its index are there
    assert (
        "0006_f is not transactional: statements 1-3 (lines 3-5) took effect and stay; statement 4 failed, 1 after"
        " it did not run; it is not marked applied; undo what took effect"
    ) in message
    assert raised.value.exit_code == 1 and "\n" not in message
    assert "f" in public_tables(empty_database) and "g" not in public_tables(empty_database)
    with psycopg.connect(empty_database) as conn:
        assert conn.execute("SELECT count(*) FROM f").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'f_id'").fetchone()[0] == 1
    assert read_status(empty_database, folder).pending == ["0006_f"]


def test_non_transactional_migration_failing_at_its_first_statement_changed_nothing(
    empty_database: str, folder: Path
) -> None:
    (folder / "0006_f.sql").write_text(
        "-- depends: 0005_e\n-- transactional: false\nDROP TABLE nope;\nCREATE TABLE g (id BIGINT);\n"
    )
    with pytest.raises(
        MigrationError,
        match=r"0006_f.sql:3: .*\[0006_f is not transactional: none of its statements"
        r" took effect; statement 1 failed, 1 after it did not run",
    ):
        migrations.migrate(empty_database, folder)


@pytest.mark.timeout(60)  # before the fix a lock timeout of 0 waited forever
def test_lock_timeout_0_does_not_wait_for_another_migrator(empty_database: str, folder: Path) -> None:
    with psycopg.connect(empty_database, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (lock.lock_key(migrations.LOCK_NAME),))
        with pytest.raises(
            ProblemFound,
            match=r"another migrator \(server pid \d+, connected since .*\) holds the"
            r" migration lock and the lock timeout is 0, so dbtui did not wait;"
            r" nothing was changed",
        ):
            migrations.migrate(empty_database, folder, lock_timeout=0)
    assert public_tables(empty_database) == set()


@pytest.mark.timeout(60)
def test_lock_timeout_0_does_not_wait_for_yoyos_lock(empty_database: str, folder: Path) -> None:
    migrations.migrate(empty_database, folder, "0001_a")
    holder = subprocess.Popen(["sleep", "60"])  # a live process on this machine holds yoyo's lock row
    try:
        with psycopg.connect(empty_database, autocommit=True) as conn:
            conn.execute("INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, now(), %s)", (holder.pid,))
        with pytest.raises(
            ProblemFound,
            match=rf"yoyo's lock is still held by process {holder.pid} \(lock timeout 0:"
            r" dbtui did not wait\); nothing was changed",
        ):
            migrations.migrate(empty_database, folder, lock_timeout=0)
    finally:
        holder.kill()
        holder.wait()
    assert read_status(empty_database, folder).applied == ["0001_a"]


@pytest.mark.parametrize("value", ["-1", "inf", "nan", "soon"])
def test_lock_timeout_must_be_a_finite_number_of_seconds(folder: Path, value: str, capsys) -> None:
    assert main(["--project", str(folder.parent), "migrate", "--lock-timeout", value]) == 2
    assert "argument --lock-timeout: invalid _seconds value" in capsys.readouterr().err


BAD_URLS = {  # how to spoil a good URL, and what libpq says about it
    "option": (lambda url: url.replace("?", "?bogus_option=1&"), 'invalid URI query parameter: "bogus_option"'),
    "password": (
        lambda url: url.replace("postgresql://postgres@", "postgresql://postgres:se%cret@"),
        'invalid percent-encoded token: "***"',
    ),
    "escape": (
        lambda url: url.replace("postgresql://postgres@", "postgresql://postgres:s%ecret@"),
        "a %-escape in it is not UTF-8",
    ),
}


@pytest.mark.parametrize("spoil", sorted(BAD_URLS))
@pytest.mark.parametrize("command", [["check"], ["check", "--database"], ["migrate"], ["status"]])
def test_a_bad_database_url_is_a_configuration_error_not_a_failed_migration(
    folder: Path, empty_database: str, command: list[str], spoil: str, capsys
) -> None:
    (folder.parent / "pyproject.toml").write_text("[tool.dbtui]\n")
    change, detail = BAD_URLS[spoil]
    assert main(["--project", str(folder.parent), "--database-url", change(empty_database), *command]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"dbtui: error: --database-url is not a valid PostgreSQL URL: {detail} (in "), err
    assert "ecret" not in err and "do not apply" not in err and err.count("\n") == 1


def test_a_url_in_the_wrong_place_is_a_usage_error_that_hides_its_password(capsys) -> None:
    """Global options go before the command: argparse then quotes the URL it did not expect, password and all."""
    assert main(["check", "--database-url", "postgresql://u:hunter2@127.0.0.1:1/db"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dbtui: error: unrecognized arguments: --database-url postgresql://u:***@127.0.0.1:1/db")
    assert "hunter2" not in err
