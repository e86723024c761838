"""Locks tab: advisory locks held and awaited, refreshed by the app's one-second heartbeat, who holds each (as the
application names itself, its client address, backend pid and transaction age) and who blocks whom."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Label, Tree
from textual.widgets.tree import TreeNode

from dbtui.durations import age
from dbtui.tabs.base import TabContent
from dbtui.untrusted import visible
from dbtui.widgets.lists import ListTable

if TYPE_CHECKING:
    from database.dev.locks import LockInfo

COLUMNS = ("lock", "state", "application", "client", "pid", "in xact", "since", "waits for", "key")


def untrusted(text: str) -> Text:
    """Text any client chose (``application_name``, the lock name in it): control characters escaped
    (``dbtui.untrusted.visible``, as the CLI shows them) and never read as markup (a ``Text``, not a string)."""
    return Text(visible(text))


def lock_label(lock: LockInfo) -> Text:
    return untrusted(lock.name) if lock.name is not None else Text(f"key {lock.key}")


class LocksTab(TabContent):
    def __init__(self) -> None:
        super().__init__()
        self.locks: list[LockInfo] = []

    def compose(self) -> ComposeResult:
        yield Label("Waiting for the database…", id="locks-summary")
        table: ListTable[str | Text] = ListTable(id="locks-table", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        yield Tree("who blocks whom", id="locks-blocking")

    def on_mount(self) -> None:
        """Mounted when first shown: what the app's heartbeat last saw, until the next beat."""
        app = self.dbtui
        if app.database_ok:
            self.show_locks(app.locks)
        elif app.database_ok is False:
            self.show_unreachable(app.database_detail)

    def heartbeat(self, locks: list[LockInfo] | None, error: str | None) -> None:
        if locks is not None:
            self.show_locks(locks)
        elif error is not None:
            self.show_unreachable(error)

    def _composed(self) -> bool:
        """False in the moment between being mounted (lazily, after the first frame) and composing."""
        return bool(self.query("#locks-summary"))

    def show_unreachable(self, error: str) -> None:
        if not self._composed():
            return
        self.query_one("#locks-summary", Label).update(Text("Database unreachable: ", style="red").append(error))

    def show_locks(self, locks: Sequence[LockInfo]) -> None:
        """Redraw only when something changed, so the cursor stays put while nothing happens."""
        if not self._composed():
            return
        locks = list(locks)
        now = self.dbtui.clock.now()
        held = sum(lock.granted for lock in locks)
        summary = self.query_one("#locks-summary", Label)
        text = f"{held} held, {len(locks) - held} waiting" if locks else "No advisory locks held or awaited"
        text += f" · refreshed {now:%H:%M:%S}"
        if str(summary.content) != text:  # an update lays the screen out again: not when nothing changed
            summary.update(text)
        if not locks and not self.locks:
            return  # nothing held before or now: leave the table be (every second, on whichever tab is shown)
        table = self.query_one("#locks-table", ListTable)
        row = table.cursor_row
        table.clear()
        for lock in locks:
            table.add_row(
                lock_label(lock),
                "held" if lock.granted else Text("waiting", style="yellow"),
                untrusted(lock.application_name),
                lock.client_addr or "local",
                str(lock.pid),
                age(lock.xact_start, now) if lock.xact_start else "",
                f"{lock.since:%H:%M:%S}" if lock.since else "",
                ", ".join(map(str, lock.blocked_by)),
                str(lock.key),
            )
        if locks:
            table.move_cursor(row=min(row, len(locks) - 1))
        if locks != self.locks:
            self.locks = locks
            self._show_blocking(locks)

    def _show_blocking(self, locks: list[LockInfo]) -> None:
        """A tree: each holder that someone waits for, with its waiters (and theirs) below it."""
        tree: Tree[None] = self.query_one("#locks-blocking", Tree)
        tree.clear()
        waiting_on: dict[int, list[LockInfo]] = {}
        for lock in locks:
            for blocker in lock.blocked_by:
                waiting_on.setdefault(blocker, []).append(lock)
        holders: dict[int, list[LockInfo]] = {}
        for lock in locks:
            if lock.granted:
                holders.setdefault(lock.pid, []).append(lock)
        blocked = {lock.pid for lock in locks if lock.blocked_by}
        roots = [pid for pid in waiting_on if pid not in blocked] or list(waiting_on)[:1]
        if not roots:
            tree.root.add_leaf(Text("nobody is waiting", style="dim"))

        def add(node: TreeNode[None], pid: int, seen: frozenset[int]) -> None:
            for waiter in waiting_on.get(pid, []):
                label = (
                    Text(f"pid {waiter.pid} ")
                    .append_text(untrusted(waiter.application_name))
                    .append(" waits for ")
                    .append_text(lock_label(waiter))
                )
                if waiter.pid in seen:
                    node.add_leaf(label.append(" (cycle)"))
                    continue
                add(node.add(label, expand=True), waiter.pid, seen | {waiter.pid})

        for pid in roots:
            held = holders.get(pid, [])
            label = Text(f"pid {pid} ")
            if held:
                label.append_text(untrusted(held[0].application_name)).append(" holds ")
                label.append_text(Text(", ").join(lock_label(lock) for lock in held))
            else:
                label.append("holds ?")
            add(tree.root.add(label, expand=True), pid, frozenset({pid}))
        tree.root.expand()
