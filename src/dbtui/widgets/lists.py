"""The lists of the app: ``Home``/``End`` go to the first/last row (DataTable scrolls sideways on them), ``PgUp``/
``PgDn`` a page; long lists are filled without measuring every cell."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import ClassVar, Self, TypeVar

from rich.console import Console, ConsoleOptions
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.geometry import Region
from textual.widgets import DataTable

CellType = TypeVar("CellType")


class Line:
    """A one-line cell that DataTable does not measure (it has no ``__rich_measure__``); ``ListTable.add_lines`` sizes
    its column from the text's length instead. DataTable measures every cell of every new row, and each Rich
    measurement builds the console's options (~15 µs): 8,000 cells for the 2,000 migrations of a ten-year-old
    project, most of the time it took to list them."""

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

    _batched = False  # refresh once at the end of ``update_lines``, not for every cell

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False) -> Self:
        if self._batched:
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def update_lines(self, cells: Iterable[tuple[str, str, Text]]) -> None:
        """Set many cells (``(row key, column key, text)``) in columns of fixed width, refreshing the table once:
        ``update_cell`` refreshes it for each cell (~10 µs, 4,000 times when the status of 2,000 migrations
        arrives)."""
        self._batched = True
        try:
            for row, column, text in cells:
                self.update_cell(row, column, Line(text))  # type: ignore[arg-type]
        finally:
            self._batched = False
        self.refresh()

    def add_lines(self, rows: Iterable[tuple[str, Sequence[Text]]]) -> None:
        """Add rows of one-line texts (``(key, cells)``), each cell a ``Line``: the columns that fit their content
        grow to the longest text, as measuring each cell would make them, at a fraction of the cost."""
        columns = self.ordered_columns
        widths = [0] * len(columns)
        for key, cells in rows:
            for i, cell in enumerate(cells):
                widths[i] = max(widths[i], cell.cell_len)
            self.add_row(*(Line(cell) for cell in cells), key=key)  # type: ignore[arg-type]
        for column, width in zip(columns, widths, strict=True):
            if column.auto_width:
                column.content_width = max(column.content_width, width)
