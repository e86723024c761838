"""Codegen tab (wired when database.dev.codegen lands)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label

from database.config import Project


class CodegenTab(Vertical):
    def __init__(self, project: Project) -> None:
        super().__init__()
        self.project = project

    def compose(self) -> ComposeResult:
        yield Label("Codegen: not yet available.")

    def database_ready(self, url: str) -> None:
        pass

    def run_now(self) -> None:
        pass

    def toggle_watch(self) -> None:
        pass
