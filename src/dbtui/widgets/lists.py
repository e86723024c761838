"""The lists of the app: ``Home``/``End`` go to the first/last row (DataTable scrolls sideways on them), ``PgUp``/
``PgDn`` a page."""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual.binding import Binding, BindingType
from textual.widgets import DataTable

CellType = TypeVar("CellType")


class ListTable(DataTable[CellType]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]
