"""Locks tab: advisory locks held and awaited, refreshed by the app's one-second heartbeat, and who blocks whom."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Label, Tree

from dbtui.untrusted import visible

if TYPE_CHECKING:
    from database.dev.locks import LockInfo

COLUMNS = ("name", "key", "pid", "state", "application", "since", "for", "blocked by")


def age(since: datetime | None, now: datetime) -> str:
    """A short duration like ``4s``, ``3m12s`` or ``2h05m``."""
    if since is None:
        return ""
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def lock_label(lock: LockInfo) -> str:
    """The lock's name (another client's text: escaped, and no markup), or its key."""
    return escape(visible(lock.name)) if lock.name is not None else f"key {lock.key}"


class LocksTab(Vertical):
    def __init__(self) -> None:
        super().__init__()
        self.locks: list[LockInfo] = []

    def compose(self) -> ComposeResult:
        yield Label("Waiting for the database…", id="locks-summary")
        table: DataTable[str] = DataTable(id="locks-table", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        yield Tree("who blocks whom", id="locks-blocking")

    def on_mount(self) -> None:
        """Mounted when first shown: what the app's heartbeat last saw, until the next beat."""
        app = self.app
        if app.database_ok:  # type: ignore[attr-defined]
            self.show_locks(app.locks)  # type: ignore[attr-defined]
        elif app.database_ok is False:  # type: ignore[attr-defined]
            self.show_unreachable(app.database_detail)  # type: ignore[attr-defined]

    def _composed(self) -> bool:
        """False in the moment between being mounted (lazily, after the first frame) and composing."""
        return bool(self.query("#locks-summary"))

    def show_unreachable(self, error: str) -> None:
        if not self._composed():
            return
        self.query_one("#locks-summary", Label).update(f"[red]Database unreachable:[/red] {error}")

    def show_locks(self, locks: Sequence[LockInfo]) -> None:
        """Redraw only when something changed, so the cursor stays put while nothing happens."""
        if not self._composed():
            return
        locks = list(locks)
        now = self.app.clock.now()  # type: ignore[attr-defined]
        held = sum(lock.granted for lock in locks)
        summary = self.query_one("#locks-summary", Label)
        text = f"{held} held, {len(locks) - held} waiting" if locks else "No advisory locks held or awaited"
        text += f" · refreshed {now:%H:%M:%S}"
        if str(summary.content) != text:  # an update lays the screen out again: not when nothing changed
            summary.update(text)
        if not locks and not self.locks:
            return  # nothing held before or now: leave the table be (every second, on whichever tab is shown)
        table = self.query_one("#locks-table", DataTable)
        row = table.cursor_row
        table.clear()
        for lock in locks:
            table.add_row(
                lock_label(lock),
                str(lock.key),
                str(lock.pid),
                "held" if lock.granted else "[yellow]waiting[/yellow]",
                escape(visible(lock.application_name)),
                f"{lock.since:%H:%M:%S}" if lock.since else "",
                age(lock.since, now),
                ", ".join(map(str, lock.blocked_by)),
            )
        if locks:
            table.move_cursor(row=min(row, len(locks) - 1))
        if locks != self.locks:
            self.locks = locks
            self._show_blocking(locks)

    def _show_blocking(self, locks: list[LockInfo]) -> None:
        """A tree: each holder that someone waits for, with its waiters (and theirs) below it."""
        tree = self.query_one("#locks-blocking", Tree)
        tree.clear()
        waiting_on: dict[int, list[LockInfo]] = {}
        for lock in locks:
            for blocker in lock.blocked_by:
                waiting_on.setdefault(blocker, []).append(lock)
        names: dict[int, list[str]] = {}
        for lock in locks:
            if lock.granted:
                names.setdefault(lock.pid, []).append(lock_label(lock))
        blocked = {lock.pid for lock in locks if lock.blocked_by}
        roots = [pid for pid in waiting_on if pid not in blocked] or list(waiting_on)[:1]
        if not roots:
            tree.root.add_leaf("[dim]nobody is waiting[/dim]")

        def add(node, pid: int, seen: frozenset[int]) -> None:  # noqa: ANN001
            for waiter in waiting_on.get(pid, []):
                label = f"pid {waiter.pid} waits for {lock_label(waiter)}"
                if waiter.pid in seen:
                    node.add_leaf(label + " (cycle)")
                    continue
                add(node.add(label, expand=True), waiter.pid, seen | {waiter.pid})

        for pid in roots:
            holding = ", ".join(names.get(pid, [])) or "?"
            add(tree.root.add(f"pid {pid} holds {holding}", expand=True), pid, frozenset({pid}))
        tree.root.expand()
