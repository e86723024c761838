"""SQL injection strings are data: as ORM parameters, as lock names and as migration names."""

from pathlib import Path

import pytest
from sqlalchemy import text

from database.dev.locks import list_locks
from database.lock import pg_advisory_lock
from database.xact import xact_admin, xact_customer
from dbtui.cli import main

INJECTIONS = [
    "'; DROP TABLE users; --",
    "x' OR '1'='1",
    'x"); DELETE FROM projects; --',
    "$1; SELECT pg_sleep(10)",
    "\\'; SET ROLE postgres; --",
    "org_%",
]


async def _tables() -> int:
    async with xact_admin() as q:
        return (await q.conn.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"))).scalar_one()


@pytest.mark.parametrize("evil", INJECTIONS)
async def test_orm_parameters_are_stored_and_matched_verbatim(tenants, evil):
    mine = tenants.mine
    tables = await _tables()
    async with xact_customer(mine.user_id, mine.organization_id) as q:
        org = await q.orm.organization_update(name=evil, billing_extid=evil, id=mine.organization_id)
        assert (org.name, org.billing_extid) == (evil, evil)
        assert await q.orm.organization_get(id=evil) is None  # never matches by pattern or by injected OR
        assert await q.orm.projects_by_ids(ids=[evil, tenants.theirs.project_id]) == []
        assert await q.orm.user_get_by_email(email=evil) is None
    assert await _tables() == tables
    async with xact_admin() as q:
        assert (
            await q.conn.execute(
                text("SELECT count(*) FROM projects WHERE id = :id"), {"id": tenants.theirs.project_id}
            )
        ).scalar_one() == 1


@pytest.mark.parametrize("evil", INJECTIONS)
async def test_lock_names_are_inert(database_url, evil):
    tables = await _tables()
    async with pg_advisory_lock(evil, timeout=1):
        assert [lock.name for lock in list_locks(database_url)].count(evil) == 1
    assert await _tables() == tables


@pytest.mark.parametrize("evil", [*INJECTIONS, "../../escape", "x\n-- depends: 0001_a"])
def test_migration_names_are_refused(tmp_path: Path, capsys, evil):
    (tmp_path / "pyproject.toml").write_text("[tool.dbtui]\n")
    (tmp_path / "migrations").mkdir()
    code = main(["--project", str(tmp_path), "new-migration", evil])
    out, err = capsys.readouterr()
    assert code == 2 and err.startswith("dbtui: error:") and len(err.strip().splitlines()) == 1, (out, err)
    assert list((tmp_path / "migrations").iterdir()) == [] and not (tmp_path.parent / "escape.sql").exists()
