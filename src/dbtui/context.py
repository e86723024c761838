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
            self._url = self.explicit_url() or config.database_url(self.project)
        return self._url

    def explicit_url(self) -> str | None:
        """A URL set by option, environment or configuration, without starting anything: ``--database-url`` ·
        the direct URL (``DATABASE_DIRECT_URL``: tooling bypasses the app's pooler) · the runtime's URL."""
        if self.database_url:
            return config.check_url(self.database_url, "--database-url")
        direct = config.direct_url_if_set(self.project)
        if direct:
            return direct
        try:
            return config.database_url_if_set(self.project)
        except LookupError:
            return None

    def require_session(self, what: str, *, unreachable_ok: bool = False) -> None:
        """Refuse, in one line naming the direct-URL setting, when ``what`` would run through a transaction-mode
        pooler. The embedded cluster is ours and direct; the pooler setting describes the runtime's URL only."""
        url = self.explicit_url()
        if url is None:
            return
        from database.dev.session import require_session

        runtime_url = not self.database_url and config.direct_url_if_set(self.project) is None
        mode = config.pooler_mode(self.project) if runtime_url else "auto"
        require_session(url, what, mode=mode, unreachable_ok=unreachable_ok)
