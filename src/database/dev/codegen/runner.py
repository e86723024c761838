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

import contextlib
import dataclasses
import functools
import types
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import database.dev.codegen.cache as cache
from database.config import Project
from database.dev.codegen.errors import CodegenError
from database.dev.codegen.files import compile_module, has_checked_bytecode, validate_module, write_together
from database.dev.fingerprint import migrations_digest
from database.dev.paths import relative
from database.dev.timing import mark
from database.errors import DbtuiError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from concurrent.futures import Future

    import psycopg
    from pglast import ast

    from database.dev.annotations import Annotations
    from database.dev.codegen.infer import Analyzer
    from database.dev.codegen.model import Method, Query
    from database.dev.testdb import Clone


T = TypeVar("T")


@dataclass(frozen=True)
class Output:
    """What one compile produced: both files' text, the methods' signatures, warnings (``file:line: …``) and the
    ORM's parts (``emit.Module.parts``)."""

    schema: str
    orm: str
    signatures: tuple[str, ...]
    warnings: tuple[str, ...]
    parts: tuple[str, ...] = ()
    cached: bool = False  # read from the outputs cache (compiled when it was stored, if its bytecode was)


@dataclass(frozen=True)
class Result:
    """``stale``: the files whose content differs from the output (written unless checking)."""

    output: Output
    stale: tuple[Path, ...]


