"""Connections: one pool per kind of connection and event loop, created on first connect.

Two kinds of connection, from two pools that never share a connection:
- admin: the URL as configured (``configure(url)`` · ``$DATABASE_URL`` · ``[tool.dbtui] database_url`` · the
  embedded development cluster);
- customer: the same server, logged in as the ``app_customer`` role (no BYPASSRLS, member of no other role), with
  ``app.user_id`` and ``app.organization_id`` set so Row Level Security policies see who is asking. Because the
  role is the *login* role, ``RESET ROLE``, ``SET ROLE`` and ``SET SESSION AUTHORIZATION`` cannot give admin rights
  back. Code in a customer transaction may run any SQL (docs/security.md): the identity is sealed to the backend and
  the transaction, no server-side prepared statement is ever run, and every check-in sheds the session state.
  ``$DATABASE_CUSTOMER_URL`` (or ``configure(customer_url=...)``) names its credentials where the server needs a
  password; by default the admin URL is reused with the user swapped and the password dropped.

Pools are per event loop (asyncio connections cannot cross loops), so tests, workers and apps with several loops
each get their own. Why the pool is ours and not SQLAlchemy's or psycopg_pool's: ``_Pool`` and docs/production.md.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import re
import select
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool, PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from database import config
from database.errors import DbtuiError

CUSTOMER_ROLE = "app_customer"
POOL_SIZE = 10  # connections a pool keeps open however long they sit idle
MAX_OVERFLOW = 20  # more it may open under load, each closed once it has sat idle for OVERFLOW_IDLE seconds
OVERFLOW_IDLE = 60.0
POOL_TIMEOUT = 30.0  # seconds a checkout waits for a connection when all POOL_SIZE + MAX_OVERFLOW are in use
POOL_RECYCLE = 3600.0  # seconds after which a connection is closed instead of reused

# One identity statement, one round trip, transaction-local: it ends with the transaction it was set in, commit
# or rollback (a session-level value would fall back to the previous customer's identity after a rollback).
# app_identity_seal() (migrations/0007) checks the short-lived proof and returns a seal bound to this backend and this
# transaction, so a copy of the settings is worthless anywhere else. Sent unprepared and with bound parameters: no
# server-side statement a customer could replace, and no proof in any query text.
SET_IDENTITY = (
    "SELECT pg_catalog.set_config('app.user_id', %(user_id)s, true),"
    " pg_catalog.set_config('app.organization_id', %(organization_id)s, true),"
    " pg_catalog.set_config('app.identity_sig',"
    " public.app_identity_seal(%(user_id)s, %(organization_id)s, %(issued_at)s, %(proof)s), true)"
)
# Everything a session carries to the next checkout, shed in the same message as the customer's COMMIT (or after
# its ROLLBACK): settings, prepared statements, held cursors, LISTENs, session advisory locks, sequence state, temp
# objects. Per transaction, so it also cleans the server connection a transaction-mode pooler hands on next.
_RESET_SESSION = (
    "RESET ALL; DEALLOCATE ALL; CLOSE ALL; UNLISTEN *; SELECT pg_catalog.pg_advisory_unlock_all();"
    " DISCARD SEQUENCES; DISCARD TEMP"
)
# Session defaults of the customer login role: the role may set them itself (ALTER ROLE ... SET), so a new customer
# connection starts with whatever a tenant left there. Checked with admin rights on every new connection.
_ROLE_DEFAULTS = (
    "SELECT d.datname FROM pg_catalog.pg_db_role_setting s LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase"
    " WHERE s.setrole = pg_catalog.to_regrole(%s)"
)
_SECRET_QUERY = "SELECT secret FROM app_private.identity_secret"
_secrets: dict[str, str] = {}
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f]")

_customer_url: str | None = None
_replica_url: str | None = None
_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Pool]] = weakref.WeakKeyDictionary()


class InvalidIdentity(DbtuiError, ValueError):
    """A user or organization id that cannot identify anyone (empty, not a string, too long)."""


class PoolTimeout(DbtuiError, TimeoutError):
    """No connection came free within ``POOL_TIMEOUT`` seconds: every one the pool may open is in use."""


def configure(url: str | None, *, customer_url: str | None = None, replica_url: str | None = None) -> None:
    """Use ``url`` (``customer_url`` for customer connections, ``replica_url`` for read-only transactions) from now
    on; ``None`` restores the defaults.

    Pools made before are forgotten; call ``await dispose()`` first to close them promptly.
    """
    global _customer_url, _replica_url
    config.configure(url)
    _customer_url = customer_url
    _replica_url = replica_url
    _pools.clear()


def customer_url() -> str:
    """The customer URL: configure(customer_url=) · $DATABASE_CUSTOMER_URL · the admin URL as ``app_customer``."""
    if _customer_url:
        return _customer_url
    if os.environ.get("DATABASE_CUSTOMER_URL"):
        return os.environ["DATABASE_CUSTOMER_URL"]
    parts = urlsplit(config.database_url())
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{CUSTOMER_ROLE}@{host}"))


def replica_url() -> str | None:
    """Where read-only transactions run: configure(replica_url=) · $DATABASE_REPLICA_URL; None: on the primary."""
    return _replica_url or config.replica_url_if_set()


def _as_customer(url: str) -> str:
    """``url``'s server and database, logged in with the customer URL's credentials."""
    who = urlsplit(customer_url()).netloc.rsplit("@", 1)[0]
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{who}@{parts.netloc.rsplit('@', 1)[-1]}"))


def _url(kind: str) -> str:
    if kind == "admin":
        return config.database_url()
    if kind == "customer":
        return customer_url()
    replica = replica_url()
    assert replica is not None
    return replica if kind == "admin-replica" else _as_customer(replica)


def _pooler_safe(engine: AsyncEngine) -> None:
    """Behind a transaction-mode pooler each transaction may run on another server connection, where a statement
    psycopg prepared on this client connection does not exist (or another one of the same name does). So new
    connections get server-side preparation turned off (``prepare_threshold = None`` overrides the generated ORM's
    ``prepare=True``) when the pooler setting says so, or, on ``auto``, when the server's answer shows a pooler:
    it hands out its own cancel key, so the pid the client was told is not the backend's."""
    mode = config.pooler_mode()
    if mode in ("none", "session"):
        return

    @event.listens_for(engine.sync_engine, "connect")
    def _connected(dbapi_connection: Any, _record: object) -> None:
        driver: psycopg.AsyncConnection = dbapi_connection.driver_connection
        if driver.prepare_threshold is None:  # customer connections never prepare: nothing to find out
            return
        if mode == "auto":
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT pg_backend_pid()")
            backend_pid = cursor.fetchone()[0]
            cursor.close()
            dbapi_connection.rollback()
            if backend_pid == driver.info.backend_pid:
                return
        driver.prepare_threshold = None


