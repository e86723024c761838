"""A password in the database URL never reaches output: CLI errors, runtime exceptions, logs, the TUI header.

URLs that reach a server (and fail there) are covered for every command. URLs that libpq cannot even parse matter
most: libpq quotes the whole connection string in its parse error, so every error the CLI and the TUI print is
scrubbed (database.config.scrub).
"""

import contextlib
import logging
from pathlib import Path
from urllib.parse import unquote

import pytest

from database import config, conn
from database.lock import pg_advisory_lock
from database.xact import xact_admin, xact_customer
from dbtui.app import DbtuiApp
from dbtui.cli import main
from dbtui.context import Context

REPO = Path(__file__).resolve().parents[2]
SECRET = "s3cret-pa55"
REACHABLE_SHAPE = [  # parse fine, fail on connect or on an option
    f"postgresql://u:{SECRET}@127.0.0.1:1/db",
    f"postgresql://u:{SECRET}@127.0.0.1:notaport/db",
    f"postgresql://u:{SECRET}@127.0.0.1:1/db?sslmode=bogus",
]
UNPARSABLE = [f"mysql://u:{SECRET}@h/db", f"postgresql://u:{SECRET}@[::1/db"]
# Malformed in the password or around it: a parser's error quotes the token it stopped at, and libpq splits at the
# first '@', so the rest of a password holding an unescaped '@' becomes "the host" in every error about it.
MALFORMED = [
    f"postgresql://u:%zz{SECRET}@127.0.0.1:1/db",  # a bad %-escape
    f"postgresql://u:p@{SECRET}@127.0.0.1:1/db",  # an unescaped '@'
    f"postgresql://u:{SECRET}@[::1/db",  # an unterminated IPv6 host
    f"postgresql://u:{SECRET}@[fe80::1%zz]:1/db",
    f"postgresql://u:{SECRET}@[::1]:99999/db",
    f"postgres://u:{SECRET}%@127.0.0.1:1/db",
]
COMMANDS = [["status"], ["migrate"], ["locks"], ["check"], ["status", "--json"], ["locks", "--json"]]


def _cli(capsys, url: str, command: list[str]) -> str:
    code = main(["--project", str(REPO), "--database-url", url, *command])
    out, err = capsys.readouterr()
    assert code != 0 and "dbtui: error:" in err, (out, err)
    return out + err


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("url", REACHABLE_SHAPE)
def test_cli_errors_never_show_the_password(capsys, url, command):
    assert SECRET not in _cli(capsys, url, command)


@pytest.mark.parametrize("command", [["status"], ["locks"], ["--debug", "status"]], ids=" ".join)
@pytest.mark.parametrize("url", UNPARSABLE + MALFORMED)
def test_cli_errors_for_malformed_urls_never_show_the_password(capsys, url, command):
    assert SECRET not in _cli(capsys, url, command)


@pytest.mark.parametrize("url", MALFORMED)
def test_scrub_masks_what_any_parser_would_quote_of_a_password(url):
    """Every URL the project takes is checked (config.check_url) before anything parses it; from then on scrub()
    masks its password however a parser quotes it: the token, the percent-decoded value, the part after an '@'."""
    password = url.split("://", 1)[1].rsplit("@", 1)[0].split(":", 1)[1]
    with contextlib.suppress(config.ConfigError):
        config.check_url(url, "DATABASE_URL")
    quoted = [
        url,
        f'invalid percent-encoded token: "{password}"',
        f"failed to resolve host '{password.split('@')[-1]}@h'",
        f"password {unquote(password)!r}",
    ]
    for text in quoted:
        assert SECRET not in config.scrub(text), text


def test_debug_tracebacks_never_show_the_password(capsys):
    code = main(["--project", str(REPO), "--database-url", REACHABLE_SHAPE[0], "--debug", "status"])
    out, err = capsys.readouterr()
    assert code != 0 and SECRET not in out + err


@pytest.mark.parametrize("url", [REACHABLE_SHAPE[0], *MALFORMED])
async def test_runtime_errors_and_logs_never_show_the_password(caplog, url):
    previous = config._configured_url
    await conn.dispose()
    conn.configure(url)
    caplog.set_level(logging.DEBUG)  # everything SQLAlchemy, psycopg and we log
    for name in ("sqlalchemy.engine", "sqlalchemy.pool"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        with pytest.raises(Exception) as admin_error:
            async with xact_admin():
                pass
        with pytest.raises(Exception) as lock_error:
            async with pg_advisory_lock("secrets", timeout=1):
                pass
        with pytest.raises(Exception) as customer_error:
            async with xact_customer("u", "o"):
                pass
    finally:
        for name in ("sqlalchemy.engine", "sqlalchemy.pool"):
            logging.getLogger(name).setLevel(logging.WARNING)
        await conn.dispose()
        conn.configure(previous)
    for error in (admin_error.value, lock_error.value, customer_error.value):
        assert SECRET not in str(error) and SECRET not in repr(error)
    assert SECRET not in caplog.text


@pytest.mark.parametrize(
    "url",
    [
        REACHABLE_SHAPE[0],
        REACHABLE_SHAPE[1],
        REACHABLE_SHAPE[2],
        *UNPARSABLE,
        *MALFORMED,
    ],
)
async def test_tui_header_never_shows_the_password(url):
    app = DbtuiApp(Context(project_dir=REPO, database_url=url), heartbeat=0.05)
    async with app.run_test(size=(120, 36)) as pilot:
        for _ in range(100):  # the first heartbeat fails; the header then shows why
            await pilot.pause(0.05)
            if app.database_ok is False:
                break
        assert app.database_ok is False
        shown = app.sub_title + " ".join(str(n.message) for n in app._notifications)
    assert "unreachable" in shown and SECRET not in shown


@pytest.mark.parametrize(
    ("url", "password"),
    [
        ("postgresql://u:p@ss@rd@h:1/db?sslmode=disable", "p@ss@rd"),
        ("postgres://u:pa%40ss@h:1/db", "pa@ss"),
        ("postgresql://u@h:1/db", None),
    ],
)
def test_a_bare_at_sign_in_the_password_reaches_libpq_as_the_password(url, password):
    """Read as Python reads it (the last '@' ends the password), not as libpq would (the first '@': the rest becomes
    a host every connection error quotes)."""
    from psycopg import conninfo

    parsed = conninfo.conninfo_to_dict(config.libpq_url(url))
    assert (parsed.get("password"), parsed["host"], parsed["port"]) == (password, "h", "1")
