"""Every operation rule: a risky statement is found at its file:line with its lock level, and a safe variant of the
same change is not. All cases are sibling migrations on one base, judged in one run on a real throwaway database
(the target has the base applied and some rows, so sizes show up); the documented lock of each finding is checked
against the lock PostgreSQL really takes (pg_locks)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from database.config import Project
from database.dev import testdb
from database.dev.annotations import parse_annotations
from database.dev.conventions import Finding
from database.dev.operation_rules import LOCK_ORDER, OPERATION_RULES, check_operations, size_text
from database.errors import ConfigError, DbtuiError

TABLES = 17
BASE = (
    "CREATE TABLE parent (id BIGINT PRIMARY KEY);\n"
    + "".join(
        f"CREATE TABLE c{n} (id BIGINT, a INTEGER, b TEXT, v VARCHAR(10), r BIGINT);\n" for n in range(1, TABLES + 1)
    )
    + """CREATE INDEX c2_a_idx ON c2 (a);
CREATE INDEX c2_b_idx ON c2 (b);
CREATE UNIQUE INDEX c10_a_key ON c10 (a);
ALTER TABLE c11 ALTER COLUMN id SET NOT NULL;
CREATE UNIQUE INDEX c11_id_key ON c11 (id);
ALTER TABLE c8 ADD CONSTRAINT c8_b_nn CHECK (b IS NOT NULL);
"""
)
GUARD = "SET LOCAL lock_timeout = '5s';\n"
NON_TRANSACTIONAL = "-- transactional: false\nSET lock_timeout = '5s';\n"

# migration name: (header, body, rules expected at the line of the marker (None: nothing found)); the marker is the
# text of the line the finding must point at.
CASES: dict[str, tuple[str, str, dict[str, str] | None]] = {
    "index_risky": (
        GUARD,
        "-- a comment first\nCREATE INDEX ON c1 (a);\n",
        {"require-concurrent-index-creation": "CREATE INDEX ON c1"},
    ),
    "index_safe": (NON_TRANSACTIONAL, "CREATE INDEX CONCURRENTLY ON c1 (b);\n", None),
    "index_new_table_safe": (
        GUARD,
        "CREATE TABLE fresh (id BIGINT, a INTEGER);\nCREATE INDEX ON fresh (a);\n"
        "ALTER TABLE fresh ALTER COLUMN a TYPE BIGINT, ADD COLUMN z TEXT NOT NULL;\n"
        "ALTER TABLE fresh RENAME TO fresher;\nALTER TABLE fresher DROP COLUMN z;\n",
        None,
    ),
    "drop_index_risky": (GUARD, "DROP INDEX c2_a_idx;\n", {"require-concurrent-index-deletion": "DROP INDEX"}),
    "drop_index_safe": (NON_TRANSACTIONAL, "DROP INDEX CONCURRENTLY c2_b_idx;\n", None),
    "concurrently_in_tx_risky": (
        GUARD,
        "CREATE INDEX CONCURRENTLY ON c3 (a);\n",
        {"ban-concurrent-index-creation-in-transaction": "CREATE INDEX CONCURRENTLY"},
    ),
    "check_risky": (
        GUARD,
        "ALTER TABLE c4\n    ADD CONSTRAINT c4_a CHECK (a > 0);\n",
        {"constraint-missing-not-valid": "ALTER TABLE c4"},
    ),
    "check_safe": (GUARD, "ALTER TABLE c4 ADD CONSTRAINT c4_b CHECK (b <> '') NOT VALID;\n", None),
    "validate_safe": (GUARD, "ALTER TABLE c4 VALIDATE CONSTRAINT c4_b;\n", None),
    "fk_risky": (
        GUARD,
        "ALTER TABLE c5 ADD FOREIGN KEY (r) REFERENCES parent (id);\n",
        {"adding-foreign-key-constraint": "ALTER TABLE c5"},
    ),
    "fk_safe": (
        GUARD,
        "ALTER TABLE c5 ADD CONSTRAINT c5_id_fkey FOREIGN KEY (id) REFERENCES parent (id) NOT VALID;\n",
        None,
    ),
    "type_risky": (GUARD, "ALTER TABLE c6 ALTER COLUMN a TYPE BIGINT;\n", {"changing-column-type": "ALTER TABLE c6"}),
    "type_safe": (GUARD, "ALTER TABLE c6 ALTER COLUMN v TYPE TEXT;\n", None),  # binary-coercible: no rewrite
    "default_risky": (
        GUARD,
        "ALTER TABLE c7 ADD COLUMN seen TIMESTAMPTZ DEFAULT clock_timestamp();\n",
        {"adding-field-with-default": "ALTER TABLE c7"},
    ),
    "default_safe": (GUARD, "ALTER TABLE c7 ADD COLUMN made TIMESTAMPTZ NOT NULL DEFAULT now();\n", None),
    "not_null_risky": (
        GUARD,
        "ALTER TABLE c8 ALTER COLUMN a SET NOT NULL;\n",
        {"adding-not-nullable-field": "ALTER TABLE c8"},
    ),
    "not_null_safe": (GUARD, "ALTER TABLE c8 ALTER COLUMN b SET NOT NULL;\n", None),  # the base validated a CHECK
    "validate_in_same_transaction_risky": (
        GUARD,
        "ALTER TABLE c8 ADD CONSTRAINT c8_r CHECK (r > 0) NOT VALID;\nALTER TABLE c8 VALIDATE CONSTRAINT c8_r;\n",
        {"constraint-missing-not-valid": "ALTER TABLE c8 VALIDATE"},
    ),
    "required_risky": (
        GUARD,
        "ALTER TABLE c9 ADD COLUMN code TEXT NOT NULL;\n",
        {"adding-required-field": "ALTER TABLE c9"},
    ),
    "required_safe": (GUARD, "ALTER TABLE c9 ADD COLUMN label TEXT NOT NULL DEFAULT '';\n", None),
    "unique_risky": (
        GUARD,
        "ALTER TABLE c10 ADD CONSTRAINT c10_b_key UNIQUE (b);\n",
        {"disallowed-unique-constraint": "ALTER TABLE c10"},
    ),
    "unique_safe": (GUARD, "ALTER TABLE c10 ADD CONSTRAINT c10_a_key UNIQUE USING INDEX c10_a_key;\n", None),
    "pk_risky": (
        GUARD,
        "ALTER TABLE c12 ADD PRIMARY KEY (r);\n",
        {"adding-serial-primary-key-field": "ALTER TABLE c12"},
    ),
    "pk_safe": (GUARD, "ALTER TABLE c11 ADD CONSTRAINT c11_pkey PRIMARY KEY USING INDEX c11_id_key;\n", None),
    "rename_column_risky": (
        GUARD,
        "ALTER TABLE c13 RENAME COLUMN a TO amount;\n",
        {"renaming-column": "ALTER TABLE c13"},
    ),
    "rename_table_risky": (GUARD, "ALTER TABLE c14 RENAME TO c14_old;\n", {"renaming-table": "ALTER TABLE c14"}),
    "drop_column_risky": (GUARD, "ALTER TABLE c15 DROP COLUMN b;\n", {"ban-drop-column": "ALTER TABLE c15"}),
    "drop_column_exempt": (
        GUARD,
        "-- dbtui:ignore ban-drop-column: no release reads c15.v since 2.0\nALTER TABLE c15 DROP COLUMN v;\n",
        None,
    ),
    "drop_table_risky": (GUARD, "DROP TABLE c16;\n", {"ban-drop-table": "DROP TABLE c16"}),
    "drop_table_exempt": (GUARD, "DROP TABLE parent CASCADE;\n", None),  # exempt in the annotations below
    "timeout_risky": (
        "",
        "CREATE TABLE other (id BIGINT);\nALTER TABLE c17 ENABLE ROW LEVEL SECURITY;\n",
        {"require-lock-timeout": "ALTER TABLE c17"},
    ),
    "timeout_safe": (GUARD, "ALTER TABLE c17 DISABLE ROW LEVEL SECURITY;\n", None),
    "rewrite_risky": (GUARD, "ALTER TABLE c3 SET UNLOGGED;\n", {"table-rewrite": "ALTER TABLE c3"}),
    "rewrite_safe": (GUARD, "ALTER TABLE c3 SET (fillfactor = 70);\n", None),
}
ANNOTATIONS = """\
migrations:
  0002_drop_table_exempt:
    ignore:
      ban-drop-table: parent was never read by any release.
