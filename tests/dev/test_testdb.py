"""Throwaway databases: migrated, isolated, templates keyed by migration content, crashed builds never reused."""

import os
import secrets
import shutil

import psycopg
import pytest
from psycopg import sql

from database.dev import fingerprint, testdb
from database.errors import ConfigError


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def test_clone_is_fully_migrated_and_isolated(project, server_url):
    first = testdb.create_database(project=project)
    second = testdb.create_database(project=project)
    try:
        assert first != second
        assert {"organizations", "users", "memberships", "projects", "_yoyo_migration"} <= _tables(first)
        with psycopg.connect(first, autocommit=True) as conn:
            conn.execute("INSERT INTO organizations (name) VALUES ('only in first')")
        with psycopg.connect(second) as conn:
            assert conn.execute("SELECT count(*) FROM organizations").fetchone()[0] == 0
    finally:
        testdb.drop_database(first)
        testdb.drop_database(second)
    with psycopg.connect(server_url) as conn:
        names = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
    assert testdb.database_name(first) not in names


def test_changed_migration_gives_a_new_template(tmp_path, project, server_url):
    tree = tmp_path / "migrations"
    shutil.copytree(project.migrations, tree)
    before = testdb.ensure_template(server_url, tree)
    assert testdb.ensure_template(server_url, tree) == before  # unchanged content, same template
    (tree / "0007_extra.sql").write_text(
        "-- depends: 0006_row_level_security\nCREATE TABLE extra_enum (value TEXT PRIMARY KEY);\n"
    )
    after = testdb.ensure_template(server_url, tree)
    assert after != before
    url = testdb.create_database(migrations_dir=tree, url=server_url)
    try:
        assert "extra_enum" in _tables(url)
    finally:
        testdb.drop_database(url)


def test_a_crashed_build_is_never_cloned(tmp_path, project, server_url):
    tree = tmp_path / "migrations"
    shutil.copytree(project.migrations, tree)
    unique = secrets.token_hex(4)  # a template no earlier run has built
    (tree / "0007_marker.sql").write_text(
        f"-- depends: 0006_row_level_security\n-- {unique}\nCREATE TABLE marker_enum (value TEXT PRIMARY KEY);\n"
    )
    name = testdb.TEMPLATE_PREFIX + testdb.migrations_digest(tree)[:20]
    with psycopg.connect(server_url, autocommit=True) as conn:  # what a build killed half-way leaves behind
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = testdb.create_database(migrations_dir=tree, url=server_url)
    try:
        assert "marker_enum" in _tables(url)  # rebuilt, not the empty leftover
    finally:
        testdb.drop_database(url)


def test_failing_migration_leaves_no_template(tmp_path, server_url):
    tree = tmp_path / "migrations"
    tree.mkdir()
    (tree / "0001_bad.sql").write_text("CREATE TABLE ok_enum (value TEXT PRIMARY KEY);\nCREATE TABLEX nope;\n")
    with pytest.raises(ConfigError, match=r"0001_bad.sql:2: syntax error at or near \"TABLEX\""):
        testdb.create_database(migrations_dir=tree, url=server_url)
    name = testdb.TEMPLATE_PREFIX + testdb.migrations_digest(tree)[:20]
    with psycopg.connect(server_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,)).fetchone()[0] == 0


def test_bad_inputs_are_clear(tmp_path, server_url):
    with pytest.raises(ConfigError, match="migrations folder not found"):
        testdb.create_database(migrations_dir=tmp_path / "missing", url=server_url)
    with pytest.raises(ConfigError, match="refusing to drop 'postgres'"):
        testdb.drop_database(server_url)


def test_spares_are_handed_out_once_and_refilled(project, server_url):
    import time

    template = testdb.ensure_template(server_url, project.migrations)

    def spares() -> set[str]:
        with psycopg.connect(server_url) as conn:
            rows = conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", (testdb._spare_prefix(template) + "%",)
            )
            return {r[0] for r in rows}

    urls = [testdb.create_database(project=project) for _ in range(4)]
    try:
        assert len(set(urls)) == 4
        assert all({"organizations", "projects"} <= _tables(u) for u in urls)
        deadline = time.time() + 30
        while len(spares()) < testdb.SPARES and time.time() < deadline:
            time.sleep(0.05)
        assert len(spares()) == testdb.SPARES
        assert not spares() & {testdb.database_name(u) for u in urls}
    finally:
        for url in urls:
            testdb.drop_database(url)


@pytest.mark.parametrize("inotify", [True, False], ids=["watched", "without-inotify"])
def test_a_migration_edited_between_two_calls_gives_a_fresh_template(tmp_path, server_url, monkeypatch, inotify):
    """A test session creates database after database; the folder is then watched (or, where inotify is missing,
    rescanned), and an edit that keeps the file's size and mtime (before: the stat-keyed cache answered the old
    digest) still gives its template."""
    if not inotify:
        monkeypatch.setattr(fingerprint, "_watch", False)  # as on a system without inotify
    tree = tmp_path / "migrations"
    tree.mkdir()
    migration = tree / "0001_one.sql"
    migration.write_text("CREATE TABLE aaaa_enum (value TEXT PRIMARY KEY);\n")
    urls = [testdb.create_database(migrations_dir=tree, url=server_url) for _ in range(3)]  # the last from the watch
    try:
        before = migration.stat()
        migration.write_text("CREATE TABLE bbbb_enum (value TEXT PRIMARY KEY);\n")
        os.utime(migration, ns=(before.st_atime_ns, before.st_mtime_ns))
        urls.append(testdb.create_database(migrations_dir=tree, url=server_url))
        assert "bbbb_enum" in _tables(urls[-1]) and "aaaa_enum" not in _tables(urls[-1])
        shutil.rmtree(tree)  # the folder replaced by another one at the same path
        tree.mkdir()
        (tree / "0001_one.sql").write_text("CREATE TABLE cccc_enum (value TEXT PRIMARY KEY);\n")
        urls.append(testdb.create_database(migrations_dir=tree, url=server_url))
        assert "cccc_enum" in _tables(urls[-1])
        assert "aaaa_enum" in _tables(urls[2])
    finally:
        for url in urls:
            testdb.drop_database(url)


def test_the_project_is_remembered_only_while_its_pyproject_is_unchanged(tmp_path, monkeypatch):
    """create_database() without arguments (the pytest plugin, once per test) looks the project up from the working
    directory; remembered between calls, it still follows an edited or a new pyproject.toml."""
    (tmp_path / "pyproject.toml").write_text('[tool.dbtui]\nmigrations = "one"\n')
    inner = tmp_path / "pkg"
    inner.mkdir()
    monkeypatch.chdir(inner)
    assert testdb._current_project().migrations == tmp_path / "one"
    assert testdb._current_project().migrations == tmp_path / "one"
    (tmp_path / "pyproject.toml").write_text('[tool.dbtui]\nmigrations = "two"\n')
    assert testdb._current_project().migrations == tmp_path / "two"
    (inner / "pyproject.toml").write_text('[tool.dbtui]\nmigrations = "three"\n')  # a nearer one appears
    assert testdb._current_project().migrations == inner / "three"
