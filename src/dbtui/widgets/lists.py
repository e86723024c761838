"""The lists of the app: ``Home``/``End`` go to the first/last row (DataTable scrolls sideways on them), ``PgUp``/
``PgDn`` a page; long lists are filled without measuring every cell."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar, Self, TypeVar

from rich.console import Console, ConsoleOptions
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

CellType = TypeVar("CellType")


class Line:
    """A one-line cell that DataTable does not measure (it has no ``__rich_measure__``); ``ListTable.add_lines`` sizes
    its column from the text's length instead. DataTable measures every cell of every new row, and each Rich
    measurement builds the console's options (~15 µs): 8,000 cells for the 2,000 migrations of a ten-year-old
    project, most of the time it took to list them. Its text can be replaced in place (``ListTable.update_lines``)."""

    __slots__ = ("text",)

    def __init__(self, text: Text) -> None:
        self.text = text

    @property
    def plain(self) -> str:
        return self.text.plain

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Text]:
        yield self.text


class ListTable(DataTable[CellType]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines: dict[str, list[Line]] = {}  # the cells ``add_lines`` added, by row key

    def clear(self, columns: bool = False) -> Self:
        self.lines.clear()
        return super().clear(columns)

    def update_lines(self, cells: Iterable[tuple[str, str, Text]]) -> None:
        """Set many cells (``(row key, column key, text)``) of rows added by ``add_lines``, in columns of fixed width:
        each ``Line`` gets its new text, then the table redraws once. ``update_cell`` per cell cleared the table's
        render caches and refreshed it every time (~6 µs, 4,000 times when the status of 2,000 migrations arrives)."""
        index = {column.key.value: i for i, column in enumerate(self.ordered_columns)}
        last = None
        for row, column, text in cells:
            line = self.lines[row][index[column]]
            line.text = text
            last = row, column, line
        if last is not None:
            self.update_cell(*last)  # type: ignore[arg-type]  # the one call that clears the render caches and redraws

    def add_lines(self, rows: Iterable[tuple[str, Sequence[Text]]]) -> None:
        """Add rows of one-line texts (``(key, cells)``), each cell a ``Line``: the columns that fit their content
        grow to the longest text, as measuring each cell would make them, at a fraction of the cost."""
        columns = self.ordered_columns
        widths = [0] * len(columns)
        added = []
        for key, cells in rows:
            for i, cell in enumerate(cells):
                widths[i] = max(widths[i], cell.cell_len)
            lines = self.lines[key] = [Line(cell) for cell in cells]
            added.append(self.add_row(*lines, key=key))  # type: ignore[arg-type]
        for column, width in zip(columns, widths, strict=True):
            if column.auto_width:
                column.content_width = max(column.content_width, width)
        # Sized above: DataTable's idle pass would otherwise take each new row's cells again and measure them (~15 µs
        # a row with 4 columns), to find the same widths.
        self._new_rows.difference_update(added)
