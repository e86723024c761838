"""Apply and roll back migrations with yoyo, safely.

yoyo runs each migration's statements; around it we add what a team needs:

- one migrator at a time: a Postgres advisory lock (``dbtui:migrate``, shown by name in ``dbtui locks``) held for the
  whole run on its own idle connection, so it dies with the process, plus yoyo's own lock row (so plain ``yoyo
  apply`` is excluded too); a lock row left by a killed process on this machine is removed;
- each migration, its yoyo bookkeeping and our content checksum commit in one transaction (unless the file says
  ``-- transactional: false``): a failure leaves the database as it was before that migration;
- a failure names ``file:line`` (the server's error position mapped into the file) and the server's message;
- a syntax check of every planned file (pglast, the server's own parser) before anything runs;
- progress events for the CLI and the TUI (``on_event``), plain dataclasses.

Applying and rolling back run DDL; reading state does not (see ``migration_status``).
"""

from __future__ import annotations

import contextlib
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from database import config, lock
from database.dev.migration_status import CHECKSUM_TABLE, StatusReport, plan_migrate, plan_rollback, read_status
from database.dev.migration_tree import MigrationNode, MigrationTree, display_path, line_of, load_tree, read_text
from database.errors import ConfigError, ProblemFound, ServerError

LOCK_NAME = "dbtui:migrate"
DEFAULT_LOCK_TIMEOUT = 120.0  # seconds a second migrator waits before giving up
# A migrator killed mid-statement leaves its server backend running until it notices; this makes it notice in 1 s.
CLIENT_CHECK_INTERVAL_MS = 1000


@dataclass(frozen=True)
class MigrationStarted:
    id: str
    direction: str  # "apply", "rollback" or "unmark" (rolled back without a rollback file: schema unchanged)
    index: int
    total: int


@dataclass(frozen=True)
class MigrationDone:
    id: str
    direction: str
    seconds: float


@dataclass(frozen=True)
class MigrationFailed:
    id: str
    direction: str
    error: "MigrationError"


@dataclass(frozen=True)
class Notice:
    """Something the person running it should know: waiting for a lock, a stale lock removed, an edited file."""

    message: str


MigrationEvent = MigrationStarted | MigrationDone | MigrationFailed | Notice
OnEvent = Callable[[MigrationEvent], None]


@dataclass(frozen=True)
class RunResult:
    direction: str
    planned: tuple[str, ...]
    done: tuple[str, ...]


class MigrationError(ProblemFound):
    """A migration failed on the server; it was rolled back, the ones before it in the run stay applied."""

    def __init__(self, message: str, *, migration_id: str, done: tuple[str, ...], planned: tuple[str, ...],
                 path: Path | None = None, line: int | None = None) -> None:
        super().__init__(message, path=path, line=line)
        self.migration_id = migration_id
        self.done = done
        self.planned = planned


