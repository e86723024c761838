"""Ask before a destructive action, listing exactly what will run: ``y`` confirms, ``n`` or ``escape`` cancels."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question with the list of steps it would run; dismisses with True only on ``y``."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "Cancel"),
    ]

    def __init__(self, title: str, steps: Sequence[str]) -> None:
        super().__init__()
        self.title_text = title
        self.steps = list(steps)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, id="dialog-title")
            with VerticalScroll(id="dialog-steps"):
                for number, step in enumerate(self.steps, 1):
                    yield Static(f"{number:>3}. {step}", markup=False)
            yield Label("[b]y[/b] run it    [b]n[/b] / [b]escape[/b] cancel", id="dialog-keys")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