class Compiler:
    """A warm throwaway database (opened only when the cache cannot answer) and the cache entry of the migrations."""

    def __init__(
        self,
        project: Project,
        *,
        url: str | None = None,
        before_database: Callable[[], None] | None = None,
        lazy_bytecode: bool = False,
    ) -> None:
        self.project = project
        self.server_url = url
        # Watch mode: a hash-checked .pyc already there is left for the importer to replace (see files.py), instead
        # of byte-compiling the whole ORM on every save.
        self._lazy_bytecode = lazy_bytecode
        # Called before the first database work (the CLI's pooler check): a run the cache answers connects nowhere.
        self._before_database = before_database
        self.database_url: str | None = None
        self.analyzed: tuple[str, ...] = ()  # the queries the last compile asked the database about
        self._conn: psycopg.Connection | None = None
        self._clone: Clone | None = None
        self._analyzer: Analyzer | None = None
        self._digest: str | None = None
        self._schema: Future[str] | None = None
        self._opening: Future[Analyzer] | None = None  # the database being made in the background (_open_early)
        self._entry: cache.Entry | None = None
        self._unsaved: list[Query] | None = None  # the queries of a compile whose answers are not yet stored
        # Between compiles (watch mode): each statement's parse, the annotations by their file's stat, and the
        # ORM parts known to byte-compile, so a save costs in proportion to what it changed.
        self._parsed: dict[str, Query | int] = {}
        self._annotations: tuple[tuple[int, int] | None, Annotations] | None = None
        self._compiled: frozenset[str] = frozenset()
        # The last compile's outputs to store (key, Output) and the ORM's .pyc bytes (read after writing it, or
        # stored with the outputs).
        self._output: tuple[str, Output] | None = None
        self._bytecode: bytes | None = None

    def __enter__(self) -> Compiler:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: types.TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Store what the compiles learnt, close the connection and drop the throwaway database."""
        opening, self._opening = self._opening, None
        if opening is not None:  # a database still being made (a compile that failed before using it)
            with contextlib.suppress(Exception):  # (that compile's error is the one to report; Ctrl-C still stops)
                opening.result()
        self._close()

    def _close(self) -> None:
        self.save_cache()
        self._forget_database()()

    def _forget_database(self) -> Callable[[], None]:
        """Forget the throwaway database (the next compile starts afresh); returns what closes and drops it.

        Forgotten first: when the server is gone the drop fails, and the next compile must not use it."""
        conn, url = self._conn, self.database_url
        self._conn = self.database_url = self._clone = self._analyzer = self._schema = self._digest = None

        def drop() -> None:
            if conn is not None:
                conn.close()
            if url is not None:
                from database.dev import testdb

                testdb.drop_database(url)  # WITH (FORCE): a pg_dump still running fails, unread

        return drop

    def _ensure_database(self, *, dump: bool) -> Analyzer:
        """(Re)build the throwaway database when the migrations changed since the last run; with ``dump``, start
        getting schema.sql's text (``_start_dump``)."""
        digest = migrations_digest(self.project.migrations)
        if digest != self._digest or self._analyzer is None:
            self._close()
            if self._before_database is not None:
                self._before_database()
            import psycopg

            from database.dev import testdb

            mark("psycopg, testdb imported")
            self._clone = testdb.clone_database(project=self.project, url=self.server_url)
            self.database_url = self._clone.url
            mark("database created")
            if dump:
                self._start_dump()
            self._conn = psycopg.connect(self.database_url, autocommit=True)
            mark("connected")
            from database.dev.codegen.infer import Analyzer  # pglast loads while pg_dump runs

            mark("infer imported")
            self._analyzer = Analyzer(self._conn)
            mark("catalog read")
            self._digest = digest
        elif dump and self._schema is None:
            self._start_dump()
        return self._analyzer

    def _start_dump(self) -> None:
        """schema.sql's text: the dump kept with the template this database is a copy of, else pg_dump on it (in
        the background; kept for the next run). The database only ever prepares statements: it stays its
        template's copy."""
        from database.dev import schema_dump

        assert self._clone is not None
        kept = schema_dump.kept_dump(self._clone)
        if kept is None:
            self._schema = _in_background(functools.partial(schema_dump.dump_clone, self._clone), "dbtui-codegen-dump")
        else:
            self._schema = _done(kept)
            mark("schema kept with the template")

    def _open_early(self, *, dump: bool) -> None:
        """Start making the database (clone, pg_dump, catalog) in the background while this thread loads pglast and
        parses queries.sql: the database work is mostly waiting on the server and on pg_dump."""
        if self._opening is None:
            self.save_cache()  # here, not in the background thread (``_ensure_database`` may close the old one)
            self._opening = _in_background(functools.partial(self._ensure_database, dump=dump), "dbtui-codegen-db")

    def _database(self, *, dump: bool) -> Analyzer:
        """``_ensure_database``, after the one started early (if any) has finished; its failure is raised here."""
        opening, self._opening = self._opening, None
        if opening is not None:
            opening.result()
        return self._ensure_database(dump=dump)

    def _parse_ahead(self, queries: list[Query]) -> dict[str, ast.Node]:
        """pglast's parse of each statement (half of the analysis' time) while the database is still being made in
        the background, which is mostly waiting on the server; stops when it is ready (the analysis parses the rest)."""
        opening = self._opening
        parsed: dict[str, ast.Node] = {}
        if opening is None:
            return parsed
        from pglast import parse_sql
        from pglast.parser import ParseError

        for query in queries:
            if opening.done():
                break
            with contextlib.suppress(ParseError):  # the analysis reports it, with the server's message
                statement = parse_sql(query.sql)[0].stmt
                if statement is not None:
                    parsed[query.sql] = statement
        mark(f"parsed {len(parsed)} statements ahead")
        if not opening.done():  # the analysis' modules too, while the other thread waits on the server
            import database.dev.codegen.infer  # noqa: F401

            mark("infer imported ahead")
        return parsed

    def compile(self) -> Output:
        """Compile queries.sql against the current migrations; a CodegenError names ``queries.sql:line``."""
        mark("compile")
        key = cache.key(self.project, self.server_url)
        path = relative(self.project.queries, self.project.root)
        try:
            text = self.project.queries.read_text(encoding="utf-8-sig")  # a byte order mark would hide the first query
        except FileNotFoundError:
            raise CodegenError("no such file: write your queries there (see docs/codegen.md)", path=path) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise CodegenError(f"cannot read: {exc}", path=path) from None
        try:
            annotations: bytes | None = self.project.annotations.read_bytes()
        except OSError:
            annotations = None
        output_key = cache.output_key(key, text, annotations, self.project.orm)
        stored = cache.load_output(self.project, output_key)
        if stored is not None:  # the same inputs as a run before: its outputs, no decoding, emitting or compiling
            data, self._bytecode = stored
            output = Output(data["schema"], data["orm"], data["signatures"], data["warnings"], (), cached=True)
            # Stored again, with the ORM's bytecode, when this run is the first to write the ORM from it.
            self.analyzed, self._output = (), None if self._bytecode else (output_key, output)
            return output
        if self._entry is None or self._entry.key != key:
            self._entry = cache.load(self.project, key)
        entry = self._entry
        if entry.schema is None or entry.catalog is None:  # the database is needed whatever queries.sql holds
            self._open_early(dump=entry.schema is None)
        from database.dev.codegen.emit import emit  # (and the annotations' YAML): not needed for stored outputs

        changed = False
        digest = cache.queries_digest(text)
        if entry.queries_digest != digest:
            from database.dev.codegen.parse import parse_queries

            skipped: list[str] = []
            parsed = parse_queries(text, path, self._parsed, skipped)
            mark("parsed")
            entry.queries, entry.queries_digest, changed = tuple(parsed), digest, True
            entry.parse_warnings = tuple(skipped)
        queries = list(entry.queries)
        keys = [cache.query_key(q) for q in queries]
        missing = [(q, k) for q, k in zip(queries, keys) if k not in entry.methods]
        self.analyzed = tuple(q.name for q, _ in missing)
        if missing or entry.schema is None or entry.catalog is None:
            ahead = self._parse_ahead([q for q, _ in missing])
            analyzer = self._database(dump=entry.schema is None)
            analyzer.statements = ahead
            mark("database ready")
            analyzer.describe_all([q for q, _ in missing])
            mark("described")
            for query, query_key in missing:
                entry.methods[query_key] = self._analyze(analyzer, query, path)
            mark("analysed")
            entry.catalog = entry.catalog or analyzer.catalog
            entry.schema = entry.schema or self._dumped_schema()
            mark("schema dumped")
            changed = True
        methods = [dataclasses.replace(entry.methods[k], query=q) for q, k in zip(queries, keys)]
        first: dict[str, Query] = {}
        for method in methods:
            other = first.setdefault(method.method, method.query)
            if other is not method.query:
                raise CodegenError(
                    f"{method.query.name}: gives the method name {method.method!r}, as {other.name} does (line"
                    f" {other.line}); rename one of them",
                    path=path,
                    line=method.query.line,
                )
        if cache.key(self.project, self.server_url) != key:  # a migration changed meanwhile: keep nothing learnt
            self._entry = None
        elif changed:
            self._unsaved = queries
        module = emit(
            entry.catalog,
            methods,
            self._load_annotations(),
            queries=path,
            migrations=relative(self.project.migrations, self.project.root),
        )
        warnings = entry.parse_warnings + tuple(
            f"{path}:{m.query.line}: warning: {w}" for m in methods for w in m.warnings
        )
        output = Output(entry.schema, module.source, module.signatures, warnings, module.parts)
        mark("emitted")
        self._output, self._bytecode = (output_key, output), None
        return output

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
        if self._output is not None and (not self._output[1].cached or self._bytecode):
            key, output = self._output
            self._output = None
            cache.save_output(
                self.project,
                key,
                {
                    "schema": output.schema,
                    "orm": output.orm,
                    "signatures": list(output.signatures),
                    "warnings": list(output.warnings),
                },
                self._bytecode,
            )
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
        """Write the files that differ (atomically; the ORM only once it imports, with its bytecode); returns them."""
        orm = self.project.orm
        files = {self.project.schema: output.schema, orm: output.orm}
        stale = tuple(path for path, text in files.items() if _read(path) != text)
        if check or not stale:
            return stale
        pyc = self._bytecode if output.cached else None  # compiled when it was stored
        if orm in stale and pyc is None:
            name = relative(orm, self.project.root)
            if self._lazy_bytecode and has_checked_bytecode(orm):  # watch: the importer compiles it (files.py)
                validate_module(output.orm, name, output.parts, self._compiled)
            else:  # one compile checks the module and is its bytecode
                pyc = compile_module(output.orm, orm, name)
                if self._output is not None and self._output[1] is output:
                    self._bytecode = pyc  # stored with the outputs
            self._compiled = frozenset(output.parts)
        write_together({path: (files[path], pyc if path == orm else None) for path in stale})
        return stale


