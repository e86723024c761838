"""Nothing a customer leaves on a pooled connection reaches the next checkout.

The attacker runs its statements on every connection the customer pool keeps, so whoever checks out next gets one
of them; the next customer then looks for what was left: settings (every way to set one), prepared statements, held
cursors, LISTENs, session advisory locks. ``connect_db_customer`` is checked as well as ``xact_customer``.
"""

import pytest
from attacker import on_every_pooled_connection, run
from sqlalchemy import text

from database.conn import connect_db_customer
from database.xact import xact_admin, xact_customer

# (what the attacker runs, what the next customer asks, the answer on a clean connection)
LEFTOVERS = {
    "set_config session": (
        "SELECT set_config('attacker.mark', 'left over', false)",
        "SELECT coalesce(current_setting('attacker.mark', true), '')",
        "",
    ),
    "SET SESSION": ("SET SESSION statement_timeout = '17min'", "SHOW statement_timeout", "0"),
    "SET search_path": ("SET search_path = pg_catalog", "SHOW search_path", '"$user", public'),
    "pg_settings write": (
        "UPDATE pg_settings SET setting = '1234kB' WHERE name = 'work_mem'",
        "SELECT current_setting('work_mem') = '1234kB'",
        False,
    ),
    "session characteristics": (
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
        "SHOW default_transaction_read_only",
        "off",
    ),
    "PREPARE": (
        "PREPARE attacker_statement AS SELECT 1",
        "SELECT count(*) FROM pg_prepared_statements WHERE name = 'attacker_statement'",
        0,
    ),
    "WITH HOLD cursor": (
        "DECLARE attacker_cursor CURSOR WITH HOLD FOR SELECT name FROM projects",
        "SELECT count(*) FROM pg_cursors WHERE name = 'attacker_cursor'",
        0,
    ),
    "LISTEN": (
        "LISTEN attacker_channel",
        "SELECT count(*) FROM pg_listening_channels() c WHERE c = 'attacker_channel'",
        0,
    ),
}


@pytest.mark.parametrize("leftover", LEFTOVERS, ids=str)
async def test_nothing_session_scoped_reaches_the_next_customer(tenants, leftover):
    attack, probe, clean = LEFTOVERS[leftover]
    await on_every_pooled_connection(tenants.mine, run(attack))
    async with xact_customer(tenants.theirs.user_id, tenants.theirs.organization_id) as q:
        assert (await q.conn.exec_driver_sql(probe)).scalar_one() == clean


async def test_session_advisory_locks_are_released_at_check_in(tenants):
    await on_every_pooled_connection(tenants.mine, run("SELECT pg_advisory_lock(7031, pg_backend_pid())"))
    async with xact_admin() as q:
        held = (
            await q.conn.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 7031"))
        ).scalar_one()
    assert held == 0


async def test_a_session_copy_of_an_identity_never_serves_the_next_connect_db_customer(tenants):
    """The attacker copies its own signed identity into session settings; the victim's connect_db_customer block,
    after its first commit, must act for nobody, not for the attacker (whose rows the victim's app would then show
    to, and write as, the victim)."""
    mine, theirs = tenants.mine, tenants.theirs
    copy = [
        f"SELECT set_config('{name}', current_setting('{name}'), false)"
        for name in ("app.user_id", "app.organization_id", "app.identity_sig")
    ]
    await on_every_pooled_connection(mine, run(*copy))
    async with connect_db_customer(theirs.user_id, theirs.organization_id) as c:
        assert theirs.project_id in (await c.execute(text("SELECT id FROM projects"))).scalars().all()
        await c.commit()
        seen = (await c.execute(text("SELECT id FROM projects"))).scalars().all()
        await c.rollback()
        seen += (await c.execute(text("SELECT id FROM projects"))).scalars().all()
    assert seen == []


async def test_a_rolled_back_first_transaction_of_connect_db_customer_never_revives_a_session_copy(tenants):
    mine, theirs = tenants.mine, tenants.theirs
    copy = [
        f"SELECT set_config('{name}', current_setting('{name}'), false)"
        for name in ("app.user_id", "app.organization_id", "app.identity_sig")
    ]
    await on_every_pooled_connection(mine, run(*copy))
    async with connect_db_customer(theirs.user_id, theirs.organization_id) as c:
        await c.rollback()
        seen = (await c.execute(text("SELECT id FROM projects"))).scalars().all()
    assert mine.project_id not in seen
