"""Known holes, each a working exploit marked ``xfail(strict=True)``: the test asserts the SAFE behaviour and
fails today. When a fix lands the test passes, strict xfail turns that into a failure, and whoever fixed it removes
the marker. docs/security.md lists them under "Open holes".

1. Pooled customer connections keep session state between customers. The identity is set session-level, so a
   rollback inside a customer block falls back to the identity the *previous* customer on that connection
   committed; and a temporary table created by one customer shadows the real table for the next one.
2. The example schema lets a member add any user id to its organization, which then shows that user's row.
"""

import asyncio

import pytest
from sqlalchemy import text

from database import conn
from database.xact import xact_customer


async def _stamp_every_pooled_connection(tenant, statement: str | None = None) -> None:
    """Run as ``tenant`` on every connection the customer pool keeps, so the next checkout is one of them."""

    async def one(ready: asyncio.Barrier) -> None:
        async with xact_customer(tenant.user_id, tenant.organization_id) as q:
            if statement:
                await q.conn.execute(text(statement))
            await ready.wait()  # hold it until all are out, so each runs on its own connection

    ready = asyncio.Barrier(conn.POOL_SIZE)
    await asyncio.wait_for(asyncio.gather(*[one(ready) for _ in range(conn.POOL_SIZE)]), 20)


@pytest.mark.xfail(strict=True, reason="src/database/conn.py sets the identity session-level: a rollback inside a "
                                       "customer block reverts to the previous customer's committed identity")
async def test_a_rollback_inside_a_customer_block_never_falls_back_to_another_customer(tenants):
    theirs, mine = tenants.theirs, tenants.mine
    await _stamp_every_pooled_connection(theirs)  # the victim used these connections earlier
    async with xact_customer(mine.user_id, mine.organization_id) as q:
        await q.conn.rollback()  # e.g. an app that catches an error and carries on
        seen = (await q.conn.execute(text("SELECT id FROM projects"))).scalars().all()
    assert theirs.project_id not in seen


@pytest.mark.xfail(strict=True, reason="customer connections are pooled with their session state: a temporary "
                                       "table of one customer shadows the real table for the next")
async def test_a_temporary_table_never_reaches_the_next_customer(tenants):
    mine, theirs = tenants.mine, tenants.theirs
    await _stamp_every_pooled_connection(mine, "CREATE TEMP TABLE IF NOT EXISTS projects (LIKE public.projects INCLUDING DEFAULTS)")
    try:
        async with xact_customer(theirs.user_id, theirs.organization_id) as q:  # the victim's next request
            await q.conn.execute(text("INSERT INTO projects (organization_id, name) VALUES (:o, 'victim secret')"),
                                 {"o": theirs.organization_id})
            seen = (await q.conn.execute(text("SELECT id FROM projects"))).scalars().all()
        assert theirs.project_id in seen  # the victim reads its real table, and wrote its row there
    finally:
        await conn.dispose()  # drop the planted tables with their connections


@pytest.mark.xfail(strict=True, reason="migrations/0006: customers may INSERT memberships for any user id, and the "
                                       "users policy then shows that user's row")
async def test_a_member_cannot_reveal_an_outsiders_user_row(tenants):
    mine, theirs = tenants.mine, tenants.theirs
    async with xact_customer(mine.user_id, mine.organization_id) as q:
        try:
            await q.conn.execute(text("INSERT INTO memberships (organization_id, user_id) VALUES (:o, :u)"),
                                 {"o": mine.organization_id, "u": theirs.user_id})
        except Exception:
            return  # refused: the safe outcome
        seen = (await q.conn.execute(text("SELECT id FROM users"))).scalars().all()
    assert theirs.user_id not in seen
