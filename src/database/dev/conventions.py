"""The schema conventions (docs/conventions.md; the rule ids are a contract, docs/architecture.md), checked against the live catalog and pointed at source lines.

Every rule is one small function registered with ``@rule``: it receives a table (or, for ``applies_to="schema"``,
the whole context) and yields ``Problem``s — a message, the column, and the SQL that would fix it. The engine adds
the rest: severity, exemptions from ``schema_annotations.yaml``, the migration file and line. Adding a rule is
adding one decorated function here.

Collation belongs to ``text-collate-c`` alone (``id-primary-key`` and ``organization-scoped`` check type, key and
nullability), so a schema that breaks one thing gets one finding.
"""

from __future__ import annotations

import functools
import gc
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import psycopg
from pglast.keywords import RESERVED_KEYWORDS
from yoyo.exceptions import BadMigration, LockTimeout, MigrationConflict

from database.config import Project
from database.dev.annotations import Annotations, load_annotations
from database.dev.catalog import Catalog, Column, Table, read_catalog
from database.dev.paths import relative
from database.dev.source_map import Origin, SourceMap, SourceProblem, build_source_map
from database.errors import ProblemFound

ERROR = "error"
WARNING = "warning"
ORGANIZATIONS = "organizations"
NOW_DEFAULTS = frozenset({"now()", "CURRENT_TIMESTAMP", "transaction_timestamp()"})
INTEGER_TYPES = frozenset({"smallint", "integer"})
# The same, arrays included: what ``Column.element_type`` would compare, without computing it for every column.
# As format_type() prints them: a precision and array brackets may follow (timestamp(3) without time zone[]).
_TIMESTAMP = re.compile(r"timestamp(\(\d+\))? without time zone(\[\])*")
_TIMESTAMPTZ = re.compile(r"timestamp(\(\d+\))? with time zone")
_INTEGER_TYPES = INTEGER_TYPES | {f"{t}[]" for t in INTEGER_TYPES}


@dataclass(frozen=True)
class Problem:
    """What a rule reports; ``table`` and ``origin`` default to the table checked and its source line."""

    message: str
    column: str | None = None
    fix: str | None = None
    table: str | None = None
    origin: Origin | None = None
    lock: str | None = None  # operation rules: the lock the statement takes, when it differs from the rule's


@dataclass(frozen=True)
class Finding:
    """One violation. ``migration`` is the file (relative to the project) that created the table or column —
    or ``schema_annotations.yaml`` for annotation rules; ``None`` with ``line`` when the origin is unknown.
    Operation rules (``database.dev.operation_rules``) point at the statement instead, and add the lock it takes
    and, when the target database has the table, its estimated ``rows`` and ``bytes``."""

    rule: str
    severity: str
    table: str | None
    column: str | None
    message: str
    migration: str | None
    line: int | None
    fix: str | None = None
    lock: str | None = None
    rows: int | None = None
    bytes: int | None = None

    @property
    def location(self) -> str | None:
        if self.migration is None:
            return None
        return f"{self.migration}:{self.line}" if self.line else self.migration

    def to_dict(self) -> dict:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "table": self.table,
            "column": self.column,
            "message": self.message,
            "migration": self.migration,
            "line": self.line,
            "fix": self.fix,
            "lock": self.lock,
            "rows": self.rows,
            "bytes": self.bytes,
        }


@dataclass(frozen=True)
class Coverage:
    tables: int
    tables_described: int
    columns: int
    columns_described: int

    def to_dict(self) -> dict:
        return {
            "tables": self.tables,
            "tables_described": self.tables_described,
            "columns": self.columns,
            "columns_described": self.columns_described,
        }


@dataclass(frozen=True)
class CheckResult:
    findings: tuple[Finding, ...]
    coverage: Coverage
    source_problems: tuple[SourceProblem, ...] = ()  # paths relative to the project
    operations_scope: str | None = None  # what the operation rules judged ("2 pending migrations"), None: not run

    @property
    def errors(self) -> int:
        return sum(f.severity == ERROR for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.severity == WARNING for f in self.findings)

    @property
    def ok(self) -> bool:
        """No error-severity finding (warnings do not fail)."""
        return self.errors == 0

    def summary(self) -> str:
        """``2 errors, 1 warning in 6 tables; annotations: 5/6 tables, 30/34 columns described``."""
        c = self.coverage
        counts = ", ".join(
            f"{n} {word}{'s' if n != 1 else ''}" for n, word in ((self.errors, "error"), (self.warnings, "warning"))
        )
        text = (
            f"{counts if self.findings else 'no findings'} in {c.tables} table{'s' if c.tables != 1 else ''}; "
            f"annotations: {c.tables_described}/{c.tables} tables, {c.columns_described}/{c.columns} columns described"
        )
        if self.operations_scope is not None:
            risky = sum(f.lock is not None for f in self.findings)
            text += f"; operations: {risky} risky statement{'s' if risky != 1 else ''} in {self.operations_scope}"
        return text

    def to_dict(self) -> dict:
        return {
            "violations": [f.to_dict() for f in self.findings],
            "coverage": self.coverage.to_dict(),
            "source_problems": [
                {"migration": str(p.path), "line": p.line, "message": p.message} for p in self.source_problems
            ],
        }


