"""Where each table and column came from: the migration file and line that created it.

The migrations are parsed with pglast (Postgres's own parser) in dependency order, and CREATE TABLE, ALTER TABLE …
ADD COLUMN, RENAME and DROP are followed across the tree, so a finding on the live catalog can point at the line a
developer has to change. Anything pglast cannot follow (Python migrations, DO blocks, a statement it cannot parse)
leaves the origin unknown, and unparsable statements are reported as ``problems`` rather than raised.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path

from pglast import ast, enums, parser

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
    statements, problems = parse_statements(text, path)
    source_map.problems.extend(problems)
    lines = LineIndex(text)
    tables, columns = source_map.tables, source_map.columns
    for raw in statements:
        stmt = raw.stmt
        if isinstance(stmt, ast.CreateStmt) and _public(stmt.relation):
            name = stmt.relation.relname
            tables[name] = Origin(path, lines.line(stmt.relation.location))
            for element in stmt.tableElts or ():
                if isinstance(element, ast.ColumnDef):
                    columns[(name, element.colname)] = Origin(path, lines.line(element.location))
        elif isinstance(stmt, ast.CreateTableAsStmt) and _public(stmt.into.rel) and stmt.objtype == enums.ObjectType.OBJECT_TABLE:
            tables[stmt.into.rel.relname] = Origin(path, lines.line(stmt.into.rel.location))
        elif isinstance(stmt, ast.AlterTableStmt) and _public(stmt.relation):
            for cmd in stmt.cmds or ():
                if cmd.subtype == enums.AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
                    columns[(stmt.relation.relname, cmd.def_.colname)] = Origin(path, lines.line(cmd.def_.location))
                elif cmd.subtype == enums.AlterTableType.AT_DropColumn:
                    columns.pop((stmt.relation.relname, cmd.name), None)
        elif isinstance(stmt, ast.RenameStmt) and stmt.relation is not None and _public(stmt.relation):
            old = stmt.relation.relname
            if stmt.renameType == enums.ObjectType.OBJECT_TABLE and old in tables:
                tables[stmt.newname] = tables.pop(old)
                for (table, column) in [k for k in columns if k[0] == old]:
                    columns[(stmt.newname, column)] = columns.pop((table, column))
            elif stmt.renameType == enums.ObjectType.OBJECT_COLUMN and (old, stmt.subname) in columns:
                columns[(old, stmt.newname)] = columns.pop((old, stmt.subname))
        elif isinstance(stmt, ast.DropStmt) and stmt.removeType == enums.ObjectType.OBJECT_TABLE:
            for names in stmt.objects or ():
                parts = [n.sval for n in names]
                if len(parts) == 1 or parts[-2] == "public":
                    tables.pop(parts[-1], None)
                    for key in [k for k in columns if k[0] == parts[-1]]:
                        del columns[key]


def _public(relation: ast.RangeVar | None) -> bool:
    return relation is not None and relation.schemaname in (None, "public")


def parse_statements(text: str, path: Path) -> tuple[tuple, list[SourceProblem]]:
    """Parse SQL with pglast; when it fails, blank out each statement it cannot parse and keep the rest.

    Returns the statements (``RawStmt``, locations are offsets into ``text``) and one problem per unparsable one.
    """
    try:
        return parser.parse_sql(text), []
    except parser.ParseError as exc:
        lines = LineIndex(text)
        first_error = exc
    try:
        tokens = list(parser.scan(text))
    except parser.ParseError:
        return (), [_problem(path, lines, first_error)]
    problems = []
    kept = list(text)
    start = 0
    for token in [*tokens, None]:
        if token is not None and token.name != "ASCII_59":
            continue
        end = token.end + 1 if token is not None else len(text)
        try:
            parser.parse_sql(text[start:end])
        except parser.ParseError as exc:
            problems.append(_problem(path, lines, exc, offset=start))
            kept[start:end] = [c if c == "\n" else " " for c in text[start:end]]
        start = end
    try:
        return parser.parse_sql("".join(kept)), problems
    except parser.ParseError:
        return (), problems


def _problem(path: Path, lines: "LineIndex", exc: parser.ParseError, offset: int = 0) -> SourceProblem:
    message, *rest = exc.args or (str(exc),)
    location = rest[0] if rest and isinstance(rest[0], int) else None
    return SourceProblem(path, lines.line(offset + location) if location is not None else None, f"pglast cannot parse: {message}")


class LineIndex:
    """Character offset → 1-based line number."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]

    def line(self, offset: int | None) -> int:
        return bisect_right(self.starts, max(offset or 0, 0))
