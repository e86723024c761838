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
for tree in trees:
    testdb.drop_database(testdb.create_database(migrations_dir=Path(tree), url=url))
print("ok")
"""


def test_concurrent_builders_all_succeed(tmp_path, own_server):
    """Several processes building different templates at once, on a budget so small that every build prunes the
    others' templates: none may fail (before: 2 or 3 of these 6 failed with `InvalidCatalogName … dbtui_tpl_…`)."""
    trees = [str(_tree(tmp_path, f"t{i}")) for i in range(12)]
    env = {**os.environ, "DBTUI_TESTDB_BUDGET_MB": "1", "DBTUI_TESTDB_SPARES": "1"}
    jobs = [[trees[(2 * i + k) % 12] for k in range(4)] for i in range(6)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, own_server, *job],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for job in jobs
    ]
    results = [p.communicate(timeout=300) for p in procs]
    failures = [err.strip().splitlines()[-1] for p, (_, err) in zip(procs, results, strict=True) if p.returncode != 0]
    assert failures == []
    assert all(out.strip() == "ok" for out, _ in results)


def test_footprint_stays_within_budget_across_20_template_builds(tmp_path, own_server, monkeypatch):
    """Twenty different migration sets in a row: templates and spares never exceed the budget, the least recently
    used go first, and the newest is always kept."""
    budget = 40 * 2**20  # room for two templates with their spare
    monkeypatch.setattr(testdb, "BUDGET_BYTES", budget)
    monkeypatch.setattr(testdb, "SPARES", 1)
    built = []
    for i in range(20):
        tree = _tree(tmp_path, f"b{i}")
        testdb.drop_database(testdb.create_database(migrations_dir=tree, url=own_server))
        testdb.wait_for_spares()
        built.append(testdb.TEMPLATE_PREFIX + testdb.migrations_digest(tree)[:20])
        with psycopg.connect(own_server, autocommit=True) as conn:
            usage = testdb._template_usage(conn)
        assert sum(size for _, size in usage.values()) <= budget
        assert built[-1] in usage
    kept = set(usage)
    assert 1 <= len(kept) < 20
    assert kept == set(built[-len(kept) :])  # least recently used dropped first


def test_prune_drops_every_unused_template_over_budget(tmp_path, own_server):
    for label in ("g1", "g2"):
        testdb.drop_database(testdb.create_database(migrations_dir=_tree(tmp_path, label), url=own_server))
    testdb.wait_for_spares()
    dropped = testdb.prune_server(own_server, budget=0)
    assert dropped and all(d.template.startswith(testdb.TEMPLATE_PREFIX) and d.bytes > 0 for d in dropped)
    with psycopg.connect(own_server) as conn:
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'dbtui_tpl_%'").fetchone()[0]
    assert left == 0
