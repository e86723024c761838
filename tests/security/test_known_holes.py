"""Holes found by this suite and closed; each test is the exploit, asserting the safe outcome.

1. Pooled customer connections must not carry one customer's state to the next: the identity is transaction-local
   (a rollback leaves the connection acting for nobody, never for the previous customer), and customers may run no
   DDL at all (a temporary table would shadow the real one for the next customer on that connection).
2. A member cannot add an arbitrary user to its organization (memberships are read-only to customers), which would
   otherwise reveal that user's row through the users policy.
"""

import pytest
from attacker import on_every_pooled_connection, refused, run
from psycopg import errors
from sqlalchemy import text

from database.xact import xact_customer


async def test_a_rollback_inside_a_customer_block_never_falls_back_to_another_customer(tenants):
    theirs, mine = tenants.theirs, tenants.mine
    await on_every_pooled_connection(theirs, run())  # the victim used these connections earlier
    async with xact_customer(mine.user_id, mine.organization_id) as q:
        await q.conn.rollback()  # e.g. an app that catches an error and carries on
        seen = (await q.conn.execute(text("SELECT id FROM projects"))).scalars().all()
    assert theirs.project_id not in seen


async def test_a_temporary_table_never_reaches_the_next_customer(tenants):
    mine, theirs = tenants.mine, tenants.theirs
    with pytest.raises(Exception, match="permission denied: customer connections may not run CREATE TABLE"):
        await on_every_pooled_connection(
            mine, run("CREATE TEMP TABLE projects (LIKE public.projects INCLUDING DEFAULTS)")
        )
    async with xact_customer(theirs.user_id, theirs.organization_id) as q:  # the victim's next request
        await q.conn.execute(
            text("INSERT INTO projects (organization_id, name) VALUES (:o, 'victim secret')"),
            {"o": theirs.organization_id},
        )
        temp = (await q.conn.execute(text("SELECT count(*) FROM pg_class WHERE relpersistence = 't'"))).scalar_one()
        seen = (await q.conn.execute(text("SELECT id FROM projects"))).scalars().all()
    assert temp == 0 and theirs.project_id in seen


async def test_a_member_cannot_reveal_an_outsiders_user_row(tenants):
    """Memberships are read-only to customers: adding an outsider to one's organization (to see their user row) is
    refused outright, and the outsider stays invisible."""
    mine, theirs = tenants.mine, tenants.theirs
    with refused(errors.InsufficientPrivilege):
        async with xact_customer(mine.user_id, mine.organization_id) as q:
            await q.conn.execute(
                text("INSERT INTO memberships (organization_id, user_id) VALUES (:o, :u)"),
                {"o": mine.organization_id, "u": theirs.user_id},
            )
    async with xact_customer(mine.user_id, mine.organization_id) as q:
        seen = (await q.conn.execute(text("SELECT id FROM users"))).scalars().all()
    assert theirs.user_id not in seen
