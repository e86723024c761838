"""The identity of a migrations folder, without importing a database driver (the codegen cache checks it first)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from database.dev.cache_file import stat_key
from database.errors import ConfigError

_digests: dict[tuple, str] = {}


def migrations_digest(directory: Path, *, fresh: bool = False) -> str:
    """A hash of every migration file's name and content (what a template is built from).

    Rollback files are left out: no rollback shapes the migrated database, and each file costs a stat on every
    ``create_database()`` (2,000 migrations: 4,000 stats, most of a spare's time). Cached by the files' names and
    ``stat_key``s, so asking again in a long-running process costs a directory scan; ``fresh`` reads the files even so.
    """
    try:
        entries = sorted(
            (e.name, tuple(stat_key(stat)))
            for e in os.scandir(directory)
            if e.is_file()
            and e.name.lower().endswith((".sql", ".py"))  # .SQL too: load_tree refuses it
            and not e.name.lower().endswith(".rollback.sql")
            for stat in (e.stat(),)
        )
    except (FileNotFoundError, NotADirectoryError):
        raise ConfigError(f"migrations folder not found: {directory}") from None
    key = (str(directory), tuple(entries))
    if fresh or key not in _digests:
        digest = hashlib.sha256()
        for name, *_ in entries:
            digest.update(name.encode() + b"\0" + (directory / name).read_bytes() + b"\0")
        _digests[key] = digest.hexdigest()
    return _digests[key]


class _Watch:
    """Changes to watched migrations folders, read from the kernel's inotify queue (Linux).

    The kernel queues an event before the write that causes it returns, so a digest computed after its folder was
    watched stays valid exactly while no event came for that folder: checking costs one non-blocking read of the
    queue and one stat of the folder (was it replaced?), where rescanning 2,000 migrations costs tens of ms.
    """

    def __init__(self) -> None:
        from inotify_simple import INotify, flags, masks

        self.inotify = INotify()
        self.pid = os.getpid()
        self.overflow, self.ignored = flags.Q_OVERFLOW, flags.IGNORED
        self.mask = masks.ALL_EVENTS & ~(flags.ACCESS | flags.OPEN | flags.CLOSE_NOWRITE)
        self.folders: dict[int, tuple[Path, tuple[int, int], str | None]] = {}  # by watch descriptor

    def drain(self) -> None:
        """Forget the digest of every folder an event came for since the last look."""
        for event in self.inotify.read(timeout=0):
            if event.mask & self.overflow:  # events were lost: trust nothing
                self.folders = {wd: (folder, ident, None) for wd, (folder, ident, _) in self.folders.items()}
            elif event.wd in self.folders:
                folder, ident, _ = self.folders[event.wd]
                if event.mask & self.ignored:  # the folder is gone: its watch with it
                    del self.folders[event.wd]
                else:
                    self.folders[event.wd] = (folder, ident, None)

    def known(self, directory: Path) -> tuple[bool, str | None]:
        """Whether ``directory`` was watched, and its digest while no event came for it since."""
        ident = _identity(directory)
        watched = False
        for folder, same, digest in self.folders.values():
            if folder == directory:
                watched = True
                if same == ident and digest is not None:
                    return True, digest
        return watched, None

    def watch(self, directory: Path) -> int:
        """Start watching ``directory`` (before it is read: a change during the read is an event for next time)."""
        ident = _identity(directory)
        wd = self.inotify.add_watch(directory, self.mask)
        self.folders[wd] = (directory, ident, None)
        return wd

    def remember(self, wd: int, digest: str) -> None:
        if wd in self.folders:
            folder, ident, _ = self.folders[wd]
            self.folders[wd] = (folder, ident, digest)


def _identity(directory: Path) -> tuple[int, int]:
    stat = os.stat(directory)
    return stat.st_dev, stat.st_ino


_watch_lock = threading.Lock()
_watch: Any = None  # _Watch, or False where inotify is not available
_asked: set[Path] = set()


def watched_digest(directory: Path) -> str:
    """``migrations_digest``, for a process that asks again and again (a test session creating a database per test).

    The first time a folder is asked about it is read as usual (a one-shot command pays nothing more); from the second
    time on it is watched (inotify), and while no event came for it the digest is answered without reading it.
    Without inotify (not Linux, or the user's inotify instances used up) every call reads the folder. A migration
    file that is a symbolic link is read every time: a watch of the folder does not see its target change.
    """
    global _watch
    with _watch_lock:
        if _watch and _watch.pid != os.getpid():  # forked: the queue is shared with the parent, never read it here
            _watch = None
        if _watch is None and directory in _asked:
            try:
                _watch = _Watch()
            except (ImportError, OSError):
                _watch = False
        wd, changed = None, False
        if _watch:
            _watch.drain()
            try:
                changed, known = _watch.known(directory)
            except OSError:
                known = None  # the folder is gone: migrations_digest says so
            if known is not None:
                return known
            with contextlib.suppress(OSError):
                wd = _watch.watch(directory)
        _asked.add(directory)
        digest = migrations_digest(directory, fresh=changed)
        if wd is not None and not any(e.is_symlink() for e in os.scandir(directory)):
            _watch.remember(wd, digest)
        return digest
