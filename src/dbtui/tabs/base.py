"""What every tab's content offers the app: reloading, a filter, a file to edit. Defaults do nothing, so the app
asks every tab without checking what it is, and a new tab (or a new kind of finding) overrides only what it has."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

from textual.widget import Widget

if TYPE_CHECKING:
    from database.dev.locks import LockInfo
    from database.dev.migration_status import AppliedRecord
    from database.dev.project_watch import ProjectChanges
    from dbtui.messages import HeartbeatOk


class Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class AppState(Protocol):
    """What a tab may ask of the app (``DbtuiApp`` provides it): the tabs depend on this, not on the app module."""

    clock: Clock
    url: str | None
    database_ok: bool | None
    database_detail: str
    locks: list[LockInfo]

    def when_database(self, what: str, run: Callable[[str], object]) -> None: ...

    async def first_answer(self, timeout: float) -> HeartbeatOk | None: ...


class TabContent(Widget):
    """The one child of a TabPane."""

    DEFAULT_CSS = """
    TabContent { width: 1fr; height: 1fr; layout: vertical; overflow: hidden hidden; }
    """

    @property
    def dbtui(self) -> AppState:
        """The app, typed (a tab only ever lives in DbtuiApp)."""
        return cast("AppState", self.app)

    def database_ready(self, url: str, applied: dict[str, AppliedRecord] | None = None) -> None:
        """The database answered (first time, after an outage, or ``ctrl+r``): read what comes from it again.
        ``applied``: the migration status, when the answer brought it (then it need not be read again)."""

    def schema_changed(self, url: str) -> None:
        """Migrations were applied or rolled back."""

    def heartbeat(self, locks: list[LockInfo] | None, error: str | None) -> None:
        """Each second: the locks the database holds, or why it did not answer."""

    def files_changed(self, changed: ProjectChanges) -> None:
        """Project files changed on disk (or ``ctrl+r``): read what comes from them again."""

    def apply_filter(self, text: str) -> bool:
        """Show only the rows matching ``text`` (``/``); False when this tab has no list to filter."""
        return False

    def edit_target(self) -> tuple[Path, int | None] | None:
        """The file (and line) of the selection, for ``e``; None when there is none."""
        return None
