"""Throwaway migrated databases in milliseconds: clone a template built once per distinct migrations content.

The template is named by a hash of the migration files, so a changed migration gives a new template. Whichever
process gets there first builds it under an advisory lock; it is marked ``datistemplate`` only when complete, so a
crashed build is never cloned (the next builder drops it and starts over). The builder is handed its ``Migrator``
(pgtestdb's pattern) and never imports the migrations package itself.

One server is shared by every checkout, worktree and process of a user, so any number of builders, cloners and
pruners run at once: cloning holds the template's lock shared, building and dropping hold it exclusive, and a
pruner only drops what it can lock without waiting. Templates and their spare clones stay within ``BUDGET_BYTES``,
least recently used (the time stamped in the template's comment) dropped first.

A process keeps one connection to the server, so a database with a spare ready is one round trip (a rename); the
refill, the pruning and the rest happen afterwards in a background thread (docs/server.md, "A fresh database").
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from database import config, lock
from database.config import Project
from database.dev import pg, server, servers
from database.dev.fingerprint import migrations_digest as migrations_digest  # for callers of testdb.migrations_digest
from database.dev.fingerprint import watched_digest
from database.dev.timing import mark
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
T = TypeVar("T")


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


_projects: dict[tuple[str, tuple[tuple[int, int, int, int] | None, ...]], Project] = {}


def _current_project() -> Project:
    """``config.find_project()``, remembered while the working directory and every ``pyproject.toml`` at or above it
    stay the same: a test session asks for each test, and reading the TOML costs more than the rest of a spare."""
    here = os.getcwd()
    signature: list[tuple[int, int, int, int] | None] = []
    for folder in (here, *(str(p) for p in Path(here).parents)):
        try:
            stat = os.stat(os.path.join(folder, "pyproject.toml"))
            signature.append((stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns))
        except OSError:
            signature.append(None)
    key = (here, tuple(signature))
    if key not in _projects:
        _projects.clear()
        _projects[key] = config.find_project()
    return _projects[key]


def server_url(project: Project | None = None) -> str:
    """Where throwaway databases live: a configured server if there is one, else this user's shared scratch cluster
    (which, when it has to start, first collects what deleted projects left behind)."""
    try:
        return config.database_url_if_set(project)
    except LookupError:
        scratch = server.scratch_cluster(project or _current_project())
        if _connected(_coordinating(scratch.url())):  # it runs, and our connection keeps it from an idle stop
            return scratch.url()
        return scratch.ensure_running(on_start=servers.collect)


@contextlib.contextmanager
def _session_lock(conn: psycopg.Connection, name: str, *, shared: bool = False) -> Iterator[None]:
    """A session advisory lock on ``name``: exclusive to build or drop a template, shared to clone from it."""
    kind = "_shared" if shared else ""
    conn.execute(f"SELECT pg_advisory_lock{kind}(%s)", (lock.lock_key(name),))
    try:
        yield
    finally:
        conn.execute(f"SELECT pg_advisory_unlock{kind}(%s)", (lock.lock_key(name),))


@dataclass(frozen=True)
class _FolderMigrator:
    """The migrations of a folder, applied with ``database.dev.migrations`` (yoyo's bookkeeping), which is imported
    only when a template is built: a clone needs neither it nor yoyo."""

    directory: Path

    def digest(self) -> str:
        return migrations_digest(self.directory)

    def migrate(self, url: str) -> None:
        from database.dev.migrations import apply_all

        apply_all(url, self.directory)


def template_name(migrator: Migrator) -> str:
    return TEMPLATE_PREFIX + migrator.digest()[:20]


def _coordinating(url: str) -> str:
    """The server's ``postgres`` database: every process takes testdb's advisory locks there. The locks are scoped
    to the database they are taken in, so two processes given URLs of different databases on one server would not
    exclude each other."""
    return with_database(url, "postgres")


def ensure_template(admin_url: str, migrations: Path | Migrator) -> str:
    """Build the template for these migrations unless it exists; returns its name."""
    migrator = _FolderMigrator(migrations) if isinstance(migrations, Path) else migrations

    def ensure(conn: psycopg.Connection, url: str) -> str:
        name, built = _ensure_template(conn, url, migrator)
        if built:
            prune(conn, keep=name)
        return name

    return _on_admin(lambda: admin_url, ensure)[1]


def _ensure_template(conn: psycopg.Connection, admin_url: str, migrator: Migrator) -> tuple[str, bool]:
    """The template's name, and whether this call built it (its caller then prunes to the budget: in the background
    for ``create_database``, whose caller waits for the copy, not for older templates to be dropped)."""
    name = template_name(migrator)
    if _is_template(conn, name):
        return name, False
    with _session_lock(conn, name):
        if _is_template(conn, name):
            return name, False
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 STRATEGY FILE_COPY").format(sql.Identifier(name)))
        mark("template: empty database created")
        try:
            migrator.migrate(with_database(admin_url, name))
            mark("template: migrated")
        except BaseException:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            raise
        conn.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true").format(sql.Identifier(name)))
        _record_use(conn, name)
    return name, True


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
    return _prune(conn, keep, BUDGET_BYTES if budget is None else budget)[0]


def _prune(conn: psycopg.Connection, keep: str | None, budget: int) -> tuple[list[Dropped], int | None]:
    """``prune``, and the bytes the templates and spares take after it (None when another process is pruning: the
    sizes were not read)."""
    if not conn.execute("SELECT pg_try_advisory_lock(%s)", (lock.lock_key(PRUNE_LOCK),)).fetchone()[0]:  # type: ignore[index]
        return [], None  # another process is pruning this server now
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
    return dropped, total


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


def _take_spare(conn: psycopg.Connection, template: str, name: str, *, hold: bool = False) -> None:
    """Rename a ready-made clone of ``template`` to ``name``, in one round trip (a DO block).

    Holds the template's lock shared while it looks (as a clone does), so a pruner never drops what it renames; the
    spares are tried in random order, so processes taking spares at once rarely reach for the same one, and one that
    another process renamed first is skipped. Raises ``InvalidCatalogName`` when the template is not (or no longer)
    there, and ``NoDataFound`` when no spare is left: the template's lock is then held shared at session level for
    the caller's copy (a session lock stays taken when its transaction rolls back), which it must release. With
    ``hold`` a renamed spare leaves that lock held too, for the caller to read the oid of the template it is a copy
    of (``_oid_and_unlock``).
    """
    conn.execute(
        sql.SQL(
            "DO $take$ DECLARE spare name; BEGIN"
            " PERFORM pg_advisory_xact_lock_shared({key});"
            " IF NOT EXISTS (SELECT FROM pg_database WHERE datname = {template} AND datistemplate) THEN"
            "  RAISE EXCEPTION 'template % is missing', {template} USING ERRCODE = 'invalid_catalog_name';"
            " END IF;"
            " FOR spare IN SELECT datname FROM pg_database WHERE starts_with(datname, {prefix}) ORDER BY random() LOOP"
            "  BEGIN"
            "   EXECUTE format('ALTER DATABASE %I RENAME TO %I', spare, {name});"
            "   {hold}"
            "   RETURN;"
            "  EXCEPTION WHEN invalid_catalog_name OR object_in_use THEN"  # another process took it first
            "  END;"
            " END LOOP;"
            " PERFORM pg_advisory_lock_shared({key});"
            " RAISE EXCEPTION 'no spare of %', {template} USING ERRCODE = 'no_data_found';"
            " END $take$"
        ).format(
            key=sql.Literal(lock.lock_key(template)),
            template=sql.Literal(template),
            prefix=sql.Literal(_spare_prefix(template)),
            name=sql.Literal(name),
            hold=sql.SQL("PERFORM pg_advisory_lock_shared({});").format(sql.Literal(lock.lock_key(template)))
            if hold
            else sql.SQL(""),
        )
    )


# -- one open connection per server and process ------------------------------------------------------------------

KEEP_OPEN = 60.0  # seconds a process keeps its connections to the server after its last create_database()
_admin_lock = threading.Lock()
_admins: dict[str, psycopg.Connection] = {}
_admin_pid = os.getpid()
_inherited: list[psycopg.Connection] = []  # a forked child's copies of its parent's connections, never used
_admin_used = 0.0


@contextlib.contextmanager
def _admin(url: str) -> Iterator[psycopg.Connection]:
    """This process's open connection to ``url`` (the server's ``postgres`` database): a test session creating a
    database per test pays the connection once (about 10 ms), not per test. Reopened when it died or after a fork; a
    second thread asking while it is in use gets a connection of its own for that call."""
    global _admin_pid, _admin_used
    if not _admin_lock.acquire(blocking=False):
        with pg.connect(url) as conn:
            yield conn
        return
    try:
        if _admin_pid != os.getpid():  # a forked child: the parent's sockets are not ours to use (nor to close)
            _inherited.extend(_admins.values())
            _admins.clear()
            _admin_pid = os.getpid()
        kept = _admins.get(url)
        if kept is None or kept.closed:
            kept = _admins[url] = pg.connect(url)
        try:
            yield kept
        except psycopg.OperationalError:
            if kept.closed or kept.broken:
                del _admins[url]
                kept.close()
            raise
    finally:
        _admin_used = time.monotonic()
        _admin_lock.release()


def _on_admin(locate: Callable[[], str], work: Callable[[psycopg.Connection, str], T]) -> tuple[str, T]:
    """``work(connection, url)`` on this process's kept connection to the server at ``locate()``, and once more on a
    new one when the kept one turns out to have died since its last use (a restart, an idle stop: ``locate()`` is
    asked again, which starts a stopped scratch server). Returns the URL used and what ``work`` returned."""
    admin_url = _coordinating(locate())
    try:
        with _admin(admin_url) as conn:
            return admin_url, work(conn, admin_url)
    except psycopg.OperationalError:
        if _connected(admin_url):
            raise  # the connection is fine: a real failure
    admin_url = _coordinating(locate())
    with _admin(admin_url) as conn:
        return admin_url, work(conn, admin_url)


def _connected(url: str) -> bool:
    """True when this process holds an open connection to ``url``: the server runs, and counts us as a client."""
    conn = _admins.get(url)
    return _admin_pid == os.getpid() and conn is not None and not conn.closed


def _close_idle_admins() -> bool:
    """Close this process's connections unused for KEEP_OPEN seconds (an idle server may then stop); True if so."""
    if time.monotonic() - _admin_used < KEEP_OPEN or not _admin_lock.acquire(blocking=False):
        return False
    try:
        if _admin_pid == os.getpid():
            for conn in _admins.values():
                conn.close()
            _admins.clear()
        return True
    finally:
        _admin_lock.release()


