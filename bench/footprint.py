"""``python -m bench.footprint [N]``: what one project and N worktrees cost on this machine: processes, memory, disk.

Each checkout does what a developer's day does: starts its development server, migrates it, and gets two test
databases from the shared scratch server. Measured in a private user folder ($DBTUI_RUNTIME_DIR), so the numbers are
this run's only. Printed as a markdown table for docs/server.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from database.config import Project
from database.dev import migrations, server, servers, testdb

REPO = Path(__file__).resolve().parent.parent


def _checkout(root: Path) -> None:
    shutil.copytree(REPO / "migrations", root / "migrations")
    (root / "pyproject.toml").write_text("[tool.dbtui]\n")
    git = ["git", "-c", "user.email=b@example.invalid", "-c", "user.name=b"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "init"]):
        subprocess.run([*git, *args], cwd=root, check=True)


def _day_of_work(project: Project) -> None:
    migrations.apply_all(server.dev_cluster(project).ensure_running(), project.migrations)
    for url in [testdb.create_database(project=project) for _ in range(2)]:
        testdb.drop_database(url)
    testdb.wait_for_spares()


def _watchers() -> list[int]:
    """The idle watcher of this run's user folder (one per user)."""
    mine = f"DBTUI_RUNTIME_DIR={os.environ['DBTUI_RUNTIME_DIR']}".encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if b"watch-idle" in (proc / "cmdline").read_bytes().split(b"\0") and mine in (
                proc / "environ"
            ).read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:
            pass
    return found


def _row(label: str, views: list[servers.ServerView]) -> str:
    pids = [v.pid for v in views if v.pid]
    processes = sum(1 + sum(1 for _ in _children(pid)) for pid in pids)
    watchers = _watchers()
    memory = sum(v.memory_bytes or 0 for v in views) / 2**20
    watching = sum(servers.memory_use(w) or 0 for w in watchers) / 2**20
    dev_disk = sum(v.disk_bytes for v in views if v.kind == "dev") / 2**20
    shm = sum(v.disk_bytes for v in views if v.kind == "scratch") / 2**20
    return (
        f"| {label} | {len(pids)} | {processes} + {len(watchers)} | {memory:.0f} MB + {watching:.0f} MB | "
        f"{dev_disk:.0f} MB | {shm:.0f} MB |"
    )


def _children(pid: int):
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                yield int(stat.parent.name)
        except (OSError, IndexError, ValueError):
            pass


def main(worktrees: int = 3) -> None:
    runtime = Path(tempfile.mkdtemp(prefix="dbtui-footprint-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    os.chmod(runtime, 0o1777)
    work = Path(tempfile.mkdtemp(prefix="dbtui-footprint-"))
    os.chmod(work, 0o755)
    os.environ["DBTUI_RUNTIME_DIR"] = str(runtime)
    os.environ.pop("DATABASE_URL", None)
    try:
        _checkout(work / "main")
        checkouts = [work / "main"]
        print(
            "| checkouts | servers | processes: postgres + watchers | memory (PSS): postgres + watchers | disk (dev data) | /dev/shm (scratch) |"
        )
        print("|---|---|---|---|---|---|")
        for k in range(worktrees + 1):
            if k:
                subprocess.run(["git", "worktree", "add", "-q", str(work / f"wt{k}")], cwd=work / "main", check=True)
                checkouts.append(work / f"wt{k}")
            _day_of_work(Project.load(checkouts[-1]))
            label = "1 project" if k == 0 else f"1 project + {k} worktree{'s' if k > 1 else ''}"
            print(_row(label, servers.list_servers()), flush=True)
    finally:
        for record in server.read_records():
            servers.cluster_of(record).stop()
            shutil.rmtree(record.socket_dir, ignore_errors=True)
        shutil.rmtree(runtime, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
