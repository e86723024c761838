"""``dbtui db start|stop|status|url|gc``: the embedded development cluster and this user's shared scratch server."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from database.dev.servers import ServerView
    from dbtui.context import Context


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "db", help="the embedded PostgreSQL cluster", description="Manage the embedded development cluster."
    )
    actions = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    start = actions.add_parser("start", help="start the cluster (initialise it on first use)")
    start.set_defaults(func=_start)
    stop = actions.add_parser(
        "stop",
        help="stop the cluster, and the shared scratch server when no one else uses it",
        description="Stop this project's cluster, and this user's shared scratch server (throwaway test and codegen "
        "databases) unless other clients are connected to it.",
    )
    stop.add_argument(
        "--purge",
        action="store_true",
        help="also delete the scratch server's files (throwaway databases, in memory on /dev/shm)",
    )
    stop.set_defaults(func=_stop)
    status = actions.add_parser("status", help="this project's cluster, and every dbtui server of this user")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=_status)
    url = actions.add_parser("url", help="print the URL (starts the cluster when needed)")
    url.set_defaults(func=_url)
    gc = actions.add_parser(
        "gc",
        help="free what deleted projects and unused templates hold, and say what",
        description="Stop servers of deleted projects, remove their folders and old scratch "
        "folders, and drop least recently used templates over the budget.",
    )
    gc.set_defaults(func=_gc)


def _start(args: argparse.Namespace, ctx: Context) -> int:
    from database.dev import server  # imported when used, like every command's dependencies: fast start-up

    cluster = server.dev_cluster(ctx.project)
    was_running = cluster.answers()
    url = cluster.ensure_running()
    print(f"{'already running' if was_running else 'started'}: {url}")
    return 0


def _stop(args: argparse.Namespace, ctx: Context) -> int:
    from database.dev import server, servers  # imported when used, like every command's dependencies: fast start-up

    said = []
    if server.dev_cluster(ctx.project).stop():
        said.append("stopped the development cluster")
    scratch = server.scratch_cluster(ctx.project)
    stopped, clients = servers.stop_if_unused(scratch)
    if stopped:
        said.append("stopped the shared scratch server")
    elif clients:
        said.append(
            f"left the shared scratch server running: {clients} client{'s' if clients != 1 else ''} "
            f"connected (other projects or worktrees of yours)"
        )
    if args.purge:
        freed = scratch.purge() if not clients else 0
        said.append(f"purged the scratch server's files: {_size(freed)} freed" if freed else "nothing to purge")
    print("\n".join(said) if said else "not running")
    return 0


def _status(args: argparse.Namespace, ctx: Context) -> int:
    from database.dev import server, servers  # imported when used, like every command's dependencies: fast start-up

    cluster = server.dev_cluster(ctx.project)
    status = cluster.status()
    views = servers.list_servers(cluster)
    if args.json:
        print(
            json.dumps(
                {
                    "running": status.running,
                    "state": status.state,
                    "detail": status.detail,
                    "pid": status.pid,
                    "url": status.url,
                    "data_dir": str(status.data_dir),
                    "socket_dir": str(status.socket_dir),
                    "version": status.version,
                    "binaries": str(status.binaries.bin_dir) if status.binaries else None,
                    "binaries_source": status.binaries.source if status.binaries else None,
                    "servers": [asdict(v) for v in views],
                },
                indent=2,
            )
        )
        return 0
    state = {
        "running": f"running (pid {status.pid})",
        "stopped": "stopped",
        "full": f"running (pid {status.pid}) but refusing new connections: {status.detail}",
    }.get(status.state, f"{status.state} (pid {status.pid}): {status.detail}")
    print(f"cluster:  {state}")
    print(f"data:     {status.data_dir}")
    print(f"url:      {status.url}")
    if status.binaries:
        print(f"server:   PostgreSQL {status.binaries.version} ({status.binaries.source}: {status.binaries.bin_dir})")
    print("\ndbtui servers of this user on this machine:")
    rows = [("PROJECT", "STATE", "PID", "MEMORY", "DISK", "IDLE", "STARTED BY", "")] + [_row(v) for v in views]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _row(view: ServerView) -> tuple[str, ...]:
    if view.idle_seconds is None:
        idle = "-"
    elif view.clients:
        idle = f"in use ({view.clients})"
    else:
        idle = _duration(view.idle_seconds) + (f" of {_duration(view.idle_timeout)}" if view.idle_timeout else "")
    started = (
        "-"
        if view.started_by is None
        else f"{view.started_by}, {time.strftime('%H:%M', time.localtime(view.started_at))}"
    )
    return (
        view.project,
        view.state,
        str(view.pid or "-"),
        _size(view.memory_bytes),
        _size(view.disk_bytes),
        idle,
        started,
        view.stop_reason or "",
    )


def _size(count: int | None) -> str:
    if count is None:
        return "-"
    return f"{count / 2**20:.0f} MB" if count >= 2**20 else f"{count / 2**10:.0f} kB"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _url(args: argparse.Namespace, ctx: Context) -> int:
    from database.dev import server  # imported when used, like every command's dependencies: fast start-up

    print(server.dev_cluster(ctx.project).ensure_running())
    return 0


def _gc(args: argparse.Namespace, ctx: Context) -> int:
    from database.dev import server, servers, testdb  # imported when used: fast start-up

    freed = [(f.what, f.bytes) for f in servers.collect()]
    scratch = server.scratch_cluster(ctx.project)
    if scratch.answers():
        freed += [
            (f"template {d.template} and its spares (least recently used)", d.bytes)
            for d in testdb.prune_server(scratch.url())
        ]
    for what, count in freed:
        print(f"freed {_size(count)}: {what}")
    total = sum(count for _, count in freed)
    print(f"freed {_size(total)} in all" if freed else "nothing to free")
    return 0
