"""Which project files changed on disk: migrations/, queries.sql, schema_annotations.yaml.

The TUI reloads its tree, status, findings and schema from these events; codegen's watch (``codegen.watch``) reacts
to the same files with the same filter. watchfiles (Rust notify) does the watching and debounces an editor's burst of
writes (temporary file, rename, touch) into one event.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from database.config import Project

DEBOUNCE_MS = 200  # a save shows within a second: well under it, yet one event for an editor's burst of writes
STEP_MS = 20


@dataclass(frozen=True)
class ProjectChanges:
    """What changed: which kinds of input, and the paths (empty for a manual refresh)."""

    migrations: bool = False
    queries: bool = False
    annotations: bool = False
    paths: frozenset[Path] = field(default_factory=frozenset)

    @classmethod
    def everything(cls) -> ProjectChanges:
        return cls(migrations=True, queries=True, annotations=True)


def is_input(project: Project) -> Callable[[object, str], bool]:
    """A watchfiles filter: True for queries.sql, the annotations file, and migration files (``.sql``, ``.py``)."""
    queries, annotations, migrations = project.queries, project.annotations, project.migrations

    def relevant(change: object, path: str) -> bool:
        candidate = Path(path)
        if candidate in (queries, annotations):
            return True
        return candidate.parent == migrations and candidate.suffix.lower() in (".sql", ".py")

    return relevant


def watched_folders(project: Project) -> list[str]:
    """The folders to watch (non-recursively) for ``is_input``'s files."""
    return sorted(
        {str(p) for p in (project.queries.parent, project.annotations.parent, project.migrations) if p.is_dir()}
    )


def classify(project: Project, paths: set[Path]) -> ProjectChanges:
    return ProjectChanges(
        migrations=any(path.parent == project.migrations for path in paths),
        queries=project.queries in paths,
        annotations=project.annotations in paths,
        paths=frozenset(paths),
    )


def watch_project(project: Project, *, stop_event: threading.Event) -> Iterator[ProjectChanges]:
    """One ``ProjectChanges`` per burst of saves, until ``stop_event`` is set."""
    import watchfiles  # tooling-only dependency, imported when watching starts

    for changes in watchfiles.watch(
        *watched_folders(project),
        watch_filter=is_input(project),
        debounce=DEBOUNCE_MS,
        step=STEP_MS,
        stop_event=stop_event,
        recursive=False,
        raise_interrupt=False,
    ):
        yield classify(project, {Path(path) for _, path in changes})
