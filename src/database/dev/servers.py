"""Every dbtui server of this user on the machine: list them, stop the idle ones, collect what deleted projects left.

Each server dbtui starts leaves a record (``server.ServerRecord``) in the user's folder (``/dev/shm/dbtui-<uid>/servers``),
so ``dbtui db status`` can list them all with their memory, disk and idle time, ``dbtui db gc`` can stop the servers
of deleted projects and remove their folders, and one small detached watcher per user (``python -m
database.dev.servers watch-idle``, started with the first server) can stop each server nobody has used for its
``idle_timeout``. The next use starts it again, as always. See docs/server.md.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from database.dev import server
from database.dev.server import Cluster, ServerRecord

# Connections that are not use: our own probes, the watcher and the status query.
_NOT_CLIENTS = ("dbtui-probe", "dbtui-idle-watch", "dbtui-status")


@dataclass(frozen=True)
class ServerView:
    """One server as ``dbtui db status`` lists it (``--json`` prints these fields)."""

    kind: str  # "dev" or "scratch"
    project: str  # the project folder, or "shared scratch"
    state: str  # as server.Status.state
    pid: int | None
    url: str
    data_dir: str
    memory_bytes: int | None  # proportional set size of the server's processes (shared memory split fairly)
    disk_bytes: int  # its data folder (memory too, for the scratch cluster on tmpfs)
    clients: int | None  # client connections now; None when it cannot be asked
    idle_seconds: float | None  # since a client last used it; None when not running
    started_at: float | None
    started_by: str | None
    auto_started: bool  # started on demand by a command, not by `dbtui db start`
    idle_timeout: int
    stop_reason: str | None  # why it last stopped, when dbtui stopped it


def cluster_of(record: ServerRecord) -> Cluster:
    return Cluster(
        Path(record.base),
        fast=record.fast,
        kind=record.kind,
        project_root=Path(record.project) if record.project else None,
        idle_timeout=record.idle_timeout,
    )


def view(cluster: Cluster) -> ServerView:
    """What is known of ``cluster`` right now (the TUI header shows ``auto_started`` and ``started_by``)."""
    status = cluster.status()
    started = cluster.read_record()  # the last start, whether it still runs or not
    clients = client_count(cluster) if status.state == "running" else None
    idle = None
    if status.state == "running":
        idle = 0.0 if clients else max(0.0, time.time() - cluster.last_use())
    return ServerView(
        kind=cluster.kind,
        project=_label(cluster),
        state=status.state,
        pid=status.pid,
        url=status.url,
        data_dir=str(cluster.data_dir),
        memory_bytes=memory_use(status.pid) if status.pid else None,
        disk_bytes=server.disk_usage(cluster.data_dir),
        clients=clients,
        idle_seconds=idle,
        started_at=started.started_at if started else None,
        started_by=started.started_by if started else None,
        auto_started=bool(started and started.auto_started),
        idle_timeout=cluster.idle_timeout,
        stop_reason=started.stop_reason if started and status.state == "stopped" else None,
    )


def _label(cluster: Cluster) -> str:
    """What a server serves: its project, or "shared scratch" (with its folder name when it is another version's)."""
    if cluster.kind != "scratch":
        return str(cluster.project_root or cluster.base)
    return "shared scratch" if cluster.base.name == "scratch" else f"shared scratch ({cluster.base.name})"


def list_servers(*extra: Cluster) -> list[ServerView]:
    """Every dbtui server of this user that left a record, plus ``extra`` clusters (this project's, never started)."""
    clusters = {c.base.resolve(): c for c in extra}
    for record in server.read_records():
        if Path(record.base).is_dir() or server.process_alive(record.pid):  # else gone for good: `db gc` forgets it
            clusters.setdefault(Path(record.base).resolve(), cluster_of(record))
    return [view(c) for c in clusters.values()]


def client_count(cluster: Cluster) -> int | None:
    """Client connections to ``cluster`` other than dbtui's own probes; None when it cannot be asked."""
    import psycopg

    try:
        with psycopg.connect(cluster.url(), connect_timeout=3, application_name="dbtui-status") as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
                " AND pid <> pg_backend_pid() AND application_name <> ALL(%s)",
                (list(_NOT_CLIENTS),),
            ).fetchone()
    except psycopg.Error:
        return None
    return int(row[0]) if row else 0


def memory_use(pid: int) -> int | None:
    """Proportional set size of a postmaster and its children, in bytes (shared buffers counted once, split)."""
    pids, entries = [pid], []
    with contextlib.suppress(OSError):  # no /proc (not Linux): the postmaster alone
        entries = [e.name for e in os.scandir("/proc") if e.name.isdigit()]
    for name in entries:  # a process may exit while it is read (ProcessLookupError): it is not a child any more
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                pids.append(int(name))
    total = 0
    for each in pids:
        try:
            text = Path(f"/proc/{each}/smaps_rollup").read_text()
        except OSError:
            continue
        total += sum(int(line.split()[1]) * 1024 for line in text.splitlines() if line.startswith("Pss:"))
    return total or None


def stop_if_unused(cluster: Cluster) -> tuple[bool, int]:
    """Stop a shared server unless clients are connected: ``(stopped, clients)``. Under the cluster's lock, so no
    process of ours is handed its URL meanwhile. Creates nothing when it never ran."""
    if not (cluster.base / "server.lock").is_file():
        return False, 0
    with cluster.locked():
        clients = client_count(cluster)
        if clients:
            return False, clients
        return cluster.stop_locked("stopped by dbtui db stop"), 0


