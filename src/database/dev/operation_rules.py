"""Operation rules: what a migration does to a live database *while it runs*, statement by statement.

The convention rules judge the schema a migration leaves behind; these judge the statements on the way there: an
index build that blocks writes, a rewrite under ACCESS EXCLUSIVE, a constraint that scans the table under its lock, a
statement that waits for its lock with no ``lock_timeout`` while every query queues behind it. squawk lints the text
alone; here the statements meet the schema as it stands before them. The migrations before the ones judged are
applied to a throwaway database (``migration_preview.applied_clone``), then each judged migration runs there one
statement at a time, so:

- a statement on a table created earlier in the same migration is fine (the table is new, empty and unseen);
- a rewrite is measured, not guessed: the table has new storage (``pg_class.relfilenode``) after the statement.
  ``varchar(10)`` → ``text`` or ``DEFAULT now()`` do not rewrite; ``int`` → ``bigint`` or ``DEFAULT
  clock_timestamp()`` do;
- ``SET NOT NULL`` after a validated ``CHECK (col IS NOT NULL)`` is fine (PostgreSQL 12+ skips the scan);
- given the target database, a finding carries the table's estimated rows and size there (``pg_class.reltuples``,
  ``pg_total_relation_size``): "rewrites events, ~12 M rows, 3.1 GB".

Each rule is one function registered with ``conventions.rule(..., registry=OPERATION_RULES)``: it receives an
``Operation`` and yields ``conventions.Problem``s; the engine adds the file and line of the statement, the lock level
(PostgreSQL's documented lock table), the sizes and the exemptions. Rule ids are squawk's where the meaning is the
same. Exemptions need a reason: ``migrations: {<id>: {ignore: {<rule>: <reason>}}}`` in schema_annotations.yaml, or
a ``-- dbtui:ignore <rule>: <reason>`` comment on the statement (on the lines above it, or inside it).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import pglast
import psycopg
from pglast import parser
from psycopg import sql

from database.config import Project
from database.dev import testdb
from database.dev.annotations import Annotations, load_annotations
from database.dev.cache_file import save_json
from database.dev.conventions import ERROR, CheckResult, Finding, Problem, Rule, check, ident, rule
from database.dev.migration_preview import applied_clone
from database.dev.migration_status import join_status, plan_migrate, read_status
from database.dev.migration_tree import MigrationNode, MigrationTree, line_of, load_tree
from database.dev.paths import display_path, relative
from database.dev.source_map import LEADING, Statement, table_statements
from database.errors import ConfigError, ProblemFound

# PostgreSQL's table-level lock modes that matter here, weakest first (docs: "Explicit Locking", Table 13.2).
SHARE_UPDATE_EXCLUSIVE = "SHARE UPDATE EXCLUSIVE"
SHARE = "SHARE"
SHARE_ROW_EXCLUSIVE = "SHARE ROW EXCLUSIVE"
ACCESS_EXCLUSIVE = "ACCESS EXCLUSIVE"
LOCK_ORDER = (SHARE_UPDATE_EXCLUSIVE, SHARE, SHARE_ROW_EXCLUSIVE, ACCESS_EXCLUSIVE)

# ALTER TABLE subcommands that take less than ACCESS EXCLUSIVE (docs: ALTER TABLE, "Description" of each form).
_ALTER_LOCKS = {
    "AT_ValidateConstraint": SHARE_UPDATE_EXCLUSIVE,
    "AT_SetStatistics": SHARE_UPDATE_EXCLUSIVE,
    "AT_SetOptions": SHARE_UPDATE_EXCLUSIVE,
    "AT_ResetOptions": SHARE_UPDATE_EXCLUSIVE,
    "AT_ClusterOn": SHARE_UPDATE_EXCLUSIVE,
    "AT_DropCluster": SHARE_UPDATE_EXCLUSIVE,
    "AT_AttachPartition": SHARE_UPDATE_EXCLUSIVE,
    **dict.fromkeys(
        (
            "AT_EnableTrig",
            "AT_EnableAlwaysTrig",
            "AT_EnableReplicaTrig",
            "AT_DisableTrig",
            "AT_EnableTrigAll",
            "AT_DisableTrigAll",
            "AT_EnableTrigUser",
            "AT_DisableTrigUser",
        ),
        SHARE_ROW_EXCLUSIVE,
    ),
}

OPERATION_RULES: dict[str, Rule] = {}

# The statements worth judging (and the ones that tell us what a migration created or set); the rest run unparsed.
_OPERATIONS = re.compile(
    LEADING + r"(?:CREATE\s+(?:(?:GLOBAL|LOCAL|TEMP|TEMPORARY|UNLOGGED)\s+)*TABLE|CREATE\s+(?:UNIQUE\s+)?INDEX"
    r"|ALTER\s+TABLE|DROP\s+(?:TABLE|INDEX)|SET|RESET)\b",
    re.IGNORECASE | re.DOTALL,
)
_LEADING = re.compile(LEADING, re.DOTALL)
_IGNORE = re.compile(r"--\s*dbtui:ignore\b[ \t]*([^\s:]*)[ \t]*(?::[ \t]*(.*?))?[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class Operation:
    """One statement of a migration as the rules see it: its parse tree and what the database said about it."""

    kind: str  # pglast's statement node: 'IndexStmt', 'AlterTableStmt', 'DropStmt', 'RenameStmt', …
    node: dict  # its JSON parse tree
    sql: str  # the statement's text, without the comments before it
    line: int
    migration: MigrationNode
    table: str | None  # the table it locks, as written (schema-qualified when written so)
    existing: bool  # that table was there before the migration began: not created by it
    lock: str | None  # the strongest lock the statement takes on that table
    rewrites: bool = False  # measured on the throwaway database: the table got new storage
    proven_not_null: frozenset[str] = frozenset()  # columns a validated CHECK (col IS NOT NULL) already covers
    first_unguarded: bool = False  # the migration's first statement locking an existing table before any lock_timeout
    held: str | None = None  # the strongest lock earlier statements of this (transactional) migration hold on the table
    exemptions: tuple[str, ...] = ()  # rules a ``-- dbtui:ignore rule: reason`` comment exempts it from

    def commands(self) -> Iterator[dict]:
        """The ALTER TABLE subcommands (none for other statements)."""
        if self.kind == "AlterTableStmt":
            yield from (c["AlterTableCmd"] for c in self.node.get("cmds", ()))

    def ast(self):
        """The statement as pglast AST objects, for deparsing pieces into fixes (only ever for a finding)."""
        return parser.parse_sql(self.sql)[0].stmt


def _deparse(node) -> str:
    from pglast.stream import RawStream

    return RawStream()(node)


def _fix_note(op: Operation) -> str:
    return (
        ""
        if not op.migration.transactional
        else (
            "\n-- and put '-- transactional: false' at the top of the migration: CONCURRENTLY cannot run in a transaction"
        )
    )


def _operation(id: str, summary: str, *, lock: str | None, squawk: str | None = None):
    return rule(id, summary, applies_to="statement", registry=OPERATION_RULES, lock=lock, squawk=squawk)


# --- the rules ---------------------------------------------------------------------------------------------------


@_operation(
    "require-concurrent-index-creation",
    "CREATE INDEX on an existing table uses CONCURRENTLY",
    lock=SHARE,
    squawk="require-concurrent-index-creation",
)
def concurrent_index_creation(op: Operation) -> Iterator[Problem]:
    if op.kind == "IndexStmt" and op.existing and not op.node.get("concurrent"):
        fixed = re.sub(r"^(CREATE\s+(?:UNIQUE\s+)?INDEX)\b", r"\1 CONCURRENTLY", op.sql, flags=re.IGNORECASE)
        yield Problem(
            f"CREATE INDEX blocks writes to {op.table}{{size}} until the whole index is built",
            fix=fixed + ";" + _fix_note(op),
        )


@_operation(
    "require-concurrent-index-deletion",
    "DROP INDEX on an existing table uses CONCURRENTLY",
    lock=ACCESS_EXCLUSIVE,
    squawk="require-concurrent-index-deletion",
)
def concurrent_index_deletion(op: Operation) -> Iterator[Problem]:
    if (
        op.kind == "DropStmt"
        and op.node.get("removeType") == "OBJECT_INDEX"
        and op.existing
        and not op.node.get("concurrent")
    ):
        fixed = re.sub(r"^(DROP\s+INDEX)\b", r"\1 CONCURRENTLY", op.sql, flags=re.IGNORECASE)
        yield Problem(
            f"DROP INDEX blocks reads and writes of {op.table}{{size}} while it waits for and takes its lock",
            fix=fixed + ";" + _fix_note(op),
        )


@_operation(
    "ban-concurrent-index-creation-in-transaction",
    "CONCURRENTLY only in a '-- transactional: false' migration",
    lock=SHARE_UPDATE_EXCLUSIVE,
    squawk="ban-concurrent-index-creation-in-transaction",
)
def concurrently_in_transaction(op: Operation) -> Iterator[Problem]:
    index = op.kind == "IndexStmt" or (op.kind == "DropStmt" and op.node.get("removeType") == "OBJECT_INDEX")
    if index and op.node.get("concurrent") and op.migration.transactional:
        yield Problem(
            "CONCURRENTLY cannot run inside a transaction, and this migration runs in one: it fails",
            fix="-- transactional: false\n-- (first line of the migration; keep the concurrent statement "
            "alone there, since a failure no longer rolls back the statements before it)",
        )


def _not_valid_fix(op: Operation, constraint: dict, table: str) -> str:
    name = constraint.get("conname") or "<the constraint's name>"
    text = op.sql if len(list(op.commands())) == 1 else f"ALTER TABLE {table} ADD {_constraint_sql(op, constraint)}"
    return (
        f"{text} NOT VALID;\nALTER TABLE {table} VALIDATE CONSTRAINT {ident(name) if constraint.get('conname') else name};"
        "  -- in a later migration: VALIDATE takes only SHARE UPDATE EXCLUSIVE"
    )


def _constraint_sql(op: Operation, constraint: dict) -> str:
    ast = op.ast()
    for cmd in ast.cmds:
        if cmd.def_ is not None and getattr(cmd.def_, "location", None) == constraint.get("location"):
            return _deparse(cmd.def_)
    return "CONSTRAINT …"


def _added_constraints(op: Operation, contype: str) -> Iterator[tuple[dict, dict | None]]:
    """Constraints of ``contype`` the statement adds: ``(constraint, None)`` from ADD CONSTRAINT, ``(constraint,
    column)`` from a constraint written on an added column."""
    for cmd in op.commands():
        definition = cmd.get("def", {})
        if cmd["subtype"] == "AT_AddConstraint" and definition.get("Constraint", {}).get("contype") == contype:
            yield definition["Constraint"], None
        elif cmd["subtype"] == "AT_AddColumn" and "ColumnDef" in definition:
            for c in definition["ColumnDef"].get("constraints", ()):
                if c["Constraint"]["contype"] == contype:
                    yield c["Constraint"], definition["ColumnDef"]


@_operation(
    "constraint-missing-not-valid",
    "ADD CONSTRAINT … CHECK on an existing table is NOT VALID, then validated",
    lock=ACCESS_EXCLUSIVE,
    squawk="constraint-missing-not-valid",
)
def check_not_valid(op: Operation) -> Iterator[Problem]:
    if not op.existing:
        return
    for constraint, column in _added_constraints(op, "CONSTR_CHECK"):
        if column is None and not constraint.get("skip_validation"):
            yield Problem(
                f"ADD CHECK scans all of {op.table}{{size}} under ACCESS EXCLUSIVE: reads and writes wait",
                fix=_not_valid_fix(op, constraint, op.table or ""),
            )
    for cmd in op.commands():
        if cmd["subtype"] == "AT_ValidateConstraint" and op.held == ACCESS_EXCLUSIVE:
            yield Problem(
                f"VALIDATE scans all of {op.table}{{size}} while this migration's transaction still holds "
                "ACCESS EXCLUSIVE on it from an earlier statement: reads and writes wait for the scan",
                lock=ACCESS_EXCLUSIVE,
                fix=f"{op.sql};  -- move it to a later migration of its own",
            )


@_operation(
    "adding-foreign-key-constraint",
    "a foreign key on an existing table is added NOT VALID, then validated",
    lock=SHARE_ROW_EXCLUSIVE,
    squawk="adding-foreign-key-constraint",
)
def foreign_key_not_valid(op: Operation) -> Iterator[Problem]:
    if not op.existing:
        return
    for constraint, column in _added_constraints(op, "CONSTR_FOREIGN"):
        if constraint.get("skip_validation"):
            continue
        references = constraint.get("pktable", {}).get("relname", "?")
        message = (
            f"a foreign key scans all of {op.table}{{size}} with writes to it and to {references} blocked "
            "(SHARE ROW EXCLUSIVE on both)"
        )
        if column is None:
            yield Problem(message, fix=_not_valid_fix(op, constraint, op.table or ""))
        else:
            name, key = ident(column["colname"]), ident(f"{op.table}_{column['colname']}_fkey")
            yield Problem(
                message,
                column["colname"],
                fix=(
                    f"ALTER TABLE {op.table} ADD COLUMN {name} {_deparse(_column_ast(op, column).typeName)};\n"
                    f"ALTER TABLE {op.table} ADD CONSTRAINT {key} FOREIGN KEY ({name}) REFERENCES {references} NOT VALID;\n"
                    f"ALTER TABLE {op.table} VALIDATE CONSTRAINT {key};  -- in a later migration"
                ),
            )


def _column_ast(op: Operation, column: dict):
    for cmd in op.ast().cmds:
        if getattr(cmd.def_, "colname", None) == column["colname"]:
            return cmd.def_
    raise LookupError(column["colname"])


@_operation(
    "changing-column-type",
    "ALTER COLUMN … TYPE does not rewrite an existing table",
    lock=ACCESS_EXCLUSIVE,
    squawk="changing-column-type",
)
def changing_column_type(op: Operation) -> Iterator[Problem]:
    if not (op.existing and op.rewrites):
        return
    for cmd in op.commands():
        if cmd["subtype"] == "AT_AlterColumnType":
            column = cmd["name"]
            new = f"{column}_new"
            yield Problem(
                f"changing the type of {column} rewrites {op.table}{{size}} under ACCESS EXCLUSIVE: "
                "reads and writes wait for the whole rewrite",
                column,
                fix=(
                    f"ALTER TABLE {op.table} ADD COLUMN {ident(new)} <new type>;\n"
                    f"-- backfill {ident(new)} in batches while the app writes both, then swap the names in one short "
                    "migration"
                ),
            )


@_operation(
    "adding-field-with-default",
    "ADD COLUMN does not rewrite an existing table (no volatile default)",
    lock=ACCESS_EXCLUSIVE,
    squawk="adding-field-with-default",
)
def adding_field_with_default(op: Operation) -> Iterator[Problem]:
    if not (op.existing and op.rewrites):
        return
    for cmd in op.commands():
        if cmd["subtype"] == "AT_AddColumn" and "ColumnDef" in cmd.get("def", {}):
            column = cmd["def"]["ColumnDef"]
            ast = _column_ast(op, column)
            defaults = [
                c for c in ast.constraints or () if c.raw_expr is not None and c.contype.name == "CONSTR_DEFAULT"
            ]
            name = ident(column["colname"])
            then = (
                f"\nALTER TABLE {op.table} ALTER COLUMN {name} SET DEFAULT {_deparse(defaults[0].raw_expr)};"
                "  -- new rows only"
                if defaults
                else ""
            )
            yield Problem(
                f"adding {column['colname']} rewrites {op.table}{{size}} under ACCESS EXCLUSIVE (its value "
                "is computed for every row: a volatile default, serial, identity or stored generated column)",
                column["colname"],
                fix=(
                    f"ALTER TABLE {op.table} ADD COLUMN {name} {_deparse(ast.typeName)};{then}\n"
                    "-- then backfill the existing rows in batches"
                ),
            )


@_operation(
    "adding-not-nullable-field",
    "SET NOT NULL on an existing table follows a validated CHECK (col IS NOT NULL)",
    lock=ACCESS_EXCLUSIVE,
    squawk="adding-not-nullable-field",
)
def setting_not_null(op: Operation) -> Iterator[Problem]:
    if not op.existing:
        return
    for cmd in op.commands():
        if cmd["subtype"] == "AT_SetNotNull" and cmd["name"] not in op.proven_not_null:
            column, check = ident(cmd["name"]), ident(f"{op.table}_{cmd['name']}_not_null")
            yield Problem(
                f"SET NOT NULL scans all of {op.table}{{size}} under ACCESS EXCLUSIVE: reads and writes wait",
                cmd["name"],
                fix=(
                    f"ALTER TABLE {op.table} ADD CONSTRAINT {check} CHECK ({column} IS NOT NULL) NOT VALID;\n"
                    f"ALTER TABLE {op.table} VALIDATE CONSTRAINT {check};  -- SHARE UPDATE EXCLUSIVE: traffic goes on\n"
                    f"ALTER TABLE {op.table} ALTER COLUMN {column} SET NOT NULL;  -- no scan: the CHECK proves it\n"
                    f"ALTER TABLE {op.table} DROP CONSTRAINT {check};"
                ),
            )


@_operation(
    "adding-required-field",
    "ADD COLUMN … NOT NULL on an existing table has a default",
    lock=ACCESS_EXCLUSIVE,
    squawk="adding-required-field",
)
def adding_required_field(op: Operation) -> Iterator[Problem]:
    if not op.existing:
        return
    for cmd in op.commands():
        column = cmd.get("def", {}).get("ColumnDef")
        if cmd["subtype"] != "AT_AddColumn" or column is None:
            continue
        kinds = {c["Constraint"]["contype"] for c in column.get("constraints", ())}
        type_name = column.get("typeName", {}).get("names", [{}])[-1].get("String", {}).get("sval", "")
        if (
            "CONSTR_NOTNULL" in kinds
            and not kinds & {"CONSTR_DEFAULT", "CONSTR_IDENTITY", "CONSTR_GENERATED"}
            and not type_name.endswith("serial")
        ):
            name = ident(column["colname"])
            yield Problem(
                f"adding {column['colname']} NOT NULL without a default fails as soon as {op.table}{{size}} has a row",
                column["colname"],
                fix=(
                    f"ALTER TABLE {op.table} ADD COLUMN {name} {_deparse(_column_ast(op, column).typeName)};\n"
                    f"-- backfill it, then make it NOT NULL the way adding-not-nullable-field shows"
                ),
            )


def _index_first(op: Operation, kind: str, columns: list[str]) -> str:
    """Build the index CONCURRENTLY first, then attach it as the constraint (a short ACCESS EXCLUSIVE)."""
    name = ident(f"{op.table}_{'_'.join(columns)}_{'pkey' if kind == 'PRIMARY KEY' else 'key'}")
    listed = ", ".join(ident(c) for c in columns)
    return (
        f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON {op.table} ({listed});  -- its own non-transactional migration\n"
        f"ALTER TABLE {op.table} ADD CONSTRAINT {name} {kind} USING INDEX {name};"
    )


def _keys_built_under_lock(op: Operation, contype: str, kind: str) -> Iterator[Problem]:
    """A UNIQUE or PRIMARY KEY added without ``USING INDEX``: its index is built while the table is locked."""
    if not op.existing:
        return
    for constraint, column in _added_constraints(op, contype):
        if not constraint.get("indexname"):
            columns = [column["colname"]] if column else [k["String"]["sval"] for k in constraint.get("keys", ())]
            yield Problem(
                f"ADD {kind} builds its index with {op.table}{{size}} locked ACCESS EXCLUSIVE: reads and "
                "writes wait for the whole build",
                column["colname"] if column else None,
                fix=_index_first(op, kind, columns),
            )


@_operation(
    "disallowed-unique-constraint",
    "UNIQUE on an existing table is added USING INDEX built concurrently",
    lock=ACCESS_EXCLUSIVE,
    squawk="disallowed-unique-constraint",
)
def unique_constraint(op: Operation) -> Iterator[Problem]:
    yield from _keys_built_under_lock(op, "CONSTR_UNIQUE", "UNIQUE")


@_operation(
    "adding-serial-primary-key-field",
    "PRIMARY KEY on an existing table is added USING INDEX built concurrently",
    lock=ACCESS_EXCLUSIVE,
    squawk="adding-serial-primary-key-field",
)
def primary_key(op: Operation) -> Iterator[Problem]:
    yield from _keys_built_under_lock(op, "CONSTR_PRIMARY", "PRIMARY KEY")


@_operation(
    "renaming-column",
    "no RENAME COLUMN on a table the app may still read",
    lock=ACCESS_EXCLUSIVE,
    squawk="renaming-column",
)
def renaming_column(op: Operation) -> Iterator[Problem]:
    if op.kind == "RenameStmt" and op.node.get("renameType") == "OBJECT_COLUMN" and op.existing:
        old, new = op.node.get("subname") or "", op.node["newname"]
        yield Problem(
            f"renaming {op.table}.{old} to {new} breaks every running app instance that still uses {old}",
            old,
            fix=(
                f"ALTER TABLE {op.table} ADD COLUMN {ident(new)} <type>;\n"
                f"-- write both from the app, backfill {ident(new)}, switch reads, drop {ident(old)} "
                "in a later release"
            ),
        )


@_operation(
    "renaming-table", "no RENAME of a table the app may still read", lock=ACCESS_EXCLUSIVE, squawk="renaming-table"
)
def renaming_table(op: Operation) -> Iterator[Problem]:
    if op.kind == "RenameStmt" and op.node.get("renameType") == "OBJECT_TABLE" and op.existing:
        new = op.node["newname"]
        yield Problem(
            f"renaming {op.table} to {new} breaks every running app instance that still uses {op.table}",
            fix=f"{op.sql};\nCREATE VIEW {op.table} AS SELECT * FROM {ident(new)};  -- drop it once no "
            "release uses the old name",
        )


@_operation("ban-drop-column", "no DROP COLUMN the app may still read", lock=ACCESS_EXCLUSIVE, squawk="ban-drop-column")
def drop_column(op: Operation) -> Iterator[Problem]:
    if not op.existing:
        return
    for cmd in op.commands():
        if cmd["subtype"] == "AT_DropColumn":
            yield Problem(
                f"dropping {op.table}.{cmd['name']} breaks every running app instance that still reads it",
                cmd["name"],
                fix=(f"-- dbtui:ignore ban-drop-column: no release since <version> reads {op.table}.{cmd['name']}"),
            )


@_operation("ban-drop-table", "no DROP TABLE the app may still read", lock=ACCESS_EXCLUSIVE, squawk="ban-drop-table")
def drop_table(op: Operation) -> Iterator[Problem]:
    if op.kind == "DropStmt" and op.node.get("removeType") == "OBJECT_TABLE" and op.existing:
        yield Problem(
            f"dropping {op.table}{{size}} loses its rows and breaks every running app instance that still reads it",
            fix=f"-- dbtui:ignore ban-drop-table: no release since <version> reads {op.table}",
        )


@_operation(
    "require-lock-timeout",
    "a migration sets lock_timeout before it locks an existing table",
    lock=None,
    squawk="require-lock-timeout",
)
def lock_timeout(op: Operation) -> Iterator[Problem]:
    if op.first_unguarded:
        where = "SET LOCAL" if op.migration.transactional else "SET"
        yield Problem(
            f"waiting for {op.lock} on {op.table}{{size}} with no lock_timeout queues every query on "
            f"{op.table} behind this migration",
            fix=(f"{where} lock_timeout = '5s';  -- first statement of the migration; run it again if it times out"),
        )


@_operation("table-rewrite", "ALTER TABLE does not rewrite an existing table", lock=ACCESS_EXCLUSIVE)
def table_rewrite(op: Operation) -> Iterator[Problem]:
    covered = {"AT_AddColumn", "AT_AlterColumnType"}
    if op.existing and op.rewrites and not any(c["subtype"] in covered for c in op.commands()):
        yield Problem(
            f"this ALTER TABLE rewrites {op.table}{{size}} under ACCESS EXCLUSIVE: reads and writes wait "
            "for the whole rewrite",
            fix="-- build a new table and copy the rows in batches instead, or run it in a maintenance window",
        )


# --- locks, names and what the statement touches -------------------------------------------------------------------


def _strongest(locks: Sequence[str | None]) -> str | None:
    known = [lock for lock in locks if lock]
    return max(known, key=LOCK_ORDER.index) if known else None


def statement_lock(kind: str, node: dict) -> str | None:
    """The strongest lock ``kind``/``node`` takes on its table, from PostgreSQL's documented lock table."""
    if kind == "IndexStmt":
        return SHARE_UPDATE_EXCLUSIVE if node.get("concurrent") else SHARE
    if kind == "DropStmt" and node.get("removeType") == "OBJECT_INDEX":
        return SHARE_UPDATE_EXCLUSIVE if node.get("concurrent") else ACCESS_EXCLUSIVE
    if (kind == "DropStmt" and node.get("removeType") == "OBJECT_TABLE") or kind == "RenameStmt":
        return ACCESS_EXCLUSIVE
    if kind == "AlterTableStmt":
        return _strongest([_command_lock(c["AlterTableCmd"]) for c in node.get("cmds", ())])
    return None


