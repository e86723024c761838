"""Tooling that needs a whole server session refuses a transaction-mode pooler, before it changes anything.

Migrations hold a session-level lock and run DDL over several statements; codegen prepares and describes
statements and runs pg_dump; the TUI keeps a connection. Behind PgBouncer in transaction mode each transaction may
land on another server connection, so they would half work. A pooler is recognised without any setting: it hands
the client its own cancel key, so the process id the client was told at login is not ``pg_backend_pid()``.
"""

from __future__ import annotations

import psycopg

from database import config
from database.errors import ConfigError

DIRECT_SETTING = "DATABASE_DIRECT_URL (or direct_database_url in [tool.dbtui])"


def behind_pooler(url: str) -> bool:
    """True when ``url`` reaches PostgreSQL through a pooler or proxy (the runtime makes the same check per
    connection in ``database.conn``)."""
    with psycopg.connect(config.libpq_url(url), autocommit=True, connect_timeout=10) as conn:
        backend_pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        return backend_pid != conn.info.backend_pid


def require_session(url: str, what: str, *, mode: str = "auto", unreachable_ok: bool = False) -> None:
    """Raise a one-line ConfigError (exit 2) when ``url`` goes through a transaction-mode pooler.

    ``mode`` is the pooler setting that applies to ``url`` (``config.pooler_mode()`` for the runtime's URL): ``none``
    and ``session`` are believed, ``transaction`` refuses without connecting, ``auto`` asks the server.
    ``unreachable_ok``: a server that does not answer is not refused here (the TUI shows it as down and retries).
    """
    if mode in ("none", "session"):
        return
    if mode == "auto":
        try:
            if not behind_pooler(url):
                return
        except psycopg.OperationalError:
            if unreachable_ok:
                return
            raise
        why = (
            "goes through a connection pooler (its cancel key is not the server's; DATABASE_POOLER=session if "
            "it pools by session)"
        )
    else:
        why = "goes through a transaction-mode pooler (DATABASE_POOLER=transaction)"
    raise ConfigError(
        f"{what} needs a direct connection to PostgreSQL, but {config.redact(url)} {why}; "
        f"set {DIRECT_SETTING} to the server itself"
    )
