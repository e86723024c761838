"""What a migrate or rollback would do, worked out before anything runs: the confirmation the TUI shows.

The same planners as ``dbtui migrate`` / ``dbtui rollback`` (on a fresh status), plus what a person deciding wants to
see: for a rollback, the SQL it will run and the tables and columns it drops; for a migrate, the convention errors
that the pending migrations bring (``dbtui check``'s own findings, on the migrations about to run) and, for a
database other than the embedded development one, the statements that would lock or rewrite live tables (the
operation rules ``dbtui migrate`` asks about).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from database.config import Project
from database.dev.migration_status import StatusReport, plan_migrate, read_status


@dataclass(frozen=True)
class Plan:
    direction: str  # "migrate" or "rollback"
    target: str | None  # None: every pending migration
    report: StatusReport  # the status it was planned on
    ids: list[str]  # in the order they run (a rollback: newest first)
    statements: list[tuple[str, str]]  # (migration id, the SQL it runs), for a rollback
    drops: list[str]  # what a rollback drops: "table invoices", "column users.nickname"
    warnings: list[str]  # convention errors in the pending migrations, "file:line: rule: message"
    risky: list[str]  # statements that lock or rewrite live tables (not on the dev cluster), like ``warnings``
    unchecked: str | None = None  # why the conventions could not be checked (the run itself will say more)


def plan_run(url: str, project: Project, direction: str, target: str | None) -> Plan:
    """Plan ``direction`` ("migrate" or "rollback") up to ``target``; raises what the CLI raises when refused."""
    from database.dev.migrations import rollback_plan

    report = read_status(url, project.migrations)
    if direction == "migrate":
        ids = plan_migrate(report, target)
        from database.errors import DbtuiError

        files = [report.tree[i].path for i in ids]
        try:
            warnings = convention_errors(project, files) if ids else []
        except DbtuiError as exc:  # e.g. a pending migration that does not apply: the run itself will say where
            return Plan(direction, target, report, ids, [], [], [], risky_statements(project, url, ids), str(exc))
        return Plan(direction, target, report, ids, [], [], warnings, risky_statements(project, url, ids))
    ids = rollback_plan(report, target or "")
    statements = [(i, report.tree[i].rollback_sql or "") for i in ids]
    drops = [dropped for _, sql in statements for dropped in dropped_objects(sql)]
    return Plan(direction, target, report, ids, statements, drops, [], [])


def dropped_objects(sql: str) -> list[str]:
    """The tables and columns ``sql`` drops, as ``table x`` / ``column t.c`` (pglast, the server's parser)."""
    import pglast
    from pglast import ast, enums

    try:
        statements = pglast.parse_sql(sql)
    except pglast.parser.ParseError:
        return []  # the run reports the syntax error with its line
    dropped = []
    for raw in statements:
        statement = raw.stmt
        if isinstance(statement, ast.DropStmt) and statement.removeType == enums.ObjectType.OBJECT_TABLE:
            for name in statement.objects or ():
                dropped.append("table " + ".".join(part.sval for part in name))
        elif isinstance(statement, ast.AlterTableStmt):
            for command in statement.cmds or ():
                if isinstance(command, ast.AlterTableCmd) and command.subtype == enums.AlterTableType.AT_DropColumn:
                    table = statement.relation.relname if statement.relation else "?"
                    dropped.append(f"column {table}.{command.name}")
    return dropped


def convention_errors(project: Project, files: list[Path]) -> list[str]:
    """Errors ``dbtui check`` finds in migration ``files`` (warnings, and findings in other files, left out)."""
    from database.dev.conventions import check

    return [
        f"{finding.location}: {finding.rule}: {finding.message}"
        for finding in check(project).findings
        if finding.severity == "error" and finding.migration and project.root / finding.migration in set(files)
    ]


def risky_statements(project: Project, url: str, ids: list[str]) -> list[str]:
    """What ``dbtui migrate`` asks about before migrating ``url``: statements of ``ids`` that lock or rewrite live
    tables; none on the embedded development cluster (nobody else uses it)."""
    from database.dev.operation_rules import check_operations, is_dev_cluster

    if not ids or is_dev_cluster(url, project):
        return []
    report = check_operations(project, url, ids=ids, stop_at_failure=True)
    return [f"{finding.location}: {finding.rule}: {finding.message}" for finding in report.findings]
