"""All customers log in as one role, and PostgreSQL lets a role see and signal its own sessions and read its own large
objects: a tenant could read another tenant's query text, terminate its backend, and read its large objects (which
Row Level Security does not cover). The functions behind those are not executable by customers (migrations/0007)."""

from collections.abc import AsyncIterator

import psycopg
import pytest
from attacker import refused
from psycopg import errors
from sqlalchemy import text

from database import conn
from database.xact import xact_admin, xact_customer

MARKER = "victim-query-text-7f3a"


@pytest.fixture
async def victim() -> AsyncIterator[psycopg.AsyncConnection]:
    """Another customer's backend, idle after a query whose text is the kind an app inlines (an email, a name)."""
    async with await psycopg.AsyncConnection.connect(conn.customer_url(), autocommit=True) as c:
        await c.execute(f"SELECT '{MARKER}'")
        yield c


@pytest.mark.parametrize(
    "probe",
    [
        f"SELECT count(*) FROM pg_stat_activity WHERE strpos(query, '{MARKER}') > 0",
        f"SELECT count(*) FROM pg_stat_get_activity(NULL) WHERE strpos(query, '{MARKER}') > 0",
        f"SELECT count(*) FROM pg_stat_get_backend_idset() b WHERE strpos(pg_stat_get_backend_activity(b), '{MARKER}') > 0",
        "SELECT count(*) FROM pg_locks",
    ],
    ids=["pg_stat_activity", "pg_stat_get_activity", "pg_stat_get_backend_activity", "pg_locks"],
)
async def test_another_customers_session_is_invisible(tenants, victim, probe):
    mine = tenants.mine
    with refused(errors.InsufficientPrivilege):
        async with xact_customer(mine.user_id, mine.organization_id) as q:
            await q.conn.exec_driver_sql(probe)


@pytest.mark.parametrize("signal", ["pg_terminate_backend", "pg_cancel_backend"])
async def test_another_customers_backend_cannot_be_signalled(tenants, victim, signal):
    mine = tenants.mine
    with refused(errors.InsufficientPrivilege):
        async with xact_customer(mine.user_id, mine.organization_id) as q:
            await q.conn.execute(text(f"SELECT {signal}(:pid)"), {"pid": victim.info.backend_pid})
    assert (await (await victim.execute("SELECT 1")).fetchone()) == (1,)  # still alive


@pytest.mark.parametrize(
    "create", ["SELECT lo_from_bytea(0, 'victim secret')", "SELECT lo_create(0)", "SELECT lo_creat(-1)"]
)
async def test_customers_cannot_create_large_objects(tenants, create):
    """Large objects have no organization and no policy: one tenant's would be every tenant's."""
    theirs = tenants.theirs
    with refused(errors.InsufficientPrivilege):
        async with xact_customer(theirs.user_id, theirs.organization_id) as q:
            await q.conn.exec_driver_sql(create)


@pytest.mark.parametrize(
    "read",
    [
        "SELECT lo_get({oid})",
        "SELECT lo_open({oid}, 262144)",
        "SELECT lo_unlink({oid})",
        "SELECT lo_put({oid}, 0, 'x')",
    ],
)
async def test_customers_cannot_touch_existing_large_objects(tenants, read):
    async with xact_admin() as q:
        oid = (await q.conn.execute(text("SELECT lo_from_bytea(0, 'admin secret')"))).scalar_one()
    try:
        with refused(errors.InsufficientPrivilege):
            async with xact_customer(tenants.mine.user_id, tenants.mine.organization_id) as q:
                await q.conn.exec_driver_sql(read.format(oid=oid))
    finally:
        async with xact_admin() as q:
            await q.conn.execute(text("SELECT lo_unlink(:o)"), {"o": oid})
