"""The identity of a migrations folder, without importing a database driver (the codegen cache checks it first)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from database.errors import ConfigError

_digests: dict[tuple, str] = {}


def migrations_digest(directory: Path) -> str:
    """A hash of every migration file's name and content (what a template is built from).

    Rollback files are left out: no rollback shapes the migrated database, and each file costs a stat on every
    ``create_database()`` (2,000 migrations: 4,000 stats, most of a spare's time). Cached by the files' names, sizes
    and mtimes, so asking again in a long-running process costs a directory scan.
    """
    try:
        entries = sorted(
            (e.name, stat.st_size, stat.st_mtime_ns)
            for e in os.scandir(directory)
            if e.is_file()
            and e.name.lower().endswith((".sql", ".py"))  # .SQL too: load_tree refuses it
            and not e.name.lower().endswith(".rollback.sql")
            for stat in (e.stat(),)
        )
    except (FileNotFoundError, NotADirectoryError):
        raise ConfigError(f"migrations folder not found: {directory}") from None
    key = (str(directory), tuple(entries))
    if key not in _digests:
        digest = hashlib.sha256()
        for name, _, _ in entries:
            digest.update(name.encode() + b"\0" + (directory / name).read_bytes() + b"\0")
        _digests[key] = digest.hexdigest()
    return _digests[key]
