"""Run the stages: parse → analyse → emit, and write schema.sql and the ORM.

What the database says (schema.sql's text, the catalog, each query's analysis) is kept in the codegen ``cache``,
keyed by the migrations and the server, so a fresh process with unchanged migrations compiles without psycopg and
without touching a database; only queries new since the last run are described.

``Compiler`` keeps its database, connection and the cache entry between runs, so watch mode recompiles only the
queries that changed and rebuilds the database only when the migrations change.

When the database is needed the run is mostly waiting, so it overlaps: pg_dump (when schema.sql's text is not
cached) starts as soon as the database exists and runs while pglast loads, the catalog is read and the queries
are described.
"""

from __future__ import annotations

import __future__
import dataclasses
import os
import tempfile
import threading
import types
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from database.config import Project
from database.dev.fingerprint import migrations_digest
from database.dev.codegen import cache
from database.dev.codegen.errors import CodegenError
from database.errors import DbtuiError

if TYPE_CHECKING:
    from collections.abc import Callable

    import psycopg

    from database.dev.annotations import Annotations
    from database.dev.codegen.infer import Analyzer
    from database.dev.codegen.model import Method, Query


@dataclass(frozen=True)
class Output:
    """What one compile produced: both files' text, the methods' signatures, warnings (``file:line: …``) and the
    ORM's parts (``emit.Module.parts``)."""

    schema: str
    orm: str
    signatures: tuple[str, ...]
    warnings: tuple[str, ...]
    parts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Result:
    """``stale``: the files whose content differs from the output (written unless checking)."""

    output: Output
    stale: tuple[Path, ...]


def _relative(project: Project, path: Path) -> str:
    try:
        return str(path.relative_to(project.root))
    except ValueError:
        return str(path)


