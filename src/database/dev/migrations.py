"""Migrations: load the tree with yoyo and apply it. (The full tree/status/rollback feature grows here.)"""

from __future__ import annotations

from pathlib import Path

from database.errors import ConfigError


def yoyo_url(url: str) -> str:
    """yoyo names the psycopg 3 driver in the URL scheme."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    raise ConfigError(f"not a PostgreSQL URL: {url.split('://')[0]}://…")


def apply_all(url: str, directory: Path) -> list[str]:
    """Apply every pending migration in ``directory`` to ``url``; returns the ids applied, in order."""
    from yoyo import get_backend, read_migrations

    backend = get_backend(yoyo_url(url))
    try:
        migrations = read_migrations(str(directory))
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        return [m.id for m in pending]
    finally:
        backend.connection.close()