def yoyo_url(url: str) -> str:
    """yoyo names the psycopg 3 driver in the URL scheme."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    raise ConfigError(f"not a PostgreSQL URL: {url.split('://')[0]}://…")


def apply_all(url: str, directory: Path) -> list[str]:
    """Apply every pending migration in ``directory`` to ``url``; returns the ids applied, in order."""
    return list(migrate(url, directory).done)


def migrate(url: str, directory: Path | MigrationTree, target: str | None = None, *, on_event: OnEvent | None = None,
            lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> RunResult:
    """Apply every pending migration, or ``target`` and its unapplied ancestors, in dependency order."""
    return _run(url, directory, "apply", lambda report: plan_migrate(report, target), on_event, lock_timeout)


def rollback(url: str, directory: Path | MigrationTree, target: str, *, unmark: bool = False,
             on_event: OnEvent | None = None, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> RunResult:
    """Roll back ``target`` and its applied descendants, newest first.

    A migration without a rollback file is refused (yoyo would silently do nothing); with ``unmark`` it is only
    marked unapplied and the events say so.
    """

    return _run(url, directory, "rollback", lambda report: rollback_plan(report, target, unmark=unmark), on_event,
                lock_timeout)


def rollback_plan(report: StatusReport, target: str, *, unmark: bool = False) -> list[str]:
    """What ``rollback target`` would run (for a confirmation that lists it exactly); refuses migrations without a
    rollback file unless ``unmark``."""
    ids = plan_rollback(report, target)
    without = [i for i in ids if not report[i].rollback]
    if without and not unmark:
        raise ConfigError(
            f"{', '.join(without)} {'has' if len(without) == 1 else 'have'} no rollback file, so nothing was rolled "
            f"back; write {without[0]}.rollback.sql, or pass --unmark to mark it unapplied without changing the schema"
        )
    return ids


def _run(url: str, directory: Path | MigrationTree, direction: str, plan: Callable[[StatusReport], list[str]],
         on_event: OnEvent | None, lock_timeout: float) -> RunResult:
    emit = on_event or (lambda event: None)
    tree = directory if isinstance(directory, MigrationTree) else load_tree(directory)
    done: list[str] = []
    with _migrate_lock(url, lock_timeout, emit):
        report = read_status(url, tree)  # read under the lock: another migrator may just have applied some
        planned = tuple(plan(report))
        for edited in report.edited:
            emit(Notice(f"warning: {edited} was edited after it was applied (its content differs from what ran)"))
        if not planned:
            return RunResult(direction, planned, ())
        prepared = _prepare(tree, planned, direction)
        backend = _backend(url)
        try:
            with _yoyo_lock(backend, url, lock_timeout, emit):
                backend.ensure_internal_schema_updated()
                _ensure_checksum_table(backend)
                for index, migration_id in enumerate(planned):
                    node = tree[migration_id]
                    step = direction if direction == "apply" or node.has_rollback else "unmark"
                    emit(MigrationStarted(migration_id, step, index, len(planned)))
                    started = time.perf_counter()
                    try:
                        _run_one(backend, prepared[migration_id].migration, node, step)
                    except backend.DatabaseError as exc:
                        error = _migration_error(exc, node, prepared[migration_id], step, tuple(done), planned)
                        emit(MigrationFailed(migration_id, step, error))
                        raise error from None
                    done.append(migration_id)
                    emit(MigrationDone(migration_id, step, time.perf_counter() - started))
        finally:
            with contextlib.suppress(Exception):
                backend.connection.close()
    return RunResult(direction, planned, tuple(done))


def _run_one(backend, migration, node: MigrationNode, step: str) -> None:
    """One migration and its bookkeeping in a single transaction (after the fact when it is non-transactional)."""
    if step == "unmark" or node.transactional:
        with backend.transaction():
            if step != "unmark":
                migration.process_steps(backend, step)
            _record(backend, migration, node, step)
    else:
        migration.process_steps(backend, step)
        with backend.transaction():
            _record(backend, migration, node, step)


def _record(backend, migration, node: MigrationNode, step: str) -> None:
    backend.log_migration(migration, step)
    if step == "apply":
        backend.mark_one(migration, log=False)
        backend.execute(_ours(
            "INSERT INTO {} (migration_id, sha256) VALUES (:id, :sha256)"
            " ON CONFLICT (migration_id) DO UPDATE SET sha256 = EXCLUDED.sha256, applied_at = now()"
        ), {"id": node.id, "sha256": node.checksum})
    else:
        backend.unmark_one(migration, log=False)
        backend.execute(_ours("DELETE FROM {} WHERE migration_id = :id"), {"id": node.id})


def _ensure_checksum_table(backend) -> None:
    with backend.transaction():
        backend.execute(_ours(
            "CREATE TABLE IF NOT EXISTS {} (migration_id TEXT PRIMARY KEY, sha256 TEXT NOT NULL,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        ))


def _ours(statement: str) -> str:
    """A statement on our checksum table, in yoyo's ``:name`` parameter style."""
    return sql.SQL(statement).format(sql.Identifier(CHECKSUM_TABLE)).as_string()


