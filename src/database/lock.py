"""Named advisory locks: ``async with pg_advisory_lock("name"):`` excludes every other holder of that name.

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
    return unquote(value[len(APPLICATION_NAME_PREFIX):])


class LockTimeout(TimeoutError):
    """The lock was not acquired within ``timeout`` seconds."""


@asynccontextmanager
async def pg_advisory_lock(name: str, *, timeout: float | None = None) -> AsyncIterator[None]:
    """Hold the session-level advisory lock ``name`` for the block; wait at most ``timeout`` seconds.

    The lock lives on a dedicated connection (not a pooled one), so it is held for exactly as long as the block:
    leaving the block in any way (normally, by exception or by cancellation) closes that connection and the server
    releases the lock, even where an unlock statement could not have been sent.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("lock name must be a non-empty string")
    if timeout is not None and timeout < 0:
        raise ValueError("timeout must be >= 0 seconds")
    options = f"-c lock_timeout={int(timeout * 1000) if timeout else 0}"
    if timeout == 0:
        options = "-c lock_timeout=1"  # 0 means "wait forever" to Postgres; "do not wait" is the next best thing
    url = config.database_url()
    conn = await psycopg.AsyncConnection.connect(
        url.replace("postgresql+psycopg://", "postgresql://", 1),
        autocommit=True,
        application_name=application_name(name),
        options=options,
    )
    try:
        try:
            await conn.execute("SELECT pg_advisory_lock(%s)", (lock_key(name),))
        except psycopg.errors.LockNotAvailable:
            raise LockTimeout(f"advisory lock {name!r} not acquired within {timeout} s") from None
        yield
    finally:
        await conn.close()
