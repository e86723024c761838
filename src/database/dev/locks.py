"""Advisory locks held and awaited, with names: what ``dbtui locks`` and the TUI's Locks tab show.

One cheap catalog query (``pg_locks`` joined to ``pg_stat_activity``) so the TUI can poll it every second. A lock
taken with ``database.lock.pg_advisory_lock(name)`` is shown by name: its connection's ``application_name``
carries it, and the name is trusted only when it hashes to the lock's key.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import psycopg

from database.lock import lock_key, name_from_application_name

_QUERY = """
SELECT l.pid, l.granted, l.classid::bigint, l.objid::bigint, l.objsubid, a.application_name,
       host(a.client_addr) AS client_addr, a.xact_start,
       CASE WHEN NOT l.granted THEN l.waitstart
            WHEN a.state = 'idle' THEN a.state_change
            ELSE a.query_start END AS since,
       CASE WHEN l.granted THEN '{}'::int[] ELSE pg_blocking_pids(l.pid) END AS blocked_by
FROM pg_locks l
LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY l.granted DESC, since, l.pid
"""


@dataclass(frozen=True)
class LockInfo:
    """One advisory lock held (``granted``) or awaited by one backend."""

    name: str | None
    key: int
    pid: int
    granted: bool
    application_name: str
    since: dt.datetime | None
    blocked_by: list[int]
    client_addr: str | None = None  # None: a Unix socket (or a backend we may not see)
    xact_start: dt.datetime | None = None  # when the holder's transaction began; None when idle outside one

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["since"] = self.since.isoformat() if self.since else None
        data["xact_start"] = self.xact_start.isoformat() if self.xact_start else None
        return data


def _key(classid: int, objid: int, objsubid: int) -> int:
    """The bigint key: high 32 bits in classid, low in objid (objsubid 1); two int4 keys (objsubid 2) combine alike."""
    unsigned = (classid << 32) | objid
    return unsigned - (1 << 64) if unsigned >= 1 << 63 else unsigned


def _name(application_name: str | None, key: int) -> str | None:
    name = name_from_application_name(application_name)
    if name is None or lock_key(name) == key:
        return name
    # Postgres keeps 63 bytes of application_name: a long name arrives cut short.
    return name + "…" if len(application_name or "") >= 63 else None


def list_locks(url: str) -> list[LockInfo]:
    """Advisory locks in ``url``'s database: holders first, then waiters in the order they started waiting."""
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        return held_locks(conn)


def held_locks(conn: psycopg.Connection[Any]) -> list[LockInfo]:
    """``list_locks`` on an open connection (the TUI's heartbeat reads the migration status on the same one)."""
    rows = conn.execute(_QUERY).fetchall()
    locks = []
    for pid, granted, classid, objid, objsubid, app, client_addr, xact_start, since, blocked_by in rows:
        key = _key(classid, objid, objsubid)
        locks.append(
            LockInfo(
                _name(app, key), key, pid, granted, app or "", since, list(blocked_by or []), client_addr, xact_start
            )
        )
    return locks
