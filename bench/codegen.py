"""Codegen against sqlc, on generated schemas with 5 queries per table, at growing query counts, in one run:

(a) a cold ``dbtui codegen`` (a new process) vs ``sqlc generate`` with its built-in json output on the same schema
    and queries, three ways, each with its goal at every size: with the codegen cache warm (migrations unchanged since
    the last run: no database work at all) — ≤ 1.0x; with no cache (``.dbtui/cache/codegen`` deleted: a copy of the
    migrations template is made and asked about every query; the template is already built, and so is its schema
    dump, which is kept with it: schema.sql's text is read from there, pg_dump does not run) — ≤ 2x; and the first
    run after a migration change (the template is built: the migrations applied; then pg_dump runs on the copy, and
    its text is kept with the new template) — ≤ 4x; peak memory reported;
(b) watch mode, from a save of queries.sql that edits one query to orm.py written — goal ≤ 0.25x of
    ``sqlc generate`` at every size;
(c) per call: a generated ``:one`` method vs the same prepared query through raw psycopg — goal ≤ 1.2x.

The floor under (a') and (a''), measured in the same run at the smallest size: a new Python process that does
nothing but import psycopg and pglast (the server's client and the parser, which any run that asks the server
loads) against ``sqlc generate``.
"""

from __future__ import annotations

import asyncio
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.common import chart, fmt_bytes, fmt_seconds, growth_rows, measure_process, median_seconds, row, sizes
from database import orm
from database.config import Project
from database.dev import testdb
from database.dev.codegen import cache
from database.dev.codegen.watch import Finished, Started, watch

REPO = Path(__file__).resolve().parent.parent
QUERIES_PER_TABLE = 5
CALLS = 3000
WATCH_GOAL = 0.25


def _schema(tables: int) -> str:
    parts = ['CREATE TABLE organizations (id TEXT COLLATE "C" PRIMARY KEY, name TEXT NOT NULL);']
    for i in range(tables):
        parts.append(
            f'CREATE TABLE t{i} (\n    id TEXT COLLATE "C" PRIMARY KEY,\n'
            f"    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),\n    name TEXT NOT NULL,\n"
            f'    organization_id TEXT COLLATE "C" NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,\n'
            f"    amount NUMERIC(12, 2),\n    n BIGINT NOT NULL DEFAULT 0\n);"
        )
    return "\n".join(parts) + "\n"


def _queries(tables: int, variant: int = 0) -> str:
    out = []
    for i in range(tables):
        out += [
            f"-- name: GetT{i} :one\nSELECT * FROM t{i} WHERE id = $1;",
            f"-- name: ListT{i} :many\nSELECT t.id, t.name, o.name AS organization_name FROM t{i} t "
            f"JOIN organizations o ON o.id = t.organization_id WHERE t.organization_id = $1 ORDER BY t.name "
            f"LIMIT {10 + (variant if i == 0 else 0)};",  # a save edits one query
            f"-- name: CreateT{i} :one\nINSERT INTO t{i} (id, name, organization_id, amount) VALUES ($1, $2, $3, $4) RETURNING *;",
            f"-- name: UpdateT{i} :exec\nUPDATE t{i} SET name = $1, n = $2 WHERE id = $3;",
            f"-- name: CountT{i} :one\nSELECT count(*) FROM t{i} WHERE organization_id = $1;",
        ]
    return "\n\n".join(out) + "\n"


def _project(root: Path, tables: int) -> Project:
    (root / "migrations").mkdir(parents=True)
    (root / "migrations" / "0001_schema.sql").write_text(_schema(tables))
    (root / "queries.sql").write_text(_queries(tables))
    (root / "pyproject.toml").write_text('[tool.dbtui]\norm = "orm.py"\n')
    (root / "sqlc.yaml").write_text(
        'version: "2"\nsql:\n  - engine: postgresql\n    schema: migrations/0001_schema.sql\n    queries: queries.sql\n'
        "    gen:\n      json:\n        out: sqlc_out\n        filename: codegen.json\n"
    )
    return Project.load(root)


