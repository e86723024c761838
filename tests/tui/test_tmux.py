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
    tmux_dbtui.wait_for("● connected")
    screen = tmux_dbtui.wait_for("applied 0, pending 6")
    screen = tmux_dbtui.wait_for("m Migrate")
    assert "0003_organizations_users" in screen and "m Migrate" in screen
    tmux_dbtui.keys("m")
    tmux_dbtui.wait_for("Apply 6 migrations?")
    tmux_dbtui.keys("y")
    tmux_dbtui.wait_for("applied 6, pending 0")
    assert not read_status(empty_database, tui_project / "migrations").pending
    tmux_dbtui.resize(60, 20)
    tmux_dbtui.wait_for("needs at least 80×24")
    tmux_dbtui.resize(120, 36)
    tmux_dbtui.keys("q")
    deadline = time.monotonic() + 15
    while not tmux_dbtui.exit_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert tmux_dbtui.exit_file.read_text().strip() == "0"
