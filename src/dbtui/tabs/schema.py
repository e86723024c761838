"""Schema tab: the live schema (tables, columns, types, defaults, keys, indexes) with schema_annotations.yaml."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from database.config import Project
from dbtui import messages
from dbtui.tabs.base import TabContent
from dbtui.widgets.lists import ListTable

if TYPE_CHECKING:
    from database.dev.annotations import Annotations
    from database.dev.catalog import Catalog, Table
    from database.dev.migration_status import AppliedRecord
    from database.dev.project_watch import ProjectChanges


def load_schema(url: str, project: Project) -> tuple[Catalog, Annotations]:
    """What the tab shows: the catalog of ``url`` and the project's annotations (runs in a worker)."""
    from database.dev.annotations import load_annotations  # yaml: imported on first use, not at start
    from database.dev.catalog import read_catalog

    return read_catalog(url), load_annotations(project.annotations)


def table_details(table: Table) -> Text:
    """Keys, foreign keys, indexes, triggers and policies of one table, one per line."""
    text = Text()

    def line(kind: str, body: str, name: str = "") -> None:
        text.append(f"{kind} " if kind else "", style="bold").append(body)
        if name:
            text.append(f"  {name}", style="dim")
        text.append("\n")

    for constraint in table.constraints:
        if constraint.kind == "foreign key":
            target = f"{constraint.references}({', '.join(constraint.referenced_columns)})"
            line("FK", f"{', '.join(constraint.columns)} → {target} ON DELETE {constraint.on_delete}", constraint.name)
        else:
            line("", constraint.definition, constraint.name)  # reads "PRIMARY KEY (id)", "CHECK (...)"
    for index in table.indexes:
        if not index.primary:
            line("", index.definition.replace(f" ON {table.schema}.{table.name}", ""))
    for trigger in table.triggers:
        line("TRIGGER", f"{trigger.timing} {' OR '.join(trigger.events)} → {trigger.function}", trigger.name)
    if table.rls_enabled:
        policies = ", ".join(p.name for p in table.policies) or "none"
        line("RLS", f"enabled{' (forced)' if table.rls_forced else ''}; policies: {policies}")
    return text


class SchemaTab(TabContent):
    def __init__(self, project: Project) -> None:
        super().__init__()
        self.project = project
        self.catalog: Catalog | None = None
        self.annotations: Annotations | None = None
        self.url: str | None = None
        self.filter = ""

    def compose(self) -> ComposeResult:
        yield OptionList(id="schema-tables")
        with VerticalScroll(id="schema-detail"):
            yield Label("Waiting for the database…", id="schema-title")
            yield Static("", id="schema-description")
            table: ListTable[str | Text] = ListTable(id="schema-columns", cursor_type="row", zebra_stripes=True)
            table.add_columns("column", "type", "null", "default", "collate")
            yield table
            yield Static("", id="schema-column-descriptions")
            yield Static("", id="schema-keys")

    def on_mount(self) -> None:
        """Mounted when first shown (so the catalog is not read at start-up), maybe after the database answered:
        then load now."""
        app = self.dbtui
        if app.database_ok and app.url:
            self.database_ready(app.url)

    def database_ready(self, url: str, applied: dict[str, AppliedRecord] | None = None) -> None:
        self.url = url
        self._load(url)

    def schema_changed(self, url: str) -> None:
        self.database_ready(url)

    def files_changed(self, changed: ProjectChanges) -> None:
        if self.url and (changed.migrations or changed.annotations):
            self._load(self.url)

    @work(thread=True, exclusive=True, exit_on_error=False, group="schema")
    def _load(self, url: str) -> None:
        project = self.project
        messages.deliver(self, lambda: load_schema(url, project), messages.SchemaLoaded, messages.SchemaFailed)

    def on_schema_loaded(self, message: messages.SchemaLoaded) -> None:
        self.catalog, self.annotations = message.catalog, message.annotations
        self._show_tables()

    def apply_filter(self, text: str) -> bool:
        self.filter = text.strip().lower()
        if self.catalog is not None:
            self._show_tables()
        return True

    def _show_tables(self) -> None:
        assert self.catalog is not None
        tables = self.query_one("#schema-tables", OptionList)
        highlighted = tables.highlighted
        keep = tables.get_option_at_index(highlighted).id if highlighted is not None else None
        names = [name for name in sorted(self.catalog.tables) if self.filter in name.lower()]
        tables.clear_options()
        tables.add_options([Option(name, id=name) for name in names])
        if names:
            tables.highlighted = names.index(keep) if keep in names else min(highlighted or 0, len(names) - 1)
        elif self.catalog.tables:
            self.query_one("#schema-title", Label).update(f"No table matches “{self.filter}”.")
        else:
            self.query_one("#schema-title", Label).update("No tables yet: apply migrations (m) to see the schema.")

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id:
            self.show_table(event.option.id)

    def show_table(self, name: str) -> None:
        assert self.catalog is not None and self.annotations is not None
        table = self.catalog.tables[name]
        described = self.annotations.description(name)
        self.query_one("#schema-title", Label).update(
            f"[b]{table.schema}.{name}[/b]  {len(table.columns)} column{'s' if len(table.columns) != 1 else ''}"
        )
        self.query_one("#schema-description", Static).update(
            described or "[dim](no description in schema_annotations.yaml)[/dim]"
        )
        columns = self.query_one("#schema-columns", ListTable)
        columns.clear()
        described_columns = Text()
        for column in table.columns:
            columns.add_row(
                column.name,
                column.type,
                "" if column.not_null else "null",
                column.default or "",
                column.collation if column.collation not in (None, "default") else "",
            )
            if description := self.annotations.description(name, column.name):
                described_columns.append(f"{column.name}", style="bold").append(f": {description}\n")
        # Descriptions are prose: they wrap below the table rather than squeeze into a column.
        self.query_one("#schema-column-descriptions", Static).update(described_columns)
        self.query_one("#schema-keys", Static).update(table_details(table))
