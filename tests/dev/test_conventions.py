"""Every convention rule: a schema that breaks exactly that rule is found at the right table, column, file and line,
and the conforming schema passes. One database for the module; each case runs in a transaction rolled back after."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from database.dev import testdb
from database.dev.annotations import Annotations, TableAnnotation, parse_annotations
from database.dev.catalog import read_catalog
from database.dev.conventions import RULES, CheckResult, check_catalog
from database.dev.source_map import build_source_map

BASE = """\
CREATE FUNCTION generate_id(prefix TEXT) RETURNS TEXT LANGUAGE sql RETURN prefix || '_' || md5(random()::text);
CREATE FUNCTION updated_at() RETURNS TRIGGER LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at = now(); RETURN NEW; END; $$;
CREATE TABLE organizations (
    id TEXT COLLATE "C" PRIMARY KEY DEFAULT generate_id('org') CHECK (id LIKE 'org_%'),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    storytime JSONB,
    name TEXT NOT NULL
);
CREATE TRIGGER updated_at BEFORE UPDATE ON organizations FOR EACH ROW EXECUTE PROCEDURE updated_at();
"""

GOOD = """\
-- depends: 0001_base
CREATE TABLE widgets (
    id TEXT COLLATE "C" PRIMARY KEY DEFAULT generate_id('wdg') CHECK (id LIKE 'wdg_%'),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    storytime JSONB,
    organization_id TEXT COLLATE "C" NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    count BIGINT
);
CREATE TRIGGER updated_at BEFORE UPDATE ON widgets FOR EACH ROW EXECUTE PROCEDURE updated_at();
CREATE INDEX ON widgets(organization_id);
ALTER TABLE widgets ENABLE ROW LEVEL SECURITY;
CREATE POLICY access ON widgets USING (organization_id = current_setting('app.organization_id', true));
CREATE TABLE widget_kind_enum (value TEXT PRIMARY KEY);
"""

# rule, text in GOOD, its replacement, (table, column) of the finding; its line is the column's (else the table's).
CASES = [
    (
        "id-primary-key",
        'id TEXT COLLATE "C" PRIMARY KEY DEFAULT',
        'id TEXT COLLATE "C" UNIQUE DEFAULT',
        ("widgets", "id"),
    ),
    ("id-default", "DEFAULT generate_id('wdg') ", "", ("widgets", "id")),
    ("id-check", "LIKE 'wdg_%'", "LIKE 'wdx_%'", ("widgets", "id")),
    ("created-at", "created_at TIMESTAMPTZ NOT NULL", "created_at TIMESTAMPTZ", ("widgets", "created_at")),
    (
        "updated-at",
        "updated_at TIMESTAMPTZ NOT NULL DEFAULT now()",
        "updated_at TIMESTAMPTZ NOT NULL",
        ("widgets", "updated_at"),
    ),
    ("updated-at-trigger", "BEFORE UPDATE ON widgets", "AFTER UPDATE ON widgets", ("widgets", None)),
    ("storytime", "storytime JSONB", "storytime JSON", ("widgets", "storytime")),
    ("timestamptz", "count BIGINT", "count BIGINT,\n    happened_at TIMESTAMP", ("widgets", "happened_at")),
    ("timestamptz", "count BIGINT", "count BIGINT,\n    happened_at TIMESTAMP(3)", ("widgets", "happened_at")),
    ("timestamptz", "count BIGINT", "count BIGINT,\n    happened_at TIMESTAMP(0)[]", ("widgets", "happened_at")),
    ("organization-scoped", "ON DELETE CASCADE", "ON DELETE RESTRICT", ("widgets", "organization_id")),
    ("row-level-security", "ALTER TABLE widgets ENABLE ROW LEVEL SECURITY;", "", ("widgets", None)),
    ("bigint", "count BIGINT", "count INTEGER", ("widgets", "count")),
    ("extid-naming", "count BIGINT", 'count BIGINT,\n    vendor_id TEXT COLLATE "C"', ("widgets", "vendor_id")),
    ("text-collate-c", "count BIGINT", "count BIGINT,\n    vendor_extid TEXT", ("widgets", "vendor_extid")),
    ("fk-index", "CREATE INDEX ON widgets(organization_id);", "", ("widgets", "organization_id")),
    ("enum-table", "(value TEXT PRIMARY KEY)", "(value TEXT PRIMARY KEY, label TEXT)", ("widget_kind_enum", None)),
]


@pytest.fixture(scope="module")
def base_database(server_url: str) -> Iterator[str]:
    """A database holding BASE, shared by the module; cases run in rolled-back transactions on top of it."""
    name = f"{testdb.CLONE_PREFIX}{__import__('os').getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = testdb.with_database(server_url, name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(BASE)
    yield url
    testdb.drop_database(url)


def run_case(
    url: str,
    root: Path,
    migration: str,
    annotations: Annotations | None = None,
    extra_files: dict[str, str] | None = None,
) -> CheckResult:
    """Write the migrations to ``root``, apply them in a transaction, check, roll back."""
    directory = root / "migrations"
    directory.mkdir(exist_ok=True)
    (directory / "0001_base.sql").write_text(BASE)
    (directory / "0002_case.sql").write_text(migration)
    for name, text in (extra_files or {}).items():
        (directory / name).write_text(text)
    with psycopg.connect(url) as conn:
        for text in (migration, *(extra_files or {}).values()):
            conn.execute(text)
        catalog = read_catalog(conn)
        conn.rollback()
    if annotations is None:  # describe everything, so only the rule under test speaks
        annotations = Annotations(tables={n: TableAnnotation(n, 1, description="d") for n in catalog.tables})
    return check_catalog(catalog, annotations, build_source_map(directory), root=root)


def line_of(text: str, table: str, column: str | None) -> int:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if f"CREATE TABLE {table} " in line)
    if column is None:
        return start + 1
    return next(i for i, line in enumerate(lines) if i > start and line.strip().startswith(column + " ")) + 1


def test_conforming_schema_has_no_findings(base_database: str, tmp_path: Path) -> None:
    result = run_case(base_database, tmp_path, GOOD)
    assert result.findings == ()
    assert result.ok and result.coverage.tables == 3


def test_timestamptz_with_a_precision_conforms(base_database: str, tmp_path: Path) -> None:
    good = GOOD.replace("created_at TIMESTAMPTZ", "created_at TIMESTAMPTZ(3)").replace(
        "count BIGINT", "count BIGINT,\n    happened_at TIMESTAMPTZ(6)[]"
    )
    assert run_case(base_database, tmp_path, good).findings == ()


def test_every_rule_has_a_case() -> None:
    assert {c[0] for c in CASES} | {"annotation-unknown", "annotation-missing"} == set(RULES)


@pytest.mark.parametrize(("rule", "old", "new", "where"), CASES, ids=[c[0] for c in CASES])
def test_rule_breaks_are_found_at_their_source_line(
    base_database: str, tmp_path: Path, rule: str, old: str, new: str, where: tuple[str, str | None]
) -> None:
    assert old in GOOD
    bad = GOOD.replace(old, new, 1)
    result = run_case(base_database, tmp_path, bad)
    assert [(f.rule, f.table, f.column) for f in result.findings] == [(rule, *where)], result.findings
    finding = result.findings[0]
    assert finding.severity == "error" and not result.ok
    assert (finding.migration, finding.line) == ("migrations/0002_case.sql", line_of(bad, *where))
    assert finding.message and finding.fix


def test_fix_hints_are_sql_that_satisfies_the_rule(base_database: str, tmp_path: Path) -> None:
    """Apply each finding's fix on top of the broken schema: the rule is then satisfied."""
    for rule, old, new, _ in CASES:
        if rule in ("enum-table", "extid-naming", "id-primary-key"):
            continue  # fixes that rebuild or rename: shown to a person, not meant to be replayed blindly here
        bad = GOOD.replace(old, new, 1)
        broken = run_case(base_database, tmp_path, bad)
        fixed = run_case(base_database, tmp_path, bad + "\n" + broken.findings[0].fix)
        assert fixed.findings == (), (rule, fixed.findings)


