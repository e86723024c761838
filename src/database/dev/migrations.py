"""Apply and roll back migrations in yoyo's format and bookkeeping, safely and fast.

yoyo owns the tables (``_yoyo_migration``, ``_yoyo_log``, its lock row and internal schema), so ``yoyo list`` and
``yoyo apply`` keep working on a database dbtui migrated; the statements themselves we send ourselves, one round trip
per migration (yoyo's savepoint around every statement and three bookkeeping round trips cost 4x ``psql -f``).
Around that, what a team needs:

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
import os
import re
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from database import config, lock
from database.dev import pg
from database.dev.migration_status import CHECKSUM_TABLE, StatusReport, plan_migrate, plan_rollback, read_status
from database.dev.migration_tree import (
    MigrationNode,
    MigrationTree,
    line_of,
    load_tree,
    parse_error_at,
    read_text,
)
from database.dev.paths import display_path
from database.errors import ConfigError, ProblemFound, first_line

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
    error: MigrationError


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
    """A migration failed on the server; it was rolled back (a ``-- transactional: false`` one only partly ran: the
    message says which statements took effect), the ones before it in the run stay applied."""

    def __init__(
        self,
        message: str,
        *,
        migration_id: str,
        done: tuple[str, ...],
        planned: tuple[str, ...],
        path: Path | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message, path=path, line=line)
        self.migration_id = migration_id
        self.done = done
        self.planned = planned


def apply_all(url: str, directory: Path) -> list[str]:
    """Apply every pending migration in ``directory`` to ``url``; returns the ids applied, in order."""
    return list(migrate(url, directory).done)


def migrate(
    url: str,
    directory: Path | MigrationTree,
    target: str | None = None,
    *,
    on_event: OnEvent | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> RunResult:
    """Apply every pending migration, or ``target`` and its unapplied ancestors, in dependency order."""
    return _run(url, directory, "apply", lambda report: plan_migrate(report, target), on_event, lock_timeout)


def rollback(
    url: str,
    directory: Path | MigrationTree,
    target: str,
    *,
    unmark: bool = False,
    on_event: OnEvent | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> RunResult:
    """Roll back ``target`` and its applied descendants, newest first.

    A migration without a rollback file is refused (yoyo would silently do nothing); with ``unmark`` it is only
    marked unapplied and the events say so.
    """

    return _run(
        url, directory, "rollback", lambda report: rollback_plan(report, target, unmark=unmark), on_event, lock_timeout
    )


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


def _run(
    url: str,
    directory: Path | MigrationTree,
    direction: str,
    plan: Callable[[StatusReport], list[str]],
    on_event: OnEvent | None,
    lock_timeout: float,
) -> RunResult:
    emit = on_event or (lambda event: None)
    tree = directory if isinstance(directory, MigrationTree) else load_tree(directory)
    done: list[str] = []
    with _migrate_lock(url, lock_timeout, emit) as log:
        report = read_status(url, tree)  # read under the lock: another migrator may just have applied some
        planned = tuple(plan(report))
        for edited in report.edited:
            emit(Notice(f"warning: {edited} was edited after it was applied (its content differs from what ran)"))
        if not planned:
            return RunResult(direction, planned, ())
        prepared = _prepare(tree, planned, direction)
        backend = _backend(url)
        failure: MigrationError | None = None
        node: MigrationNode | None = None
        try:
            with _yoyo_lock(backend, url, lock_timeout, emit):
                backend.ensure_internal_schema_updated()
                _ensure_checksum_table(backend)
                book = _Bookkeeping(backend)
                for index, migration_id in enumerate(planned):
                    node = tree[migration_id]
                    step = direction if direction == "apply" or node.has_rollback else "unmark"
                    emit(MigrationStarted(migration_id, step, index, len(planned)))
                    started = time.perf_counter()
                    try:
                        _run_one(backend.connection, prepared[migration_id], node, step, book)
                    except (_StatementFailed, psycopg.OperationalError) as exc:
                        failed = exc if isinstance(exc, _StatementFailed) else _StatementFailed(exc, None)
                        failure = (
                            _connection_lost(url, log, failed, node, prepared[migration_id], step, tuple(done), planned)
                            if backend.connection.closed
                            else _migration_error(failed, node, prepared[migration_id], step, tuple(done), planned)
                        )
                        emit(MigrationFailed(migration_id, step, failure))
                        raise failure from None
                    done.append(migration_id)
                    emit(MigrationDone(migration_id, step, time.perf_counter() - started))
        except psycopg.OperationalError as exc:
            if not backend.connection.closed:
                raise
            # The server went away before the first migration, or yoyo could not delete its lock row afterwards (the
            # row names this process: the next run removes it). What failed first is the news.
            raise failure or _connection_lost(
                url, log, _StatementFailed(exc, None), node, None, direction, tuple(done), planned
            ) from None
        finally:
            with contextlib.suppress(Exception):
                backend.connection.close()
    return RunResult(direction, planned, tuple(done))


class _StatementFailed(Exception):
    """A migration's statement failed: the server's error and, when known, the statement's index in the file."""

    def __init__(self, error: psycopg.Error, index: int | None) -> None:
        super().__init__(str(error))
        self.error, self.index = error, index


