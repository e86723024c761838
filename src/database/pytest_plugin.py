"""pytest plugin (registered as the ``database`` pytest11 entry point): a migrated database per test session and
an organization per test, so tests share one database but never see each other's data.

Fixtures:
- ``database_url``: URL of a fresh migrated database for the session; ``database.conn`` is configured to use it.
- ``organization``: a new organization with one member user (role ``owner``) for the test, as ``TestOrganization``.
Nothing happens unless a test asks for a fixture: an app's unrelated tests pay nothing for the plugin.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class TestOrganization:
    """The organization a test owns, and the member user to open customer connections as."""

    __test__ = False  # not a test class, despite the name

    id: str
    user_id: str


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    from database import conn, testdb

    url = testdb.create_database()
    conn.configure(url)
    yield url
    conn.configure(None)
    testdb.drop_database(url)


@pytest.fixture
def organization(database_url: str, request: pytest.FixtureRequest) -> TestOrganization:
    import psycopg

    label = request.node.name[:60]
    with psycopg.connect(database_url, autocommit=True) as c:
        org_id = c.execute("INSERT INTO organizations (name) VALUES (%s) RETURNING id", (label,)).fetchone()[0]
        user_id = c.execute(
            "INSERT INTO users (email, name) VALUES (%s, %s) RETURNING id", (f"{org_id}@test.invalid", label)
        ).fetchone()[0]
        c.execute(
            "INSERT INTO memberships (organization_id, user_id, role) VALUES (%s, %s, 'owner')", (org_id, user_id)
        )
    return TestOrganization(org_id, user_id)