def _command_lock(cmd: dict) -> str:
    constraint = cmd.get("def", {}).get("Constraint", {})
    if cmd["subtype"] == "AT_AddConstraint" and constraint.get("contype") == "CONSTR_FOREIGN":
        return SHARE_ROW_EXCLUSIVE
    return _ALTER_LOCKS.get(cmd["subtype"], ACCESS_EXCLUSIVE)


def _name(relation: dict) -> str:
    """A relation as written, quoted where needed: usable in to_regclass() and in fixes."""
    schema = relation.get("schemaname")
    return (
        f"{ident(schema)}.{ident(relation['relname'])}" if schema and schema != "public" else ident(relation["relname"])
    )


def _dropped_names(node: dict) -> list[str]:
    return [
        ".".join(ident(n["String"]["sval"]) for n in names["List"]["items"] if n["String"]["sval"] != "public")
        for names in node.get("objects", ())
    ]


# --- the engine ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OperationReport:
    findings: tuple[Finding, ...]
    judged: tuple[str, ...]  # the migrations judged, in order
    scope: str  # "2 pending migrations", "all 8 migrations"
    failed: ProblemFound | None = None  # with ``stop_at_failure``: the statement that fails (judging stopped there)


def check_operations(
    project: Project,
    target: str,
    *,
    ids: Sequence[str] | None = None,
    all_migrations: bool = False,
    server: str | None = None,
    annotations: Annotations | None = None,
    stop_at_failure: bool = False,
) -> OperationReport:
    """Judge the migrations pending on ``target`` (or ``ids``, or with ``all_migrations`` every one) statement by
    statement on a throwaway database built on ``server`` (default: ``target``'s server); sizes come from ``target``.

    Migrations whose text holds no statement that could lock a table they did not create are not run at all (no
    database needed when none of them has one). A statement that fails on the throwaway database is a ProblemFound
    at its file:line, or with ``stop_at_failure`` ends the judging there (``migrate`` would stop there too)."""
    annotations = annotations if annotations is not None else load_annotations(project.annotations)
    tree = load_tree(project.migrations)
    report = join_status(tree, {}) if all_migrations else read_status(target, tree)
    judged = tree.ids if all_migrations else list(ids) if ids is not None else plan_migrate(report)
    found: list[dict] = []
    failed = None
    cache = _Cache(project.data_dir / "cache" / "operations.json")
    key = _cache_key(tree, report.applied, judged, server or target)
    cached = cache.get(key)
    if cached is not None:
        found = cached
    elif any(_may_lock(tree[i]) for i in judged):
        with applied_clone(target, report, server=server) as clone, psycopg.connect(clone, autocommit=True) as conn:
            for migration_id in judged:
                try:
                    found.extend(_record(r, p, op) for r, p, op in judge_migration(conn, tree[migration_id]))
                except ProblemFound as exc:
                    if not stop_at_failure:
                        raise
                    failed = exc
                    break
    if failed is None and cached is None:
        cache.put(key, found)
    sizes = _sizes(target, {f["table"] for f in found if f["table"]})
    findings = _findings(found, tree, annotations, project.root, sizes)
    scope = (
        f"all {len(judged)} migrations"
        if all_migrations
        else f"{len(judged)} pending migration{'s' if len(judged) != 1 else ''}"
    )
    return OperationReport(tuple(findings), tuple(judged), scope, failed)


