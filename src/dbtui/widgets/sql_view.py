"""SQL with syntax highlighting (Pygments through Rich; no tree-sitter needed)."""

from __future__ import annotations

from functools import cache

from pygments.lexer import Lexer
from rich.syntax import Syntax
from textual.widgets import Static


@cache
def sql_lexer() -> Lexer:
    """One Postgres lexer for every view: looking a lexer up by name costs ~10 ms each time."""
    from pygments.lexers.sql import PostgresLexer

    return PostgresLexer()


class SqlView(Static):
    """Shows one SQL text, highlighted; ``show(None)`` shows a dim placeholder instead."""

    def show(self, sql: str | None, *, placeholder: str = "(none)", highlight: int | None = None) -> None:
        """Show ``sql``; ``highlight`` marks one line (where a finding points)."""
        if sql is None or not sql.strip():
            self.update(f"[dim]{placeholder}[/dim]")
            return
        self.update(Syntax(sql.rstrip("\n"), sql_lexer(), theme="ansi_dark", line_numbers=True, word_wrap=True,
                           highlight_lines={highlight} if highlight else None))