class _Upkeep:
    """What follows a hand-out, in one background thread per process, off the caller's clock: top the template's
    spares back up to SPARES (the next caller, in this process or the next test run, renames one instead of waiting
    for a copy; within the budget only), stamp the template's use (LRU) and drop clones of dead processes. The thread
    keeps its own connection, closes both after KEEP_OPEN idle seconds, and ends."""

    def __init__(self) -> None:
        self.queue: queue.Queue[tuple[str, str, bool]] = queue.Queue()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.prunes = 0  # prunes asked for and not yet done: a process waits for them as it exits (the budget)

    def request(self, admin_url: str, template: str, *, prune: bool = False) -> None:
        with self.lock:
            self.prunes += prune
            self.queue.put((admin_url, template, prune))
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="dbtui-testdb-upkeep", daemon=True)
                self.thread.start()

    def wait(self, timeout: float, *, prunes_only: bool = False) -> None:
        deadline = time.monotonic() + timeout
        while (self.prunes if prunes_only else self.queue.unfinished_tasks) and time.monotonic() < deadline:
            time.sleep(0.01)

    def _run(self) -> None:
        conns: dict[str, psycopg.Connection] = {}
        try:
            while True:
                try:
                    admin_url, template, pruning = self.queue.get(timeout=KEEP_OPEN / 4)
                except queue.Empty:
                    with self.lock:
                        if self.queue.empty() and _close_idle_admins():
                            self.thread = None
                            return
                    continue
                try:
                    conn = conns.get(admin_url)
                    if conn is None or conn.closed:
                        conn = conns[admin_url] = pg.connect(admin_url)
                    if pruning:
                        prune(conn, keep=template)
                    with self.lock:
                        self.prunes -= pruning
                        pruning = False
                    _upkeep(conn, admin_url, template)
                except Exception:  # best effort: the next hand-out tries again, on a new connection
                    dropped = conns.pop(admin_url, None)
                    if dropped is not None:
                        dropped.close()
                finally:
                    with self.lock:
                        self.prunes -= pruning
                    self.queue.task_done()
        finally:
            for conn in conns.values():
                conn.close()


