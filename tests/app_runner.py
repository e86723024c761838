"""Run pytest on an app's tests in a project of its own, the way an app's tests use the bundled plugin."""

from __future__ import annotations

import subprocess
import sys

from database.config import Project


def run_app_tests(project: Project, source: str, *options: str) -> subprocess.CompletedProcess[str]:
    """``source`` as ``test_app.py`` in ``project``, run by pytest in a process of its own (async tests, one event
    loop for the session, as an app configures pytest-asyncio)."""
    root = project.root
    (root / "test_app.py").write_text(source)
    (root / "pyproject.toml").write_text(
        (root / "pyproject.toml").read_text()
        + '\n[tool.pytest.ini_options]\nasyncio_mode = "auto"\nasyncio_default_fixture_loop_scope = "session"\n'
        'asyncio_default_test_loop_scope = "session"\n'
    )
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, "test_app.py"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