@dataclass(frozen=True)
class RuleContext:
    catalog: Catalog
    annotations: Annotations = field(default_factory=Annotations)


@dataclass(frozen=True)
class Rule:
    id: str
    summary: str
    severity: str
    applies_to: str  # "table": every non-enum table · "enum": *_enum tables · "schema": once, with the context ·
    #                  "statement": a migration statement (operation rules, in their own registry)
    check: Callable
    lock: str | None = None  # operation rules: the lock level the statement takes
    squawk: str | None = None  # operation rules: squawk's rule of the same meaning, if any


RULES: dict[str, Rule] = {}


def rule(
    id: str,
    summary: str,
    *,
    applies_to: str = "table",
    severity: str = ERROR,
    registry: dict[str, Rule] = RULES,
    lock: str | None = None,
    squawk: str | None = None,
) -> Callable:
    """Register a rule function under its rule id (docs/architecture.md "Contracts") (operation rules pass their own ``registry``)."""

    def register(function: Callable) -> Callable:
        registry[id] = Rule(id, summary, severity, applies_to, function, lock, squawk)
        return function

    return register


def is_enum_table(table: Table) -> bool:
    return table.name.endswith("_enum")


# --- helpers for rules and their fix hints -------------------------------------------------------------------------

_PLAIN = re.compile(r"^[a-z_][a-z0-9_$]*$")
_GENERATE_ID = re.compile(r"^(?:public\.)?generate_id\('([^']*)'(?:::text)?\)$")
_ID_LIKE = re.compile(r"^CHECK \(\(id ~~ '([^']*)'(?:::text)?\)\)$")  # a LIKE check reads back as ~~


@functools.lru_cache(maxsize=4096)  # every rule names its table in the fix it may offer: once per name, not per rule
def ident(name: str) -> str:
    """An identifier as a person would write it: quoted only when it has to be."""
    if _PLAIN.match(name) and name not in RESERVED_KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def id_prefix(table: Table) -> str | None:
    """The prefix of ``DEFAULT generate_id('<prefix>')``, if the id column has that default."""
    column = table.column("id")
    match = _GENERATE_ID.match(column.default or "") if column else None
    return match.group(1) if match else None


def _check_prefixes(table: Table) -> list[str]:
    """The prefixes ``p`` of every ``CHECK (id LIKE 'p_%')`` on the table."""
    matches = (_ID_LIKE.match(c.definition) for c in table.checks)
    return [m.group(1)[:-2] for m in matches if m and m.group(1).endswith("_%")]


def _suggested_prefix(table: Table) -> str:
    prefixes = _check_prefixes(table)
    return id_prefix(table) or (prefixes[0] if prefixes else re.sub(r"[^a-z0-9]", "", table.name.lower())[:3] or "id")


def _is_timestamptz(column: Column) -> bool:
    return _TIMESTAMPTZ.fullmatch(column.type) is not None


def _timestamp_column(table: Table, name: str) -> Iterator[Problem]:
    """``<name> TIMESTAMPTZ NOT NULL DEFAULT now()``."""
    column = table.column(name)
    if column is None:
        yield Problem(
            f"{table.name} has no {name} column",
            fix=f"ALTER TABLE {ident(table.name)} ADD COLUMN {name} TIMESTAMPTZ NOT NULL DEFAULT now();",
        )
        return
    if not _is_timestamptz(column):
        yield Problem(
            f"{table.name}.{name} is {column.type}, not timestamptz",
            name,
            f"ALTER TABLE {ident(table.name)} ALTER COLUMN {name} TYPE TIMESTAMPTZ;",
        )
    if not column.not_null:
        yield Problem(
            f"{table.name}.{name} is nullable; it must be NOT NULL",
            name,
            f"ALTER TABLE {ident(table.name)} ALTER COLUMN {name} SET NOT NULL;",
        )
    if column.default not in NOW_DEFAULTS:
        yield Problem(
            f"{table.name}.{name} defaults to {column.default or 'nothing'}, not now()",
            name,
            f"ALTER TABLE {ident(table.name)} ALTER COLUMN {name} SET DEFAULT now();",
        )


