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


def migration_files(directory: Path) -> list[Path]:
    """The migration files of ``directory`` in the order yoyo applies them (dependencies first)."""
    from yoyo import read_migrations
    from yoyo.migrations import topological_sort

    try:
        return [Path(m.path) for m in topological_sort(read_migrations(str(directory)))]
    except Exception:  # a broken tree is the migrations feature's error to report; name order is a fair guess here
        return sorted(p for p in directory.rglob("*") if p.suffix in (".sql", ".py") and not p.name.endswith(".rollback.sql"))


def build_source_map(directory: Path) -> SourceMap:
    """Follow every migration in ``directory`` and record the origin of each table and column still standing."""
    source_map = SourceMap()
    if not directory.is_dir():
        return source_map
    for path in migration_files(directory):
        if path.suffix != ".sql":
            continue  # Python migrations: origins of what they create stay unknown
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            source_map.problems.append(SourceProblem(path, None, f"cannot read: {exc}"))
            continue
        _follow(source_map, path, text)
    return source_map


def _follow(source_map: SourceMap, path: Path, text: str) -> None:
    statements = _parse(source_map, path, text)
    lines = _LineIndex(text)
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


def _parse(source_map: SourceMap, path: Path, text: str) -> tuple:
    """Parse the file; when pglast fails, blank out each statement it cannot parse and keep the rest."""
    try:
        return parser.parse_sql(text)
    except parser.ParseError as exc:
        lines = _LineIndex(text)
        first_error = exc
    try:
        tokens = list(parser.scan(text))
    except parser.ParseError:
        source_map.problems.append(_problem(path, lines, first_error))
        return ()
    kept = list(text)
    start = 0
    for token in [*tokens, None]:
        if token is not None and token.name != "ASCII_59":
            continue
        end = token.end + 1 if token is not None else len(text)
        try:
            parser.parse_sql(text[start:end])
        except parser.ParseError as exc:
            source_map.problems.append(_problem(path, lines, exc, offset=start))
            kept[start:end] = [c if c == "\n" else " " for c in text[start:end]]
        start = end
    try:
        return parser.parse_sql("".join(kept))
    except parser.ParseError:
        return ()


def _problem(path: Path, lines: "_LineIndex", exc: parser.ParseError, offset: int = 0) -> SourceProblem:
    message, *rest = exc.args or (str(exc),)
    location = rest[0] if rest and isinstance(rest[0], int) else None
    return SourceProblem(path, lines.line(offset + location) if location is not None else None, f"pglast cannot parse: {message}")


class _LineIndex:
    """Character offset → 1-based line number."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]

    def line(self, offset: int | None) -> int:
        return bisect_right(self.starts, max(offset or 0, 0))
