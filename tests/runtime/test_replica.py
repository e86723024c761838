"""Read-only transactions: on ``DATABASE_REPLICA_URL`` when set, else on the primary; read-only either way, and the
customer's Row Level Security is the same.

The stand-in replica is a second migrated database holding what the primary held a while ago (as a lagging
streaming replica would) and sharing its identity secret (a physical replica copies it). It runs directly and
through PgBouncer, like the rest of tests/runtime. A real streaming replica (pg_basebackup) would prove no more
about the runtime's routing and costs seconds.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from database import conn
from database.dev import testdb
from database.xact import xact_admin, xact_customer

ReadOnly = psycopg.errors.ReadOnlySqlTransaction


@dataclass(frozen=True)
class Replica:
    project_id: str  # a project only the replica has: who sees it read from the replica
    other_project_id: str  # another organization's project on the replica


@pytest.fixture
async def replica(
    database_url: str, session_database: str, server_url: str, project, organization, monkeypatch
) -> AsyncIterator[Replica]:
    # Made on the server directly: the runtime may be configured for PgBouncer, and a template built through a
    # transaction-mode pooler would leave its session lock and an idle server connection behind.
    url = testdb.create_database(project=project, url=server_url)
    with psycopg.connect(session_database, autocommit=True) as primary, psycopg.connect(url, autocommit=True) as c:
        secret = primary.execute("SELECT secret FROM app_private.identity_secret").fetchone()[0]
        c.execute("UPDATE app_private.identity_secret SET secret = %s", (secret,))
        c.execute("INSERT INTO organizations (id, name) VALUES (%s, 'ours')", (organization.id,))
        c.execute("INSERT INTO users (id, email, name) VALUES (%s, 'u@test.invalid', 'u')", (organization.user_id,))
        c.execute(
            "INSERT INTO memberships (organization_id, user_id) VALUES (%s, %s)",
            (organization.id, organization.user_id),
        )
        mine = c.execute(
            "INSERT INTO projects (organization_id, name) VALUES (%s, 'on the replica') RETURNING id",
            (organization.id,),
        ).fetchone()[0]
        other = c.execute("INSERT INTO organizations (name) VALUES ('theirs') RETURNING id").fetchone()[0]
        theirs = c.execute(
            "INSERT INTO projects (organization_id, name) VALUES (%s, 'theirs') RETURNING id", (other,)
        ).fetchone()[0]
    # Reached the way the primary is (directly, or through the same PgBouncer).
    monkeypatch.setenv("DATABASE_REPLICA_URL", testdb.with_database(database_url, testdb.database_name(url)))
    yield Replica(mine, theirs)
    await conn.dispose()
    testdb.drop_database(url)


async def _project_ids(q) -> list[str]:
    return (await q.conn.execute(text("SELECT id FROM projects"))).scalars().all()


async def test_customer_reads_go_to_the_replica_with_the_same_row_security(replica, organization):
    async with xact_customer(organization.user_id, organization.id, readonly=True) as q:
        assert await _project_ids(q) == [replica.project_id]  # not the other organization's
        assert [o.id for o in await q.orm.organizations_list()] == [organization.id]
    async with xact_customer(organization.user_id, organization.id) as q:  # writes and plain reads: the primary
        assert await _project_ids(q) == []


async def test_admin_reads_go_to_the_replica(replica, organization):
    async with xact_admin(readonly=True) as q:
        assert set(await _project_ids(q)) == {replica.project_id, replica.other_project_id}
    async with xact_admin() as q:
        assert replica.project_id not in await _project_ids(q)


async def test_readonly_on_the_primary_refuses_writes_and_leaves_the_pool_writable(organization):
    await _readonly_refuses_writes_and_leaves_the_pool_writable(organization)


async def test_readonly_on_the_replica_refuses_writes_and_leaves_the_pool_writable(replica, organization):
    await _readonly_refuses_writes_and_leaves_the_pool_writable(organization)


async def _readonly_refuses_writes_and_leaves_the_pool_writable(organization) -> None:
    with pytest.raises(ReadOnly):
        async with xact_admin(readonly=True) as q:
            await q.orm.organization_update(name="written", billing_extid=None, id=organization.id)
    with pytest.raises(DBAPIError) as refused:  # core wraps the driver's error
        async with xact_customer(organization.user_id, organization.id, readonly=True) as q:
            await q.conn.execute(text("UPDATE organizations SET name = 'written'"))
    assert isinstance(refused.value.orig, ReadOnly)
    async with xact_customer(organization.user_id, organization.id, readonly=True) as q:
        assert [o.id for o in await q.orm.organizations_list()] == [organization.id]
    for _ in range(3):  # whichever pooled connection comes next writes again
        async with xact_admin() as q:
            await q.orm.organization_update(name="written", billing_extid=None, id=organization.id)
        async with xact_customer(organization.user_id, organization.id) as q:
            assert (await q.conn.execute(text("UPDATE organizations SET name = 'renamed'"))).rowcount == 1