# --- the rules ---------------------------------------------------------------------------------------------------


@rule("id-primary-key", 'id TEXT COLLATE "C" PRIMARY KEY')
def id_primary_key(table: Table, ctx: RuleContext) -> Iterator[Problem]:
    column = table.column("id")
    if column is None:
        t, prefix = ident(table.name), _suggested_prefix(table)
        yield Problem(
            f"{table.name} has no id column",
            fix=(
                f"ALTER TABLE {t} ADD COLUMN id TEXT COLLATE \"C\" PRIMARY KEY DEFAULT generate_id('{prefix}') "
                f"CHECK (id LIKE '{prefix}_%');"
            ),
        )
        return
    if column.type != "text":
        yield Problem(
            f"{table.name}.id is {column.type}, not text",
            "id",
            f'ALTER TABLE {ident(table.name)} ALTER COLUMN id TYPE TEXT COLLATE "C";',
        )
    key = table.primary_key
    if key is None or key.columns != ("id",):
        current = f"the primary key is ({', '.join(key.columns)})" if key else "there is no primary key"
        t = ident(table.name)
        yield Problem(
            f"{table.name}.id is not the primary key ({current})",
            "id",
            (
                f"ALTER TABLE {t} DROP CONSTRAINT {ident(key.name)}, ADD PRIMARY KEY (id);"
                if key
                else f"ALTER TABLE {t} ADD PRIMARY KEY (id);"
            ),
        )


@rule("id-default", "DEFAULT generate_id('<prefix>')")
def id_default(table: Table, ctx: RuleContext) -> Iterator[Problem]:
    column = table.column("id")
    if column is not None and id_prefix(table) is None:
        yield Problem(
            f"{table.name}.id defaults to {column.default or 'nothing'}, not generate_id('<prefix>')",
            "id",
            f"ALTER TABLE {ident(table.name)} ALTER COLUMN id SET DEFAULT generate_id('{_suggested_prefix(table)}');",
        )


@rule("id-check", "CHECK (id LIKE '<prefix>_%'), same prefix as the default")
def id_check(table: Table, ctx: RuleContext) -> Iterator[Problem]:
    if table.column("id") is None:
        return
    prefix, prefixes = id_prefix(table), _check_prefixes(table)
    if (prefix is None and prefixes) or prefix in prefixes:
        return
    want = prefix or _suggested_prefix(table)
    found = f"its checks allow prefix {', '.join(repr(p) for p in prefixes)}" if prefixes else "there is no such check"
    wrong = [c.name for c in table.checks if _ID_LIKE.match(c.definition)]
    drop = "".join(f"DROP CONSTRAINT {ident(name)}, " for name in wrong)
    yield Problem(
        f"{table.name}.id needs CHECK (id LIKE '{want}_%') ({found})",
        "id",
        f"ALTER TABLE {ident(table.name)} {drop}ADD CONSTRAINT {ident(table.name + '_id_check')} "
        f"CHECK (id LIKE '{want}_%');",
    )


@rule("created-at", "created_at TIMESTAMPTZ NOT NULL DEFAULT now()")
def created_at(table: Table, ctx: RuleContext) -> Iterator[Problem]:
    yield from _timestamp_column(table, "created_at")


@rule("updated-at", "updated_at TIMESTAMPTZ NOT NULL DEFAULT now()")
def updated_at(table: Table, ctx: RuleContext) -> Iterator[Problem]:
    yield from _timestamp_column(table, "updated_at")


@rule("updated-at-trigger", "a BEFORE UPDATE … FOR EACH ROW trigger running updated_at()")
def updated_at_trigger(table: Table, ctx: RuleContext) -> Iterator[Problem]:
    if not any(
        t.timing == "BEFORE" and "UPDATE" in t.events and t.for_each_row and t.function == "updated_at" and t.enabled
        for t in table.triggers
    ):
        t = ident(table.name)
        drop = "".join(
            f"DROP TRIGGER {ident(tr.name)} ON {t};\n"
            for tr in table.triggers
            if tr.function == "updated_at" or tr.name == "updated_at"
        )
        yield Problem(
            f"{table.name} has no BEFORE UPDATE FOR EACH ROW trigger running updated_at()",
            fix=(f"{drop}CREATE TRIGGER updated_at BEFORE UPDATE ON {t} FOR EACH ROW EXECUTE PROCEDURE updated_at();"),
        )