def _may_lock(node: MigrationNode) -> bool:
    """Whether any statement of ``node`` could break a rule: one acting on a table the migration did not create
    (as far as the text tells), or a CONCURRENTLY in a transactional migration."""
    statements, problems = table_statements(node.sql, node.path, _OPERATIONS)
    if problems:
        return True  # the database will say what is wrong
    created: set[str] = set()
    for statement in statements:
        stmt, kind = statement.node, statement.kind
        if kind in ("CreateStmt", "CreateTableAsStmt"):
            relation = stmt.get("relation") or stmt.get("into", {}).get("rel")
            created.add(_name(relation) if relation else "")
        elif stmt.get("concurrent") and node.transactional:
            return True
        elif kind in ("IndexStmt", "AlterTableStmt", "RenameStmt") and stmt.get("relation"):
            if _name(stmt["relation"]) not in created:
                return True
        elif kind == "DropStmt":
            return True  # an index's table is only known to the database
    return False


def judge_migration(conn: psycopg.Connection, node: MigrationNode) -> Iterator[tuple[Rule, Problem, Operation]]:
    """Run ``node`` on ``conn`` one statement at a time, judging each statement against the schema just before it.
    A transactional migration runs in one transaction, as it will for real (minus CONCURRENTLY, which it refuses).

    Two round trips per judged statement: what runs before it together with the facts about its table, then the
    statement itself together with the table's storage after it (a rewrite gives the table new storage)."""
    text = node.sql
    statements, _ = table_statements(text, node.path, _OPERATIONS)  # unparsable: the database reports it below
    created: set[str] = set()
    held: dict[str, str] = {}  # in a transactional migration, locks last until it commits
    timeout = guarded = False
    cursor = 0
    begin = "BEGIN" if node.transactional else ""  # sent with the first query
    for statement in statements:
        piece = statement.encoded.decode("utf-8")
        table, index = _target(statement)
        facts = _execute(
            conn,
            node,
            text,
            cursor,
            text[cursor : statement.offset],
            then=_facts(table, index) if table or index else None,
            prefix=begin,
        )
        begin = ""
        cursor = statement.offset + len(piece)
        op = _describe(statement, piece, node, created, table, facts)
        if op.existing and op.lock and not timeout and not guarded:
            op, guarded = replace(op, first_unguarded=True), True
        if op.table in held:
            op = replace(op, held=held[op.table])
        if node.transactional and op.table and op.lock:
            held[op.table] = _strongest([held.get(op.table), op.lock]) or op.lock
        runnable = _CONCURRENTLY.sub("", piece, count=1) if node.transactional and op.node.get("concurrent") else piece
        measure = op.existing and op.kind == "AlterTableStmt" and facts is not None
        after = _execute(conn, node, text, statement.offset, runnable, then=_storage(op.table) if measure else None)
        if measure and facts is not None:
            op = replace(op, rewrites=after is not None and after[0] != facts[1], proven_not_null=frozenset(facts[2]))
        for r in OPERATION_RULES.values():
            yield from ((r, p, op) for p in r.check(op))
        created.update(_created(op, created))
        timeout = timeout or _sets_lock_timeout(op)
    # a migration's SET (lock_timeout, search_path) must not reach the next one
    _execute(
        conn,
        node,
        text,
        cursor,
        text[cursor:],
        prefix=begin,
        suffix="COMMIT;\nRESET ALL" if node.transactional else "RESET ALL",
    )