def test_enum_tables_are_exempt_from_the_other_rules(base_database: str, tmp_path: Path) -> None:
    result = run_case(
        base_database,
        tmp_path,
        GOOD.replace(
            "widget_kind_enum (value TEXT PRIMARY KEY)", "widget_kind_enum (value TEXT PRIMARY KEY, n INTEGER)"
        ),
    )
    assert [f.rule for f in result.findings] == ["enum-table"]  # not bigint, not id-primary-key, …


def test_organizations_is_not_organization_scoped(base_database: str, tmp_path: Path) -> None:
    result = run_case(base_database, tmp_path, GOOD)
    assert not [f for f in result.findings if f.table == "organizations"]


SHARED = (
    GOOD
    + """
CREATE TABLE countries (
    id TEXT COLLATE "C" PRIMARY KEY DEFAULT generate_id('cty') CHECK (id LIKE 'cty_%'),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    storytime JSONB,
    name TEXT NOT NULL
);
CREATE TRIGGER updated_at BEFORE UPDATE ON countries FOR EACH ROW EXECUTE PROCEDURE updated_at();
"""
)


def test_exemption_with_reason_silences_a_rule(base_database: str, tmp_path: Path) -> None:
    unexempt = run_case(base_database, tmp_path, SHARED)
    assert [(f.rule, f.table) for f in unexempt.findings] == [("organization-scoped", "countries")]
    annotations = parse_annotations(
        "tables:\n  countries:\n    description: Reference data.\n    ignore:\n"
        "      organization-scoped: Shared by all organizations.\n",
        tmp_path / "schema_annotations.yaml",
    )
    exempt = run_case(base_database, tmp_path, SHARED, annotations)
    # No organization-scoped finding, and no row-level-security either: an exempt table is not organization-scoped.
    assert [f.rule for f in exempt.findings if f.severity == "error"] == []


