"""Stealing another customer's identity, written as the attacker would: arbitrary SQL inside its own xact_customer.

1. Replace the pooled connection's prepared identity statement (psycopg names it ``_pg3_N``) with one that also copies
   its arguments into a session setting, wait for the next customer on that connection, read the loot back.
2. Replay a leaked identity (however it leaked) in another transaction: on a brand-new connection, or later on the
   same pooled one. The seal the database keeps is bound to the backend and the transaction, so a copy is useless.
3. Forge the proof the identity function checks: a stale one, one for other ids, one without the secret.
"""

import time

import psycopg
from attacker import on_every_pooled_connection, refused, run
from psycopg import errors
from sqlalchemy import text

from database import conn
from database.xact import xact_admin, xact_customer

LOOT = "attacker.loot"
IDENTITY = ("app.user_id", "app.organization_id", "app.identity_sig")
# The replacement has the identity statement's shape (three text parameters) on the old code, and copies them into a
# session-level setting that outlives the victim's transaction (appending: the attacker's own checkouts run it too).
REPLACE_IDENTITY = (
    "PREPARE _pg3_0 (text, text, text) AS SELECT set_config('app.user_id', $1, true),"
    " set_config('app.organization_id', $2, true), set_config('app.identity_sig', $3, true),"
    f" set_config('{LOOT}', concat_ws(' ', current_setting('{LOOT}', true), $1, $2, $3), false)"
)


async def _victim_request(theirs) -> None:
    async with xact_customer(theirs.user_id, theirs.organization_id) as q:
        assert (await q.conn.execute(text("SELECT count(*) FROM projects"))).scalar_one() >= 1


async def _replace_identity_statement(q) -> None:
    """DEALLOCATE by name (psycopg notices DEALLOCATE ALL and clears its own cache), then PREPARE the replacement."""
    if (await q.conn.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements WHERE name = '_pg3_0'")).scalar():
        await q.conn.exec_driver_sql("DEALLOCATE _pg3_0")
    await q.conn.exec_driver_sql(REPLACE_IDENTITY)


async def test_a_replaced_prepared_statement_never_runs_for_the_next_customer(tenants):
    mine, theirs = tenants.mine, tenants.theirs
    await on_every_pooled_connection(mine, _replace_identity_statement)
    for _ in range(conn.POOL_SIZE):
        await _victim_request(theirs)
    loot = await on_every_pooled_connection(mine, run(f"SELECT current_setting('{LOOT}', true)"))
    assert not any(theirs.user_id in (found[0] or "") for found in loot), loot


async def _leaked_identity(tenant) -> tuple[str, str, str]:
    """What the victim's transaction holds, as an app bug (a log line, an error page) might leak it."""
    async with xact_customer(tenant.user_id, tenant.organization_id) as q:
        row = (
            await q.conn.execute(
                text(
                    "SELECT current_setting('app.user_id'), current_setting('app.organization_id'),"
                    " current_setting('app.identity_sig')"
                )
            )
        ).one()
    return tuple(row)


async def test_a_leaked_identity_is_useless_on_a_brand_new_connection(tenants):
    theirs = tenants.theirs
    leaked = await _leaked_identity(theirs)
    async with await psycopg.AsyncConnection.connect(conn.customer_url()) as attacker:
        for name, value in zip(IDENTITY, leaked, strict=True):
            await attacker.execute("SELECT set_config(%s, %s, false)", (name, value))
        await attacker.commit()  # session-level, and a new transaction to use it in
        seen = await (
            await attacker.execute("SELECT count(*) FROM projects WHERE id = %s", (theirs.project_id,))
        ).fetchone()
    assert seen == (0,)


async def test_a_leaked_identity_is_useless_in_a_later_transaction_on_the_same_connection(tenants):
    mine, theirs = tenants.mine, tenants.theirs
    leaked = await _leaked_identity(theirs)
    replay = [f"SELECT set_config('{name}', '{value}', false)" for name, value in zip(IDENTITY, leaked, strict=True)]
    seen = await on_every_pooled_connection(
        mine, run(*replay, f"SELECT count(*) FROM projects WHERE id = '{theirs.project_id}'")
    )
    assert {found[-1] for found in seen} == {0}


async def _secret() -> str:
    async with xact_admin() as q:
        return (await q.conn.execute(text("SELECT secret FROM app_private.identity_secret"))).scalar_one()


async def test_the_identity_function_refuses_a_stale_proof(tenants):
    """A proof captured somewhere (a log of bound parameters, say) expires: the function takes recent ones only."""
    mine = tenants.mine
    issued_at = int(time.time()) - 3600
    proof = conn.identity_proof(await _secret(), mine.user_id, mine.organization_id, issued_at)
    async with await psycopg.AsyncConnection.connect(conn.customer_url()) as attacker:
        with refused(errors.InsufficientPrivilege):
            await attacker.execute(
                conn.SET_IDENTITY,
                {
                    "user_id": mine.user_id,
                    "organization_id": mine.organization_id,
                    "issued_at": issued_at,
                    "proof": proof,
                },
            )


async def test_the_identity_function_refuses_a_proof_for_other_ids(tenants):
    """A customer's own valid proof, presented with another tenant's ids."""
    mine, theirs = tenants.mine, tenants.theirs
    own = await conn.customer_identity(mine.user_id, mine.organization_id)
    async with await psycopg.AsyncConnection.connect(conn.customer_url()) as attacker:
        for forged in (
            {**own, "organization_id": theirs.organization_id},
            {**own, "user_id": theirs.user_id},
            {**own, "issued_at": own["issued_at"] + 1},
            {**own, "proof": "0" * 64},
        ):
            with refused(errors.InsufficientPrivilege):
                await attacker.execute(conn.SET_IDENTITY, forged)
            await attacker.rollback()
