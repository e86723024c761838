"""The tooling's JSON caches under ``<data_dir>/cache``: written whole or not at all, never an error, and keyed by
what a file's ``stat`` says, as git's index is.

A cache only saves time, so a folder that cannot be written (a read-only checkout) means the work is redone next
time, not a failure; and a reader running at the same moment gets the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

# A file changed twice within one tick of the file system's clock (up to 2 s on some) keeps its stat: what was read
# from a file that recent is not kept (git's "racily clean" entries, same cure).
SETTLED_NS = 2_000_000_000


def stat_key(stat: os.stat_result) -> list[int]:
    """What tells a file's content changed without reading it: size, mtime, and ctime and inode (a write or a
    ``touch`` that puts the old mtime back still moves the ctime; a file replaced by a rename is another inode)."""
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]


def settled(key: list[int], now_ns: int) -> bool:
    """Whether a file with this ``stat_key`` last changed long enough ago to be trusted by its stat alone."""
    return key[1] < now_ns - SETTLED_NS and key[2] < now_ns - SETTLED_NS


def save_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file renamed over it; an OSError is swallowed."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(data), encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):  # (where the folder could not be made, there is no temporary either)
            temporary.unlink(missing_ok=True)


def prune(folder: Path, keep: int) -> list[Path]:
    """Remove all but the ``keep`` most recently written ``*.json`` files of ``folder``; the removed ones."""
    files = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in files[keep:]:
        old.unlink(missing_ok=True)
    return files[keep:]
