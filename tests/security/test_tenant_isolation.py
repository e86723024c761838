"""A customer connection cannot read, change, delete or create another organization's rows: not through the ORM,
not through SQLAlchemy core on ``q.conn``, not with queries that forget their organization filter.

tests/runtime/test_rls.py covers plain SQL text; here every generated query that takes an id or an organization is
aimed at the other tenant, core statements run with no WHERE at all, and the row filter is checked against leaky
functions and plan reuse on a pooled connection.
"""

from decimal import Decimal

import psycopg
import pytest
from sqlalchemy import column, delete, func, insert, select, table, text, update
from sqlalchemy.exc import DBAPIError

from database import conn
from database.orm import ProjectsCreateParams, ProjectStatus
from database.xact import xact_admin, xact_customer

REFUSED = (DBAPIError, psycopg.Error)  # core raises SQLAlchemy's wrapper, the ORM psycopg's own error
projects = table("projects", column("id"), column("organization_id"), column("name"), column("budget"))
organizations = table("organizations", column("id"), column("name"))
memberships = table("memberships", column("organization_id"), column("user_id"))
users = table("users", column("id"), column("email"))


async def their_project_name(tenants) -> str:
    """The victim's project name as admin sees it (to prove nothing changed)."""
    async with xact_admin() as q:
        return (
            await q.conn.execute(select(projects.c.name).where(projects.c.id == tenants.theirs.project_id))
        ).scalar_one()


def _as(tenant):
    return xact_customer(tenant.user_id, tenant.organization_id)


async def test_orm_reads_of_the_other_tenant_return_nothing(tenants):
    mine, theirs = tenants.mine, tenants.theirs
    async with _as(mine) as q:
        assert [o.id for o in await q.orm.organizations_list()] == [mine.organization_id]  # no filter in the query
        assert await q.orm.organization_get(id=theirs.organization_id) is None
        assert await q.orm.project_get(id=theirs.project_id) is None
        assert await q.orm.user_get(id=theirs.user_id) is None
        assert [p.id for p in await q.orm.projects_by_ids(ids=[mine.project_id, theirs.project_id])] == [
            mine.project_id
        ]
        assert await q.orm.memberships_with_users(organization_id=theirs.organization_id) == []
        assert await q.orm.projects_with_owner(organization_id=theirs.organization_id) == []
        assert await q.orm.project_counts_by_status(organization_id=theirs.organization_id) == []


async def test_orm_writes_to_the_other_tenant_change_nothing(tenants):
    mine, theirs = tenants.mine, tenants.theirs
    before = await their_project_name(tenants)
    async with _as(mine) as q:
        assert (
            await q.orm.project_update(
                name="pwned",
                status=ProjectStatus.ARCHIVED,
                owner_id=None,
                due_on=None,
                budget=None,
                task_count=0,
                id=theirs.project_id,
            )
            is None
        )
        assert await q.orm.organization_update(name="pwned", billing_extid=None, id=theirs.organization_id) is None
        assert (await q.orm.project_archive(id=theirs.project_id)).rowcount == 0
    with pytest.raises(psycopg.errors.InsufficientPrivilege):  # customers delete no organization, theirs or ours
        async with _as(mine) as q:
            await q.orm.organization_delete(id=theirs.organization_id)
    with pytest.raises(REFUSED, match="row-level security"):
        async with _as(mine) as q:
            await q.orm.project_create(
                organization_id=theirs.organization_id,
                name="planted",
                status=ProjectStatus.ACTIVE,
                owner_id=None,
                due_on=None,
                budget=None,
            )
    with pytest.raises(REFUSED, match="row-level security"):  # COPY is refused outright on RLS tables
        async with _as(mine) as q:
            await q.orm.projects_create(
                [ProjectsCreateParams(theirs.organization_id, "planted", ProjectStatus.ACTIVE, None, None)]
            )
    with pytest.raises(REFUSED, match="permission denied for table memberships"):  # members are added by admins only
        async with _as(mine) as q:
            await q.orm.membership_create(organization_id=theirs.organization_id, user_id=mine.user_id, role="owner")
    assert await their_project_name(tenants) == before
    async with xact_admin() as q:
        assert (await q.conn.execute(text("SELECT count(*) FROM projects WHERE name = 'planted'"))).scalar_one() == 0


