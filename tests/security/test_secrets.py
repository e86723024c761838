"""A password in the database URL never reaches output: CLI errors, runtime exceptions, logs, the TUI header.

URLs that reach a server (and fail there) are covered for every command. URLs that libpq cannot even parse matter
most: libpq quotes the whole connection string in its parse error, so every error the CLI and the TUI print is
scrubbed (database.config.scrub).
"""

import logging
from pathlib import Path

import pytest

from database import config, conn
from database.lock import pg_advisory_lock
from database.xact import xact_admin
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


@pytest.mark.parametrize(("url", "command"), [
    (UNPARSABLE[0], ["status"]),  # libpq quotes a conninfo it cannot parse, password included: the CLI scrubs it
    (UNPARSABLE[0], ["locks"]),
    (UNPARSABLE[1], ["status"]),
    (UNPARSABLE[1], ["locks"]),
])
def test_cli_errors_for_unparsable_urls_never_show_the_password(capsys, url, command):
    assert SECRET not in _cli(capsys, url, command)


def test_debug_tracebacks_never_show_the_password(capsys):
    code = main(["--project", str(REPO), "--database-url", REACHABLE_SHAPE[0], "--debug", "status"])
    out, err = capsys.readouterr()
    assert code != 0 and SECRET not in out + err


async def test_runtime_errors_and_logs_never_show_the_password(caplog):
    previous = config._configured_url
    await conn.dispose()
    conn.configure(REACHABLE_SHAPE[0])
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
    finally:
        for name in ("sqlalchemy.engine", "sqlalchemy.pool"):
            logging.getLogger(name).setLevel(logging.WARNING)
        await conn.dispose()
        conn.configure(previous)
    for error in (admin_error.value, lock_error.value):
        assert SECRET not in str(error) and SECRET not in repr(error)
    assert SECRET not in caplog.text


@pytest.mark.parametrize("url", [
    REACHABLE_SHAPE[0],
    REACHABLE_SHAPE[1],
    REACHABLE_SHAPE[2],
    *UNPARSABLE,
])
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
