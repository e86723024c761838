"""A real PgBouncer in front of a local server, for the tests and benchmarks that must run behind a pooler.

PgBouncer comes from the distribution's package (``apt-get install pgbouncer``; ``.ci/run`` installs it). Like
PostgreSQL it refuses to run as root, so as root it runs as the account the embedded server runs as. Each instance
gets a private folder (config, auth file, log) and a free TCP port on 127.0.0.1, and reaches the server over its
Unix socket. Authentication towards clients is ``trust`` (the embedded server trusts its socket too); the password
path is tested against a server of its own (tests/runtime/test_tls.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from database.dev import server
from database.errors import ServerError

START_TIMEOUT = 15.0


def find_pgbouncer() -> str | None:
    """The ``pgbouncer`` program: on PATH or where Debian installs it; None when it is not installed."""
    return shutil.which("pgbouncer") or next((p for p in ("/usr/sbin/pgbouncer",) if os.access(p, os.X_OK)), None)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class PgBouncer:
    """A running PgBouncer: ``url(dbname)`` reaches ``dbname`` on the server through it."""

    process: subprocess.Popen[bytes]
    port: int
    directory: Path
    pool_mode: str

    def url(self, dbname: str, user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def stop(self) -> None:
        """Stop this PgBouncer (its own process only) and remove its folder."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)


def start(
    server_url: str, *, pool_mode: str = "transaction", users: tuple[str, ...] = ("postgres",), pool_size: int = 20
) -> PgBouncer:
    """Start PgBouncer in ``pool_mode`` in front of the server of ``server_url`` (any database on it).

    ``users`` are the roles it lets in (trust still needs them listed in its auth file).
    """
    program = find_pgbouncer()
    if program is None:
        raise ServerError("pgbouncer is not installed (apt-get install pgbouncer)")
    target = conninfo_to_dict(server_url)
    account = server.server_account()
    directory = Path(tempfile.mkdtemp(prefix="dbtui-pgbouncer-"))
    port = free_port()
    (directory / "users.txt").write_text("".join(f'"{user}" ""\n' for user in users))
    (directory / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={target.get('host', '/tmp')} port={target.get('port', server.PORT)}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {directory / 'users.txt'}\n"
        f"pool_mode = {pool_mode}\ndefault_pool_size = {pool_size}\nmax_client_conn = 1000\n"
        # as many deployments do, so clients that send them connect (a setting in ``options`` is then dropped)
        "ignore_startup_parameters = extra_float_digits,options\n"
        # idle server connections go soon: one left in a database would block cloning it (CREATE DATABASE TEMPLATE)
        "server_idle_timeout = 5\n"
        f"logfile = {directory / 'pgbouncer.log'}\nadmin_users = postgres\n"
    )
    for path in (directory, *directory.iterdir()):
        if not account.is_current:
            os.chown(path, account.uid, account.gid)
    kwargs: dict = {} if account.is_current else {"user": account.uid, "group": account.gid, "extra_groups": []}
    process = subprocess.Popen(
        [program, str(directory / "pgbouncer.ini")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=directory,
        **kwargs,
    )
    bouncer = PgBouncer(process, port, directory, pool_mode)
    deadline = time.monotonic() + START_TIMEOUT
    while process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return bouncer
        time.sleep(0.05)
    log = ""
    with contextlib.suppress(OSError):
        log = (directory / "pgbouncer.log").read_text(errors="replace").strip().splitlines()[-1]
    bouncer.stop()
    raise ServerError(f"pgbouncer did not start: {log or f'exit {process.returncode}'}")
