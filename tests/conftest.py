"""Shared fixtures for this repo's tests. Every database is real: the project's own scratch cluster."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from database.config import Project
from database.dev import testdb

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def project() -> Project:
    """This repository as a dbtui project."""
    return Project.load(REPO)


@pytest.fixture(scope="session")
def server_url(project: Project) -> str:
    """Admin URL (database ``postgres``) of the server throwaway databases live on."""
    return testdb.with_database(testdb.server_url(project), "postgres")


@pytest.fixture
def empty_database(server_url: str) -> Iterator[str]:
    """A new, empty database (no migrations applied), dropped after the test."""
    name = f"{testdb.CLONE_PREFIX}{__import__('os').getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = testdb.with_database(server_url, name)
    yield url
    testdb.drop_database(url)


@pytest.fixture
def migrated_database(project: Project) -> Iterator[str]:
    """A fresh database with this repo's migrations applied, dropped after the test."""
    url = testdb.create_database(project=project)
    yield url
    testdb.drop_database(url)


@pytest.fixture
def project_copy(tmp_path: Path) -> Project:
    """A project in tmp_path with a copy of this repo's migrations, queries and annotations."""
    shutil.copytree(REPO / "migrations", tmp_path / "migrations")
    shutil.copy(REPO / "queries.sql", tmp_path / "queries.sql")
    shutil.copy(REPO / "schema_annotations.yaml", tmp_path / "schema_annotations.yaml")
    (tmp_path / "pyproject.toml").write_text('[tool.dbtui]\norm = "orm.py"\ndata_dir = ".dbtui"\n')
    return Project.load(tmp_path)


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """This test's own stand-in for /dev/shm ($DBTUI_RUNTIME_DIR: world-writable and sticky, like it), with no database
    URL set: the shared scratch server and the server records the test makes are its own, and `db stop` never touches
    the real ones. Every server started in it is stopped afterwards, even one whose folder the test deleted."""
    from database.dev import server, servers

    root = Path(tempfile.mkdtemp(prefix="dbtui-test-shm-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    os.chmod(root, 0o1777)
    monkeypatch.setenv("DBTUI_RUNTIME_DIR", str(root))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setattr("database.config._configured_url", None)  # the session database of the pytest plugin
    yield root
    for record in server.read_records():
        servers.cluster_of(record).stop() or servers.stop_orphan(record)
        shutil.rmtree(record.socket_dir, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
