"""What a customer transaction may never do, each refused for its specific reason (SQLSTATE), and what it may do
harmlessly (DISCARD, RESET) shown to be harmless."""

import pytest
from attacker import refused
from psycopg import errors
from sqlalchemy import text

from database.xact import xact_customer

PRIVILEGE = errors.InsufficientPrivilege
REFUSED = {
    # identity and role switching: the login role is a member of nothing
    "SET SESSION AUTHORIZATION postgres": PRIVILEGE,
    "SET ROLE postgres": PRIVILEGE,
    "SELECT set_config('role', 'postgres', false)": PRIVILEGE,
    # server programs, files, other databases
    "COPY (SELECT 1) TO PROGRAM 'id'": PRIVILEGE,
    "COPY (SELECT 1) TO '/tmp/dbtui-attacker'": PRIVILEGE,
    "COPY projects FROM '/etc/passwd'": PRIVILEGE,
    "SELECT pg_read_binary_file('/etc/passwd')": PRIVILEGE,
    "SELECT lo_import('/etc/passwd')": PRIVILEGE,
    "CREATE EXTENSION dblink": PRIVILEGE,
    "CREATE EXTENSION postgres_fdw": PRIVILEGE,
    # creating or altering anything (the event trigger of migrations/0006; GRANT would otherwise only warn)
    "CREATE SCHEMA attacker": PRIVILEGE,
    "CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'SELECT 1'": PRIVILEGE,
    "CREATE TEMP VIEW v AS SELECT 1": PRIVILEGE,
    "CREATE SEQUENCE s": PRIVILEGE,
    "CREATE TYPE t AS (a int)": PRIVILEGE,
    "ALTER TABLE projects ADD COLUMN x int": PRIVILEGE,
    "ALTER FUNCTION app_user_id() SECURITY INVOKER": PRIVILEGE,
    "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC": PRIVILEGE,
    "GRANT SELECT ON projects TO PUBLIC": PRIVILEGE,
    "COMMENT ON TABLE projects IS 'x'": PRIVILEGE,
    "SECURITY LABEL ON TABLE projects IS 'x'": PRIVILEGE,
    # the identity machinery
    "SELECT secret FROM app_private.identity_secret": PRIVILEGE,
    "SELECT app_private.identity_valid()": PRIVILEGE,
    # only outside a transaction: a customer is always inside one
    "DISCARD ALL": errors.ActiveSqlTransaction,
}


@pytest.mark.parametrize("attempt", REFUSED, ids=str)
async def test_refused(tenants, attempt):
    mine = tenants.mine
    with refused(REFUSED[attempt]):
        async with xact_customer(mine.user_id, mine.organization_id) as q:
            await q.conn.exec_driver_sql(attempt)


@pytest.mark.parametrize(
    "attempt",
    [
        "DISCARD PLANS",
        "DISCARD SEQUENCES",
        "DISCARD TEMP",
        "RESET ALL",
        "RESET app.identity_sig",
        "SET app.organization_id TO DEFAULT",
    ],
)
async def test_discard_and_reset_only_drop_the_customers_own_identity(tenants, attempt):
    mine, theirs = tenants.mine, tenants.theirs
    async with xact_customer(mine.user_id, mine.organization_id) as q:
        await q.conn.exec_driver_sql(attempt)
        seen = (await q.conn.execute(text("SELECT id FROM projects"))).scalars().all()
    assert theirs.project_id not in seen


async def test_every_security_definer_function_a_customer_can_call_pins_its_search_path(tenants):
    """A SECURITY DEFINER function that resolves names through the caller's search_path runs the caller's objects
    with the owner's rights; each one a customer may execute must fix search_path, pg_temp never first."""
    mine = tenants.mine
    async with xact_customer(mine.user_id, mine.organization_id) as q:
        rows = (
            await q.conn.execute(
                text(
                    "SELECT p.oid::regprocedure::text, coalesce(array_to_string(p.proconfig, ','), '')"
                    " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                    " WHERE p.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
                    " AND has_function_privilege(p.oid, 'EXECUTE')"
                )
            )
        ).all()
    assert rows, "the identity functions are SECURITY DEFINER and callable"
    for name, config in rows:
        assert "search_path=" in config and "search_path=pg_temp" not in config, (name, config)
