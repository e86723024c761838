"""Every event of the app in one place: workers post these, tabs and the app handle them.

Background work runs ``database.dev`` calls in thread workers (``@work(thread=True, exit_on_error=False)``) and
reports back only through these messages, one class per outcome: a reader learns what the app can hear by reading
this file, and a handler's type says what it handles (no dispatch on task names). Payloads are the backend's own
result objects, passed through. ``deliver`` is the one place a job's result or exception becomes a message.
"""

from __future__ import annotations

import traceback as tb
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from textual.message import Message
from textual.message_pump import MessagePump

from database.config import scrub
from database.errors import DbtuiError

if TYPE_CHECKING:
    from database.dev.annotations import Annotations
    from database.dev.catalog import Catalog
    from database.dev.conventions import CheckResult
    from database.dev.locks import LockInfo
    from database.dev.migration_preview import DryRun
    from database.dev.migration_status import AppliedRecord, StatusReport
    from database.dev.migration_tree import MigrationTree
    from database.dev.migrations import MigrationEvent, RunResult
    from database.dev.project_watch import ProjectChanges
    from database.dev.run_plan import Plan

T = TypeVar("T")


def describe_error(exc: BaseException) -> str:
    """One line for the user, passwords scrubbed: our errors already read ``file:line: message``; others keep
    their first line."""
    if isinstance(exc, DbtuiError):
        return scrub(str(exc))
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return scrub(f"{type(exc).__name__}: {first}" if first else type(exc).__name__)


class Failure(Message):
    """A background job raised. ``error`` is one line (``file:line: message`` when known); ``traceback`` is the
    whole story, for the log screen (``l``). Each job has its own subclass, so a handler names what failed."""

    title: ClassVar[str] = "Failed"

    def __init__(self, error: str, traceback: str = "") -> None:
        super().__init__()
        self.error = error
        self.traceback = traceback

    @classmethod
    def from_exception(cls, exc: BaseException) -> Failure:
        return cls(describe_error(exc), scrub("".join(tb.format_exception(exc))))


def deliver(target: MessagePump, job: Callable[[], T], done: Callable[[T], Message], failed: type[Failure]) -> None:
    """Run ``job`` (in the calling worker thread) and post ``done(result)`` or ``failed`` to ``target``: every
    failure becomes a message with its traceback, never a crash and never lost."""
    try:
        result = job()
    except Exception as exc:
        target.post_message(failed.from_exception(exc))
    else:
        target.post_message(done(result))


# -- the database's health (the heartbeat) --------------------------------------------------------------------------


class HeartbeatOk(Message):
    """The database answered the heartbeat; ``locks`` is what it holds right now; ``applied``: what it has applied,
    read on the same connection when asked for (the first answer, and the first after a failure); ``auto_started``:
    the embedded cluster was started on demand by a command (not by ``dbtui db start``)."""

    def __init__(
        self,
        url: str,
        locks: list[LockInfo],
        applied: dict[str, AppliedRecord] | None = None,
        *,
        auto_started: bool = False,
    ) -> None:
        super().__init__()
        self.url = url
        self.locks = locks
        self.applied = applied
        self.auto_started = auto_started


class HeartbeatFailed(Failure):
    title = "Database unreachable"


class DatabaseStarted(Message):
    """``s`` started the stopped embedded cluster."""


class StartFailed(Failure):
    title = "Could not start the database"


# -- migrations -----------------------------------------------------------------------------------------------------


class TreeLoaded(Message):
    """``asked``: which request read it (a read overtaken by a later one is dropped: see MigrationsTab.load_tree)."""

    def __init__(self, tree: MigrationTree, asked: int = 0) -> None:
        super().__init__()
        self.tree = tree
        self.asked = asked


class TreeFailed(Failure):
    title = "Cannot read the migrations"


class StatusLoaded(Message):
    """``asked``: which request read it (a read overtaken by a later one is dropped, as for ``TreeLoaded``)."""

    def __init__(self, report: StatusReport, asked: int = 0) -> None:
        super().__init__()
        self.report = report
        self.asked = asked


class StatusFailed(Failure):
    title = "Cannot read the migration status"


class PlanReady(Message):
    """What a migrate or rollback would run, read fresh from the database: the confirmation opens on it."""

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan


class PlanRefused(Failure):
    """Refused before anything ran (a rollback without a rollback file, an unknown target)."""

    title = "Refused"


class MigrateRefused(PlanRefused):
    title = "Cannot migrate"


class RollbackRefused(PlanRefused):
    title = "Rollback refused"


class MigrationProgress(Message):
    """A migrate or rollback run reported an event (started, done or failed one migration, or a notice).

    ``at`` is the app clock's stopwatch when it arrived, so durations use the app's (freezable) clock.
    """

    def __init__(self, event: MigrationEvent, at: float) -> None:
        super().__init__()
        self.event = event
        self.at = at


class RunFinished(Message):
    def __init__(self, result: RunResult) -> None:
        super().__init__()
        self.result = result


class RunFailed(Failure):
    title = "Migration run failed"


class SchemaChanged(Message):
    """Migrations were applied or rolled back: what shows the schema should read it again."""


class PreviewDone(Message):
    def __init__(self, result: DryRun) -> None:
        super().__init__()
        self.result = result


class PreviewFailed(Failure):
    title = "Preview failed"


# -- codegen, checks, schema ---------------------------------------------------------------------------------------


class CodegenEvent(Message):
    """A codegen run started, finished or failed (``database.dev.codegen.watch`` events); ``at`` as above."""

    def __init__(self, event: Any, at: float) -> None:
        super().__init__()
        self.event = event
        self.at = at


class CodegenCrashed(Failure):
    """The codegen worker itself raised (not a failed run, which is a ``CodegenEvent``); watch is off after it."""

    title = "Codegen stopped"


class CodegenIdle(Message):
    """A codegen worker ended normally."""


class ChecksDone(Message):
    def __init__(self, result: CheckResult) -> None:
        super().__init__()
        self.result = result


class ChecksFailed(Failure):
    title = "Checks failed to run"


class SchemaLoaded(Message):
    def __init__(self, loaded: tuple[Catalog, Annotations]) -> None:
        super().__init__()
        self.catalog, self.annotations = loaded


class SchemaFailed(Failure):
    title = "Cannot read the schema"


# -- files and navigation ------------------------------------------------------------------------------------------


class FilesChanged(Message):
    """Saves to migrations/, queries.sql or the annotations (``database.dev.project_watch``)."""

    def __init__(self, changes: ProjectChanges) -> None:
        super().__init__()
        self.changes = changes


class WatchFailed(Failure):
    title = "File watching stopped"


class JumpToSource(Message):
    """Show this migration in the Migrations tab (from a convention finding)."""

    def __init__(self, migration: str, line: int | None) -> None:
        super().__init__()
        self.migration = migration
        self.line = line
