"""Where each table and column came from: the migration file and line that created it.

The migrations are parsed with pglast (Postgres's own parser) in dependency order, and CREATE TABLE, ALTER TABLE …
ADD COLUMN, RENAME and DROP are followed across the tree, so a finding on the live catalog can point at the line a
developer has to change. Anything pglast cannot follow (Python migrations, DO blocks, a statement it cannot parse)
leaves the origin unknown, and unparsable statements are reported as ``problems`` rather than raised.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import pglast
from pglast import parser

from database.dev.cache_file import SETTLED_NS, save_json, stat_key
from database.dev.migration_tree import load_tree
from database.errors import DbtuiError


class Origin(NamedTuple):
    """A place in a migration file; ``line`` is 1-based. A named tuple: a map holds one per column, built fast."""

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


def build_source_map(directory: Path, *, cache_dir: Path | None = None) -> SourceMap:
    """Follow every migration in ``directory`` and record the origin of each table and column still standing.

    With ``cache_dir`` (``<data_dir>/cache``), what each file does to tables is kept under a hash of its text, so an
    unchanged migration is never parsed twice, and the whole map is kept under the folder's listing (each file's
    name, size and mtime_ns), so an unchanged folder is not even read; a missing, stale or unreadable cache only
    costs the work it would have saved."""
    source_map = SourceMap()
    if not directory.is_dir():
        return source_map
    stamp = _folder_stamp(directory) if cache_dir is not None else None
    snapshot = _Snapshot(cache_dir / "source_map_tree.json") if cache_dir is not None else None
    if stamp is not None and snapshot is not None and (known := snapshot.load(directory, stamp)) is not None:
        return known
    try:
        paths = [node.path for node in load_tree(directory)]
    except DbtuiError as exc:  # the tree's own commands report this; name order is a fair guess for source lines
        source_map.problems.append(SourceProblem(exc.path or directory, exc.line, exc.message))
        paths = sorted(p for p in directory.glob("*.sql") if not p.name.endswith(".rollback.sql"))
        stamp = None  # the error names its file as seen from the working directory: not kept
    cache = _Cache(cache_dir)
    for path in paths:
        try:
            data = path.read_bytes()
            text = data.decode("utf-8").removeprefix("\ufeff")  # a byte order mark is dropped, as load_tree does
        except (OSError, UnicodeDecodeError) as exc:
            source_map.problems.append(SourceProblem(path, None, f"cannot read: {exc}"))
            stamp = None
            continue
        events, problems = cache.get(data, functools.partial(file_events, text))
        source_map.problems.extend(SourceProblem(path, line, message) for line, message in problems)
        _replay(source_map, path, events)
    cache.save()
    if stamp is not None and snapshot is not None:
        snapshot.save(directory, stamp, source_map)
    return source_map


def _folder_stamp(directory: Path) -> list | None:
    """What the map depends on, cheaply: every entry load_tree reads, with its ``stat_key`` (None: a file cannot be
    stat'ed, e.g. a broken link, so the slow path reports it)."""
    try:
        return sorted(
            [e.name, *stat_key(st)]
            for e in os.scandir(directory)
            if not e.name.startswith(".") and (e.is_file() or e.is_symlink())
            for st in (e.stat(),)
        )
    except OSError:
        return None


class _Snapshot:
    """The whole map of a migrations folder, under the folder's stamp, in one JSON file: flat lists, as JSON loads
    those fastest (re-reading, hashing and replaying 100 files was ~20 ms of a 1,000-table check)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self, directory: Path, stamp: list) -> SourceMap | None:
        try:
            data = json.loads(self.path.read_bytes())
            if data["version"] != _CACHE_VERSION or data["directory"] != str(directory) or data["stamp"] != stamp:
                return None
            paths = [Path(p) for p in data["paths"]]
            tables, columns = data["tables"], data["columns"]
            return SourceMap(
                tables={
                    name: Origin(paths[at], line)
                    for name, at, line in zip(tables[0::3], tables[1::3], tables[2::3], strict=True)
                },
                columns={
                    (table, column): Origin(paths[at], line)
                    for table, column, at, line in zip(
                        columns[0::4], columns[1::4], columns[2::4], columns[3::4], strict=True
                    )
                },
                problems=[SourceProblem(paths[at], line, message) for at, line, message in data["problems"]],
            )
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
            return None

    def save(self, directory: Path, stamp: list, source_map: SourceMap) -> None:
        # A folder with a file written that recently is not kept whole (its mtime could still hide an edit; the
        # ctime in the stamp already catches a touch that puts an old mtime back).
        if any(mtime > time.time_ns() - SETTLED_NS for _, _, mtime, *_ in stamp):
            return
        index: dict[Path, int] = {}
        tables: list = []
        for name, (path, line) in source_map.tables.items():
            tables += (name, index.setdefault(path, len(index)), line)
        columns: list = []
        for (table, column), (path, line) in source_map.columns.items():
            columns += (table, column, index.setdefault(path, len(index)), line)
        problems = [[index.setdefault(p.path, len(index)), p.line, p.message] for p in source_map.problems]
        data = {
            "version": _CACHE_VERSION,
            "directory": str(directory),
            "stamp": stamp,
            "paths": [str(p) for p in index],
            "tables": tables,
            "columns": columns,
            "problems": problems,
        }
        save_json(self.path, data)


# What a file does to tables, as plain JSON-ready lists (the cache's format; bump _CACHE_VERSION when it changes):
# ["table", name, line, [[column, line], …]] · ["add", table, column, line] · ["drop", table, column] ·
# ["rename", old, new] · ["rename_column", table, old, new] · ["drop_table", name]
Event = list
_CACHE_VERSION = f"2-pglast{pglast.__version__}"


def file_events(text: str) -> tuple[list[Event], list[tuple[int | None, str]]]:
    """The table events of one migration's text, and its unparsable statements as (line, message)."""
    statements, problems = table_statements(text, Path())
    events: list[Event] = []
    for statement in statements:
        stmt, line = statement.node, statement.line
        relation = stmt.get("relation") or stmt.get("into", {}).get("rel")
        if (
            statement.kind in ("CreateStmt", "CreateTableAsStmt")
            and _public(relation)
            and stmt.get("objtype", "OBJECT_TABLE") == "OBJECT_TABLE"
        ):
            columns = [
                [e["ColumnDef"]["colname"], line(e["ColumnDef"].get("location"))]
                for e in stmt.get("tableElts", ())
                if "ColumnDef" in e
            ]
            events.append(["table", relation["relname"], line(relation.get("location")), columns])
        elif statement.kind == "AlterTableStmt" and _public(relation):
            for cmd in (c["AlterTableCmd"] for c in stmt.get("cmds", ())):
                if cmd["subtype"] == "AT_AddColumn" and "ColumnDef" in cmd.get("def", {}):
                    column = cmd["def"]["ColumnDef"]
                    events.append(["add", relation["relname"], column["colname"], line(column.get("location"))])
                elif cmd["subtype"] == "AT_DropColumn":
                    events.append(["drop", relation["relname"], cmd.get("name")])
        elif statement.kind == "RenameStmt" and _public(relation):
            if stmt["renameType"] == "OBJECT_TABLE":
                events.append(["rename", relation["relname"], stmt["newname"]])
            elif stmt["renameType"] == "OBJECT_COLUMN":
                events.append(["rename_column", relation["relname"], stmt.get("subname"), stmt["newname"]])
        elif statement.kind == "DropStmt" and stmt.get("removeType") == "OBJECT_TABLE":
            for names in stmt.get("objects", ()):
                parts = [n["String"]["sval"] for n in names["List"]["items"]]
                if len(parts) == 1 or parts[-2] == "public":
                    events.append(["drop_table", parts[-1]])
    return events, [(p.line, p.message) for p in problems]


def _replay(source_map: SourceMap, path: Path, events: list[Event]) -> None:
    tables, columns = source_map.tables, source_map.columns
    for kind, *args in events:
        if kind == "table":
            name, line, defined = args
            tables[name] = Origin(path, line)
            for column, column_line in defined:
                columns[(name, column)] = Origin(path, column_line)
        elif kind == "add":
            table, column, line = args
            columns[(table, column)] = Origin(path, line)
        elif kind == "drop":
            columns.pop(tuple(args), None)
        elif kind == "rename":
            old, new = args
            if old in tables:
                tables[new] = tables.pop(old)
                for key in [k for k in columns if k[0] == old]:
                    columns[(new, key[1])] = columns.pop(key)
        elif kind == "rename_column":
            table, old, new = args
            if (table, old) in columns:
                columns[(table, new)] = columns.pop((table, old))
        elif kind == "drop_table":
            tables.pop(args[0], None)
            for key in [k for k in columns if k[0] == args[0]]:
                del columns[key]


class _Cache:
    """File events keyed by the SHA-256 of the file's bytes, in one JSON file; entries not used by a build are
    dropped when it saves, so the file only ever holds the current migrations."""

    def __init__(self, directory: Path | None) -> None:
        self.path = directory / "source_map.json" if directory else None
        self.entries: dict[str, list] = {}
        self.used: dict[str, list] = {}
        if self.path is not None:
            try:
                data = json.loads(self.path.read_bytes())
                if data.get("version") == _CACHE_VERSION:
                    self.entries = data["files"]
            except (OSError, ValueError, KeyError, AttributeError):
                pass

    def get(self, data: bytes, compute: Callable[[], tuple[list[Event], list]]) -> tuple[list[Event], list]:
        key = hashlib.sha256(data).hexdigest()
        entry = self.entries.get(key)
        if not isinstance(entry, list) or len(entry) != 2:
            entry = list(compute())
        self.used[key] = entry
        return entry[0], entry[1]

    def save(self) -> None:
        if self.path is None or self.used == self.entries:
            return
        save_json(self.path, {"version": _CACHE_VERSION, "files": self.used})  # unwritable: parsed every time


def _public(relation: dict | None) -> bool:
    return relation is not None and relation.get("schemaname", "public") == "public"


# Statements that can create, change or drop a table; everything else (functions, policies, data) is never parsed.
LEADING = r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*"  # blanks and comments before a statement's first word
_TABLE_DDL = re.compile(
    LEADING + r"(?:CREATE\s+(?:(?:GLOBAL|LOCAL|TEMP|TEMPORARY|UNLOGGED)\s+)*TABLE|ALTER\s+TABLE|DROP\s+TABLE)\b",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class Statement:
    """One parsed statement as pglast's JSON parse tree (plain data: far faster to load than its AST objects)."""

    kind: str  # 'CreateStmt', 'AlterTableStmt', 'RenameStmt', 'DropStmt', …
    node: dict
    first_line: int  # line of the statement's first character (comments included) in its file
    encoded: bytes  # the statement's text: parse-tree locations are UTF-8 byte offsets into it
    offset: int = 0  # where the statement's text (comments included) starts in its file, in characters

    def line(self, location: int | None) -> int:
        return self.first_line + self.encoded.count(b"\n", 0, max(location or 0, 0))


def table_statements(
    text: str, path: Path, pattern: re.Pattern[str] = _TABLE_DDL
) -> tuple[list[Statement], list[SourceProblem]]:
    """The table DDL of a SQL file (or the statements ``pattern`` matches), parsed with pglast; statements it cannot
    parse become problems, not errors."""
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
        first = line + text.count("\n", cursor, at)
        line, cursor = first + piece.count("\n"), at + len(piece)  # past it: a repeated statement is found anew
        if not pattern.match(piece):
            continue
        try:
            parsed = json.loads(parser.parse_sql_json(piece))
        except parser.ParseError as exc:
            problems.append(_problem(path, piece, first, exc))
            continue
        encoded = piece.encode("utf-8")
        for raw in parsed.get("stmts", ()):
            [(kind, node)] = raw["stmt"].items()
            statements.append(Statement(kind, node, first, encoded, at))
    return statements, problems


def _problem(path: Path, text: str, first_line: int, exc: parser.ParseError) -> SourceProblem:
    message, *rest = exc.args or (str(exc),)
    location = rest[0] if rest and isinstance(rest[0], int) else None  # a character offset into ``text``
    line = first_line + text.count("\n", 0, location) if location is not None else None
    return SourceProblem(path, line, f"pglast cannot parse: {message}")
