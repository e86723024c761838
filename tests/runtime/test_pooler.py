"""The runtime behind a transaction-mode pooler (tests/conftest.py runs these directly and through PgBouncer).

Behind PgBouncer in transaction mode each transaction may run on another server connection: statements psycopg
prepared on the client connection are missing there, or a different one has the same name. Before the fix, 16 tasks
x 40 transactions failed about half the time with ``DuplicatePreparedStatement: prepared statement "_pg3_0"``.
"""

import asyncio

import pytest

from database import config, conn
from database.errors import ConfigError
from database.xact import xact_admin, xact_customer


async def _prepare_threshold() -> int | None:
    async with xact_admin() as q:
        return (await q.conn.get_raw_connection()).driver_connection.prepare_threshold


async def test_generated_queries_under_concurrent_load(organization):
    async def task(n: int) -> None:
        for i in range(40):
            if (n + i) % 4:
                async with xact_admin() as q:
                    assert organization.id in [o.id for o in await q.orm.organizations_list()]
            else:  # the customer path: its identity statement is prepared too, where preparing is safe
                async with xact_customer(organization.user_id, organization.id) as q:
                    assert [o.id for o in await q.orm.organizations_list()] == [organization.id]

    await asyncio.gather(*(task(n) for n in range(16)))


async def test_prepared_statements_are_off_exactly_behind_a_pooler(database_url, database_route):
    assert (await _prepare_threshold() is None) == (database_route == "pgbouncer")


@pytest.mark.parametrize("mode, off", [("transaction", True), ("session", False), ("none", False)])
async def test_the_pooler_setting_wins_over_detection(database_url, database_route, mode, off, monkeypatch):
    monkeypatch.setenv("DATABASE_POOLER", mode)
    await conn.dispose()
    try:
        assert (await _prepare_threshold() is None) == off
    finally:
        monkeypatch.delenv("DATABASE_POOLER")
        await conn.dispose()
    assert (await _prepare_threshold() is None) == (database_route == "pgbouncer")


def test_a_bad_pooler_setting_is_one_clear_error(monkeypatch, project_copy):
    monkeypatch.setenv("DATABASE_POOLER", "transactions")
    with pytest.raises(ConfigError, match="DATABASE_POOLER must be one of auto, none, session, transaction"):
        config.pooler_mode()
    monkeypatch.delenv("DATABASE_POOLER")
    pyproject = project_copy.root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'pooler = "pgbouncer"\n')
    with pytest.raises(ConfigError, match=r"pyproject.toml must be one of auto, none, session, transaction"):
        config.Project.load(project_copy.root)
