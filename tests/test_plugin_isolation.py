"""The bundled pytest plugin isolates admin-level writes on request: ``fresh_database`` gives a test a database of
its own, which later tests never see; without it such writes stay in the session database (the case it is for)."""

from __future__ import annotations

from app_runner import run_app_tests

from database.config import Project

APP_TESTS = """
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text
from database import conn, xact


@pytest.fixture(scope="session", autouse=True)
async def close_pools_at_the_end():  # as an app's conftest does (database.conn.dispose's docstring)
    yield
    await conn.dispose()


async def _users(email):
    async with xact.xact_admin() as q:
        return (await q.conn.execute(text("SELECT count(*) FROM users WHERE email = :e"), {"e": email})).scalar_one()


async def test_1_shared_write(database_url):
    async with xact.xact_admin() as q:
        await q.conn.execute(text("INSERT INTO users (email, name) VALUES ('shared@test.invalid', 'shared')"))


async def test_2_isolated_write(fresh_database, database_url, organization):
    assert fresh_database != database_url
    async with xact.xact_admin() as q:
        await q.conn.execute(text("INSERT INTO users (email, name) VALUES ('own@test.invalid', 'own')"))
        assert (await q.conn.execute(text("SELECT current_database()"))).scalar_one() == urlsplit(fresh_database).path[1:]
    assert await _users("own@test.invalid") == 1 and await _users("shared@test.invalid") == 0
    async with xact.xact_customer(organization.user_id, organization.id) as q:  # the organization is in it too
        assert [o.id for o in await q.orm.organizations_list()] == [organization.id]
    with open("fresh.txt", "w") as f:
        f.write(fresh_database)


async def test_3_later_tests_see_the_shared_write_only(database_url):
    assert await _users("shared@test.invalid") == 1
    assert await _users("own@test.invalid") == 0
    with open("fresh.txt") as f:
        fresh = urlsplit(f.read()).path[1:]
    async with xact.xact_admin() as q:  # the test's own database was dropped after it
        assert (await q.conn.execute(text("SELECT count(*) FROM pg_database WHERE datname = :d"), {"d": fresh})).scalar_one() == 0
"""


def test_fresh_database_isolates_admin_writes(project_copy: Project) -> None:
    done = run_app_tests(project_copy, APP_TESTS, "-W", "error")  # a pool left open is a ResourceWarning: an error
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "3 passed" in done.stdout and "warning" not in done.stdout.lower(), done.stdout[-3000:]
