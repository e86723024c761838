"""Migrations tab (wired when database.dev.migrations lands)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label

from database.config import Project


class MigrationsTab(Vertical):
    def __init__(self, project: Project) -> None:
        super().__init__()
        self.project = project

    def compose(self) -> ComposeResult:
        yield Label("Migrations: not yet available.")

    def database_ready(self, url: str) -> None:
        pass

    def migrate_all(self) -> None:
        pass

    def apply_selected(self) -> None:
        pass

    def rollback_selected(self) -> None:
        pass

    def new_migration(self) -> None:
        pass

    def select(self, migration: str, line: int | None) -> None:
        pass