class Compiler:
    """A warm throwaway database (opened only when the cache cannot answer) and the cache entry of the migrations."""

    def __init__(self, project: Project, *, url: str | None = None) -> None:
        self.project = project
        self.server_url = url
        self.database_url: str | None = None
        self.analyzed: tuple[str, ...] = ()  # the queries the last compile asked the database about
        self._conn: psycopg.Connection | None = None
        self._analyzer: Analyzer | None = None
        self._digest: str | None = None
        self._schema: Future[str] | None = None
        self._entry: cache.Entry | None = None
        self._unsaved: list[Query] | None = None  # the queries of a compile whose answers are not yet stored
        # Between compiles (watch mode): each statement's parse, the annotations by their file's stat, and the
        # ORM parts known to byte-compile, so a save costs in proportion to what it changed.
        self._parsed: dict[str, Query] = {}
        self._annotations: tuple[tuple[int, int] | None, Annotations] | None = None
        self._compiled: frozenset[str] = frozenset()

    def __enter__(self) -> "Compiler":
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: types.TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Store what the compiles learnt, close the connection and drop the throwaway database."""
        self.save_cache()
        conn, url = self._conn, self.database_url
        # forgotten first: when the server is gone the drop below fails, and the next compile must start afresh
        self._conn = self.database_url = self._analyzer = self._schema = self._digest = None
        if conn is not None:
            conn.close()
        if url is not None:
            from database.dev import testdb

            testdb.drop_database(url)  # WITH (FORCE): a pg_dump still running fails, unread

    def _ensure_database(self, *, dump: bool) -> Analyzer:
        """(Re)build the throwaway database when the migrations changed since the last run; start pg_dump on it
        unless schema.sql's text is known."""
        digest = migrations_digest(self.project.migrations)
        if digest != self._digest or self._analyzer is None:
            self.close()
            import psycopg

            from database.dev import schema_dump, testdb

            self.database_url = testdb.create_database(project=self.project, url=self.server_url)
            if dump:
                self._schema = _in_background(schema_dump.dump_schema, self.database_url)
            self._conn = psycopg.connect(self.database_url, autocommit=True)
            from database.dev.codegen.infer import Analyzer  # pglast loads while pg_dump runs

            self._analyzer = Analyzer(self._conn)
            self._digest = digest
        elif dump and self._schema is None:
            from database.dev import schema_dump

            self._schema = _in_background(schema_dump.dump_schema, self.database_url)  # type: ignore[arg-type]
        return self._analyzer

    def compile(self) -> Output:
        """Compile queries.sql against the current migrations; a CodegenError names ``queries.sql:line``."""
        from database.dev.codegen.emit import emit

        key = cache.key(self.project, self.server_url)
        if self._entry is None or self._entry.key != key:
            self._entry = cache.load(self.project, key)
        entry = self._entry
        path = _relative(self.project, self.project.queries)
        try:
            text = self.project.queries.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CodegenError("no such file: write your queries there (see docs/codegen.md)", path=path) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise CodegenError(f"cannot read: {exc}", path=path) from None
        changed = False
        digest = cache.queries_digest(text)
        if entry.queries_digest != digest:
            from database.dev.codegen.parse import parse_queries

            parsed = parse_queries(text, path, self._parsed)
            entry.queries, entry.queries_digest, changed = tuple(parsed), digest, True
        queries = list(entry.queries)
        keys = [cache.query_key(q) for q in queries]
        missing = [(q, k) for q, k in zip(queries, keys) if k not in entry.methods]
        self.analyzed = tuple(q.name for q, _ in missing)
        if missing or entry.schema is None or entry.catalog is None:
            analyzer = self._ensure_database(dump=entry.schema is None)
            analyzer.describe_all([q for q, _ in missing])
            for query, query_key in missing:
                entry.methods[query_key] = self._analyze(analyzer, query, path)
            entry.catalog = entry.catalog or analyzer.catalog
            entry.schema = entry.schema or self._dumped_schema()
            changed = True
        methods = [dataclasses.replace(entry.methods[k], query=q) for q, k in zip(queries, keys)]
        names = [m.method for m in methods]
        for method in methods:
            if names.count(method.method) > 1:
                raise CodegenError(f"{method.query.name}: two queries give the method name {method.method!r}",
                                   path=path, line=method.query.line)
        if cache.key(self.project, self.server_url) != key:  # a migration changed meanwhile: keep nothing learnt
            self._entry = None
        elif changed:
            self._unsaved = queries
        module = emit(entry.catalog, methods, self._load_annotations(), queries=path,
                      migrations=_relative(self.project, self.project.migrations))
        warnings = tuple(f"{path}:{m.query.line}: warning: {w}" for m in methods for w in m.warnings)
        return Output(entry.schema, module.source, module.signatures, warnings, module.parts)

    def _load_annotations(self) -> Annotations:
        """The annotations file, parsed again only when its size or mtime changed."""
        from database.dev.annotations import load_annotations

        try:
            info = self.project.annotations.stat()
            stamp: tuple[int, int] | None = (info.st_size, info.st_mtime_ns)
        except OSError:
            stamp = None
        if self._annotations is None or self._annotations[0] != stamp or stamp is None:
            self._annotations = (stamp, load_annotations(self.project.annotations))
        return self._annotations[1]

    def save_cache(self) -> None:
        """Store what the compiles since the last save learnt; called once the files are written, as it is not on
        their path (watch mode: when no save has come for a while, so it never delays one)."""
        if self._unsaved is None or self._entry is None:
            return
        queries, self._unsaved = self._unsaved, None
        cache.save(self.project, self._entry, queries)

    def _dumped_schema(self) -> str:
        """schema.sql's text, waiting for pg_dump; a failed dump rebuilds the database next time."""
        assert self._schema is not None
        try:
            return self._schema.result()
        except BaseException:
            self._digest = None
            raise

    def _analyze(self, analyzer: Analyzer, query: Query, path: str) -> Method:
        try:
            return analyzer.analyze(query, path)
        except CodegenError as exc:
            exc.query = query.source
            raise

    def write(self, output: Output, *, check: bool = False) -> tuple[Path, ...]:
        """Write the files that differ (atomically; the ORM only once it imports); returns those files."""
        files = {self.project.schema: output.schema, self.project.orm: output.orm}
        stale = tuple(path for path, text in files.items() if _read(path) != text)
        if not check:
            if self.project.orm in stale:
                validate_module(output.orm, _relative(self.project, self.project.orm), output.parts, self._compiled)
                self._compiled = frozenset(output.parts)
            for path in stale:
                write_atomic(path, files[path])
        return stale


def _in_background(function: Callable[[str], str], argument: str) -> Future[str]:
    """Run ``function(argument)`` in a daemon thread; the future holds its result or exception."""
    future: Future[str] = Future()

    def run() -> None:
        try:
            future.set_result(function(argument))
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, name="dbtui-codegen-dump", daemon=True).start()
    return future


def generate(project: Project, *, url: str | None = None, check: bool = False) -> Result:
    """``dbtui codegen``: compile once and write schema.sql and the ORM (``check``: write nothing)."""
    with Compiler(project, url=url) as compiler:
        output = compiler.compile()
        result = Result(output, compiler.write(output, check=check))
        compiler.save_cache()
        return result


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def validate_module(source: str, name: str, parts: tuple[str, ...] = (), compiled: frozenset[str] = frozenset()) -> None:
    """Byte-compile the generated module before it replaces the old one: never write one that cannot load.

    With its ``parts`` (``emit.Module.parts``), only those not in ``compiled`` (known good) are compiled, and the
    whole source only to locate a failure."""
    flags = __future__.annotations.compiler_flag  # the parts are compiled as the module's first line says
    try:
        for part in parts or (source,):
            if part not in compiled:
                compile(part, name, "exec", flags=flags, dont_inherit=True)
    except SyntaxError as exc:  # a bug in the emitter: keep the old file and say where
        line = None
        try:
            compile(source, name, "exec", flags=flags, dont_inherit=True)
        except SyntaxError as whole:
            line = whole.lineno
        raise DbtuiError(f"generated module does not compile ({exc.msg}); the old file is kept",
                         path=name, line=line) from None


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder and rename it over ``path``: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o777)
        else:
            os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
