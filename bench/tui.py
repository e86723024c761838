"""Benchmark: time to the first full frame of ``dbtui`` against a minimal Textual app that shows one label.

Each sample is a fresh Python process (imports included, as a person starting the app pays them, from bytecode as
an installed package has it), running the app headless at 120×36. "First full frame" for dbtui is the first frame handed to the terminal that shows the Migrations
tab with every migration listed from the files; the status fills in when the database answers (reported as well).
The peer is the smallest Textual app: one Label, its first frame, measured the same way. Both run in the same
benchmark run, alternating, medians of REPEAT.
Goal (issue 7): dbtui's first frame at most 0.4 s after the minimal app's, with this repo's migrations and with a
generated tree of 200.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

from bench.common import fmt_seconds, generate_migration_tree, row
from database.config import Project
from database.dev import testdb

REPO = Path(__file__).resolve().parent.parent
REPEAT = 7
GOAL_SECONDS = 0.4
DATABASE = "dbtui_bench_tui"

# Each child marks the first frame the app hands to the terminal (``App._display``, called with every compositor
# update; headless, it is computed the same way and then not written) that shows what is measured, and prints it.
DBTUI_CHILD = """
import sys
from pathlib import Path
from dbtui.app import DbtuiApp
from dbtui.context import Context
from dbtui.tabs.migrations import MigrationsTab

app = DbtuiApp(Context(project_dir=Path(sys.argv[1]), database_url=sys.argv[2]))
display = app._display
marks = set()

def measured(screen, update):
    display(screen, update)
    tabs = app.query(MigrationsTab)
    if update is None or not tabs:
        return
    tab = tabs.first()
    table = tab.query_one("#migrations-table")
    if "frame" not in marks and tab.migrations is not None and table.row_count == len(tab.migrations):
        marks.add("frame")
        print("frame", flush=True)  # every migration listed, from the files
    if "frame" in marks and tab.report is not None:
        print("status", flush=True)  # the status from the database filled in
        app.call_later(app.exit)
        app._display = display

app._display = measured
app.run(headless=True, size=(120, 36))
"""

MINIMAL_CHILD = """
from textual.app import App
from textual.widgets import Label

class Minimal(App):
    def compose(self):
        yield Label("hello")

app = Minimal()
display = app._display

def measured(screen, update):
    display(screen, update)
    if update is not None:
        print("frame", flush=True)
        app.call_later(app.exit)
        app._display = display

app._display = measured
app.run(headless=True, size=(120, 36))
"""


def _sample(code: str, *args: str, env: dict[str, str] | None = None) -> dict[str, float]:
    """Seconds from starting the process to each line it prints."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True, env=env)
    marks = {}
    assert child.stdout is not None
    for line in child.stdout:
        marks[line.strip()] = time.perf_counter() - start
    if child.wait() != 0:
        raise RuntimeError(f"benchmark child failed with exit code {child.returncode}")
    return marks


def _bytecode_env(cache: Path) -> dict[str, str]:
    """The children's environment, with bytecode caching on (in ``cache``, not the source tree): an installed
    dbtui has its ``.pyc`` files, as Textual in site-packages has, but a dev shell may set PYTHONDONTWRITEBYTECODE,
    which would make every sample compile dbtui's modules from source (~25 ms) and the peer nothing."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def _project(root: Path, migrations: Path | None) -> Path:
    root.mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "bench"\n\n[tool.dbtui]\n', encoding="utf-8")
    if migrations is None:
        generate_migration_tree(root / "migrations", 200)
    else:
        (root / "migrations").symlink_to(migrations)
    return root


def run() -> list[dict]:
    server = testdb.server_url(Project.load(REPO))
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    url = testdb.with_database(server, DATABASE)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = _bytecode_env(Path(tmp) / "pycache")
            trees = {
                "this repo's migrations": _project(Path(tmp) / "repo", REPO / "migrations"),
                "generated tree of 200": _project(Path(tmp) / "gen200", None),
            }
            for label, project in trees.items():
                ours, status, peer = [], [], []
                _sample(MINIMAL_CHILD, env=env)  # warm the file and bytecode caches once
                _sample(DBTUI_CHILD, str(project), url, env=env)
                for _ in range(REPEAT):
                    marks = _sample(DBTUI_CHILD, str(project), url, env=env)
                    ours.append(marks["frame"])
                    status.append(marks["status"])
                    peer.append(_sample(MINIMAL_CHILD, env=env)["frame"])
                ours_s, peer_s = statistics.median(ours), statistics.median(peer)
                rows.append(row(f"first full frame, {label}", fmt_seconds(ours_s), fmt_seconds(peer_s), ours_s / peer_s,
                                f"≤ {GOAL_SECONDS} s over peer", ours_s - peer_s <= GOAL_SECONDS))
                rows.append(row(f"status filled from the database, {label}", fmt_seconds(statistics.median(status)),
                                fmt_seconds(peer_s), statistics.median(status) / peer_s, "(reported)", True))
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
    return rows


if __name__ == "__main__":
    print(f"{'work':<52} {'ours':>9} {'peer':>9} {'ratio':>6}  {'goal':<20} met")
    for r in run():
        print(f"{r['work']:<52} {r['ours']:>9} {r['peer']:>9} {r['ratio']:>6.2f}  {r['goal']:<20} {r['met']}")