def _pool(kind: str) -> _Pool:
    per_loop = _pools.get(asyncio.get_running_loop())
    if per_loop is None:
        per_loop = _pools[asyncio.get_running_loop()] = {}
    pool = per_loop.get(kind)
    if pool is None:
        url = _url(kind)
        engine = create_async_engine(
            config.psycopg_dialect_url(url),
            async_creator=functools.partial(_connect_customer, url) if kind.startswith("customer") else None,
            poolclass=NullPool,  # SQLAlchemy opens and closes each connection; _Pool keeps it in between
            connect_args=_connect_args(kind),
        )
        _pooler_safe(engine)
        pool = per_loop[kind] = _Pool(engine, url)
    return pool


def _connect_args(kind: str) -> dict[str, Any]:
    """Customer connections never prepare server-side statements: a tenant could DEALLOCATE one and PREPARE its own
    under the same name, and the next customer on the connection would run it with its own identity."""
    args: dict[str, Any] = {"application_name": f"database.{kind}"}
    if kind.startswith("customer"):
        args["prepare_threshold"] = None
    return args


async def dispose() -> None:
    """Close this event loop's pools (e.g. at application shutdown or the end of a test session)."""
    for pool in _pools.pop(asyncio.get_running_loop(), {}).values():
        await pool.close()


