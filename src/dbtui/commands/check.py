"""``dbtui check [--json] [--database]``: convention and annotation findings, like a linter."""

from __future__ import annotations

import argparse
import json
from itertools import groupby
from typing import TYPE_CHECKING

from dbtui import exit_codes

if TYPE_CHECKING:
    from database.dev.conventions import CheckResult, Finding
    from dbtui.context import Context


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "check", help="convention and annotation findings",
        description="Check the schema against the conventions and schema_annotations.yaml. By default a fresh "
                    "throwaway database is migrated from migrations/ and checked; exit 1 when an error is found.",
    )
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.add_argument("--database", action="store_true",
                        help="check the development database (or --database-url) as it is, instead of a fresh one")
    parser.set_defaults(func=_check)


def _check(args: argparse.Namespace, ctx: Context) -> int:
    from database.dev.conventions import check  # imported when used, like every command's dependencies: fast start-up

    ctx.require_session("check")
    result = check(ctx.project, url=ctx.url() if args.database else None, server=ctx.explicit_url())
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(format_result(result))
    return exit_codes.OK if result.ok else exit_codes.PROBLEM


def format_result(result: CheckResult) -> str:
    """Findings grouped by table, ``file:line: rule: message`` with the fix below, then notes and a summary."""
    out: list[str] = []
    for table, findings in groupby(result.findings, key=lambda f: f.table or ""):
        out.append(f"{table}:")
        out.extend(_finding_lines(f) for f in findings)
    for problem in result.source_problems:
        where = f"{problem.path}:{problem.line}" if problem.line else str(problem.path)
        out.append(f"{where}: note: {problem.message}; source lines from it are unknown")
    out.append(result.summary())
    return "\n".join(out)


def _finding_lines(finding: Finding) -> str:
    from database.dev.conventions import ERROR

    severity = "" if finding.severity == ERROR else f" ({finding.severity})"
    where = finding.location or "(source line unknown)"
    lines = [f"  {where}: {finding.rule}{severity}: {finding.message}"]
    if finding.fix:
        fix = finding.fix.splitlines()
        lines.append("      fix: " + fix[0])
        lines.extend("           " + line for line in fix[1:])
    return "\n".join(lines)

