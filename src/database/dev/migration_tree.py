"""The migration tree as it is on disk: ids, files, ``-- depends:``, heads, in a stable topological order.

The files are read afresh on every ``load_tree`` call (200 migrations take a few milliseconds), so a long-running
process (the TUI, watch mode) always sees what is on disk; nothing is cached between calls. ``-- depends:`` and
``-- transactional:`` are read with yoyo's own directive parser, so the tree is exactly what yoyo would apply. Reading
the tree touches no database.
"""

from __future__ import annotations

import codecs
import difflib
import hashlib
import heapq
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from database.dev.cache_file import save_json, settled, stat_key
from database.dev.paths import display_path
from database.errors import ConfigError

SQL_SUFFIX = ".sql"
ROLLBACK_SUFFIX = ".rollback.sql"
_DIRECTIVE = re.compile(r"^\s*--\s*(depends|transactional)\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class MigrationNode:
    """One migration file: what it depends on, who depends on it, and its content checksum."""

    id: str
    path: Path
    rollback_path: Path | None
    depends: tuple[str, ...]
    children: tuple[str, ...]
    transactional: bool
    checksum: str  # sha256 of the file's bytes: yoyo hashes only the id, we detect edits with this
    depends_line: int | None  # where ``-- depends:`` is, for errors that point at it

    @property
    def has_rollback(self) -> bool:
        return self.rollback_path is not None

    @property
    def sql(self) -> str:
        """The migration's SQL as it is on disk now."""
        return read_text(self.path)

    @property
    def rollback_sql(self) -> str | None:
        return read_text(self.rollback_path) if self.rollback_path else None


@dataclass(frozen=True)
class MigrationTree:
    """Every migration of a folder, in topological order (ties broken by id, so the order is stable)."""

    directory: Path
    migrations: tuple[MigrationNode, ...]

    @cached_property
    def _by_id(self) -> dict[str, MigrationNode]:
        return {m.id: m for m in self.migrations}

    def __getitem__(self, migration_id: str) -> MigrationNode:
        return self._by_id[migration_id]

    def __contains__(self, migration_id: object) -> bool:
        return migration_id in self._by_id

    def __iter__(self):
        return iter(self.migrations)

    def __len__(self) -> int:
        return len(self.migrations)

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.migrations]

    @property
    def heads(self) -> list[str]:
        """Migrations nothing depends on: where a new migration attaches."""
        return [m.id for m in self.migrations if not m.children]

    @property
    def roots(self) -> list[str]:
        return [m.id for m in self.migrations if not m.depends]

    @property
    def branch_points(self) -> list[str]:
        """Migrations with more than one child (the tree forks after them)."""
        return [m.id for m in self.migrations if len(m.children) > 1]

    @property
    def merge_points(self) -> list[str]:
        """Migrations depending on more than one migration (branches join here)."""
        return [m.id for m in self.migrations if len(m.depends) > 1]

    def position(self, migration_id: str) -> int:
        return self.ids.index(migration_id)

    def ancestors(self, migration_id: str) -> set[str]:
        return self._closure(migration_id, lambda m: m.depends)

    def descendants(self, migration_id: str) -> set[str]:
        return self._closure(migration_id, lambda m: m.children)

    def _closure(self, migration_id: str, step) -> set[str]:
        seen: set[str] = set()
        todo = list(step(self[migration_id]))
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(step(self[current]))
        return seen

    def resolve(self, text: str) -> str:
        """The id a user meant: exact, else a unique prefix (``0003`` → ``0003_organizations_users``).

        An ambiguous prefix (two branches numbered alike) lists the candidates; an unknown id suggests close ones.
        """
        text = text.strip().removesuffix(ROLLBACK_SUFFIX).removesuffix(SQL_SUFFIX)
        text = Path(text).name if "/" in text else text
        if text in self:
            return text
        matches = [i for i in self.ids if i.startswith(text)] if text else []
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise ConfigError(f"{text!r} is ambiguous: it matches {', '.join(matches)}; give the full id")
        close = difflib.get_close_matches(text, self.ids, n=3, cutoff=0.5)
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        raise ConfigError(f"no migration {text!r} in {self.directory}{hint}")