def _connect(url: str, **kwargs) -> psycopg.Connection:
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10, **kwargs)
    except psycopg.OperationalError as exc:
        raise ServerError(f"cannot connect to {config.redact(url)}: {_first_line(exc)}") from None
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"invalid database URL {config.redact(url)}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextlib.contextmanager
def _migrate_lock(url: str, timeout: float, emit: OnEvent) -> Iterator[None]:
    """The ``dbtui:migrate`` advisory lock on an idle connection of its own: it dies with this process."""
    conn = _connect(url, application_name=lock.application_name(LOCK_NAME))
    key = lock.lock_key(LOCK_NAME)
    try:
        if not conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
            holder = _lock_holder(conn, key)
            emit(Notice(f"waiting for another migrator ({holder}) to finish; giving up after {timeout:g} s"))
            conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{int(timeout * 1000)}ms",))
            try:
                conn.execute("SELECT pg_advisory_lock(%s)", (key,))
            except psycopg.errors.LockNotAvailable:
                raise ProblemFound(
                    f"another migrator ({_lock_holder(conn, key)}) still holds the migration lock after {timeout:g} s;"
                    " nothing was applied, try again when it has finished"
                ) from None
        yield
    finally:
        conn.close()  # ends the session, which releases the lock


def _lock_holder(conn: psycopg.Connection, key: int) -> str:
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    row = conn.execute(
        "SELECT a.pid, a.client_addr, a.backend_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND l.classid::bigint = %s AND l.objid::bigint = %s AND l.objsubid = 1",
        (unsigned >> 32, unsigned & 0xFFFF_FFFF),
    ).fetchone()
    if row is None:
        return "it just finished"
    pid, addr, since = row
    return f"server pid {pid}{f' from {addr}' if addr else ''}, connected since {since:%H:%M:%S}"


def _backend(url: str):
    from yoyo import get_backend

    try:
        backend = get_backend(yoyo_url(url))
    except psycopg.OperationalError as exc:
        raise ServerError(f"cannot connect to {config.redact(url)}: {_first_line(exc)}") from None
    backend.execute("SELECT set_config('client_connection_check_interval', :ms, false)", {"ms": str(CLIENT_CHECK_INTERVAL_MS)})
    return backend


@contextlib.contextmanager
def _yoyo_lock(backend, url: str, timeout: float, emit: OnEvent) -> Iterator[None]:
    """yoyo's lock row, so plain ``yoyo apply`` waits too; a row whose process is gone is removed.

    We hold the advisory lock already, so a row left by a dbtui process is stale for sure; its pid is checked on this
    machine only (the row does not say which machine wrote it), elsewhere we wait for it like yoyo does.
    """
    from yoyo.exceptions import LockTimeout

    from database.dev import testdb

    row = backend.execute("SELECT pid, ctime FROM yoyo_lock").fetchone()
    if row:
        pid, since = row
        if testdb._is_local(url) and not testdb._process_alive(pid):
            emit(Notice(f"removed yoyo's lock left since {since:%Y-%m-%d %H:%M:%S} by process {pid}, which is no longer running"))
            backend.break_lock()
        else:
            emit(Notice(f"waiting for yoyo's lock, held by process {pid} since {since:%H:%M:%S}"))
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(backend.lock(timeout=timeout))
        except LockTimeout:
            raise ProblemFound(
                f"yoyo's lock is still held by process {row[0] if row else '?'} after {timeout:g} s; if no migration is"
                " running, remove it with `yoyo break-lock`"
            ) from None
        yield


_YOYO_REGISTRY = threading.Lock()


@dataclass(frozen=True)
class _Prepared:
    """A yoyo ``Migration`` with its steps, and where each statement starts in its file (for errors)."""

    migration: Any
    path: Path | None  # the file this run executes: the migration, or its rollback file
    text: str
    offsets: tuple[int, ...]


