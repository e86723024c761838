"""TLS and passwords as libpq does them, for the runtime and the CLI: ``sslmode``/``sslrootcert`` in the URL,
``PGSSLMODE``/``PGSSLROOTCERT`` and ``PGPASSFILE`` in the environment, against a real server with a self-signed
certificate that takes only TLS and scram-sha-256 (tests/conftest.py ``tls_server``). Secrets never show."""

import psycopg
import pytest
from certificates import self_signed
from sqlalchemy import text

from database import config, conn
from database.lock import pg_advisory_lock
from database.xact import xact_admin
from dbtui.app import database_label
from dbtui.cli import main

TLS_STATE = "SELECT s.ssl, s.version IS NOT NULL, current_user FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()"


@pytest.fixture
async def runtime_on(monkeypatch, tls_server):
    """Point the runtime at a URL for the test; the session's configuration after."""
    previous = config._configured_url
    monkeypatch.setenv("PGPASSFILE", str(tls_server.passfile))

    async def use(url: str) -> None:
        await conn.dispose()
        conn.configure(url)

    yield use
    await conn.dispose()
    conn.configure(previous)


async def test_runtime_verifies_the_certificate_and_takes_the_password_from_pgpassfile(runtime_on, tls_server):
    await runtime_on(tls_server.url(sslmode="verify-full", sslrootcert=str(tls_server.root_cert)))
    async with xact_admin() as q:
        assert tuple((await q.conn.execute(text(TLS_STATE))).one()) == (True, True, "app")
    async with pg_advisory_lock("tls:lock", timeout=5):  # the lock's own connection takes the same URL
        pass


async def test_runtime_honours_pgsslmode_and_pgsslrootcert(runtime_on, tls_server, monkeypatch):
    monkeypatch.setenv("PGSSLMODE", "verify-full")
    monkeypatch.setenv("PGSSLROOTCERT", str(tls_server.root_cert))
    await runtime_on(tls_server.url())
    async with xact_admin() as q:
        assert (await q.conn.execute(text(TLS_STATE))).one()[0] is True
    monkeypatch.setenv("PGSSLMODE", "disable")  # the server takes no plain TCP: refused, so the variable is read
    await runtime_on(tls_server.url())
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        async with xact_admin():
            pass


async def test_a_certificate_that_does_not_verify_is_refused(runtime_on, tls_server, tmp_path):
    other = tmp_path / "other.crt"  # a root that did not sign the server's certificate
    self_signed(tmp_path / "other.key", other)
    await runtime_on(tls_server.url(sslmode="verify-full", sslrootcert=str(other)))
    with pytest.raises(psycopg.OperationalError, match="certificate"):
        async with xact_admin():
            pass


def test_cli_migrates_over_tls_with_pgpassfile(tls_server, tmp_path, monkeypatch, capsys):
    (tmp_path / "pyproject.toml").write_text("[tool.dbtui]\n")
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001_tls.sql").write_text("CREATE TABLE over_tls (id BIGINT PRIMARY KEY);\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(config, "_configured_url", None)
    monkeypatch.setenv("PGPASSFILE", str(tls_server.passfile))
    monkeypatch.setenv("PGSSLMODE", "verify-full")
    monkeypatch.setenv("PGSSLROOTCERT", str(tls_server.root_cert))
    monkeypatch.setenv("DATABASE_URL", tls_server.url())
    assert main(["migrate"]) == 0
    assert "applied 1 migration(s)" in capsys.readouterr().out
    assert main(["status", "--json"]) == 0
    assert '"applied": true' in capsys.readouterr().out


def test_a_wrong_password_is_one_line_without_it(tls_server, tmp_path, monkeypatch, capsys):
    (tmp_path / "pyproject.toml").write_text("[tool.dbtui]\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(config, "_configured_url", None)
    url = tls_server.url(sslmode="require").replace("app@", "app:wrong-hunter2@")
    assert main(["--database-url", url, "locks"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "password authentication failed" in err and "hunter2" not in err


def test_the_tui_header_names_the_server_not_the_secrets(tls_server):
    url = tls_server.url(sslmode="verify-full", sslrootcert=str(tls_server.root_cert), password=tls_server.password)
    url = url.replace("app@", f"app:{tls_server.password}@")
    assert database_label(url) == f"app @ localhost:{tls_server.port}"
