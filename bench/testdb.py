"""``create_database()`` (clone of a template) against building the same database by applying the migrations with
yoyo, for this repo's migrations and a generated tree of 200. Goal: a clone in <= 30 ms, flat in the tree size."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.common import fmt_seconds, generate_migration_tree, median_seconds, row
from database.config import Project
from database.dev import migrations, testdb

REPO = Path(__file__).resolve().parent.parent


def _yoyo_build(server_url: str, tree: Path) -> None:
    """The peer: a new empty database and every migration applied with yoyo."""
    name = f"{testdb.CLONE_PREFIX}0_bench"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    migrations.apply_all(testdb.with_database(server_url, name), tree)


def _spares_ready(server_url: str, template: str) -> None:
    """Wait (untimed) until the background replenishment has refilled the spares."""
    with psycopg.connect(server_url) as conn:
        for _ in range(200):
            count = conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE %s",
                                 (testdb._spare_prefix(template) + "%",)).fetchone()[0]
            if count >= testdb.SPARES:
                return
            time.sleep(0.05)


def _time_creates(server_url: str, tree: Path, repeat: int, spares: bool) -> float:
    template = testdb.ensure_template(server_url, tree)  # built once, as in a test session
    saved, testdb.SPARES = testdb.SPARES, (testdb.SPARES or 2) if spares else 0
    samples, created = [], []
    try:
        for _ in range(repeat):
            if spares:
                _spares_ready(server_url, template)
            start = time.perf_counter()
            created.append(testdb.create_database(migrations_dir=tree, url=server_url))
            samples.append(time.perf_counter() - start)
    finally:
        testdb.SPARES = saved
        for url in created:
            testdb.drop_database(url)
    return statistics.median(samples)


def _measure(label: str, server_url: str, tree: Path, repeat: int) -> tuple[list[dict[str, Any]], float]:
    spare = _time_creates(server_url, tree, repeat * 3, spares=True)
    clone = _time_creates(server_url, tree, repeat * 3, spares=False)
    peer = median_seconds(lambda: _yoyo_build(server_url, tree), repeat=repeat, warmup=0)
    rows = [
        row(f"create_database(), {label}, spare ready", fmt_seconds(spare), f"{fmt_seconds(peer)} (yoyo apply)",
            spare / peer, "<= 30 ms", spare <= 0.030),
        row(f"create_database(), {label}, cold clone (FILE_COPY)", fmt_seconds(clone), f"{fmt_seconds(peer)} (yoyo apply)",
            clone / peer, "<= 30 ms", clone <= 0.030),
    ]
    return rows, spare


def run(repeat: int = 3) -> list[dict[str, Any]]:
    project = Project.load(REPO)
    server_url = testdb.with_database(testdb.server_url(project), "postgres")
    rows = []
    small, small_time = _measure(f"this repo ({sum(1 for p in project.migrations.glob('*.sql') if not p.name.endswith('.rollback.sql'))} migrations)", server_url, project.migrations, repeat)
    rows += small
    with tempfile.TemporaryDirectory() as tmp:
        tree = generate_migration_tree(Path(tmp) / "migrations", 200)
        big, big_time = _measure("generated tree of 200 migrations", server_url, tree, repeat)
    rows += big
    flat = big_time <= small_time * 1.5 + 0.005
    rows.append(row("create_database() with a spare, 200 vs this repo's migrations", fmt_seconds(big_time), fmt_seconds(small_time),
                    big_time / small_time, "flat (<= 1.5x)", flat))
    return rows


if __name__ == "__main__":
    from bench.__main__ import print_table

    print_table(run())