def _in_background(function: Callable[[], T], name: str) -> Future[T]:
    """Run ``function()`` in a daemon thread; the future holds its result or exception."""
    import threading
    from concurrent.futures import Future  # (not on the path of a run the cache answers)

    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(function())
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


def _done(value: T) -> Future[T]:
    """A future that already holds ``value``."""
    from concurrent.futures import Future

    future: Future[T] = Future()
    future.set_result(value)
    return future


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a compile runs, on again after. A compile makes objects that live
    until it is done (modules imported, the catalog, every statement's tree, the methods, the code): the collector's
    passes over them free nothing (peak memory is the same without them: 63 MB at 500 queries) and took 30-40 ms of a
    50-query run, 85-130 ms at 500 (one full pass alone 40-80 ms)."""
    import gc

    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def generate(
    project: Project, *, url: str | None = None, check: bool = False, before_database: Callable[[], None] | None = None
) -> Result:
    """``dbtui codegen``: compile once and write schema.sql and the ORM (``check``: write nothing);
    ``before_database`` runs before any database work (none when the cache answers)."""
    with collector_paused(), Compiler(project, url=url, before_database=before_database) as compiler:
        output = compiler.compile()
        if compiler.database_url is None:  # the cache answered
            result = Result(output, compiler.write(output, check=check))
            compiler.save_cache()
            return result
        # Done with the database: it is dropped (waiting on the server) while the files and the cache are written.
        dropping = _in_background(compiler._forget_database(), "dbtui-codegen-drop")
        try:
            result = Result(output, compiler.write(output, check=check))
            mark("written")
            compiler.save_cache()
            mark("cache saved")
        except BaseException:
            with contextlib.suppress(Exception):
                dropping.result()
            raise
        dropping.result()
        mark("database dropped")
        return result


def _read(path: Path) -> str | None:
    """The text of an output as it is now; None when there is none (or it is no text file: it is then replaced)."""
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    except OSError as exc:  # a folder where the file should be, or no permission: say so, write nothing
        raise DbtuiError(f"cannot read {path}: {exc.strerror or exc}") from None
