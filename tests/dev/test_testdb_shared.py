"""Throwaway databases on one server shared by many processes: concurrent template builds, LRU and a size budget."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from database.dev import server, testdb


@pytest.fixture(scope="module")
def own_server() -> Iterator[str]:
    """A scratch-like cluster of its own, so budgets and prunes here never disturb other tests' templates."""
    base = Path(tempfile.mkdtemp(prefix="dbtui-test-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    cluster = server.Cluster(base, fast=True, idle_timeout=0)
    yield cluster.ensure_running()
    cluster.stop()
    subprocess.run(["rm", "-rf", str(base), str(cluster.socket_dir)], check=False)


def _tree(root: Path, label: str) -> Path:
    """A tiny migrations folder whose content (and so template) is its own."""
    tree = root / label
    tree.mkdir(parents=True)
    (tree / "0001_one.sql").write_text(f"CREATE TABLE {label}_enum (value TEXT PRIMARY KEY);\n")
    return tree


WORKER = """
import sys
from pathlib import Path
from database.dev import testdb
url, trees = sys.argv[1], sys.argv[2:]
for _ in range(2):
    for tree in trees:
        testdb.drop_database(testdb.create_database(migrations_dir=Path(tree), url=url))
print("ok")
"""


def test_concurrent_builders_all_succeed(tmp_path, own_server):
    """Several processes building different templates at once, on a budget so small that every build prunes the
    others' templates: none may fail (it was `InvalidCatalogName … dbtui_tpl_…` from the old prune)."""
    trees = [str(_tree(tmp_path, f"t{i}")) for i in range(12)]
    env = {**os.environ, "DBTUI_TESTDB_BUDGET_MB": "1", "DBTUI_TESTDB_SPARES": "1"}
    jobs = [[trees[(2 * i + k) % 12] for k in range(4)] for i in range(6)]
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, own_server, *job], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for job in jobs]
    results = [p.communicate(timeout=300) for p in procs]
    failures = [err.strip().splitlines()[-1] for p, (_, err) in zip(procs, results) if p.returncode != 0]
    assert failures == []
    assert all(out.strip() == "ok" for out, _ in results)
