"""Watch mode driven by a sequence of good and bad saves: it recovers, and orm.py always imports."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from database.config import Project
from database.dev.codegen.watch import QUIET_MS, Failed, Finished, Started, watch

TIMEOUT = 30
BURST_GAP = 0.002  # seconds between two files of one "save all"


def _imports(path: Path) -> bool:
    return subprocess.run([sys.executable, str(path)], capture_output=True).returncode == 0


def test_watch_recovers_from_bad_saves_and_rebuilds_on_migrations(project_copy: Project, server_url: str) -> None:
    events: queue.Queue = queue.Queue()
    stop = threading.Event()

    def loop() -> None:
        for event in watch(project_copy, url=server_url, stop_event=stop):
            events.put(event)

    def outcome() -> Finished | Failed:
        assert isinstance(events.get(timeout=TIMEOUT), Started)
        return events.get(timeout=TIMEOUT)

    worker = threading.Thread(target=loop, daemon=True)
    worker.start()
    try:
        first = outcome()
        assert isinstance(first, Finished) and first.written and _imports(project_copy.orm)
        good = project_copy.queries.read_text()

        project_copy.queries.write_text(good + "\n-- name: Broken :one\nSELECT nosuch FROM users;\n")
        failed = outcome()
        assert isinstance(failed, Failed) and failed.location == f"queries.sql:{good.count(chr(10)) + 3}"
        assert failed.query == "SELECT nosuch FROM users" and "nosuch" in failed.message
        assert _imports(project_copy.orm) and "def broken" not in project_copy.orm.read_text()

        project_copy.queries.write_text(good + "\n-- name: UsersCount :one\nSELECT count(*) FROM users;\n")
        recovered = outcome()
        assert isinstance(recovered, Finished) and recovered.written == (project_copy.orm,)
        assert "users_count() -> int | None" in recovered.signatures
        assert "async def users_count(self) -> int | None:" in project_copy.orm.read_text()

        project_copy.queries.write_text(good + "\n-- name: UsersCount :bad\nSELECT 1;\n")
        assert isinstance(outcome(), Failed) and "users_count" in project_copy.orm.read_text()

        (project_copy.migrations / "0007_nickname.sql").write_text(
            "-- depends: 0006_row_level_security\nALTER TABLE users ADD COLUMN nickname TEXT;\n"
        )
        project_copy.queries.write_text(good + "\n-- name: Nicknames :many\nSELECT nickname FROM users;\n")
        rebuilt = outcome()
        while not isinstance(rebuilt, Finished) or "nicknames() -> list[str | None]" not in rebuilt.signatures:
            rebuilt = outcome()  # the two saves may arrive as one run or two
        assert (
            "nickname TEXT" not in project_copy.schema.read_text()
            and "nickname text" in project_copy.schema.read_text()
        )
        assert _imports(project_copy.orm)
    finally:
        stop.set()
        worker.join(timeout=TIMEOUT)
    assert not worker.is_alive()


def _watching(project: Project, url: str) -> tuple[queue.Queue, threading.Event, threading.Thread]:
    events: queue.Queue = queue.Queue()
    stop = threading.Event()
    worker = threading.Thread(
        target=lambda: [events.put(e) for e in watch(project, url=url, stop_event=stop)], daemon=True
    )
    worker.start()
    return events, stop, worker


def _next_run(events: queue.Queue) -> Finished | Failed:
    started = events.get(timeout=TIMEOUT)
    assert isinstance(started, Started), started
    return events.get(timeout=TIMEOUT)


def _save(path: Path, text: str) -> None:
    """Write the way editors do: a temporary file renamed over the old one."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def test_a_save_all_burst_is_one_run(project_copy: Project, server_url: str) -> None:
    """An editor's "save all" writes queries.sql and the annotations ms apart: one compile for both, not two."""
    events, stop, worker = _watching(project_copy, server_url)
    try:
        assert isinstance(_next_run(events), Finished)
        queries = project_copy.queries.read_text() + "\n-- name: UsersCount :one\nSELECT count(*) FROM users;\n"
        began = time.perf_counter()
        _save(project_copy.queries, queries)
        time.sleep(BURST_GAP)
        _save(project_copy.annotations, project_copy.annotations.read_text())
        stalled = (time.perf_counter() - began) * 1000 >= QUIET_MS  # the machine paused us: two saves, two runs
        started = events.get(timeout=TIMEOUT)
        assert isinstance(started, Started)
        if not stalled:
            assert started.reason == "queries.sql, schema_annotations.yaml changed", started
        finished = events.get(timeout=TIMEOUT)
        assert isinstance(finished, Finished) and "users_count() -> int | None" in finished.signatures
    finally:
        stop.set()
        worker.join(timeout=TIMEOUT)
    assert not worker.is_alive()


def test_a_save_before_the_watcher_starts_is_compiled(project_copy: Project, server_url: str) -> None:
    """The file watcher starts after the first compile; a save before that is found by comparing the files' stat()."""
    stop = threading.Event()
    deadline = threading.Timer(TIMEOUT, stop.set)  # without the rescan the loop would wait for a change forever
    deadline.start()
    events = watch(project_copy, url=server_url, stop_event=stop)
    try:
        assert isinstance(next(events), Started) and isinstance(next(events), Finished)
        # The generator is paused here, before it starts watching: this save can only be seen by the rescan.
        project_copy.queries.write_text(
            project_copy.queries.read_text() + "\n-- name: UsersCount :one\nSELECT count(*) FROM users;\n"
        )
        started = next(events, None)
        assert isinstance(started, Started) and started.reason == "changed while compiling", started
        compiled = next(events)
        assert isinstance(compiled, Finished) and "users_count() -> int | None" in compiled.signatures
    finally:
        deadline.cancel()
        stop.set()
        events.close()