def test_columns_added_and_renamed_later_point_at_the_later_migration(base_database: str, tmp_path: Path) -> None:
    later = "-- depends: 0002_case\nALTER TABLE widgets\n    ADD COLUMN total INTEGER;\nALTER TABLE widgets RENAME TO gadgets;\n"
    result = run_case(base_database, tmp_path, GOOD, extra_files={"0003_later.sql": later})
    bigint = [f for f in result.findings if f.rule == "bigint"]
    assert [(f.table, f.column, f.migration, f.line) for f in bigint] == [
        ("gadgets", "total", "migrations/0003_later.sql", 3)
    ]


def test_unparsable_migration_still_checks_the_catalog(base_database: str, tmp_path: Path) -> None:
    weird = "-- depends: 0002_case\nSELECT 1;\nCREATE TABLE oops (x int NOTAKEYWORD);\n"
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0003_weird.sql").write_text(weird)  # on disk only: Postgres would refuse it too
    result = run_case(base_database, tmp_path, GOOD.replace("count BIGINT", "count INTEGER"))
    assert [(f.rule, f.migration) for f in result.findings] == [("bigint", "migrations/0002_case.sql")]
    [problem] = result.source_problems
    assert (str(problem.path), problem.line) == ("migrations/0003_weird.sql", 3)
    assert "NOTAKEYWORD" in problem.message


def test_finding_without_a_source_says_so(base_database: str, tmp_path: Path) -> None:
    """A table made outside the migrations (here: no file mentions it) has an unknown origin, not a wrong one."""
    result = run_case(base_database, tmp_path, GOOD)
    with psycopg.connect(base_database) as conn:
        conn.execute("CREATE TABLE stray (id TEXT)")
        catalog = read_catalog(conn)
        conn.rollback()
    findings = check_catalog(catalog, None, build_source_map(tmp_path / "migrations"), root=tmp_path).findings
    stray = [f for f in findings if f.table == "stray"]
    assert stray and all(f.migration is None and f.line is None for f in stray)
    assert result.findings == ()


def test_catalog_deparses_generated_columns_and_can_skip_policy_expressions(base_database: str) -> None:
    """Defaults are deparsed without their table, which only a generated column's expression needs; the rules read
    the catalog without policy expressions, and nothing else may change."""
    with psycopg.connect(base_database) as conn:
        conn.execute(GOOD.split("\n", 1)[1])
        conn.execute("ALTER TABLE widgets ADD COLUMN doubled BIGINT GENERATED ALWAYS AS (count * 2) STORED")
        full, lean = read_catalog(conn), read_catalog(conn, policy_expressions=False)
        conn.rollback()
    widgets = full.tables["widgets"]
    assert widgets.column("doubled").default == "(count * 2)"
    assert widgets.column("id").default == "generate_id('wdg'::text)"
    [policy] = widgets.policies
    assert "organization_id" in policy.using
    assert [(p.using, p.with_check) for p in lean.tables["widgets"].policies] == [(None, None)]

    def strip(c):
        return [
            {**t, "policies": [{**p, "using": None, "with_check": None} for p in t["policies"]]}
            for t in c.to_dict()["tables"]
        ]

    assert strip(lean) == strip(full)


