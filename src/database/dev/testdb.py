"""Throwaway migrated databases in milliseconds: clone a template built once per distinct migrations content.

The template is named by a hash of the migration files, so a changed migration gives a new template. Whichever
process gets there first builds it under an advisory lock; it is marked ``datistemplate`` only when complete, so a
crashed build is never cloned (the next builder drops it and starts over).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import threading
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from database import config
from database.config import Project
from database.dev import server
from database.dev.fingerprint import migrations_digest  # here for callers of testdb.migrations_digest
from database.errors import ConfigError, ServerError

TEMPLATE_PREFIX = "dbtui_tpl_"
CLONE_PREFIX = "dbtui_test_"
TEMPLATES_KEPT = 8
SPARE_PREFIX = "dbtui_spare_"
SPARES = int(os.environ.get("DBTUI_TESTDB_SPARES", "2"))  # ready-made clones kept per template


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def server_url(project: Project | None = None) -> str:
    """Where throwaway databases live: a configured server if there is one, else the fast scratch cluster."""
    try:
        return config.database_url_if_set(project)
    except LookupError:
        return server.scratch_cluster(project or config.find_project()).ensure_running()


def _connect(url: str) -> psycopg.Connection:
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise ServerError(f"cannot connect to {config.redact(url)}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def template_name(directory: Path) -> str:
    return TEMPLATE_PREFIX + migrations_digest(directory)[:20]


def ensure_template(admin_url: str, directory: Path) -> str:
    """Build the template for ``directory``'s migrations unless it exists; returns its name."""
    with _connect(admin_url) as conn:
        return _ensure_template(conn, admin_url, directory)


def _ensure_template(conn: psycopg.Connection, admin_url: str, directory: Path) -> str:
    name = template_name(directory)
    if _is_template(conn, name):
        return name
    conn.execute("SELECT pg_advisory_lock(%s)", (_lock_key(name),))
    try:
        if _is_template(conn, name):
            return name
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
        from database.dev import migrations  # yoyo is needed only to build a template: cloning starts faster

        try:
            migrations.apply_all(with_database(admin_url, name), directory)
        except BaseException:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            raise
        conn.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true").format(sql.Identifier(name)))
        _drop_old_templates(conn)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_lock_key(name),))
    return name


def _is_template(conn: psycopg.Connection, name: str) -> bool:
    row = conn.execute("SELECT datistemplate FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return bool(row and row[0])


def _drop_old_templates(conn: psycopg.Connection) -> None:
    """Keep the newest few templates (other branches and worktrees may still use them), drop the rest."""
    rows = conn.execute(
        "SELECT datname FROM pg_database WHERE datname LIKE %s AND datistemplate ORDER BY oid DESC OFFSET %s",
        (TEMPLATE_PREFIX + "%", TEMPLATES_KEPT),
    ).fetchall()
    for (old,) in rows:
        for (spare,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (_spare_prefix(old) + "%",)):
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(spare)))
        conn.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE false").format(sql.Identifier(old)))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(old)))


def _drop_orphans(conn: psycopg.Connection) -> None:
    """Drop clones whose creating process died without dropping them (local servers only: pids are ours)."""
    rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (CLONE_PREFIX + "%",)).fetchall()
    for (name,) in rows:
        pid = name[len(CLONE_PREFIX):].split("_", 1)[0]
        if pid.isdigit() and not server.process_alive(int(pid)):
            with contextlib.suppress(psycopg.Error):
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _spare_prefix(template: str) -> str:
    return SPARE_PREFIX + template[len(TEMPLATE_PREFIX):] + "_"


def _clone(conn: psycopg.Connection, template: str, name: str) -> None:
    conn.execute(
        sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(sql.Identifier(name), sql.Identifier(template))
    )


def _take_spare(conn: psycopg.Connection, template: str, name: str) -> bool:
    """Rename a ready-made clone of ``template`` to ``name`` (a few ms); False when none is left."""
    spares = conn.execute(
        "SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY datname", (_spare_prefix(template) + "%",)
    ).fetchall()
    for (spare,) in spares:
        try:
            conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(spare), sql.Identifier(name)))
            return True
        except psycopg.Error:
            continue  # another process took it first
    return False


def _replenish(admin_url: str, template: str) -> None:
    """Top the spares of ``template`` back up to SPARES, in the background: the next caller, in this process or
    the next test run, gets a database by renaming one instead of waiting for a copy."""
    def work() -> None:
        with contextlib.suppress(Exception), _connect(admin_url) as conn:
            # One refiller per template at a time (across processes); the next one recounts after it.
            conn.execute("SELECT pg_advisory_lock(%s)", (_lock_key(_spare_prefix(template)),))
            count = "SELECT count(*) FROM pg_database WHERE datname LIKE %s"
            while conn.execute(count, (_spare_prefix(template) + "%",)).fetchone()[0] < SPARES:
                _clone(conn, template, _spare_prefix(template) + secrets.token_hex(4))

    threading.Thread(target=work, name="dbtui-testdb-spares", daemon=True).start()


def create_database(*, project: Project | None = None, migrations_dir: Path | None = None, url: str | None = None) -> str:
    """A fresh, fully migrated database; returns its URL. Drop it with ``drop_database``."""
    project = project or (None if (migrations_dir and url) else config.find_project())
    directory = migrations_dir or project.migrations  # type: ignore[union-attr]
    admin_url = url or server_url(project)
    name = f"{CLONE_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    with _connect(admin_url) as conn:
        template = _ensure_template(conn, admin_url, directory)
        if not _take_spare(conn, template, name):
            _clone(conn, template, name)
        if is_local_server(admin_url):
            _drop_orphans(conn)
    if SPARES:
        _replenish(admin_url, template)
    return with_database(admin_url, name)


def drop_database(url: str) -> None:
    """Drop a database made by ``create_database`` (connections to it are closed first)."""
    name = database_name(url)
    if not name.startswith(CLONE_PREFIX):
        raise ConfigError(f"refusing to drop {name!r}: not a database made by create_database()")
    with _connect(with_database(url, "postgres")) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def is_local_server(url: str) -> bool:
    """True when ``url`` names a server on this machine (Unix socket or loopback): its pids are ours to check."""
    host = dict(parse_qsl(urlsplit(url).query)).get("host") or urlsplit(url).hostname or ""
    return host.startswith("/") or host in ("", "localhost", "127.0.0.1", "::1")

