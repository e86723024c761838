"""Applying a generated chain of small migrations (table + index + trigger each) at growing sizes, each tool in a new
process on a new empty database, in one run: ``dbtui migrate`` vs ``psql -f`` of every file in one session (the
floor: no bookkeeping, no per-migration transactions) — goal: ≤ 1.5x at the largest size — and vs yoyo's CLI
(``yoyo apply --batch``), reported. Then reading the status of those migrations on a migrated clone: ``read_status``
in process, and ``dbtui status --json`` vs ``yoyo list`` as commands — goal: ≤ 0.5x at the largest size. Peak
memory of ``dbtui migrate`` is reported at each size. The apply commands take turns (medians of 3 rounds, the first
of a round alternating): the shared server's own pace drifts during a run, and timing one tool's runs all before the
other's let that drift decide the ratio (1.26x, 1.58x and 1.81x for the same code in three runs)."""

from __future__ import annotations

import secrets
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.common import (
    chart,
    fmt_bytes,
    fmt_seconds,
    full_sizes,
    generate_migration_tree,
    growth_rows,
    measure_process,
    median_seconds,
    row,
    sizes,
)
from database.config import Project, psycopg_dialect_url
from database.dev import server, testdb
from database.dev.migration_status import read_status

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MIGRATE_GOAL = 1.5  # x the psql -f floor, at the largest size
STATUS_GOAL = 0.5  # x yoyo list, at the largest size
YOYO_APPLY_MAX = 500  # yoyo apply takes ~10x our time; beyond this its curve is not worth the minutes


def _repeat(count: int) -> int:
    return 3


def _fresh(server_url: str) -> str:
    name = f"{testdb.CLONE_PREFIX}0_bench_{secrets.token_hex(3)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return testdb.with_database(server_url, name)


