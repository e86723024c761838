"""Throwaway migrated databases in milliseconds: clone a template built once per distinct migrations content.

The template is named by a hash of the migration files, so a changed migration gives a new template. Whichever
process gets there first builds it under an advisory lock; it is marked ``datistemplate`` only when complete, so a
crashed build is never cloned (the next builder drops it and starts over). The builder is handed its ``Migrator``
(pgtestdb's pattern) and never imports the migrations package itself.

One server is shared by every checkout, worktree and process of a user, so any number of builders, cloners and
pruners run at once: cloning holds the template's lock shared, building and dropping hold it exclusive, and a
pruner only drops what it can lock without waiting. Templates and their spare clones stay within ``BUDGET_BYTES``,
least recently used (the time stamped in the template's comment) dropped first.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from database import config, lock
from database.config import Project
from database.dev import pg, server, servers
from database.dev.fingerprint import migrations_digest as migrations_digest  # for callers of testdb.migrations_digest
from database.errors import ConfigError, ServerError

TEMPLATE_PREFIX = "dbtui_tpl_"
CLONE_PREFIX = "dbtui_test_"
SPARE_PREFIX = "dbtui_spare_"
SPARES = int(os.environ.get("DBTUI_TESTDB_SPARES", "2"))  # ready-made clones kept per template
# Templates and their spare clones kept on one server, least recently used dropped first (docs/server.md).
BUDGET_BYTES = int(os.environ.get("DBTUI_TESTDB_BUDGET_MB", "256")) * 2**20
USED_MARK = "dbtui: last used at "  # the comment on a template database: when it was last cloned (LRU)
USE_RECORD_EVERY = 60  # seconds: a template's use is written at most this often
PRUNE_LOCK = "dbtui:testdb:prune"


class Migrator(Protocol):
    """What the template builder is handed (pgtestdb's pattern): it never imports a migrations package itself."""

    def digest(self) -> str:
        """A hash of everything that shapes the migrated database: equal digests share a template."""
        ...

    def migrate(self, url: str) -> None:
        """Bring the empty database at ``url`` fully up to date."""
        ...


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def server_url(project: Project | None = None) -> str:
    """Where throwaway databases live: a configured server if there is one, else this user's shared scratch cluster
    (which, when it has to start, first collects what deleted projects left behind)."""
    try:
        return config.database_url_if_set(project)
    except LookupError:
        return server.scratch_cluster(project or config.find_project()).ensure_running(on_start=servers.collect)


@contextlib.contextmanager
def _session_lock(conn: psycopg.Connection, name: str, *, shared: bool = False) -> Iterator[None]:
    """A session advisory lock on ``name``: exclusive to build or drop a template, shared to clone from it."""
    kind = "_shared" if shared else ""
    conn.execute(f"SELECT pg_advisory_lock{kind}(%s)", (lock.lock_key(name),))
    try:
        yield
    finally:
        conn.execute(f"SELECT pg_advisory_unlock{kind}(%s)", (lock.lock_key(name),))


def _default_migrator(directory: Path) -> Migrator:
    from database.dev.migrations import (
        Migrator as YoyoMigrator,  # yoyo only when a template is built: cloning starts faster
    )

    return YoyoMigrator(directory)


def template_name(migrator: Migrator) -> str:
    return TEMPLATE_PREFIX + migrator.digest()[:20]


def _coordinating(url: str) -> str:
    """The server's ``postgres`` database: every process takes testdb's advisory locks there. The locks are scoped
    to the database they are taken in, so two processes given URLs of different databases on one server would not
    exclude each other."""
    return with_database(url, "postgres")


def ensure_template(admin_url: str, migrations: Path | Migrator) -> str:
    """Build the template for these migrations unless it exists; returns its name."""
    migrator = _default_migrator(migrations) if isinstance(migrations, Path) else migrations
    admin_url = _coordinating(admin_url)
    with pg.connect(admin_url) as conn:
        return _ensure_template(conn, admin_url, migrator)


def _ensure_template(conn: psycopg.Connection, admin_url: str, migrator: Migrator) -> str:
    name = template_name(migrator)
    if _is_template(conn, name):
        return name
    with _session_lock(conn, name):
        if _is_template(conn, name):
            return name
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
        try:
            migrator.migrate(with_database(admin_url, name))
        except BaseException:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            raise
        conn.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true").format(sql.Identifier(name)))
        _record_use(conn, name)
    prune(conn, keep=name)
    return name


def _is_template(conn: psycopg.Connection, name: str) -> bool:
    row = conn.execute("SELECT datistemplate FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return bool(row and row[0])


def _record_use(conn: psycopg.Connection, template: str) -> None:
    """Stamp the template with the time of its use (its comment), at most once a minute: the LRU order."""
    now = time.time()
    if now - _last_use(conn, template) < USE_RECORD_EVERY:
        return
    with contextlib.suppress(psycopg.errors.UndefinedObject):  # dropped meanwhile
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(template), sql.Literal(f"{USED_MARK}{now:.3f}")
            )
        )


