"""Throwaway databases on one server shared by many processes: concurrent template builds, LRU and a size budget."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from database import lock
from database.dev import schema_dump, server, testdb


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


SPARE_TAKER = """
import sys, time
from pathlib import Path
from database.dev import testdb
url, tree, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
while not go.exists():
    time.sleep(0.005)
print(" ".join(testdb.create_database(migrations_dir=tree, url=url) for _ in range(3)), flush=True)
sys.stdin.read()  # alive until the test has looked: a dead process's clones are collected as orphans
"""


def _databases(url: str, prefix: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (prefix,))}


def test_processes_taking_spares_at_once_each_get_their_own(tmp_path, own_server, monkeypatch):
    """Four processes take three databases each at the same moment from six spares: every call succeeds with a
    database of its own, each spare is handed out exactly once and the rest are cloned."""
    tree = _tree(tmp_path, "s")
    monkeypatch.setattr(testdb, "SPARES", 6)
    testdb.drop_database(testdb.create_database(migrations_dir=tree, url=own_server))
    testdb.wait_for_spares()
    template = testdb.TEMPLATE_PREFIX + testdb.migrations_digest(tree)[:20]
    assert len(_databases(own_server, testdb._spare_prefix(template))) == 6
    go = tmp_path / "go"
    env = {**os.environ, "DBTUI_TESTDB_SPARES": "0"}  # the takers do not refill: the six are all there is
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SPARE_TAKER, own_server, str(tree), str(go)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    time.sleep(0.5)  # let them start, then release them together
    go.touch()
    lines = [p.stdout.readline() for p in procs]  # type: ignore[union-attr]
    urls = [url for line in lines for url in line.split()]
    try:
        names = {testdb.database_name(url) for url in urls}
        exist = _databases(own_server, testdb.CLONE_PREFIX)
        spares_left = _databases(own_server, testdb._spare_prefix(template))
    finally:
        results = [p.communicate(timeout=300) for p in procs]  # stdin closed: they end
        for url in urls:
            testdb.drop_database(url)
    assert [err.strip().splitlines()[-1:] for p, (_, err) in zip(procs, results, strict=True) if p.returncode] == []
    assert len(urls) == len(names) == 12
    assert names <= exist  # every one is there
    assert spares_left == set()  # each spare taken, none twice: six renamed, six cloned


def test_taking_a_spare_waits_while_the_template_is_built_or_dropped(tmp_path, own_server):
    """The rename holds the template's advisory lock shared, in the server's ``postgres`` database: while a builder
    or pruner holds it exclusive there, create_database() waits, then goes on."""
    tree = _tree(tmp_path, "w")
    testdb.drop_database(testdb.create_database(migrations_dir=tree, url=own_server))
    testdb.wait_for_spares()
    template = testdb.TEMPLATE_PREFIX + testdb.migrations_digest(tree)[:20]
    made: list[str] = []
    with psycopg.connect(own_server, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (lock.lock_key(template),))
        taker = threading.Thread(
            target=lambda: made.append(testdb.create_database(migrations_dir=tree, url=own_server))
        )
        taker.start()
        waiting = 0
        deadline = time.monotonic() + 60
        while not waiting and not made and time.monotonic() < deadline:
            waiting = holder.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pg_blocking_pids(pid) @> ARRAY[pg_backend_pid()]"
            ).fetchone()[0]
        assert waiting == 1 and not made
        holder.execute("SELECT pg_advisory_unlock(%s)", (lock.lock_key(template),))
    taker.join(60)
    assert len(made) == 1
    testdb.drop_database(made[0])


def test_a_kept_connection_that_died_is_replaced(tmp_path, own_server):
    """The process keeps its connection to the server between calls; one the server ended meanwhile (a restart, an
    idle stop, an administrator) is replaced without the caller seeing it."""
    tree = _tree(tmp_path, "k")
    first = testdb.create_database(migrations_dir=tree, url=own_server)
    testdb.wait_for_spares()

    def end_our_connections() -> None:
        with psycopg.connect(own_server, autocommit=True) as other:
            ended = other.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = 'postgres' AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            ).fetchone()[0]
        assert ended >= 1

    end_our_connections()
    testdb.drop_database(first)
    assert testdb.database_name(first) not in _databases(own_server, testdb.CLONE_PREFIX)
    end_our_connections()
    url = testdb.create_database(migrations_dir=tree, url=own_server)
    try:
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM k_enum").fetchone()[0] == 0
    finally:
        testdb.drop_database(url)


class _Fixed:
    """A migrator whose digest stays while what it builds changes: a template dropped and built again, to see that
    what is kept with a template belongs to one build only."""

    def __init__(self, digest: str, table: str) -> None:
        self._digest, self.table = digest, table

    def digest(self) -> str:
        return self._digest

    def migrate(self, url: str) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE TABLE {} (value TEXT PRIMARY KEY)").format(sql.Identifier(self.table)))


def test_a_templates_dump_is_kept_for_that_build_only(own_server):
    """The dump kept with a template is pg_dump's text, byte for byte, for its next clones; once the template is
    dropped and built again, that text is never served: the new build is dumped anew."""
    digest = secrets.token_hex(16)
    first = testdb.clone_database(url=own_server, migrator=_Fixed(digest, "first_enum"))
    try:
        assert schema_dump.kept_dump(first) is None
        made = schema_dump.dump_clone(first)
        assert "CREATE TABLE public.first_enum" in made
        second = testdb.clone_database(url=own_server, migrator=_Fixed(digest, "first_enum"))
        try:
            assert (second.template, second.template_oid) == (first.template, first.template_oid)
            assert schema_dump.kept_dump(second) == made == schema_dump.dump_schema(second.url)
        finally:
            testdb.drop_database(second.url)
    finally:
        testdb.drop_database(first.url)
    testdb.wait_for_spares()  # (the upkeep, still making spares, would keep the template from being dropped)
    with psycopg.connect(own_server, autocommit=True) as conn:
        assert testdb._drop_template(conn, first.template)  # as the budget's pruning does
    rebuilt = testdb.clone_database(url=own_server, migrator=_Fixed(digest, "rebuilt_enum"))
    try:
        assert rebuilt.template == first.template and rebuilt.template_oid != first.template_oid
        assert schema_dump.kept_dump(rebuilt) is None
        remade = schema_dump.dump_clone(rebuilt)
        assert "rebuilt_enum" in remade and "first_enum" not in remade
        assert schema_dump.kept_dump(rebuilt) == remade
    finally:
        testdb.drop_database(rebuilt.url)
