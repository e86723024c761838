"""``?`` / ``f1``: the keys (from the registry, ``dbtui.actions``) and what each tab does (the packaged ``help.md``);
any key but scrolling closes it."""

from __future__ import annotations

from importlib.resources import files

from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown, Static

from dbtui.actions import keys_table

SCROLL_KEYS = {"up", "down", "pageup", "pagedown", "home", "end"}
KEYS_MARKER = "<!-- keys: filled from dbtui.actions, the registry the footer and the palette read too -->"


def help_text() -> str:
    return files("dbtui").joinpath("help.md").read_text(encoding="utf-8").replace(KEYS_MARKER, keys_table())


class HelpScreen(ModalScreen[None]):
    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            with VerticalScroll(id="help-body"):
                yield Markdown(help_text())
            yield Static("Scroll with the arrows; any other key closes this.", id="help-footer")

    def on_mount(self) -> None:
        self.query_one("#help").border_title = "dbtui help"
        self.query_one("#help-body").focus()

    def on_key(self, event: events.Key) -> None:
        if event.key in SCROLL_KEYS:
            return
        event.stop()
        event.prevent_default()
        self.dismiss()
