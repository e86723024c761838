"""Throughput behind a real PgBouncer (transaction mode, the distribution's package): ``xact_customer`` /
``xact_admin`` + one generated ``:one`` query, against raw psycopg through the same PgBouncer (an
AsyncConnectionPool, the same statements; both without server-side prepared statements, which a transaction-mode
pooler cannot keep), with 1 and 8 tasks. Rounds are interleaved as in ``runtime`` (who goes first alternates); the
ratio is the median of the rounds' ratios, the range their lowest and highest (the machine is shared and noisy).
Goal: >= 0.8x raw psycopg's throughput through the same pooler."""

from __future__ import annotations

import asyncio
import statistics
from pathlib import Path
from typing import Any

from bench.common import row
from bench.runtime import REPO, _drive, _fixture, _measure, paired_ratio
from database import config, conn
from database.config import Project
from database.dev import pgbouncer, testdb
from database.xact import xact_admin

TRANSACTIONS = 3_000


async def _prepares_cost(url: str, org: str, tasks: int, total: int, rounds: int) -> tuple[list[float], list[float]]:
    """Directly to the server: ours with server-side prepares off (``DATABASE_POOLER=transaction``) and on."""

    async def one() -> None:
        async with xact_admin() as q:
            assert await q.orm.organization_get(id=org) is not None

    samples: dict[str, list[float]] = {"transaction": [], "none": []}
    for mode in [*samples] * (rounds + 1):  # interleaved; the first round of each warms its pool
        config.configure_pooler(mode)
        conn.configure(url)
        rate = await _drive(one, tasks, total // rounds)
        await conn.dispose()
        samples[mode].append(rate)
    config.configure_pooler(None)
    return samples["transaction"][1:], samples["none"][1:]


def run(total: int = TRANSACTIONS, rounds: int = 5) -> list[dict[str, Any]]:
    if pgbouncer.find_pgbouncer() is None:
        raise RuntimeError("pgbouncer is not installed (apt-get install pgbouncer)")
    url = testdb.create_database(project=Project.load(Path(REPO)))
    bouncer = pgbouncer.start(url, users=("postgres", conn.CUSTOMER_ROLE))
    try:
        org, user = _fixture(url)
        pooled = bouncer.url(testdb.database_name(url))
        rows = []
        for tasks in (1, 8):
            measured = asyncio.run(_measure(pooled, org, user, tasks, total, rounds, {"prepare_threshold": None}))
            for kind, (ours, peer) in measured.items():
                ratio, low, high = paired_ratio(ours, peer)
                rows.append(
                    row(
                        f"{total:,} xact_{kind} + :one query via PgBouncer, {tasks} task{'s' if tasks > 1 else ''}",
                        f"{statistics.median(ours):,.0f} tx/s (ratio {low:.2f}–{high:.2f})",
                        f"{statistics.median(peer):,.0f} tx/s (raw psycopg pool, same PgBouncer)",
                        ratio,
                        ">= 0.8x throughput",
                        ratio >= 0.8,
                        summary=True,
                    )
                )
        off, on = asyncio.run(_prepares_cost(url, org, 8, total, rounds))
        ratio = statistics.median(off) / statistics.median(on)
        rows.append(
            row(
                f"{total:,} xact_admin + :one query, direct, 8 tasks: prepares off (pooler mode) vs on",
                f"{statistics.median(off):,.0f} tx/s (range {min(off):,.0f}–{max(off):,.0f})",
                f"{statistics.median(on):,.0f} tx/s (range {min(on):,.0f}–{max(on):,.0f})",
                ratio,
                "measured, no goal",
                True,
            )
        )
        return rows
    finally:
        conn.configure(None)
        bouncer.stop()
        testdb.drop_database(url)


if __name__ == "__main__":
    from bench.__main__ import print_table

    print_table(run())
