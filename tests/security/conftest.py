"""Two tenants on the session database: ours (attacker's seat) and theirs (the victim), plus a user in neither."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from database.xact import xact_admin


@dataclass(frozen=True)
class Tenant:
    organization_id: str
    user_id: str
    project_id: str


@dataclass(frozen=True)
class Tenants:
    mine: Tenant
    theirs: Tenant
    outsider_user_id: str  # a real user, member of no organization


async def _tenant(q, label: str) -> Tenant:
    params = {"n": label, "e": f"{label}@test.invalid"}
    org = (await q.conn.execute(text("INSERT INTO organizations (name) VALUES (:n) RETURNING id"), params)).scalar_one()
    user = (
        await q.conn.execute(text("INSERT INTO users (email, name) VALUES (:e, :n) RETURNING id"), params)
    ).scalar_one()
    await q.conn.execute(
        text("INSERT INTO memberships (organization_id, user_id) VALUES (:o, :u)"), {"o": org, "u": user}
    )
    project = (
        await q.conn.execute(
            text("INSERT INTO projects (organization_id, name, budget) VALUES (:o, :n, 100) RETURNING id"),
            {"o": org, "n": f"{label} project"},
        )
    ).scalar_one()
    return Tenant(org, user, project)


@pytest.fixture
async def tenants(database_url: str) -> Tenants:
    tag = secrets.token_hex(4)
    async with xact_admin() as q:
        mine = await _tenant(q, f"mine-{tag}")
        theirs = await _tenant(q, f"theirs-{tag}")
        outsider = (
            await q.conn.execute(
                text("INSERT INTO users (email, name) VALUES (:e, 'outsider') RETURNING id"),
                {"e": f"outsider-{tag}@test.invalid"},
            )
        ).scalar_one()
    return Tenants(mine, theirs, outsider)
