"""SQL with syntax highlighting (Pygments through Rich; no tree-sitter needed)."""

from __future__ import annotations

from rich.syntax import Syntax
from textual.widgets import Static


class SqlView(Static):
    """Shows one SQL text, highlighted; ``show(None)`` shows a dim placeholder instead."""

    def show(self, sql: str | None, *, placeholder: str = "(none)", start_line: int = 1) -> None:
        if sql is None or not sql.strip():
            self.update(f"[dim]{placeholder}[/dim]")
            return
        self.update(Syntax(sql.rstrip("\n"), "sql", theme="ansi_dark", line_numbers=True, start_line=start_line, word_wrap=True))