def _last_use(conn: psycopg.Connection, template: str) -> float:
    row = conn.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (template,)
    ).fetchone()
    comment = (row[0] if row else None) or ""
    return float(comment[len(USED_MARK) :]) if comment.startswith(USED_MARK) else 0.0


@dataclass(frozen=True)
class Dropped:
    """A template (with its spares) that ``prune`` dropped, and the bytes it gave back."""

    template: str
    bytes: int


def prune(conn: psycopg.Connection, *, keep: str | None = None, budget: int | None = None) -> list[Dropped]:
    """Drop the least recently used templates, with their spare clones, until what remains fits ``budget``.

    A template is dropped only under its exclusive lock, taken without waiting: one being built or cloned right now
    is skipped, so a concurrent process never loses the template it is using. One pruner at a time per server.
    """
    budget = BUDGET_BYTES if budget is None else budget
    if not conn.execute("SELECT pg_try_advisory_lock(%s)", (lock.lock_key(PRUNE_LOCK),)).fetchone()[0]:  # type: ignore[index]
        return []  # another process is pruning this server now
    dropped: list[Dropped] = []
    try:
        usage = _template_usage(conn)
        total = sum(size for _, size in usage.values())
        for template in sorted(usage, key=lambda t: usage[t][0]):
            if total <= budget:
                break
            if template == keep:
                continue
            if _drop_template(conn, template):
                dropped.append(Dropped(template, usage[template][1]))
                total -= usage[template][1]
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (lock.lock_key(PRUNE_LOCK),))
    return dropped


def prune_server(admin_url: str, budget: int | None = None) -> list[Dropped]:
    """``prune`` on the server at ``admin_url`` (``dbtui db gc``)."""
    with pg.connect(_coordinating(admin_url)) as conn:
        return prune(conn, budget=budget)


def _template_usage(conn: psycopg.Connection) -> dict[str, tuple[float, int]]:
    """Each template on the server: ``(last use, bytes of it and its spares)``."""
    rows = conn.execute(
        "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database WHERE datname LIKE %s OR datname LIKE %s",
        (TEMPLATE_PREFIX + "%", SPARE_PREFIX + "%"),
    ).fetchall()
    usage: dict[str, tuple[float, int]] = {}
    for name, comment in sorted(rows, key=lambda r: not r[0].startswith(TEMPLATE_PREFIX)):
        size = _size(conn, name)
        if name.startswith(TEMPLATE_PREFIX):
            used = float(comment[len(USED_MARK) :]) if comment and comment.startswith(USED_MARK) else 0.0
            usage[name] = (used, size)
        else:
            owner = TEMPLATE_PREFIX + name[len(SPARE_PREFIX) :].rsplit("_", 1)[0]
            used, before = usage.get(owner, (0.0, 0))
            usage[owner] = (used, before + size)
    return usage


def _size(conn: psycopg.Connection, name: str) -> int:
    try:
        row = conn.execute("SELECT pg_database_size(%s)", (name,)).fetchone()
    except psycopg.Error:  # dropped meanwhile
        return 0
    return int(row[0]) if row and row[0] else 0


def _drop_template(conn: psycopg.Connection, template: str) -> bool:
    """Drop ``template`` and its spares unless someone builds or clones it right now."""
    key = lock.lock_key(template)
    if not conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:  # type: ignore[index]
        return False
    try:
        for spare in _spares(conn, template):
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(spare)))
        with contextlib.suppress(psycopg.errors.InvalidCatalogName):
            conn.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE false").format(sql.Identifier(template)))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(template)))
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
    return True