_CONCURRENTLY = re.compile(r"\bCONCURRENTLY\b", re.IGNORECASE)


def _target(statement: Statement) -> tuple[str | None, str | None]:
    """The table a statement acts on as written, or (for DROP INDEX) the index whose table the database knows."""
    stmt, kind = statement.node, statement.kind
    if kind == "RenameStmt" and stmt.get("renameType") not in ("OBJECT_TABLE", "OBJECT_COLUMN"):
        return None, None
    if kind in ("IndexStmt", "AlterTableStmt", "RenameStmt") and stmt.get("relation"):
        return _name(stmt["relation"]), None
    if kind == "DropStmt" and stmt.get("removeType") in ("OBJECT_TABLE", "OBJECT_INDEX"):
        name = next(iter(_dropped_names(stmt)), None)
        return (name, None) if stmt["removeType"] == "OBJECT_TABLE" else (None, name)
    return None, None


def _describe(
    statement: Statement, piece: str, node: MigrationNode, created: set[str], table: str | None, facts: tuple | None
) -> Operation:
    stmt, kind = statement.node, statement.kind
    leading = _LEADING.match(piece)
    start = leading.end() if leading else 0
    line = statement.first_line + piece.count("\n", 0, start)
    exists = bool(facts and facts[0])
    if facts is not None and table is None:  # DROP INDEX: the index's table
        table, exists = facts[3], facts[3] is not None
    existing = table is not None and table not in created and exists
    return Operation(
        kind,
        stmt,
        piece[start:].rstrip().rstrip(";"),
        line,
        node,
        table,
        existing,
        statement_lock(kind, stmt) if table else None,
        exemptions=tuple(_exemptions(piece, statement.first_line, node)),
    )


