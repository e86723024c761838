"""What a command or the app runs against: the project and the database URL, resolved once, lazily."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from database import config
from database.config import Project


@dataclass
class Context:
    project_dir: Path | None = None
    database_url: str | None = None
    _url: str | None = field(default=None, init=False, repr=False)

    @cached_property
    def project(self) -> Project:
        if self.project_dir is not None:
            if not self.project_dir.is_dir():
                from database.errors import ConfigError

                raise ConfigError(f"--project {self.project_dir}: no such folder")
            return Project.load(self.project_dir)
        return config.find_project()

    def url(self) -> str:
        """The admin database URL (starts the embedded cluster on demand)."""
        if self._url is None:
            if self.database_url:
                self._url = config.check_url(self.database_url, "--database-url")
            else:
                self._url = config.database_url(self.project)
        return self._url

    def explicit_url(self) -> str | None:
        """A URL set by option, environment or configuration, without starting anything."""
        if self.database_url:
            return config.check_url(self.database_url, "--database-url")
        try:
            return config.database_url_if_set(self.project)
        except LookupError:
            return None