def _run_one(conn: psycopg.Connection, prepared: _Prepared, node: MigrationNode, step: str, book: _Bookkeeping) -> None:
    """One migration and its bookkeeping in a single transaction (after the fact when it is non-transactional).

    A transactional migration is one simple-protocol query: the file's text, then the bookkeeping statement. Postgres
    runs a multi-statement query as one implicit transaction, so it all commits or none of it does, in one round trip.
    A non-transactional one runs statement by statement in autocommit, as yoyo does, then records itself."""
    record = book.statement(node, step)
    if step == "unmark" or not prepared.statements:
        conn.execute(record)
    elif node.transactional:
        try:
            conn.execute(sql.SQL("{}\n;\n{}").format(sql.SQL(prepared.text), record))
        except psycopg.Error as exc:
            if not isinstance(exc, psycopg.DatabaseError) or exc.diag.statement_position or conn.closed:
                raise _StatementFailed(exc, None) from None
            raise _StatementFailed(exc, _failing_statement(conn, prepared.statements)) from None
    else:
        for index, statement in enumerate(prepared.statements):
            try:
                conn.execute(sql.SQL(statement))
            except psycopg.Error as exc:
                raise _StatementFailed(exc, index) from None
        conn.execute(record)


def _failing_statement(conn: psycopg.Connection, statements: tuple[str, ...]) -> int | None:
    """Which statement fails, for an error the server gave no position for (``DROP TABLE nope``): the statements
    again one at a time, in a transaction that is always rolled back. Only ever runs after a failure."""
    index = None
    try:
        with conn.transaction(force_rollback=True):
            for index, statement in enumerate(statements):  # noqa: B007 (the except clause reads index)
                conn.execute(sql.SQL(statement))
    except psycopg.Error:
        return index
    return None  # it passes now (a lock or serialization failure, say): the message still says what went wrong


class _Bookkeeping:
    """yoyo's rows (``_yoyo_migration``, ``_yoyo_log``) and our checksum row for one migration, as one statement."""

    def __init__(self, backend) -> None:
        from yoyo.migrations import get_migration_hash

        self.hash = get_migration_hash
        who = backend.get_log_data()  # yoyo's own user and host lookup, once per run instead of per migration
        self.username, self.hostname = who["username"], who["hostname"]
        self.migrations = sql.SQL(backend.migration_table_quoted)
        self.log = sql.SQL(backend.log_table_quoted)

    def statement(self, node: MigrationNode, step: str) -> sql.Composed:
        now = sql.SQL("(clock_timestamp() AT TIME ZONE 'UTC')")
        values = {
            "hash": sql.Literal(self.hash(node.id)),
            "id": sql.Literal(node.id),
            "now": now,
            "migrations": self.migrations,
            "log": self.log,
            "ours": sql.Identifier(CHECKSUM_TABLE),
            "log_row": sql.SQL(", ").join(
                sql.Literal(v)
                for v in (str(uuid.uuid1()), self.hash(node.id), node.id, step, self.username, self.hostname)
            ),
        }
        if step == "apply":
            return sql.SQL(
                "WITH mark AS (INSERT INTO {migrations} (migration_hash, migration_id, applied_at_utc)"
                " VALUES ({hash}, {id}, {now})),"
                " logged AS (INSERT INTO {log} (id, migration_hash, migration_id, operation, username, hostname,"
                " created_at_utc) VALUES ({log_row}, {now}))"
                " INSERT INTO {ours} (migration_id, sha256) VALUES ({id}, {sha256})"
                " ON CONFLICT (migration_id) DO UPDATE SET sha256 = EXCLUDED.sha256, applied_at = now()"
            ).format(sha256=sql.Literal(node.checksum), **values)
        return sql.SQL(
            "WITH unmark AS (DELETE FROM {migrations} WHERE migration_hash = {hash}),"
            " logged AS (INSERT INTO {log} (id, migration_hash, migration_id, operation, username, hostname,"
            " created_at_utc) VALUES ({log_row}, {now}))"
            " DELETE FROM {ours} WHERE migration_id = {id}"
        ).format(**values)


