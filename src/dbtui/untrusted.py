"""Text that other clients control (their ``application_name``, the lock names carried in it), made safe to show.

A lock name travels %-escaped in ``application_name``, so once decoded it may hold anything: escape sequences that
clear or retitle the terminal, a newline that forges a row. The CLI and the TUI both show it through ``visible``.
"""

from __future__ import annotations


def visible(text: str) -> str:
    """``text`` with every character that is not printable, and the backslash, written as its Python escape
    (``\\x1b``, ``\\n``, ``\\u202e``, ``\\\\``): nothing reaches the terminal as a control, and nothing is hidden."""
    return "".join(c if c.isprintable() and c != "\\" else repr(c)[1:-1] for c in text)
