"""Benchmark: ``dbtui`` (the TUI) against a minimal Textual app that shows one label, at growing migration trees.

Each sample is a fresh Python process (imports included, as a person starting the app pays them, from bytecode as
an installed package has it), running the app headless at 120×36, on a migrated clone of the tree. "First full frame"
for dbtui is the first frame handed to the terminal that shows the Migrations tab with every migration listed from
the files; "status filled" the first one that shows the state of each from the database (until then, keys that act
on a migration have nothing to act on). The peer is the smallest Textual app: one Label, its first frame, measured
the same way. Both run in the same benchmark run, alternating, medians of REPEAT. Goal: status filled ≤ 0.3 s after
the minimal app's first frame, at every size (first frame: ≤ 0.4 s, the earlier goal). Peak memory of the dbtui
process (the app open on the tree, status filled) is reported at each size.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench.common import chart, fmt_bytes, fmt_seconds, generate_migration_tree, growth_rows, row, run_marked, sizes
from database.config import Project
from database.dev import testdb

REPO = Path(__file__).resolve().parent.parent
REPEAT = 5
FRAME_GOAL = 0.4
STATUS_GOAL = 0.3

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
    """Seconds from starting the process to each line it prints, and its peak RSS in bytes (``rss``)."""
    marks, rss = run_marked([sys.executable, "-c", code, *args], env=env)
    marks["rss"] = rss
    return marks


def _bytecode_env(cache: Path) -> dict[str, str]:
    """The children's environment, with bytecode caching on (in ``cache``, not the source tree): an installed
    dbtui has its ``.pyc`` files, as Textual in site-packages has, but a dev shell may set PYTHONDONTWRITEBYTECODE,
    which would make every sample compile dbtui's modules from source (~25 ms) and the peer nothing."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def _project(root: Path, count: int) -> Path:
    root.mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "bench"\n\n[tool.dbtui]\n', encoding="utf-8")
    generate_migration_tree(root / "migrations", count)
    return root


def run() -> list[dict]:
    server = testdb.server_url(Project.load(REPO))
    rows = []
    curve: dict[str, list[tuple[float, float]]] = {"frame": [], "status": [], "peer": [], "rss": [], "peer_rss": []}
    with tempfile.TemporaryDirectory() as tmp:
        env = _bytecode_env(Path(tmp) / "pycache")
        for count in sizes("migrations"):
            project = _project(Path(tmp) / f"m{count}", count)
            url = testdb.create_database(migrations_dir=project / "migrations", url=server)
            try:
                ours, status, peer, rss, peer_rss = [], [], [], [], []
                _sample(MINIMAL_CHILD, env=env)  # warm the file and bytecode caches once
                _sample(DBTUI_CHILD, str(project), url, env=env)
                for _ in range(REPEAT):
                    marks = _sample(DBTUI_CHILD, str(project), url, env=env)
                    ours.append(marks["frame"])
                    status.append(marks["status"])
                    rss.append(marks["rss"])
                    minimal = _sample(MINIMAL_CHILD, env=env)
                    peer.append(minimal["frame"])
                    peer_rss.append(minimal["rss"])
            finally:
                testdb.drop_database(url)
            n = count + 1
            frame_s, status_s, peer_s = (statistics.median(v) for v in (ours, status, peer))
            for key, value in (
                ("frame", frame_s),
                ("status", status_s),
                ("peer", peer_s),
                ("rss", max(rss) / 1e6),
                ("peer_rss", max(peer_rss) / 1e6),
            ):
                curve[key].append((n, value))
            rows += [
                row(
                    f"first full frame, {n:,} migrations",
                    fmt_seconds(frame_s),
                    fmt_seconds(peer_s),
                    frame_s / peer_s,
                    f"≤ +{FRAME_GOAL} s over peer",
                    frame_s - peer_s <= FRAME_GOAL,
                ),
                row(
                    f"status filled from the database, {n:,} migrations",
                    fmt_seconds(status_s),
                    fmt_seconds(peer_s),
                    status_s / peer_s,
                    f"≤ +{STATUS_GOAL} s over peer",
                    status_s - peer_s <= STATUS_GOAL,
                    summary=count == max(sizes("migrations")),
                ),
                row(
                    f"peak memory, TUI open on {n:,} migrations",
                    fmt_bytes(max(rss)),
                    fmt_bytes(max(peer_rss)),
                    max(rss) / max(peer_rss),
                    "(reported)",
                    True,
                    summary=count == max(sizes("migrations")),
                ),
            ]
    rows += [
        growth_rows("TUI status filled", "migrations", curve["status"], curve["peer"]),
        growth_rows("TUI peak memory", "migrations", curve["rss"]),
    ]
    chart(
        "tui",
        "TUI: first frame and status filled (new process)",
        "migrations",
        "s",
        {"dbtui status filled": curve["status"], "dbtui first frame": curve["frame"], "one-label app": curve["peer"]},
    )
    chart(
        "tui_memory",
        "TUI peak memory (RSS)",
        "migrations",
        "MB",
        {"dbtui": curve["rss"], "one-label app": curve["peer_rss"]},
    )
    return rows


if __name__ == "__main__":
    from bench.__main__ import print_table

    print_table(run())
