"""``dbtui codegen`` when its output cannot be written: one clear error line, and the old files stay as they were.

Both faults are real kernel refusals, made for one subprocess only:
- full disk: ``RLIMIT_FSIZE`` caps the size of any file the process writes, so the write fails part-way through
  the file (EFBIG), exactly where a full disk fails with ENOSPC; the same ``OSError`` path in the writer;
- read-only: the folder holding schema.sql and orm.py is bind-mounted read-only (EROFS) in a private mount
  namespace (``unshare``), seen by that process alone and gone when it exits. Permission bits would not do: the
  suite runs as root, which ignores them.
"""

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(90)

REPO = Path(__file__).resolve().parents[2]
DBTUI = str(Path(sys.executable).parent / "dbtui")
OLD = {"orm.py": "# the last good ORM\n", "schema.sql": "-- the last good schema\n"}


@pytest.fixture
def gen_project(tmp_path: Path) -> Path:
    """A copy of this repo's project whose outputs live in ``generated/``, holding stale but precious content."""
    shutil.copytree(REPO / "migrations", tmp_path / "migrations")
    for name in ("queries.sql", "schema_annotations.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.dbtui]\norm = "generated/orm.py"\nschema = "generated/schema.sql"\n'
    )
    (tmp_path / "generated").mkdir()
    for name, text in OLD.items():
        (tmp_path / "generated" / name).write_text(text)
    return tmp_path


def _codegen(project: Path, url: str, *, prefix: list[str] = (), preexec_fn=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*prefix, DBTUI, "--project", str(project), "--database-url", url, "codegen"],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=preexec_fn,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


def _assert_refused_cleanly(done: subprocess.CompletedProcess, project: Path, reason: str) -> None:
    assert done.returncode != 0, done.stdout
    errors = [line for line in done.stderr.splitlines() if line.startswith("dbtui:")]
    assert len(errors) == 1 and errors[0].startswith("dbtui: error:") and reason in errors[0], done.stderr
    assert "Traceback" not in done.stderr
    generated = project / "generated"
    assert {p.name: p.read_text() for p in generated.iterdir()} == OLD  # intact, and no temporary file left behind


def test_full_disk_keeps_the_old_files(gen_project: Path, server_url: str) -> None:
    def small_files_only() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # schema.sql and orm.py are both larger

    done = _codegen(gen_project, server_url, preexec_fn=small_files_only)
    _assert_refused_cleanly(done, gen_project, "File too large")


def test_read_only_target_keeps_the_old_files(gen_project: Path, server_url: str) -> None:
    folder = str(gen_project / "generated")
    # As root a mount namespace needs no user namespace; without root, -r maps our user to root inside one.
    unshare = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--map-root-user", "--mount"]
    read_only = [*unshare, "sh", "-c", 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"', folder]
    done = _codegen(gen_project, server_url, prefix=read_only)
    _assert_refused_cleanly(done, gen_project, "Read-only file system")