_upkept: dict[tuple[str, str], float] = {}  # (server, template): when this process last stamped its use


def _upkeep(conn: psycopg.Connection, admin_url: str, template: str) -> None:
    now = time.monotonic()
    if now - _upkept.get((admin_url, template), -USE_RECORD_EVERY) >= USE_RECORD_EVERY:  # at most once a minute
        _upkept[admin_url, template] = now
        _record_use(conn, template)
        if server.is_local_server(admin_url):
            _drop_orphans(conn)
    if not SPARES:
        return
    # One refiller per template at a time (across processes); the next one recounts after it.
    with _session_lock(conn, _spare_prefix(template)), _session_lock(conn, template, shared=True):
        while _is_template(conn, template) and len(_spares(conn, template)) < SPARES:
            # Room for one more: a spare of the template in use beats an older template.
            room = BUDGET_BYTES - _size(conn, template)
            total = _prune(conn, template, room)[1]
            if total is None:  # read the sizes (each a walk of a database's files) once, not again after the prune
                total = sum(size for _, size in _template_usage(conn).values())
            if total > room:
                break
            _clone(conn, template, _spare_prefix(template) + secrets.token_hex(4))
            mark("a spare made")


_upkeeper = _Upkeep()
# A process that built a template waits, as it exits, for the older templates to be dropped: the budget holds even
# when every caller is a short command (`dbtui codegen`). Spares still being made are left to the next caller.
atexit.register(_upkeeper.wait, 60, prunes_only=True)


