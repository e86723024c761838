"""Transactions per second: ``xact_customer`` / ``xact_admin`` + one generated ``:one`` point query, against raw
psycopg (``AsyncConnectionPool`` with the same limits as ours, the same identity statement, the same query, for
customers unprepared and with the same session reset in the COMMIT message: the protections ours runs with,
docs/security.md, so both sides do the same work), with 1,
8 and 64 concurrent tasks, interleaved rounds in one process per task count. Goal: ≥ 0.9x raw psycopg's throughput
(ratio = ours / peer, higher is better). The peak memory of that process (both pools, all tasks) is reported too.

The pool: SQLAlchemy's asyncio queue pool, kept after measuring. ``xact_*`` already run the transaction on the
psycopg connection (the ORM, COMMIT, the customer's session reset piggybacked on it); SQLAlchemy's share is one
check-out and one check-in, a greenlet hop each. The suspected cost at 64 tasks was overflow churn (10 kept + 20
overflow: SQLAlchemy closes an overflow connection when it comes back, psycopg_pool keeps it). An A/B in separate
processes, 8 and 64 tasks, 10 + 20 overflow against 30 kept and no overflow, gave round ratios between 0.56 and 1.08
for both configurations on this loaded machine: no difference above the noise, and the 30-kept configuration once
timed out waiting for a connection at 64 tasks. So nothing changed. Putting psycopg_pool under ``xact_*`` (with
``q.conn`` a SQLAlchemy AsyncConnection built on the borrowed connection only when used) would leave only our own
work per transaction (the identity proof, the Q object); it is not built yet: it needs SQLAlchemy's Connection over a
connection its pool does not own, with dead-connection recovery and reset-on-return redone on psycopg_pool's
``check``/``reset`` hooks, and tests/security, tests/runtime and tests/reliability re-run against it."""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from bench.common import chart, fmt_bytes, growth_rows, peak_rss_self, row
from database import conn, orm
from database.config import Project
from database.dev import testdb
from database.xact import xact_admin, xact_customer

REPO = Path(__file__).resolve().parent.parent
TRANSACTIONS = 4_000
TASKS = (1, 8, 64)
GOAL = 0.9


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


async def _measure(
    url: str, org: str, user: str, tasks: int, total: int, rounds: int, raw_kwargs: dict[str, Any] | None = None
) -> dict[str, tuple[list[float], list[float]]]:
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

    limit = conn.POOL_SIZE + conn.MAX_OVERFLOW  # ours may open this many too
    customer_pool = AsyncConnectionPool(
        conn.customer_url(), min_size=conn.POOL_SIZE, max_size=limit, open=False, kwargs=raw_kwargs
    )
    admin_pool = AsyncConnectionPool(url, min_size=conn.POOL_SIZE, max_size=limit, open=False, kwargs=raw_kwargs)
    await customer_pool.open(wait=True)
    await admin_pool.open(wait=True)

    async def raw_customer() -> None:
        async with customer_pool.connection() as c:
            await c.execute(conn.SET_IDENTITY, identity, prepare=False)
            cur = psycopg.AsyncRawCursor(c)
            await cur.execute(orm.ORGANIZATION_GET, (org,), prepare=False)  # customers never prepare (docs/security.md)
            assert await cur.fetchone() is not None
            await c.execute(f"{conn._RESET_SESSION}; COMMIT")  # the same check-in as ours: session state shed

    async def raw_admin() -> None:
        async with admin_pool.connection() as c:
            cur = psycopg.AsyncRawCursor(c)
            await cur.execute(orm.ORGANIZATION_GET, (org,), prepare=True)
            assert await cur.fetchone() is not None

    results: dict[str, list[float]] = {k: [] for k in ("ours_customer", "raw_customer", "ours_admin", "raw_admin")}
    pairs = {
        "ours_customer": ours_customer,
        "raw_customer": raw_customer,
        "ours_admin": ours_admin,
        "raw_admin": raw_admin,
    }
    for fn in pairs.values():  # warm pools and prepared statements
        await _drive(fn, tasks, tasks * 50)
    for _ in range(rounds):  # interleaved, so drift hits both sides alike
        for name, fn in pairs.items():
            results[name].append(await _drive(fn, tasks, total // rounds))
    await customer_pool.close()
    await admin_pool.close()
    await conn.dispose()
    return {kind: (results[f"ours_{kind}"], results[f"raw_{kind}"]) for kind in ("customer", "admin")}


def _in_child(url: str, org: str, user: str, tasks: int, total: int, rounds: int) -> tuple[dict, int]:
    """One task count in a process of its own: the throughputs and that process's peak RSS (bytes)."""
    measured = asyncio.run(_measure(url, org, user, tasks, total, rounds))
    return measured, peak_rss_self()


def run(total: int = TRANSACTIONS, rounds: int = 3) -> list[dict[str, Any]]:
    project = Project.load(REPO)
    url = testdb.create_database(project=project)
    rows: list[dict[str, Any]] = []
    curve: dict[str, list[tuple[float, float]]] = {
        "customer": [],
        "raw_customer": [],
        "admin": [],
        "raw_admin": [],
        "rss": [],
    }
    try:
        org, user = _fixture(url)
        for tasks in TASKS:
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as child:
                measured, rss = child.submit(_in_child, url, org, user, tasks, total, rounds).result()
            for kind, (ours_rounds, peer_rounds) in measured.items():
                ours, peer = statistics.median(ours_rounds), statistics.median(peer_rounds)
                ratios = [o / p for o, p in zip(ours_rounds, peer_rounds, strict=True)]
                ratio = ours / peer
                curve[kind].append((tasks, ours))
                curve[f"raw_{kind}"].append((tasks, peer))
                rows.append(
                    row(
                        f"{total:,} xact_{kind} + :one query, {tasks} task{'s' if tasks > 1 else ''}",
                        f"{ours:,.0f} tx/s (round ratios {min(ratios):.2f}–{max(ratios):.2f})",
                        f"{peer:,.0f} tx/s (raw psycopg pool)",
                        ratio,
                        f"≥ {GOAL}x throughput",
                        ratio >= GOAL,
                        summary=True,
                    )
                )
            curve["rss"].append((tasks, rss / 1e6))
            rows.append(
                row(
                    f"peak memory, both pools and {tasks} task{'s' if tasks > 1 else ''}",
                    fmt_bytes(rss),
                    "-",
                    None,
                    "(reported)",
                    True,
                    summary=tasks == TASKS[-1],
                )
            )
    finally:
        testdb.drop_database(url)
    rows.append(growth_rows("peak memory of the runtime", "tasks", curve["rss"]))
    chart(
        "runtime",
        "Transactions per second (higher is better)",
        "concurrent tasks",
        "tx/s",
        {
            "xact_customer": curve["customer"],
            "raw psycopg (customer)": curve["raw_customer"],
            "xact_admin": curve["admin"],
            "raw psycopg (admin)": curve["raw_admin"],
        },
    )
    return rows


if __name__ == "__main__":
    from bench.__main__ import print_table

    print_table(run())