def _ensure_checksum_table(backend) -> None:
    with backend.transaction():
        backend.execute(
            _ours(
                "CREATE TABLE IF NOT EXISTS {} (migration_id TEXT PRIMARY KEY, sha256 TEXT NOT NULL,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
        )


def _ours(statement: str) -> str:
    """A statement on our checksum table, in yoyo's ``:name`` parameter style."""
    return sql.SQL(statement).format(sql.Identifier(CHECKSUM_TABLE)).as_string()


@contextlib.contextmanager
def _migrate_lock(url: str, timeout: float, emit: OnEvent) -> Iterator[_ServerLog | None]:
    """The ``dbtui:migrate`` advisory lock on an idle connection of its own: it dies with this process. Yields
    where the server logs, when it is an embedded cluster on this machine (for the error if the server goes away).

    A timeout of 0 means do not wait (Postgres' ``lock_timeout = 0`` would wait forever)."""
    conn = pg.connect(url, application_name=lock.application_name(LOCK_NAME))
    key = lock.lock_key(LOCK_NAME)
    try:
        if conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone() != (True,):
            holder = _lock_holder(conn, key)
            if timeout <= 0:
                raise ProblemFound(
                    f"another migrator ({holder}) holds the migration lock and the lock timeout is 0,"
                    " so dbtui did not wait; nothing was changed, try again when it has finished"
                )
            emit(Notice(f"waiting for another migrator ({holder}) to finish; giving up after {timeout:g} s"))
            conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{int(timeout * 1000)}ms",))
            try:
                conn.execute("SELECT pg_advisory_lock(%s)", (key,))
            except psycopg.errors.LockNotAvailable:
                raise ProblemFound(
                    f"another migrator ({_lock_holder(conn, key)}) still holds the migration lock after {timeout:g} s;"
                    " nothing was applied, try again when it has finished"
                ) from None
        yield _ServerLog.of(conn, url)
    finally:
        conn.close()  # ends the session, which releases the lock


@dataclass(frozen=True)
class _ServerLog:
    """An embedded cluster's log file and its size when the run began: what it says after that is this run's news."""

    path: Path
    offset: int

    @classmethod
    def of(cls, conn: psycopg.Connection, url: str) -> _ServerLog | None:
        from database.dev import server

        if not server.is_local_server(url):
            return None
        row = conn.execute(
            "SELECT CASE WHEN pg_has_role('pg_read_all_settings', 'MEMBER') THEN current_setting('data_directory') END"
        ).fetchone()
        if not row or not row[0]:
            return None
        log = server.Cluster(Path(row[0]).parent.parent).log_file  # the embedded layout: <base>/pg/{data,server.log}
        with contextlib.suppress(OSError):
            return cls(log, log.stat().st_size)
        return None

    def news(self) -> str:
        """What the server's log says happened since the run began: stopped (a shutdown request), or crashed (its
        first PANIC or FATAL, a full disk's "No space left on device" say)."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(max(self.offset, handle.seek(0, os.SEEK_END) - 256 * 1024))
                lines = handle.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return f"it stopped or crashed; see its log {self.path}"
        said = [m for m in map(_LOG_LINE.search, lines) if m]
        crash = next(
            (m for m in said if m["level"] in ("PANIC", "FATAL") and not _SHUTDOWN_NOISE.search(m["text"])), None
        )
        if crash:
            full = (
                " (the disk is full: free some space, then start it again)" if "No space left" in crash["text"] else ""
            )
            return f"it crashed; its log {self.path} says: {crash['level']}: {crash['text']}{full}"
        stop = next((m for m in said if "shutdown request" in m["text"]), None)
        if stop:
            return f"it was stopped (its log {self.path} says: {stop['text']})"
        return f"it stopped or crashed; see its log {self.path}"


_LOG_LINE = re.compile(r"\b(?P<level>PANIC|FATAL|ERROR|LOG):\s+(?P<text>.*\S)")
# What every backend logs while a server shuts down or restarts: consequences, not the cause.
_SHUTDOWN_NOISE = re.compile(r"shutting down|terminating connection|starting up|in recovery")


def _connection_lost(
    url: str,
    log: _ServerLog | None,
    failed: _StatementFailed,
    node: MigrationNode | None,
    prepared: _Prepared | None,
    step: str,
    done: tuple[str, ...],
    planned: tuple[str, ...],
) -> MigrationError:
    """The connection died mid-run: say so, whether the server is up now, what its log says, and where the run
    stopped. psycopg's own words ("the connection is closed") name no cause."""
    what = (
        f"while {'applying' if step == 'apply' else 'rolling back'} {node.id}" if node else "before the first migration"
    )
    message = f"lost the connection to the server {what} ({first_line(failed.error)}); "
    message += log.news() if log else "see the server's log for why"
    try:
        with psycopg.connect(url, connect_timeout=3):
            message += "; it answers again now"
    except psycopg.Error:
        message += "; it does not answer now"
    if node is not None:
        if prepared is not None and not node.transactional and failed.index is not None:
            message += f" [{_partly_done(node.id, prepared, failed.index)}"
        else:
            message += f" [{node.id} is not marked applied: `dbtui status` shows the state once the server is back"
        before = f"; done before it: {', '.join(done)}" if done else ""
        rest = len(planned) - len(done) - 1
        message += f"{before}{f'; {rest} not run' if rest else ''}]"
    return MigrationError(message, migration_id=node.id if node else "", done=done, planned=planned)


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
        backend = get_backend(config.psycopg_dialect_url(url))
    except psycopg.OperationalError as exc:
        raise pg.unreachable(url, exc) from None
    backend.execute(
        "SELECT set_config('client_connection_check_interval', :ms, false)", {"ms": str(CLIENT_CHECK_INTERVAL_MS)}
    )
    return backend


@contextlib.contextmanager
def _yoyo_lock(backend, url: str, timeout: float, emit: OnEvent) -> Iterator[None]:
    """yoyo's lock row, so plain ``yoyo apply`` waits too; a row whose process is gone is removed.

    We hold the advisory lock already, so a row left by a dbtui process is stale for sure; its pid is checked on this
    machine only (the row does not say which machine wrote it), elsewhere we wait for it like yoyo does.
    """
    from yoyo.exceptions import LockTimeout

    from database.dev import server

    row = backend.execute("SELECT pid, ctime FROM yoyo_lock").fetchone()
    if row:
        pid, since = row
        # Ours (pid) is stale for sure: this process holds the advisory lock, so none of its runs is using it.
        if server.is_local_server(url) and (pid == os.getpid() or not server.process_alive(pid)):
            emit(
                Notice(
                    f"removed yoyo's lock left since {since:%Y-%m-%d %H:%M:%S} by process {pid}, which is no longer running"
                )
            )
            backend.break_lock()
        else:
            emit(Notice(f"waiting for yoyo's lock, held by process {pid} since {since:%H:%M:%S}"))
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(backend.lock(timeout=max(timeout, 0.001)))  # yoyo waits forever on 0: try once
        except LockTimeout:
            waited = f"after {timeout:g} s" if timeout > 0 else "(lock timeout 0: dbtui did not wait)"
            raise ProblemFound(
                f"yoyo's lock is still held by process {row[0] if row else '?'} {waited}; nothing was changed; if no"
                " migration is running, remove it with `yoyo break-lock`"
            ) from None
        try:
            yield
        finally:
            if backend.connection.closed:
                # The server went away: yoyo would warn about a nested transaction, then fail to delete its row.
                # The row names this process; the next run removes it.
                with warnings.catch_warnings(), contextlib.suppress(psycopg.OperationalError):
                    warnings.simplefilter("ignore")
                    stack.close()


@dataclass(frozen=True)
class _Prepared:
    """The file this run executes for a migration (the migration, or its rollback file), split into statements."""

    path: Path | None
    text: str
    statements: tuple[str, ...]
    offsets: tuple[int, ...]  # where each statement starts in ``text``


def _prepare(tree: MigrationTree, ids: tuple[str, ...], direction: str) -> dict[str, _Prepared]:
    """Every file the run needs, read and split by Postgres' own parser (pglast) before anything runs, so a syntax
    error in the third migration applies nothing. pglast splits exactly as the server parses (``BEGIN ATOMIC``
    bodies, dollar quotes); the split serves non-transactional files and locating errors."""
    prepared = {}
    for migration_id in ids:
        node = tree[migration_id]
        path = node.path if direction == "apply" else node.rollback_path
        text, statements, offsets = _split(path, direction) if path else ("", [], [])
        for statement, offset in zip(statements, offsets):
            if path and node.transactional and _TRANSACTION_CONTROL.match(statement):
                raise ConfigError(
                    f"{statement.split()[0].upper()} in a transactional migration would end its transaction early; "
                    "remove it (each migration already runs in one transaction), or add -- transactional: false",
                    path=display_path(path),
                    line=line_of(text, offset),
                )
        prepared[migration_id] = _Prepared(path, text, tuple(statements), tuple(offsets))
    return prepared


_TRANSACTION_CONTROL = re.compile(
    r"(?:BEGIN|START\s+TRANSACTION|COMMIT|END|ABORT|ROLLBACK(?!\s+(?:WORK\s+|TRANSACTION\s+)?TO\b))\b", re.IGNORECASE
)


def _split(path: Path, direction: str) -> tuple[str, list[str], list[int]]:
    from pglast import parser

    text = read_text(path)
    try:
        slices = parser.split(text, with_parser=True, only_slices=True)
    except parser.ParseError as exc:
        message, line = parse_error_at(text, exc)
        raise ConfigError(
            f"{message}; nothing was {'applied' if direction == 'apply' else 'rolled back'}",
            path=display_path(path),
            line=line,
        ) from None
    return text, [text[s] for s in slices], [s.start for s in slices]


def _migration_error(
    failed: _StatementFailed,
    node: MigrationNode,
    prepared: _Prepared,
    step: str,
    done: tuple[str, ...],
    planned: tuple[str, ...],
) -> MigrationError:
    """The server's message at ``file:line``: the failing statement located in the file, plus the error position."""
    exc = failed.error
    message = exc.diag.message_primary or first_line(exc)
    if exc.diag.message_detail:
        message += f" ({exc.diag.message_detail})"
    if exc.diag.message_hint:
        message += f" (hint: {exc.diag.message_hint})"
    if node.transactional or failed.index is None or step == "unmark":
        undone = f"{node.id} {'rolled back' if step == 'apply' else 'left applied'}"
    else:
        undone = _partly_done(node.id, prepared, failed.index)
    before = f"; done before it: {', '.join(done)}" if done else ""
    rest = len(planned) - len(done) - 1
    message += f" [{undone}{before}{f'; {rest} not run' if rest else ''}]"
    path = prepared.path
    return MigrationError(
        message,
        migration_id=node.id,
        done=done,
        planned=planned,
        path=display_path(path) if path else None,
        line=_error_line(failed, prepared),
    )


def _partly_done(migration_id: str, prepared: _Prepared, failed: int) -> str:
    """What a ``-- transactional: false`` file left behind: its statements before the failed one took effect (each
    committed on its own), the ones after it did not run, and it is not marked applied, so ``migrate`` runs the whole
    file again: what already ran must be undone, or be safe to run twice, first."""
    total = len(prepared.statements)
    ran = "none of its statements took effect"
    if failed:
        end = prepared.offsets[failed - 1] + len(prepared.statements[failed - 1]) - 1
        first, last = line_of(prepared.text, prepared.offsets[0]), line_of(prepared.text, end)
        span = f"statement 1 (line {first})" if failed == 1 else f"statements 1-{failed} (lines {first}-{last})"
        ran = f"{span} took effect and stay"
    after = total - failed - 1
    skipped = f", {after} after it did not run" if after else ""
    advice = (
        "undo what took effect (or make it safe to run twice, e.g. IF NOT EXISTS), fix the failed statement, "
        "then migrate again: the whole file runs again"
        if failed
        else "fix it, then migrate again"
    )
    return (
        f"{migration_id} is not transactional: {ran}; statement {failed + 1} failed{skipped}; it is not marked "
        f"applied; {advice}"
    )


def _error_line(failed: _StatementFailed, prepared: _Prepared) -> int | None:
    """A position from a whole-file query counts from the file's start; one from a single statement, from its own."""
    position = failed.error.diag.statement_position
    if failed.index is None:
        return line_of(prepared.text, int(position) - 1) if position else None
    if not 0 <= failed.index < len(prepared.offsets):
        return None
    return line_of(prepared.text, prepared.offsets[failed.index] + (int(position) - 1 if position else 0))
