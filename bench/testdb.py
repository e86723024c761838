"""``create_database()`` (a clone of the migrations' template) at growing tree sizes, in one run, against the physical
limit on the same cluster: a bare ``CREATE DATABASE … TEMPLATE … STRATEGY FILE_COPY`` of the same template, sent on
an open connection. Goals: a cold clone (no spare) ≤ 1.2x that bare copy; with a spare ready (the usual case in a
test session: a ready clone renamed), ≤ 5 ms. Building the same database with yoyo is reported as the old peer
at the smallest size. Templates are built before timing."""

from __future__ import annotations

import contextlib
import secrets
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.common import chart, fmt_seconds, generate_migration_tree, growth_rows, median_seconds, row, sizes
from database import lock
from database.config import Project
from database.dev import migrations, testdb

REPO = Path(__file__).resolve().parent.parent
REPEAT = 9
CLONE_GOAL = 1.2  # x the bare FILE_COPY
SPARE_GOAL = 0.005  # seconds


def _yoyo_build(server_url: str, tree: Path) -> None:
    """The old peer: a new empty database and every migration applied with yoyo."""
    name = f"{testdb.CLONE_PREFIX}0_bench"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    migrations.apply_all(testdb.with_database(server_url, name), tree)


def _spares_ready(server_url: str, template: str) -> None:
    """Wait (untimed) until the background upkeep has made a spare (one: the budget may leave room for only one of
    a large template)."""
    testdb.wait_for_spares()
    with psycopg.connect(server_url) as conn:
        for _ in range(400):
            count = conn.execute(
                "SELECT count(*) FROM pg_database WHERE starts_with(datname, %s)", (testdb._spare_prefix(template),)
            ).fetchone()[0]
            if count >= 1:
                return
            time.sleep(0.05)


def _no_spares(server_url: str, template: str) -> None:
    """Drop the template's spares (untimed), which an earlier run or the spare rows leave behind: a cold clone is
    measured with none."""
    testdb.wait_for_spares()
    with psycopg.connect(server_url, autocommit=True) as conn:
        for (name,) in conn.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (testdb._spare_prefix(template),)
        ).fetchall():
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def _time_creates(server_url: str, tree: Path, repeat: int, spares: bool) -> list[float]:
    template = testdb.ensure_template(server_url, tree)  # built once, as in a test session
    saved, testdb.SPARES = testdb.SPARES, (testdb.SPARES or 2) if spares else 0
    samples, created = [], []
    try:
        for _ in range(repeat):
            (_spares_ready if spares else _no_spares)(server_url, template)
            start = time.perf_counter()
            created.append(testdb.create_database(migrations_dir=tree, url=server_url))
            samples.append(time.perf_counter() - start)
    finally:
        testdb.SPARES = saved
        for url in created:
            testdb.drop_database(url)
    return samples


def _time_bare(server_url: str, tree: Path, repeat: int) -> list[float]:
    """The physical limit: the same FILE_COPY, on an open connection, nothing else."""
    template = testdb.ensure_template(server_url, tree)
    samples = []
    with psycopg.connect(server_url, autocommit=True) as conn:
        for _ in range(repeat):
            name = f"{testdb.CLONE_PREFIX}0_bare_{secrets.token_hex(3)}"
            start = time.perf_counter()
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
            samples.append(time.perf_counter() - start)
            conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))
    return samples


@contextlib.contextmanager
def _kept(server_url: str, tree: Path) -> Iterator[None]:
    """The template built and held as a cloner holds it (its advisory lock shared) while a size is measured: on the
    scratch server every worktree's tests share, another process's prune would otherwise drop it halfway."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        while True:
            template = testdb.ensure_template(server_url, tree)
            conn.execute("SELECT pg_advisory_lock_shared(%s)", (lock.lock_key(template),))
            if testdb._is_template(conn, template):
                break
            conn.execute("SELECT pg_advisory_unlock_shared(%s)", (lock.lock_key(template),))
        yield


def run(repeat: int = REPEAT) -> list[dict[str, Any]]:
    server_url = testdb.with_database(testdb.server_url(Project.load(REPO)), "postgres")
    rows: list[dict[str, Any]] = []
    curve: dict[str, list[tuple[float, float]]] = {"clone": [], "bare": [], "spare": []}
    counts = sizes("migrations")
    with tempfile.TemporaryDirectory() as tmp:
        for count in counts:
            tree = generate_migration_tree(Path(tmp) / f"m{count}", count)
            clone_s, bare_s = [], []
            with _kept(server_url, tree):
                for _ in range(3):  # alternating, so the machine's drift hits both alike
                    clone_s += _time_creates(server_url, tree, repeat // 3, spares=False)
                    bare_s += _time_bare(server_url, tree, repeat // 3)
                spare = statistics.median(_time_creates(server_url, tree, repeat, spares=True))
            clone, bare = statistics.median(clone_s), statistics.median(bare_s)
            n = count + 1
            for key, value in (("clone", clone), ("bare", bare), ("spare", spare)):
                curve[key].append((n, value))
            rows += [
                row(
                    f"create_database(), {n:,} migrations, cold clone vs bare CREATE DATABASE … FILE_COPY",
                    fmt_seconds(clone),
                    fmt_seconds(bare),
                    clone / bare,
                    f"≤ {CLONE_GOAL}x",
                    clone <= CLONE_GOAL * bare,
                    summary=count == counts[-1],
                ),
                row(
                    f"create_database(), {n:,} migrations, spare ready",
                    fmt_seconds(spare),
                    fmt_seconds(bare),
                    spare / bare,
                    f"≤ {SPARE_GOAL * 1e3:.0f} ms",
                    spare <= SPARE_GOAL,
                    summary=count == counts[-1],
                ),
            ]
            if count == counts[0]:
                peer = median_seconds(lambda tree=tree: _yoyo_build(server_url, tree), repeat=1, warmup=0)
                rows.append(
                    row(
                        f"create_database(), {n:,} migrations, spare ready vs building it with yoyo",
                        fmt_seconds(spare),
                        fmt_seconds(peer),
                        spare / peer,
                        "(reported)",
                        True,
                    )
                )
    rows += [
        growth_rows("create_database() cold clone", "migrations", curve["clone"], curve["bare"]),
        growth_rows("create_database() spare ready", "migrations", curve["spare"]),
    ]
    chart(
        "testdb",
        "Fresh migrated test database",
        "migrations",
        "s",
        {"cold clone": curve["clone"], "bare FILE_COPY": curve["bare"], "spare ready": curve["spare"]},
    )
    return rows


if __name__ == "__main__":
    from bench.__main__ import print_table

    print_table(run())