def _facts(table: str | None, index: str | None) -> sql.Composed:
    """Whether ``table`` exists, its storage, the columns a validated CHECK (col IS NOT NULL) covers, and the table
    of ``index`` (names as written: to_regclass resolves them like the statement will)."""
    return sql.SQL("""
SELECT r.oid IS NOT NULL, c.relfilenode,
       coalesce((SELECT array_agg(a.attname::text) FROM pg_constraint k
                 JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
                 WHERE k.conrelid = c.oid AND k.contype = 'c' AND k.convalidated AND cardinality(k.conkey) = 1
                   AND pg_get_constraintdef(k.oid) = format('CHECK ((%s IS NOT NULL))', quote_ident(a.attname))),
                ARRAY[]::text[]),
       (SELECT i.indrelid::regclass::text FROM pg_index i WHERE i.indexrelid = to_regclass({index}))
FROM (SELECT to_regclass({table}) AS oid) r LEFT JOIN pg_class c ON c.oid = r.oid""").format(
        table=sql.Literal(table), index=sql.Literal(index)
    )


def _storage(table: str | None) -> sql.Composed:
    return sql.SQL("SELECT relfilenode FROM pg_class WHERE oid = to_regclass({})").format(sql.Literal(table))


def _execute(
    conn: psycopg.Connection,
    node: MigrationNode,
    text: str,
    offset: int,
    chunk: str,
    then: sql.Composed | None = None,
    *,
    prefix: str = "",
    suffix: str = "",
) -> tuple | None:
    """Run ``prefix``, statements of the migration (``chunk``, found at ``offset`` of its ``text``), ``suffix`` and
    the query ``then`` on the throwaway database, in one round trip where that is safe (inside the migration's
    transaction; in autocommit several statements in one query would run as one transaction block). Returns
    ``then``'s row. A failure is the migration's, at its file:line."""
    parts = [
        part
        for part in (
            prefix,
            chunk if _has_statement(chunk) else "",
            suffix,
            then.as_string(conn) if then is not None else "",
        )
        if part
    ]
    if not parts:
        return None
    if len(parts) > 1 and not node.transactional:
        for part in parts[:-1]:
            _execute(conn, node, text, offset, part) if part is chunk else conn.execute(part.encode("utf-8"))
        parts = parts[-1:]
    query = "\n;\n".join(parts)
    start = query.find(chunk) if chunk in parts else 0  # where the migration's text starts in the query
    try:
        cursor = conn.execute(query.encode("utf-8"))
    except psycopg.Error as exc:
        position = getattr(exc.diag, "statement_position", None) if isinstance(exc, psycopg.DatabaseError) else None
        at = int(position) - 1 - start if position and int(position) - 1 >= start else len(chunk) - len(chunk.lstrip())
        line = line_of(text, offset + at)
        message = (exc.diag.message_primary if isinstance(exc, psycopg.DatabaseError) else None) or str(exc).strip()
        raise ProblemFound(
            f"{message} (on a throwaway database migrated up to this statement)",
            path=display_path(node.path),
            line=line,
        ) from None
    if then is None:
        return None
    while cursor.nextset():
        pass
    return cursor.fetchone()


