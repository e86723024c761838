"""The repo's own schema follows its conventions: a migration that breaks one fails the suite with the finding."""

from __future__ import annotations

from database.config import Project
from database.dev.conventions import check


def test_schema_has_no_convention_findings(project: Project, migrated_database: str) -> None:
    result = check(project, url=migrated_database)
    report = "\n".join(f"{f.location or f.table}: {f.rule}: {f.message}\n    fix: {f.fix}" for f in result.findings)
    assert result.findings == (), "schema convention findings:\n" + report
    assert result.source_problems == (), result.source_problems


def test_every_table_and_column_is_described(project: Project, migrated_database: str) -> None:
    coverage = check(project, url=migrated_database).coverage
    assert coverage.tables > 0
    assert (coverage.tables_described, coverage.columns_described) == (coverage.tables, coverage.columns)
