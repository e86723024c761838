"""``dbtui db start|stop|status|url``: the embedded development cluster."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dbtui.context import Context


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("db", help="the embedded PostgreSQL cluster", description="Manage the embedded development cluster.")
    actions = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    start = actions.add_parser("start", help="start the cluster (initialise it on first use)")
    start.set_defaults(func=_start)
    stop = actions.add_parser("stop", help="stop the cluster and the scratch cluster for throwaway databases")
    stop.set_defaults(func=_stop)
    status = actions.add_parser("status", help="is it running, where, which version")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=_status)
    url = actions.add_parser("url", help="print the URL (starts the cluster when needed)")
    url.set_defaults(func=_url)


def _start(args: argparse.Namespace, ctx: Context) -> int:
    from database.dev import server  # imported when used, like every command's dependencies: fast start-up

    cluster = server.dev_cluster(ctx.project)
    was_running = cluster.answers()
    url = cluster.ensure_running()
    print(f"{'already running' if was_running else 'started'}: {url}")
    return 0


def _stop(args: argparse.Namespace, ctx: Context) -> int:
    from database.dev import server  # imported when used, like every command's dependencies: fast start-up

    stopped = [c for c in (server.dev_cluster(ctx.project), server.scratch_cluster(ctx.project)) if c.stop()]
    print(f"stopped {len(stopped)} cluster{'s' if len(stopped) != 1 else ''}" if stopped else "not running")
    return 0


def _status(args: argparse.Namespace, ctx: Context) -> int:
    from database.dev import server  # imported when used, like every command's dependencies: fast start-up

    status = server.dev_cluster(ctx.project).status()
    if args.json:
        print(json.dumps({
            "running": status.running, "pid": status.pid, "url": status.url, "data_dir": str(status.data_dir),
            "socket_dir": str(status.socket_dir), "version": status.version,
            "binaries": str(status.binaries.bin_dir) if status.binaries else None,
            "binaries_source": status.binaries.source if status.binaries else None,
        }, indent=2))
        return 0
    state = f"running (pid {status.pid})" if status.running else "stopped"
    print(f"cluster:  {state}")
    print(f"data:     {status.data_dir}")
    print(f"url:      {status.url}")
    if status.binaries:
        print(f"server:   PostgreSQL {status.binaries.version} ({status.binaries.source}: {status.binaries.bin_dir})")
    return 0


def _url(args: argparse.Namespace, ctx: Context) -> int:
    from database.dev import server  # imported when used, like every command's dependencies: fast start-up

    print(server.dev_cluster(ctx.project).ensure_running())
    return 0
