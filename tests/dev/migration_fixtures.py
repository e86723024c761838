"""A small migration tree with a branch and a merge, written into a temporary folder."""

from __future__ import annotations

from pathlib import Path

import psycopg

# id: (depends, up, down or None)
BRANCHED = {
    "0001_a": ("", "CREATE TABLE a (id BIGINT PRIMARY KEY);", "DROP TABLE a;"),
    "0002_b": ("0001_a", "CREATE TABLE b (id BIGINT PRIMARY KEY);", "DROP TABLE b;"),
    "0003_c": ("0001_a", "CREATE TABLE c (id BIGINT PRIMARY KEY);\nCREATE INDEX ON c(id);", "DROP TABLE c;"),
    "0004_d": ("0002_b 0003_c", "CREATE TABLE d (id BIGINT PRIMARY KEY);", "DROP TABLE d;"),
    "0005_e": ("0004_d", "CREATE TABLE e (id BIGINT PRIMARY KEY);", "DROP TABLE e;"),
}


def write_migrations(folder: Path, spec: dict[str, tuple[str, str, str | None]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for migration_id, (depends, up, down) in spec.items():
        header = f"-- depends: {depends}\n" if depends else ""
        (folder / f"{migration_id}.sql").write_text(f"{header}-- {migration_id}\n{up}\n")
        if down is not None:
            (folder / f"{migration_id}.rollback.sql").write_text(down + "\n")
    return folder


def public_tables(url: str) -> set[str]:
    """The tables in the public schema of ``url``: what a migration created, or did not."""
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
