"""Fixtures for the fault suite: a private, restartable server, and the runtime pointed at a database on it."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from database import config, conn
from database.dev import server, testdb
from database.xact import xact_admin

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[server.Cluster]:
    """A fast cluster of its own on tmpfs: these tests stop and restart it, which the shared one must never see."""
    base = Path(tempfile.mkdtemp(prefix="dbtui-fault-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    os.chmod(base, 0o755)
    cluster = server.Cluster(base, fast=True)
    cluster.ensure_running()
    yield cluster
    cluster.stop()
    shutil.rmtree(base, ignore_errors=True)
    shutil.rmtree(cluster.socket_dir, ignore_errors=True)


@dataclass(frozen=True)
class Member:
    """An organization and a user that is a member of it, on the database the runtime is configured for."""

    organization_id: str
    user_id: str


@pytest.fixture
async def runtime_on_own_cluster(own_cluster: server.Cluster) -> AsyncIterator[Member]:
    """``database.conn`` configured for a migrated database on ``own_cluster``; the previous configuration after."""
    previous = config._configured_url  # the session database of the pytest plugin, when a test asked for it
    url = testdb.create_database(migrations_dir=REPO / "migrations", url=own_cluster.ensure_running())
    await conn.dispose()
    conn.configure(url)
    async with xact_admin() as q:
        org = (
            await q.conn.execute(text("INSERT INTO organizations (name) VALUES ('fault') RETURNING id"))
        ).scalar_one()
        user = (
            await q.conn.execute(
                text("INSERT INTO users (email, name) VALUES ('fault@test.invalid', 'f') RETURNING id")
            )
        ).scalar_one()
        await q.conn.execute(
            text("INSERT INTO memberships (organization_id, user_id) VALUES (:o, :u)"), {"o": org, "u": user}
        )
    yield Member(org, user)
    await conn.dispose()
    conn.configure(previous)
    own_cluster.ensure_running()
    testdb.drop_database(url)