def _cold_runs(project: Project, tables: int) -> tuple[float, float, float, float, int]:
    """Median seconds of a new ``dbtui codegen`` process with the cache warm, with no cache, after a migration
    change (template built), and of ``sqlc generate``; the largest peak RSS of ``dbtui codegen``."""
    # As a developer runs it: no URL, so throwaway databases live on the shared scratch server.
    dbtui = [sys.executable, "-m", "dbtui.cli", "--project", str(project.root), "codegen"]
    sqlc = [shutil.which("sqlc") or "sqlc", "generate", "-f", str(project.root / "sqlc.yaml")]
    # As an installed tool runs: with its bytecode cached (this machine sets PYTHONDONTWRITEBYTECODE, which would
    # recompile every dbtui module on every run); the cache goes to a temporary folder, filled by the warm-up run.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "DATABASE_URL")}
    env |= {"PYTHONWARNINGS": "ignore", "PYTHONPYCACHEPREFIX": str(project.root / ".pycache")}

    peak = [0]

    def warm() -> None:
        project.orm.unlink(missing_ok=True)
        peak[0] = max(peak[0], measure_process(dbtui, env=env)[1])

    def no_cache() -> None:  # (the schema dump kept with the template stays: it is the template's, built above)
        shutil.rmtree(cache.folder(project), ignore_errors=True)
        warm()

    changes = iter(range(1, 1000))
    migration = project.migrations / "0001_schema.sql"

    def migration_changed() -> None:  # a new comment: another migrations digest, so another template
        migration.write_text(_schema(tables) + f"-- change {next(changes)}\n")
        no_cache()

    def peer() -> None:
        shutil.rmtree(project.root / "sqlc_out", ignore_errors=True)
        subprocess.run(sqlc, check=True, capture_output=True, cwd=project.root)

    times = (
        median_seconds(warm, repeat=5),
        median_seconds(no_cache, repeat=3),
        median_seconds(migration_changed, repeat=3),
        median_seconds(peer, repeat=5),
    )
    migration.write_text(_schema(tables))
    return (*times, peak[0])


