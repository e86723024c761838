"""Ask before a destructive action, listing exactly what will run: ``y`` confirms, ``n`` or ``escape`` cancels."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from dbtui.widgets.sql_view import SqlView


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question with the steps it would run, warnings (data dropped, conventions broken) and the SQL of
    each step when given; dismisses with True only on ``y``."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "Cancel"),
    ]

    def __init__(
        self, title: str, steps: Sequence[str], *, warnings: Sequence[str] = (), sql: Sequence[tuple[str, str]] = ()
    ) -> None:
        super().__init__()
        self.title_text = title
        self.steps = list(steps)
        self.warnings = list(warnings)
        self.sql = list(sql)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, id="dialog-title")
            with VerticalScroll(id="dialog-steps"):
                for number, step in enumerate(self.steps, 1):
                    yield Static(f"{number:>3}. {step}", markup=False)
                if self.warnings:
                    yield Static(Text("\n".join(self.warnings), style="bold yellow"), id="dialog-warnings")
                for migration_id, statement in self.sql:
                    yield Label(Text(f"{migration_id} runs:", style="bold"))
                    sql_view = SqlView()
                    sql_view.show(statement, placeholder="(empty)")
                    yield sql_view
            yield Label("[b]y[/b] run it    [b]n[/b] / [b]escape[/b] cancel", id="dialog-keys")

    def on_mount(self) -> None:
        self.query_one("#dialog-steps").focus()  # arrows scroll the SQL

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
