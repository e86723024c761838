"""The bundled pytest plugin works under pytest-xdist (``pytest -n``): every worker gets its own migrated database,
and each test its own organization, in an app's project."""

from __future__ import annotations

from app_runner import run_app_tests

from database.config import Project

APP_TESTS = """
import pytest
from database import xact

@pytest.mark.parametrize("n", range(6))
async def test_sees_only_its_organization(n, database_url, organization):
    async with xact.xact_customer(organization.user_id, organization.id) as q:
        orgs = await q.orm.organizations_list()
    assert [o.id for o in orgs] == [organization.id]
    with open("urls.txt", "a") as f:
        f.write(database_url + "\\n")
"""


def test_plugin_under_xdist(project_copy: Project) -> None:
    root = project_copy.root
    done = run_app_tests(project_copy, APP_TESTS, "-n", "2")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "6 passed" in done.stdout
    urls = set((root / "urls.txt").read_text().split())
    assert len(urls) == 2  # one session database per worker
