"""Transactions: ``async with xact_admin() as q`` / ``xact_customer(user_id, organization_id)``.

Begin on enter, commit on a clean exit, roll back on an exception. ``q.orm`` is the generated ``AsyncQuerier``
(one typed method per query in queries.sql) bound to the transaction's connection; ``q.conn`` is that connection,
for SQLAlchemy core dynamic queries in the same transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cached_property
from typing import TYPE_CHECKING

import psycopg
from sqlalchemy.ext.asyncio import AsyncConnection

from database.conn import connect_db_admin, connect_db_customer, driver_connection

if TYPE_CHECKING:
    from database.orm import AsyncQuerier


class Q:
    """What a transaction block gets: the connection and the ORM bound to it."""

    __slots__ = ("conn", "_driver", "__dict__")

    def __init__(self, conn: AsyncConnection, driver: psycopg.AsyncConnection) -> None:
        self.conn = conn
        self._driver = driver

    @cached_property
    def orm(self) -> "AsyncQuerier":
        # Imported on first use, so a broken or missing generated module never blocks q.conn.
        from database.orm import AsyncQuerier

        return AsyncQuerier(self._driver)


@asynccontextmanager
async def _transaction(conn: AsyncConnection) -> AsyncIterator[Q]:
    """Run the block in the connection's current (auto-begun) or a new transaction; commit or roll back."""
    if not conn.in_transaction():
        await conn.begin()
    try:
        yield Q(conn, await driver_connection(conn))
    except BaseException:
        await conn.rollback()
        raise
    await conn.commit()


@asynccontextmanager
async def xact_admin() -> AsyncIterator[Q]:
    """A transaction on an admin connection."""
    async with connect_db_admin() as conn, _transaction(conn) as q:
        yield q


@asynccontextmanager
async def xact_customer(user_id: str, organization_id: str) -> AsyncIterator[Q]:
    """A transaction on a customer connection: Row Level Security limits it to the organization's rows."""
    async with connect_db_customer(user_id, organization_id) as conn, _transaction(conn) as q:
        yield q