@rule("storytime", "storytime JSONB")
def storytime(table: Table, ctx: RuleContext) -> Iterator[Problem]:
    column = table.column("storytime")
    if column is None:
        yield Problem(
            f"{table.name} has no storytime column", fix=f"ALTER TABLE {ident(table.name)} ADD COLUMN storytime JSONB;"
        )
    elif column.type != "jsonb":
        yield Problem(
            f"{table.name}.storytime is {column.type}, not jsonb",
            "storytime",
            f"ALTER TABLE {ident(table.name)} ALTER COLUMN storytime TYPE JSONB USING storytime::jsonb;",
        )


@rule("timestamptz", "no timestamp without time zone column")
def timestamptz(table: Table, ctx: RuleContext) -> Iterator[Problem]:
    for column in table.columns:
        found = _TIMESTAMP.fullmatch(column.type)
        if found:
            wanted = f"TIMESTAMPTZ{found.group(1) or ''}{column.type[column.type.index(' without time zone') + 18 :]}"
            yield Problem(
                f"{table.name}.{column.name} is {column.type}; use timestamptz",
                column.name,
                f"ALTER TABLE {ident(table.name)} ALTER COLUMN {ident(column.name)} TYPE {wanted};",
            )


@rule("organization-scoped", 'organization_id TEXT COLLATE "C" NOT NULL REFERENCES organizations(id) ON DELETE CASCADE')
def organization_scoped(table: Table, ctx: RuleContext) -> Iterator[Problem]:
    if table.name == ORGANIZATIONS:
        return
    t, column = ident(table.name), table.column("organization_id")
    if column is None:
        yield Problem(
            f"{table.name} has no organization_id column (exempt it in schema_annotations.yaml if it is "
            "shared by all organizations)",
            fix=(
                f'ALTER TABLE {t} ADD COLUMN organization_id TEXT COLLATE "C" NOT NULL '
                f"REFERENCES organizations(id) ON DELETE CASCADE;\nCREATE INDEX ON {t} (organization_id);"
            ),
        )
        return
    if column.type != "text":
        yield Problem(
            f"{table.name}.organization_id is {column.type}, not text",
            "organization_id",
            f'ALTER TABLE {t} ALTER COLUMN organization_id TYPE TEXT COLLATE "C";',
        )
    if not column.not_null:
        yield Problem(
            f"{table.name}.organization_id is nullable; it must be NOT NULL",
            "organization_id",
            f"ALTER TABLE {t} ALTER COLUMN organization_id SET NOT NULL;",
        )
    keys = [k for k in table.foreign_keys if k.columns == ("organization_id",)]
    good = [
        k
        for k in keys
        if k.references == ORGANIZATIONS and k.referenced_columns == ("id",) and k.on_delete == "CASCADE"
    ]
    if not good:
        wrong = f" (it is {keys[0].definition})" if keys else ""
        drop = "".join(f"DROP CONSTRAINT {ident(k.name)}, " for k in keys)
        yield Problem(
            f"{table.name}.organization_id must reference organizations(id) ON DELETE CASCADE{wrong}",
            "organization_id",
            f"ALTER TABLE {t} {drop}ADD FOREIGN KEY (organization_id) REFERENCES organizations(id) ON DELETE CASCADE;",
        )


@rule("row-level-security", "organization-scoped tables (with organization_id) have RLS enabled and a policy")
def row_level_security(table: Table, ctx: RuleContext) -> Iterator[Problem]:
    if table.column("organization_id") is None:
        return  # not scoped (organizations, exempt tables), or organization-scoped already reports the column
    t = ident(table.name)
    policy = (
        f"CREATE POLICY customer_access ON {t} TO app_customer\n"
        "    USING (organization_id = app_organization_id() AND (SELECT app_is_member()));"
    )
    if not table.rls_enabled:
        yield Problem(
            f"{table.name} is organization-scoped but Row Level Security is not enabled",
            fix=f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY;" + ("" if table.policies else "\n" + policy),
        )
    elif not table.policies:
        yield Problem(f"{table.name} has Row Level Security enabled but no policy (customers see nothing)", fix=policy)


