"""How the tooling names files to people: relative to the project (findings, codegen results) or to the working
directory (errors), whichever is shorter to read and still opens in an editor."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path


def display_path(path: Path) -> Path:
    """``path`` relative to the working directory when it is below it (shorter, still clickable)."""
    try:
        return path.absolute().relative_to(Path.cwd())
    except ValueError:
        return path


@lru_cache(maxsize=4096)
def relative(path: Path, root: Path | None) -> str:
    """``path`` relative to the project ``root`` when it is below it (how findings and results name files)."""
    if root is not None:
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            pass
    return str(path)