def read_text(path: Path) -> str:
    """A migration file's text; unreadable or non-UTF-8 files are a one-line ConfigError naming the file.

    A UTF-8 byte order mark (some Windows editors write one) is dropped: left in, it hides a first-line
    ``-- depends:`` from the directive parser and is a syntax error to the server."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", path=display_path(path)) from None
    data = data.removeprefix(codecs.BOM_UTF8)
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ConfigError(
            "UTF-16 text (it starts with a UTF-16 byte order mark): save it as UTF-8", path=display_path(path), line=1
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x})", path=display_path(path), line=line
        ) from None


def line_of(text: str, offset: int) -> int:
    """1-based line number of a character offset."""
    return text.count("\n", 0, max(offset, 0)) + 1


def parse_error_at(text: str, exc: Exception) -> tuple[str, int]:
    """pglast's ``ParseError`` as ``(message, line)``. Its location is a character offset into ``text``, or None
    when the text ends mid-statement ("syntax error at end of input"): that error is on the last line with text."""
    message, *rest = exc.args or (str(exc),)
    location = rest[0] if rest and isinstance(rest[0], int) else None
    if location is None:
        location = len(text.rstrip()) - 1
    first, *more = str(message).splitlines() or [""]
    if more:  # "at or near" quotes the rest of an unterminated string or comment, over many lines: its start will do
        first = f'{first[:60]}…"'
    return first, line_of(text, location)


def load_tree(directory: Path, *, cache_dir: Path | None = None) -> MigrationTree:
    """Read every migration in ``directory``; bad input (cycles, unknown dependencies, unreadable files) raises
    ConfigError naming the file and line.

    With ``cache_dir`` (``<data_dir>/cache``), what each file said (its directives and checksum; for a rollback file,
    that it reads) is kept under its name, size, mtime, ctime and inode, as git's index does: an unchanged file is
    not read again, and yoyo is not even imported (2,000 migrations: ~0.1 s less to list them)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(f"migrations folder not found: {directory}")
    # broken symlinks count: reading them gives a clear error instead of a silently missing migration
    entries = {
        e.name: e for e in os.scandir(directory) if (e.is_file() or e.is_symlink()) and not e.name.startswith(".")
    }
    names = entries.keys()
    cache = _FileCache(cache_dir / TREE_CACHE if cache_dir is not None else None, directory)
    parsed: dict[str, tuple[Path, Path | None, tuple[str, ...], bool, str, int | None]] = {}
    for name in sorted(entries):  # names, not Paths, until a file is kept: 4,000 Path objects cost ~30 ms
        suffix = os.path.splitext(name)[1]
        if name.endswith(ROLLBACK_SUFFIX):
            if name.removesuffix(ROLLBACK_SUFFIX) + SQL_SUFFIX not in names:
                raise ConfigError(
                    f"rollback file without its migration {name.removesuffix(ROLLBACK_SUFFIX)}{SQL_SUFFIX}",
                    path=display_path(directory / name),
                )
            continue
        if suffix == ".py":
            raise ConfigError(
                "dbtui reads SQL migrations only (.sql with an optional .rollback.sql)",
                path=display_path(directory / name),
            )
        if suffix.lower() == SQL_SUFFIX and suffix != SQL_SUFFIX:
            # yoyo skips it too: a migration that silently never runs is worse than a refusal
            lower = name.lower()
            fixed = (
                name[: -len(ROLLBACK_SUFFIX)] + ROLLBACK_SUFFIX
                if lower.endswith(ROLLBACK_SUFFIX)
                else name[: -len(suffix)] + SQL_SUFFIX
            )
            raise ConfigError(
                f"migration files end in lowercase {SQL_SUFFIX}; rename it to {fixed} (or move it out "
                f"of {directory.name}/)",
                path=display_path(directory / name),
            )
        if suffix != SQL_SUFFIX:
            continue
        migration_id = name.removesuffix(SQL_SUFFIX)
        path = directory / name
        rollback_name = migration_id + ROLLBACK_SUFFIX
        rollback = directory / rollback_name if rollback_name in names else None
        said = cache.get(entries[name])
        if said is None:
            text = read_text(path)
            depends, transactional, depends_line = _directives(path, text)
            said = [list(depends), transactional, hashlib.sha256(text.encode("utf-8")).hexdigest(), depends_line]
            cache.put(entries[name], said)
        if rollback is not None and cache.get(entries[rollback_name]) is None:
            read_text(rollback)  # unreadable rollback files are reported now, not halfway through a rollback
            cache.put(entries[rollback_name], True)
        parsed[migration_id] = (path, rollback, tuple(said[0]), said[1], said[2], said[3])
    for migration_id, (path, _, depends, _, _, line) in parsed.items():
        for dep in depends:
            if dep not in parsed:
                close = difflib.get_close_matches(dep, [m for m in parsed if m != migration_id], n=1, cutoff=0.5)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ConfigError(
                    f"depends on {dep}, which is not a migration in {directory.name}/{hint}",
                    path=display_path(path),
                    line=line,
                )
    children: dict[str, list[str]] = {i: [] for i in parsed}
    for migration_id, (_, _, depends, *_rest) in parsed.items():
        for dep in depends:
            children[dep].append(migration_id)
    cache.save()
    order = _topological_order({i: v[2] for i, v in parsed.items()}, children, parsed)
    position = {migration_id: n for n, migration_id in enumerate(order)}  # order.index per child was quadratic
    return MigrationTree(
        directory,
        tuple(
            MigrationNode(
                i,
                parsed[i][0],
                parsed[i][1],
                parsed[i][2],
                tuple(sorted(children[i], key=position.__getitem__)),
                parsed[i][3],
                parsed[i][4],
                parsed[i][5],
            )
            for i in order
        ),
    )


