"""What ``migrate`` says when a run goes wrong halfway: it is true about what took effect and says what to do."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from database.dev import migrations
from database.dev.migration_status import read_status
from database.dev.migrations import MigrationError
from migration_fixtures import BRANCHED, write_migrations


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_migrations(tmp_path / "migrations", BRANCHED)


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


NON_TRANSACTIONAL = """\
-- depends: 0005_e
-- transactional: false
CREATE TABLE f (id BIGINT);
INSERT INTO f VALUES (1);
CREATE INDEX f_id ON f (id);
DROP TABLE nope;
CREATE TABLE g (id BIGINT);
"""


def test_failed_non_transactional_migration_says_which_statements_took_effect(empty_database: str,
                                                                              folder: Path) -> None:
    (folder / "0006_f.sql").write_text(NON_TRANSACTIONAL)
    with pytest.raises(MigrationError) as raised:
        migrations.migrate(empty_database, folder)
    message = str(raised.value)
    assert message.startswith(f"{folder / '0006_f.sql'}:6: table \"nope\" does not exist")
    assert "rolled back" not in message  # it was not: the table, its row and its index are there
    assert ("0006_f is not transactional: statements 1-3 (lines 3-5) took effect and stay; statement 4 failed, 1 after"
            " it did not run; it is not marked applied; undo what took effect") in message
    assert raised.value.exit_code == 1 and "\n" not in message
    assert "f" in _tables(empty_database) and "g" not in _tables(empty_database)
    with psycopg.connect(empty_database) as conn:
        assert conn.execute("SELECT count(*) FROM f").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'f_id'").fetchone()[0] == 1
    assert read_status(empty_database, folder).pending == ["0006_f"]


def test_non_transactional_migration_failing_at_its_first_statement_changed_nothing(empty_database: str,
                                                                                   folder: Path) -> None:
    (folder / "0006_f.sql").write_text("-- depends: 0005_e\n-- transactional: false\nDROP TABLE nope;\nCREATE TABLE g (id BIGINT);\n")
    with pytest.raises(MigrationError, match=r"0006_f.sql:3: .*\[0006_f is not transactional: none of its statements"
                                             r" took effect; statement 1 failed, 1 after it did not run"):
        migrations.migrate(empty_database, folder)