def _has_statement(chunk: str) -> bool:
    """Anything but blanks, comments and semicolons (an empty query is fine to skip, not to send)."""
    return bool(re.sub(LEADING, "", chunk.replace(";", " "), flags=re.DOTALL).strip())


def _created(op: Operation, created: set[str]) -> set[str]:
    """Tables this statement creates (or renames a table created earlier in the migration to)."""
    if op.kind in ("CreateStmt", "CreateTableAsStmt"):
        relation = op.node.get("relation") or op.node.get("into", {}).get("rel")
        return {_name(relation)} if relation else set()
    if op.kind == "RenameStmt" and op.node.get("renameType") == "OBJECT_TABLE" and op.table in created:
        return {ident(op.node["newname"])}
    return set()


def _sets_lock_timeout(op: Operation) -> bool:
    """``SET [LOCAL] lock_timeout = <not zero>`` (zero means wait forever)."""
    if op.kind != "VariableSetStmt" or op.node.get("name") != "lock_timeout" or op.node.get("kind") != "VAR_SET_VALUE":
        return False
    args: list[dict] = op.node.get("args") or [{}]
    value = args[0].get("A_Const", {})
    if "ival" in value:
        return value["ival"].get("ival", 0) != 0
    return not re.fullmatch(r"\s*0+\s*(?:us|ms|s|min|h|d)?\s*", value.get("sval", {}).get("sval", "0"))


