"""Watch mode driven by a sequence of good and bad saves: it recovers, and orm.py always imports."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from pathlib import Path

from database.config import Project
from database.dev.codegen.watch import Failed, Finished, Started, watch

TIMEOUT = 30


def _imports(path: Path) -> bool:
    return subprocess.run([sys.executable, str(path)], capture_output=True).returncode == 0


def test_watch_recovers_from_bad_saves_and_rebuilds_on_migrations(tmp_project: Project, server_url: str) -> None:
    events: queue.Queue = queue.Queue()
    stop = threading.Event()

    def loop() -> None:
        for event in watch(tmp_project, url=server_url, stop_event=stop):
            events.put(event)

    def outcome() -> Finished | Failed:
        assert isinstance(events.get(timeout=TIMEOUT), Started)
        return events.get(timeout=TIMEOUT)

    worker = threading.Thread(target=loop, daemon=True)
    worker.start()
    try:
        first = outcome()
        assert isinstance(first, Finished) and first.written and _imports(tmp_project.orm)
        good = tmp_project.queries.read_text()

        tmp_project.queries.write_text(good + "\n-- name: Broken :one\nSELECT nosuch FROM users;\n")
        failed = outcome()
        assert isinstance(failed, Failed) and failed.location == f"queries.sql:{good.count(chr(10)) + 3}"
        assert failed.query == "SELECT nosuch FROM users" and "nosuch" in failed.message
        assert _imports(tmp_project.orm) and "def broken" not in tmp_project.orm.read_text()

        tmp_project.queries.write_text(good + "\n-- name: UsersCount :one\nSELECT count(*) FROM users;\n")
        recovered = outcome()
        assert isinstance(recovered, Finished) and recovered.written == (tmp_project.orm,)
        assert "users_count() -> int | None" in recovered.signatures
        assert "async def users_count(self) -> int | None:" in tmp_project.orm.read_text()

        tmp_project.queries.write_text(good + "\n-- name: UsersCount :bad\nSELECT 1;\n")
        assert isinstance(outcome(), Failed) and "users_count" in tmp_project.orm.read_text()

        (tmp_project.migrations / "0007_nickname.sql").write_text("-- depends: 0006_row_level_security\n"
                                                                   "ALTER TABLE users ADD COLUMN nickname TEXT;\n")
        tmp_project.queries.write_text(good + "\n-- name: Nicknames :many\nSELECT nickname FROM users;\n")
        rebuilt = outcome()
        while not isinstance(rebuilt, Finished) or "nicknames() -> list[str | None]" not in rebuilt.signatures:
            rebuilt = outcome()  # the two saves may arrive as one run or two
        assert "nickname TEXT" not in tmp_project.schema.read_text() and "nickname text" in tmp_project.schema.read_text()
        assert _imports(tmp_project.orm)
    finally:
        stop.set()
        worker.join(timeout=TIMEOUT)
    assert not worker.is_alive()