def wait_for_spares(timeout: float = 60) -> None:
    """Wait for this process's background upkeep (a test measuring the footprint needs the spares made)."""
    _upkeeper.wait(timeout)


@dataclass(frozen=True)
class Clone:
    """A database made by ``clone_database``, and the template it is a copy of: its name (the migrations' digest)
    and its oid, which tells a rebuilt template (dropped, then built again) from the one before."""

    url: str
    template: str
    template_oid: int

    @property
    def server_url(self) -> str:
        """The server's ``postgres`` database (where the templates are coordinated)."""
        return _coordinating(self.url)


def create_database(
    *,
    project: Project | None = None,
    migrations_dir: Path | None = None,
    url: str | None = None,
    migrator: Migrator | None = None,
) -> str:
    """A fresh, fully migrated database; returns its URL. Drop it with ``drop_database``.

    With a spare ready this is one round trip on an open connection (a rename); without, a clone of the template
    (``CREATE DATABASE … STRATEGY FILE_COPY``); the first call after a migration changed builds the template.
    """
    return _make(project, migrations_dir, url, migrator, oid=False)[0]


def clone_database(
    *,
    project: Project | None = None,
    migrations_dir: Path | None = None,
    url: str | None = None,
    migrator: Migrator | None = None,
) -> Clone:
    """``create_database``, telling which template the database is a copy of (what is kept with the template,
    such as its schema dump, is looked up by that): with a spare ready, one more round trip."""
    made, template, oid = _make(project, migrations_dir, url, migrator, oid=True)
    assert oid is not None
    return Clone(made, template, oid)


