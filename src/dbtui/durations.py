"""How the CLI and the app write a duration: short, and alike in both (``dbtui locks`` and the Locks tab)."""

from __future__ import annotations

from datetime import datetime


def age(since: datetime, now: datetime) -> str:
    """How long ago ``since`` was: ``4s``, ``3m12s``, ``2h05m``."""
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
