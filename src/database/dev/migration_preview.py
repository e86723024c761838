"""``migrate --dry-run`` and ``migrate --verify``: run the pending migrations on a throwaway clone, never the real one.

The clone reproduces the database's *applied* state: a fresh database on the same server with exactly the applied
migrations, built through testdb (a template per distinct set of files, so the second dry-run clones in
milliseconds). We do not ``CREATE DATABASE … TEMPLATE`` the real database: Postgres refuses while anyone else is
connected to it (the app, a psql, the TUI), which is most of the time. The price: the clone is built from the files
as they are now, so an applied migration edited since is reported, because the clone may then differ from the real
database.
"""

from __future__ import annotations

import difflib
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from database.dev import migrations, testdb
from database.dev.migration_status import StatusReport, plan_migrate, read_status
from database.dev.migration_tree import load_tree
from database.dev.schema_dump import dump_schema
from database.errors import ConfigError


@dataclass(frozen=True)
class DryRun:
    planned: tuple[str, ...]
    before: str
    after: str

    @property
    def diff(self) -> str:
        """The squashed schema change as a unified diff ("" when the schema does not change)."""
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                "schema before",
                "schema after",
                n=2,
            )
        )


@dataclass(frozen=True)
class Verification:
    """One pending migration through apply → rollback → apply; ``problem`` is None when it round-trips exactly."""

    id: str
    problem: str | None
    diff: str  # what differs, when something does

    @property
    def ok(self) -> bool:
        return self.problem is None


def dry_run(
    url: str, directory: Path, target: str | None = None, *, on_event: migrations.OnEvent | None = None
) -> DryRun:
    """Apply what ``migrate [target]`` would apply to a clone of ``url``; returns the schema before and after."""
    tree = load_tree(directory)
    report = read_status(url, tree)
    planned = tuple(plan_migrate(report, target))
    with applied_clone(url, report, on_event) as clone:
        before = dump_schema(clone)
        if planned:
            migrations.migrate(clone, tree, target, on_event=on_event)
        after = dump_schema(clone) if planned else before
    return DryRun(planned, before, after)


def verify(
    url: str, directory: Path, target: str | None = None, *, on_event: migrations.OnEvent | None = None
) -> list[Verification]:
    """On a clone, each pending migration in order: apply, roll back (the schema must be exactly as before), apply
    again (exactly as after the first apply). Stops at the first migration that fails to apply."""
    tree = load_tree(directory)
    report = read_status(url, tree)
    results = []
    with applied_clone(url, report, on_event) as clone:
        for migration_id in plan_migrate(report, target):
            before = dump_schema(clone)
            migrations.migrate(clone, tree, migration_id, on_event=on_event)
            after = dump_schema(clone)
            if not tree[migration_id].has_rollback:
                results.append(Verification(migration_id, "no rollback file", ""))
                continue
            migrations.rollback(clone, tree, migration_id, on_event=on_event)
            rolled_back = dump_schema(clone)
            if rolled_back != before:
                results.append(
                    Verification(
                        migration_id,
                        "rollback does not restore the schema",
                        _diff(before, rolled_back, "before apply", "after rollback"),
                    )
                )
                migrations.migrate(clone, tree, migration_id)  # go on from the applied state
                continue
            migrations.migrate(clone, tree, migration_id, on_event=on_event)
            again = dump_schema(clone)
            problem = None if again == after else "applying again after the rollback gives a different schema"
            results.append(Verification(migration_id, problem, _diff(after, again, "first apply", "second apply")))
    return results


def _diff(a: str, b: str, name_a: str, name_b: str) -> str:
    return "".join(difflib.unified_diff(a.splitlines(keepends=True), b.splitlines(keepends=True), name_a, name_b, n=2))


@contextmanager
def applied_clone(
    url: str, report: StatusReport, on_event: migrations.OnEvent | None = None, *, server: str | None = None
) -> Iterator[str]:
    """A throwaway database on ``url``'s server (or on ``server``) holding exactly the migrations ``url`` has
    applied; dropped after."""
    tree = report.tree
    if report.missing:
        raise ConfigError(
            f"cannot reproduce the database: applied migrations missing on disk: {', '.join(report.missing)}"
        )
    applied = set(report.applied)
    for migration_id in applied:
        unapplied = tree.ancestors(migration_id) - applied
        if unapplied:
            raise ConfigError(
                f"cannot reproduce the database: {migration_id} is applied but its dependency"
                f" {sorted(unapplied)[0]} is not"
            )
    if report.edited and on_event:
        on_event(
            migrations.Notice(
                f"warning: the clone is built from the files as they are now; edited since applied:"
                f" {', '.join(report.edited)}"
            )
        )
    with tempfile.TemporaryDirectory(prefix="dbtui-applied-") as folder:
        for node in tree:
            if node.id in applied:
                for path in (node.path, node.rollback_path):
                    if path:
                        shutil.copyfile(path, Path(folder) / path.name)
        clone = testdb.create_database(migrations_dir=Path(folder), url=testdb.with_database(server or url, "postgres"))
    try:
        yield clone
    finally:
        testdb.drop_database(clone)
