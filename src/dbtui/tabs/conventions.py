"""Conventions tab (wired when database.dev.conventions lands)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label

from database.config import Project


class ConventionsTab(Vertical):
    def __init__(self, project: Project) -> None:
        super().__init__()
        self.project = project

    def compose(self) -> ComposeResult:
        yield Label("Conventions: not yet available.")

    def database_ready(self, url: str) -> None:
        pass

    def run_checks(self) -> None:
        pass