def _import_floor(project: Project) -> tuple[float, float]:
    """Median seconds of a new Python process that only imports psycopg and pglast, what any run that asks the
    server must load (its client and the parser), and of ``sqlc generate`` on the project, alternating: the floor
    under (a') and (a'') on this machine."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(project.root / ".pycache")
    imports = [sys.executable, "-c", "import psycopg, pglast.parser, pglast.ast"]
    sqlc = [shutil.which("sqlc") or "sqlc", "generate", "-f", str(project.root / "sqlc.yaml")]
    times: dict[str, list[float]] = {"imports": [], "sqlc": []}
    for turn in range(8):  # the first of each is a warm-up (it writes the bytecode cache)
        for name, command in (("imports", imports), ("sqlc", sqlc)):
            began = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, cwd=project.root, env=env)
            if turn:
                times[name].append(time.perf_counter() - began)
    return statistics.median(times["imports"]), statistics.median(times["sqlc"])


def _watch_latency(project: Project, server_url: str, tables: int, saves: int = 5) -> float:
    """Median time from writing queries.sql to the Finished event of the run that wrote orm.py."""
    events: queue.Queue = queue.Queue()
    stop = threading.Event()
    worker = threading.Thread(
        target=lambda: [events.put(e) for e in watch(project, url=server_url, stop_event=stop)], daemon=True
    )
    worker.start()
    samples = []
    try:
        while not isinstance(events.get(timeout=60), Finished):
            pass
        time.sleep(0.5)  # the file watcher starts after the first compile (a save before it waits for the rescan)
        for variant in range(1, saves + 1):
            began = time.perf_counter()
            project.queries.write_text(_queries(tables, variant))
            event = events.get(timeout=60)
            while isinstance(event, Started):
                event = events.get(timeout=60)
            assert isinstance(event, Finished) and project.orm in event.written, event
            samples.append(time.perf_counter() - began)
    finally:
        stop.set()
        worker.join(timeout=30)
    return statistics.median(samples)


async def _per_call(url: str) -> tuple[float, float]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        org = (await (await conn.execute("INSERT INTO organizations (name) VALUES ('bench') RETURNING id")).fetchone())[
            0
        ]
        q = orm.AsyncQuerier(conn)
        raw_sql = "SELECT * FROM organizations WHERE id = %s"

        async def ours() -> None:
            for _ in range(CALLS):
                await q.organization_get(id=org)

        async def peer() -> None:
            for _ in range(CALLS):
                cur = await conn.execute(raw_sql, (org,), prepare=True)
                await cur.fetchone()

        timings: dict[str, list[float]] = {"ours": [], "peer": []}
        for _ in range(7):
            for name, fn in (("peer", peer), ("ours", ours)):
                began = time.perf_counter()
                await fn()
                timings[name].append(time.perf_counter() - began)
        return statistics.median(timings["ours"][1:]) / CALLS, statistics.median(timings["peer"][1:]) / CALLS


def run() -> list[dict[str, Any]]:
    server_url = testdb.server_url(Project.load(REPO))
    rows: list[dict[str, Any]] = []
    curve: dict[str, list[tuple[float, float]]] = {k: [] for k in ("warm", "cold", "template", "watch", "sqlc", "rss")}
    for queries in sizes("queries"):
        tables = queries // QUERIES_PER_TABLE
        with tempfile.TemporaryDirectory(prefix="dbtui-bench-codegen-") as folder:
            project = _project(Path(folder), tables)
            testdb.ensure_template(server_url, project.migrations)
            warm, cold, template, sqlc, rss = _cold_runs(project, tables)
            latency = _watch_latency(project, server_url, tables)
            if queries == min(sizes("queries")):
                floor, floor_sqlc = _import_floor(project)
                rows.append(
                    row(
                        f"floor: a new Python process importing only psycopg and pglast vs `sqlc generate`, {queries}"
                        " queries",
                        fmt_seconds(floor),
                        fmt_seconds(floor_sqlc),
                        floor / floor_sqlc,
                        "(reported: under (a') and (a''))",
                        True,
                    )
                )
        for key, value in (
            ("warm", warm),
            ("cold", cold),
            ("template", template),
            ("watch", latency),
            ("sqlc", sqlc),
            ("rss", rss / 1e6),
        ):
            curve[key].append((queries, value))
        largest = queries == max(sizes("queries"))
        rows += [
            row(
                f"(a) cold `dbtui codegen`, {queries} queries, cache warm (migrations unchanged) vs `sqlc generate`",
                fmt_seconds(warm),
                fmt_seconds(sqlc),
                warm / sqlc,
                "≤ 1.0x",
                warm / sqlc <= 1.0,
                summary=largest,
            ),
            row(
                f"(a') cold `dbtui codegen`, {queries} queries, no cache (template built, its schema dump kept with it) vs "
                "`sqlc generate`",
                fmt_seconds(cold),
                fmt_seconds(sqlc),
                cold / sqlc,
                "≤ 2x",
                cold / sqlc <= 2.0,
            ),
            row(
                f"(a'') cold `dbtui codegen`, {queries} queries, after a migration change (builds and dumps the "
                "template) vs `sqlc generate`",
                fmt_seconds(template),
                fmt_seconds(sqlc),
                template / sqlc,
                "≤ 4x",
                template / sqlc <= 4.0,
            ),
            row(
                f"(b) watch, {queries} queries: save of queries.sql → orm.py written vs `sqlc generate`",
                fmt_seconds(latency),
                fmt_seconds(sqlc),
                latency / sqlc,
                f"≤ {WATCH_GOAL}x",
                latency / sqlc <= WATCH_GOAL,
                summary=largest,
            ),
            row(
                f"peak memory of `dbtui codegen`, {queries} queries",
                fmt_bytes(rss),
                "-",
                None,
                "(reported)",
                True,
                summary=largest,
            ),
        ]
    url = testdb.create_database(project=Project.load(REPO))
    try:
        ours_call, peer_call = asyncio.run(_per_call(url))
    finally:
        testdb.drop_database(url)
    rows += [
        growth_rows("cold dbtui codegen, cache warm", "queries", curve["warm"], curve["sqlc"]),
        growth_rows("cold dbtui codegen, no cache", "queries", curve["cold"], curve["sqlc"]),
        growth_rows("cold dbtui codegen, after a migration change", "queries", curve["template"], curve["sqlc"]),
        growth_rows("watch", "queries", curve["watch"], curve["sqlc"]),
        growth_rows("peak memory of dbtui codegen", "queries", curve["rss"]),
        row(
            "(c) generated `:one` call vs raw psycopg (prepared)",
            fmt_seconds(ours_call),
            fmt_seconds(peer_call),
            ours_call / peer_call,
            "<= 1.2x",
            ours_call / peer_call <= 1.2,
        ),
    ]
    chart(
        "codegen",
        "Codegen vs sqlc generate",
        "queries",
        "s",
        {
            "no cache": curve["cold"],
            "cache warm": curve["warm"],
            "watch (save → orm.py)": curve["watch"],
            "sqlc generate": curve["sqlc"],
        },
    )
    return rows


if __name__ == "__main__":
    from bench.__main__ import print_table

    print_table(run())