# --- garbage collection ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Freed:
    """One thing ``collect`` removed, and the memory or disk it gave back."""

    what: str
    bytes: int


def collect() -> list[Freed]:
    """Stop the servers of deleted projects (or deleted data folders) and remove what they and older dbtui versions
    left in this user's folders. Servers of existing projects and anything not identified as ours stay."""
    freed: list[Freed] = []
    for record in server.read_records():
        project_gone = record.kind == "dev" and record.project is not None and not Path(record.project).is_dir()
        if not (project_gone or not Path(record.data_dir).is_dir()):
            continue
        cluster = cluster_of(record)
        memory = stop_orphan(record) or 0
        shutil.rmtree(cluster.socket_dir, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            cluster.record_path.unlink()
        what = f"deleted project {record.project}" if project_gone else f"deleted data folder {record.data_dir}"
        freed.append(Freed(f"the server of {what}" + (f" (pid {record.pid}, stopped)" if memory else ""), memory))
    home = server.user_home()
    for legacy in sorted(home.parent.glob(f"{home.name}-*")):
        # One scratch cluster per project, as dbtui made before the shared one: collected once it is not running.
        if legacy.is_symlink() or not legacy.is_dir() or legacy.lstat().st_uid != os.geteuid():
            continue
        old = Cluster(legacy, fast=True)
        with _unless_busy(legacy / "server.lock") as free:
            if free and old.postmaster_pid() is None and not server.postgres_serving(legacy):
                size = server.disk_usage(legacy)
                shutil.rmtree(old.socket_dir, ignore_errors=True)
                shutil.rmtree(legacy, ignore_errors=True)
                freed.append(Freed(f"an old per-project scratch folder {legacy}", size))
    return freed


@contextlib.contextmanager
def _unless_busy(lock: Path) -> Iterator[bool]:
    """Yields False while another process holds ``lock`` (starting or stopping that cluster right now)."""
    try:
        fd = os.open(lock, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        yield True
        return
    except OSError:
        yield False
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        yield False
        return
    try:
        yield True
    finally:
        os.close(fd)


def stop_orphan(record: ServerRecord) -> int | None:
    """Stop the server of ``record`` without its data folder (pg_ctl needs it; it may be gone), when the process is
    identified as serving that folder; returns the memory it held, None when it was not running."""
    pid = record.pid
    if not (server.process_alive(pid) and server.serving_data_dir(pid) == Path(record.data_dir).resolve()):
        return None  # not running, or the pid now belongs to something else: never signal it
    memory = memory_use(pid)
    # Immediate shutdown: with the data folder gone there is nothing to write back, and a checkpoint would only fail.
    os.kill(pid, signal.SIGQUIT)
    deadline = time.time() + 20
    while server.process_alive(pid) and time.time() < deadline:
        time.sleep(0.1)
    return memory or 0


# --- the idle watcher -----------------------------------------------------------------------------------------------


def watch_idle() -> None:
    """Stop each dbtui server of this user once no client has used it for its idle timeout; end when none is left.

    One per user (it holds ``idle-watcher.lock``). Clients announce use by touching ``last-use`` under a shared lock
    (``Cluster.ensure_running``); the stop happens under the exclusive lock after a last look, so a client never gets
    a URL to a server about to stop.
    """
    fd = os.open(server.user_home() / "idle-watcher.lock", os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    asked: dict[str, float] = {}
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # another watcher runs
    while True:
        watched = _watched()
        if not watched:
            # A server started just now saw the lock held and spawned no watcher: look again after letting go.
            fcntl.flock(fd, fcntl.LOCK_UN)
            if not _watched():
                return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # a new watcher took over
            continue
        for record in watched:
            if time.time() - asked.get(record.base, 0.0) >= _interval(record):
                asked[record.base] = time.time()
                _stop_if_idle(record)
        time.sleep(min([1.0, *(_interval(r) for r in watched)]))


def _watched() -> list[ServerRecord]:
    return [
        r for r in server.read_records() if r.idle_timeout > 0 and r.stopped_at is None and server.process_alive(r.pid)
    ]


def _interval(record: ServerRecord) -> float:
    """How often to ask a server for its clients: a fifth of its idle timeout, between 0.2 and 30 s."""
    return min(max(record.idle_timeout / 5, 0.2), 30.0)


def _stop_if_idle(record: ServerRecord) -> None:
    cluster = cluster_of(record)

    def idle() -> bool:
        if cluster.postmaster_pid() != record.pid:
            return False  # stopped or restarted meanwhile
        clients = client_count(cluster)
        if clients is None:  # cannot be asked (full, starting, stopping): not idle, ask again later
            return False
        if clients:
            cluster.touch_last_use()
            return False
        return time.time() - cluster.last_use() >= record.idle_timeout

    if idle():
        with cluster.locked():
            if idle():
                cluster.stop_locked(f"stopped after {record.idle_timeout} s without clients")


def main(argv: list[str]) -> int:
    if argv == ["watch-idle"]:
        watch_idle()
        return 0
    sys.stderr.write("usage: python -m database.dev.servers watch-idle\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
