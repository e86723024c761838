"""A customer connection running arbitrary SQL cannot get admin rights back, switch off Row Level Security, forge
its identity or read the signing secret.

tests/runtime/test_rls.py tries RESET ROLE / SET ROLE / SET SESSION AUTHORIZATION and a set_config() forgery; here
the wider list of what an attacker with SQL on the connection would try, each checked for its effect, not just for
an error.
"""

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from database.xact import xact_admin, xact_customer

REFUSED = (DBAPIError, psycopg.Error)

ESCAPES = [
    "RESET ROLE",
    "SET ROLE postgres",
    "SET LOCAL ROLE postgres",
    "SET ROLE NONE",
    "SET SESSION AUTHORIZATION postgres",
    "SET SESSION AUTHORIZATION DEFAULT",
    "RESET SESSION AUTHORIZATION",
    "RESET ALL",
    "SELECT set_config('role', 'postgres', false)",
    "SELECT set_config('session_authorization', 'postgres', false)",
    "SET row_security = off",
    "ALTER ROLE app_customer BYPASSRLS",
    "ALTER ROLE app_customer SUPERUSER",
    "GRANT postgres TO app_customer",
    "CREATE ROLE intruder SUPERUSER LOGIN",
    "ALTER TABLE projects DISABLE ROW LEVEL SECURITY",
    "ALTER TABLE projects NO FORCE ROW LEVEL SECURITY",
    "DROP POLICY customer_access ON projects",
    "ALTER POLICY customer_access ON projects USING (true)",
    "CREATE POLICY everything ON projects USING (true)",
    "CREATE FUNCTION public.app_organization_id() RETURNS text LANGUAGE sql AS $$ SELECT 'x' $$",
    "CREATE OR REPLACE FUNCTION public.app_is_member() RETURNS boolean LANGUAGE sql AS $$ SELECT true $$",
    "CREATE TABLE public.memberships_shadow (id text)",
    "GRANT SELECT ON projects TO PUBLIC",
    "COPY projects TO PROGRAM 'true'",
    "SELECT pg_read_file('postgresql.conf')",
    "CREATE EXTENSION dblink",
    "UPDATE app_private.identity_secret SET secret = 'known'",
]


@pytest.mark.parametrize("attempt", ESCAPES)
async def test_escape_attempt_is_refused_or_powerless(tenants, attempt):
    mine, theirs = tenants.mine, tenants.theirs
    try:
        async with xact_customer(mine.user_id, mine.organization_id) as q:
            await q.conn.execute(text(attempt))
            who = (await q.conn.execute(text("SELECT current_user, session_user"))).one()
            assert tuple(who) == ("app_customer", "app_customer")
            seen = await q.conn.execute(text("SELECT count(*) FROM projects WHERE id = :id"), {"id": theirs.project_id})
            assert seen.scalar_one() == 0
    except REFUSED as exc:
        assert any(
            word in str(exc)
            for word in (
                "permission denied",
                "must be",
                "row-level security",
                "not allowed",
                "cannot",
                "only superuser",
            )
        ), exc
    async with xact_admin() as q:  # and nothing it did outlived it
        policies = (
            await q.conn.execute(text("SELECT count(*) FROM pg_policies WHERE tablename = 'projects'"))
        ).scalar_one()
        rls = (
            await q.conn.execute(text("SELECT relrowsecurity FROM pg_class WHERE oid = 'projects'::regclass"))
        ).scalar_one()
        role = (
            await q.conn.execute(text("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = 'app_customer'"))
        ).scalar_one()
        secret = (await q.conn.execute(text("SELECT secret FROM app_private.identity_secret"))).scalar_one()
    assert (policies, rls, role) == (1, True, False) and secret != "known"


@pytest.mark.parametrize("setting", ["app.organization_id", "app.user_id", "app.identity_sig"])
@pytest.mark.parametrize("how", ["set_config", "SET", "SET LOCAL"])
async def test_rewriting_any_identity_setting_any_way_reveals_nothing(tenants, setting, how):
    mine, theirs = tenants.mine, tenants.theirs
    forged = {
        "app.organization_id": theirs.organization_id,
        "app.user_id": theirs.user_id,
        "app.identity_sig": "0" * 64,
    }[setting]
    statement = (
        text("SELECT set_config(:s, :v, false)") if how == "set_config" else text(f"{how} {setting} = '{forged}'")
    )  # forged values are our own fixtures' ids
    async with xact_customer(mine.user_id, mine.organization_id) as q:
        await q.conn.execute(statement, {"s": setting, "v": forged})
        for name in ("organizations", "projects", "memberships", "users"):
            assert (await q.conn.execute(text(f"SELECT count(*) FROM {name}"))).scalar_one() == 0, name
        assert (await q.conn.execute(text("SELECT app_user_id(), app_organization_id()"))).one() == (None, None)


async def test_a_complete_forgery_needs_the_secret_which_is_out_of_reach(tenants):
    """Both ids of the other tenant plus a signature computed every way a customer could try: nothing."""
    mine, theirs = tenants.mine, tenants.theirs
    async with xact_customer(mine.user_id, mine.organization_id) as q:
        own_sig = (await q.conn.execute(text("SELECT current_setting('app.identity_sig')"))).scalar_one()
        for sig in (own_sig, "", "0" * 64):  # our valid signature replayed, empty, made up
            for key, value in (
                ("app.user_id", theirs.user_id),
                ("app.organization_id", theirs.organization_id),
                ("app.identity_sig", sig),
            ):
                await q.conn.execute(text("SELECT set_config(:k, :v, false)"), {"k": key, "v": value})
            assert (await q.conn.execute(text("SELECT count(*) FROM projects"))).scalar_one() == 0
    for probe in (
        "SELECT secret FROM app_private.identity_secret",
        "SELECT app_private.identity_valid()",
        "SELECT * FROM pg_catalog.pg_proc WHERE proname = 'identity_valid' AND prosrc LIKE '%' || "
        "(SELECT secret FROM app_private.identity_secret) || '%'",
    ):
        with pytest.raises(REFUSED, match="permission denied"):
            async with xact_customer(mine.user_id, mine.organization_id) as q:
                await q.conn.execute(text(probe))
