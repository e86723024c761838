"""Watch mode: recompile on every save of queries.sql (or the annotations) and rebuild on a change of migrations/.

``watch()`` is a generator of events, the same loop for ``dbtui watch`` (which prints them) and the TUI (which runs
it in a worker thread and stops it with ``stop_event``). One ``Compiler`` lives for the whole session: its database
and connection stay warm and unchanged queries are not analysed again. A failed run leaves the last good files in
place; the next good save recovers. When the database server stops or cannot be reached, the run says so and the
watch goes on: the scratch server is started again at once, a configured one is tried every SERVER_RETRY_S seconds
and the watch compiles as soon as it answers.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import watchfiles

from database.config import Project
from database.dev.codegen.runner import Compiler, collector_paused
from database.dev.paths import relative
from database.dev.project_watch import is_input, watched_folders
from database.errors import DbtuiError, ServerError, first_line

# Editors save in bursts (write a temporary file, rename it, touch it; "save all" writes the files a few ms apart):
# compile once nothing new has happened for QUIET_MS, but never wait over MAX_WAIT_MS. This is watchfiles' ``step``:
# its loop sleeps a step, and returns the changes once a step adds none, so changes less than QUIET_MS apart are
# one run, seen QUIET_MS to 2 * QUIET_MS after the last.
QUIET_MS = 5
MAX_WAIT_MS = 400
# When nothing has happened for RESCAN_MS: the codegen cache is written (never in the way of a save), and the inputs'
# stat() is compared with what the last compile read (the watcher starts after the first compile, so a save during
# that compile is otherwise never seen).
RESCAN_MS = 1000
# While the database server is down: how often watch checks whether it answers again.
SERVER_RETRY_S = 5.0


@dataclass(frozen=True)
class Started:
    reason: str


@dataclass(frozen=True)
class Finished:
    """A good run: ``written`` lists the files that changed (empty when the output was already current)."""

    duration: float
    written: tuple[Path, ...]
    signatures: tuple[str, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Failed:
    """A failed run: ``location`` is ``queries.sql:LINE`` where known, ``query`` the offending statement."""

    duration: float
    location: str | None
    message: str
    query: str | None = None
    server_down: bool = False  # the database server does not answer: watch waits for it and compiles again

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


Event = Started | Finished | Failed


def run_once(compiler: Compiler, reason: str, *, again: bool = True) -> Generator[Event, None, bool]:
    """One compile-and-write, reported as Started then Finished or Failed; returns True when it failed because the
    database server does not answer (watch then waits for it).

    A server that went away and answers again (the scratch server is started again on demand) gets one more run."""
    yield Started(reason)
    began = time.perf_counter()
    try:
        with collector_paused():
            output = compiler.compile()
            written = compiler.write(output)
    except (ServerError, psycopg.Error) as exc:
        failure = first_line(exc)
        if not isinstance(exc, ServerError) and not _connection_failure(exc):  # the server answered: an error
            _forget_database(compiler)
            yield Failed(time.perf_counter() - began, None, f"database error: {failure}")
            return False
    except DbtuiError as exc:
        yield Failed(time.perf_counter() - began, exc.location, exc.message, getattr(exc, "query", None))
        return False
    else:
        yield Finished(time.perf_counter() - began, written, output.signatures, output.warnings)
        return False
    _forget_database(compiler)
    duration = time.perf_counter() - began
    if not server_answers(compiler):
        yield Failed(
            duration,
            None,
            f"the database server does not answer ({failure}); waiting for it, compiling again when it is back",
            server_down=True,
        )
        return True
    if not again:
        yield Failed(duration, None, f"database error: {failure}")
        return False
    yield Failed(duration, None, f"{failure}; the database server answers now: compiling again")
    return (yield from run_once(compiler, "the database server answers again", again=False))


def _connection_failure(exc: psycopg.Error) -> bool:
    """The connection failed or was ended (no SQLSTATE: the client lost it; class 08; 57P0x: shut down, crashed,
    starting), as opposed to an error the server gave (a template in use is 55006, an OperationalError too)."""
    return exc.sqlstate is None or exc.sqlstate.startswith(("08", "57P"))


def server_answers(compiler: Compiler) -> bool:
    """True when the server the compiler uses accepts a connection; asking for the scratch server starts it."""
    from database.dev import testdb

    try:
        url = testdb.with_database(compiler.server_url or testdb.server_url(compiler.project), "postgres")
        with psycopg.connect(url, connect_timeout=3):
            return True
    except (ServerError, psycopg.Error):
        return False


def _forget_database(compiler: Compiler) -> None:
    """Start afresh on the next run; the throwaway database cannot be dropped while its server is away."""
    with contextlib.suppress(DbtuiError, psycopg.Error):
        compiler.close()


def _reason(project: Project, changes: set[tuple[watchfiles.Change, str]]) -> str:
    names = sorted({relative(Path(path), project.root) for _, path in changes})
    return f"{', '.join(names)} changed"


def watch(project: Project, *, url: str | None = None, stop_event: threading.Event | None = None) -> Iterator[Event]:
    """Compile now, then after every relevant change until ``stop_event`` is set (or Ctrl-C)."""
    relevant, folders = is_input(project), watched_folders(project)  # the same files the TUI reloads on
    with Compiler(project, url=url, lazy_bytecode=True) as compiler:
        compiled = _fingerprint(project)
        down = yield from run_once(compiler, "start")
        retry_at = time.monotonic() + SERVER_RETRY_S
        for changes in watchfiles.watch(
            *folders,
            watch_filter=relevant,
            debounce=MAX_WAIT_MS,
            step=QUIET_MS,
            rust_timeout=RESCAN_MS,
            yield_on_timeout=True,
            stop_event=stop_event,
            recursive=False,
            raise_interrupt=False,
        ):
            if not changes:  # quiet for RESCAN_MS
                compiler.save_cache()
                if down and time.monotonic() >= retry_at:
                    retry_at = time.monotonic() + SERVER_RETRY_S
                    if not server_answers(compiler):
                        continue
                    reason = "the database server answers again"
                elif _fingerprint(project) == compiled:
                    continue
                else:
                    reason = "changed while compiling"
            else:
                reason = _reason(project, changes)
            compiled = _fingerprint(project)
            down = yield from run_once(compiler, reason)
            retry_at = time.monotonic() + SERVER_RETRY_S


def _fingerprint(project: Project) -> tuple:
    """Size and mtime of every input (None for a missing one): equal fingerprints, nothing to recompile."""

    def stat(path: Path) -> tuple[int, int] | None:
        try:
            info = path.stat()
        except OSError:
            return None
        return info.st_size, info.st_mtime_ns

    try:
        migrations = sorted(e.name for e in os.scandir(project.migrations) if e.name.lower().endswith((".sql", ".py")))
    except OSError:
        migrations = []
    paths = [project.queries, project.annotations, *(project.migrations / name for name in migrations)]
    return tuple((str(path), stat(path)) for path in paths)
