"""TUI test fixtures: a throwaway project folder, a frozen clock, and helpers to drive the app with Pilot."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from textual.dom import DOMNode
from textual.pilot import Pilot
from textual.widgets import Static

from database.dev import testdb
from dbtui.app import Clock, DbtuiApp
from dbtui.context import Context

REPO = Path(__file__).resolve().parents[2]
SIZE = (120, 36)
SNAPSHOT_DATABASE = "dbtui_tui_snapshot"  # a fixed name: the header shows it


class FrozenClock(Clock):
    """Always the same wall time, and every duration zero: screenshots do not depend on when they were taken."""

    def now(self) -> datetime:
        return datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    def monotonic(self) -> float:
        return 0.0


@pytest.fixture
def tui_project(tmp_path: Path) -> Path:
    """A project folder with this repo's migrations, queries and annotations (whatever of them exists)."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "tui-test"\n\n[tool.dbtui]\n', encoding="utf-8")
    shutil.copytree(REPO / "migrations", root / "migrations")
    for name in ("queries.sql", "schema_annotations.yaml"):
        if (REPO / name).is_file():
            shutil.copy(REPO / name, root / name)
    return root


@pytest.fixture
def fixed_database(empty_database: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty database that the header calls by a name that never changes (snapshots show it). Its real name is
    unique: the scratch server is shared by every checkout of this user, and their suites run at the same time."""
    from dbtui import app

    monkeypatch.setattr(app, "database_label", lambda url, **_: f"{SNAPSHOT_DATABASE} (socket)")
    return empty_database


class LateDatabase:
    """A database that does not exist when the app starts: the test creates (and drops) it while the app runs."""

    def __init__(self, server_url: str, name: str) -> None:
        self.server_url, self.name = server_url, name
        self.url = testdb.with_database(server_url, name)

    def run(self, statement: str) -> None:
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(sql.SQL(statement).format(sql.Identifier(self.name)))

    def create(self) -> None:
        self.run("CREATE DATABASE {}")

    def drop(self) -> None:
        self.run("DROP DATABASE IF EXISTS {} WITH (FORCE)")


@pytest.fixture
def late_database(server_url: str, request: pytest.FixtureRequest) -> Iterator[LateDatabase]:
    # The scratch server is shared by every checkout's test runs: the pid keeps the name this run's own.
    database = LateDatabase(server_url, f"dbtui_tui_late_{os.getpid()}_{request.node.name[:40].lower()}")
    database.drop()
    yield database
    database.drop()


def make_app(project: Path, url: str, *, heartbeat: float = 1.0, watch_files: bool = True) -> DbtuiApp:
    """The app on ``project`` and ``url`` with a frozen clock. Tests of reconnecting or live locks beat faster; the
    others keep the app's second, so that Pilot's waits for an idle process are not held up by the heartbeat."""
    return DbtuiApp(
        Context(project_dir=project, database_url=url),
        clock=FrozenClock(),
        heartbeat=heartbeat,
        watch_files=watch_files,
    )


async def wait_for(pilot: Pilot, condition: Callable[[], object], *, timeout: float = 20.0, what: str = "") -> None:
    """Let the app run until ``condition()`` holds; fail (not hang) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.05)
    await pilot.pause(0)  # what the condition set off is processed; no waiting for the whole process to idle


def text_of(node: DOMNode, selector: str) -> str:
    """The plain text a Label or Static under ``node`` (the app, or a dialog screen) shows."""
    content = node.query_one(selector, Static).content
    return content.plain if hasattr(content, "plain") else str(content)