TREE_CACHE = "migration_tree.json"
_CACHE_FORMAT = 1  # bump when what is cached per file (``_directives``, the checksum) changes


class _FileCache:
    """What each file said, by name, valid while its ``stat`` is the same (one JSON file; see ``load_tree``).

    A file modified within ``cache_file.SETTLED_NS`` of being read is not kept: a second write in the same clock
    tick, of the same size, would leave its stat unchanged (git's "racy clean" problem)."""

    def __init__(self, path: Path | None, directory: Path) -> None:
        self.path = path
        self.directory = str(directory.resolve())  # one folder per cache file: another folder's files are a miss
        self.old: dict[str, list] = {}
        self.new: dict[str, list] = {}
        self.now = time.time_ns()
        if path is not None:
            try:
                data = json.loads(path.read_bytes())
                if (
                    isinstance(data, dict)
                    and data.get("format") == _CACHE_FORMAT
                    and data.get("directory") == self.directory
                    and isinstance(data["files"], dict)
                ):
                    self.old = data["files"]
            except (OSError, ValueError, KeyError):
                pass

    @staticmethod
    def _key(entry: os.DirEntry) -> list[int] | None:
        try:
            st = entry.stat()
        except OSError:
            return None  # a broken symlink: reading it gives the error
        return stat_key(st)

    def get(self, entry: os.DirEntry) -> Any:
        """What the file said when its stat was the same as now; None if unknown."""
        if self.path is None:
            return None
        found = self.old.get(entry.name)
        key = self._key(entry)
        if key is None or not isinstance(found, list) or len(found) != 2 or found[0] != key:
            return None
        if settled(key, self.now):
            self.new[entry.name] = found
        return found[1]

    def put(self, entry: os.DirEntry, value: Any) -> None:
        if self.path is None:
            return
        key = self._key(entry)
        if key is not None and settled(key, self.now):
            self.new[entry.name] = [key, value]

    def save(self) -> None:
        """Keep what this read found (only the files there now); a folder that cannot be written is not an error."""
        if self.path is None or self.new == self.old:
            return
        save_json(self.path, {"format": _CACHE_FORMAT, "directory": self.directory, "files": self.new})


def _directives(path: Path, text: str) -> tuple[tuple[str, ...], bool, int | None]:
    """``-- depends:`` ids, ``-- transactional:`` flag and the line of the depends directive (yoyo's parser)."""
    from yoyo.migrations import parse_metadata_from_sql_comments  # here: importing yoyo costs the TUI's first frame

    directives, _, _ = parse_metadata_from_sql_comments(text)
    depends_line = None
    for number, line in enumerate(text.splitlines(), 1):
        match = _DIRECTIVE.match(line)
        if match and match.group(1).lower() == "depends":
            depends_line = number
            break
    transactional = directives.get("transactional", "true").strip().lower()
    if transactional not in ("true", "false"):
        where = next((n for n, text_line in enumerate(text.splitlines(), 1) if "transactional" in text_line), None)
        raise ConfigError(
            f"-- transactional: must be true or false, not {transactional!r}", path=display_path(path), line=where
        )
    depends = tuple(dict.fromkeys(d for d in directives.get("depends", "").split() if d))
    return depends, transactional == "true", depends_line


