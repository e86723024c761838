"""SQL with syntax highlighting (Pygments through Rich; no tree-sitter needed)."""

from __future__ import annotations

from rich.syntax import Syntax
from textual.widgets import Static


class SqlView(Static):
    """Shows one SQL text, highlighted; ``show(None)`` shows a dim placeholder instead."""

    def show(self, sql: str | None, *, placeholder: str = "(none)", highlight: int | None = None) -> None:
        """Show ``sql``; ``highlight`` marks one line (where a finding points)."""
        if sql is None or not sql.strip():
            self.update(f"[dim]{placeholder}[/dim]")
            return
        self.update(Syntax(sql.rstrip("\n"), "sql", theme="ansi_dark", line_numbers=True, word_wrap=True,
                           highlight_lines={highlight} if highlight else None))
