"""Every app action in one registry: its key, binding id, footer label, palette title and help line.

The app's ``BINDINGS``, the footer, the command palette (``palette.py``) and the help screen's key table all read
``ACTIONS``, so a key cannot be documented in one place and missing in another. Binding ids let a user remap keys
(``App.set_keymap``). docs/tui.md lists the same keys; a test holds it to this list.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType

TABS = {
    "migrations": "Migrations",
    "codegen": "Codegen",
    "conventions": "Conventions",
    "locks": "Locks",
    "schema": "Schema",
}


@dataclass(frozen=True)
class Action:
    """One thing the app can do, however it is asked for."""

    id: str  # binding id (for keymaps) and the palette's identity
    keys: str  # Textual key names, comma separated ("" for palette only)
    action: str  # the App action it runs (``action_<name>``, with arguments)
    title: str  # palette title
    help: str  # one line for the help screen and the palette
    footer: str | None = None  # short label in the footer; None: not shown there

    @property
    def shown_keys(self) -> str:
        """The keys as the help screen writes them: ``?`` / ``f1``."""
        names = {"question_mark": "?", "slash": "/", "pageup": "PgUp", "pagedown": "PgDn"}
        return " / ".join(names.get(key, key) for key in self.keys.split(",") if key)


ACTIONS: list[Action] = [
    Action(
        "migrate",
        "m",
        "migrate",
        "Migrate all pending",
        "Apply every pending migration (asks first, warns of convention errors)",
        "Migrate",
    ),
    Action(
        "apply",
        "a",
        "apply",
        "Apply selected migration",
        "Apply the selected migration and its unapplied ancestors (asks first)",
        "Apply",
    ),
    Action(
        "rollback",
        "r",
        "rollback",
        "Roll back selected migration",
        "Roll back the selected migration and its applied descendants (shows the SQL, asks first)",
        "Roll back",
    ),
    Action(
        "new-migration",
        "n",
        "new_migration",
        "New migration",
        "Create a migration depending on the current heads, and its rollback file",
        "New",
    ),
    Action(
        "preview",
        "p",
        "preview",
        "Preview schema change of pending migrations",
        "Dry run on a throwaway copy: the schema diff the pending migrations would make",
    ),
    Action("codegen", "g", "codegen", "Run codegen now", "Write schema.sql and the generated ORM", "Codegen"),
    Action("watch", "w", "toggle_watch", "Toggle codegen watch", "Rerun codegen when queries.sql or migrations change"),
    Action(
        "check",
        "c",
        "check",
        "Run convention checks",
        "Check the schema against the conventions and annotations",
        "Check",
    ),
    Action(
        "edit",
        "e",
        "edit",
        "Open the selection in $EDITOR",
        "The selected migration, finding or codegen error in $EDITOR at its line; reloads after",
    ),
    Action("filter", "slash", "filter", "Filter the list", "Filter migrations, findings or schema tables by text"),
    Action(
        "start-database",
        "s",
        "start_database",
        "Start the embedded database",
        "Start the project's embedded cluster when it is stopped",
    ),
    Action("refresh", "ctrl+r", "refresh", "Reload everything", "Reload files, migration status, schema and checks"),
    Action("log", "l", "show_log", "Messages", "Every error and notification so far, in full"),
    *(
        Action(f"tab-{pane}", str(number), f"show_tab('{pane}')", f"Go to {title}", f"Show the {title} tab")
        for number, (pane, title) in enumerate(TABS.items(), 1)
    ),
    Action("help", "question_mark,f1", "help", "Help", "Keys and what each tab shows", "Help"),
    Action("quit", "q", "quit", "Quit", "Leave dbtui", "Quit"),
]

BINDINGS: list[BindingType] = [
    Binding(action.keys, action.action, action.footer or action.title, show=action.footer is not None, id=action.id)
    for action in ACTIONS
    if action.keys
]


def keys_table() -> str:
    """The key table of the help screen, in Markdown."""
    rows = [
        f"| {' / '.join(f'`{key}`' for key in action.shown_keys.split(' / '))} | {action.help} |"
        for action in ACTIONS
        if action.keys
    ]
    rows.append("| `ctrl+p` | Command palette: every action by name |")
    rows.append("| `Home` / `End` / `PgUp` / `PgDn` | First / last row, a page up / down, in every list |")
    return "| key | does |\n|---|---|\n" + "\n".join(rows)
