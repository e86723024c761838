"""``dbtui locks [--json]``: advisory locks held and awaited, by name."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import TYPE_CHECKING

from dbtui.durations import age
from dbtui.untrusted import visible

if TYPE_CHECKING:
    from database.dev.locks import LockInfo
    from dbtui.context import Context


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "locks",
        help="advisory locks held and awaited",
        description="List advisory locks held and awaited in the database.",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=_locks)


def format_table(locks: list[LockInfo]) -> str:
    """Aligned columns, holders before waiters; an empty line says so. Names and applications come from other
    clients: shown escaped (the JSON output escapes them anyway)."""
    if not locks:
        return "no advisory locks held or awaited"
    header = ("NAME", "KEY", "PID", "STATE", "FOR", "BLOCKED BY", "APPLICATION")
    rows = [
        (
            visible(lock.name or "?"),
            str(lock.key),
            str(lock.pid),
            "held" if lock.granted else "waiting",
            age(lock.since, dt.datetime.now(dt.UTC)) if lock.since else "-",
            ",".join(map(str, lock.blocked_by)) or "-",
            visible(lock.application_name or "-"),
        )
        for lock in locks
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in (header, *rows))


def _locks(args: argparse.Namespace, ctx: Context) -> int:
    from database.dev.locks import list_locks  # imported when used, like every command's dependencies: fast start-up

    locks = list_locks(ctx.url())
    if args.json:
        print(json.dumps({"locks": [lock.to_json() for lock in locks]}, indent=2))
    else:
        print(format_table(locks))
    return 0