class Pooled:
    """One pooled connection: the psycopg connection, and a SQLAlchemy view of it built on first use per checkout.

    ``xact_*`` run the generated ORM on ``driver`` and never need SQLAlchemy's Connection unless the block touches
    ``q.conn`` (see bench/runtime.py). ``_fairy`` is SQLAlchemy's proxy of the connection, which SQLAlchemy opened
    (dialect set up, connect hooks run) and will close; between those, the connection belongs to ``pool``.
    """

    __slots__ = ("pool", "engine", "driver", "customer", "_fairy", "_conn", "_expires", "_generation", "_idle_since")

    def __init__(self, pool: _Pool, fairy: PoolProxiedConnection) -> None:
        self.pool = pool
        self.engine = pool.engine
        self._fairy = fairy
        self.driver: psycopg.AsyncConnection = fairy.driver_connection  # type: ignore[assignment]
        self._conn: AsyncConnection | None = None
        self.customer = False  # True from a customer checkout until its session state is shed (end())
        self._expires = time.monotonic() + POOL_RECYCLE
        self._generation = pool.generation
        self._idle_since = 0.0

    @property
    def conn(self) -> AsyncConnection:
        """The SQLAlchemy AsyncConnection over the same database connection (same transaction)."""
        if self._conn is None:
            self._conn = AsyncConnection(self.engine, Connection(self.engine.sync_engine, connection=self._fairy))
        return self._conn

    async def end(self, commit: bool) -> None:
        """Commit (or roll back) the transaction. On a customer connection the same message also sheds the session
        state the customer may have left (``_RESET_SESSION``): no extra round trip on the usual paths."""
        driver = self.driver
        if not self.customer:
            await (driver.commit() if commit else driver.rollback())
            return
        status = driver.pgconn.transaction_status  # not driver.info: that builds an object per call
        if commit and status == TransactionStatus.INTRANS:
            await driver.execute(f"{_RESET_SESSION}; COMMIT")  # an error in either leaves nothing committed
        elif status != TransactionStatus.IDLE:  # rolling back, or a failed transaction (COMMIT would roll it back)
            await driver.execute(f"ROLLBACK; {_RESET_SESSION}")
        else:  # the block ended its transaction itself: reset outside any, without psycopg's implicit BEGIN
            await driver.set_autocommit(True)
            try:
                await driver.execute(_RESET_SESSION)
            finally:
                await driver.set_autocommit(False)
        self.customer = False

    async def release(self) -> None:
        """Back to the pool, never inside a transaction, and never with a customer's session state. Anything that
        fails here discards the connection instead."""
        try:
            if self.driver.closed or self.driver.broken:
                raise psycopg.OperationalError("connection lost")
            if self.customer:
                await self.end(commit=False)
            elif self.driver.pgconn.transaction_status != TransactionStatus.IDLE:
                await self.driver.rollback()
            if self._conn is not None:
                if self._conn.in_transaction():  # SQLAlchemy's view of the transaction end() already ended
                    await self._conn.rollback()  # (psycopg sends nothing when the connection is idle)
                self._conn = None
        except (psycopg.Error, DBAPIError):
            await self.discard()
            return
        except BaseException:  # cancelled again while ending: it may be mid-message, and its place must come back
            await self.pool.drop(self, invalidate=True)
            raise
        await self.pool.put(self)

    async def discard(self) -> None:
        """The connection failed under us (server restart, network): close it, and retire every connection the pool
        opened before, so the next checkouts get fresh connections instead of other dead ones."""
        self.pool.generation += 1
        await self.pool.drop(self, invalidate=True)

    def usable(self) -> bool:
        """Fit to hand out again: not too old, and opened after the last failure of one of its pool's connections."""
        return self._generation == self.pool.generation and time.monotonic() < self._expires

    def alive(self) -> bool:
        """Nothing arrived while it sat idle. A server that ends a connection says so on its socket (a terminated
        backend, a restart, an idle timeout), and an idle connection otherwise has nothing to read (short of a
        NOTIFY or NOTICE, which we drop with the connection rather than pay a round trip to tell apart): one
        non-blocking poll, so a dead connection is replaced, not handed out."""
        return not self.driver.closed and not _readable(self.driver.fileno())


def _expire(waiter: asyncio.Future[Pooled | None]) -> None:
    """``POOL_TIMEOUT`` is up for a checkout still waiting: it gets ``PoolTimeout``; ``_hand_on`` skips it."""
    if not waiter.done():
        waiter.set_exception(
            PoolTimeout(
                f"no database connection came free within {POOL_TIMEOUT:.0f} s: all {POOL_SIZE + MAX_OVERFLOW} are in use"
            )
        )