"""


def migration_id(index: int, name: str) -> str:
    return f"{index + 2:04d}_{name}"


IDS = {name: migration_id(i, name) for i, name in enumerate(CASES)}


def write_project(root: Path, cases: dict[str, tuple[str, str, dict[str, str] | None]]) -> Project:
    (root / "pyproject.toml").write_text("[tool.dbtui]\n")
    (root / "schema_annotations.yaml").write_text(
        ANNOTATIONS.replace("0002_drop_table_exempt", IDS["drop_table_exempt"])
    )
    folder = root / "migrations"
    folder.mkdir()
    (folder / "0001_base.sql").write_text(BASE)
    for name, (header, body, _) in cases.items():
        (folder / f"{IDS[name]}.sql").write_text(f"-- depends: 0001_base\n{header}{body}")
    return Project.load(root)


@pytest.fixture(scope="module")
def base_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("base") / "migrations"
    folder.mkdir()
    (folder / "0001_base.sql").write_text(BASE)
    return folder


@pytest.fixture(scope="module")
def target(server_url: str, base_only: Path) -> Iterator[str]:
    """The database the migrations are pending on: the base applied, and 5000 rows in c1 (analyzed)."""
    url = testdb.create_database(migrations_dir=base_only, url=server_url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO c1 (id, a, b) SELECT g, g, repeat('x', 100) FROM generate_series(1, 5000) g")
        conn.execute("ANALYZE c1")
    yield url
    testdb.drop_database(url)


@pytest.fixture(scope="module")
def cases_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return write_project(tmp_path_factory.mktemp("operations"), CASES)


@pytest.fixture(scope="module")
def findings(cases_project: Project, target: str, server_url: str) -> list[Finding]:
    report = check_operations(cases_project, target, server=server_url)
    assert report.judged == tuple(IDS.values())
    assert report.scope == f"{len(CASES)} pending migrations"
    return list(report.findings)


def test_every_rule_has_a_risky_and_a_safe_case() -> None:
    risky = {rule for _, _, expected in CASES.values() if expected for rule in expected}
    assert risky == set(OPERATION_RULES)
    assert sum(expected is None for _, _, expected in CASES.values()) >= len(OPERATION_RULES) - 2


@pytest.mark.parametrize("name", list(CASES))
def test_case(name: str, findings: list[Finding], cases_project: Project) -> None:
    header, body, expected = CASES[name]
    path = cases_project.migrations / f"{IDS[name]}.sql"
    text = path.read_text()
    found = {(f.rule, f.line) for f in findings if f.migration == f"migrations/{path.name}"}
    if expected is None:
        assert found == set()
        return
    lines = text.splitlines()
    want = {
        (rule, next(i for i, line in enumerate(lines, 1) if line.startswith(marker)))
        for rule, marker in expected.items()
    }
    assert found == want
    for finding in (f for f in findings if f.migration == f"migrations/{path.name}"):
        assert finding.lock in LOCK_ORDER and finding.fix and finding.message and finding.severity == "error"


def test_sizes_come_from_the_target(findings: list[Finding]) -> None:
    index = next(f for f in findings if f.rule == "require-concurrent-index-creation")
    assert index.table == "c1" and index.rows == 5000 and index.bytes is not None and index.bytes > 500_000
    assert index.lock == "SHARE"
    assert f"c1 ({size_text(5000, index.bytes)}) until" in index.message
    unanalyzed = next(f for f in findings if f.rule == "changing-column-type")
    assert unanalyzed.rows is None and "rows unknown (never analyzed)" in unanalyzed.message


def strongest_lock(url: str, statements: str, table: str) -> str:
    """The strongest lock PostgreSQL holds on ``table`` after ``statements`` (run in a transaction, rolled back)."""
    with psycopg.connect(url) as conn:
        oid = conn.execute("SELECT %s::regclass::oid", (table,)).fetchone()[0]  # before a rename or drop
        conn.execute(statements.encode())
        modes = [
            m
            for (m,) in conn.execute(
                "SELECT mode FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'relation' AND relation = %s",
                (oid,),
            )
        ]
        conn.rollback()
    names = {
        "ShareUpdateExclusiveLock": "SHARE UPDATE EXCLUSIVE",
        "ShareLock": "SHARE",
        "ShareRowExclusiveLock": "SHARE ROW EXCLUSIVE",
        "AccessExclusiveLock": "ACCESS EXCLUSIVE",
    }
    return max((names[m] for m in modes if m in names), key=LOCK_ORDER.index)


def test_documented_locks_are_the_locks_postgres_takes(
    findings: list[Finding], target: str, cases_project: Project
) -> None:
    checked = 0
    for finding in findings:
        if finding.rule == "ban-concurrent-index-creation-in-transaction":
            continue  # it fails in a transaction: nothing to measure
        text = (cases_project.root / finding.migration).read_text()
        start = sum(len(line) for line in text.splitlines(keepends=True)[: finding.line - 1])
        statements = text[: start + text.index(";", start)]  # the migration up to this statement, in one transaction
        assert strongest_lock(target, statements, finding.table) == finding.lock, (finding.rule, statements)
        checked += 1
    assert checked == len(OPERATION_RULES)  # every rule but one has a case, constraint-missing-not-valid two


def test_all_judges_every_migration(
    cases_project: Project, target: str, server_url: str, findings: list[Finding]
) -> None:
    report = check_operations(cases_project, target, all_migrations=True, server=server_url)
    assert report.judged[0] == "0001_base" and len(report.judged) == len(CASES) + 1
    assert [(f.rule, f.migration, f.line) for f in report.findings] == [(f.rule, f.migration, f.line) for f in findings]


def test_bad_ignore_comments_are_bad_input(tmp_path: Path, server_url: str, base_only: Path, target: str) -> None:
    project = write_project(
        tmp_path,
        {"index_risky": (GUARD, "-- dbtui:ignore require-concurrent-index-creation\nCREATE INDEX ON c1 (a);\n", None)},
    )
    with pytest.raises(ConfigError, match=r"needs a reason") as error:
        check_operations(project, target, server=server_url)
    assert error.value.line == 3
    (project.migrations / f"{IDS['index_risky']}.sql").write_text(
        "-- depends: 0001_base\n-- dbtui:ignore require-concurrent-index: typo\nCREATE INDEX ON c1 (a);\n"
    )
    with pytest.raises(ConfigError, match=r"unknown rule 'require-concurrent-index'"):
        check_operations(project, target, server=server_url)


def test_migration_exemptions_need_a_reason() -> None:
    with pytest.raises(DbtuiError, match="needs a reason") as error:
        parse_annotations("migrations:\n  0007_x:\n    ignore:\n      ban-drop-table:\n", "a.yaml")
    assert error.value.line == 4
    parsed = parse_annotations(ANNOTATIONS, "a.yaml")
    assert (
        parsed.migration_exemption("0002_drop_table_exempt", "ban-drop-table")
        == "parent was never read by any release."
    )


def test_size_text_is_rough_on_purpose() -> None:
    assert size_text(12_345_678, 3_300_000_000) == "~12 M rows, 3.1 GB"
    assert size_text(999, 8192) == "~999 rows, 8.0 kB"
    assert size_text(None, 100) == "rows unknown (never analyzed), 100 bytes"


def test_unchanged_migrations_are_judged_from_the_cache(
    cases_project: Project, target: str, server_url: str, findings: list[Finding], monkeypatch
) -> None:
    from database.dev import operation_rules

    def no_database(*args, **kwargs):
        raise AssertionError("replayed although nothing changed")

    monkeypatch.setattr(operation_rules, "applied_clone", no_database)
    again = check_operations(cases_project, target, server=server_url)

    def key(f: Finding) -> tuple:
        return f.rule, f.migration, f.line, f.table, f.column, f.lock, f.fix

    assert [key(f) for f in again.findings] == [key(f) for f in findings]  # sizes are read afresh
    path = cases_project.migrations / f"{IDS['index_risky']}.sql"
    original = path.read_text()
    path.write_text(original.replace("CREATE INDEX ON c1 (a)", "CREATE INDEX ON c1 (b)"))
    try:
        with pytest.raises(AssertionError, match="replayed"):
            check_operations(cases_project, target, server=server_url)
    finally:
        path.write_text(original)


def test_a_failing_statement_is_reported_at_its_line(tmp_path: Path, server_url: str, target: str) -> None:
    from database.errors import ProblemFound

    project = write_project(
        tmp_path,
        {"index_risky": (GUARD, "ALTER TABLE c1 ADD COLUMN x BIGINT;\nALTER TABLE c1 ADD COLUMN x BIGINT;\n", None)},
    )
    with pytest.raises(ProblemFound, match=r'column "x" of relation "c1" already exists') as error:
        check_operations(project, target, server=server_url)
    assert (error.value.path.name, error.value.line) == (f"{IDS['index_risky']}.sql", 4)
    report = check_operations(project, target, server=server_url, stop_at_failure=True)
    assert report.failed is not None and report.failed.line == 4
