"""Named advisory locks: ``async with pg_advisory_lock("name"):`` excludes every other holder of that name.

The key is derived stably from the name (the first 8 bytes of its SHA-256, a signed bigint), so any process, any
language, computes the same key. The holding connection carries the name in ``application_name`` so that
``dbtui locks`` shows names, not just numbers.
"""

from __future__ import annotations

import hashlib

APPLICATION_NAME_PREFIX = "lock:"


def lock_key(name: str) -> int:
    """The bigint advisory-lock key for ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big", signed=True)


def application_name(name: str) -> str:
    """What a holder sets as ``application_name`` (Postgres keeps 63 bytes of it)."""
    return (APPLICATION_NAME_PREFIX + name).encode("utf-8")[:63].decode("utf-8", "ignore")