def _timed_on_fresh(
    server_url: str, commands: dict[str, Callable[[str], list[str]]], repeat: int
) -> dict[str, tuple[float, int]]:
    """Median seconds and the largest peak RSS of each ``command(url)``, each run on a new empty database. The
    commands take turns, one run each per round and the first of a round alternating, so that a server slowing down
    or speeding up during the run (checkpoints, other databases' work) weighs on them alike."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    peaks = dict.fromkeys(commands, 0)
    for turn in range(repeat):
        names = list(commands) if turn % 2 == 0 else list(commands)[::-1]
        for name in names:
            url = _fresh(server_url)
            try:
                seconds, rss = measure_process(commands[name](url))
                samples[name].append(seconds)
                peaks[name] = max(peaks[name], rss)
            finally:
                testdb.drop_database(url)
    return {name: (statistics.median(samples[name]), peaks[name]) for name in commands}


def _project(root: Path, count: int) -> tuple[Path, Path]:
    root.mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "bench"\n\n[tool.dbtui]\n')
    return root, generate_migration_tree(root / "migrations", count)


def run() -> list[dict[str, Any]]:
    server_url = testdb.server_url(Project.load(REPO))
    psql = server.find_binaries().tool("psql")
    rows: list[dict[str, Any]] = []
    yoyo: float | None
    curve: dict[str, list[tuple[float, float]]] = {
        k: [] for k in ("migrate", "floor", "yoyo", "status", "yoyo_list", "rss")
    }
    largest = max(sizes("migrations"))
    for count in sizes("migrations"):
        with tempfile.TemporaryDirectory(prefix="dbtui-bench-migrate-") as folder:
            project, tree = _project(Path(folder) / "p", count)
            files = [str(p) for p in sorted(tree.glob("*.sql")) if not p.name.endswith(".rollback.sql")]
            repeat = _repeat(count)
            commands: dict[str, Callable[[str], list[str]]] = {
                "ours": lambda url, project=project: [
                    str(BIN / "dbtui"),
                    "--project",
                    str(project),
                    "--database-url",
                    url,
                    "migrate",
                ],
                "floor": lambda url, files=files: [
                    psql,
                    "-X",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-d",
                    url,
                    *(arg for f in files for arg in ("-f", f)),
                ],
            }
            if count <= YOYO_APPLY_MAX:
                commands["yoyo"] = lambda url, tree=tree: [
                    str(BIN / "yoyo"),
                    "apply",
                    "--batch",
                    "--no-config-file",
                    "--database",
                    psycopg_dialect_url(url),
                    str(tree),
                ]
            timed = _timed_on_fresh(server_url, commands, repeat)
            (ours, rss), (floor, _) = timed["ours"], timed["floor"]
            yoyo = timed["yoyo"][0] if "yoyo" in timed else None
            url = testdb.create_database(migrations_dir=tree, url=server_url)  # the template is built untimed
            try:
                status = median_seconds(lambda url=url, tree=tree: read_status(url, tree), repeat=5, warmup=1)
                status_cli = median_seconds(
                    lambda url=url, project=project: measure_process(
                        [str(BIN / "dbtui"), "--project", str(project), "--database-url", url, "status", "--json"]
                    ),
                    repeat=repeat + 2,
                )
                yoyo_list = median_seconds(
                    lambda url=url, tree=tree: measure_process(
                        [
                            str(BIN / "yoyo"),
                            "list",
                            "--no-config-file",
                            "--database",
                            psycopg_dialect_url(url),
                            str(tree),
                        ]
                    ),
                    repeat=repeat + 2,
                )
            finally:
                testdb.drop_database(url)
        n = count + 1
        goal_here = count == largest and full_sizes()
        for key, value in (
            ("migrate", ours),
            ("floor", floor),
            ("yoyo", yoyo),
            ("status", status_cli),
            ("yoyo_list", yoyo_list),
            ("rss", rss / 1e6),
        ):
            if value is not None:
                curve[key].append((n, value))
        rows += [
            row(
                f"apply {n:,} migrations: dbtui migrate vs psql -f, one session (floor)",
                fmt_seconds(ours),
                fmt_seconds(floor),
                ours / floor,
                f"≤ {MIGRATE_GOAL}x" if goal_here else "(reported)",
                ours <= MIGRATE_GOAL * floor or not goal_here,
                summary=count == largest,
            ),
            row(
                f"apply {n:,} migrations: dbtui migrate vs yoyo apply",
                fmt_seconds(ours),
                fmt_seconds(yoyo) if yoyo else f"not run above {YOYO_APPLY_MAX}",
                ours / yoyo if yoyo else None,
                "≤ 1x" if yoyo else "-",
                ours <= yoyo if yoyo else True,
            ),
            row(
                f"status of {n:,} migrations: dbtui status --json vs yoyo list",
                fmt_seconds(status_cli),
                fmt_seconds(yoyo_list),
                status_cli / yoyo_list,
                f"≤ {STATUS_GOAL}x" if goal_here else "(reported)",
                status_cli <= STATUS_GOAL * yoyo_list or not goal_here,
                summary=count == largest,
            ),
            row(
                f"status of {n:,} migrations: read_status() in process",
                fmt_seconds(status),
                "-",
                None,
                "(reported)",
                True,
            ),
            row(f"peak memory of dbtui migrate, {n:,} migrations", fmt_bytes(rss), "-", None, "(reported)", True),
        ]
    rows += [
        growth_rows("dbtui migrate", "migrations", curve["migrate"], curve["floor"]),
        growth_rows("dbtui status --json", "migrations", curve["status"], curve["yoyo_list"]),
        growth_rows("peak memory of dbtui migrate", "migrations", curve["rss"]),
    ]
    chart(
        "migrate",
        "Apply migrations (new process, empty database)",
        "migrations",
        "s",
        {"dbtui migrate": curve["migrate"], "psql -f (floor)": curve["floor"], "yoyo apply": curve["yoyo"]},
    )
    chart(
        "status",
        "Migration status (new process)",
        "migrations",
        "s",
        {"dbtui status --json": curve["status"], "yoyo list": curve["yoyo_list"]},
    )
    return rows


if __name__ == "__main__":
    from bench.__main__ import print_table

    print_table(run())