@rule("bigint", "no smallint/integer/serial column")
def bigint(table: Table, ctx: RuleContext) -> Iterator[Problem]:
    for column in table.columns:
        if column.type in _INTEGER_TYPES:
            serial = " (serial)" if (column.default or "").startswith("nextval(") else ""
            yield Problem(
                f"{table.name}.{column.name} is {column.type}{serial}; use bigint",
                column.name,
                f"ALTER TABLE {ident(table.name)} ALTER COLUMN {ident(column.name)} TYPE "
                f"BIGINT{'[]' if column.type.endswith('[]') else ''};",
            )


@rule("extid-naming", "a column named *_id is a foreign key; third-party ids are *_extid")
def extid_naming(table: Table, ctx: RuleContext) -> Iterator[Problem]:
    in_keys = {c for k in table.foreign_keys for c in k.columns}
    for column in table.columns:
        if column.name.endswith("_id") and column.name not in in_keys:
            extid = column.name.removesuffix("_id") + "_extid"
            yield Problem(
                f"{table.name}.{column.name} is not a foreign key; name a third-party id {extid}",
                column.name,
                f"ALTER TABLE {ident(table.name)} RENAME COLUMN {ident(column.name)} TO {ident(extid)};",
            )


@rule("text-collate-c", 'id, *_id and *_extid text columns are COLLATE "C"')
def text_collate_c(table: Table, ctx: RuleContext) -> Iterator[Problem]:
    for column in table.columns:
        named = column.name == "id" or column.name.endswith(("_id", "_extid"))
        if named and column.category == "S" and column.collation != "C":
            yield Problem(
                f'{table.name}.{column.name} is not COLLATE "C" (it is {column.collation or "no"} collation)',
                column.name,
                f'ALTER TABLE {ident(table.name)} ALTER COLUMN {ident(column.name)} TYPE {column.type} COLLATE "C";',
            )


@rule("fk-index", "every foreign key has an index whose leading columns are its columns")
def fk_index(table: Table, ctx: RuleContext) -> Iterator[Problem]:
    for key in table.foreign_keys:
        n = len(key.columns)
        if not any(not i.partial and set(i.columns[:n]) == set(key.columns) for i in table.indexes):
            columns = ", ".join(ident(c) for c in key.columns)
            yield Problem(
                f"foreign key {table.name}({', '.join(key.columns)}) → {key.references} has no index",
                key.columns[0],
                f"CREATE INDEX ON {ident(table.name)} ({columns});",
            )


@rule("enum-table", "*_enum tables have exactly value TEXT PRIMARY KEY", applies_to="enum")
def enum_table(table: Table, ctx: RuleContext) -> Iterator[Problem]:
    shape = [(c.name, c.type) for c in table.columns]
    key = table.primary_key
    if shape != [("value", "text")] or key is None or key.columns != ("value",):
        found = ", ".join(f"{n} {t}" for n, t in shape) + (f", PRIMARY KEY ({', '.join(key.columns)})" if key else "")
        yield Problem(
            f"enum table {table.name} must be exactly (value TEXT PRIMARY KEY), found ({found})",
            fix=(f"CREATE TABLE {ident(table.name)} (value TEXT PRIMARY KEY);"),
        )


@rule("annotation-unknown", "schema_annotations.yaml names no table or column that does not exist", applies_to="schema")
def annotation_unknown(ctx: RuleContext) -> Iterator[Problem]:
    path = ctx.annotations.path or Path("schema_annotations.yaml")
    for name, entry in ctx.annotations.tables.items():
        table = ctx.catalog.tables.get(name)
        if table is None:
            yield Problem(
                f"annotated table {name} does not exist",
                table=name,
                origin=Origin(path, entry.line),
                fix=f"remove tables.{name} from {path.name} (or fix its name)",
            )
            continue
        for column, line in entry.column_lines.items():
            if table.column(column) is None:
                yield Problem(
                    f"annotated column {name}.{column} does not exist",
                    column,
                    table=name,
                    origin=Origin(path, line),
                    fix=f"remove tables.{name}.columns.{column} from {path.name}",
                )
        for rule_id, line in entry.ignore_lines.items():
            if rule_id not in RULES:
                yield Problem(
                    f"{name} is exempted from unknown rule {rule_id!r} (known: {', '.join(RULES)})",
                    table=name,
                    origin=Origin(path, line),
                    fix=f"remove tables.{name}.ignore.{rule_id}",
                )


@rule("annotation-missing", "every table has a description", applies_to="schema", severity=WARNING)
def annotation_missing(ctx: RuleContext) -> Iterator[Problem]:
    path = ctx.annotations.path or Path("schema_annotations.yaml")
    for name in ctx.catalog.tables:
        if not ctx.annotations.description(name):
            yield Problem(
                f"{name} has no description in {path.name}", table=name, fix=f"tables:\n  {name}:\n    description: …"
            )


