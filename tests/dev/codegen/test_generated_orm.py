"""This repo's generated ORM (src/database/orm.py) against a real database: every annotation kind and parameter form."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from decimal import Decimal

import psycopg

from database import orm
from database.orm import (
    Membership,
    MembershipRole,
    Organization,
    Project,
    ProjectsCreateParams,
    ProjectStatus,
    User,
)
from database.xact import xact_admin, xact_customer


async def test_organizations_get_create_update_delete(organization) -> None:
    async with xact_admin() as q:
        listed = await q.orm.organizations_list()  # :many, whole table → list[Organization]
        assert organization.id in {o.id for o in listed} and all(isinstance(o, Organization) for o in listed)
        made = await q.orm.organization_create(name="Acme", billing_extid=None)  # @name and sqlc.narg
        assert made is not None and made.id.startswith("org_") and made.billing_extid is None
        changed = await q.orm.organization_update(id=made.id, name="Acme 2", billing_extid="cus_1")
        assert changed is not None and (changed.name, changed.billing_extid) == ("Acme 2", "cus_1")
        assert await q.orm.organization_get(id=made.id) == changed  # :one with $1, named after the column
        assert await q.orm.organization_delete(id=made.id) == 1  # :execrows
        assert await q.orm.organization_get(id=made.id) is None


async def test_users_json_and_sqlc_arg(organization) -> None:
    async with xact_admin() as q:
        user = await q.orm.user_create(
            email="Ada@Example.test", name="Ada", auth_extid=None, storytime={"created_by": "test", "steps": [1, 2]}
        )
        assert isinstance(user, User) and user.storytime == {"created_by": "test", "steps": [1, 2]}
        assert await q.orm.user_get_by_email(email="ada@example.test") == user  # citext, via sqlc.arg
        updated = await q.orm.user_update(id=user.id, name="Ada L.", storytime=None)
        assert updated is not None and updated.storytime is None and updated.updated_at >= user.updated_at
        assert await q.orm.user_get(id=user.id) == updated
        await q.conn.rollback()


async def test_memberships_enum_exec_and_embed(organization) -> None:
    async with xact_admin() as q:
        user = await q.orm.user_create(
            email=f"bob-{organization.id}@example.test", name="Bob", auth_extid=None, storytime=None
        )
        membership = await q.orm.membership_create(
            organization_id=organization.id, user_id=user.id, role=MembershipRole.ADMIN
        )
        assert isinstance(membership, Membership) and membership.role is MembershipRole.ADMIN
        assert await q.orm.membership_update_role(id=membership.id, role=MembershipRole.MEMBER) is None  # :exec
        fetched = await q.orm.membership_get(id=membership.id)
        assert fetched is not None and fetched.role is MembershipRole.MEMBER
        rows = await q.orm.memberships_with_users(organization_id=organization.id)  # join + sqlc.embed
        mine = [r for r in rows if r.membership.id == membership.id]
        assert (
            len(mine) == 1
            and mine[0].membership == fetched
            and (mine[0].email, mine[0].user_name) == (user.email, "Bob")
        )
        assert len(rows) == 2  # the fixture's owner and Bob
        assert await q.orm.membership_roles() == [MembershipRole.ADMIN, MembershipRole.MEMBER, MembershipRole.OWNER]


async def test_projects_slice_copyfrom_outer_join_and_aggregates(organization) -> None:
    async with xact_admin() as q:  # COPY FROM is refused under row-level security, so as admin
        owned = await q.orm.project_create(
            organization_id=organization.id,
            name="Owned",
            status=ProjectStatus.ACTIVE,
            owner_id=organization.user_id,
            due_on=date(2030, 1, 2),
            budget=Decimal("10.50"),
        )
        assert isinstance(owned, Project) and owned.status is ProjectStatus.ACTIVE and owned.budget == Decimal("10.50")
        copied = await q.orm.projects_create(
            [  # :copyfrom
                ProjectsCreateParams(organization.id, "Copied A", ProjectStatus.PAUSED, None, None),
                ProjectsCreateParams(
                    organization.id, "Copied B", ProjectStatus.ACTIVE, date(2031, 5, 6), Decimal("1.25")
                ),
            ]
        )
        assert copied == 2
        with_owner = await q.orm.projects_with_owner(organization_id=organization.id)  # LEFT JOIN: owner may be missing
        assert [(r.name, r.owner_name is None) for r in with_owner] == [
            ("Copied A", True),
            ("Copied B", True),
            ("Owned", False),
        ]
        ids = [r.id for r in with_owner if r.name != "Copied A"]
        found = await q.orm.projects_by_ids(ids=ids)  # sqlc.slice → = ANY($1)
        assert sorted(p.id for p in found) == sorted(ids) and all(isinstance(p, Project) for p in found)
        counts = {r.status: r for r in await q.orm.project_counts_by_status(organization_id=organization.id)}
        assert counts[ProjectStatus.ACTIVE].projects == 2 and counts[ProjectStatus.ACTIVE].budget == Decimal("11.75")
        assert counts[ProjectStatus.PAUSED].budget == 0 and counts[ProjectStatus.PAUSED].last_due_on is None
        updated = await q.orm.project_update(
            id=owned.id,
            name="Owned",
            status=ProjectStatus.PAUSED,
            owner_id=None,
            due_on=None,
            budget=None,
            task_count=3,
        )
        assert updated is not None and (updated.owner_id, updated.budget, updated.task_count) == (None, None, 3)
        cursor = await q.orm.project_archive(id=owned.id)  # :execresult
        assert cursor.rowcount == 1 and cursor.statusmessage == "UPDATE 1"
        assert (await q.orm.project_get(id=owned.id)).status is ProjectStatus.ARCHIVED


async def test_customer_connection_sees_only_its_organization(organization) -> None:
    async with xact_customer(organization.user_id, organization.id) as q:
        assert [o.id for o in await q.orm.organizations_list()] == [organization.id]


async def test_querier_accepts_a_psycopg_connection(database_url: str, organization) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        q = orm.AsyncQuerier(conn)
        got = await q.organization_get(id=organization.id)
        assert got is not None and got.id == organization.id
        assert await q.organization_get(id="org_missing") is None


def test_generated_module_imports_only_stdlib_and_psycopg() -> None:
    code = (
        "import sys, database.orm; heavy = {'pglast', 'yaml', 'yoyo', 'textual', 'watchfiles', 'sqlalchemy'}; "
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_table_docstrings_come_from_annotations() -> None:
    assert Organization.__doc__ and "Tenants" in Organization.__doc__
