"""Shared fixtures for this repo's tests. Every database is real: the project's own scratch cluster."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from database import conn
from database.config import Project
from database.dev import pgbouncer, testdb

REPO = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
# Suites that run twice: straight to the server, and through a real PgBouncer in transaction mode.
THROUGH_POOLER = (TESTS / "runtime", TESTS / "security", TESTS / "reliability" / "test_lock_cancellation.py")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    path = metafunc.definition.path
    if "database_url" in metafunc.fixturenames and any(path.is_relative_to(p) for p in THROUGH_POOLER):
        metafunc.parametrize("database_route", ["direct", "pgbouncer"], indirect=True, scope="session")


@pytest.fixture(scope="session")
def project() -> Project:
    """This repository as a dbtui project."""
    return Project.load(REPO)


@pytest.fixture(scope="session")
def server_url(project: Project) -> str:
    """Admin URL (database ``postgres``) of the server throwaway databases live on."""
    return testdb.with_database(testdb.server_url(project), "postgres")


@pytest.fixture(scope="session")
def database_route(request: pytest.FixtureRequest) -> str:
    """How the runtime reaches the session database: ``direct`` or through ``pgbouncer`` (see THROUGH_POOLER)."""
    return getattr(request, "param", "direct")


@pytest.fixture(scope="session")
def session_database(project: Project) -> Iterator[str]:
    """The migrated database the whole session shares (per-test isolation comes from the organization fixture)."""
    url = testdb.create_database(project=project)
    yield url
    testdb.drop_database(url)


@pytest.fixture(scope="session")
def pooler(server_url: str) -> Iterator[pgbouncer.PgBouncer]:
    """A real PgBouncer (the distribution's; .ci/run installs it) in transaction mode in front of the test server."""
    if pgbouncer.find_pgbouncer() is None:
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer; .ci/run installs it)")
    bouncer = pgbouncer.start(server_url, users=("postgres", conn.CUSTOMER_ROLE))
    yield bouncer
    bouncer.stop()


@pytest.fixture(scope="session")
async def database_url(session_database: str, database_route: str, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """The session database (the pytest plugin's fixture, overridden): the runtime is configured for it, directly
    or through PgBouncer as ``database_route`` says."""
    url = session_database
    if database_route == "pgbouncer":
        url = request.getfixturevalue("pooler").url(testdb.database_name(session_database))
    conn.configure(url)
    yield url
    await conn.dispose()
    conn.configure(None)


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