def test_source_map_cache_gives_the_same_map_and_follows_edits(tmp_path: Path) -> None:
    directory, cache = tmp_path / "migrations", tmp_path / ".dbtui" / "cache"
    directory.mkdir()
    (directory / "0001_base.sql").write_text(BASE)
    (directory / "0002_case.sql").write_text(GOOD)
    (directory / "0003_later.sql").write_text(
        "-- depends: 0002_case\nALTER TABLE widgets RENAME COLUMN count TO total;\nALTER TABLE widgets ADD COLUMN note TEXT;\n"
        "ALTER TABLE widget_kind_enum RENAME TO kind_enum;\nCREATE TABLE oops (x int NOTAKEYWORD);\n"
    )

    def summary(source_map):
        return (
            dict(source_map.tables),
            dict(source_map.columns),
            [(p.path, p.line, p.message) for p in source_map.problems],
        )

    plain = summary(build_source_map(directory))
    assert summary(build_source_map(directory, cache_dir=cache)) == plain  # cold: parses and writes the cache
    assert (cache / "source_map.json").is_file()
    assert summary(build_source_map(directory, cache_dir=cache)) == plain  # warm: replays it
    assert plain[1][("widgets", "total")].line == 8 and ("kind_enum" in plain[0]) and plain[2][0][1] == 5

    (directory / "0002_case.sql").write_text(GOOD.replace("-- depends: 0001_base\n", "-- depends: 0001_base\n\n\n"))
    edited = build_source_map(directory, cache_dir=cache)
    assert edited.tables["widgets"].line == plain[0]["widgets"].line + 2
    assert summary(edited) == summary(build_source_map(directory))

    (cache / "source_map.json").write_text("{not json")  # a broken cache costs a parse, never a wrong answer
    assert summary(build_source_map(directory, cache_dir=cache)) == summary(edited)


def test_source_map_of_an_unchanged_folder_is_kept_whole_and_any_change_is_seen(tmp_path: Path) -> None:
    """The whole map is kept under the folder's listing (name, size, mtime_ns, inode): an unchanged folder is not
    read again, and an edit, a new file or a removed one is followed; files too recent to trust are not kept."""
    directory, cache = tmp_path / "migrations", tmp_path / ".dbtui" / "cache"
    directory.mkdir()
    (directory / "0001_base.sql").write_text(BASE)
    (directory / "0002_case.sql").write_text(GOOD)
    snapshot = cache / "source_map_tree.json"

    def settle(minutes: int = 1) -> None:  # files written minutes ago, as a developer's are
        for path in directory.iterdir():
            os.utime(path, ns=(path.stat().st_atime_ns, time.time_ns() - minutes * 60_000_000_000))

    def summary(source_map):
        return (dict(source_map.tables), dict(source_map.columns), source_map.problems)

    plain = summary(build_source_map(directory))
    assert summary(build_source_map(directory, cache_dir=cache)) == plain
    assert not snapshot.exists()  # written this instant: an edit within the clock's tick would keep the mtime
    settle()
    assert summary(build_source_map(directory, cache_dir=cache)) == plain
    assert snapshot.is_file()
    assert summary(build_source_map(directory, cache_dir=cache)) == plain  # from the snapshot

    # The snapshot is what a warm build returns: a planted line number shows through while nothing changed...
    data = json.loads(snapshot.read_text())
    data["tables"][data["tables"].index("widgets") + 2] = 999
    snapshot.write_text(json.dumps(data))
    assert build_source_map(directory, cache_dir=cache).tables["widgets"].line == 999
    # ...and any change to the folder makes it stale: an edit of the same size, a new file, a removed one.
    edited = GOOD.replace("count BIGINT", "total BIGINT")
    (directory / "0002_case.sql").write_text(edited)
    settle(2)
    after_edit = build_source_map(directory, cache_dir=cache)
    assert after_edit.tables["widgets"].line != 999 and ("widgets", "total") in after_edit.columns
    assert summary(after_edit) == summary(build_source_map(directory))
    (directory / "0003_more.sql").write_text("-- depends: 0002_case\nCREATE TABLE extra (id TEXT);\n")
    assert "extra" in build_source_map(directory, cache_dir=cache).tables
    settle(3)
    assert "extra" in build_source_map(directory, cache_dir=cache).tables
    (directory / "0003_more.sql").unlink()
    assert "extra" not in build_source_map(directory, cache_dir=cache).tables