def _sizes(target: str, tables: set[str]) -> dict[str, tuple[int | None, int]]:
    """Estimated rows (None when never analyzed) and total bytes of each table that exists on ``target``."""
    if not tables:
        return {}
    with psycopg.connect(target, autocommit=True, connect_timeout=10) as conn:
        rows = conn.execute(
            "SELECT n, c.reltuples::bigint, pg_total_relation_size(c.oid) FROM unnest(%s::text[]) AS n"
            " JOIN pg_class c ON c.oid = to_regclass(n)",
            (sorted(tables),),
        ).fetchall()
    return {name: (tuples if tuples >= 0 else None, size) for name, tuples, size in rows}


def size_text(rows: int | None, size: int) -> str:
    """``~12 M rows, 3.1 GB``: rough on purpose (reltuples is an estimate)."""

    def short(value: float, units: Sequence[str], step: float) -> str:
        for unit in units:
            if value < step or unit == units[-1]:
                return f"{value:.1f}{unit}" if value < 10 and unit.strip() else f"{value:.0f}{unit}"
            value /= step
        raise AssertionError

    count = "rows unknown (never analyzed)" if rows is None else f"~{short(rows, ('', ' k', ' M', ' G'), 1000)} rows"
    return f"{count}, {short(size, (' bytes', ' kB', ' MB', ' GB', ' TB'), 1024)}"


def _record(r: Rule, problem: Problem, op: Operation) -> dict:
    """What judging found, as plain data (what the cache keeps): sizes and the annotations' exemptions come later."""
    return {
        "rule": r.id,
        "migration": op.migration.id,
        "table": op.table,
        "column": problem.column,
        "message": problem.message,
        "line": op.line,
        "fix": problem.fix,
        "lock": problem.lock or r.lock or op.lock,
        "exempt": r.id in op.exemptions,
    }


