"""Which migrations a database has applied, which are pending or edited, and what a migrate or rollback would run.

Reading status is a plain SELECT on yoyo's ``_yoyo_migration`` and our ``_dbtui_migration`` (content checksums):
no DDL, no locks, so it is safe and fast against any database. Missing tables mean nothing is applied yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from database.dev import pg
from database.dev.migration_tree import MigrationNode, MigrationTree, load_tree
from database.errors import ConfigError

YOYO_TABLE = "_yoyo_migration"
CHECKSUM_TABLE = "_dbtui_migration"


@dataclass(frozen=True)
class AppliedRecord:
    """A row of yoyo's table, with the checksum we recorded when we applied it (None: applied by something else)."""

    id: str
    applied_at: datetime
    checksum: str | None


@dataclass(frozen=True)
class MigrationStatus:
    """One migration's state; the first seven fields are ``dbtui status --json``'s."""

    id: str
    applied: bool
    applied_at: datetime | None
    depends: tuple[str, ...]
    rollback: bool
    edited: bool | None  # None: applied without a recorded checksum, so we cannot tell
    head: bool
    children: tuple[str, ...] = ()
    node: MigrationNode | None = None  # None: applied in the database but its file is gone

    @property
    def path(self) -> Path | None:
        return self.node.path if self.node else None

    @property
    def missing(self) -> bool:
        return self.node is None

    @property
    def sql(self) -> str | None:
        return self.node.sql if self.node else None

    @property
    def rollback_sql(self) -> str | None:
        return self.node.rollback_sql if self.node else None

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "applied": self.applied,
            "applied_at": self.applied_at.isoformat() if self.applied_at else None,
            "depends": list(self.depends),
            "rollback": self.rollback,
            "edited": self.edited,
            "head": self.head,
            "file": str(self.path) if self.path else None,
            "children": list(self.children),
            "missing": self.missing,
        }


@dataclass(frozen=True)
class StatusReport:
    """The tree joined with the database's state, in the tree's topological order (then files gone from disk)."""

    tree: MigrationTree
    migrations: tuple[MigrationStatus, ...]

    def __getitem__(self, migration_id: str) -> MigrationStatus:
        return self._by_id[migration_id]

    @cached_property
    def _by_id(self) -> dict[str, MigrationStatus]:
        """An index, built once: the TUI looks up every row by id, which a scan made quadratic (2,000 migrations:
        two million comparisons per redraw of the table)."""
        return {m.id: m for m in self.migrations}

    @property
    def applied(self) -> list[str]:
        return [m.id for m in self.migrations if m.applied]

    @property
    def pending(self) -> list[str]:
        return [m.id for m in self.migrations if not m.applied]

    @property
    def edited(self) -> list[str]:
        return [m.id for m in self.migrations if m.edited]

    @property
    def missing(self) -> list[str]:
        return [m.id for m in self.migrations if m.missing]

    def summary(self) -> str:
        text = f"applied {len(self.applied)}, pending {len(self.pending)}, edited {len(self.edited)}"
        if self.missing:
            text += f", missing {len(self.missing)} (applied, file gone: {', '.join(self.missing)})"
        return text

    def to_json(self) -> dict:
        return {"migrations": [m.to_json() for m in self.migrations]}


def read_applied(url: str) -> dict[str, AppliedRecord]:
    """What ``url`` has applied, by id, with a plain SELECT (no DDL, no locks)."""
    with pg.connect(url) as conn:
        return applied_records(conn)


def applied_records(conn: psycopg.Connection[Any]) -> dict[str, AppliedRecord]:
    """``read_applied`` on an open connection (the TUI's heartbeat reads it with the locks, on one connection)."""
    found = conn.execute("SELECT to_regclass(%s), to_regclass(%s)", (YOYO_TABLE, CHECKSUM_TABLE)).fetchone()
    assert found is not None  # a SELECT without FROM has its one row
    yoyo, ours = found
    if yoyo is None:
        return {}
    # one round trip: the checksums joined to yoyo's rows (NULL where we did not apply it, or have no table)
    checksum = sql.SQL("c.sha256") if ours else sql.SQL("NULL::text")
    joined = sql.SQL("LEFT JOIN {} c USING (migration_id)").format(sql.Identifier(CHECKSUM_TABLE))
    rows = conn.execute(
        sql.SQL("SELECT y.migration_id, y.applied_at_utc, {} FROM {} y {} ORDER BY y.applied_at_utc").format(
            checksum, sql.Identifier(YOYO_TABLE), joined if ours else sql.SQL("")
        )
    ).fetchall()
    return {i: AppliedRecord(i, at.replace(tzinfo=UTC), sha) for i, at, sha in rows}


def read_status(url: str, directory: Path | MigrationTree) -> StatusReport:
    """The migration tree in ``directory`` (re-read from disk) joined with what ``url`` has applied."""
    tree = directory if isinstance(directory, MigrationTree) else load_tree(directory)
    return join_status(tree, read_applied(url))


def join_status(tree: MigrationTree, applied: dict[str, AppliedRecord]) -> StatusReport:
    statuses = []
    for node in tree:
        record = applied.get(node.id)
        edited = None if record is None or record.checksum is None else record.checksum != node.checksum
        statuses.append(
            MigrationStatus(
                id=node.id,
                applied=record is not None,
                applied_at=record.applied_at if record else None,
                depends=node.depends,
                rollback=node.has_rollback,
                edited=False if record is None else edited,
                head=not node.children,
                children=node.children,
                node=node,
            )
        )
    for record in applied.values():
        if record.id not in tree:
            statuses.append(MigrationStatus(record.id, True, record.applied_at, (), False, None, False))
    return StatusReport(tree, tuple(statuses))


def plan_migrate(report: StatusReport, target: str | None = None) -> list[str]:
    """What ``migrate [target]`` applies, in order: every pending migration, or ``target`` and its unapplied
    ancestors (nothing else)."""
    tree = report.tree
    pending = set(report.pending) - set(report.missing)
    if target is not None:
        target = tree.resolve(target)
        pending &= tree.ancestors(target) | {target}
    return [i for i in tree.ids if i in pending]


def plan_rollback(report: StatusReport, target: str) -> list[str]:
    """What ``rollback target`` undoes, in order: its applied descendants, newest first, then ``target``."""
    tree = report.tree
    target = tree.resolve(target)
    if not report[target].applied:
        raise ConfigError(f"{target} is not applied; nothing to roll back")
    applied = set(report.applied)
    undo = (tree.descendants(target) | {target}) & applied
    return [i for i in reversed(tree.ids) if i in undo]
