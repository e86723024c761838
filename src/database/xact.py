"""Transactions: ``async with xact_admin() as q`` / ``xact_customer(user_id, organization_id)``.

Begin on enter, commit on a clean exit, roll back on an exception. ``q.orm`` is the generated ``AsyncQuerier``
(one typed method per query in queries.sql) bound to the transaction's connection; ``q.conn`` is that connection,
for SQLAlchemy core dynamic queries in the same transaction.
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import TYPE_CHECKING

import psycopg
from sqlalchemy.ext.asyncio import AsyncConnection

from database.conn import Pooled, acquire, customer_identity

if TYPE_CHECKING:
    from database.orm import AsyncQuerier


class Q:
    """What a transaction block gets: the ORM and the connection, both in the block's transaction."""

    __slots__ = ("_pooled", "_orm")

    def __init__(self, pooled: Pooled) -> None:
        self._pooled = pooled
        self._orm: AsyncQuerier | None = None

    @property
    def conn(self) -> AsyncConnection:
        """SQLAlchemy core for dynamic queries, in the same transaction as ``orm``."""
        return self._pooled.conn

    @property
    def orm(self) -> AsyncQuerier:
        """The generated queries, on the transaction's connection."""
        if self._orm is None:
            self._orm = _querier()(self._pooled.driver)
        return self._orm


_AsyncQuerier: type[AsyncQuerier] | None = None


def _querier() -> type[AsyncQuerier]:
    """The generated ``AsyncQuerier``, imported on first use, so a broken or missing generated module never blocks
    ``q.conn``; kept, since an import statement costs about 1 µs per transaction even when the module is loaded."""
    global _AsyncQuerier
    if _AsyncQuerier is None:
        from database.orm import AsyncQuerier

        _AsyncQuerier = AsyncQuerier
    return _AsyncQuerier


class _Transaction:
    """One ``async with``: a pooled connection and one database transaction on it; commit on a clean exit, roll back
    on an exception, the connection back to its pool either way.

    BEGIN is implicit (psycopg sends it with the first statement) and COMMIT/ROLLBACK go straight to the driver:
    SQLAlchemy's begin/commit would only add greenlet hops, and SQLAlchemy work on ``q.conn`` runs in this same
    database transaction anyway. A class rather than ``@asynccontextmanager`` generators: three nested ones cost
    more client CPU per transaction than the pool does (docs/production.md).
    """

    __slots__ = ("_kind", "_ids", "_readonly", "_pooled")

    def __init__(self, kind: str, ids: tuple[str, str] | None, readonly: bool) -> None:
        self._kind = kind
        self._ids = ids
        self._readonly = readonly

    async def __aenter__(self) -> Q:
        identity = None if self._ids is None else await customer_identity(*self._ids)
        self._pooled = await acquire(self._kind, identity, readonly=self._readonly)
        return Q(self._pooled)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        pooled = self._pooled
        try:
            if exc_type is None:
                await pooled.end(commit=True)
            elif not (pooled.driver.broken or pooled.driver.closed):  # a dead connection is discarded by release()
                with contextlib.suppress(psycopg.Error):  # the block's own error is the one worth seeing
                    await pooled.end(commit=False)
        finally:
            await pooled.release()


def xact_admin(*, readonly: bool = False) -> contextlib.AbstractAsyncContextManager[Q]:
    """A transaction on an admin connection; ``readonly``: a read-only one, on the replica when one is configured
    (``DATABASE_REPLICA_URL``), else on the primary."""
    return _Transaction("admin", None, readonly)


def xact_customer(
    user_id: str, organization_id: str, *, readonly: bool = False
) -> contextlib.AbstractAsyncContextManager[Q]:
    """A transaction on a customer connection: Row Level Security limits it to the organization's rows.
    ``readonly`` as for ``xact_admin``: same rows, same policies, on the replica when there is one."""
    return _Transaction("customer", (user_id, organization_id), readonly)
