"""Transactions: ``async with xact_admin() as q`` / ``xact_customer(user_id, organization_id)``.

Begin on enter, commit on a clean exit, roll back on an exception. ``q.orm`` is the generated ``AsyncQuerier``
(one typed method per query in queries.sql) bound to the transaction's connection; ``q.conn`` is that connection,
for SQLAlchemy core dynamic queries in the same transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cached_property
from typing import TYPE_CHECKING

import psycopg
from sqlalchemy.ext.asyncio import AsyncConnection

from database.conn import Pooled, checkout, customer_identity

if TYPE_CHECKING:
    from database.orm import AsyncQuerier


class Q:
    """What a transaction block gets: the ORM and the connection, both in the block's transaction."""

    __slots__ = ("_pooled", "__dict__")

    def __init__(self, pooled: Pooled) -> None:
        self._pooled = pooled

    @property
    def conn(self) -> AsyncConnection:
        """SQLAlchemy core for dynamic queries, in the same transaction as ``orm``."""
        return self._pooled.conn

    @cached_property
    def orm(self) -> AsyncQuerier:
        # Imported on first use, so a broken or missing generated module never blocks q.conn.
        from database.orm import AsyncQuerier

        return AsyncQuerier(self._pooled.driver)


@asynccontextmanager
async def _transaction(pooled: Pooled) -> AsyncIterator[Q]:
    """Run the block in one database transaction; commit on a clean exit, roll back on an exception.

    BEGIN is implicit (psycopg sends it with the first statement) and COMMIT/ROLLBACK go straight to the driver:
    SQLAlchemy's begin/commit would only add greenlet hops, and SQLAlchemy work on ``q.conn`` runs in this same
    database transaction anyway.
    """
    driver = pooled.driver
    try:
        yield Q(pooled)
    except BaseException:
        if not (driver.broken or driver.closed):  # a dead connection is discarded by release()
            with contextlib.suppress(psycopg.Error):  # the block's own error is the one worth seeing
                await pooled.end(commit=False)
        raise
    await pooled.end(commit=True)


@asynccontextmanager
async def xact_admin(*, readonly: bool = False) -> AsyncIterator[Q]:
    """A transaction on an admin connection; ``readonly``: a read-only one, on the replica when one is configured
    (``DATABASE_REPLICA_URL``), else on the primary."""
    async with checkout("admin", readonly=readonly) as pooled, _transaction(pooled) as q:
        yield q


@asynccontextmanager
async def xact_customer(user_id: str, organization_id: str, *, readonly: bool = False) -> AsyncIterator[Q]:
    """A transaction on a customer connection: Row Level Security limits it to the organization's rows.
    ``readonly`` as for ``xact_admin``: same rows, same policies, on the replica when there is one."""
    identity = await customer_identity(user_id, organization_id)
    async with checkout("customer", identity, readonly=readonly) as pooled, _transaction(pooled) as q:
        yield q