async def test_core_statements_without_any_filter_touch_only_our_rows(tenants):
    mine, theirs = tenants.mine, tenants.theirs
    async with _as(mine) as q:
        assert (await q.conn.execute(select(projects.c.id))).scalars().all() == [mine.project_id]
        assert (await q.conn.execute(select(func.count()).select_from(users))).scalar_one() == 1
        assert (await q.conn.execute(update(projects).values(budget=Decimal("0.01")))).rowcount == 1
        assert (await q.conn.execute(update(organizations).values(name="renamed"))).rowcount == 1
        assert (await q.conn.execute(delete(projects))).rowcount == 1  # ours only
    with pytest.raises(DBAPIError, match="permission denied for table memberships"):
        async with _as(mine) as q:
            await q.conn.execute(delete(memberships).where(memberships.c.user_id != mine.user_id))
    with pytest.raises(DBAPIError, match="row-level security"):
        async with _as(mine) as q:
            await q.conn.execute(insert(projects).values(organization_id=theirs.organization_id, name="planted"))
    with pytest.raises(DBAPIError, match="row-level security"):  # nor can our rows be moved into their tenant
        async with _as(mine) as q:
            await q.conn.execute(insert(projects).values(organization_id=mine.organization_id, name="x"))
            await q.conn.execute(update(projects).values(organization_id=theirs.organization_id))
    async with xact_admin() as q:
        row = (
            await q.conn.execute(select(projects.c.name, projects.c.budget).where(projects.c.id == theirs.project_id))
        ).one()
    assert tuple(row) == (await their_project_name(tenants), Decimal("100.00"))


async def test_a_non_member_sees_and_changes_nothing(tenants):
    theirs = tenants.theirs
    for user_id in (tenants.outsider_user_id, tenants.mine.user_id):  # nobody's member; member elsewhere
        async with xact_customer(user_id, theirs.organization_id) as q:
            assert await q.orm.organizations_list() == []
            assert await q.orm.project_get(id=theirs.project_id) is None
            assert await q.orm.memberships_with_users(organization_id=theirs.organization_id) == []
            for name in ("organizations", "users", "memberships", "projects"):
                assert (await q.conn.execute(select(func.count()).select_from(table(name)))).scalar_one() == 0, name
            assert (await q.conn.execute(delete(projects))).rowcount == 0
            assert (await q.conn.execute(update(organizations).values(name="pwned"))).rowcount == 0
        with pytest.raises(DBAPIError, match="row-level security"):
            async with xact_customer(user_id, theirs.organization_id) as q:
                await q.conn.execute(insert(projects).values(organization_id=theirs.organization_id, name="planted"))


async def test_a_leaky_function_in_the_where_clause_sees_only_our_rows(tenants):
    """RLS filters before any non-leakproof function runs: a function that reports every row it is shown sees ours.
    Customers cannot create functions (no DDL at all), so an admin provides the leaky one."""
    mine = tenants.mine
    seen: list[str] = []

    def collect(diag) -> None:
        seen.append(diag.message_primary)

    with pytest.raises(DBAPIError, match="permission denied: customer connections may not run CREATE FUNCTION"):
        async with _as(mine) as q:
            await q.conn.execute(text("CREATE FUNCTION pg_temp.f() RETURNS int LANGUAGE sql AS 'SELECT 1'"))
    async with xact_admin() as q:
        await q.conn.execute(
            text(
                "CREATE FUNCTION public.leak(t text) RETURNS boolean LANGUAGE plpgsql COST 0.0001 AS"
                " $$ BEGIN RAISE NOTICE 'saw %', t; RETURN true; END $$"
            )
        )
    try:
        async with _as(mine) as q:
            raw = (await q.conn.get_raw_connection()).driver_connection
            raw.add_notice_handler(collect)
            try:
                await q.conn.execute(text("SELECT count(*) FROM projects WHERE public.leak(id)"))
                await q.conn.execute(text("SELECT count(*) FROM users WHERE public.leak(email::text)"))
            finally:
                raw.remove_notice_handler(collect)
    finally:
        async with xact_admin() as q:
            await q.conn.execute(text("DROP FUNCTION public.leak(text)"))
    assert len(seen) == 2 and seen[0] == f"saw {mine.project_id}" and seen[1].startswith("saw mine-"), seen


async def test_plans_reused_on_one_pooled_connection_follow_each_identity(tenants):
    """The ORM prepares its statements: one pooled connection serving both tenants in turn, past the point where
    Postgres switches to a generic plan, must still answer each with its own rows."""
    mine, theirs = tenants.mine, tenants.theirs
    # Start from one connection: a pool an earlier test left with an even number of idle ones (handed out first in,
    # first out) would give each tenant its own connection every time.
    await conn.dispose()
    served: dict[int, set[str]] = {}
    for _ in range(8):
        for tenant in (mine, theirs):
            async with _as(tenant) as q:
                pid = (await q.conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                served.setdefault(pid, set()).add(tenant.organization_id)
                assert [o.id for o in await q.orm.organizations_list()] == [tenant.organization_id]
                found = await q.orm.projects_by_ids(ids=[mine.project_id, theirs.project_id])
                assert [p.id for p in found] == [tenant.project_id]
    assert any(len(orgs) == 2 for orgs in served.values())  # the same connection really served both
