"""``dbtui status|migrate|rollback|new-migration``: the migration tree, from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from database.errors import ConfigError, ProblemFound

if TYPE_CHECKING:
    from database.dev.migration_status import StatusReport
    from database.dev.migrations import MigrationEvent
    from dbtui.context import Context

# database.dev.migrations.DEFAULT_LOCK_TIMEOUT (tests/cli/test_cli_startup.py checks they agree): importing that
# module here would load yoyo and psycopg for every command, even --help.
DEFAULT_LOCK_TIMEOUT = 120.0


def register(sub: argparse._SubParsersAction) -> None:
    status = sub.add_parser(
        "status",
        help="migration tree with state",
        description="Show every migration: applied or pending, edited since applied, heads.",
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_status)

    migrate = sub.add_parser(
        "migrate",
        help="apply all pending, or ID and its unapplied ancestors",
        description="Apply pending migrations in dependency order, each in its own transaction.",
    )
    migrate.add_argument(
        "id",
        nargs="?",
        metavar="ID",
        help="apply only this migration and its unapplied ancestors (a unique prefix will do)",
    )
    mode = migrate.add_mutually_exclusive_group()
    mode.add_argument(
        "--dry-run",
        action="store_true",
        help="apply to a throwaway clone and print the schema change; the database is not touched",
    )
    mode.add_argument(
        "--verify", action="store_true", help="on a clone, check each pending migration survives apply, rollback, apply"
    )
    migrate.add_argument(
        "--yes",
        "-y",
        action="store_true",
        help="apply statements that lock or rewrite live tables without asking (asked only for a "
        "database other than the embedded development one)",
    )
    _lock_timeout(migrate)
    migrate.set_defaults(func=_migrate)

    rollback = sub.add_parser(
        "rollback",
        help="roll back ID and its applied descendants",
        description="Roll back a migration and every applied migration depending on it, newest first.",
    )
    rollback.add_argument("id", metavar="ID")
    rollback.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    rollback.add_argument(
        "--unmark",
        action="store_true",
        help="for migrations without a rollback file: mark them unapplied; the schema is NOT changed",
    )
    _lock_timeout(rollback)
    rollback.set_defaults(func=_rollback)

    new = sub.add_parser("new-migration", help="new migration file on the current heads, plus its rollback file")
    new.add_argument("name", metavar="NAME", help="lowercase words joined by underscores, e.g. add_invoices")
    new.set_defaults(func=_new_migration)


def _lock_timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lock-timeout",
        type=_seconds,
        default=DEFAULT_LOCK_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for another migrator; 0: do not wait (default {DEFAULT_LOCK_TIMEOUT:g})",
    )


def _seconds(text: str) -> float:
    """A finite number of seconds, 0 or more (argparse turns the ValueError into a usage error, exit 2)."""
    value = float(text)
    if not 0 <= value < float("inf"):
        raise ValueError(text)
    return value


_STATE = {"applied": "●", "pending": "○", "edited": "✱", "missing": "✗"}


def _status(args: argparse.Namespace, ctx: Context) -> int:
    from database.dev.migration_status import read_status  # imported when used, like every command's dependencies
    from database.dev.migration_tree import load_tree

    project = ctx.project
    report = read_status(ctx.url(), load_tree(project.migrations, cache_dir=project.data_dir / "cache"))
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return 0
    print(render_status(report))
    return 0


def render_status(report: StatusReport) -> str:
    """The DAG with one line per migration, then the summary."""
    from database.dev.migration_tree import NODE, draw_graph

    rows = draw_graph(report.tree)
    width = max((len(glyphs) for _, glyphs in rows), default=0) + 1
    id_width = max((len(m.id) for m in report.migrations), default=0) + 2
    lines = []
    for migration_id, glyphs in rows:
        if migration_id is None:
            lines.append(glyphs)
            continue
        m = report[migration_id]
        state = "edited" if m.edited else "applied" if m.applied else "pending"
        notes = []
        if m.applied:
            notes.append(f"applied {m.applied_at:%Y-%m-%d %H:%M}")
        else:
            notes.append("pending")
        if m.edited:
            notes.append("EDITED since applied")
        if not m.rollback:
            notes.append("no rollback")
        if len(m.depends) > 1:
            notes.append(f"merges {' + '.join(m.depends)}")
        if m.head:
            notes.append("head")
        lines.append(f"{glyphs.replace(NODE, _STATE[state]):<{width}}{m.id:<{id_width}}{', '.join(notes)}")
    for m in report.migrations:
        if m.missing:
            lines.append(
                f"{_STATE['missing']:<{width}}{m.id:<{id_width}}applied {m.applied_at:%Y-%m-%d %H:%M}, FILE MISSING"
            )
    if not report.migrations:
        lines.append(f"no migrations in {report.tree.directory}")
    lines.append(report.summary())
    return "\n".join(lines)


def _progress(event: MigrationEvent) -> None:
    """Print progress as it happens: the TUI gets the same events."""
    from database.dev.migrations import MigrationDone, MigrationFailed, MigrationStarted, Notice

    if isinstance(event, MigrationStarted):
        verb = {"apply": "applying", "rollback": "rolling back", "unmark": "marking unapplied (schema unchanged)"}[
            event.direction
        ]
        print(f"[{event.index + 1}/{event.total}] {verb} {event.id} …", end="", flush=True)
    elif isinstance(event, MigrationDone):
        print(f" ok ({event.seconds * 1000:.0f} ms)", flush=True)
    elif isinstance(event, MigrationFailed):
        print(" FAILED", flush=True)
    elif isinstance(event, Notice):
        print(f"dbtui: {event.message}", file=sys.stderr, flush=True)


def _migrate(args: argparse.Namespace, ctx: Context) -> int:
    from database.dev import migration_preview, migrations

    ctx.require_session("migrate")
    url, directory = ctx.url(), ctx.project.migrations
    if args.dry_run:
        result = migration_preview.dry_run(url, directory, args.id, on_event=_progress)
        if not result.planned:
            print("nothing to apply")
            return 0
        print(result.diff or "-- the schema does not change", end="" if result.diff else "\n")
        print(f"dry run: {len(result.planned)} migration(s) applied to a throwaway clone; the database was not changed")
        return 0
    if args.verify:
        results = migration_preview.verify(url, directory, args.id, on_event=_progress)
        if not results:
            print("nothing to verify: no pending migrations")
            return 0
        for r in results:
            print(f"{'ok  ' if r.ok else 'FAIL'} {r.id}{'' if r.ok else ': ' + (r.problem or 'failed')}")
            if r.diff:
                print(r.diff, end="")
        failed = [r.id for r in results if not r.ok]
        if failed:
            raise ProblemFound(f"{len(failed)} of {len(results)} migration(s) do not round-trip: {', '.join(failed)}")
        print(f"verified {len(results)} migration(s): apply, rollback, apply restore the schema exactly")
        return 0
    if not args.yes and not _confirm_risky(ctx, url, args.id):
        print("nothing applied")
        return 0
    applied = migrations.migrate(url, directory, args.id, on_event=_progress, lock_timeout=args.lock_timeout)
    print(f"applied {len(applied.done)} migration(s)" if applied.done else "nothing to apply: up to date")
    return 0


def _confirm_risky(ctx: Context, url: str, target: str | None) -> bool:
    """Before migrating a database other than the embedded development one: list the planned statements that lock or
    rewrite live tables and ask. No terminal to ask on: refuse (exit 2), nothing applied."""
    from database.config import redact
    from database.dev.migration_status import plan_migrate, read_status
    from database.dev.operation_rules import check_operations, is_dev_cluster
    from dbtui.commands.check import format_operations

    if is_dev_cluster(url, ctx.project):
        return True
    planned = plan_migrate(read_status(url, ctx.project.migrations), target)
    # A migration that fails on the clone stops the judging there; the real run then reports it like any failure.
    risky = list(check_operations(ctx.project, url, ids=planned, stop_at_failure=True).findings) if planned else []
    if not risky:
        return True
    rules = ", ".join(dict.fromkeys(f.rule for f in risky))
    if not sys.stdin.isatty():
        raise ConfigError(
            f"{len(risky)} statement(s) would lock or rewrite live tables of {redact(url)} ({rules}); "
            "pass --yes to apply anyway (no terminal to ask on); nothing was applied",
            path=risky[0].migration,
            line=risky[0].line,
        )
    print("\n".join(format_operations(risky)))
    answer = input(f"apply {len(planned)} migration(s) with {len(risky)} risky statement(s) to {redact(url)}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _rollback(args: argparse.Namespace, ctx: Context) -> int:
    from database.dev import migrations
    from database.dev.migration_status import read_status

    ctx.require_session("rollback")
    url, directory = ctx.url(), ctx.project.migrations
    if not args.yes:
        planned = migrations.rollback_plan(read_status(url, directory), args.id, unmark=args.unmark)
        if not sys.stdin.isatty():
            raise ConfigError(
                f"rollback would undo {', '.join(planned)}; pass --yes to confirm (no terminal to ask on)"
            )
        answer = input(f"roll back {', '.join(planned)}? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("nothing rolled back")
            return 0
    result = migrations.rollback(
        url, directory, args.id, unmark=args.unmark, on_event=_progress, lock_timeout=args.lock_timeout
    )
    print(f"rolled back {len(result.done)} migration(s)")
    return 0


def _new_migration(args: argparse.Namespace, ctx: Context) -> int:
    from database.dev.migration_tree import new_migration

    created = new_migration(ctx.project.migrations, args.name)
    print(created.path)
    print(created.rollback_path)
    if len(created.depends) > 1:
        print(
            f"dbtui: note: it depends on {len(created.depends)} heads and merges them: {', '.join(created.depends)}",
            file=sys.stderr,
        )
    return 0
