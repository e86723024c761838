"""``dbtui codegen [--check]`` and ``dbtui watch``: schema.sql and the typed ORM from queries.sql."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from database.errors import ProblemFound

if TYPE_CHECKING:
    from dbtui.context import Context


def register(sub: argparse._SubParsersAction) -> None:
    codegen = sub.add_parser(
        "codegen",
        help="write schema.sql and the ORM from queries.sql",
        description="Compile queries.sql against a throwaway migrated database; write schema.sql and the ORM.",
    )
    codegen.add_argument("--check", action="store_true", help="write nothing; exit 1 when either file is stale")
    codegen.set_defaults(func=_codegen)
    watcher = sub.add_parser(
        "watch",
        help="rerun codegen when queries.sql or migrations/ change",
        description="Recompile on every save of queries.sql; rebuild when migrations/ change. Ctrl-C stops.",
    )
    watcher.set_defaults(func=_watch)


def _codegen(args: argparse.Namespace, ctx: Context) -> int:
    from database.dev.codegen import generate  # imported when used, like every command's dependencies: fast start-up

    project = ctx.project
    # The pooler check connects: done only when the compile needs the database (a cached run needs none).
    result = generate(
        project, url=ctx.explicit_url(), check=args.check, before_database=lambda: ctx.require_session("codegen")
    )
    for warning in result.output.warnings:
        print(warning, file=sys.stderr)
    from database.dev.paths import relative

    names = ", ".join(relative(p, project.root) for p in result.stale)
    if args.check:
        if result.stale:
            raise ProblemFound(f"stale: {names} (run 'dbtui codegen')")
        print("up to date")
    else:
        print(f"wrote {names}" if result.stale else "up to date")
    return 0


def _watch(args: argparse.Namespace, ctx: Context) -> int:
    from database.dev.codegen.watch import Failed, Finished, Started, watch

    project = ctx.project
    ctx.require_session("watch")
    for event in watch(project, url=ctx.explicit_url()):
        if isinstance(event, Started):
            print(f"compiling ({event.reason}) …", flush=True)
        elif isinstance(event, Finished):
            for warning in event.warnings:
                print(warning, flush=True)
            files = ", ".join(p.name for p in event.written) or "nothing changed"
            print(f"ok in {event.duration * 1000:.0f} ms: {files}; {len(event.signatures)} functions", flush=True)
        elif isinstance(event, Failed):
            print(f"error: {event}", flush=True)
            if event.query:
                print("    " + event.query.replace("\n", "\n    "), flush=True)
    return 0
