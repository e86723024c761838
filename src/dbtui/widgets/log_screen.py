"""``l``: every notification and error so far, in full (a toast is cut short and goes away), newest first, with
the traceback of a failed job."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

Severity = Literal["information", "warning", "error"]
STYLES = {"error": "bold red", "warning": "bold yellow", "information": "bold"}


@dataclass(frozen=True)
class LogEntry:
    """One notification or error as the log screen shows it, in full."""

    at: datetime
    title: str
    message: str
    severity: Severity
    detail: str = ""  # a traceback, when there is one


def log_text(entries: Sequence[LogEntry]) -> Text:
    text = Text()
    for entry in reversed(entries):
        text.append(f"{entry.at:%H:%M:%S} ", style="dim").append(
            entry.title or entry.severity, style=STYLES[entry.severity]
        )
        text.append(f"\n{entry.message}\n")
        if entry.detail:
            text.append(entry.detail.rstrip() + "\n", style="dim")
        text.append("\n")
    return text if entries else Text("Nothing yet.", style="dim")


class LogScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,l", "close", "Close")]

    def __init__(self, entries: Sequence[LogEntry]) -> None:
        super().__init__()
        self.entries = list(entries)

    def compose(self) -> ComposeResult:
        with Vertical(id="log"):
            with VerticalScroll(id="log-body"):
                yield Static(log_text(self.entries), id="log-text")
            yield Static("arrows / PgUp / PgDn scroll · escape close", id="log-footer")

    def on_mount(self) -> None:
        self.query_one("#log").border_title = "messages, newest first"
        self.query_one("#log-body").focus()

    def action_close(self) -> None:
        self.dismiss()