# --- the engine ----------------------------------------------------------------------------------------------------


def check_catalog(
    catalog: Catalog,
    annotations: Annotations | None = None,
    source_map: SourceMap | None = None,
    *,
    root: Path | None = None,
) -> CheckResult:
    """Evaluate every rule on an already-read catalog (pure: no database, no files)."""
    annotations = annotations or Annotations()
    source_map = source_map or SourceMap()
    ctx = RuleContext(catalog, annotations)
    scopes: dict[str, list[Table]] = {"table": [], "enum": []}
    for table in catalog.tables.values():
        scopes["enum" if is_enum_table(table) else "table"].append(table)
    problems: list[tuple[Rule, Problem, str | None]] = []  # with the table checked, unless the problem names one
    for r in RULES.values():
        if r.applies_to == "schema":
            problems.extend((r, p, p.table) for p in r.check(ctx))
            continue
        for table in scopes[r.applies_to]:
            problems.extend((r, p, p.table or table.name) for p in r.check(table, ctx))
    exempt = annotations.exemption if annotations.tables else lambda table, rule: None
    findings = [
        _finding(r, p, table, source_map, root) for r, p, table in problems if not (table and exempt(table, r.id))
    ]
    findings.sort(key=lambda f: (f.table or "", f.migration or "", f.line or 0, f.rule, f.column or ""))
    problems_found = tuple(replace(p, path=Path(relative(p.path, root))) for p in source_map.problems)
    return CheckResult(tuple(findings), _coverage(catalog, annotations), problems_found)


def _finding(r: Rule, p: Problem, table: str | None, source_map: SourceMap, root: Path | None) -> Finding:
    origin = p.origin or (source_map.column(table, p.column) if table and p.column else source_map.table(table or ""))
    return Finding(
        rule=r.id,
        severity=r.severity,
        table=table,
        column=p.column,
        message=p.message,
        migration=relative(origin.path, root) if origin else None,
        line=origin.line if origin else None,
        fix=p.fix,
    )


def _coverage(catalog: Catalog, annotations: Annotations) -> Coverage:
    entries = [(annotations.table(key), table) for key, table in catalog.tables.items()]
    described = [(entry, table) for entry, table in entries if entry is not None]
    return Coverage(
        tables=len(catalog.tables),
        tables_described=sum(bool(entry.description) for entry, _ in described),
        columns=sum(len(table.columns) for table in catalog.tables.values()),
        columns_described=sum(bool(entry.columns.get(c.name)) for entry, table in described for c in table.columns),
    )


def check(project: Project, *, url: str | None = None, server: str | None = None) -> CheckResult:
    """Check ``url``, or by default a fresh throwaway database migrated from the project's migrations (on
    ``server``, default: testdb's choice), dropped afterwards."""
    with _gc_paused():  # resumed once _check's frame is gone: its catalog and source map are freed by then
        return _check(project, url, server)


def _check(project: Project, url: str | None, server: str | None) -> CheckResult:
    annotations = load_annotations(project.annotations)  # a broken file fails before any database work
    with ThreadPoolExecutor(max_workers=1) as pool:  # the server works while this thread parses
        catalog = pool.submit(_live_catalog, project, url, server)
        source_map = build_source_map(project.migrations, cache_dir=project.data_dir / "cache")
        return check_catalog(catalog.result(), annotations, source_map, root=project.root)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """A check builds tens of thousands of objects that live until it returns and hold no cycles; the cyclic GC
    would walk the whole heap several times over them (≈ 15 % of a 500-table check). Paused, not disabled for good;
    resume it only after they are freed, or the first allocation after it runs one collection over all of them
    (≈ 10 % of the check's CPU at 1,000 tables, measured)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _live_catalog(project: Project, url: str | None, server: str | None) -> Catalog:
    """The catalog of ``url``, or of a throwaway database migrated for the occasion."""
    if url is not None:
        return read_catalog(url, policy_expressions=False)
    from database.dev import testdb

    try:
        scratch = testdb.create_database(project=project, url=server)
    except (psycopg.Error, BadMigration, LockTimeout, MigrationConflict) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ProblemFound(f"the migrations do not apply to a fresh database: {first}") from None
    try:
        return read_catalog(scratch, policy_expressions=False)
    finally:
        testdb.drop_database(scratch)
