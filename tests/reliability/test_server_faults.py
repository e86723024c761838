"""The database server stops under a running dbtui: watch says so and carries on; migrate says what happened.

The server is the fault suite's own cluster (``own_cluster``): these tests stop and start it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from database.config import Project
from database.dev import server
from database.dev.codegen.watch import Event, Failed, Finished, Started, watch

pytestmark = pytest.mark.timeout(120)

OUTCOME_TIMEOUT = 30


class Watching:
    """``watch()`` running in a thread, its events in a queue, stopped at the end."""

    def __init__(self, project: Project, url: str) -> None:
        self.events: queue.Queue[Event | BaseException] = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(project, url), daemon=True)
        self.thread.start()

    def _run(self, project: Project, url: str) -> None:
        try:
            for event in watch(project, url=url, stop_event=self.stop):
                self.events.put(event)
        except BaseException as exc:  # the watch must never end on its own: the test reports what ended it
            self.events.put(exc)

    def outcome(self) -> list[Event]:
        """The events up to and including the next Finished or Failed."""
        seen: list[Event] = []
        while True:
            event = self.events.get(timeout=OUTCOME_TIMEOUT)
            if isinstance(event, BaseException):
                raise AssertionError(f"watch ended with {event!r}") from event
            seen.append(event)
            if isinstance(event, (Finished, Failed)):
                return seen


@pytest.fixture
def watching(project_copy: Project, own_cluster: server.Cluster) -> Iterator[Watching]:
    watcher = Watching(project_copy, own_cluster.ensure_running())
    first = watcher.outcome()
    assert isinstance(first[-1], Finished), first
    yield watcher
    watcher.stop.set()
    watcher.thread.join(timeout=OUTCOME_TIMEOUT)
    own_cluster.ensure_running()


def _add_query(project: Project, name: str) -> None:
    """A query the codegen cache has never seen: compiling it needs the database."""
    with open(project.queries, "a", encoding="utf-8") as handle:
        handle.write(f"\n-- name: {name} :one\nSELECT count(*) AS n FROM projects WHERE name = @name;\n")


def test_watch_waits_for_a_stopped_server_and_compiles_when_it_is_back(
        watching: Watching, project_copy: Project, own_cluster: server.Cluster) -> None:
    own_cluster.stop()
    _add_query(project_copy, "CountWhileDown")
    failed = watching.outcome()[-1]
    assert isinstance(failed, Failed) and failed.server_down, failed
    assert "the database server does not answer" in failed.message and "waiting for it" in failed.message
    assert "\n" not in str(failed)

    own_cluster.ensure_running()  # no save: the watch notices the server by itself
    events = watching.outcome()
    assert isinstance(events[0], Started) and events[0].reason == "the database server answers again", events
    assert isinstance(events[-1], Finished), events
    assert "def count_while_down(" in project_copy.orm.read_text()


def test_watch_recovers_from_a_restart_between_saves(
        watching: Watching, project_copy: Project, own_cluster: server.Cluster) -> None:
    _add_query(project_copy, "CountBefore")
    assert isinstance(watching.outcome()[-1], Finished)
    own_cluster.stop()
    own_cluster.ensure_running()  # the watch's connection died with the old server
    _add_query(project_copy, "CountAfterRestart")
    events = watching.outcome()
    assert isinstance(events[-1], Failed) and "the database server went away" in events[-1].message, events
    events = watching.outcome()
    assert isinstance(events[-1], Finished), events
    assert "def count_after_restart(" in project_copy.orm.read_text()