def _topological_order(depends: dict[str, tuple[str, ...]], children: dict[str, list[str]], parsed: dict) -> list[str]:
    """Kahn's algorithm, smallest id first among the ready ones; a cycle names its files in order."""
    waiting = {i: len(set(d)) for i, d in depends.items()}
    ready = [i for i, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        current = heapq.heappop(ready)
        order.append(current)
        for child in children[current]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, child)
    if len(order) < len(depends):
        cycle = _find_cycle({i: d for i, d in depends.items() if i not in set(order)})
        first = parsed[cycle[0]]
        files = " -> ".join(parsed[i][0].name for i in [*cycle, cycle[0]])
        raise ConfigError(
            f"dependency cycle ('->' reads 'depends on'): {files}", path=display_path(first[0]), line=first[5]
        )
    return order


def _find_cycle(depends: dict[str, tuple[str, ...]]) -> list[str]:
    """One cycle among the nodes Kahn's algorithm could not order, in depends-on order, from its smallest id."""
    current = min(depends)
    path: list[str] = []
    while current not in path:
        path.append(current)
        current = min(d for d in depends[current] if d in depends)
    cycle = path[path.index(current) :]
    start = cycle.index(min(cycle))
    return cycle[start:] + cycle[:start]


_NAME = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
_NUMBER = re.compile(r"^(\d+)_")


@dataclass(frozen=True)
class NewMigration:
    path: Path
    rollback_path: Path
    depends: tuple[str, ...]  # the heads it was attached to; more than one means it merges branches


def new_migration(directory: Path, name: str) -> NewMigration:
    """Write ``NNNN_name.sql`` (next number, ``-- depends:`` on every current head) and its ``.rollback.sql``.

    Names become file names and ids, so only lowercase letters, digits and underscores are accepted.
    """
    if not _NAME.fullmatch(name):  # fullmatch: "$" alone would accept a trailing newline
        suggestion = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
        suggestion = re.sub(r"^[0-9_]+", "", suggestion)[:60]
        hint = f" (try {suggestion!r})" if suggestion and _NAME.fullmatch(suggestion) else ""
        raise ConfigError(
            f"bad migration name {name!r}: use lowercase letters, digits and underscores, starting with a letter,"
            f" at most 60 characters; the number is added for you{hint}"
        )
    tree = load_tree(directory)
    numbers = [m for m in (_NUMBER.match(i) for i in tree.ids) if m]
    width = max([4, *(len(m.group(1)) for m in numbers)])
    number = max([0, *(int(m.group(1)) for m in numbers)]) + 1
    migration_id = f"{number:0{width}d}_{name}"
    heads = tuple(tree.heads)
    path = directory / f"{migration_id}{SQL_SUFFIX}"
    rollback_path = directory / f"{migration_id}{ROLLBACK_SUFFIX}"
    depends = f"-- depends: {' '.join(heads)}\n" if heads else ""
    with open(path, "x", encoding="utf-8") as up, open(rollback_path, "x", encoding="utf-8") as down:
        up.write(depends + _TEMPLATE.format(id=migration_id))
        down.write(_ROLLBACK_TEMPLATE.format(id=migration_id))
    return NewMigration(path, rollback_path, heads)


