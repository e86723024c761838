"""The TUI over TLS with the password from PGPASSFILE (tests/conftest.py ``tls_server``): it connects, and its
header names the server, not the certificate paths (tests/runtime/test_tls.py: nor a password in the URL)."""

from __future__ import annotations

from pathlib import Path

from .conftest import SIZE, make_app, wait_for


async def test_the_tui_connects_over_tls_and_its_header_shows_no_secret(tui_project: Path, tls_server, monkeypatch):
    monkeypatch.setenv("PGPASSFILE", str(tls_server.passfile))
    url = tls_server.url(sslmode="verify-full", sslrootcert=str(tls_server.root_cert))
    app = make_app(tui_project, url)  # the password comes from PGPASSFILE, as libpq does it
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.database_ok, what="database over TLS")
        assert app.sub_title.startswith(f"app @ localhost:{tls_server.port}")
        assert "server.crt" not in app.sub_title
