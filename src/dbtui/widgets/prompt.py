"""Ask for one line of text (a new migration's name); ``enter`` submits, ``escape`` cancels. A rejected answer shows
the reason under the field and keeps what was typed, to be corrected."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static


class PromptScreen(ModalScreen[str | None]):
    """``submit(text)`` returns None when done (the prompt closes) or an error to show (the prompt stays)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self, question: str, submit: Callable[[str], str | None], *, placeholder: str = "", hint: str = ""
    ) -> None:
        super().__init__()
        self.question = question
        self.submit = submit
        self.placeholder = placeholder
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.question, id="dialog-title")
            yield Input(placeholder=self.placeholder, id="prompt-input")
            yield Static("", id="prompt-error")
            yield Label(self.hint or "[b]enter[/b] create    [b]escape[/b] cancel", id="dialog-keys")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            return
        error = self.submit(text)
        if error is None:
            self.dismiss(text)
        else:
            self.query_one("#prompt-error", Static).update(Text(error, style="red"))

    def action_cancel(self) -> None:
        self.dismiss(None)