def _prepare(tree: MigrationTree, ids: tuple[str, ...], direction: str) -> dict[str, _Prepared]:
    """yoyo ``Migration`` objects for ``ids``, split into statements by Postgres' own parser (pglast).

    Every file the run needs is parsed before anything runs, so a syntax error in the third migration applies
    nothing. pglast splits exactly as the server parses (``BEGIN ATOMIC`` bodies, dollar quotes) and is much faster
    than yoyo's sqlparse reader; yoyo still runs the steps, transactions and bookkeeping. yoyo keeps a process-wide
    registry of migrations; we take each one out again, so a long-running process never sees a stale copy.
    """
    from yoyo.migrations import Migration, StepCollector

    prepared = {}
    for migration_id in ids:
        node = tree[migration_id]
        path = node.path if direction == "apply" else node.rollback_path
        text, statements, offsets = _split(path, direction) if path else ("", [], [])
        with _YOYO_REGISTRY:
            migration = Migration(node.id, str(node.path), str(tree.directory))
            Migration._Migration__all_migrations.pop(node.id, None)
        collector = StepCollector(migration=migration)
        # yoyo pairs the n-th statement with the n-th-from-last rollback statement; one side is empty here
        pairs = [(s, None) for s in statements] if direction == "apply" else [(None, s) for s in reversed(statements)]
        for apply_sql, rollback_sql in pairs:
            collector.add_step(apply_sql, rollback_sql)
        migration.use_transactions = node.transactional
        migration.steps = collector.create_steps(node.transactional)
        migration.source = text
        prepared[migration_id] = _Prepared(migration, path, text, tuple(offsets))
    return prepared


def _split(path: Path, direction: str) -> tuple[str, list[str], list[int]]:
    from pglast import parser

    text = read_text(path)
    try:
        slices = parser.split(text, with_parser=True, only_slices=True)
    except parser.ParseError as exc:
        message, index = exc.args if len(exc.args) == 2 else (str(exc), 0)
        raise ConfigError(f"{message}; nothing was {'applied' if direction == 'apply' else 'rolled back'}",
                          path=display_path(path), line=line_of(text, index)) from None
    return text, [text[s] for s in slices], [s.start for s in slices]


def _migration_error(exc: psycopg.Error, node: MigrationNode, prepared: _Prepared, step: str,
                     done: tuple[str, ...], planned: tuple[str, ...]) -> MigrationError:
    """The server's message at ``file:line``: the statement yoyo ran, located in the file, plus the error position."""
    message = exc.diag.message_primary or _first_line(exc)
    if exc.diag.message_detail:
        message += f" ({exc.diag.message_detail})"
    if exc.diag.message_hint:
        message += f" (hint: {exc.diag.message_hint})"
    undone = "rolled back" if step == "apply" else "left applied"
    before = f"; done before it: {', '.join(done)}" if done else ""
    rest = len(planned) - len(done) - 1
    message += f" [{node.id} {undone}{before}{f'; {rest} not run' if rest else ''}]"
    path = prepared.path
    return MigrationError(message, migration_id=node.id, done=done, planned=planned,
                          path=display_path(path) if path else None, line=_error_line(exc, prepared, step))


def _error_line(exc: psycopg.Error, prepared: _Prepared, step: str) -> int | None:
    from yoyo.migrations import MigrationStep

    failing = next((frame.f_locals["self"] for frame, _ in traceback.walk_tb(exc.__traceback__)
                    if isinstance(frame.f_locals.get("self"), MigrationStep)), None)
    offsets = prepared.offsets
    if failing is None or not offsets:
        return None
    index = failing.id if step == "apply" else len(offsets) - 1 - failing.id
    if not 0 <= index < len(offsets):
        return None
    position = exc.diag.statement_position
    return line_of(prepared.text, offsets[index] + (int(position) - 1 if position else 0))
