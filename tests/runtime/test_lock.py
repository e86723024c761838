import asyncio

import pytest

from database.dev.locks import list_locks
from database.lock import LockTimeout, lock_key, pg_advisory_lock


def test_lock_key_is_stable_and_signed_64_bit():
    assert lock_key("reports") == lock_key("reports")
    assert lock_key("reports") != lock_key("report")
    assert lock_key("x") == 3274422879871479876  # fixed forever: other processes and languages compute the same
    assert -(2**63) <= lock_key("anything") < 2**63


async def test_second_holder_is_excluded_across_connections(database_url):
    order = []

    async def worker(tag: str, hold: float):
        async with pg_advisory_lock("test:exclusive"):
            order.append(f"{tag}+")
            await asyncio.sleep(hold)
            order.append(f"{tag}-")

    first = asyncio.create_task(worker("a", 0.3))
    await asyncio.sleep(0.1)
    await asyncio.gather(first, worker("b", 0))
    assert order == ["a+", "a-", "b+", "b-"]


async def test_timeout_raises_and_the_lock_stays_with_its_holder(database_url):
    async with pg_advisory_lock("test:timeout"):
        with pytest.raises(LockTimeout, match="test:timeout"):
            async with pg_advisory_lock("test:timeout", timeout=0.2):
                pass
        holders = [lock for lock in list_locks(database_url) if lock.name == "test:timeout"]
        assert [(h.granted, h.key) for h in holders] == [(True, lock_key("test:timeout"))]


async def test_released_on_exception_and_on_cancel(database_url):
    with pytest.raises(ZeroDivisionError):
        async with pg_advisory_lock("test:release"):
            raise ZeroDivisionError
    async with pg_advisory_lock("test:release", timeout=1):
        pass

    async def hold_forever():
        async with pg_advisory_lock("test:release"):
            await asyncio.sleep(3600)

    task = asyncio.create_task(hold_forever())
    await asyncio.sleep(0.2)
    assert any(lock.name == "test:release" and lock.granted for lock in list_locks(database_url))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with pg_advisory_lock("test:release", timeout=1):
        pass


async def test_waiter_shows_who_blocks_it_and_cancelling_the_wait_frees_it(database_url):
    async with pg_advisory_lock("test:waiters"):
        waiter = asyncio.create_task(pg_advisory_lock("test:waiters").__aenter__())
        await asyncio.sleep(0.3)
        locks = [lock for lock in list_locks(database_url) if lock.name == "test:waiters"]
        held = [lock for lock in locks if lock.granted]
        waiting = [lock for lock in locks if not lock.granted]
        assert len(held) == 1 and len(waiting) == 1
        assert waiting[0].blocked_by == [held[0].pid]
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await asyncio.sleep(0.1)
        assert [lock.granted for lock in list_locks(database_url) if lock.name == "test:waiters"] == [True]


@pytest.mark.parametrize("name", ["'; DROP TABLE organizations; --", 'x" OR 1=1', "ünïcødé 🔒"])
async def test_odd_names_are_inert(database_url, name):
    async with pg_advisory_lock(name, timeout=1):
        assert [lock.name for lock in list_locks(database_url)].count(name) == 1


async def test_long_names_are_shown_cut_short_not_wrong(database_url):
    name = "nightly-report:" + "x" * 100
    async with pg_advisory_lock(name, timeout=1):
        [shown] = [lock.name for lock in list_locks(database_url) if lock.name and lock.name.startswith("nightly")]
    assert shown.endswith("…") and name.startswith(shown[:-1])
