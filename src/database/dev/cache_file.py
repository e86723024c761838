"""The tooling's JSON caches under ``<data_dir>/cache``: written whole or not at all, never an error.

A cache only saves time, so a folder that cannot be written (a read-only checkout) means the work is redone next
time, not a failure; and a reader running at the same moment gets the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any


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
