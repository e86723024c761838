"""Applying a generated chain of 200 small migrations (table + index + trigger each), each tool in a new process on a
new empty database, in one run: ``dbtui migrate`` vs yoyo's CLI (``yoyo apply --batch``) — goal: no slower — and vs
``psql -f`` of every file in one session (the floor: no bookkeeping, no per-migration transactions) — goal: within
3x. Then reading the status of those 200 migrations: ``read_status`` in process (a plain read: goal milliseconds),
and ``dbtui status --json`` vs ``yoyo list`` as commands."""

from __future__ import annotations

import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.common import fmt_seconds, generate_migration_tree, median_seconds, row
from database.config import Project, psycopg_dialect_url
from database.dev import migrations, server, testdb
from database.dev.migration_status import read_status

REPO = Path(__file__).resolve().parent.parent
COUNT = 200
REPEAT = 3
BIN = Path(sys.executable).parent


def _fresh(server_url: str) -> str:
    name = f"{testdb.CLONE_PREFIX}0_bench_{secrets.token_hex(3)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return testdb.with_database(server_url, name)


def _timed_on_fresh(server_url: str, command: Callable[[str], list[str]]) -> float:
    """Median seconds of ``command(url)`` run to completion on a new empty database each time."""
    samples = []
    for _ in range(REPEAT):
        url = _fresh(server_url)
        try:
            start = time.perf_counter()
            subprocess.run(command(url), check=True, capture_output=True)
            samples.append(time.perf_counter() - start)
        finally:
            testdb.drop_database(url)
    return sorted(samples)[len(samples) // 2]


def run() -> list[dict[str, Any]]:
    server_url = testdb.server_url(Project.load(REPO))
    psql = server.find_binaries().tool("psql")
    with tempfile.TemporaryDirectory(prefix="dbtui-bench-migrate-") as folder:
        project = Path(folder)
        (project / "pyproject.toml").write_text('[project]\nname = "bench"\n\n[tool.dbtui]\n')
        tree = generate_migration_tree(project / "migrations", COUNT)
        files = [str(p) for p in sorted(tree.glob("*.sql")) if not p.name.endswith(".rollback.sql")]

        ours = _timed_on_fresh(server_url, lambda url: [str(BIN / "dbtui"), "--project", str(project), "--database-url", url, "migrate"])
        yoyo = _timed_on_fresh(server_url, lambda url: [str(BIN / "yoyo"), "apply", "--batch", "--no-config-file",
                                                        "--database", psycopg_dialect_url(url), str(tree)])
        floor = _timed_on_fresh(server_url, lambda url: [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url,
                                                         *(arg for f in files for arg in ("-f", f))])

        url = _fresh(server_url)
        try:
            migrations.migrate(url, tree)
            status = median_seconds(lambda: read_status(url, tree), repeat=20, warmup=2)
            status_cli = median_seconds(lambda: subprocess.run(
                [str(BIN / "dbtui"), "--project", str(project), "--database-url", url, "status", "--json"],
                check=True, capture_output=True), repeat=REPEAT)
            yoyo_list = median_seconds(lambda: subprocess.run(
                [str(BIN / "yoyo"), "list", "--no-config-file", "--database", psycopg_dialect_url(url), str(tree)],
                check=True, capture_output=True), repeat=REPEAT)
        finally:
            testdb.drop_database(url)

    n = COUNT + 1
    return [
        row(f"apply {n} migrations: dbtui migrate vs yoyo apply (processes)", fmt_seconds(ours), fmt_seconds(yoyo),
            ours / yoyo, "<= 1x", ours <= yoyo),
        row(f"apply {n} migrations: dbtui migrate vs psql -f, one session (floor)", fmt_seconds(ours), fmt_seconds(floor),
            ours / floor, "<= 3x", ours <= 3 * floor),
        row(f"status of {n} migrations: read_status() in process", fmt_seconds(status), "-", None, "milliseconds",
            status < 0.1),
        row(f"status of {n} migrations: dbtui status --json vs yoyo list", fmt_seconds(status_cli), fmt_seconds(yoyo_list),
            status_cli / yoyo_list, "<= 1x", status_cli <= yoyo_list),
    ]


if __name__ == "__main__":
    from bench.__main__ import print_table

    print_table(run())
