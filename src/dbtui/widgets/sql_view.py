"""SQL with syntax highlighting (Pygments through Rich; no tree-sitter needed).

Rich and Pygments are imported when the first SQL is shown, which is after the app's first frame.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from textual.widgets import Static

if TYPE_CHECKING:
    from pygments.lexer import Lexer
    from rich.syntax import Syntax


@cache
def sql_lexer() -> Lexer:
    """One Postgres lexer for every view: looking a lexer up by name costs ~10 ms each time."""
    from pygments.lexers.sql import PostgresLexer

    return PostgresLexer()


@cache
def lexed_syntax() -> type[Syntax]:
    """Rich's Syntax, lexing each text once: Textual renders a widget more than once (to measure its height, to
    draw it, again after every layout change), and Syntax would run Pygments each time (~30 ms for a migration)."""
    from rich.syntax import Syntax
    from rich.text import Text

    class LexedSyntax(Syntax):
        _lexed: tuple[Any, Text] | None = None

        def highlight(self, code: str, line_range: tuple[int | None, int | None] | None = None) -> Text:
            if self._lexed is None or self._lexed[0] != (code, line_range):
                self._lexed = ((code, line_range), super().highlight(code, line_range))
            return self._lexed[1].copy()  # Syntax styles the lines it returns

    return LexedSyntax


class SqlView(Static):
    """Shows one SQL text, highlighted; ``show(None)`` shows a dim placeholder instead."""

    shown: tuple[str | None, str, int | None] | None = None

    def show(self, sql: str | None, *, placeholder: str = "(none)", highlight: int | None = None) -> None:
        """Show ``sql``; ``highlight`` marks one line (where a finding points). Showing what is already shown does
        nothing (the detail pane is refreshed when the status arrives, and highlighting again costs ~30 ms)."""
        if self.shown == (sql, placeholder, highlight):
            return
        self.shown = (sql, placeholder, highlight)
        if sql is None or not sql.strip():
            self.update(f"[dim]{placeholder}[/dim]")
            return
        self.update(
            lexed_syntax()(
                sql.rstrip("\n"),
                sql_lexer(),
                theme="ansi_dark",
                line_numbers=True,
                word_wrap=True,
                highlight_lines={highlight} if highlight else None,
            )
        )
