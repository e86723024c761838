"""The runtime's own pool (database.conn._Pool): a dead connection is replaced before it is handed out, the limit
holds under more tasks than connections, a waiter gives up after POOL_TIMEOUT, and giving up loses no connection.

Straight to the server (``session_database``): what is tested is the client's pool, and killing backends or
counting them needs the server's own view. Every await on the database is bounded: a hang is a failure.
"""

import asyncio
import os

import psycopg
import pytest

from database import conn
from database.xact import xact_admin, xact_customer

BOUND = 20  # seconds; everything below normally takes milliseconds
LIMIT = conn.POOL_SIZE + conn.MAX_OVERFLOW


async def _pid(release: asyncio.Event | None = None, ready: asyncio.Barrier | None = None) -> int:
    """The backend of one ``xact_admin``; with ``ready``/``release``, held open until all are out / told to end."""
    async with xact_admin() as q:
        pid = (await q.conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar_one()
        if ready is not None:
            await ready.wait()
        if release is not None:
            await release.wait()
        return int(pid)


async def _hold(n: int) -> set[int]:
    """``n`` admin transactions at once, so the pool has ``n`` connections open; their backends."""
    ready = asyncio.Barrier(n)
    return set(await asyncio.wait_for(asyncio.gather(*[_pid(ready=ready) for _ in range(n)]), BOUND))


def _member(url: str) -> tuple[str, str]:
    with psycopg.connect(url, autocommit=True) as c:
        (org,) = c.execute("INSERT INTO organizations (name) VALUES ('pool test') RETURNING id").fetchone()
        (user,) = c.execute(
            "INSERT INTO users (email, name) VALUES (%s, 'pool test') RETURNING id", (f"{org}@test.invalid",)
        ).fetchone()
        c.execute("INSERT INTO memberships (organization_id, user_id) VALUES (%s, %s)", (org, user))
    return user, org


async def _terminate(url: str, pids: set[int]) -> None:
    """Kill those backends and wait until each has exited (PostgreSQL 14+: the timeout argument waits)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as c:
        for pid in pids:
            await c.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))


async def test_killed_idle_admin_connections_are_replaced_not_handed_out(session_database):
    killed = await _hold(conn.POOL_SIZE)
    await _terminate(session_database, killed)
    # Before: the first checkouts got the dead connections and failed with "terminating connection".
    for _ in range(conn.POOL_SIZE):
        assert await asyncio.wait_for(_pid(), BOUND) not in killed


async def test_killed_idle_customer_connections_are_replaced_not_handed_out(session_database):
    user, org = _member(session_database)

    async def visible(ready: asyncio.Barrier | None = None) -> tuple[int, int]:
        async with xact_customer(user, org) as q:
            pid = (await q.conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar_one()
            count = (await q.conn.exec_driver_sql("SELECT count(*) FROM organizations")).scalar_one()
            if ready is not None:
                await ready.wait()
            return int(pid), int(count)

    ready = asyncio.Barrier(conn.POOL_SIZE)
    held = await asyncio.wait_for(asyncio.gather(*[visible(ready) for _ in range(conn.POOL_SIZE)]), BOUND)
    killed = {pid for pid, _ in held}
    await _terminate(session_database, killed)
    for _ in range(conn.POOL_SIZE):
        pid, count = await asyncio.wait_for(visible(), BOUND)
        assert pid not in killed
        assert count == 1  # a new connection: the identity and RLS apply as before


async def test_more_tasks_than_connections_share_at_most_the_limit_and_keep_them_for_the_next_burst(
    session_database,
):
    first = set(await asyncio.wait_for(asyncio.gather(*[_pid() for _ in range(3 * LIMIT)]), BOUND))
    assert len(first) <= LIMIT
    # The overflow connections stay open for OVERFLOW_IDLE seconds: the next burst opens none.
    second = set(await asyncio.wait_for(asyncio.gather(*[_pid() for _ in range(3 * LIMIT)]), BOUND))
    assert second <= first


async def test_overflow_connections_idle_too_long_are_closed(session_database, monkeypatch):
    monkeypatch.setattr(conn, "OVERFLOW_IDLE", 0.0)
    await asyncio.wait_for(asyncio.gather(*[_pid() for _ in range(3 * LIMIT)]), BOUND)
    for _ in range(LIMIT):  # each connection back finds the one idle longest beyond POOL_SIZE too old: closed
        await _pid()
    # POOL_SIZE stay open (a closed
    # connection's backend leaves pg_stat_activity a moment after the client closed it: look until it has).
    async with await psycopg.AsyncConnection.connect(session_database, autocommit=True) as c:
        for _ in range(BOUND * 10):
            cur = await c.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'database.admin'"
                " AND datname = current_database()"
            )
            (open_now,) = await cur.fetchone()
            if open_now <= conn.POOL_SIZE:
                break
            await asyncio.sleep(0.1)
        assert open_now == conn.POOL_SIZE


async def test_a_waiter_gives_up_after_the_pool_timeout_and_loses_no_connection(session_database, monkeypatch):
    monkeypatch.setattr(conn, "POOL_TIMEOUT", 0.2)
    release = asyncio.Event()
    ready = asyncio.Barrier(LIMIT + 1)
    holders = [asyncio.create_task(_pid(release=release, ready=ready)) for _ in range(LIMIT)]
    await asyncio.wait_for(ready.wait(), BOUND)  # every connection the pool may open is in use

    with pytest.raises(conn.PoolTimeout, match=f"all {LIMIT} are in use"):
        await asyncio.wait_for(_pid(), BOUND)
    cancelled = asyncio.create_task(_pid())
    await asyncio.sleep(0.05)  # it waits for a connection now
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled

    release.set()
    await asyncio.wait_for(asyncio.gather(*holders), BOUND)
    # Neither the timed-out nor the cancelled waiter kept a place: all LIMIT connections can be out at once again
    # (a lost one would make the last of these wait and time out).
    await _hold(LIMIT)


async def test_requests_cancelled_while_committing_lose_no_connection(session_database, monkeypatch):
    """A web framework cancels a request whose client went away, at any await: also in the middle of the COMMIT."""
    await conn.dispose()  # a small pool of this test's own
    monkeypatch.setattr(conn, "POOL_SIZE", 2)
    monkeypatch.setattr(conn, "MAX_OVERFLOW", 0)
    monkeypatch.setattr(conn, "POOL_TIMEOUT", 2.0)
    committing = asyncio.Event()

    async def slow_commit() -> None:
        async with xact_admin() as q:
            # A deferred constraint trigger runs at COMMIT: this COMMIT takes 0.3 s.
            for statement in (
                "CREATE TEMP TABLE slow_commit (x int) ON COMMIT DROP",
                "CREATE FUNCTION pg_temp.slow() RETURNS trigger LANGUAGE plpgsql"
                " AS $$ BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END $$",
                "CREATE CONSTRAINT TRIGGER slow AFTER INSERT ON slow_commit DEFERRABLE INITIALLY DEFERRED"
                " FOR EACH ROW EXECUTE FUNCTION pg_temp.slow()",
                "INSERT INTO slow_commit VALUES (1)",
            ):
                await q.conn.exec_driver_sql(statement)
            committing.set()

    for _ in range(3):
        committing.clear()
        request = asyncio.create_task(slow_commit())
        await asyncio.wait_for(committing.wait(), BOUND)
        await asyncio.sleep(0.1)  # the COMMIT is on the server now
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(request, BOUND)
    # Both connections can be out at once (each cancelled request gave its place back), and they work.
    assert len(await _hold(2)) == 2
    await conn.dispose()


async def test_the_idle_check_works_for_file_descriptors_above_1024(session_database):
    """A busy server process has many sockets and files open; select() refuses descriptors past FD_SETSIZE."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    filler = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        await conn.dispose()  # the next connection opens now, above the filler
        first = await _pid()
        assert await _pid() == first  # the idle connection passed the check and was handed out again
    finally:
        for fd in filler:
            os.close(fd)
        await conn.dispose()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
