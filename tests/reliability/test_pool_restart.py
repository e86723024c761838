"""The server restarts under a running app: requests fail promptly instead of hanging, and the pools recover.

Every await on the database is bounded with ``asyncio.wait_for``: a hang is a failure, never a stuck test run.
"""

import asyncio

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from database.lock import pg_advisory_lock
from database.xact import xact_admin, xact_customer

BOUND = 10  # seconds; everything below normally takes milliseconds

pytestmark = pytest.mark.timeout(60)


def _disconnect(error: BaseException) -> bool:
    """A lost-connection error: SQLAlchemy's (which invalidates the pool) or psycopg's own, raised on the driver
    connection the customer identity is set on."""
    if isinstance(error, DBAPIError):
        return error.connection_invalidated
    return isinstance(error, psycopg.OperationalError)


async def _visible_organizations(member) -> int:
    async with xact_customer(member.user_id, member.organization_id) as q:
        return (await q.conn.execute(text("SELECT count(*) FROM organizations"))).scalar_one()


async def _admin_ping() -> int:
    async with xact_admin() as q:
        return (await q.conn.execute(text("SELECT 1"))).scalar_one()


async def _fill_pools(member, n: int = 5) -> None:
    """Several pooled connections of both kinds, idle in the pools, like an app between requests."""

    async def customer():
        async with xact_customer(member.user_id, member.organization_id) as q:
            await q.conn.execute(text("SELECT pg_sleep(0.05)"))

    async def admin():
        async with xact_admin() as q:
            await q.conn.execute(text("SELECT pg_sleep(0.05)"))

    await asyncio.wait_for(asyncio.gather(*[customer() for _ in range(n)], *[admin() for _ in range(n)]), BOUND)


async def test_requests_in_flight_fail_promptly_and_the_next_ones_succeed(own_cluster, runtime_on_own_cluster):
    member = runtime_on_own_cluster
    await _fill_pools(member)

    async def slow_customer():
        async with xact_customer(member.user_id, member.organization_id) as q:
            await q.conn.execute(text("SELECT pg_sleep(60)"))

    async def slow_admin():
        async with xact_admin() as q:
            await q.conn.execute(text("SELECT pg_sleep(60)"))

    async def lock_holder(acquired: asyncio.Event):
        async with pg_advisory_lock("fault:restart"):
            acquired.set()
            await asyncio.sleep(60)

    acquired = asyncio.Event()
    in_flight = [asyncio.create_task(slow_customer()), asyncio.create_task(slow_admin())]
    holder = asyncio.create_task(lock_holder(acquired))
    await asyncio.wait_for(acquired.wait(), BOUND)
    await asyncio.sleep(0.2)  # both sleeps are running on the server

    await asyncio.to_thread(own_cluster.stop)
    for task in in_flight:
        with pytest.raises(DBAPIError, match="terminating connection"):
            await asyncio.wait_for(task, BOUND)

    # While the server is down a request is refused at once: no waiting on a dead socket. (Checkout errors are
    # psycopg's own: xact_* take connections straight from the pool, without SQLAlchemy's Connection wrapper.)
    with pytest.raises((DBAPIError, psycopg.OperationalError)):
        await asyncio.wait_for(_visible_organizations(member), BOUND)
    with pytest.raises((DBAPIError, psycopg.OperationalError)):
        await asyncio.wait_for(_admin_ping(), BOUND)

    await asyncio.to_thread(own_cluster.ensure_running)
    assert await asyncio.wait_for(_visible_organizations(member), BOUND) == 1  # identity and RLS still apply
    assert await asyncio.wait_for(_admin_ping(), BOUND) == 1

    # The lock holder's connection died with the server: leaving its block neither hangs nor raises, and the lock
    # can be taken again.
    holder.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(holder, BOUND)
    async with pg_advisory_lock("fault:restart", timeout=2):
        pass


async def test_restart_between_requests_costs_at_most_one_failed_round(own_cluster, runtime_on_own_cluster):
    member = runtime_on_own_cluster
    await _fill_pools(member)
    await asyncio.to_thread(own_cluster.stop)
    await asyncio.to_thread(own_cluster.ensure_running)

    # Idle pooled connections are dead now. Requests that draw one fail with a disconnect error (never a hang, never
    # a wrong answer); SQLAlchemy then discards every connection older than the failure.
    first = await asyncio.wait_for(
        asyncio.gather(
            *[_visible_organizations(member) for _ in range(5)],
            *[_admin_ping() for _ in range(5)],
            return_exceptions=True,
        ),
        BOUND,
    )
    for result in first:
        assert result == 1 or _disconnect(result), result

    second = await asyncio.wait_for(
        asyncio.gather(*[_visible_organizations(member) for _ in range(8)], *[_admin_ping() for _ in range(8)]),
        BOUND,
    )
    assert second == [1] * 16
