"""Named advisory locks: ``async with pg_advisory_lock("name"):`` excludes every other holder of that name, also
between clients of a transaction-mode pooler (PgBouncer).

The key is derived stably from the name (the first 8 bytes of its SHA-256, a signed bigint), so any process, any
language, computes the same key. The holding connection carries the name in ``application_name`` so that
``dbtui locks`` shows names, not just numbers.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote, unquote

import psycopg

from database import config

APPLICATION_NAME_PREFIX = "lock:"


def lock_key(name: str) -> int:
    """The bigint advisory-lock key for ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big", signed=True)


_ASCII_SAFE = "".join(chr(c) for c in range(32, 127) if chr(c) != "%")


def application_name(name: str) -> str:
    """What a holder sets as ``application_name``: Postgres keeps 63 ASCII bytes, so other characters are %-escaped."""
    return (APPLICATION_NAME_PREFIX + quote(name, safe=_ASCII_SAFE))[:63]


def name_from_application_name(value: str | None) -> str | None:
    """The lock name a holder's ``application_name`` carries, or None when it carries none."""
    if not value or not value.startswith(APPLICATION_NAME_PREFIX):
        return None
    return unquote(value[len(APPLICATION_NAME_PREFIX) :])


class LockTimeout(TimeoutError):
    """The lock was not acquired within ``timeout`` seconds."""


@asynccontextmanager
async def pg_advisory_lock(name: str, *, timeout: float | None = None) -> AsyncIterator[None]:
    """Hold the advisory lock ``name`` for the block; wait at most ``timeout`` seconds.

    The lock is transaction-level (``pg_advisory_xact_lock``), taken in a transaction kept open for the whole block
    on a connection of its own (not a pooled one). That holds directly and behind a transaction-mode pooler alike:
    the pooler keeps one server connection for an open transaction, whereas a session-level lock would stay on a
    server connection the pooler hands to someone else, and its unlock could run on another one. Leaving the block
    in any way (normally, by exception or by cancellation) ends the transaction or closes the connection, and the
    server releases the lock, even where no statement could have been sent. The name is set as
    ``application_name`` for the transaction (``SET LOCAL``: a pooler does not pass a client's startup name on).
    """
    if not isinstance(name, str) or not name:
        raise ValueError("lock name must be a non-empty string")
    if timeout is not None and timeout < 0:
        raise ValueError("timeout must be >= 0 seconds")
    # 0 means "wait forever" to Postgres; for timeout=0, "do not wait", 1 ms is the next best thing.
    lock_timeout = "0" if timeout is None else f"{max(int(timeout * 1000), 1)}ms"
    conn = await psycopg.AsyncConnection.connect(
        config.libpq_url(config.database_url()), application_name=application_name(name)
    )
    try:
        await conn.execute(
            "SELECT set_config('application_name', %s, true), set_config('lock_timeout', %s, true)",
            (application_name(name), lock_timeout),
        )
        try:
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(name),))
        except psycopg.errors.LockNotAvailable:
            raise LockTimeout(f"advisory lock {name!r} not acquired within {timeout} s") from None
        yield
        await conn.rollback()  # a clean end: a pooler can hand the server connection on instead of closing it
    finally:
        await conn.close()
