"""Peak memory (RSS) at growing sizes: ``dbtui`` (the TUI open on the tree, its status filled) against the one-label
Textual app, ``dbtui codegen`` (no cache: the database is asked about every query) and the runtime (both pools,
one process, every task running transactions). Each measured process is started from a small launcher process
(bench.common.measure_process): Linux carries the peak RSS across fork and exec, so a child of the ~80 MB bench
process would otherwise report the bench's own peak. Goal: none grows worse than linearly."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from bench import codegen, runtime, tui
from bench.common import chart, fmt_bytes, growth_rows, measure_process, row, sizes
from database.config import Project
from database.dev import testdb
from database.dev.codegen import cache

REPO = Path(__file__).resolve().parent.parent


def _tui(server: str, tmp: Path) -> list[tuple[float, float, float]]:
    env = tui._bytecode_env(tmp / "pycache")
    points = []
    for count in sizes("migrations"):
        project = tui._project(tmp / f"m{count}", count)
        url = testdb.create_database(migrations_dir=project / "migrations", url=server)
        try:
            ours = tui._sample(tui.DBTUI_CHILD, str(project), url, env=env)["rss"]
            peer = tui._sample(tui.MINIMAL_CHILD, env=env)["rss"]
        finally:
            testdb.drop_database(url)
        points.append((count + 1, ours, peer))
    return points


def _codegen(server: str, tmp: Path) -> list[tuple[float, float]]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "DATABASE_URL")}
    points = []
    for queries in sizes("queries"):
        project = codegen._project(tmp / f"q{queries}", queries // codegen.QUERIES_PER_TABLE)
        testdb.ensure_template(server, project.migrations)
        shutil.rmtree(cache.folder(project), ignore_errors=True)
        _, rss = measure_process(
            [sys.executable, "-m", "dbtui.cli", "--project", str(project.root), "codegen"], env=env
        )
        points.append((queries, rss))
    return points


def _runtime() -> list[tuple[float, float]]:
    url = testdb.create_database(project=Project.load(REPO))
    points = []
    try:
        org, user = runtime._fixture(url)
        for tasks in runtime.TASKS:
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as child:
                _, _, rss = child.submit(runtime._in_child, url, org, user, tasks, tasks * 20, 1).result()
            points.append((tasks, rss))
    finally:
        testdb.drop_database(url)
    return points


def run() -> list[dict[str, Any]]:
    server = testdb.server_url(Project.load(REPO))
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        tui_points = _tui(server, tmp)
        codegen_points = _codegen(server, tmp)
    runtime_points = _runtime()
    rows = []
    for n, ours, peer in tui_points:
        rows.append(
            row(
                f"peak memory, TUI open on {n:,} migrations (status filled)",
                fmt_bytes(ours),
                fmt_bytes(peer),
                ours / peer,
                "(reported)",
                True,
                summary=n == tui_points[-1][0],
            )
        )
    for n, rss in codegen_points:
        rows.append(
            row(
                f"peak memory, dbtui codegen, {n} queries, no cache",
                fmt_bytes(rss),
                "-",
                None,
                "(reported)",
                True,
                summary=n == codegen_points[-1][0],
            )
        )
    for n, rss in runtime_points:
        rows.append(
            row(
                f"peak memory, runtime: both pools, {n} task{'s' if n > 1 else ''}",
                fmt_bytes(rss),
                "-",
                None,
                "(reported)",
                True,
                summary=n == runtime_points[-1][0],
            )
        )
    tui_mb = [(n, ours / 1e6) for n, ours, _ in tui_points]
    codegen_mb = [(n, rss / 1e6) for n, rss in codegen_points]
    runtime_mb = [(n, rss / 1e6) for n, rss in runtime_points]
    rows += [
        growth_rows("TUI peak memory", "migrations", tui_mb, [(n, p / 1e6) for n, _, p in tui_points]),
        growth_rows("dbtui codegen peak memory", "queries", codegen_mb),
        growth_rows("runtime peak memory", "tasks", runtime_mb),
    ]
    chart(
        "memory_tui",
        "Peak memory: TUI open",
        "migrations",
        "MB",
        {"dbtui": tui_mb, "one-label app": [(n, p / 1e6) for n, _, p in tui_points]},
    )
    chart("memory_codegen", "Peak memory: dbtui codegen (no cache)", "queries", "MB", {"dbtui codegen": codegen_mb})
    chart("memory_runtime", "Peak memory: runtime pools", "concurrent tasks", "MB", {"runtime": runtime_mb})
    return rows


if __name__ == "__main__":
    from bench.__main__ import print_table

    print_table(run())
