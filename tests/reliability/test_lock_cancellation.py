"""pg_advisory_lock under cancellation and process death: the lock is never left behind.

tests/runtime/test_lock.py covers a clean cancel while holding and while waiting; here the cancel lands at random
points of acquisition (connecting, sending the lock call, just acquired), and the holding process is killed -9.
"""

import asyncio
import os
import random
import signal
import subprocess
import sys

import pytest

from database.dev.locks import list_locks
from database.lock import pg_advisory_lock

pytestmark = pytest.mark.timeout(60)


def _holders(url: str, name: str) -> list:
    return [lock for lock in list_locks(url) if lock.name == name]


async def test_cancel_at_any_point_of_acquisition_never_leaks_the_lock(database_url):
    name = "fault:cancel-anywhere"
    rng = random.Random(8)

    async def hold():
        async with pg_advisory_lock(name):
            await asyncio.sleep(60)

    for _ in range(25):
        task = asyncio.create_task(hold())
        await asyncio.sleep(rng.uniform(0, 0.015))  # connecting takes a few ms: cancel before, during and after
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        # Free at once for the next holder, and no backend is left holding or waiting.
        async with pg_advisory_lock(name, timeout=2):
            assert [lock.granted for lock in _holders(database_url, name)] == [True]
    assert _holders(database_url, name) == []


async def test_cancelling_half_a_crowd_keeps_exclusion_and_lets_the_rest_through(database_url):
    name = "fault:crowd"
    inside, most_inside = 0, 0

    async def contender():
        nonlocal inside, most_inside
        async with pg_advisory_lock(name):
            inside += 1
            most_inside = max(most_inside, inside)
            try:
                await asyncio.sleep(0.02)
            finally:
                inside -= 1

    tasks = [asyncio.create_task(contender()) for _ in range(10)]
    await asyncio.sleep(0.05)
    for task in tasks[1::2]:  # some are waiting, one may be holding: both must let go
        task.cancel()
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 20)
    assert results[0::2] == [None] * 5  # every contender not cancelled got its turn
    assert most_inside == 1
    assert _holders(database_url, name) == []


def test_kill_9_of_the_holding_process_releases_the_lock(database_url):
    name = "fault:kill-9"
    code = (
        "import asyncio, sys\n"
        "from database.lock import pg_advisory_lock\n"
        "async def main():\n"
        f"    async with pg_advisory_lock({name!r}):\n"
        "        print('held', flush=True)\n"
        "        await asyncio.sleep(3600)\n"
        "asyncio.run(main())\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "DATABASE_URL": database_url},
    )
    try:
        assert child.stdout.readline().strip() == "held"
        assert [lock.granted for lock in _holders(database_url, name)] == [True]
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()

    async def take() -> None:
        async with pg_advisory_lock(name, timeout=5):  # the server notices the closed socket and releases it
            pass

    asyncio.run(take())
    assert _holders(database_url, name) == []