def _make(
    project: Project | None, migrations_dir: Path | None, url: str | None, migrator: Migrator | None, *, oid: bool
) -> tuple[str, str, int | None]:
    """The URL of a fresh copy of the template, the template's name and, if asked (``oid``), its oid."""
    if migrator is None:
        project = project or (None if (migrations_dir and url) else _current_project())
        directory = migrations_dir or project.migrations  # type: ignore[union-attr]
        migrator = _FolderMigrator(directory)
        template = TEMPLATE_PREFIX + watched_digest(directory)[:20]  # what migrator.digest() gives, without a scan
    else:
        template = template_name(migrator)

    def create(conn: psycopg.Connection, admin_url: str) -> tuple[str, str, int | None, bool]:
        name = f"{CLONE_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"  # anew on a retry: the first may have been made
        return (name, *_create(conn, admin_url, migrator, template, name, oid=oid))

    def located() -> str:
        found = url or server_url(project)
        mark("server found")
        return found

    admin_url, (name, template, template_oid, built) = _on_admin(located, create)
    _upkeeper.request(admin_url, template, prune=built)
    return with_database(admin_url, name), template, template_oid


def _oid_and_unlock(conn: psycopg.Connection, template: str) -> int:
    """The oid of ``template`` (a rebuilt template has another), read under its shared session lock, which this
    releases."""
    row = conn.execute(_oid_and_unlock_query(template), prepare=False).fetchone()
    return row[0]  # type: ignore[index]


def _oid_and_unlock_query(template: str) -> sql.Composed:
    return sql.SQL("SELECT (SELECT oid FROM pg_database WHERE datname = {}), pg_advisory_unlock_shared({})").format(
        sql.Literal(template), sql.Literal(lock.lock_key(template))
    )


def _clone_and_unlock(conn: psycopg.Connection, template: str, name: str) -> int:
    """Copy ``template`` to ``name``, then read its oid and release its shared lock (taken by ``_take_spare``), in
    one pipeline: that waits in the server's queue instead of costing a round trip after the copy."""
    try:
        with conn.pipeline():
            _clone(conn, template, name)
            unlocked = conn.execute(_oid_and_unlock_query(template), prepare=False)
        return unlocked.fetchone()[0]  # type: ignore[index]
    except psycopg.Error:
        if not conn.closed:  # the failed copy skipped the unlock queued behind it
            _oid_and_unlock(conn, template)
        raise


def _create(
    conn: psycopg.Connection, admin_url: str, migrator: Migrator, template: str, name: str, *, oid: bool
) -> tuple[str, int | None, bool]:
    """Make ``name`` a copy of ``template``: a spare renamed, else a clone; the template is built when missing.
    Returns the template's name, its oid (when ``oid`` is asked for), and whether this call built it."""
    built = False
    for _attempt in range(5):
        try:
            try:
                _take_spare(conn, template, name, hold=oid)
                mark("a spare taken")
                return template, _oid_and_unlock(conn, template) if oid else None, built
            except psycopg.errors.NoDataFound:  # no spare left: copy it, under the lock the DO block took
                copied = _clone_and_unlock(conn, template, name)
                mark("no spare: cloned")
                return template, copied, built
        except psycopg.errors.InvalidCatalogName:  # not built yet, or pruned since
            pass
        template, building = _ensure_template(conn, admin_url, migrator)
        built = built or building
    raise ServerError(f"template {template} kept disappearing while cloning it; is something dropping databases?")


def drop_database(url: str) -> None:
    """Drop a database made by ``create_database`` (connections to it are closed first)."""
    name = database_name(url)
    if not name.startswith(CLONE_PREFIX):
        raise ConfigError(f"refusing to drop {name!r}: not a database made by create_database()")
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    _on_admin(lambda: url, lambda conn, _: conn.execute(drop))
