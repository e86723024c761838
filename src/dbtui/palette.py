"""The command palette (``ctrl+p``): every app action, searchable by name, with its key in the help text."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


@dataclass(frozen=True)
class Action:
    """An app action as the palette and the help list it."""

    name: str  # the App action (``action_<name>``)
    title: str
    help: str


ACTIONS: list[Action] = [
    Action("migrate", "Migrate all pending", "Apply every pending migration (asks first)  [m]"),
    Action("apply", "Apply selected migration", "Apply the selected migration and its unapplied ancestors  [a]"),
    Action("rollback", "Roll back selected migration", "Roll back the selected migration and its applied descendants  [r]"),
    Action("new_migration", "New migration", "Create a migration depending on the current heads  [n]"),
    Action("preview", "Preview schema change of pending migrations",
           "Dry run on a throwaway copy: the schema diff the pending migrations would make  [p]"),
    Action("codegen", "Run codegen now", "Write schema.sql and the generated ORM  [g]"),
    Action("toggle_watch", "Toggle codegen watch", "Rerun codegen when queries.sql or migrations change  [w]"),
    Action("check", "Run convention checks", "Check the schema against the conventions and annotations  [c]"),
    Action("refresh", "Reload everything", "Reload migration status, schema and checks from the database"),
    Action("show_tab('migrations')", "Go to Migrations", "Show the Migrations tab"),
    Action("show_tab('codegen')", "Go to Codegen", "Show the Codegen tab"),
    Action("show_tab('conventions')", "Go to Conventions", "Show the Conventions tab"),
    Action("show_tab('locks')", "Go to Locks", "Show the Locks tab"),
    Action("show_tab('schema')", "Go to Schema", "Show the Schema tab"),
    Action("help", "Help", "Keys and what each tab shows  [f1]"),
    Action("quit", "Quit", "Leave dbtui  [q]"),
]


class ActionsProvider(Provider):
    """Offers each of ACTIONS; choosing one runs the same app action as its key."""

    async def discover(self) -> Hits:
        for action in ACTIONS:
            yield DiscoveryHit(action.title, partial(self.app.run_action, action.name), help=action.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for action in ACTIONS:
            score = matcher.match(action.title)
            if score > 0:
                yield Hit(score, matcher.highlight(action.title), partial(self.app.run_action, action.name), help=action.help)
