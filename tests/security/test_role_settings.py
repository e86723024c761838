"""One tenant must not be able to break all tenants by changing the customer role or the database.

PostgreSQL lets any role change its own session defaults (``ALTER ROLE … SET``) and password, and nothing can forbid
it; what matters is that the defaults never take effect: every new customer connection checks them and clears them
(database.conn). Attributes that need CREATEROLE, and database settings, are refused outright.
"""

import pytest
from attacker import refused
from psycopg import errors
from sqlalchemy import text

from database import conn
from database.xact import xact_admin, xact_customer

IN_THIS_DATABASE = (
    "DO $$ BEGIN EXECUTE 'ALTER ROLE app_customer IN DATABASE ' || quote_ident(current_database()) || ' SET {}'; END $$"
)
ROLE_DEFAULTS = {
    "statement_timeout": "ALTER ROLE app_customer SET statement_timeout = '1ms'",
    "default_transaction_read_only": "ALTER ROLE app_customer SET default_transaction_read_only = on",
    "search_path": "ALTER ROLE CURRENT_USER SET search_path = pg_catalog",
    "in database": IN_THIS_DATABASE.format("lock_timeout = ''1ms''"),
    "idle_session_timeout": "ALTER ROLE app_customer SET idle_session_timeout = '1ms'",
}


@pytest.fixture
async def clean_role():
    """The role is cluster-wide: whatever a test did to it is undone, whatever the outcome."""
    yield
    async with xact_admin() as q:
        databases = (
            (
                await q.conn.execute(
                    text(
                        "SELECT d.datname FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase"
                        " WHERE s.setrole = 'app_customer'::regrole"
                    )
                )
            )
            .scalars()
            .all()
        )
        await q.conn.execute(text("ALTER ROLE app_customer RESET ALL"))
        for name in databases:
            await q.conn.execute(text(f'ALTER ROLE app_customer IN DATABASE "{name}" RESET ALL'))
    await conn.dispose()


@pytest.mark.parametrize("default", ROLE_DEFAULTS, ids=str)
async def test_role_defaults_set_by_a_customer_never_reach_new_connections(tenants, clean_role, default):
    mine, theirs = tenants.mine, tenants.theirs
    async with xact_customer(mine.user_id, mine.organization_id) as q:
        await q.conn.exec_driver_sql(ROLE_DEFAULTS[default])  # accepted: PostgreSQL allows it on one's own role
    await conn.dispose()  # every connection from now on is new
    async with xact_customer(theirs.user_id, theirs.organization_id) as q:
        await q.conn.execute(text("SELECT pg_sleep(0.01)"))
        await q.conn.execute(
            text("INSERT INTO projects (organization_id, name) VALUES (:o, 'after the attack')"),
            {"o": theirs.organization_id},
        )
        seen = (await q.conn.execute(text("SELECT count(*) FROM projects"))).scalar_one()
        settings = (
            await q.conn.execute(
                text(
                    "SELECT current_setting('statement_timeout'), current_setting('default_transaction_read_only'),"
                    " current_setting('lock_timeout'), current_setting('idle_session_timeout')"
                )
            )
        ).one()
    assert seen == 2 and tuple(settings) == ("0", "off", "0", "0")
    async with xact_admin() as q:
        left = (
            await q.conn.execute(
                text("SELECT count(*) FROM pg_db_role_setting WHERE setrole = 'app_customer'::regrole")
            )
        ).scalar_one()
    assert left == 0


ALTER_DATABASE = "DO $$ BEGIN EXECUTE 'ALTER DATABASE ' || quote_ident(current_database()) || ' {}'; END $$"
REFUSED = {
    "ALTER ROLE app_customer CONNECTION LIMIT 0": errors.InsufficientPrivilege,
    "ALTER ROLE app_customer VALID UNTIL '2000-01-01'": errors.InsufficientPrivilege,
    "ALTER ROLE app_customer NOLOGIN": errors.InsufficientPrivilege,
    "ALTER ROLE app_customer RENAME TO someone_else": errors.FeatureNotSupported,  # "session user cannot be renamed"
    "ALTER ROLE postgres SET statement_timeout = '1ms'": errors.InsufficientPrivilege,
    "ALTER ROLE ALL SET statement_timeout = '1ms'": errors.InsufficientPrivilege,
    ALTER_DATABASE.format("SET statement_timeout = ''1ms''"): errors.InsufficientPrivilege,
    ALTER_DATABASE.format("CONNECTION LIMIT 0"): errors.InsufficientPrivilege,
    ALTER_DATABASE.format("OWNER TO app_customer"): errors.InsufficientPrivilege,
    "CREATE ROLE intruder LOGIN": errors.InsufficientPrivilege,
    # never allowed in a transaction block, and a customer always runs in one
    "ALTER SYSTEM SET statement_timeout = '1ms'": errors.ActiveSqlTransaction,
    "CREATE DATABASE intruder": errors.ActiveSqlTransaction,
}


@pytest.mark.parametrize("attempt", REFUSED, ids=str)
async def test_role_and_database_changes_are_refused(tenants, clean_role, attempt):
    mine = tenants.mine
    with refused(REFUSED[attempt]):
        async with xact_customer(mine.user_id, mine.organization_id) as q:
            await q.conn.exec_driver_sql(attempt)
