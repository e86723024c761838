"""What the adversarial tests share: SQL run as an attacker on every pooled customer connection, and the check that
an attempt failed for its specific reason."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from sqlalchemy.exc import DBAPIError

from database import conn
from database.xact import Q, xact_customer


async def on_every_pooled_connection(tenant: Any, action: Callable[[Q], Awaitable[Any]]) -> list[Any]:
    """Run ``action`` as ``tenant`` on every connection the customer pool keeps (so the next checkout, whoever makes
    it, gets one of them); the results, one per connection."""

    async def one(ready: asyncio.Barrier) -> Any:
        async with xact_customer(tenant.user_id, tenant.organization_id) as q:
            result = await action(q)
            await ready.wait()  # hold it until all are out, so each runs on its own connection
            return result

    ready = asyncio.Barrier(conn.POOL_SIZE)
    return await asyncio.wait_for(asyncio.gather(*[one(ready) for _ in range(conn.POOL_SIZE)]), 20)


def run(*statements: str) -> Callable[[Q], Awaitable[list[Any]]]:
    """An action running ``statements`` as the attacker would (raw SQL on q.conn), returning each first value."""

    async def action(q: Q) -> list[Any]:
        results = []
        for statement in statements:
            result = await q.conn.exec_driver_sql(statement)
            results.append(result.scalar() if result.returns_rows else None)
        return results

    return action


@contextmanager
def refused(error: type[psycopg.Error]) -> Iterator[None]:
    """The block must fail with exactly this PostgreSQL error class (its SQLSTATE), as SQLAlchemy or psycopg raise it."""
    with pytest.raises((DBAPIError, psycopg.Error)) as info:
        yield
    raised = getattr(info.value, "orig", None) or info.value
    assert isinstance(raised, error), f"expected {error.__name__} ({error.sqlstate}), got {raised!r}"