_TEMPLATE = """\
-- {id}: say what this changes and why (a reviewer reads this first).
-- Runs in one transaction; add "-- transactional: false" above for CREATE INDEX CONCURRENTLY and the like.
--
-- Conventions (`dbtui check`): every table looks like this, enums are `*_enum` tables of (value TEXT PRIMARY KEY).
--
-- CREATE TABLE things (
--     id TEXT COLLATE "C" PRIMARY KEY DEFAULT generate_id('thg') CHECK (id LIKE 'thg_%'),
--     created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
--     updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
--     storytime JSONB,
--     organization_id TEXT COLLATE "C" NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
--     vendor_extid TEXT COLLATE "C",  -- third-party ids are *_extid; *_id columns are foreign keys
--     amount BIGINT                   -- BIGINT, never INT
-- );
-- CREATE TRIGGER updated_at BEFORE UPDATE ON things FOR EACH ROW EXECUTE PROCEDURE updated_at();
-- CREATE INDEX ON things(organization_id);  -- every foreign key has an index
-- ALTER TABLE things ENABLE ROW LEVEL SECURITY;
-- CREATE POLICY customer_access ON things TO app_customer
--     USING (organization_id = app_organization_id() AND (SELECT app_is_member()));

"""

_ROLLBACK_TEMPLATE = """\
-- Undo {id}: reverse its statements, last first, so `dbtui rollback` restores the schema exactly
-- (`dbtui migrate --verify` checks that it does).
--
-- DROP TABLE things;
"""


NODE = "●"


@dataclass(frozen=True)
class GraphStep:
    """One migration's place in a ``git log --graph``-style drawing: the lane it sits in, the lanes that merge into
    it and fork out of it, and every lane's target (the migration it leads to) at three moments."""

    id: str
    column: int
    merged: tuple[int, ...]  # lanes of its other parents, ending here
    forked: tuple[int, ...]  # lanes opened for its second and later children
    arriving: tuple[str | None, ...]  # lanes as it is reached (merged lanes still open)
    passing: tuple[str | None, ...]  # lanes beside it, merged ones closed
    leaving: tuple[str | None, ...]  # lanes after it, forks opened


def graph_steps(tree: MigrationTree) -> Iterator[GraphStep]:
    """Lane assignment for drawing the tree, oldest first: each lane waits for the migration it leads to; a
    migration takes the first lane waiting for it (else a free one), its first child inherits the lane, and further
    children get free lanes to its right. The CLI's status graph and the TUI's both draw from this."""
    lanes: list[str | None] = []
    for node in tree:
        hits = [i for i, want in enumerate(lanes) if want == node.id]
        if hits:
            column = hits[0]
        elif None in lanes:
            column = lanes.index(None)
        else:
            column = len(lanes)
            lanes.append(None)
        arriving = tuple(lanes)
        for merged in hits[1:]:
            lanes[merged] = None
        passing = tuple(lanes)
        lanes[column] = node.children[0] if node.children else None
        forked: list[int] = []
        for child in node.children[1:]:
            slot = next((i for i in range(column + 1, len(lanes)) if lanes[i] is None), None)
            if slot is None:
                lanes.append(child)
                slot = len(lanes) - 1
            else:
                lanes[slot] = child
            forked.append(slot)
        yield GraphStep(node.id, column, tuple(hits[1:]), tuple(forked), arriving, passing, tuple(lanes))
        while lanes and lanes[-1] is None:
            lanes.pop()


def draw_graph(tree: MigrationTree) -> list[tuple[str | None, str]]:
    """The tree as ``git log --graph``-style rows, oldest first: ``(id, glyphs)`` for a migration (its marker is
    ``NODE``, for the caller to replace by a state glyph), ``(None, glyphs)`` for a branch or merge connector."""

    def connector(lanes: tuple[str | None, ...], col: int, others: tuple[int, ...], end: str, middle: str) -> str:
        last = max(others)
        cells = []
        for i in range(len(lanes)):
            if i == col:
                glyph = "├"
            elif i in others:
                glyph = end if i == last else middle
            elif col < i < last:
                glyph = "┼" if lanes[i] is not None else "─"
            else:
                glyph = "│" if lanes[i] is not None else " "
            cells.append(glyph + ("─" if col <= i < last else " "))
        return "".join(cells).rstrip()

    rows: list[tuple[str | None, str]] = []
    for step in graph_steps(tree):
        if step.merged:
            rows.append((None, connector(step.arriving, step.column, step.merged, "╯", "┴")))
        rows.append(
            (
                step.id,
                "".join(
                    (NODE if i == step.column else "│" if lane else " ") + " " for i, lane in enumerate(step.passing)
                ).rstrip(),
            )
        )
        if step.forked:
            rows.append((None, connector(step.leaving, step.column, step.forked, "╮", "┬")))
    return rows
