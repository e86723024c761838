import pytest
from sqlalchemy import column, select, table, text

from database.xact import xact_admin

organizations = table("organizations", column("id"), column("name"), column("billing_extid"))


async def _name(org_id: str) -> str:
    async with xact_admin() as q:
        return (
            await q.conn.execute(text("SELECT name FROM organizations WHERE id = :id"), {"id": org_id})
        ).scalar_one()


async def test_commits_on_clean_exit(organization):
    async with xact_admin() as q:
        await q.conn.execute(
            text("UPDATE organizations SET name = 'committed' WHERE id = :id"), {"id": organization.id}
        )
    assert await _name(organization.id) == "committed"


async def test_rolls_back_on_exception(organization):
    before = await _name(organization.id)
    with pytest.raises(RuntimeError, match="boom"):
        async with xact_admin() as q:
            await q.conn.execute(text("UPDATE organizations SET name = 'lost' WHERE id = :id"), {"id": organization.id})
            raise RuntimeError("boom")
    assert await _name(organization.id) == before


async def test_rolls_back_when_a_statement_fails(organization):
    before = await _name(organization.id)
    with pytest.raises(Exception, match="check"):
        async with xact_admin() as q:
            await q.conn.execute(text("UPDATE organizations SET name = 'lost' WHERE id = :id"), {"id": organization.id})
            await q.conn.execute(text("INSERT INTO organizations (id, name) VALUES ('not-an-org-id', 'x')"))
    assert await _name(organization.id) == before


async def test_core_dynamic_query_shares_the_transaction(organization):
    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        async with xact_admin() as q:
            await q.conn.execute(
                organizations.update().where(organizations.c.id == organization.id).values(billing_extid="cus_123")
            )
            query = select(organizations.c.billing_extid).where(organizations.c.id == organization.id)
            assert (await q.conn.execute(query)).scalar_one() == "cus_123"
            raise Abort
    async with xact_admin() as q:
        assert (
            await q.conn.execute(query)
        ).scalar_one() is None  # the core update was part of the rolled-back transaction


async def test_orm_is_bound_to_the_transaction_connection(organization):
    async with xact_admin() as q:
        assert q.orm is q.orm  # built once per transaction
        assert type(q.orm).__name__ == "AsyncQuerier"
