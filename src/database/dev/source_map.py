"""Where each table and column came from: the migration file and line that created it.

The migrations are parsed with pglast (Postgres's own parser) in dependency order, and CREATE TABLE, ALTER TABLE …
ADD COLUMN, RENAME and DROP are followed across the tree, so a finding on the live catalog can point at the line a
developer has to change. Anything pglast cannot follow (Python migrations, DO blocks, a statement it cannot parse)
leaves the origin unknown, and unparsable statements are reported as ``problems`` rather than raised.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from pglast import parser

from database.dev.migration_tree import load_tree
from database.errors import DbtuiError


@dataclass(frozen=True)
class Origin:
    """A place in a migration file; ``line`` is 1-based."""

    path: Path
    line: int


@dataclass(frozen=True)
class SourceProblem:
    """A migration (or one statement of it) that could not be parsed; its tables have unknown origins."""

    path: Path
    line: int | None
    message: str


@dataclass
class SourceMap:
    tables: dict[str, Origin] = field(default_factory=dict)
    columns: dict[tuple[str, str], Origin] = field(default_factory=dict)
    problems: list[SourceProblem] = field(default_factory=list)

    def table(self, name: str) -> Origin | None:
        return self.tables.get(name)

    def column(self, table: str, column: str) -> Origin | None:
        """Where the column was added; the table's origin when the column's own line is unknown."""
        return self.columns.get((table, column)) or self.tables.get(table)


def build_source_map(directory: Path) -> SourceMap:
    """Follow every migration in ``directory`` and record the origin of each table and column still standing."""
    source_map = SourceMap()
    if not directory.is_dir():
        return source_map
    try:
        paths = [node.path for node in load_tree(directory)]
    except DbtuiError as exc:  # the tree's own commands report this; name order is a fair guess for source lines
        source_map.problems.append(SourceProblem(exc.path or directory, exc.line, exc.message))
        paths = sorted(p for p in directory.glob("*.sql") if not p.name.endswith(".rollback.sql"))
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            source_map.problems.append(SourceProblem(path, None, f"cannot read: {exc}"))
            continue
        _follow(source_map, path, text)
    return source_map


def _follow(source_map: SourceMap, path: Path, text: str) -> None:
    statements, problems = table_statements(text, path)
    source_map.problems.extend(problems)
    tables, columns = source_map.tables, source_map.columns
    for statement in statements:
        stmt, line = statement.node, statement.line
        relation = stmt.get("relation") or stmt.get("into", {}).get("rel")
        if statement.kind in ("CreateStmt", "CreateTableAsStmt") and _public(relation) \
                and stmt.get("objtype", "OBJECT_TABLE") == "OBJECT_TABLE":
            name = relation["relname"]
            tables[name] = Origin(path, line(relation.get("location")))
            for element in stmt.get("tableElts", ()):
                if "ColumnDef" in element:
                    column = element["ColumnDef"]
                    columns[(name, column["colname"])] = Origin(path, line(column.get("location")))
        elif statement.kind == "AlterTableStmt" and _public(relation):
            for cmd in (c["AlterTableCmd"] for c in stmt.get("cmds", ())):
                if cmd["subtype"] == "AT_AddColumn" and "ColumnDef" in cmd.get("def", {}):
                    column = cmd["def"]["ColumnDef"]
                    columns[(relation["relname"], column["colname"])] = Origin(path, line(column.get("location")))
                elif cmd["subtype"] == "AT_DropColumn":
                    columns.pop((relation["relname"], cmd.get("name")), None)
        elif statement.kind == "RenameStmt" and _public(relation):
            old, new = relation["relname"], stmt["newname"]
            if stmt["renameType"] == "OBJECT_TABLE" and old in tables:
                tables[new] = tables.pop(old)
                for key in [k for k in columns if k[0] == old]:
                    columns[(new, key[1])] = columns.pop(key)
            elif stmt["renameType"] == "OBJECT_COLUMN" and (old, stmt.get("subname")) in columns:
                columns[(old, new)] = columns.pop((old, stmt["subname"]))
        elif statement.kind == "DropStmt" and stmt.get("removeType") == "OBJECT_TABLE":
            for names in stmt.get("objects", ()):
                parts = [n["String"]["sval"] for n in names["List"]["items"]]
                if len(parts) == 1 or parts[-2] == "public":
                    tables.pop(parts[-1], None)
                    for key in [k for k in columns if k[0] == parts[-1]]:
                        del columns[key]


def _public(relation: dict | None) -> bool:
    return relation is not None and relation.get("schemaname", "public") == "public"


# Statements that can create, change or drop a table; everything else (functions, policies, data) is never parsed.
_TABLE_DDL = re.compile(
    r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*"  # leading blanks and comments
    r"(?:CREATE\s+(?:(?:GLOBAL|LOCAL|TEMP|TEMPORARY|UNLOGGED)\s+)*TABLE|ALTER\s+TABLE|DROP\s+TABLE)\b",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class Statement:
    """One parsed statement as pglast's JSON parse tree (plain data: far faster to load than its AST objects)."""

    kind: str  # 'CreateStmt', 'AlterTableStmt', 'RenameStmt', 'DropStmt', …
    node: dict
    first_line: int  # line of the statement's first character (comments included) in its file
    encoded: bytes  # the statement's text: parse-tree locations are UTF-8 byte offsets into it

    def line(self, location: int | None) -> int:
        return self.first_line + self.encoded.count(b"\n", 0, max(location or 0, 0))


def table_statements(text: str, path: Path) -> tuple[list[Statement], list[SourceProblem]]:
    """The table DDL of a SQL file, parsed with pglast; statements it cannot parse become problems, not errors."""
    try:
        pieces = parser.split(text, with_parser=False)  # the scanner alone: fast, and fine with PG syntax pglast lacks
    except parser.ParseError as exc:
        return [], [_problem(path, text, 1, exc)]
    statements, problems = [], []
    cursor, line = 0, 1
    for piece in pieces:
        at = text.find(piece, cursor)
        if at < 0:
            continue
        line += text.count("\n", cursor, at)
        cursor = at
        if not _TABLE_DDL.match(piece):
            continue
        try:
            parsed = json.loads(parser.parse_sql_json(piece))
        except parser.ParseError as exc:
            problems.append(_problem(path, piece, line, exc))
            continue
        encoded = piece.encode("utf-8")
        for raw in parsed.get("stmts", ()):
            [(kind, node)] = raw["stmt"].items()
            statements.append(Statement(kind, node, line, encoded))
    return statements, problems


def _problem(path: Path, text: str, first_line: int, exc: parser.ParseError) -> SourceProblem:
    message, *rest = exc.args or (str(exc),)
    location = rest[0] if rest and isinstance(rest[0], int) else None  # a character offset into ``text``
    line = first_line + text.count("\n", 0, location) if location is not None else None
    return SourceProblem(path, line, f"pglast cannot parse: {message}")
