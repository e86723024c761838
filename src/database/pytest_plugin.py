"""pytest plugin (registered as the ``database`` pytest11 entry point): a migrated database per test session and
an organization per test, so tests share one database but never see each other's data.

Fixtures:
- ``database_url``: URL of a fresh migrated database for the session; ``database.conn`` is configured to use it.
- ``organization``: a new organization with one member user (role ``owner``) for the test, as ``TestOrganization``.
- ``fresh_database``: a migrated database of the test's own (a ready clone: 1–2 ms), ``database.conn`` pointed at it
  for the test, dropped after. For tests whose writes no organization scopes (users, global tables, anything an
  admin transaction changes that a later test could see or trip over). ``organization`` then lives in it too.
Nothing happens unless a test asks for a fixture: an app's unrelated tests pay nothing for the plugin.

Why no "rolled back at the end" fixture: the code under test opens its own transactions on connections of its own
pool (``xact_admin``, ``xact_customer``), so it would never see a test's outer transaction; making every pool share
one connection inside it would change what is tested (commits become savepoints, concurrent transactions become
one, customer role switches nest). A clone isolates for real at a cost a test does not notice.
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
    _close_pools()
    conn.configure(None)
    testdb.drop_database(url)


@pytest.fixture
def fresh_database(database_url: str) -> Iterator[str]:
    from database import conn, testdb

    url = testdb.create_database()
    _close_pools()
    conn.configure(url)
    try:
        yield url
    finally:
        _close_pools()
        conn.configure(database_url)
        testdb.drop_database(url)


def _close_pools() -> None:
    """Close the runtime's pools before it is pointed elsewhere (a forgotten pool leaves its connections open).

    Pools belong to event loops and close on their own loop; between tests (where fixtures run) no loop runs."""
    from database import conn

    for loop in list(conn._pools):
        if not loop.is_closed() and not loop.is_running():
            loop.run_until_complete(conn.dispose())


@pytest.fixture
def organization(database_url: str, request: pytest.FixtureRequest) -> TestOrganization:
    import psycopg

    if "fresh_database" in request.fixturenames:  # the test's own database: its organization belongs there
        database_url = request.getfixturevalue("fresh_database")
    label = request.node.name[:60]
    with psycopg.connect(database_url, autocommit=True) as c:
        ((org_id,),) = c.execute("INSERT INTO organizations (name) VALUES (%s) RETURNING id", (label,)).fetchall()
        ((user_id,),) = c.execute(
            "INSERT INTO users (email, name) VALUES (%s, %s) RETURNING id", (f"{org_id}@test.invalid", label)
        ).fetchall()
        c.execute(
            "INSERT INTO memberships (organization_id, user_id, role) VALUES (%s, %s, 'owner')", (org_id, user_id)
        )
    return TestOrganization(org_id, user_id)