def _readable(fd: int) -> bool:
    """Whether ``fd`` has something to read now, without waiting. poll() where there is one: select() refuses
    descriptors past FD_SETSIZE (1024), which a busy server process reaches."""
    if not hasattr(select, "poll"):  # Windows: its select() takes any socket
        return bool(select.select([fd], [], [], 0)[0])
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class _Pool:
    """The connections of one kind, for one event loop: at most ``POOL_SIZE + MAX_OVERFLOW`` open, a connection
    that comes back handed straight to the longest waiter, else kept; the most recently used handed out first, so
    under less load the least used ones sit idle, and beyond ``POOL_SIZE`` one is closed after ``OVERFLOW_IDLE``
    seconds of that (closing them as they come back, as SQLAlchemy's pool did, reopened up to 20 connections at
    each burst of 64 tasks: a login each, and for customers the admin query for role defaults).

    Why not SQLAlchemy's pool (used before): its check-out and check-in are a greenlet hop each, 35-45 µs of client
    CPU per transaction against 5-6 µs here. Why not psycopg_pool: it opens connections in background workers, so
    while the server is down a checkout waits its whole timeout (30 s) instead of failing at once with the
    connection error, and it keeps psycopg connections, where ``q.conn`` needs SQLAlchemy's proxy of one. So
    SQLAlchemy still opens and closes every connection (``NullPool`` engine: dialect, connect hooks, the customer-role
    check), and this keeps them in between: a deque, a count, and futures for the waiters (docs/production.md).
    """

    def __init__(self, engine: AsyncEngine, url: str) -> None:
        self.engine = engine
        self.url = url
        self.generation = 0  # bumped when an in-use connection fails: older ones are closed instead of reused
        self._idle: deque[Pooled] = deque()
        self._waiters: deque[asyncio.Future[Pooled | None]] = deque()
        self._open = 0
        self._closed = False

    async def get(self) -> Pooled:
        """A connection: an idle one still usable, else a new one while under the limit (a connection error is the
        caller's, at once), else the next one to come back (``PoolTimeout`` after ``POOL_TIMEOUT`` seconds)."""
        while True:
            while self._idle:
                pooled = self._idle.pop()
                if pooled.usable() and pooled.alive():
                    return pooled
                await self.drop(pooled, invalidate=True)
            if self._open < POOL_SIZE + MAX_OVERFLOW:
                self._open += 1
                try:
                    return Pooled(self, await self.engine.raw_connection())
                except BaseException:
                    self._open -= 1
                    self._hand_on(None)
                    raise
            # A future and a plain timer: asyncio.timeout() would cost 4-5 µs of client CPU per wait, and at 64
            # tasks on 30 connections nearly every checkout waits (docs/production.md).
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[Pooled | None] = loop.create_future()
            self._waiters.append(waiter)
            timer = loop.call_later(POOL_TIMEOUT, _expire, waiter)
            try:
                handed = await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    # handed something just as we gave up (cancelled): pass it on
                    if (passed := waiter.result()) is None:
                        self._hand_on(None)
                    else:
                        await self.put(passed)
                raise
            finally:
                timer.cancel()
            if handed is not None:
                return handed  # else a connection was closed, so there is room to open one: look again

    async def put(self, pooled: Pooled) -> None:
        """A connection back from a checkout, clean: to the longest waiter, else to the idle ones (closing the one
        idle longest if it is beyond ``POOL_SIZE`` and has been idle ``OVERFLOW_IDLE`` seconds); too old: closed."""
        if self._closed or not pooled.usable():
            await self.drop(pooled)
        elif not self._hand_on(pooled):
            pooled._idle_since = now = time.monotonic()
            self._idle.append(pooled)
            if len(self._idle) > POOL_SIZE and self._idle[0]._idle_since <= now - OVERFLOW_IDLE:
                await self.drop(self._idle.popleft())

    def _hand_on(self, item: Pooled | None) -> bool:
        """Give ``item`` (a connection, or None: room to open one) to the longest waiter still waiting."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(item)
                return True
        return False

    async def drop(self, pooled: Pooled, *, invalidate: bool = False) -> None:
        """Close ``pooled`` (``invalidate``: it may be dead, do not talk to it) and let a waiter open another."""
        self._open -= 1
        self._hand_on(None)
        fairy = pooled._fairy
        if invalidate and pooled._conn is not None:
            await pooled._conn.invalidate()
        elif fairy.is_valid:
            await greenlet_spawn(fairy.invalidate if invalidate else fairy.close)

    async def close(self) -> None:
        """Close the idle connections now; the ones in use close when they come back."""
        self._closed = True
        while self._idle:
            await self.drop(self._idle.popleft())
        await self.engine.dispose()


async def acquire(kind: str, identity: dict[str, str | int] | None = None, *, readonly: bool = False) -> Pooled:
    """A pooled connection of ``kind`` ("admin" or "customer"), with the customer identity set when given; give it
    back with ``release()``.

    ``readonly``: its transactions are read-only, and run on the replica when one is configured.
    """
    pooled = await _pool(f"{kind}-replica" if readonly and replica_url() else kind).get()
    pooled.customer = kind == "customer"
    try:
        if pooled.driver.read_only != (readonly or None):  # BEGIN READ ONLY; None: the server's default again
            await pooled.driver.set_read_only(readonly or None)
        if identity is not None:
            # Straight to the driver: the statement is fixed; psycopg opens the transaction implicitly with it.
            await pooled.driver.execute(SET_IDENTITY, identity, prepare=False)
    except BaseException:
        await pooled.release()
        raise
    return pooled


@asynccontextmanager
async def checkout(
    kind: str, identity: dict[str, str | int] | None = None, *, readonly: bool = False
) -> AsyncIterator[Pooled]:
    """``acquire()`` for the block, ``release()`` after it."""
    pooled = await acquire(kind, identity, readonly=readonly)
    try:
        yield pooled
    finally:
        await pooled.release()


async def _connect_customer(url: str) -> psycopg.AsyncConnection:
    """A new customer connection that did not start with session defaults a tenant gave the login role.

    Any role may ``ALTER ROLE`` its own defaults (``statement_timeout = '1ms'``, ``default_transaction_read_only``,
    ``search_path``...) and nothing in PostgreSQL can forbid it; they apply to connections opened afterwards. So each
    new connection (rare: pooled connections live an hour) checks them, and when there are any, clears them and
    connects again, before SQLAlchemy runs its first query on it.
    """
    for _ in range(3):
        connection = await psycopg.AsyncConnection.connect(config.libpq_url(url), **_connect_args("customer"))
        if not await _clear_role_defaults(connection.info.user):
            return connection
        await connection.close()
    raise DbtuiError("the customer role's session defaults keep coming back; refusing customer connections")


async def _clear_role_defaults(role: str) -> bool:
    """Clear ``role``'s session defaults, everywhere; True when there were any. With admin rights, which the
    defaults of the customer role cannot reach."""
    async with checkout("admin") as admin:
        databases = [row[0] for row in await (await admin.driver.execute(_ROLE_DEFAULTS, (role,))).fetchall()]
        for database in databases:
            scope = sql.SQL(" IN DATABASE {}").format(sql.Identifier(database)) if database else sql.SQL("")
            await admin.driver.execute(sql.SQL("ALTER ROLE {}{} RESET ALL").format(sql.Identifier(role), scope))
        await admin.end(commit=True)
    return bool(databases)


@asynccontextmanager
async def connect_db_admin() -> AsyncIterator[AsyncConnection]:
    """A pooled connection with the configured (admin) credentials."""
    async with checkout("admin") as pooled:
        yield pooled.conn


def _check_id(kind: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 256 or _CONTROL_CHARACTER.search(value):
        raise InvalidIdentity(f"{kind} must be a non-empty id string of at most 256 characters, got {value!r:.80}")
    return value


async def _identity_secret() -> str:
    """The signing secret, read once per database with admin rights (customers cannot read it).

    Keyed by the admin pool's URL: resolving the URL afresh would, without DATABASE_URL, look for the project and
    check the embedded cluster on every customer transaction.
    """
    url = _pool("admin").url
    if url not in _secrets:
        async with connect_db_admin() as conn:
            _secrets[url] = (await conn.exec_driver_sql(_SECRET_QUERY)).scalar_one()
            await conn.rollback()
    return _secrets[url]


def identity_proof(secret: str, user_id: str, organization_id: str, issued_at: int) -> str:
    """What app_identity_seal() recomputes in the database (SHA-256, hex); it accepts it for five minutes."""
    sep = "\x1f"
    text = sep.join((secret, "proof", user_id, organization_id, str(issued_at), secret))
    return hashlib.sha256(text.encode()).hexdigest()


async def customer_identity(user_id: str, organization_id: str) -> dict[str, str | int]:
    """The parameters of the identity statement: the ids, checked, and a fresh proof for them."""
    user_id = _check_id("user_id", user_id)
    organization_id = _check_id("organization_id", organization_id)
    secret = await _identity_secret()
    issued_at = int(time.time())
    return {
        "user_id": user_id,
        "organization_id": organization_id,
        "issued_at": issued_at,
        "proof": identity_proof(secret, user_id, organization_id, issued_at),
    }


@asynccontextmanager
async def connect_db_customer(user_id: str, organization_id: str) -> AsyncIterator[AsyncConnection]:
    """A pooled connection limited by Row Level Security to ``organization_id``, acting as ``user_id``.

    The identity holds for the connection's first transaction (the one ``xact_customer`` runs); after that
    transaction ends, by commit or rollback, the connection acts for nobody and sees no customer rows. Open a new
    ``connect_db_customer`` for the next transaction.
    """
    async with checkout("customer", await customer_identity(user_id, organization_id)) as pooled:
        yield pooled.conn
