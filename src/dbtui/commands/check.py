"""``dbtui check [--json] [--database] [--all]``: convention, annotation and operation findings, like a linter."""

from __future__ import annotations

import argparse
import json
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING

from dbtui import exit_codes

if TYPE_CHECKING:
    from database.dev.conventions import CheckResult, Finding
    from dbtui.context import Context


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "check",
        help="convention and annotation findings",
        description="Check the schema against the conventions and schema_annotations.yaml, and the migrations "
        "pending on the database (--database-url, else the development one) for statements that lock or "
        "rewrite a live table. By default a fresh throwaway database is migrated from migrations/ and "
        "checked; exit 1 when an error is found.",
    )
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.add_argument(
        "--database",
        action="store_true",
        help="check the development database (or --database-url) as it is, instead of a fresh one",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        dest="all_migrations",
        help="judge the statements of every migration, not only the pending ones",
    )
    parser.set_defaults(func=_check)


def _check(args: argparse.Namespace, ctx: Context) -> int:
    from database.dev.operation_rules import check_all  # imported when used, like every command's dependencies

    ctx.require_session("check")
    result = check_all(
        ctx.project,
        target=ctx.url(),
        url=ctx.url() if args.database else None,
        server=ctx.explicit_url(),
        all_migrations=args.all_migrations,
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(format_result(result))
    return exit_codes.OK if result.ok else exit_codes.PROBLEM


def format_result(result: CheckResult) -> str:
    """Convention findings grouped by table, operation findings by migration, ``file:line: rule: message`` with the
    fix below, then notes and a summary."""
    out: list[str] = []
    schema = [f for f in result.findings if f.lock is None]
    for table, findings in groupby(schema, key=lambda f: f.table or ""):
        out.append(f"{table}:")
        out.extend(_finding_lines(f) for f in findings)
    out.extend(format_operations([f for f in result.findings if f.lock is not None]))
    for problem in result.source_problems:
        where = f"{problem.path}:{problem.line}" if problem.line else str(problem.path)
        out.append(f"{where}: note: {problem.message}; source lines from it are unknown")
    out.append(result.summary())
    return "\n".join(out)


def format_operations(findings: list[Finding]) -> list[str]:
    """Risky statements grouped by migration: ``file:line: rule [LOCK]: message`` and the fix."""
    out: list[str] = []
    for migration, group in groupby(findings, key=lambda f: f.migration or ""):
        out.append(f"{Path(migration).name.removesuffix('.sql')} (statements that lock or rewrite live tables):")
        out.extend(_finding_lines(f) for f in group)
    return out


def _finding_lines(finding: Finding) -> str:
    from database.dev.conventions import ERROR

    severity = "" if finding.severity == ERROR else f" ({finding.severity})"
    lock = f" [{finding.lock}]" if finding.lock else ""
    where = finding.location or "(source line unknown)"
    lines = [f"  {where}: {finding.rule}{severity}{lock}: {finding.message}"]
    if finding.fix:
        fix = finding.fix.splitlines()
        lines.append("      fix: " + fix[0])
        lines.extend("           " + line for line in fix[1:])
    return "\n".join(lines)