def _findings(
    found: list[dict],
    tree: MigrationTree,
    annotations: Annotations,
    root: Path,
    sizes: dict[str, tuple[int | None, int]],
) -> list[Finding]:
    findings = []
    for f in found:
        if f["exempt"] or annotations.migration_exemption(f["migration"], f["rule"]) is not None:
            continue
        rows, size = sizes.get(f["table"] or "", (None, None))
        where = f" ({size_text(rows, size)})" if size is not None else ""
        findings.append(
            Finding(
                rule=f["rule"],
                severity=OPERATION_RULES[f["rule"]].severity,
                table=f["table"],
                column=f["column"],
                message=f["message"].replace("{size}", where),
                migration=relative(tree[f["migration"]].path, root),
                line=f["line"],
                fix=f["fix"],
                lock=f["lock"],
                rows=rows,
                bytes=size,
            )
        )
    return findings


def _cache_key(tree: MigrationTree, applied: Sequence[str], judged: Sequence[str], server: str) -> str:
    """Everything a judgement depends on: these rules, the server, the applied files and the judged ones, by content."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(f"{pglast.__version__}\0{urlsplit(server).netloc}\0{urlsplit(server).query}".encode())
    checksums = {node.id: node.checksum for node in tree}
    for label, ids in (("applied", sorted(applied)), ("judged", judged)):
        digest.update(label.encode())
        for migration_id in ids:
            digest.update(f"\0{migration_id}:{checksums.get(migration_id, 'missing')}".encode())
    return digest.hexdigest()


class _Cache:
    """Judgements by ``_cache_key`` in one JSON file under ``<data_dir>/cache``: re-checking unchanged migrations
    replays nothing (only the sizes are read again). The newest few keys are kept; a broken file only costs a replay."""

    KEPT = 8

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.entries: dict[str, list] = json.loads(path.read_bytes())["entries"]
        except (OSError, ValueError, KeyError, TypeError):
            self.entries = {}

    def get(self, key: str) -> list[dict] | None:
        entry = self.entries.get(key)
        return entry if isinstance(entry, list) else None

    def put(self, key: str, found: list[dict]) -> None:
        self.entries.pop(key, None)
        self.entries[key] = found
        kept = dict(list(self.entries.items())[-self.KEPT :])
        save_json(self.path, {"entries": kept})  # unwritable: replayed every time


def _exemptions(piece: str, first_line: int, node: MigrationNode) -> Iterator[str]:
    """Rules exempted by ``-- dbtui:ignore rule: reason`` comments in the statement's text (the comments on the lines
    above it belong to it); an unknown rule or a missing reason is bad input at the comment's line."""
    for match in _IGNORE.finditer(piece):
        rule_id, reason = match.group(1), (match.group(2) or "").strip()
        line = first_line + piece.count("\n", 0, match.start())
        if rule_id not in OPERATION_RULES:
            raise ConfigError(
                f"-- dbtui:ignore names unknown rule {rule_id!r} (known: {', '.join(OPERATION_RULES)})",
                path=display_path(node.path),
                line=line,
            )
        if not reason:
            raise ConfigError(
                f"-- dbtui:ignore {rule_id} needs a reason: '-- dbtui:ignore {rule_id}: why it is safe'",
                path=display_path(node.path),
                line=line,
            )
        yield rule_id


def unknown_migration_annotations(annotations: Annotations, tree: MigrationTree, root: Path) -> list[Finding]:
    """``annotation-unknown`` findings for ``migrations:`` entries naming no migration or no operation rule."""
    path = annotations.path or Path("schema_annotations.yaml")
    where = relative(path, root)
    findings = []
    for migration_id, entry in annotations.migrations.items():
        if migration_id not in tree:
            findings.append(
                Finding(
                    "annotation-unknown",
                    ERROR,
                    None,
                    None,
                    f"annotated migration {migration_id} does not exist",
                    where,
                    entry.line,
                    f"remove migrations.{migration_id}",
                )
            )
        for rule_id, line in entry.ignore_lines.items():
            if rule_id not in OPERATION_RULES:
                findings.append(
                    Finding(
                        "annotation-unknown",
                        ERROR,
                        None,
                        None,
                        f"{migration_id} is exempted from unknown operation rule {rule_id!r} "
                        f"(known: {', '.join(OPERATION_RULES)})",
                        where,
                        line,
                        f"remove migrations.{migration_id}.ignore.{rule_id}",
                    )
                )
    return findings


def is_dev_cluster(url: str, project: Project) -> bool:
    """True when ``url`` is on the project's embedded development cluster (its Unix socket folder)."""
    from urllib.parse import parse_qsl

    from database.dev import server

    host = dict(parse_qsl(urlsplit(url).query)).get("host") or urlsplit(url).hostname or ""
    return host == str(server.dev_cluster(project).socket_dir)


def check_all(
    project: Project, *, target: str, url: str | None = None, server: str | None = None, all_migrations: bool = False
) -> CheckResult:
    """``dbtui check``: the conventions (of ``url``, or a fresh throwaway database on ``server``) and the operation
    rules on the migrations pending on ``target`` (all of them with ``all_migrations``)."""
    annotations = load_annotations(project.annotations)
    result = check(project, url=url, server=server)
    operations = check_operations(
        project,
        target,
        all_migrations=all_migrations,
        annotations=annotations,
        server=server or testdb.server_url(project),
    )
    unknown = unknown_migration_annotations(annotations, load_tree(project.migrations), project.root)
    return replace(
        result, findings=result.findings + tuple(unknown) + operations.findings, operations_scope=operations.scope
    )