def _drop_orphans(conn: psycopg.Connection) -> None:
    """Drop clones whose creating process died without dropping them (local servers only: pids are ours)."""
    rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (CLONE_PREFIX + "%",)).fetchall()
    for (name,) in rows:
        pid = name[len(CLONE_PREFIX) :].split("_", 1)[0]
        if pid.isdigit() and not server.process_alive(int(pid)):
            with contextlib.suppress(psycopg.Error):
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _spare_prefix(template: str) -> str:
    return SPARE_PREFIX + template[len(TEMPLATE_PREFIX) :] + "_"


def _spares(conn: psycopg.Connection, template: str) -> list[str]:
    """The ready-made clones of ``template``, by name."""
    rows = conn.execute(
        "SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY datname", (_spare_prefix(template) + "%",)
    ).fetchall()
    return [row[0] for row in rows]


def _clone(conn: psycopg.Connection, template: str, name: str) -> None:
    conn.execute(
        sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
            sql.Identifier(name), sql.Identifier(template)
        )
    )


def _take_spare(conn: psycopg.Connection, template: str, name: str) -> bool:
    """Rename a ready-made clone of ``template`` to ``name`` (a few ms); False when none is left."""
    for spare in _spares(conn, template):
        try:
            conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(spare), sql.Identifier(name)))
            return True
        except psycopg.Error:
            continue  # another process took it first
    return False


_refills: list[threading.Thread] = []


def _replenish(admin_url: str, template: str) -> None:
    """Top the spares of ``template`` back up to SPARES, in the background: the next caller, in this process or
    the next test run, gets a database by renaming one instead of waiting for a copy. Within the budget only."""

    def work() -> None:
        with contextlib.suppress(Exception), pg.connect(admin_url) as conn:
            # One refiller per template at a time (across processes); the next one recounts after it.
            with _session_lock(conn, _spare_prefix(template)), _session_lock(conn, template, shared=True):
                while _is_template(conn, template) and len(_spares(conn, template)) < SPARES:
                    # Room for one more: a spare of the template in use beats an older template.
                    room = BUDGET_BYTES - _size(conn, template)
                    prune(conn, keep=template, budget=room)
                    if sum(size for _, size in _template_usage(conn).values()) > room:
                        break
                    _clone(conn, template, _spare_prefix(template) + secrets.token_hex(4))

    _refills[:] = [t for t in _refills if t.is_alive()]
    thread = threading.Thread(target=work, name="dbtui-testdb-spares", daemon=True)
    _refills.append(thread)
    thread.start()


def wait_for_spares(timeout: float = 60) -> None:
    """Wait for this process's background spare refills (a test measuring the footprint needs them finished)."""
    for thread in list(_refills):
        thread.join(timeout)


def create_database(
    *,
    project: Project | None = None,
    migrations_dir: Path | None = None,
    url: str | None = None,
    migrator: Migrator | None = None,
) -> str:
    """A fresh, fully migrated database; returns its URL. Drop it with ``drop_database``."""
    if migrator is None:
        project = project or (None if (migrations_dir and url) else config.find_project())
        migrator = _default_migrator(migrations_dir or project.migrations)  # type: ignore[union-attr]
    admin_url = _coordinating(url or server_url(project))
    name = f"{CLONE_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    with pg.connect(admin_url) as conn:
        for _attempt in range(5):
            template = _ensure_template(conn, admin_url, migrator)
            with _session_lock(conn, template, shared=True):
                if not _is_template(conn, template):
                    continue  # pruned by another process between our look and our lock: build it again
                if not _take_spare(conn, template, name):
                    _clone(conn, template, name)
                _record_use(conn, template)
            break
        else:
            raise ServerError(
                f"template {template} kept disappearing while cloning it; is something dropping databases?"
            )
        if server.is_local_server(admin_url):
            _drop_orphans(conn)
    if SPARES:
        _replenish(admin_url, template)
    return with_database(admin_url, name)


def drop_database(url: str) -> None:
    """Drop a database made by ``create_database`` (connections to it are closed first)."""
    name = database_name(url)
    if not name.startswith(CLONE_PREFIX):
        raise ConfigError(f"refusing to drop {name!r}: not a database made by create_database()")
    with pg.connect(with_database(url, "postgres")) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
