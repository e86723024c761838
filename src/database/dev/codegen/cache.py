"""The codegen cache: what a compile learnt from the database, kept so the next process need not ask again.

A fresh ``dbtui codegen`` spends nearly all its time on the database (loading psycopg, cloning the throwaway
database, pg_dump, describing each query), yet with unchanged migrations every answer is the same as last time.
One JSON file per *key* under ``<data_dir>/cache/codegen/`` holds schema.sql's text, the catalog, the parsed
queries.sql and each query's analysis (by the query's rewritten text, name, kind and parameters). The key covers
everything those answers depend on: the migrations' content, the server (the binaries' version; with an explicit
URL also that server's address), the source of the stages that produce them and of pglast, and ``FORMAT``. A
changed input gives another key, so a miss, never a stale answer; an unreadable or malformed file is a miss too.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import sys
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from database import config
from database.config import Project
from database.dev import server
from database.dev.cache_file import prune
from database.dev.codegen.files import write_atomic
from database.dev.fingerprint import migrations_digest
from database.errors import DbtuiError

if TYPE_CHECKING:  # imported where entries are decoded: a run the outputs cache answers never builds the model
    from database.dev.codegen.model import Catalog, Method, Query, Table

FORMAT = 4
KEPT = 8  # cache files kept (other branches and worktrees' migrations); the oldest beyond that are removed

_HERE = Path(__file__).resolve().parent
# The code whose output is cached (the analyses and, in outputs/, the emitted files): a change to any of it (an
# upgrade, a fix) must not serve old answers.
_SOURCES = (
    *sorted(_HERE.glob("*.py")),
    _HERE.parent / "schema_dump.py",
    _HERE.parent / "catalog.py",
    _HERE.parent / "annotations.py",
)


@dataclass
class Entry:
    """The cached answers for one key; ``methods`` is keyed by ``query_key`` and has no ``query`` (set on use)."""

    key: str
    schema: str | None = None
    catalog: Catalog | None = None
    queries_digest: str | None = None  # of the queries.sql text that ``queries`` were parsed from
    queries: tuple[Query, ...] = ()
    methods: dict[str, Method] = field(default_factory=dict)
    parse_warnings: tuple[str, ...] = ()  # queries.sql's statements skipped for want of an annotation


def key(project: Project, url: str | None) -> str:
    """The cache key of the current inputs (no database is contacted: see the module docstring)."""
    parts = {
        "format": FORMAT,
        "migrations": migrations_digest(project.migrations),
        "server": server.find_binaries().version,
        "url": config.redact(url) if url else None,  # the throwaway databases live on that server
        "code": _code_digest(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


_code: list[str] = []


def _code_digest() -> str:
    """A hash of the codegen's source and pglast's and psycopg's installs (read once: it is the code running now)."""
    if not _code:
        digest = hashlib.sha256()
        for path in _SOURCES:
            digest.update(path.read_bytes())
        for package in ("pglast", "psycopg"):  # the parser, and the loaders the Python types follow
            spec = importlib.util.find_spec(package)
            if spec and spec.origin:
                info = os.stat(spec.origin)
                digest.update(f"{spec.origin}:{info.st_size}:{info.st_mtime_ns}".encode())
        _code.append(digest.hexdigest())
    return _code[0]


def query_key(query: Query) -> str:
    """What an analysis depends on (not the line: a moved query keeps its analysis); the fields' repr, which is
    exact for these plain dataclasses and cheap enough to take for every query of every compile."""
    return repr((query.name, query.kind, query.sql, query.params, query.embeds))


def queries_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def folder(project: Project) -> Path:
    return project.data_dir / "cache" / "codegen"


def load(project: Project, cache_key: str) -> Entry:
    """The entry stored for ``cache_key``; an empty one when there is none or it cannot be read."""
    from database.dev.codegen.model import Catalog, Method, Query

    path = folder(project) / f"{cache_key}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["format"] != FORMAT or data["key"] != cache_key:
            raise ValueError("another format or key")
        catalog = _decode(Catalog, data["catalog"])
        tables = {t.oid: t for t in catalog.tables}
        return Entry(
            cache_key,
            _decode(str, data["schema"]),
            catalog,
            _decode(str, data["queries_digest"]),
            _decode(tuple[Query, ...], data["queries"]),
            {_decode(str, k): _decode(Method, v, tables, query=None) for k, v in data["methods"].items()},
            _decode(tuple[str, ...], data["parse_warnings"]),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return Entry(cache_key)


def save(project: Project, entry: Entry, current: list[Query]) -> None:
    """Store ``entry`` (complete: schema and catalog known) with the analyses of the ``current`` queries only,
    atomically; drop the oldest files."""
    keys = {query_key(q) for q in current}
    data = {
        "format": FORMAT,
        "key": entry.key,
        "schema": entry.schema,
        "catalog": _encode(entry.catalog),
        "queries_digest": entry.queries_digest,
        "queries": _encode(entry.queries),
        "methods": {k: _encode(m, tables=True) for k, m in entry.methods.items() if k in keys},
        "parse_warnings": list(entry.parse_warnings),
    }
    directory = folder(project)
    try:
        write_atomic(directory / f"{entry.key}.json", json.dumps(data, separators=(",", ":")))
        prune(directory, KEPT)
    except (OSError, DbtuiError):
        pass  # a cache that cannot be written only makes the next run slower


# --- whole outputs ---------------------------------------------------------------------------------------------------
# The same cache key, queries.sql and annotations give the same files: a run with all three unchanged (the usual
# ``dbtui codegen``, ``--check`` in CI, a fresh checkout) reads the outputs and the ORM's bytecode from here, without
# decoding the entry, emitting or compiling anything.

OUTPUTS_KEPT = 16


def output_key(cache_key: str, queries: str, annotations: bytes | None, orm: Path) -> str:
    """What the outputs depend on beyond the cache key; the ORM's path and the interpreter for its bytecode."""
    parts = [
        cache_key,
        queries_digest(queries),
        hashlib.sha256(annotations).hexdigest() if annotations is not None else None,
        str(orm),
        sys.implementation.cache_tag,
    ]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]


