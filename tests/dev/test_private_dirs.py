"""A local user who plants folders or links where dbtui (often root) makes its own, in /dev/shm, /tmp and the data
folder, gets a one-line refusal, and nothing outside is chowned, created or written through the plant."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from database.config import Project
from database.dev import server
from database.errors import ServerError
from dbtui.cli import main

ATTACKER = 54321  # another local user (root can chown to any uid, whether or not it has a name)


def _snapshot(path: Path) -> dict[str, tuple[int, int, int, bytes | None]]:
    """Owner, mode and content of ``path`` and everything under it: what the attacker wants changed."""
    shot = {}
    for each in [path, *sorted(path.rglob("*"))]:
        info = each.lstat()
        shot[str(each)] = (info.st_uid, info.st_gid, info.st_mode, each.read_bytes() if each.is_file() else None)
    return shot


@pytest.fixture
def victim(tmp_path: Path) -> Iterator[Path]:
    """What the attacker points links at: a folder of root's with a file in it."""
    target = tmp_path / "victim"
    target.mkdir(mode=0o700)
    (target / "secret").write_text("root only\n")
    os.chmod(target / "secret", 0o600)
    before = _snapshot(target)
    yield target
    assert _snapshot(target) == before, "the planted link was followed"


def test_planted_link_as_the_users_folder_is_refused(runtime, victim):
    (runtime / f"dbtui-{os.geteuid()}").symlink_to(victim)
    with pytest.raises(ServerError, match=r"dbtui-\d+ is a symbolic link, which dbtui never follows"):
        server.scratch_cluster().ensure_running()


def test_planted_folder_of_another_user_is_refused(runtime, victim):
    planted = runtime / f"dbtui-{os.geteuid()}"
    planted.mkdir(mode=0o777)
    (planted / "scratch").symlink_to(victim)
    (planted / "servers").symlink_to(victim)
    os.chown(planted, ATTACKER, ATTACKER)
    with pytest.raises(ServerError, match=f"belongs to another user \\(uid {ATTACKER}\\)"):
        server.scratch_cluster().ensure_running()
    assert planted.lstat().st_uid == ATTACKER  # not taken over either


def test_our_folder_left_writable_to_others_is_not_trusted(runtime, victim):
    home = runtime / f"dbtui-{os.geteuid()}"
    home.mkdir()
    os.chmod(home, 0o777)  # anyone could have put links in it
    (home / "scratch").symlink_to(victim)
    with pytest.raises(ServerError, match="may be written by other users \\(mode 777\\)"):
        server.scratch_cluster().ensure_running()


def test_planted_socket_directory_link_is_refused(runtime, victim):
    cluster = server.scratch_cluster()
    assert runtime in cluster.base.parents
    shutil.rmtree(cluster.socket_dir, ignore_errors=True)
    cluster.socket_dir.symlink_to(victim)
    try:
        with pytest.raises(ServerError, match="socket directory /tmp/dbtui-[0-9a-f]+ is a symbolic link"):
            cluster.ensure_running()
    finally:
        cluster.socket_dir.unlink()


def test_planted_links_inside_the_cluster_folder_are_refused(runtime, victim):
    base = runtime / "cluster"
    base.mkdir()
    (base / "server.lock").symlink_to(victim / "secret")
    with pytest.raises(ServerError, match="server.lock: .*remove it if it is a link"):
        server.Cluster(base, fast=True, idle_timeout=0).ensure_running()
    (base / "server.lock").unlink()
    (base / "pg").symlink_to(victim)
    with pytest.raises(ServerError, match="the server folder .*/pg is a symbolic link"):
        server.Cluster(base, fast=True, idle_timeout=0).ensure_running()


def test_planted_data_folder_is_one_line_from_the_cli(tmp_path, runtime, victim, capsys):
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[tool.dbtui]\n")
    (project / ".dbtui").symlink_to(victim)
    assert Project.load(project).data_dir == project / ".dbtui"  # not resolved through the link
    assert main(["--project", str(project), "db", "start"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dbtui: error: the cluster folder ") and "is a symbolic link" in err
    assert err.count("\n") == 1
