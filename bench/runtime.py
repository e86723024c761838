"""Transactions per second: ``xact_customer`` / ``xact_admin`` + one generated ``:one`` point query, against raw
psycopg (AsyncConnectionPool, the same identity statement, the same prepared query), with 1 and 8 concurrent tasks.
Goal: >= 0.8x raw psycopg's throughput (ratio = ours / peer, higher is better)."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from bench.common import row
from database import conn, orm
from database.dev import testdb
from database.config import Project
from database.xact import xact_admin, xact_customer

REPO = Path(__file__).resolve().parent.parent
TRANSACTIONS = 10_000
POOL = conn.POOL_SIZE


def _fixture(url: str) -> tuple[str, str]:
    with psycopg.connect(url, autocommit=True) as c:
        org = c.execute("INSERT INTO organizations (name) VALUES ('bench') RETURNING id").fetchone()[0]
        user = c.execute("INSERT INTO users (email, name) VALUES ('bench@example.com', 'b') RETURNING id").fetchone()[0]
        c.execute("INSERT INTO memberships (organization_id, user_id) VALUES (%s, %s)", (org, user))
    return org, user


async def _drive(one_transaction, tasks: int, total: int) -> float:
    """Transactions per second with ``tasks`` concurrent workers sharing ``total`` transactions."""
    per_task = total // tasks

    async def worker() -> None:
        for _ in range(per_task):
            await one_transaction()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return per_task * tasks / (time.perf_counter() - start)


async def _measure(url: str, org: str, user: str, tasks: int, total: int, rounds: int,
                   raw_kwargs: dict[str, Any] | None = None) -> dict[str, tuple[list[float], list[float]]]:
    """Per kind (customer, admin): ours and raw psycopg's throughput in each round. ``raw_kwargs`` go to the raw
    side's connections (``prepare_threshold=None`` behind a transaction-mode pooler, as the runtime does there)."""
    conn.configure(url)
    identity = await conn.customer_identity(user, org)

    async def ours_customer() -> None:
        async with xact_customer(user, org) as q:
            assert await q.orm.organization_get(id=org) is not None

    async def ours_admin() -> None:
        async with xact_admin() as q:
            assert await q.orm.organization_get(id=org) is not None

    customer_pool = AsyncConnectionPool(conn.customer_url(), min_size=POOL, max_size=POOL, open=False, kwargs=raw_kwargs)
    admin_pool = AsyncConnectionPool(url, min_size=POOL, max_size=POOL, open=False, kwargs=raw_kwargs)
    await customer_pool.open(wait=True)
    await admin_pool.open(wait=True)

    async def raw_customer() -> None:
        async with customer_pool.connection() as c:
            await c.execute(conn.SET_IDENTITY, identity)
            cur = psycopg.AsyncRawCursor(c)
            await cur.execute(orm.ORGANIZATION_GET, (org,), prepare=True)
            assert await cur.fetchone() is not None

    async def raw_admin() -> None:
        async with admin_pool.connection() as c:
            cur = psycopg.AsyncRawCursor(c)
            await cur.execute(orm.ORGANIZATION_GET, (org,), prepare=True)
            assert await cur.fetchone() is not None

    results: dict[str, list[float]] = {k: [] for k in ("ours_customer", "raw_customer", "ours_admin", "raw_admin")}
    pairs = {"ours_customer": ours_customer, "raw_customer": raw_customer, "ours_admin": ours_admin, "raw_admin": raw_admin}
    for fn in pairs.values():  # warm pools and prepared statements
        await _drive(fn, tasks, tasks * 50)
    for _ in range(rounds):  # interleaved, so drift hits both sides alike
        for name, fn in pairs.items():
            results[name].append(await _drive(fn, tasks, total // rounds))
    await customer_pool.close()
    await admin_pool.close()
    await conn.dispose()
    return {kind: (results[f"ours_{kind}"], results[f"raw_{kind}"]) for kind in ("customer", "admin")}


def run(total: int = TRANSACTIONS, rounds: int = 5) -> list[dict[str, Any]]:
    project = Project.load(REPO)
    url = testdb.create_database(project=project)
    try:
        org, user = _fixture(url)
        rows = []
        for tasks in (1, 8):
            measured = asyncio.run(_measure(url, org, user, tasks, total, rounds))
            for kind, samples in measured.items():
                ours, peer = (statistics.median(s) for s in samples)
                ratio = ours / peer
                rows.append(row(f"{total:,} xact_{kind} + :one query, {tasks} task{'s' if tasks > 1 else ''}",
                                f"{ours:,.0f} tx/s", f"{peer:,.0f} tx/s (raw psycopg pool)", ratio,
                                ">= 0.8x throughput", ratio >= 0.8))
        return rows
    finally:
        conn.configure(None)
        testdb.drop_database(url)


if __name__ == "__main__":
    from bench.__main__ import print_table

    print_table(run())
