"""Row Level Security through customer connections: only the organization's rows, only for members."""

import pytest
from sqlalchemy import text

from database.conn import InvalidIdentity, connect_db_admin, connect_db_customer
from database.xact import xact_admin, xact_customer


async def _add_project(org_id: str, name: str) -> str:
    async with xact_admin() as q:
        return (
            await q.conn.execute(
                text("INSERT INTO projects (organization_id, name) VALUES (:o, :n) RETURNING id"),
                {"o": org_id, "n": name},
            )
        ).scalar_one()


@pytest.fixture
async def two_orgs(organization, request):
    """Our organization with a project, and another organization (with its own member) with a project."""
    from database.pytest_plugin import TestOrganization

    async with xact_admin() as q:
        other = (
            await q.conn.execute(text("INSERT INTO organizations (name) VALUES ('other') RETURNING id"))
        ).scalar_one()
        other_user = (
            await q.conn.execute(
                text("INSERT INTO users (email, name) VALUES (:e, 'o') RETURNING id"), {"e": f"{other}@test.invalid"}
            )
        ).scalar_one()
        await q.conn.execute(
            text("INSERT INTO memberships (organization_id, user_id) VALUES (:o, :u)"), {"o": other, "u": other_user}
        )
    mine = await _add_project(organization.id, "mine")
    theirs = await _add_project(other, "theirs")
    return organization, TestOrganization(other, other_user), mine, theirs


async def test_customer_sees_only_its_organization(two_orgs):
    me, other, mine, theirs = two_orgs
    async with xact_customer(me.user_id, me.id) as q:
        orgs = (await q.conn.execute(text("SELECT id FROM organizations"))).scalars().all()
        projects = (await q.conn.execute(text("SELECT id FROM projects"))).scalars().all()  # no WHERE: RLS filters
        users = (await q.conn.execute(text("SELECT id FROM users"))).scalars().all()
    assert orgs == [me.id]
    assert projects == [mine]
    assert users == [me.user_id]
    assert theirs not in projects and other.user_id not in users


async def test_customer_cannot_write_other_organizations_rows(two_orgs):
    me, other, mine, theirs = two_orgs
    async with xact_customer(me.user_id, me.id) as q:
        updated = await q.conn.execute(text("UPDATE projects SET name = 'pwned' WHERE id = :id"), {"id": theirs})
        deleted = await q.conn.execute(text("DELETE FROM projects WHERE id = :id"), {"id": theirs})
        assert updated.rowcount == 0 and deleted.rowcount == 0
    with pytest.raises(Exception, match="row-level security"):
        async with xact_customer(me.user_id, me.id) as q:
            await q.conn.execute(text("INSERT INTO projects (organization_id, name) VALUES (:o, 'x')"), {"o": other.id})
    with pytest.raises(Exception, match="row-level security"):
        async with xact_customer(me.user_id, me.id) as q:  # moving our row into their organization
            await q.conn.execute(
                text("UPDATE projects SET organization_id = :o WHERE id = :id"), {"o": other.id, "id": mine}
            )
    async with xact_admin() as q:
        row = (
            await q.conn.execute(text("SELECT name, organization_id FROM projects WHERE id = :id"), {"id": theirs})
        ).one()
    assert tuple(row) == ("theirs", other.id)


async def test_customer_writes_within_its_organization(two_orgs):
    me, *_ = two_orgs
    async with xact_customer(me.user_id, me.id) as q:
        new = (
            await q.conn.execute(
                text("INSERT INTO projects (organization_id, name) VALUES (:o, 'new') RETURNING id"), {"o": me.id}
            )
        ).scalar_one()
    async with xact_admin() as q:
        assert (
            await q.conn.execute(text("SELECT organization_id FROM projects WHERE id = :id"), {"id": new})
        ).scalar_one() == me.id


async def test_non_member_sees_nothing(two_orgs):
    me, other, *_ = two_orgs
    async with xact_customer(me.user_id, other.id) as q:  # a real user, a real organization, but not a member of it
        for name in ("organizations", "projects", "memberships", "users"):
            assert (await q.conn.execute(text(f"SELECT count(*) FROM {name}"))).scalar_one() == 0, name


@pytest.mark.parametrize(
    "escape", ["RESET ROLE", "SET ROLE postgres", "SET SESSION AUTHORIZATION postgres", "SET ROLE NONE"]
)
async def test_customer_cannot_regain_admin_rights(two_orgs, escape):
    me, other, mine, theirs = two_orgs
    try:
        async with xact_customer(me.user_id, me.id) as q:
            await q.conn.execute(text(escape))
            who = (await q.conn.execute(text("SELECT current_user, session_user"))).one()
            seen = (
                await q.conn.execute(text("SELECT count(*) FROM projects WHERE id = :id"), {"id": theirs})
            ).scalar_one()
            assert tuple(who) == ("app_customer", "app_customer")
            assert seen == 0
    except Exception as exc:  # refused outright is fine too
        assert "permission denied" in str(exc)


async def test_settings_never_leak_to_the_next_pooled_connection(two_orgs):
    me, other, mine, theirs = two_orgs
    async with xact_customer(other.user_id, other.id) as q:
        assert (await q.conn.execute(text("SELECT count(*) FROM projects"))).scalar_one() == 1
    for _ in range(3):  # whichever pooled connection comes next
        async with connect_db_admin() as conn:
            settings = (await conn.execute(text("SELECT current_setting('app.user_id', true), current_user"))).one()
            assert settings[0] in (None, "") and settings[1] == "postgres"
        async with xact_customer(me.user_id, me.id) as q:
            projects = (await q.conn.execute(text("SELECT id FROM projects"))).scalars().all()
            assert projects == [mine]


@pytest.mark.parametrize("bad", [None, "", "   ", 42, "x" * 300, "a\x00b"])
async def test_invalid_identity_is_one_clear_error(bad):
    with pytest.raises(InvalidIdentity, match="must be a non-empty id string"):
        async with connect_db_customer(bad, "org_x"):
            pass


@pytest.mark.parametrize("setting", ["app.organization_id", "app.user_id"])
async def test_rewriting_the_identity_inside_the_transaction_reveals_nothing(two_orgs, setting):
    me, other, mine, theirs = two_orgs
    forged = other.id if setting == "app.organization_id" else other.user_id
    async with xact_customer(me.user_id, me.id) as q:
        await q.conn.execute(text("SELECT set_config(:s, :v, false)"), {"s": setting, "v": forged})
        if setting == "app.user_id":  # a consistent forgery: both ids of the other organization's member
            await q.conn.execute(text("SELECT set_config('app.organization_id', :v, false)"), {"v": other.id})
        for name in ("organizations", "projects", "memberships", "users"):
            assert (await q.conn.execute(text(f"SELECT count(*) FROM {name}"))).scalar_one() == 0, name


async def test_customer_cannot_read_the_signing_secret(two_orgs):
    me, *_ = two_orgs
    with pytest.raises(Exception, match="permission denied"):
        async with xact_customer(me.user_id, me.id) as q:
            await q.conn.execute(text("SELECT secret FROM app_private.identity_secret"))