def load_output(project: Project, key: str) -> tuple[dict[str, Any], bytes | None] | None:
    """The outputs stored for ``key`` (schema, orm, signatures, warnings) and the ORM's .pyc bytes, if any."""
    base = folder(project) / "outputs" / key
    try:
        data = json.loads(base.with_suffix(".json").read_text(encoding="utf-8"))
        if set(data) != {"schema", "orm", "signatures", "warnings"} or not all(
            isinstance(data[k], str) for k in ("schema", "orm")
        ):
            return None
        data["signatures"], data["warnings"] = tuple(data["signatures"]), tuple(data["warnings"])
    except (OSError, ValueError, TypeError):
        return None
    try:
        pyc: bytes | None = base.with_suffix(".pyc").read_bytes()  # checked by hash on import: never stale
    except OSError:
        pyc = None
    return data, pyc


def save_output(project: Project, key: str, output: dict[str, Any], pyc: bytes | None) -> None:
    directory = folder(project) / "outputs"
    try:
        if pyc is not None:
            write_atomic(directory / f"{key}.pyc", pyc)
        write_atomic(directory / f"{key}.json", json.dumps(output, separators=(",", ":")))
        for old in prune(directory, OUTPUTS_KEPT):
            old.with_suffix(".pyc").unlink(missing_ok=True)
    except (OSError, DbtuiError):
        pass


@functools.cache
def _model() -> types.ModuleType:
    """The model's module, imported on first use: a run the outputs cache answers never builds its dataclasses."""
    import database.dev.codegen.model as model

    return model


def _encode(value: Any, *, tables: bool = False) -> Any:
    """Plain JSON of the model's dataclasses. A Method's ``query`` is left out (the current one is set on load);
    with ``tables``, a Table is its oid (it is in the catalog)."""
    kind: Any = type(value)
    if kind in _PLAIN:
        return value
    if kind is tuple or kind is list:
        return [_encode(v, tables=tables) for v in value]
    if tables and kind is _model().Table:
        return value.oid
    names = _encoded_fields(kind)
    if names is None:
        return value
    return {name: _encode(getattr(value, name), tables=tables) for name in names}


_PLAIN = (str, int, bool, float, type(None))


@functools.cache
def _encoded_fields(kind: Any) -> tuple[str, ...] | None:
    """The fields ``_encode`` writes of a model dataclass (a Method's ``query`` left out); None for other types."""
    if not is_dataclass(kind):
        return None
    return tuple(f.name for f in fields(kind) if not (kind is _model().Method and f.name == "query"))


_hints: dict[type, dict[str, Any]] = {}


def _decode(kind: Any, value: Any, tables: dict[int, Table] | None = None, **given: Any) -> Any:
    """Rebuild a value of type ``kind`` (a model dataclass, ``tuple[X, ...]``, ``X | None``, str, int, bool) from
    its JSON, checking the shape as it goes (a ValueError or TypeError for anything else); ``tables``: the
    catalog's tables by oid, for Tables stored as their oid."""
    if tables is not None and kind is _model().Table:
        return tables[value]  # a KeyError (a miss) for an oid not in the catalog
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        return _decode(next(o for o in options if o is not type(None)), value, tables)
    if origin is tuple:
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        return tuple(_decode(typing.get_args(kind)[0], v, tables) for v in value)
    if isinstance(kind, type) and is_dataclass(kind):
        if not isinstance(value, dict):
            raise TypeError(f"expected an object for {kind.__name__}")
        if kind not in _hints:
            _hints[kind] = typing.get_type_hints(kind)
        hints = _hints[kind]
        names = {f.name for f in fields(kind)} - set(given)
        if set(value) != names:
            raise ValueError(f"{kind.__name__}: fields {sorted(value)} are not {sorted(names)}")
        return kind(**given, **{name: _decode(hints[name], v, tables) for name, v in value.items()})
    if kind in (str, int, bool) and type(value) is kind:
        return value
    raise TypeError(f"expected {kind}, got {type(value).__name__}")
