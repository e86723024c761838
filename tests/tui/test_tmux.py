"""The real ``dbtui`` command in a real terminal (tmux): it opens, shows the migrations, applies them on ``m`` + ``y``,
says when the terminal is too small, and quits on ``q`` with exit code 0."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from database.dev.migration_status import read_status
from database.dev.migration_tree import load_tree

DBTUI = str(Path(sys.executable).parent / "dbtui")

# .ci/run installs tmux where it can; elsewhere these tests say why they did not run.
pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)")


class Tmux:
    """One detached tmux session on a private socket."""

    def __init__(self, command: list[str], cwd: Path, *, width: int = 120, height: int = 36) -> None:
        self.socket = f"dbtui-test-{secrets.token_hex(4)}"
        self.exit_file = cwd / "exit_code"
        shell = " ".join(f"'{part}'" for part in command) + f"; echo $? > '{self.exit_file}'"
        self._tmux("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), "-c", str(cwd), shell)

    def _tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True, capture_output=True, text=True).stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "t")

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "t", *keys)

    def resize(self, width: int, height: int) -> None:
        self._tmux("resize-window", "-t", "t", "-x", str(width), "-y", str(height))

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared; the screen shows:\n{self.screen()}")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def tmux_dbtui(tui_project: Path, empty_database: str) -> Iterator[Tmux]:
    # COLUMNS/LINES (set by pytest's terminal) would pin the size the app sees: the real terminal must decide.
    session = Tmux(["env", "-u", "COLUMNS", "-u", "LINES", DBTUI, "--database-url", empty_database], tui_project)
    yield session
    session.kill()


def test_real_dbtui_in_tmux(tmux_dbtui: Tmux, tui_project: Path, empty_database: str) -> None:
    count = len(load_tree(tui_project / "migrations"))
    tmux_dbtui.wait_for("● connected")
    screen = tmux_dbtui.wait_for(f"applied 0, pending {count}")
    screen = tmux_dbtui.wait_for("m Migrate")
    assert "0003_organizations_users" in screen and "m Migrate" in screen
    tmux_dbtui.keys("m")
    tmux_dbtui.wait_for(f"Apply {count} migrations?")
    tmux_dbtui.keys("y")
    tmux_dbtui.wait_for(f"applied {count}, pending 0")
    assert not read_status(empty_database, tui_project / "migrations").pending
    tmux_dbtui.resize(60, 20)
    tmux_dbtui.wait_for("needs at least 80×24")
    tmux_dbtui.resize(120, 36)
    tmux_dbtui.keys("q")
    deadline = time.monotonic() + 15
    while not tmux_dbtui.exit_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert tmux_dbtui.exit_file.read_text().strip() == "0"


def click(x: int, y: int) -> str:
    """An SGR mouse click at column ``x``, row ``y`` (1-based), as the terminal sends it."""
    return f"\x1b[<0;{x};{y}M\x1b[<0;{x};{y}m"


def test_real_dbtui_at_80x24(tui_project: Path, empty_database: str) -> None:
    """At 80×24: ``m`` pressed at once opens the confirmation when the status arrives; a burst of clicks (Locks then
    Migrations) leaves Migrations shown; a migration file created from another program shows up."""
    session = Tmux(
        ["env", "-u", "COLUMNS", "-u", "LINES", DBTUI, "--database-url", empty_database],
        tui_project,
        width=80,
        height=24,
    )
    try:
        session.wait_for("0001_functions")  # the first frame: the list, from the files
        session.keys("m")  # the status may well still be "…"
        count = len(load_tree(tui_project / "migrations"))
        session.wait_for(f"Apply {count} migrations?")
        session.keys("n")
        session.wait_for("Cancelled")
        tabs = session.wait_for("Migrations  Codegen").splitlines()
        row = next(i for i, line in enumerate(tabs, 1) if "Migrations  Codegen" in line)
        locks, migrations = tabs[row - 1].index("Locks") + 2, tabs[row - 1].index("Migrations") + 2
        for _ in range(3):  # quick pairs of clicks, as a hand makes them (the bytes of each click arrive together)
            session.keys("-l", click(locks, row))
            time.sleep(0.05)
            session.keys("-l", click(migrations, row))
            time.sleep(0.05)
        (tui_project / "migrations" / "0007_from_elsewhere.sql").write_text(
            "-- depends: 0006_row_level_security\nSELECT 1;\n", encoding="utf-8"
        )
        session.wait_for("0007_from_elsewhere")  # on the Migrations tab, where the clicks ended
        screen = session.wait_for(f"applied 0, pending {count + 1}")
        assert "0001_functions" in screen and "No advisory locks" not in screen
        session.keys("q")
        deadline = time.monotonic() + 15
        while not session.exit_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert session.exit_file.read_text().strip() == "0"
    finally:
        session.kill()
